"""Canonical byte encoding shared by every Confide format.

All integers are unsigned big-endian of a fixed width; variable fields are length-prefixed. Encoding is
deterministic (one byte string per value) so that signatures, MACs and test vectors are reproducible.
:class:`Reader` parses *before* any cryptography touches the bytes and raises the error class its caller
names, so a malformed input never becomes an ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .errors import ConfideError

RNG = Callable[[int], bytes]
"""A source of random bytes: ``rng(n)`` returns ``n`` bytes. Production passes ``os.urandom``."""

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class Writer:
    """Append-only builder of canonical bytes."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> Writer:
        self._parts.append(bytes((value,)))
        return self

    def u16(self, value: int) -> Writer:
        self._parts.append(_U16.pack(value))
        return self

    def u32(self, value: int) -> Writer:
        self._parts.append(_U32.pack(value))
        return self

    def u64(self, value: int) -> Writer:
        self._parts.append(_U64.pack(value))
        return self

    def raw(self, data: bytes) -> Writer:
        self._parts.append(bytes(data))
        return self

    def var8(self, data: bytes) -> Writer:
        if len(data) > 0xFF:
            raise ValueError("field longer than 255 bytes")
        return self.u8(len(data)).raw(data)

    def var16(self, data: bytes) -> Writer:
        if len(data) > 0xFFFF:
            raise ValueError("field longer than 65535 bytes")
        return self.u16(len(data)).raw(data)

    def var32(self, data: bytes) -> Writer:
        return self.u32(len(data)).raw(data)

    def bytes(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Strict parser over canonical bytes; every short read raises ``error``."""

    __slots__ = ("_data", "_error", "_pos")

    def __init__(self, data: bytes, error: type[ConfideError]) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._error = error

    def _take(self, n: int) -> memoryview:
        end = self._pos + n
        if n < 0 or end > len(self._data):
            raise self._error("input is truncated")
        view = self._data[self._pos : end]
        self._pos = end
        return view

    def u8(self) -> int:
        return self._take(1)[0]

    def u16(self) -> int:
        return int(_U16.unpack(self._take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self._take(8))[0])

    def raw(self, n: int) -> bytes:
        return bytes(self._take(n))

    def var8(self, limit: int = 0xFF) -> bytes:
        n = self.u8()
        if n > limit:
            raise self._error("field is longer than allowed")
        return self.raw(n)

    def var16(self, limit: int = 0xFFFF) -> bytes:
        n = self.u16()
        if n > limit:
            raise self._error("field is longer than allowed")
        return self.raw(n)

    def var32(self, limit: int) -> bytes:
        n = self.u32()
        if n > limit:
            raise self._error("field is longer than allowed")
        return self.raw(n)

    def rest(self) -> bytes:
        return self.raw(len(self._data) - self._pos)

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def end(self) -> None:
        """Raise unless every byte was consumed (no trailing garbage is tolerated)."""
        if self._pos != len(self._data):
            raise self._error("unexpected trailing bytes")
