"""Section 1, the Ed25519 verification rule: ``ed25519.json``.

Every signature in Confide (identity certificate, device certificates, signed prekeys, bundles, request
signing) is checked by OpenSSL's Ed25519 through ``cryptography``. These cases pin what that check accepts
where implementations of RFC 8032 differ (Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs", 2020):
S must be below L; R is compared by its encoding (so a non-canonical R never verifies); the equation is the
cofactorless one, [S]B = R + [k]A; public keys are neither checked for small order nor for a canonical
encoding. The points below are the well-known small-order points of edwards25519 in their 32-byte
encodings (the identity, the point of order 2, one of order 4 and two of order 8)."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide.keys.identity import ed25519_public, verify_signature

from .common import Json, attempt, h, seed_of, vector
from .drbg import RecordingRng, SeededRng

L = 2**252 + 27742317777372353535851937790883648493
"""The order of the edwards25519 base point (RFC 8032 section 5.1)."""
P = 2**255 - 19
"""The field prime (RFC 8032 section 5.1)."""
IDENTITY = bytes([1]) + bytes(31)
"""The neutral point (x = 0, y = 1), order 1."""
ORDER_2 = (P - 1).to_bytes(32, "little")
"""(0, -1), order 2."""
ORDER_4 = bytes(32)
"""(x, 0) with x positive (even), order 4."""
ORDER_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
"""A point of order 8."""
IDENTITY_NON_CANONICAL = (P + 1).to_bytes(32, "little")
"""The neutral point encoded with y = p + 1 (not reduced mod p)."""
IDENTITY_NEGATIVE_ZERO = bytes([1]) + bytes(30) + bytes([0x80])
"""The neutral point with the sign bit of x set although x = 0."""
ZERO_S = bytes(32)


def k_of(r: bytes, a: bytes, message: bytes) -> int:
    """RFC 8032's k = SHA-512(R || A || M) as a little-endian integer, mod L."""
    return int.from_bytes(hashlib.sha512(r + a + message).digest(), "little") % L


def message_with(a: bytes, modulus: int, want_zero: bool) -> bytes:
    """The first message 'edge-<i>' whose k (with R = the neutral point) is (or is not) 0 mod ``modulus``."""
    i = 0
    while (k_of(IDENTITY, a, b"edge-%d" % i) % modulus == 0) != want_zero:
        i += 1
    return b"edge-%d" % i


def check(public: bytes, signature: bytes, message: bytes) -> None:
    verify_signature(ed25519_public(public), signature, message, "vector")


def ed25519() -> Json:
    seed = seed_of("ed25519")
    rng = RecordingRng(SeededRng(seed))
    private = Ed25519PrivateKey.from_private_bytes(rng(32))
    draws = rng.take()
    public = private.public_key().public_bytes_raw()
    message = b"Confide-device-v1" + bytes(range(32))
    sig = private.sign(message)
    s = int.from_bytes(sig[32:], "little")
    cases = [
        ("a valid signature", public, sig, message),
        ("the same, one message byte changed", public, sig, message[:-1] + b"\x00"),
        ("S + L (non-canonical S: S must be < L)", public, sig[:32] + (s + L).to_bytes(32, "little"), message),
        ("S = L", public, sig[:32] + L.to_bytes(32, "little"), message),
        ("R non-canonical: the neutral point as y = p + 1", IDENTITY, IDENTITY_NON_CANONICAL + ZERO_S, b"edge"),
        (
            "R non-canonical: the neutral point with the x sign bit set",
            IDENTITY,
            IDENTITY_NEGATIVE_ZERO + ZERO_S,
            b"edge",
        ),
        (
            "A = neutral point, R = neutral point, S = 0 (verifies for every message)",
            IDENTITY,
            IDENTITY + ZERO_S,
            b"edge",
        ),
        (
            "A = the neutral point encoded as y = p + 1 (non-canonical A is accepted)",
            IDENTITY_NON_CANONICAL,
            IDENTITY + ZERO_S,
            b"edge",
        ),
        ("A = the neutral point with the x sign bit set", IDENTITY_NEGATIVE_ZERO, IDENTITY + ZERO_S, b"edge"),
        ("A of order 2, R = neutral, S = 0, k even", ORDER_2, IDENTITY + ZERO_S, message_with(ORDER_2, 2, True)),
        ("A of order 2, R = neutral, S = 0, k odd", ORDER_2, IDENTITY + ZERO_S, message_with(ORDER_2, 2, False)),
        (
            "A of order 4 (0, y=0 encoding), R = neutral, S = 0, k = 0 mod 4",
            ORDER_4,
            IDENTITY + ZERO_S,
            message_with(ORDER_4, 4, True),
        ),
        ("A of order 4, R = neutral, S = 0, k != 0 mod 4", ORDER_4, IDENTITY + ZERO_S, message_with(ORDER_4, 4, False)),
        (
            "A of order 8, R = neutral, S = 0, k = 0 mod 8 (both equations hold)",
            ORDER_8,
            IDENTITY + ZERO_S,
            message_with(ORDER_8, 8, True),
        ),
        (
            "A of order 8, R = neutral, S = 0, k != 0 mod 8: "
            "only the cofactored equation [8][S]B = [8]R + [8][k]A holds",
            ORDER_8,
            IDENTITY + ZERO_S,
            message_with(ORDER_8, 8, False),
        ),
    ]
    rows, results = [], []
    for why, a, signature, m in cases:
        res = attempt(check, a, signature, m)[0]
        assert res in ({"result": "ok"}, {"result": "error", "error": "InvalidSignature"}), (why, res)
        rows.append({"why": why, "public": h(a), "signature": h(signature), "message": h(m)})
        results.append({"why": why, "k_mod_8": k_of(signature[:32], a, m) % 8, **res})
    return vector(
        "ed25519",
        "Ed25519 verification as Confide does it (SPEC section 1, 'Signatures'): RFC 8032 with S < L, R "
        "compared by encoding, the cofactorless equation [S]B = R + [k]A, and no check of A for small order "
        "or canonical encoding. Each case verifies 'signature' by 'public' over 'message': ok, or "
        "InvalidSignature. k_mod_8 is SHA-512(R || A || M) mod L mod 8, for the small-order cases. "
        "The first key's seed is the one rng draw.",
        seed,
        {
            "rng_outputs": draws,
            "private_seed": draws[0],
            "cases": rows,
        },
        {"result": "ok", "public": h(public), "cases": results},
    )
