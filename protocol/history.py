"""The recent history an existing device sends a new one (SPEC section 15.5): a stream of records.

Stream (integers big-endian)::

    stream  = (var32 record) * count || 0x00000000 || count u32        a zero length ends it; then the count
    record  = peer(20) || direction u8 || status u8 || at_ms u64 || content var32

``peer`` is the contact's address, ``direction`` 1 IN (received) or 2 OUT (sent), ``status`` the message's
status (:class:`HistoryStatus`, valid for its direction), ``at_ms`` when it was sent or received (unix
milliseconds) and ``content`` a whole TEXT or ATTACHMENT content (SPEC section 8) as sent or received.
Records come newest first; the sender stops at :data:`MAX_HISTORY_BYTES` or :data:`HISTORY_DAYS`, whichever
comes first. The stream is encrypted as an attachment blob (SPEC section 9, fresh key) and uploaded; the key,
digest and size travel in the link exchange (:class:`~confide.protocol.provisioning.HistoryOffer`), so the relay
sees one blob of a padded size and nothing of what it holds.

Sans-I/O and incremental on both sides: :func:`encode_record` and :func:`encode_trailer` produce bytes to
feed an :class:`~confide.protocol.attachment.AttachmentEncryptor`; :class:`HistoryReader` takes the decrypted
bytes in chunks of any size and returns the records as they complete, holding at most one record in memory.
Every refusal is :class:`~confide.protocol.errors.RemoteProtocolError`.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from confide.keys.encoding import Reader, Writer

from .content import MAX_FRANKABLE_LEN, Content, ContentType
from .errors import LocalProtocolError, RemoteProtocolError

HISTORY_DAYS = 90
"""How far back a new device's history goes: a quarter, about the twelve weekly sessions of a course of
therapy, so the conversation in progress is all there; older messages stay on the devices that have them."""
MAX_HISTORY_BYTES = 64 * 1024 * 1024
"""The longest history stream (records and trailer): 64 MiB, about a thousand maximal texts or a hundred
thousand ordinary ones. Bounds the upload, the relay's blob storage and the new device's work; attachments
travel as pointers, their files are fetched on demand."""
ADDRESS_LEN = 20
RECORD_HEADER_LEN = ADDRESS_LEN + 1 + 1 + 8 + 4
"""peer, direction, status, at_ms and the content's length (34 bytes)."""
MAX_HISTORY_RECORD = RECORD_HEADER_LEN + MAX_FRANKABLE_LEN
"""The longest record (60,068 bytes): a header and the longest content that is not franked."""
MIN_HISTORY_RECORD = RECORD_HEADER_LEN + 1
"""Shorter records cannot hold a content; used to bound the message count."""
TRAILER_LEN = 4 + 4
"""``0x00000000 || count u32``."""
MAX_HISTORY_MESSAGES = (MAX_HISTORY_BYTES - TRAILER_LEN) // (4 + MIN_HISTORY_RECORD)
"""No stream within :data:`MAX_HISTORY_BYTES` can hold more records (a bound on the announced count)."""
MAX_AT_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: later times are refused, keeping every timestamp printable."""

_LEN = struct.Struct(">I")
_HISTORY_TYPES = frozenset({ContentType.TEXT, ContentType.ATTACHMENT})


class Direction(enum.IntEnum):
    """Whether this identity received (IN) or sent (OUT) the message."""

    IN = 1
    OUT = 2


class HistoryStatus(enum.IntEnum):
    """A message's status, as the client's ``MessageStatus`` (a pending or failed send is not history)."""

    SENT = 1
    """OUT: accepted by the relay."""
    DELIVERED = 2
    """OUT: the peer's device confirmed it."""
    READ = 3
    """OUT: the peer read it; IN: this person read it."""
    UNREAD = 4
    """IN: not yet read."""


_ALLOWED = {
    Direction.IN: frozenset({HistoryStatus.READ, HistoryStatus.UNREAD}),
    Direction.OUT: frozenset({HistoryStatus.SENT, HistoryStatus.DELIVERED, HistoryStatus.READ}),
}


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One message of the history. ``content`` is the canonical bytes of a TEXT or ATTACHMENT content.

    Raises (construction):
        ValueError: a field is out of its bounds, the status does not belong to the direction, or ``content`` is
            not a canonical TEXT or ATTACHMENT content.
    """

    peer: bytes
    direction: int
    status: int
    at_ms: int
    content: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.peer, bytes) or len(self.peer) != ADDRESS_LEN:
            raise ValueError(f"peer must be a {ADDRESS_LEN}-byte address")
        if self.direction not in {d.value for d in Direction}:
            raise ValueError("direction must be 1 (in) or 2 (out)")
        if self.status not in {s.value for s in _ALLOWED[Direction(self.direction)]}:
            raise ValueError("this status does not exist for this direction")
        if not isinstance(self.at_ms, int) or not 0 <= self.at_ms <= MAX_AT_MS:
            raise ValueError("at_ms must be between 1970 and 9999 in unix milliseconds")
        if not isinstance(self.content, bytes) or not 0 < len(self.content) <= MAX_FRANKABLE_LEN:
            raise ValueError("content must be a TEXT or ATTACHMENT content")
        try:
            parsed = Content.from_bytes(self.content)
        except RemoteProtocolError as exc:
            raise ValueError(f"content is not a valid content: {exc}") from exc
        if parsed.type not in _HISTORY_TYPES:
            raise ValueError("a history record holds a TEXT or ATTACHMENT content only")


def encode_record(record: HistoryRecord) -> bytes:
    """``var32 record``: one stream item."""
    body = (
        Writer().raw(record.peer).u8(record.direction).u8(record.status).u64(record.at_ms).var32(record.content).bytes()
    )
    return _LEN.pack(len(body)) + body


def encode_trailer(count: int) -> bytes:
    """The stream's end: ``0x00000000 || count u32`` (``count`` records precede it).

    Raises:
        ValueError: ``count`` is negative or above :data:`MAX_HISTORY_MESSAGES`.
    """
    if not 0 <= count <= MAX_HISTORY_MESSAGES:
        raise ValueError(f"a history holds 0..{MAX_HISTORY_MESSAGES} records")
    return _LEN.pack(0) + _LEN.pack(count)


def _parse_record(data: bytes) -> HistoryRecord:
    r = Reader(data, RemoteProtocolError)
    peer, direction, status, at_ms = r.raw(ADDRESS_LEN), r.u8(), r.u8(), r.u64()
    content = r.var32(MAX_FRANKABLE_LEN)
    r.end()
    try:
        return HistoryRecord(peer, direction, status, at_ms, content)
    except ValueError as exc:
        raise RemoteProtocolError(f"malformed history record: {exc}") from exc


class HistoryReader:
    """Incremental parser of a history stream: :meth:`feed` decrypted bytes in any chunks, then :meth:`finish`.

    After a refusal the reader is spent: the stream is not to be trusted any further.
    """

    __slots__ = ("_announced", "_buffer", "_count", "_done_bytes", "_ended", "_failed", "_limit")

    def __init__(self, *, size: int | None = None) -> None:
        """``size``: the stream length announced by the sender (the offer's ``size``), when known; more bytes
        than that are refused as they arrive.

        Raises:
            ValueError: ``size`` is outside ``TRAILER_LEN..MAX_HISTORY_BYTES``.
        """
        if size is not None and not TRAILER_LEN <= size <= MAX_HISTORY_BYTES:
            raise ValueError(f"a history stream is {TRAILER_LEN}..{MAX_HISTORY_BYTES} bytes")
        self._announced = size is not None
        self._limit = MAX_HISTORY_BYTES if size is None else size
        self._buffer = bytearray()
        self._count = 0
        self._done_bytes = 0
        self._ended = False
        self._failed = False

    @property
    def done_bytes(self) -> int:
        """Bytes fed so far (for progress: ``(done_bytes, size)``)."""
        return self._done_bytes

    @property
    def count(self) -> int:
        """Records returned so far."""
        return self._count

    def _fail(self, reason: str) -> RemoteProtocolError:
        self._failed = True
        self._buffer.clear()
        return RemoteProtocolError(f"the history is malformed: {reason}")

    def feed(self, chunk: bytes) -> list[HistoryRecord]:
        """Take the next bytes of the stream; return the records they complete, in stream order.

        Raises:
            RemoteProtocolError: more than the announced size or :data:`MAX_HISTORY_BYTES`, a record length
                above :data:`MAX_HISTORY_RECORD`, a malformed record, or bytes after a complete trailer.
            LocalProtocolError: the reader already refused the stream or finished.
        """
        if self._failed:
            raise LocalProtocolError("this history reader already refused its stream")
        self._done_bytes += len(chunk)
        if self._done_bytes > self._limit:
            raise self._fail("longer than announced or allowed")
        self._buffer += chunk
        records: list[HistoryRecord] = []
        while not self._ended and len(self._buffer) >= 4:
            (length,) = _LEN.unpack_from(self._buffer)
            if length == 0:
                if len(self._buffer) < TRAILER_LEN:
                    break
                (count,) = _LEN.unpack_from(self._buffer, 4)
                if count != self._count:
                    raise self._fail("the trailer's count does not match the records")
                del self._buffer[:TRAILER_LEN]
                self._ended = True
                break
            if not MIN_HISTORY_RECORD <= length <= MAX_HISTORY_RECORD:
                raise self._fail("a record has an impossible length")
            if len(self._buffer) < 4 + length:
                break
            body = bytes(self._buffer[4 : 4 + length])
            del self._buffer[: 4 + length]
            try:
                records.append(_parse_record(body))
            except RemoteProtocolError as exc:
                raise self._fail(str(exc)) from exc
            self._count += 1
        if self._ended and self._buffer:
            raise self._fail("bytes follow the trailer")
        return records

    def finish(self) -> int:
        """Check that the stream ended with its trailer and nothing after it; return the record count.

        Raises:
            RemoteProtocolError: the stream is truncated (no trailer), or shorter than announced.
            LocalProtocolError: the reader already refused its stream.
        """
        if self._failed:
            raise LocalProtocolError("this history reader already refused its stream")
        if not self._ended:
            raise self._fail("it is truncated (no trailer)")
        if self._announced and self._done_bytes != self._limit:
            raise self._fail("shorter than announced")
        return self._count


__all__ = [
    "HISTORY_DAYS",
    "MAX_HISTORY_BYTES",
    "MAX_HISTORY_MESSAGES",
    "MAX_HISTORY_RECORD",
    "Direction",
    "HistoryReader",
    "HistoryRecord",
    "HistoryStatus",
    "encode_record",
    "encode_trailer",
]
