"""The history stream a new device receives (SPEC 15.5): records and trailer, read in chunks of any size.

The reader must give back exactly the records written, whatever the chunking, and refuse a stream that is
truncated, padded, longer than announced or allowed, or that holds anything but TEXT and ATTACHMENT contents.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.protocol import LocalProtocolError, RemoteProtocolError
from confide.protocol.content import (
    MAX_FRANKABLE_LEN,
    MAX_TEXT_BYTES,
    AttachmentPointer,
    Content,
    Receipt,
    ReceiptKind,
    Text,
)
from confide.protocol.history import (
    MAX_HISTORY_BYTES,
    MAX_HISTORY_RECORD,
    Direction,
    HistoryReader,
    HistoryRecord,
    HistoryStatus,
    encode_record,
    encode_trailer,
)

PEER = bytes(range(20))
AT = 1_700_000_000_000


def text(body: str, n: int = 0) -> bytes:
    return Content(n.to_bytes(16, "big"), AT + n, 0, Text(body)).to_bytes()


def attachment() -> bytes:
    pointer = AttachmentPointer(
        blob_id="b" * 43,
        key=b"\x01" * 32,
        digest=b"\x02" * 32,
        size=1234,
        name="worksheet.pdf",
        mime="application/pdf",
        caption="for Thursday",
    )
    return Content(b"\x09" * 16, AT, 0, pointer).to_bytes()


RECORDS = [
    HistoryRecord(PEER, Direction.IN, HistoryStatus.UNREAD, AT + 3, text("See you Thursday", 3)),
    HistoryRecord(PEER, Direction.OUT, HistoryStatus.READ, AT + 2, attachment()),
    HistoryRecord(b"\x07" * 20, Direction.OUT, HistoryStatus.DELIVERED, AT + 1, text("Hello", 1)),
    HistoryRecord(b"\x07" * 20, Direction.IN, HistoryStatus.READ, AT, text("\u00e9" * 10, 0)),
]
STREAM = b"".join(encode_record(r) for r in RECORDS) + encode_trailer(len(RECORDS))


def read_all(data: bytes, sizes: list[int], *, size: int | None = None) -> list[HistoryRecord]:
    reader = HistoryReader(size=size)
    out: list[HistoryRecord] = []
    pos = 0
    for n in sizes:
        out += reader.feed(data[pos : pos + n])
        pos += n
    out += reader.feed(data[pos:])
    assert reader.finish() == len(out)
    assert reader.done_bytes == len(data)
    return out


def test_a_record_is_laid_out_as_the_spec_says() -> None:
    record = RECORDS[2]
    encoded = encode_record(record)
    body = PEER[:0] + b"\x07" * 20 + b"\x02\x02" + (AT + 1).to_bytes(8, "big")
    body += len(record.content).to_bytes(4, "big") + record.content
    assert encoded == len(body).to_bytes(4, "big") + body
    assert encode_trailer(4) == b"\x00\x00\x00\x00\x00\x00\x00\x04"


def test_the_stream_reads_back_in_one_chunk() -> None:
    assert read_all(STREAM, []) == RECORDS


def test_an_empty_history_is_a_trailer_of_zero() -> None:
    assert read_all(encode_trailer(0), []) == []


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(sizes=st.lists(st.integers(0, 200), max_size=40))
def test_the_stream_reads_back_the_same_in_any_chunks(sizes: list[int]) -> None:
    assert read_all(STREAM, sizes) == RECORDS


@settings(max_examples=100, derandomize=True, deadline=None, database=None)
@given(cut=st.integers(0, len(STREAM) - 1), sizes=st.lists(st.integers(1, 64), max_size=10))
def test_a_stream_cut_anywhere_is_refused_at_finish(cut: int, sizes: list[int]) -> None:
    reader = HistoryReader()
    pos = 0
    for n in sizes:
        reader.feed(STREAM[pos : min(cut, pos + n)])
        pos = min(cut, pos + n)
    reader.feed(STREAM[pos:cut])
    with pytest.raises(RemoteProtocolError):
        reader.finish()


def test_the_progress_is_the_bytes_fed() -> None:
    reader = HistoryReader(size=len(STREAM))
    reader.feed(STREAM[:10])
    assert (reader.done_bytes, reader.count) == (10, 0)
    records = reader.feed(STREAM[10:])
    assert (reader.done_bytes, reader.count, len(records)) == (len(STREAM), 4, 4)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (STREAM + b"\x00", "a byte after the trailer"),
        (STREAM[:-8] + encode_trailer(3), "the trailer counts fewer records"),
        (STREAM[:-8] + encode_trailer(5), "the trailer counts more records"),
        ((MAX_HISTORY_RECORD + 1).to_bytes(4, "big") + b"\x00" * 64, "a record longer than the longest"),
        ((34).to_bytes(4, "big") + b"\x00" * 34, "a record without content"),
    ],
)
def test_a_malformed_stream_is_refused_as_it_is_fed(data: bytes, why: str) -> None:
    reader = HistoryReader()
    with pytest.raises(RemoteProtocolError):
        reader.feed(data)
    with pytest.raises(LocalProtocolError):  # the reader is spent
        reader.feed(b"")


def _record_bytes(peer: bytes, direction: int, status: int, at_ms: int, content: bytes) -> bytes:
    body = peer + bytes((direction, status)) + at_ms.to_bytes(8, "big") + len(content).to_bytes(4, "big") + content
    return len(body).to_bytes(4, "big") + body + encode_trailer(1)


RECEIPT = Content(b"\x05" * 16, AT, 0, Receipt(ReceiptKind.READ, (b"\x01" * 16,))).to_bytes()


@pytest.mark.parametrize(
    "data",
    [
        _record_bytes(PEER, 3, 1, AT, text("x")),
        _record_bytes(PEER, 1, 1, AT, text("x")),
        _record_bytes(PEER, 2, 4, AT, text("x")),
        _record_bytes(PEER, 2, 0, AT, text("x")),
        _record_bytes(PEER, 1, 3, 253_402_300_800_000, text("x")),
        _record_bytes(PEER, 1, 3, AT, RECEIPT),
        _record_bytes(PEER, 1, 3, AT, text("x") + b"\x00"),
        _record_bytes(PEER, 1, 3, AT, b"\x02" + text("x")[1:]),
    ],
    ids=["direction 3", "in sent", "out unread", "status 0", "after 9999", "a receipt", "trailing", "version 2"],
)
def test_a_malformed_record_is_refused(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        HistoryReader().feed(data)


def test_a_record_of_anything_but_text_or_attachment_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="TEXT or ATTACHMENT"):
        HistoryRecord(PEER, Direction.IN, HistoryStatus.READ, AT, RECEIPT)


def test_a_maximal_text_makes_a_record_within_the_bound() -> None:
    content = text("x" * MAX_TEXT_BYTES)
    encoded = encode_record(HistoryRecord(PEER, Direction.OUT, HistoryStatus.SENT, AT, content))
    assert len(encoded) - 4 <= MAX_HISTORY_RECORD
    assert MAX_HISTORY_RECORD == 34 + MAX_FRANKABLE_LEN
    assert read_all(encoded + encode_trailer(1), [1000]) == [HistoryRecord(PEER, 2, 1, AT, content)]


def test_a_stream_longer_than_announced_is_refused_as_it_arrives() -> None:
    reader = HistoryReader(size=len(STREAM) - 1)
    with pytest.raises(RemoteProtocolError):
        reader.feed(STREAM)


def test_a_stream_shorter_than_announced_is_refused_at_finish() -> None:
    reader = HistoryReader(size=len(STREAM) + 1)
    reader.feed(STREAM)
    with pytest.raises(RemoteProtocolError):
        reader.finish()


def test_a_stream_past_64_mib_is_refused_at_the_chunk_that_crosses_the_bound() -> None:
    record = encode_record(HistoryRecord(PEER, Direction.OUT, HistoryStatus.SENT, AT, text("x" * MAX_TEXT_BYTES)))
    fits = MAX_HISTORY_BYTES // len(record)
    reader = HistoryReader()
    for _ in range(fits):
        assert len(reader.feed(record)) == 1
    assert reader.done_bytes <= MAX_HISTORY_BYTES < reader.done_bytes + len(record)
    with pytest.raises(RemoteProtocolError):
        reader.feed(record)


def test_an_announced_size_outside_the_bounds_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="history stream"):
        HistoryReader(size=MAX_HISTORY_BYTES + 1)
    with pytest.raises(ValueError, match="history stream"):
        HistoryReader(size=7)
