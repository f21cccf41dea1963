"""The prime-order group under message franking: edwards25519's subgroup of order l, by libsodium (PyNaCl).

Why not ristretto255: PyNaCl (1.6) binds none of libsodium's ``crypto_core_ristretto255_*`` functions. It does
bind the edwards25519 ones, and libsodium's ``crypto_core_ed25519_is_valid_point`` accepts exactly the canonical
encodings of points of the prime-order subgroup other than the identity (it refuses non-canonical encodings,
points off the curve, points of small order and points with a torsion component). Every 32-byte string that
:func:`parse_point` accepts is therefore the one encoding of one element of a group of prime order
l = 2^252 + 27742317777372353535851937790883648493, which is all ristretto255 would give us here: there is no
cofactor left to reason about, and equal elements have equal bytes.

Nothing in this module does arithmetic of its own: points are multiplied and added by libsodium, scalars are
reduced, added, multiplied and negated by libsodium, and two encodings are compared with
:func:`hmac.compare_digest`. libsodium's scalar multiplication is constant-time in the scalar.

libsodium refuses to return the identity element from a multiplication (and refuses a zero scalar). The
franking algorithms meet the identity only with probability about 2^-252 on honest inputs; a hostile proof that
steers a verifier into it is simply refused (:class:`GroupFailure`, which verifiers turn into ``False``).
"""

from __future__ import annotations

import hashlib
import hmac

import nacl.exceptions
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_is_valid_point,
    crypto_core_ed25519_scalar_add,
    crypto_core_ed25519_scalar_mul,
    crypto_core_ed25519_scalar_negate,
    crypto_core_ed25519_scalar_reduce,
    crypto_core_ed25519_scalar_sub,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)

from confide.keys.encoding import RNG

POINT_LEN = 32
"""A group element is its 32-byte compressed edwards25519 encoding (RFC 8032 §5.1.2), canonical."""
SCALAR_LEN = 32
"""A scalar is 32 bytes little-endian, fully reduced modulo l (the only form :func:`parse_scalar` accepts)."""
WIDE_LEN = 64
"""Bytes reduced modulo l to draw or derive a scalar: 512 bits leave a bias below 2^-259 (l is about 2^252)."""

_ZERO_SCALAR = bytes(SCALAR_LEN)


class GroupFailure(Exception):
    """libsodium refused an operation: a zero scalar, or a product that would be the identity element.

    Internal to the franking modules: on an honest input its probability is about 2^-252; a verifier that meets
    it on hostile input refuses the signature.
    """


def is_point(data: bytes) -> bool:
    """Whether ``data`` is the canonical encoding of a non-identity element of the prime-order subgroup."""
    return len(data) == POINT_LEN and bool(crypto_core_ed25519_is_valid_point(data))


def is_scalar(data: bytes) -> bool:
    """Whether ``data`` is a 32-byte scalar fully reduced modulo l (its own reduction, compared in constant time)."""
    if len(data) != SCALAR_LEN:
        return False
    return hmac.compare_digest(crypto_core_ed25519_scalar_reduce(data + _ZERO_SCALAR), data)


def is_zero(scalar: bytes) -> bool:
    """Whether a reduced scalar is zero (constant time)."""
    return hmac.compare_digest(scalar, _ZERO_SCALAR)


def random_scalar(rng: RNG) -> bytes:
    """A uniform scalar: :data:`WIDE_LEN` bytes of ``rng`` reduced modulo l.

    Raises:
        ValueError: ``rng`` did not return :data:`WIDE_LEN` bytes.
    """
    wide = rng(WIDE_LEN)
    if len(wide) != WIDE_LEN:
        raise ValueError(f"rng returned {len(wide)} bytes, not {WIDE_LEN}")
    return crypto_core_ed25519_scalar_reduce(wide)


def hash_to_scalar(label: bytes, *parts: bytes) -> bytes:
    """``SHA-512(label || 0x00 || parts...)`` reduced modulo l.

    Callers give only fixed-length parts, or length-prefix a variable one, so the concatenation is unambiguous;
    ``label`` never contains 0x00, which separates it from what follows.
    """
    if b"\x00" in label:
        raise ValueError("a label contains no zero byte")
    digest = hashlib.sha512(label + b"\x00" + b"".join(parts)).digest()
    return crypto_core_ed25519_scalar_reduce(digest)


def base_mul(scalar: bytes) -> bytes:
    """``scalar · G`` for the standard edwards25519 base point ``G`` (of order l).

    Raises:
        GroupFailure: ``scalar`` is zero (the product would be the identity).
    """
    try:
        return crypto_scalarmult_ed25519_base_noclamp(scalar)
    except nacl.exceptions.RuntimeError as exc:
        raise GroupFailure("zero scalar") from exc


def mul(scalar: bytes, point: bytes) -> bytes:
    """``scalar · point`` for a point of the prime-order subgroup.

    Raises:
        GroupFailure: the product is the identity (``scalar`` is zero), or ``point`` is not in the subgroup.
    """
    try:
        return crypto_scalarmult_ed25519_noclamp(scalar, point)
    except nacl.exceptions.RuntimeError as exc:
        raise GroupFailure("identity product") from exc


def add(p: bytes, q: bytes) -> bytes:
    """``p + q`` (the result may be the identity's encoding, which only ever goes into a hash)."""
    return crypto_core_ed25519_add(p, q)


def lincomb(z: bytes, c: bytes, base: bytes, point: bytes) -> bytes:
    """``z · base - c · point``: a Schnorr commitment recomputed from its challenge ``c`` and response ``z``.

    Raises:
        GroupFailure: ``z`` or ``c`` is zero.
    """
    return add(mul(z, base), mul(scalar_neg(c), point))


def base_lincomb(z: bytes, c: bytes, point: bytes) -> bytes:
    """``z · G - c · point`` (as :func:`lincomb` with the base point, by libsodium's fixed-base multiplication).

    Raises:
        GroupFailure: ``z`` or ``c`` is zero.
    """
    return add(base_mul(z), mul(scalar_neg(c), point))


def scalar_add(a: bytes, b: bytes) -> bytes:
    """``a + b mod l``."""
    return crypto_core_ed25519_scalar_add(a, b)


def scalar_sub(a: bytes, b: bytes) -> bytes:
    """``a - b mod l``."""
    return crypto_core_ed25519_scalar_sub(a, b)


def scalar_mul(a: bytes, b: bytes) -> bytes:
    """``a · b mod l``."""
    return crypto_core_ed25519_scalar_mul(a, b)


def scalar_neg(a: bytes) -> bytes:
    """``-a mod l``."""
    return crypto_core_ed25519_scalar_negate(a)


def same(a: bytes, b: bytes) -> bool:
    """Whether two encodings (points or scalars, both canonical) are equal, in constant time."""
    return hmac.compare_digest(a, b)
