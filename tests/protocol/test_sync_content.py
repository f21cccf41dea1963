"""Own-device contents (SPEC 8 types 10 SYNC, 11 DEVICES, 12 CONTACT): canonical round trips (property-style),
the limits, every refusal exactly :class:`RemoteProtocolError`, and the attacks on the parser: a SYNC whose inner
header differs from its own, a SYNC of what must not be synced, and SYNC nested deep enough to exhaust Python's
stack."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confide.keys.identity import IdentityKeyPair
from confide.protocol.content import (
    MAX_CONTACT_NAME_BYTES,
    MAX_CONTENT_LEN,
    MAX_SYNCABLE_LEN,
    MAX_TEXT_BYTES,
    MAX_TIMER_S,
    OWN_DEVICE_TYPES,
    SYNCABLE_TYPES,
    AttachmentPointer,
    ContactSnapshot,
    Content,
    ContentType,
    Delete,
    DeviceListNotice,
    Filed,
    FiledKind,
    Receipt,
    ReceiptKind,
    ResetRequest,
    SentSync,
    Text,
    TimerChange,
    frank_content,
    sync_of,
)
from confide.protocol.documents import MAX_DEVICES_DOCUMENT_LEN
from confide.protocol.errors import RemoteProtocolError
from confide.protocol.franking import FrankingKeyPair
from confide.protocol.franking_binding import franking_key_of
from confide.protocol.padding import MAX_PLAINTEXT, pad, unpad

from ..vectors.gen.devices import world
from ..vectors.generate import SeededRng

W = world()
RNG = SeededRng(b"tests/protocol/test_sync_content")
PEER = W.client.public.address.raw
MID, MID2 = W.message_ids[0], W.message_ids[1]
TEXT = Content(MID, 1_700_000_000_000, 600, Text("See you Thursday."))
SETTINGS = settings(
    max_examples=200, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def snapshot(**fields: object) -> ContactSnapshot:
    values: dict[str, object] = {
        "peer": PEER,
        "identity": W.client.public.to_bytes(),
        "verified": True,
        "blocked": False,
        "request": False,
        "name": "Sam",
        "timer_s": 0,
        "token": W.token,
        "inbound_token": W.inbound_token,
    }
    values.update(fields)
    return ContactSnapshot(**values)  # type: ignore[arg-type]


def header(content_type: int, mid: bytes = MID, sent: int = 1_700_000_000_000, expire: int = 600) -> bytes:
    return bytes([1, content_type]) + mid + sent.to_bytes(8, "big") + expire.to_bytes(4, "big")


def sync_bytes(inner: bytes, *, mid: bytes = MID, sent: int = 1_700_000_000_000, expire: int = 600) -> bytes:
    return header(10, mid, sent, expire) + PEER + len(inner).to_bytes(4, "big") + inner


def refused(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        Content.from_bytes(data)
    assert type(info.value) is RemoteProtocolError


# -- SYNC ----------------------------------------------------------------------------------------------------


def test_a_sync_copies_the_inner_header_and_round_trips() -> None:
    content = sync_of(PEER, TEXT)
    assert content.type == ContentType.SYNC
    assert (content.message_id, content.sent_at_ms, content.expire_after_s) == (MID, 1_700_000_000_000, 600)
    data = content.to_bytes()
    assert data == sync_bytes(TEXT.to_bytes())
    back = Content.from_bytes(data)
    assert back == content
    assert isinstance(back.body, SentSync)
    assert back.body.peer == PEER
    assert back.body.inner == TEXT


def test_a_sync_whose_inner_header_differs_is_refused() -> None:
    """The attack: the outer id names one message (so receipts and deletes find it), the inner another."""
    inner = TEXT.to_bytes()
    refused(sync_bytes(inner, mid=MID2))
    refused(sync_bytes(inner, sent=1_700_000_000_001))
    refused(sync_bytes(inner, expire=0))
    with pytest.raises(ValueError, match="id, clock and expiry"):
        Content(MID2, TEXT.sent_at_ms, TEXT.expire_after_s, SentSync(PEER, TEXT))
    with pytest.raises(ValueError, match="id, clock and expiry"):
        Content(MID, TEXT.sent_at_ms, 0, SentSync(PEER, TEXT))


def test_only_what_a_person_does_in_a_thread_is_synced() -> None:
    assert {
        ContentType.TEXT,
        ContentType.ATTACHMENT,
        ContentType.RECEIPT,
        ContentType.TIMER,
        ContentType.DELETE,
        ContentType.FRANKED,
    } == SYNCABLE_TYPES
    assert {ContentType.SYNC, ContentType.CONTACT} == OWN_DEVICE_TYPES
    delivered = Content(MID, 1, 0, Receipt(ReceiptKind.DELIVERED, (MID2,)))
    with pytest.raises(ValueError, match="only read receipts"):
        SentSync(PEER, delivered)
    refused(sync_bytes(delivered.to_bytes(), sent=1, expire=0))
    for body in (ResetRequest(1), Filed(FiledKind.FILED, MID2), DeviceListNotice(W.six.to_bytes()), snapshot()):
        inner = Content(MID, 1, 0, body)
        with pytest.raises(ValueError, match="sync transcript carries"):
            SentSync(PEER, inner)
        refused(sync_bytes(inner.to_bytes(), sent=1, expire=0))


def test_a_sync_of_a_sync_is_refused_before_it_is_parsed() -> None:
    """The attack: SYNC nested a thousand times in 60 KB would recurse past Python's stack (``RecursionError``,
    not ``RemoteProtocolError``) if the inner content were parsed before its type is checked."""
    data = TEXT.to_bytes()
    depth = 0
    while len(data) + 54 <= MAX_SYNCABLE_LEN:
        data = sync_bytes(data)
        depth += 1
    assert depth > 1000
    refused(data)
    refused(sync_bytes(sync_bytes(TEXT.to_bytes())))


def test_a_sync_of_a_franked_maximal_text_is_the_longest_content_and_pads() -> None:
    sender, recipient = IdentityKeyPair.generate(RNG), IdentityKeyPair.generate(RNG)
    judge = FrankingKeyPair.generate(RNG)
    longest_text = Content(MID, 2**64 - 1, MAX_TIMER_S, Text("x" * MAX_TEXT_BYTES))
    franked = frank_content(
        longest_text, sender=sender, recipient_key=franking_key_of(recipient).public, judge=judge.public, rng=RNG
    )
    assert len(franked.to_bytes()) == MAX_SYNCABLE_LEN == 60_549
    data = sync_of(PEER, franked).to_bytes()
    assert len(data) == MAX_CONTENT_LEN == 60_603
    assert MAX_CONTENT_LEN <= MAX_PLAINTEXT
    assert unpad(pad(data)) == data
    assert Content.from_bytes(data) == sync_of(PEER, franked)
    refused(data + b"\x00")


def test_sync_limits_and_shapes() -> None:
    good = sync_bytes(TEXT.to_bytes())
    refused(good[:-1])
    refused(good + b"\x00")
    refused(sync_bytes(TEXT.to_bytes() + b"\x00"))
    refused(sync_bytes(b""))
    refused(sync_bytes(b"\x01"))
    refused(header(10) + PEER[:19])
    too_long = header(10) + PEER + (MAX_SYNCABLE_LEN + 1).to_bytes(4, "big") + bytes(MAX_SYNCABLE_LEN + 1)
    refused(too_long)
    with pytest.raises(ValueError, match="20 bytes"):
        SentSync(PEER[:19], TEXT)
    with pytest.raises(TypeError):
        SentSync(PEER, TEXT.to_bytes())  # type: ignore[arg-type]


def test_a_sync_shows_nothing_of_the_message() -> None:
    assert repr(sync_of(PEER, TEXT)) == f"Content(id={MID.hex()}, SYNC, body=SentSync(TEXT))"
    assert "Thursday" not in repr(sync_of(PEER, TEXT))


_C0_BUT_TAB_LF = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n")
_inner_bodies = st.one_of(
    st.text(st.characters(codec="utf-8", blacklist_characters=_C0_BUT_TAB_LF), max_size=40).map(Text),
    st.builds(
        AttachmentPointer,
        st.text("abcXYZ019-_", min_size=1, max_size=20),
        st.binary(min_size=32, max_size=32),
        st.binary(min_size=32, max_size=32),
        st.integers(0, 2**32),
        st.sampled_from(["plan.pdf", "", "notes \u200d.txt"]),
        st.sampled_from(["application/pdf", ""]),
        st.sampled_from(["", "for Thursday"]),
    ),
    st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=5, unique=True).map(
        lambda ids: Receipt(ReceiptKind.READ, tuple(ids))
    ),
    st.integers(0, MAX_TIMER_S).map(TimerChange),
    st.binary(min_size=16, max_size=16).map(Delete),
)


@SETTINGS
@given(
    st.binary(min_size=20, max_size=20),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**64 - 1),
    st.integers(0, MAX_TIMER_S),
    _inner_bodies,
)
def test_every_sync_round_trips_byte_for_byte(peer: bytes, mid: bytes, sent: int, expire: int, body: object) -> None:
    inner = Content(mid, sent, expire, body)  # type: ignore[arg-type]
    content = sync_of(peer, inner)
    data = content.to_bytes()
    assert Content.from_bytes(data) == content
    assert Content.from_bytes(data).to_bytes() == data
    assert data[2:30] == inner.to_bytes()[2:30]


# -- DEVICES -------------------------------------------------------------------------------------------------


def test_a_device_list_notice_is_only_length_checked() -> None:
    content = Content(MID, 5, 0, DeviceListNotice(W.six.to_bytes()))
    data = content.to_bytes()
    assert data == header(11, MID, 5, 0) + len(W.six.to_bytes()).to_bytes(4, "big") + W.six.to_bytes()
    assert Content.from_bytes(data) == content
    longest = Content(MID, 5, 0, DeviceListNotice(bytes(MAX_DEVICES_DOCUMENT_LEN)))
    assert Content.from_bytes(longest.to_bytes()) == longest  # not parsed here: the receiver parses it
    with pytest.raises(ValueError, match="1 to 853 bytes"):
        DeviceListNotice(bytes(MAX_DEVICES_DOCUMENT_LEN + 1))
    with pytest.raises(ValueError, match="1 to 853 bytes"):
        DeviceListNotice(b"")
    refused(header(11) + (MAX_DEVICES_DOCUMENT_LEN + 1).to_bytes(4, "big") + bytes(MAX_DEVICES_DOCUMENT_LEN + 1))
    refused(header(11) + bytes(4))
    refused(data[:-1])
    refused(data + b"\x00")
    assert repr(DeviceListNotice(W.six.to_bytes())) == "DeviceListNotice(853 bytes)"


# -- CONTACT -------------------------------------------------------------------------------------------------


def test_a_contact_snapshot_round_trips_and_its_layout() -> None:
    snap = snapshot(request=True, name="Sam O\u2019Neill", timer_s=86400, token=None)
    content = Content(MID, 5, 0, snap)
    data = content.to_bytes()
    name = "Sam O\u2019Neill".encode()
    body = PEER + W.client.public.to_bytes() + b"\x05" + bytes([len(name)]) + name + (86400).to_bytes(4, "big")
    assert data == header(12, MID, 5, 0) + body + b"\x00" + b"\x01" + W.inbound_token
    assert Content.from_bytes(data) == content
    assert snap.flags == 0b101


def test_contact_names_are_one_line_of_1_to_128_bytes() -> None:
    assert snapshot(name="n" * MAX_CONTACT_NAME_BYTES).name == "n" * 128
    for bad in ("", "n" * 129, "Sam\tO", "Sam\nO", "Sam\x1b[2J", "Sam\rEve", "\x00"):
        with pytest.raises(ValueError, match="contact name"):
            snapshot(name=bad)
    assert snapshot(name="Dr. \u202eaveR").name == "Dr. \u202eaveR"  # bidi is valid text: displays escape it (SPEC 8)


def test_contact_fields_are_checked() -> None:
    for fields in (
        {"peer": PEER[:19]},
        {"identity": bytes(127)},
        {"timer_s": MAX_TIMER_S + 1},
        {"token": bytes(31)},
        {"inbound_token": bytes(33)},
    ):
        with pytest.raises(ValueError, match=r"must be|between"):
            snapshot(**fields)
    with pytest.raises(TypeError):
        snapshot(verified=1)


def test_malformed_contacts_are_refused() -> None:
    good = Content(MID, 5, 0, snapshot()).to_bytes()
    flags_at = 30 + 20 + 128
    for offset, value in ((flags_at, 8), (flags_at, 0x81), (len(good) - 33, 2)):
        bad = bytearray(good)
        bad[offset] = value
        refused(bytes(bad))
    refused(good[:-1])
    refused(good + b"\x00")
    name_at = flags_at + 1
    refused(good[:name_at] + b"\x04Sam\xff" + good[name_at + 4 :])
    refused(good[:name_at] + b"\x00" + good[name_at + 4 :])
    timer_at = name_at + 4
    refused(good[:timer_at] + (MAX_TIMER_S + 1).to_bytes(4, "big") + good[timer_at + 4 :])


def test_a_contact_snapshot_shows_nothing() -> None:
    assert repr(snapshot(name="Sam O")) == "ContactSnapshot(<redacted>)"
    assert "Sam" not in repr(Content(MID, 5, 0, snapshot(name="Sam O")))


@SETTINGS
@given(
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30),
    st.integers(0, MAX_TIMER_S),
    st.none() | st.binary(min_size=32, max_size=32),
    st.none() | st.binary(min_size=32, max_size=32),
)
def test_every_contact_round_trips_byte_for_byte(
    verified: bool,
    blocked: bool,
    request: bool,
    name: str,
    timer_s: int,
    token: bytes | None,
    inbound: bytes | None,
) -> None:
    snap = snapshot(
        verified=verified,
        blocked=blocked,
        request=request,
        name=name,
        timer_s=timer_s,
        token=token,
        inbound_token=inbound,
    )
    data = Content(MID, 5, 0, snap).to_bytes()
    back = Content.from_bytes(data)
    assert back.body == snap
    assert back.to_bytes() == data


# -- any bytes ----------------------------------------------------------------------------------------------


def parses_exactly_or_is_refused(data: bytes) -> None:
    """``data`` parses to a content that re-encodes to exactly ``data``, or is refused with exactly
    :class:`RemoteProtocolError` (not a subclass, not ``RecursionError`` or anything else)."""
    error: Exception | None = None
    try:
        content = Content.from_bytes(data)
    except RemoteProtocolError as exc:
        error = exc
    else:
        assert content.to_bytes() == data
    assert error is None or type(error) is RemoteProtocolError


@SETTINGS
@given(st.sampled_from([10, 11, 12]), st.binary(max_size=400))
def test_arbitrary_bodies_are_refused_or_re_encode(content_type: int, body: bytes) -> None:
    parses_exactly_or_is_refused(header(content_type) + body)


@SETTINGS
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_mutated_valid_contents_are_refused_or_re_encode(position: int, value: int) -> None:
    for content in (sync_of(PEER, TEXT), Content(MID, 5, 0, snapshot())):
        data = bytearray(content.to_bytes())
        data[position % len(data)] = value
        parses_exactly_or_is_refused(bytes(data))
