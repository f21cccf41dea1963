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
    ]
    return vector(
        "padding",
        "Plaintext padding: append 0x80 then zeros up to the smallest power-of-two bucket >= length + 1, from "
        "256 to 65536 bytes. 'sizes' maps plaintext lengths to padded sizes; lengths above 65535 must be "
        "refused with LocalProtocolError. 'example' pads to 'padded' and back. Each 'bad_unpad' must fail with "
        "DecryptionError.",
        seed,
        {"lengths": lengths, "example": h(example), "bad_unpad": [{"why": w, "padded": h(p)} for w, p in bad_unpad]},
        {
            "result": "ok",
            "sizes": sizes,
            "padded": h(padded),
            "bad_unpad": [{"why": w, **expect_error(DecryptionError, unpad, p)} for w, p in bad_unpad],
        },
    )
