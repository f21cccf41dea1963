"""The records notice (content type 7, SPEC §8 filing): exact bytes, strict parsing, nothing in its ``repr``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.protocol.content import (
    MESSAGE_ID_LEN,
    Content,
    ContentType,
    Filed,
    FiledKind,
)
from confide.protocol.errors import RemoteProtocolError

MID = bytes(range(16))
TARGET = bytes(range(100, 116))
HEADER = b"\x01\x07" + MID + (1_700_000_000_000).to_bytes(8, "big") + bytes(4)


def test_filed_notice_bytes_are_fixed() -> None:
    content = Content(MID, 1_700_000_000_000, 0, Filed(FiledKind.FILED, TARGET))
    assert content.type is ContentType.FILED
    assert content.to_bytes() == HEADER + b"\x01" + TARGET
    assert Content.from_bytes(HEADER + b"\x02" + TARGET) == Content(
        MID, 1_700_000_000_000, 0, Filed(FiledKind.KEPT, TARGET)
    )


def test_kind_accepts_plain_int_and_repr_names_only_kind_and_target() -> None:
    notice = Filed(2, TARGET)  # type: ignore[arg-type]
    assert notice.kind is FiledKind.KEPT
    assert repr(notice) == f"Filed(KEPT, target={TARGET.hex()})"


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: Filed(FiledKind.FILED, TARGET[:15]), ValueError),
        (lambda: Filed(3, TARGET), ValueError),  # type: ignore[arg-type]
        (lambda: Filed(FiledKind.FILED, bytearray(TARGET)), ValueError),  # type: ignore[arg-type]
    ],
)
def test_invalid_values_raise_value_error(build: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "data",
    [
        HEADER,
        HEADER + b"\x01",
        HEADER + b"\x00" + TARGET,
        HEADER + b"\x03" + TARGET,
        HEADER + b"\xff" + TARGET,
        HEADER + b"\x01" + TARGET[:-1],
        HEADER + b"\x01" + TARGET + b"\x00",
    ],
)
def test_malformed_notices_raise_remote_protocol_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        Content.from_bytes(data)


@settings(max_examples=200)
@given(
    st.sampled_from(FiledKind),
    st.binary(min_size=MESSAGE_ID_LEN, max_size=MESSAGE_ID_LEN),
    st.integers(0, 2**64 - 1),
)
def test_round_trip_property(kind: FiledKind, target: bytes, sent: int) -> None:
    content = Content(MID, sent, 0, Filed(kind, target))
    data = content.to_bytes()
    assert len(data) == len(HEADER) + 1 + MESSAGE_ID_LEN
    assert Content.from_bytes(data) == content


@settings(max_examples=300)
@given(st.binary(min_size=0, max_size=40))
def test_any_body_after_a_filed_header_parses_canonically_or_is_refused(body: bytes) -> None:
    data = HEADER + body
    try:
        parsed = Content.from_bytes(data)
    except RemoteProtocolError:
        return
    assert parsed.to_bytes() == data
    assert isinstance(parsed.body, Filed)
