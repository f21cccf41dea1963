"""FRANKED contents (SPEC 8 type 8): round trips, the header rule, every malformed field refused with exactly
:class:`RemoteProtocolError`, and the recipient's check against the attacks it must catch."""

from __future__ import annotations

from dataclasses import replace

import pytest

from confide.keys.identity import IdentityKeyPair
from confide.protocol.content import (
    MAX_SYNCABLE_LEN,
    MAX_TEXT_BYTES,
    MAX_TIMER_S,
    AttachmentPointer,
    Content,
    ContentType,
    Delete,
    Franked,
    Text,
    check_franked,
    frank_content,
)
from confide.protocol.errors import RemoteProtocolError
from confide.protocol.franking import FrankingKeyPair, frank, r_forge
from confide.protocol.franking_binding import FrankingBinding, franking_key_of
from confide.protocol.padding import pad, unpad

from ..vectors.generate import SeededRng

RNG = SeededRng(b"tests/protocol/test_content_franked")
SENDER, RECIPIENT, STRANGER = (IdentityKeyPair.generate(RNG) for _ in range(3))
JUDGE = FrankingKeyPair.generate(RNG)
MID = bytes(range(16))
INNER = Content(MID, 1_700_000_000_000, 600, Text("See you Thursday."))
TO_RECIPIENT = franking_key_of(RECIPIENT).public


def franked(inner: Content = INNER) -> Content:
    return frank_content(inner, sender=SENDER, recipient_key=TO_RECIPIENT, judge=JUDGE.public, rng=RNG)


FRANKED = franked()


def body_of(content: Content) -> Franked:
    assert isinstance(content.body, Franked)
    return content.body


BODY = body_of(FRANKED)
DATA = FRANKED.to_bytes()
HEADER = DATA[:30]
JUDGE_RAW, BINDING_RAW = DATA[30:62], DATA[62:158]
INNER_RAW, FRANKING_RAW = INNER.to_bytes(), DATA[-353:]


def assemble(
    inner: bytes = INNER_RAW, judge: bytes = JUDGE_RAW, binding: bytes = BINDING_RAW, franking: bytes = FRANKING_RAW
) -> bytes:
    return HEADER + judge + binding + len(inner).to_bytes(4, "big") + inner + franking


def test_round_trip_and_fields() -> None:
    assert FRANKED.type == ContentType.FRANKED
    assert (FRANKED.message_id, FRANKED.sent_at_ms, FRANKED.expire_after_s) == (MID, 1_700_000_000_000, 600)
    assert assemble() == DATA
    back = Content.from_bytes(DATA)
    assert back == FRANKED
    assert back.to_bytes() == DATA
    body = body_of(back)
    assert body.content == INNER
    assert body.inner == INNER_RAW
    assert body.judge == JUDGE.public
    assert body.binding == FrankingBinding.bind(SENDER)


def test_an_attachment_is_franked_too() -> None:
    pointer = AttachmentPointer("blob", bytes(32), bytes(range(32)), 10, "notes.pdf", "application/pdf", "c")
    content = franked(Content(MID, 5, 0, pointer))
    assert Content.from_bytes(content.to_bytes()) == content
    assert check_franked(content, recipient=franking_key_of(RECIPIENT), sender_identity=SENDER.public) is True


def test_a_franked_maximal_text_is_the_longest_content_sent_to_a_contact_and_pads() -> None:
    longest = franked(Content(MID, 2**64 - 1, MAX_TIMER_S, Text("x" * MAX_TEXT_BYTES))).to_bytes()
    assert len(longest) == MAX_SYNCABLE_LEN
    assert unpad(pad(longest)) == longest
    assert Content.from_bytes(longest).type == ContentType.FRANKED


def test_only_texts_and_attachments_are_franked() -> None:
    with pytest.raises(ValueError, match="text or attachment"):
        franked(Content(MID, 1, 0, Delete(bytes(16))))
    with pytest.raises(ValueError, match="text or attachment"):
        Franked(JUDGE.public, FrankingBinding.bind(SENDER), DATA, BODY.franking)


def test_building_with_another_header_is_refused() -> None:
    with pytest.raises(ValueError, match="id, clock and expiry"):
        Content(bytes(16), INNER.sent_at_ms, INNER.expire_after_s, BODY)
    with pytest.raises(ValueError, match="id, clock and expiry"):
        Content(MID, INNER.sent_at_ms + 1, INNER.expire_after_s, BODY)
    with pytest.raises(ValueError, match="id, clock and expiry"):
        Content(MID, INNER.sent_at_ms, 0, BODY)


def _receipt() -> bytes:
    return INNER_RAW[:1] + b"\x03" + INNER_RAW[2:30] + b"\x01\x00\x01" + bytes(16)


@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("inner id differs from the outer", assemble(inner=INNER_RAW[:2] + bytes(16) + INNER_RAW[18:])),
        ("inner clock differs", assemble(inner=INNER_RAW[:18] + bytes(8) + INNER_RAW[26:])),
        ("inner expiry differs", assemble(inner=INNER_RAW[:26] + bytes(4) + INNER_RAW[30:])),
        ("inner is a receipt", assemble(inner=_receipt())),
        ("inner is franked itself", assemble(inner=DATA)),
        ("inner is empty", assemble(inner=b"")),
        ("inner has a trailing byte", assemble(inner=INNER_RAW + b"\x00")),
        ("inner has an unknown version", assemble(inner=b"\x02" + INNER_RAW[1:])),
        ("inner text is not UTF-8", assemble(inner=INNER_RAW[:-1] + b"\xff")),
        ("judge key is the identity point", assemble(judge=b"\x01" + bytes(31))),
        ("judge key is not canonical", assemble(judge=b"\xff" * 31 + b"\x7f")),
        ("binding key is the identity point", assemble(binding=b"\x01" + bytes(31) + BINDING_RAW[32:])),
        ("franking version 0", assemble(franking=b"\x00" + FRANKING_RAW[1:])),
        ("franking scalar unreduced", assemble(franking=FRANKING_RAW[:-32] + b"\xff" * 32)),
        ("truncated franking", DATA[:-1]),
        ("trailing byte", DATA + b"\x00"),
        ("inner length past the end", DATA[:158] + (2**31).to_bytes(4, "big") + DATA[162:]),
        ("no body", HEADER),
    ],
)
def test_malformed_franked_contents_raise_exactly_remote_protocol_error(why: str, data: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        Content.from_bytes(data)
    assert type(info.value) is RemoteProtocolError, why


def test_the_recipient_accepts_an_honest_franking() -> None:
    assert check_franked(Content.from_bytes(DATA), recipient=franking_key_of(RECIPIENT), sender_identity=SENDER.public)


def test_a_franking_for_another_recipient_fails() -> None:
    other = frank_content(
        INNER, sender=SENDER, recipient_key=franking_key_of(STRANGER).public, judge=JUDGE.public, rng=RNG
    )
    assert not check_franked(other, recipient=franking_key_of(RECIPIENT), sender_identity=SENDER.public)
    assert check_franked(other, recipient=franking_key_of(STRANGER), sender_identity=SENDER.public)


def test_a_binding_checked_against_another_sender_fails() -> None:
    assert not check_franked(FRANKED, recipient=franking_key_of(RECIPIENT), sender_identity=STRANGER.public)


def test_a_stranger_cannot_pass_off_a_franking_under_the_senders_binding() -> None:
    """The stranger franks with its own key but carries the sender's binding: the proof names the bound key."""
    own = frank(franking_key_of(STRANGER), TO_RECIPIENT, JUDGE.public, INNER_RAW, RNG)
    body = replace(BODY, franking=own)
    forged = Content(MID, INNER.sent_at_ms, INNER.expire_after_s, body)
    assert not check_franked(forged, recipient=franking_key_of(RECIPIENT), sender_identity=SENDER.public)


def test_a_stranger_binding_its_own_key_is_not_the_sender() -> None:
    """The stranger franks with its own key and binding: it verifies only as the stranger, never as the sender."""
    forged = frank_content(INNER, sender=STRANGER, recipient_key=TO_RECIPIENT, judge=JUDGE.public, rng=RNG)
    assert not check_franked(forged, recipient=franking_key_of(RECIPIENT), sender_identity=SENDER.public)
    assert check_franked(forged, recipient=franking_key_of(RECIPIENT), sender_identity=STRANGER.public)


def test_altered_inner_text_fails() -> None:
    altered = Content(MID, INNER.sent_at_ms, INNER.expire_after_s, Text("See you Friday."))
    body = replace(BODY, inner=altered.to_bytes())
    forged = Content(MID, INNER.sent_at_ms, INNER.expire_after_s, body)
    assert not check_franked(forged, recipient=franking_key_of(RECIPIENT), sender_identity=SENDER.public)


def test_a_recipient_forgery_passes_its_own_check_but_is_no_proof() -> None:
    """RForge passes the recipient's check (deniability); the judge refuses it (SPEC 13.7)."""
    forged_franking = r_forge(franking_key_of(RECIPIENT), franking_key_of(SENDER).public, JUDGE.public, INNER_RAW, RNG)
    body = replace(BODY, franking=forged_franking)
    forged = Content(MID, INNER.sent_at_ms, INNER.expire_after_s, body)
    assert check_franked(forged, recipient=franking_key_of(RECIPIENT), sender_identity=SENDER.public)


def test_a_content_that_is_not_franked_never_checks() -> None:
    assert not check_franked(INNER, recipient=franking_key_of(RECIPIENT), sender_identity=SENDER.public)


def test_repr_shows_no_text() -> None:
    text = repr(FRANKED)
    assert "Thursday" not in text
    assert "FRANKED" in text
    assert "TEXT" in text
