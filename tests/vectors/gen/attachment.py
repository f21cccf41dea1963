"""Section 9, streamed attachments: ``attachment.json``.

Two blobs (one chunk, three chunks) made by the product's encryptor, every intermediate value an implementer
needs to find a mistake (chunk key, associated data, each chunk's nonce and tag), Padmé at its boundaries,
and the ways a blob can be truncated, reordered or tampered with, each of which must fail to open."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.protocol import attachment as at
from confide.protocol.errors import DecryptionError

from .common import Json, expect_error, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng

SMALL_SIZE = 1000
"""Fits the 64 KiB floor bucket: one (final) chunk, mostly padding."""
MULTI_SIZE = 2 * at.CHUNK_SIZE + 1000
"""Padmé rounds it to 33 * 4096 = 135,168 bytes: two full chunks and a short final one (4,096 bytes)."""
PADME_SIZES = [
    0,
    1,
    at.CHUNK_SIZE - 1,
    at.CHUNK_SIZE,
    at.CHUNK_SIZE + 1,
    at.CHUNK_SIZE + 2048,
    at.CHUNK_SIZE + 2049,
    2 * at.CHUNK_SIZE - 1,
    2 * at.CHUNK_SIZE,
    2 * at.CHUNK_SIZE + 1,
    MULTI_SIZE,
    2**20 + 1,
    2**31 - 1,
    2**31,
    2**31 + 1,
    at.MAX_ATTACHMENT_SIZE - 1,
    at.MAX_ATTACHMENT_SIZE,
]
"""Below, at and above the floor, bucket edges (E = 16: multiples of 2048), the E = 31 / 32 change of S."""
SEALED_HEAD = 32
"""How many leading bytes of each sealed chunk are listed (enough to check the keystream by eye)."""
_LABEL = b"Confide-attachment-v1"


def pattern(size: int) -> bytes:
    """The vectors' plaintext: byte ``i`` is ``i mod 251`` (no DRBG, so nothing of this size is listed)."""
    block = bytes(range(251))
    return (block * (size // 251 + 1))[:size]


def chunk_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(key)


def nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def encrypt(key: bytes, size: int) -> bytes:
    enc = at.AttachmentEncryptor(key, size)
    data = pattern(size)
    blob = enc.header() + enc.update(data[:70000]) + enc.update(data[70000:]) + enc.finalize()
    assert hashlib.sha256(blob).digest() == enc.digest
    assert len(blob) == enc.blob_size
    return blob


def chunk_spans(size: int) -> list[tuple[int, int]]:
    """(offset, length) of each sealed chunk in the blob."""
    padded = at.padded_size(size)
    spans, offset, left = [], at.HEADER_LEN, padded
    while left > 0:
        n = min(at.CHUNK_SIZE, left)
        spans.append((offset, n + at.TAG_LEN))
        offset += n + at.TAG_LEN
        left -= n
    return spans


def describe(key: bytes, size: int, blob: bytes) -> Json:
    spans = chunk_spans(size)
    return {
        "chunk_key": h(chunk_key(key)),
        "header": h(blob[: at.HEADER_LEN]),
        "associated_data": h(blob[: at.HEADER_LEN] + size.to_bytes(8, "big")),
        "padded_size": at.padded_size(size),
        "blob_size": len(blob),
        "chunks": [
            {
                "offset": off,
                "sealed_len": n,
                "nonce": h(nonce(i, i == len(spans) - 1)),
                "sealed_head": h(blob[off : off + SEALED_HEAD]),
                "tag": h(blob[off + n - at.TAG_LEN : off + n]),
                "sealed_sha256": h(hashlib.sha256(blob[off : off + n]).digest()),
            }
            for i, (off, n) in enumerate(spans)
        ],
        "digest": h(hashlib.sha256(blob).digest()),
    }


def apply(blob: bytes, key: bytes, size: int, edits: list[Json]) -> bytes:
    """Apply the listed edits in order (the same operations the verifier implements from the description)."""
    out = bytearray(blob)
    for e in edits:
        if e["op"] == "truncate":
            del out[e["length"] :]
        elif e["op"] == "append":
            out += bytes.fromhex(e["data"])
        elif e["op"] == "flip":
            out[e["offset"]] ^= 0x01
        elif e["op"] == "swap":
            a, b, n = e["a"], e["b"], e["length"]
            out[a : a + n], out[b : b + n] = out[b : b + n], out[a : a + n]
        elif e["op"] == "copy":
            src, n = e["source"], e["length"]
            out[e["target"] : e["target"] + n] = out[src : src + n]
        else:
            assert e["op"] == "reseal"
            off, n = chunk_spans(size)[e["chunk"]]
            aead = ChaCha20Poly1305(chunk_key(key))
            ad = bytes(out[: at.HEADER_LEN]) + size.to_bytes(8, "big")
            last = len(chunk_spans(size)) - 1
            plain = bytearray(aead.decrypt(nonce(e["chunk"], e["chunk"] == last), bytes(out[off : off + n]), ad))
            if e["set_plaintext"] is not None:
                plain[e["set_plaintext"]["offset"]] = e["set_plaintext"]["value"]
            out[off : off + n] = aead.encrypt(nonce(e["chunk"], e["final"]), bytes(plain), ad)
    return bytes(out)


def open_blob(key: bytes, size: int, digest: bytes, blob: bytes) -> bytes:
    dec = at.AttachmentDecryptor(key, size, digest)
    return dec.update(blob) + dec.finalize()


def attachment() -> Json:
    seed = seed_of("attachment")
    rng = RecordingRng(SeededRng(seed))
    key_small, key_multi = at.new_attachment_key(rng), at.new_attachment_key(rng)
    draws = rng.take()
    small, multi = encrypt(key_small, SMALL_SIZE), encrypt(key_multi, MULTI_SIZE)
    assert open_blob(key_small, SMALL_SIZE, hashlib.sha256(small).digest(), small) == pattern(SMALL_SIZE)
    assert open_blob(key_multi, MULTI_SIZE, hashlib.sha256(multi).digest(), multi) == pattern(MULTI_SIZE)
    blobs = {"small": (key_small, SMALL_SIZE, small), "multi": (key_multi, MULTI_SIZE, multi)}
    (c0, n0), (c1, n1), (c2, _n2) = chunk_spans(MULTI_SIZE)
    last_pad = MULTI_SIZE - 2 * at.CHUNK_SIZE  # first padding byte of the multi blob's final chunk
    cases: list[tuple[str, str, list[Json], str, int]] = [
        (
            "truncated at a chunk boundary (final chunk dropped)",
            "multi",
            [{"op": "truncate", "length": c2}],
            "recompute",
            0,
        ),
        ("truncated by one byte", "multi", [{"op": "truncate", "length": len(multi) - 1}], "recompute", 0),
        ("header only", "small", [{"op": "truncate", "length": at.HEADER_LEN}], "recompute", 0),
        ("one byte appended", "multi", [{"op": "append", "data": "00"}], "recompute", 0),
        ("chunks 0 and 1 swapped", "multi", [{"op": "swap", "a": c0, "b": c1, "length": n0}], "recompute", 0),
        (
            "chunk 1 replaced by a copy of chunk 0",
            "multi",
            [{"op": "copy", "source": c0, "target": c1, "length": n0}],
            "recompute",
            0,
        ),
        ("a ciphertext byte of chunk 1 flipped", "multi", [{"op": "flip", "offset": c1 + 100}], "recompute", 0),
        ("a tag byte of the final chunk flipped", "multi", [{"op": "flip", "offset": len(multi) - 1}], "recompute", 0),
        ("header version 1 -> 0", "small", [{"op": "flip", "offset": 0}], "recompute", 0),
        ("header chunk size changed", "small", [{"op": "flip", "offset": 4}], "recompute", 0),
        ("blob intact, digest flipped", "multi", [], "flip", 0),
        ("blob intact, pointer size one less (same bucket)", "multi", [], "recompute", -1),
        ("blob intact, pointer size one more (same bucket)", "small", [], "recompute", 1),
        (
            "final chunk re-sealed without the final flag",
            "multi",
            [{"op": "reseal", "chunk": 2, "final": False, "set_plaintext": None}],
            "recompute",
            0,
        ),
        (
            "chunk 0 re-sealed with the final flag",
            "multi",
            [{"op": "reseal", "chunk": 0, "final": True, "set_plaintext": None}],
            "recompute",
            0,
        ),
        (
            "a padding byte set to 0x01 and re-sealed (final chunk)",
            "multi",
            [{"op": "reseal", "chunk": 2, "final": True, "set_plaintext": {"offset": last_pad, "value": 1}}],
            "recompute",
            0,
        ),
        (
            "the last padding byte set to 0x80 and re-sealed (one-chunk blob)",
            "small",
            [
                {
                    "op": "reseal",
                    "chunk": 0,
                    "final": True,
                    "set_plaintext": {"offset": at.CHUNK_SIZE - 1, "value": 0x80},
                }
            ],
            "recompute",
            0,
        ),
    ]
    assert n1 == n0
    rows, results = [], []
    for why, which, edits, digest_rule, size_delta in cases:
        key, size, blob = blobs[which]
        bad = apply(blob, key, size, edits)
        digest = hashlib.sha256(bad).digest()
        if digest_rule == "flip":
            digest = flip(digest, 0)
        rows.append({"why": why, "blob": which, "edits": edits, "size": size + size_delta, "digest": h(digest)})
        results.append({"why": why, **expect_error(DecryptionError, open_blob, key, size + size_delta, digest, bad)})
    sizes = [
        {
            "size": n,
            "padded_size": at.padded_size(n),
            "chunks": -(-at.padded_size(n) // at.CHUNK_SIZE),
            "blob_size": at.expected_blob_size(n),
        }
        for n in PADME_SIZES
    ]
    return vector(
        "attachment",
        "Streamed attachments (SPEC section 9). Each blob encrypts pattern(size), where byte i of the plaintext "
        "is i mod 251, under its key (two rng draws, small then multi): chunk_key = HKDF-SHA256(ikm=key, "
        "salt=none, info='Confide-attachment-v1', L=32); ad = header || size u64; chunk i is sealed with nonce "
        "i as 11 bytes || final flag. An implementation must reproduce every listed value (the sealed chunks "
        "through their SHA-256, first 32 bytes and tag, the whole blob through 'digest') and open the blob "
        "back to pattern(size). 'padme' maps sizes to padded_size, chunk count and blob_size. Each case starts "
        "from the named blob, applies 'edits' in order (truncate to length; append hex data; flip = XOR 0x01 "
        "at offset; swap two byte ranges of equal length; copy = "
        "overwrite 'length' bytes at 'target' with those at 'source'; reseal = open chunk i under its true nonce, "
        "optionally set one plaintext byte, seal again with the given final flag), then opens it with the "
        "blob's key, the case's pointer 'size' and 'digest' (the SHA-256 of the edited blob unless the case "
        "says otherwise, so the failure must come from the length, chunk or padding checks): DecryptionError.",
        seed,
        {
            "draw_order": ["new_attachment_key: rng(32) -> small.key", "new_attachment_key: rng(32) -> multi.key"],
            "rng_outputs": draws,
            "small": {"key": h(key_small), "size": SMALL_SIZE},
            "multi": {"key": h(key_multi), "size": MULTI_SIZE},
            "padme_sizes": PADME_SIZES,
            "cases": rows,
        },
        {
            "result": "ok",
            "small": describe(key_small, SMALL_SIZE, small),
            "multi": describe(key_multi, MULTI_SIZE, multi),
            "padme": sizes,
            "cases": results,
        },
    )
