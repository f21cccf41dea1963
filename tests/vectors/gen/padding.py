"""Section 4, session and padding: ``padding.json``."""

from __future__ import annotations

from confide.protocol.errors import DecryptionError
from confide.protocol.padding import bucket_for, pad, unpad

from .common import Json, attempt, expect_error, h, seed_of, vector
from .drbg import SeededRng


def padding() -> Json:
    seed = seed_of("padding")
    rng = SeededRng(seed)
    lengths = [0, 1, 100, 255, 256, 257, 511, 1000, 4095, 4096, 32767, 65534, 65535, 65536, 100000]
    sizes = []
    for n in lengths:
        res, size = attempt(bucket_for, n)
        sizes.append({"length": n, **({"padded_size": size} if size is not None else {}), **res})
        if size is None:
            assert res["error"] == "LocalProtocolError"
    example = rng(10)
    padded = pad(example)
    bad_unpad = [
        ("not a bucket size (300 bytes)", padded + bytes(44)),
        ("below the smallest bucket", padded[:128]),
        ("no 0x80 marker (all zeros)", bytes(256)),
        ("marker replaced by 0x01", example + b"\x01" + bytes(245)),
        ("above the largest bucket (131,072 bytes)", example + b"\x80" + bytes(131072 - 11)),
        ("a power of two below the smallest bucket (128 bytes, well formed)", example + b"\x80" + bytes(117)),
        ("empty", b""),
    ]
    # Receivers accept any bucket from 256 to 65,536 that holds the plaintext, not only the smallest one a
    # sender uses; the plaintext is whatever precedes the last 0x80 (it may end in zero bytes).
    good_unpad = [
        ("a larger bucket than needed (512 for 10 bytes)", example, example + b"\x80" + bytes(512 - 11)),
        ("the largest bucket for an empty plaintext", b"", b"\x80" + bytes(65535)),
        ("a plaintext ending in zero bytes and 0x80", b"ab\x80\x00\x00", pad(b"ab\x80\x00\x00")),
        ("a full bucket: 255 bytes then the marker", bytes(range(255)), pad(bytes(range(255)))),
    ]
    for _w, plain, padded_bytes in good_unpad:
        assert unpad(padded_bytes) == plain
    return vector(
        "padding",
        "Plaintext padding: append 0x80 then zeros up to the smallest power-of-two bucket >= length + 1, from "
        "256 to 65536 bytes. 'sizes' maps plaintext lengths to padded sizes; lengths above 65535 must be "
        "refused with LocalProtocolError. 'example' pads to 'padded' and back. Unpadding accepts a length that is "
        "a power of two from 256 to 65536 whose content is plaintext || 0x80 || zeros (the last 0x80): each "
        "'good_unpad' gives its plaintext, including a larger bucket than needed. Each 'bad_unpad' must fail "
        "with DecryptionError. A padded input is given as 'padded' (hex) or, when long, as 'padded_prefix' "
        "followed by 'zero_bytes' zero bytes.",
        seed,
        {
            "lengths": lengths,
            "example": h(example),
            "bad_unpad": [{"why": w, **_listed(p)} for w, p in bad_unpad],
            "good_unpad": [{"why": w, **_listed(p)} for w, _plain, p in good_unpad],
        },
        {
            "result": "ok",
            "sizes": sizes,
            "padded": h(padded),
            "bad_unpad": [{"why": w, **expect_error(DecryptionError, unpad, p)} for w, p in bad_unpad],
            "good_unpad": [{"why": w, "result": "ok", "plaintext": h(plain)} for w, plain, _p in good_unpad],
        },
    )


_LISTED = 1024
"""Inputs up to this length are listed whole; longer ones (all zeros at the end) as a prefix and a count."""


def _listed(padded: bytes) -> Json:
    if len(padded) <= _LISTED:
        return {"padded": h(padded)}
    prefix = padded.rstrip(b"\x00")
    return {"padded_prefix": h(prefix), "zero_bytes": len(padded) - len(prefix)}
