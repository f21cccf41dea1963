"""Ranged attachment downloads (RFC 9110 §14): which bytes of a blob a ``Range`` header asks for.

A client resumes an interrupted download with one byte range. The relay serves exactly one range of a known
size and decides here, before any file is opened:

* no ``Range`` header, another unit, several ranges, or text that is not a byte range: the header is ignored
  and the whole blob is served with 200 (RFC 9110 §14.2: a server MAY ignore ``Range``, and MUST ignore a range
  unit it does not understand);
* ``bytes=first-last``, ``bytes=first-`` or ``bytes=-suffix`` that overlaps the blob: 206 with those bytes
  (``last`` past the end is cut at the end);
* a range that starts at or past the end, or an empty suffix: 416 with a JSON error and
  ``Content-Range: bytes */size``.

Conditional headers (``If-Range``, ``If-Match``, ``If-None-Match``, ``If-Modified-Since``...) are never
honoured: a blob never changes under its id, and aiohttp answers them with empty-bodied 304/412 responses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import RangeNotSatisfiable

MAX_RANGE_HEADER_LEN = 64
"""Longest ``Range`` header read: ``bytes=`` and two 19-digit offsets (any file size) fit in 46 characters; a
longer header is not one range of a blob and is ignored before any parsing."""

_ONE_RANGE = re.compile(r"bytes=(?:(\d{1,19})-(\d{0,19})|-(\d{1,19}))", re.ASCII)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` up to ``end`` (exclusive) of a blob of ``size`` bytes; never empty."""

    start: int
    end: int
    size: int

    @property
    def header(self) -> str:
        """The canonical ``Range`` header for these bytes."""
        return f"bytes={self.start}-{self.end - 1}"


def byte_range(header: str | None, size: int) -> ByteRange | None:
    """The range of a blob of ``size`` bytes that ``header`` asks for, or ``None`` to serve all of it.

    Raises:
        RangeNotSatisfiable: one byte range that does not overlap the blob.
    """
    if header is None or len(header) > MAX_RANGE_HEADER_LEN:
        return None
    match = _ONE_RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        length = int(suffix)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable("an empty suffix range selects no bytes", size)
        return ByteRange(max(0, size - length), size, size)
    start = int(first)
    end = size if not last else int(last) + 1
    if last and end <= start:
        return None  # last before first: not a valid range (RFC 9110 §14.1.1), ignored
    if start >= size:
        raise RangeNotSatisfiable("the range starts at or past the end of the attachment", size)
    return ByteRange(start, min(end, size), size)
