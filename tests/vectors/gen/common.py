"""What every scenario module shares: the file shape, the seed of a scenario, hex, byte flips, expected errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confide.keys.errors import ConfideError

from .drbg import RNG_ALGORITHM, RNG_NOTE

Json = dict[str, Any]

NOW = 1_700_000_000
"""Fixed 'current time' (unix seconds, 2023-11-14) for prekey creation and request signing."""
FLIP_MASK = 0x01
"""Every 'flipped byte' in these vectors is XORed with this mask."""


def h(data: bytes) -> str:
    return data.hex()


def flip(data: bytes, offset: int) -> bytes:
    """``data`` with the byte at ``offset`` (negative counts from the end) XORed with :data:`FLIP_MASK`."""
    out = bytearray(data)
    out[offset] ^= FLIP_MASK
    return bytes(out)


def attempt(fn: Callable[..., Any], *args: Any) -> tuple[Json, Any]:
    """Call ``fn(*args)``: ``({"result": "ok"}, value)`` or ``({"result": "error", "error": name}, None)``.

    ``name`` is the exact class name of the :class:`ConfideError` raised; anything else propagates.
    """
    try:
        value = fn(*args)
    except ConfideError as exc:
        return {"result": "error", "error": type(exc).__name__}, None
    return {"result": "ok"}, value


def outcome(fn: Callable[..., Any], *args: Any) -> Json:
    """The result part of :func:`attempt`."""
    return attempt(fn, *args)[0]


def expect_error(error: type[ConfideError], fn: Callable[..., Any], *args: Any) -> Json:
    """Like :func:`outcome`, but stop the generator unless ``fn(*args)`` raises exactly ``error``."""
    got = outcome(fn, *args)
    if got != {"result": "error", "error": error.__name__}:
        raise AssertionError(f"expected {error.__name__}, got {got}")
    return got


def vector(name: str, description: str, seed: bytes, inputs: Json, expected: Json) -> Json:
    return {
        "scenario": name,
        "description": description,
        "rng": RNG_ALGORITHM,
        "rng_note": RNG_NOTE,
        "seed": h(seed),
        "inputs": inputs,
        "expected": expected,
    }


def seed_of(name: str) -> bytes:
    """Each scenario's seed: the ASCII bytes of ``confide-vectors/<name>``."""
    return f"confide-vectors/{name}".encode()
