"""Reading request bodies within limits, and parsing the JSON fields of docs/relay-api.md strictly.

Every function raises a :class:`~confide.server.errors.HttpError` (never a ``KeyError`` or ``TypeError``),
so the error middleware answers a 4xx for anything a client can send.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from aiohttp import web

from confide.protocol.envelope import MAX_IDS_PER_REQUEST

from .errors import Malformed, TooLarge, UnsupportedMediaType

_LOWER_HEX = re.compile("[0-9a-f]*")


async def read_limited(request: web.Request, limit: int) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes before reading them.

    Raises:
        TooLarge: the body (declared or actual) is longer than ``limit``.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(f"the body may be at most {limit} bytes")
    parts = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body may be at most {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def require_content_type(request: web.Request, expected: str) -> None:
    """Raise :class:`UnsupportedMediaType` if the body is declared as anything but ``expected``
    (a body without a Content-Type is accepted)."""
    if "Content-Type" in request.headers and request.content_type != expected:
        raise UnsupportedMediaType(f"send this body as Content-Type: {expected}")


_UTF8_BOM = b"\xef\xbb\xbf"


def parse_json_object(body: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    """Parse a JSON object, in UTF-8 (RFC 8259 §8.1: no byte-order mark, no UTF-16 or UTF-32), whose keys are all
    in ``allowed`` (a misspelt field is an error, not a no-op).

    Raises:
        Malformed: not JSON, not an object, or an unknown field.
    """
    if body.startswith(_UTF8_BOM):
        raise Malformed("the body is JSON in UTF-8 without a byte-order mark")
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Malformed("the body is not valid JSON in UTF-8") from None
    if not isinstance(value, dict):
        raise Malformed("the body must be a JSON object")
    if set(value) - allowed:  # the name is not echoed: the answer never repeats what the request carried
        raise Malformed(f"the body has a field the relay does not know; allowed: {', '.join(sorted(allowed))}")
    return value


def b64_field(obj: dict[str, Any], name: str, max_len: int) -> bytes:
    """A required standard-base64 string field, decoded. Raises :class:`Malformed`."""
    return _b64(obj.get(name), name, max_len)


def optional_b64_field(obj: dict[str, Any], name: str, max_len: int) -> bytes | None:
    value = obj.get(name)
    return None if value is None else _b64(value, name, max_len)


def b64_list_field(
    obj: dict[str, Any], name: str, max_items: int, max_len: int, *, required: bool = True
) -> list[bytes]:
    """A list of base64 strings. Raises :class:`Malformed` (missing, wrong type or over ``max_items``)."""
    value = obj.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise Malformed(f"field {name!r} must be a list of base64 strings")
    if len(value) > max_items:
        raise Malformed(f"field {name!r} may hold at most {max_items} items")
    return [_b64(v, name, max_len) for v in value]


def _b64(value: object, name: str, max_len: int) -> bytes:
    if not isinstance(value, str) or len(value) > (max_len + 2) // 3 * 4:
        raise Malformed(f"field {name!r} must be a base64 string of at most {max_len} bytes")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"field {name!r} is not valid base64") from None
    if base64.b64encode(raw).decode() != value:  # one spelling per value: no set trailing bits
        raise Malformed(f"field {name!r} is not canonical base64 (the unused trailing bits must be zero)")
    return raw


def hex_id(value: object, length: int, what: str) -> bytes:
    """A lowercase-hex id of ``length`` bytes (no spaces, no capitals: ``bytes.fromhex`` alone takes both, and
    a spaced id would decode shorter than ``length``). Raises :class:`Malformed`."""
    if not isinstance(value, str) or len(value) != 2 * length or not _LOWER_HEX.fullmatch(value):
        raise Malformed(f"{what} must be {2 * length} lowercase hex digits")
    return bytes.fromhex(value)


def hex_id_list(obj: dict[str, Any], name: str, length: int) -> list[bytes]:
    """A list of at most :data:`MAX_IDS_PER_REQUEST` hex ids. Raises :class:`Malformed`."""
    value = obj.get(name)
    if not isinstance(value, list):
        raise Malformed(f"field {name!r} must be a list of ids")
    if len(value) > MAX_IDS_PER_REQUEST:
        raise Malformed(f"field {name!r} may hold at most {MAX_IDS_PER_REQUEST} ids")
    return [hex_id(v, length, "an id") for v in value]


def only_query_params(request: web.Request, allowed: frozenset[str]) -> None:
    """Raise :class:`Malformed` if the query names a parameter not in ``allowed`` (a misspelt ``limit`` would
    otherwise be a silent no-op)."""
    unknown = set(request.query) - allowed
    if unknown:
        raise Malformed(f"unknown query parameter; allowed: {', '.join(sorted(allowed)) or 'none'}")


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within ``[low, high]``. Raises :class:`Malformed`."""
    text = request.query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise Malformed(f"query parameter {name!r} must be a whole number")
    value = int(text)
    if not low <= value <= high:
        raise Malformed(f"query parameter {name!r} must be between {low} and {high}")
    return value
