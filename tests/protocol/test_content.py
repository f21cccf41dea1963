"""Content encoding: round trips, canonical form, strict parsing and redacted reprs."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from confide.protocol.content import (
    MAX_BLOB_ID_BYTES,
    MAX_CAPTION_BYTES,
    MAX_CONTENT_LEN,
    MAX_FRANKABLE_LEN,
    MAX_RECEIPT_IDS,
    MAX_TEXT_BYTES,
    MAX_TIMER_S,
    MESSAGE_ID_LEN,
    AttachmentPointer,
    Body,
    Content,
    ContentType,
    Delete,
    Receipt,
    ReceiptKind,
    Text,
    TimerChange,
    new_message_id,
)
from confide.protocol.errors import RemoteProtocolError
from confide.protocol.padding import MAX_PLAINTEXT

MID = bytes(range(16))
KEY = b"K" * 32
DIGEST = b"D" * 32


def pointer(**kw: object) -> AttachmentPointer:
    fields: dict[str, object] = {
        "blob_id": "Ab3_-x" * 7 + "z",
        "key": KEY,
        "digest": DIGEST,
        "size": 12345,
        "name": "worksheet.pdf",
        "mime": "application/pdf",
        "caption": "week 3",
    }
    fields.update(kw)
    return AttachmentPointer(**fields)  # type: ignore[arg-type]


def test_text_vector_is_fixed() -> None:
    content = Content(MID, 1_700_000_000_000, 3600, Text("héllo"))
    expected = (
        b"\x01\x01"
        + MID
        + (1_700_000_000_000).to_bytes(8, "big")
        + (3600).to_bytes(4, "big")
        + b"\x00\x00\x00\x06"
        + "héllo".encode()
    )
    assert content.to_bytes() == expected
    assert Content.from_bytes(expected) == content


def test_each_body_type_round_trips() -> None:
    bodies: list[Body] = [
        Text("I had a hard week."),
        Text(""),
        pointer(),
        pointer(name="", mime="", caption=""),
        Receipt(ReceiptKind.READ, (MID, bytes(16))),
        TimerChange(0),
        TimerChange(MAX_TIMER_S),
        Delete(bytes(16)),
    ]
    for body in bodies:
        content = Content(MID, 1, 0, body)
        data = content.to_bytes()
        assert data[1] == content.type
        back = Content.from_bytes(data)
        assert back == content
        assert back.to_bytes() == data


def test_type_property() -> None:
    assert Content(MID, 0, 0, Text("x")).type is ContentType.TEXT
    assert Content(MID, 0, 0, pointer()).type is ContentType.ATTACHMENT
    assert Content(MID, 0, 0, Receipt(ReceiptKind.DELIVERED, (MID,))).type is ContentType.RECEIPT
    assert Content(MID, 0, 0, TimerChange(60)).type is ContentType.TIMER
    assert Content(MID, 0, 0, Delete(MID)).type is ContentType.DELETE


def test_new_message_id_uses_rng() -> None:
    assert new_message_id(lambda n: b"\x07" * n) == b"\x07" * 16
    with pytest.raises(ValueError, match="wrong number of bytes"):
        new_message_id(lambda n: b"\x07" * (n - 1))


def test_reprs_hide_secrets() -> None:
    secret_text = "my secret diagnosis"
    content = Content(MID, 0, 0, Text(secret_text))
    assert secret_text not in repr(content)
    assert "diagnosis" not in str(content)
    p = pointer(name="secret-name.pdf", caption="private caption")
    r = repr(Content(MID, 0, 0, p))
    for hidden in ("secret-name", "private caption", KEY.hex(), DIGEST.hex(), "KKKK", "DDDD", p.blob_id):
        assert hidden not in r
    assert p.blob_id[:8] in r
    assert "12345" in r


_BAD_NAME = "no path separators, control or text-direction characters"


def test_limits_are_within_the_plaintext_bucket() -> None:
    longest = Content(MID, 2**64 - 1, MAX_TIMER_S, Text("x" * MAX_TEXT_BYTES)).to_bytes()
    assert len(longest) == MAX_FRANKABLE_LEN == 60_034
    assert MAX_CONTENT_LEN == MAX_FRANKABLE_LEN + 32 + 96 + 4 + 353 + 30 + 20 + 4 + 30 == 60_603  # its SYNC, franked
    assert MAX_CONTENT_LEN <= MAX_PLAINTEXT
    biggest_pointer = pointer(
        blob_id="a" * MAX_BLOB_ID_BYTES, name="n" * 255, mime="m" * 255, caption="c" * MAX_CAPTION_BYTES
    )
    assert len(Content(MID, 0, 0, biggest_pointer).to_bytes()) <= MAX_CONTENT_LEN
    many = tuple(i.to_bytes(16, "big") for i in range(MAX_RECEIPT_IDS))
    assert len(Content(MID, 0, 0, Receipt(ReceiptKind.READ, many)).to_bytes()) <= MAX_CONTENT_LEN


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Text("x" * (MAX_TEXT_BYTES + 1)), "text is longer than"),
        (lambda: Text("\ud800"), "lone surrogate"),
        (lambda: pointer(key=b"short"), "key must be 32 bytes"),
        (lambda: pointer(digest=b"x" * 31), "digest must be 32 bytes"),
        (lambda: pointer(size=-1), "size must be between"),
        (lambda: pointer(size=2**64), "size must be between"),
        (lambda: pointer(blob_id=""), "blob id is 1 to"),
        (lambda: pointer(blob_id="../etc/passwd"), "base64url"),
        (lambda: pointer(blob_id="a" * (MAX_BLOB_ID_BYTES + 1)), "blob id is 1 to"),
        (lambda: pointer(name="dir/file"), _BAD_NAME),
        (lambda: pointer(name="a\\b"), _BAD_NAME),
        (lambda: pointer(name="bad\nname"), _BAD_NAME),
        (lambda: pointer(name=".."), _BAD_NAME),
        (lambda: pointer(name="photo\u202egpj.exe"), _BAD_NAME),
        (lambda: pointer(name="a\x85b"), _BAD_NAME),
        *[(lambda c=c: pointer(name=f"x{c}y"), _BAD_NAME) for c in "\u061c\u200e\u200f\u202a\u202d\u2066\u2069"],
        (lambda: pointer(name="é" * 128), "file name is longer than"),
        (lambda: pointer(mime="text/plain; charset=utf-8"), "media type"),
        (lambda: pointer(mime="tëxt/plain"), "media type"),
        (lambda: pointer(caption="c" * (MAX_CAPTION_BYTES + 1)), "caption is longer than"),
        (lambda: Receipt(ReceiptKind.READ, ()), "names 1 to"),
        (lambda: Receipt(ReceiptKind.READ, (MID, MID)), "each message once"),
        (lambda: Receipt(ReceiptKind.READ, (b"short",)), "message id must be 16 bytes"),
        (
            lambda: Receipt(ReceiptKind.READ, tuple(i.to_bytes(16, "big") for i in range(MAX_RECEIPT_IDS + 1))),
            "names 1 to",
        ),
        (lambda: Receipt(9, (MID,)), "not a valid ReceiptKind"),  # type: ignore[arg-type]
        (lambda: TimerChange(MAX_TIMER_S + 1), "timer must be between"),
        (lambda: TimerChange(-1), "timer must be between"),
        (lambda: Delete(b"x" * 15), "target message id must be 16 bytes"),
        (lambda: Content(b"x" * 15, 0, 0, Text("")), "message id must be 16 bytes"),
        (lambda: Content(MID, -1, 0, Text("")), "sent_at_ms must be between"),
        (lambda: Content(MID, 2**64, 0, Text("")), "sent_at_ms must be between"),
        (lambda: Content(MID, 0, MAX_TIMER_S + 1, Text("")), "expire_after_s must be between"),
    ],
)
def test_invalid_values_raise_value_error(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        TimerChange(True)
    with pytest.raises(TypeError):
        Content(MID, 0, 0, "hello")  # type: ignore[arg-type]


def test_receipt_kind_accepts_plain_int() -> None:
    assert Receipt(2, (MID,)).kind is ReceiptKind.READ  # type: ignore[arg-type]


def _valid() -> bytes:
    return Content(MID, 5, 7, Text("hello")).to_bytes()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("bad version", b"\x02" + _valid()[1:]),
        ("unknown type", _valid()[:1] + b"\x06" + _valid()[2:]),
        ("type zero", _valid()[:1] + b"\x00" + _valid()[2:]),
        ("trailing byte", _valid() + b"\x00"),
        ("truncated", _valid()[:-1]),
        ("bad utf-8", _valid()[:-1] + b"\xff"),
        ("overlong utf-8", _valid()[:-9] + b"\x00\x00\x00\x02\xc0\xaf"),
        ("expiry too long", _valid()[:26] + (MAX_TIMER_S + 1).to_bytes(4, "big") + _valid()[30:]),
        ("text too long", _valid()[:30] + (MAX_TEXT_BYTES + 1).to_bytes(4, "big")),
        ("empty receipt", _valid()[:1] + b"\x03" + _valid()[2:30] + b"\x01\x00\x00"),
        ("receipt kind 3", _valid()[:1] + b"\x03" + _valid()[2:30] + b"\x03\x00\x01" + MID),
        ("duplicate receipt ids", _valid()[:1] + b"\x03" + _valid()[2:30] + b"\x01\x00\x02" + MID + MID),
        ("timer too long", _valid()[:1] + b"\x04" + _valid()[2:30] + (MAX_TIMER_S + 1).to_bytes(4, "big")),
        ("short delete", _valid()[:1] + b"\x05" + _valid()[2:30] + MID[:15]),
        ("huge", b"\x01" * (MAX_CONTENT_LEN + 1)),
    ],
)
def test_malformed_bytes_raise_remote_protocol_error(name: str, data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        Content.from_bytes(data)


def test_malformed_attachment_fields_are_rejected() -> None:
    good = Content(MID, 0, 0, pointer()).to_bytes()
    assert Content.from_bytes(good).body == pointer()
    blob_at = 30 + 2
    bad_blob = good[:blob_at] + b"/" + good[blob_at + 1 :]
    with pytest.raises(RemoteProtocolError):
        Content.from_bytes(bad_blob)
    size_at = 30 + 2 + len(pointer().blob_id) + 64
    huge_size = good[:size_at] + (2**63).to_bytes(8, "big") + good[size_at + 8 :]
    with pytest.raises(RemoteProtocolError):
        Content.from_bytes(huge_size)


# --- property tests -----------------------------------------------------------------------------------

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
ids = st.binary(min_size=MESSAGE_ID_LEN, max_size=MESSAGE_ID_LEN)
_C0_BUT_TAB_AND_NEWLINE = "".join(chr(c) for c in range(0x20) if c not in (0x09, 0x0A))
texts = st.text(
    st.characters(blacklist_categories=("Cs", "Co"), blacklist_characters=_C0_BUT_TAB_AND_NEWLINE), max_size=200
)
"""Texts and captions: any Unicode but the C0 controls other than tab and newline (SPEC §8)."""
names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\" + BIDI_CONTROLS), max_size=60
).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255)
bodies = st.one_of(
    st.builds(Text, texts),
    st.builds(
        AttachmentPointer,
        blob_id=st.text("abcXYZ019-_", min_size=1, max_size=MAX_BLOB_ID_BYTES),
        key=st.binary(min_size=32, max_size=32),
        digest=st.binary(min_size=32, max_size=32),
        size=st.integers(0, 4 * 1024**3),
        name=names,
        mime=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
        caption=texts,
    ),
    st.builds(Receipt, st.sampled_from(ReceiptKind), st.lists(ids, min_size=1, max_size=20, unique=True).map(tuple)),
    st.builds(TimerChange, st.integers(0, MAX_TIMER_S)),
    st.builds(Delete, ids),
)
contents = st.builds(Content, ids, st.integers(0, 2**64 - 1), st.integers(0, MAX_TIMER_S), bodies)


@settings(max_examples=300)
@given(contents)
def test_round_trip_property(content: Content) -> None:
    data = content.to_bytes()
    assert len(data) <= MAX_CONTENT_LEN
    back = Content.from_bytes(data)
    assert back == content
    assert back.to_bytes() == data


def _check_canonical(data: bytes) -> None:
    try:
        parsed = Content.from_bytes(data)
    except RemoteProtocolError:
        return
    assert parsed.to_bytes() == data


@settings(max_examples=500)
@given(st.binary(max_size=300))
@example(b"\x01\x01" + bytes(28) + b"\x00\x00\x00\x00")
def test_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    _check_canonical(data)


@settings(max_examples=500)
@given(contents, st.data())
def test_mutated_encodings_are_canonical_or_rejected(content: Content, data: st.DataObject) -> None:
    encoded = bytearray(content.to_bytes())
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    for _ in range(data.draw(st.integers(1, 4))):
        op = rnd.randrange(3)
        pos = rnd.randrange(len(encoded) + 1)
        if op == 0 and pos < len(encoded):
            encoded[pos] = rnd.randrange(256)
        elif op == 1:
            encoded.insert(pos, rnd.randrange(256))
        elif pos < len(encoded):
            del encoded[pos]
    _check_canonical(bytes(encoded))
