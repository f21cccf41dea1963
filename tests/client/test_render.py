"""The terminal renderer, attacked: what a peer writes can draw nothing but plain characters, and a message can
never pass for a line of its own."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confide.client import (
    AttachmentInfo,
    Connected,
    Contact,
    Direction,
    IdentityChanged,
    Message,
    MessageDeleted,
    MessageKind,
    MessageReceived,
    MessageStatus,
    MessageUndecryptable,
    PrekeysLow,
    ReceiptReceived,
    RelayOffline,
    TimerChanged,
    Trust,
)
from confide.client.cli import render
from confide.client.cli.render import CONTINUATION, safe

T0 = 1_767_261_600_000  # 2026-01-01 10:00 UTC
BIDI = [0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
FORBIDDEN = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), *BIDI, 0x2028, 0x2029]} - {"\n"}
"""What must never reach the terminal from a peer (newline only where render puts it)."""


def _when(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def _msg(
    text: str,
    *,
    peer: str = "sam",
    direction: Direction = Direction.IN,
    kind: MessageKind = MessageKind.TEXT,
    status: MessageStatus = MessageStatus.UNREAD,
    attachment: AttachmentInfo | None = None,
    sent_at_ms: int = T0,
    failure: str = "",
    expire_after_s: int = 0,
) -> Message:
    return Message(
        "00" * 16,
        peer,
        direction,
        kind,
        text,
        sent_at_ms,
        T0 + 5,
        status,
        expire_after_s,
        None,
        attachment,
        False,
        failure,
    )


def _contact(name: str, *, trust: Trust = Trust.UNVERIFIED, timer_s: int = 0) -> Contact:
    return Contact(name, "cfa1" + "q" * 52, trust, timer_s, "ab12 cd34", True)


def _clean(rendered: str) -> None:
    assert FORBIDDEN.isdisjoint(rendered), [c for c in rendered if c in FORBIDDEN]


# -- safe() ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [c for c in range(0x20) if c != 0x0A] + [0x7F, *range(0x80, 0xA0)])
def test_controls_become_hex_escapes(code: int) -> None:
    assert safe(f"a{chr(code)}b") == f"a\\x{code:02x}b"


@pytest.mark.parametrize("code", [*BIDI, 0x2028, 0x2029])
def test_bidi_controls_and_line_separators_become_unicode_escapes(code: int) -> None:
    assert safe(f"a{chr(code)}b") == f"a\\u{code:04x}b"


def test_newline_and_ordinary_text_stay_as_they_are() -> None:
    text = "Grüße, שלום, 你好 👩‍👩‍👧 – «ok»\nsecond line \\x1b as typed"
    assert safe(text) == text


def test_escape_sequence_examples() -> None:
    assert safe("\x1b[2K") == "\\x1b[2K"
    assert safe("\u202eexe.txt") == "\\u202eexe.txt"
    assert safe("\x9b31m") == "\\x9b31m"  # the one-byte CSI
    assert safe("a\rb") == "a\\x0db"


# -- the attacks ------------------------------------------------------------------------------------------------
def test_a_message_cannot_forge_a_line_from_someone_else() -> None:
    attack = "ok\n[2026-01-01 10:00] Dr. Rivera: call me\r\x1b[2K\u202e..."
    line = render.message_line(_msg(attack))
    _clean(line)
    assert line.split("\n") == [
        f"[{_when(T0)}] sam: ok",
        f"{CONTINUATION}[2026-01-01 10:00] Dr. Rivera: call me\\x0d\\x1b[2K\\u202e...",
    ]


def test_every_further_line_of_a_message_is_marked() -> None:
    line = render.message_line(_msg("one\ntwo\r\nthree\n", direction=Direction.OUT, status=MessageStatus.SENT))
    assert line.split("\n") == [
        f"[{_when(T0)}] you: one",
        f"{CONTINUATION}two",
        f"{CONTINUATION}three",
        f"{CONTINUATION}  (sent)",
    ]


@given(st.text())
def test_any_message_is_one_unmarked_line_then_marked_ones(text: str) -> None:
    line = render.message_line(_msg(text))
    _clean(line)
    first, *rest = line.split("\n")
    assert first.startswith(f"[{_when(T0)}] sam: ")
    assert all(r.startswith(CONTINUATION) for r in rest)
    assert len(rest) == text.replace("\r\n", "\n").count("\n")


def test_a_contact_name_with_escape_sequences() -> None:
    name = "\x1b]0;pwned\x07Dr\x1b[31m R\nx"
    c = _contact(name, timer_s=3600)
    expected = "\\x1b]0;pwned\\x07Dr\\x1b[31m R\\x0ax"
    assert render.contact_line(c) == f"{expected}  {c.address}  [unverified, timer 1h]"
    assert render.thread_header(c) == f"Thread with {expected} (unverified; disappearing after 1h)"
    for line in (
        render.contact_added(c),
        render.contact_renamed(c),
        render.safety_number_header(c),
        render.verified(c),
        render.marked_verified(c),
        render.identity_accepted(c),
        render.timer_set(c),
    ):
        _clean(line)
        assert expected in line
        assert "\n" not in line


def test_a_peer_name_cannot_break_a_message_or_event_line() -> None:
    peer = "sam\n[2026-01-01 10:00] Dr. Rivera: \u202ehi"
    shown = "sam\\x0a[2026-01-01 10:00] Dr. Rivera: \\u202ehi"
    m = _msg("hello", peer=peer)
    assert render.message_line(m) == f"[{_when(T0)}] {shown}: hello"
    assert render.event_line(MessageReceived(peer, m)) == render.message_line(m)
    assert render.event_line(TimerChanged(peer, 600, True)) == f"{shown} set the disappearing timer to 10m"
    assert render.event_line(IdentityChanged(peer, "a", "b")) == (
        f"WARNING: {shown}'s identity changed; run 'confide verify {shown}' before trusting new messages"
    )
    assert render.event_line(MessageUndecryptable(peer)) == (
        f"a message from {shown} could not be decrypted; ask them to send it again"
    )
    assert render.event_line(MessageDeleted(peer, "00", "deleted")) == f"{shown} deleted a message"


def test_events_a_person_need_not_see_render_nothing() -> None:
    for e in (
        ReceiptReceived("sam", MessageStatus.READ, ("00",)),
        MessageDeleted("sam", "00", "expired"),
        PrekeysLow(1, 2, 3),
        RelayOffline("down", 1.0),
        Connected(0),
    ):
        assert render.event_line(e) is None


def test_an_attachment_name_type_and_caption() -> None:
    att = AttachmentInfo("report\n.pdf\u202efdp.exe", "text/\x1b[31mplain", 12, False, "see\n\x1b[1mthis")
    line = render.message_line(_msg("see\n\x1b[1mthis", kind=MessageKind.ATTACHMENT, attachment=att))
    _clean(line)
    assert line.split("\n") == [
        f"[{_when(T0)}] sam: [file report\\x0a.pdf\\u202efdp.exe, 12 bytes, text/\\x1b[31mplain; id {'00' * 16}] see",
        f"{CONTINUATION}\\x1b[1mthis",
    ]


def test_flags_and_the_relays_reason() -> None:
    m = _msg(
        "hi", direction=Direction.OUT, status=MessageStatus.FAILED, failure="gone\x1b[2K\nfor good", expire_after_s=60
    )
    assert render.message_line(m) == (
        f"[{_when(T0)}] you: hi  (failed: gone\\x1b[2K\\x0afor good, disappears 1m after sending)"
    )
    assert render.send_refused(m) == (
        "confide send: not sent: the relay refused it for good (gone\\x1b[2K\\x0afor good)"
    )
    assert render.send_refused(_msg("hi", status=MessageStatus.FAILED)) == (
        "confide send: not sent: the relay refused it for good"
    )


def test_a_timer_entry() -> None:
    assert render.message_line(_msg("", kind=MessageKind.TIMER)) == f"[{_when(T0)}] sam changed the disappearing timer"


@pytest.mark.parametrize("ms", [2**64 - 1, 2**53, -(2**63)])
def test_a_nonsense_timestamp_is_shown_not_raised(ms: int) -> None:
    assert render.message_line(_msg("hi", sent_at_ms=ms)) == "[????-??-?? ??:??] sam: hi"


def test_errors_and_fields_are_one_line_each() -> None:
    assert render.error_line("send", "no contact named 'x\n\x1b[2Ky'") == (
        "confide send: no contact named 'x\\x0a\\x1b[2Ky'"
    )
    assert render.error_line(None, "interrupted") == "confide: interrupted"
    assert render.fields({"name": "Dr\x1b[8m", "role": "therapist"}) == [
        "name:        Dr\\x1b[8m",
        "role:        therapist",
    ]
    assert render.saved("/tmp/in\x1b[2K.txt") == "Saved /tmp/in\\x1b[2K.txt"
