"""Streaming attachment encryption: round trips, every tamper, the byte layout, padding, flat memory."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.protocol.attachment import (
    CHUNK_SIZE,
    HEADER_LEN,
    MAX_ATTACHMENT_SIZE,
    MIN_PADDED_SIZE,
    TAG_LEN,
    AttachmentDecryptor,
    AttachmentEncryptor,
    expected_blob_size,
    new_attachment_key,
    padded_size,
)
from confide.protocol.errors import DecryptionError, LocalProtocolError

KEY = bytes(range(32))
SEALED = CHUNK_SIZE + TAG_LEN
MiB = 1024 * 1024


def plaintext(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def encrypt(key: bytes, data: bytes, pieces: list[int] | None = None) -> tuple[bytes, bytes]:
    enc = AttachmentEncryptor(key, len(data))
    out = [enc.header()]
    pos = 0
    for cut in sorted(pieces or []):
        out.append(enc.update(data[pos:cut]))
        pos = cut
    out.append(enc.update(data[pos:]))
    out.append(enc.finalize())
    blob = b"".join(out)
    assert len(blob) == enc.blob_size == expected_blob_size(len(data))
    assert enc.digest == hashlib.sha256(blob).digest()
    return blob, enc.digest


def decrypt(key: bytes, size: int, digest: bytes, blob: bytes, pieces: list[int] | None = None) -> bytes:
    dec = AttachmentDecryptor(key, size, digest)
    out = []
    pos = 0
    for cut in sorted(pieces or []):
        out.append(dec.update(blob[pos:cut]))
        pos = cut
    out.append(dec.update(blob[pos:]))
    out.append(dec.finalize())
    return b"".join(out)


SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17, 5 * CHUNK_SIZE, 2 * MiB + 3]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip(size: int) -> None:
    data = plaintext(size)
    blob, digest = encrypt(KEY, data)
    assert decrypt(KEY, size, digest, blob) == data


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_byte_by_byte_at_boundaries(size: int) -> None:
    """Cuts just around every header and chunk boundary, in both directions."""
    data = plaintext(size, seed=2)
    cuts = {c for i in range(size // CHUNK_SIZE + 1) for c in (i * CHUNK_SIZE - 1, i * CHUNK_SIZE + 1)}
    blob, digest = encrypt(KEY, data, [c for c in cuts if 0 < c < size])
    blob_cuts = {c for i in range(len(blob) // SEALED + 1) for c in (HEADER_LEN + i * SEALED + d for d in (-1, 0, 1))}
    assert decrypt(KEY, size, digest, blob, [c for c in blob_cuts | {1, 2} if 0 < c < len(blob)]) == data


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 4 * CHUNK_SIZE + 100),
    st.lists(st.floats(0, 1), max_size=8),
    st.lists(st.floats(0, 1), max_size=8),
)
def test_round_trip_any_split(size: int, enc_cuts: list[float], dec_cuts: list[float]) -> None:
    data = plaintext(size, seed=size)
    blob, digest = encrypt(KEY, data, [int(f * size) for f in enc_cuts])
    assert decrypt(KEY, size, digest, blob, [int(f * len(blob)) for f in dec_cuts]) == data


def spec_blob(key: bytes, size: int, padded: bytes) -> bytes:
    """The blob layout of protocol/SPEC.md, rebuilt independently from the library primitives."""
    header = b"\x01" + CHUNK_SIZE.to_bytes(4, "big")
    chunk_key = HKDF(hashes.SHA256(), 32, None, b"Confide-attachment-v1").derive(key)
    aead = ChaCha20Poly1305(chunk_key)
    ad = header + size.to_bytes(8, "big")
    chunks = [padded[i : i + CHUNK_SIZE] for i in range(0, len(padded), CHUNK_SIZE)]
    return header + b"".join(
        aead.encrypt(i.to_bytes(11, "big") + bytes([i == len(chunks) - 1]), c, ad) for i, c in enumerate(chunks)
    )


@pytest.mark.parametrize(
    ("size", "padded", "chunks"),
    [
        (0, CHUNK_SIZE, 1),
        (CHUNK_SIZE + 10, CHUNK_SIZE + 2048, 2),  # Padmé: 5 significant bits at 2^16, steps of 2 KiB
        (4 * MiB + 1, 4 * MiB + 128 * 1024, 66),  # steps of 128 KiB: the last chunk is all padding
    ],
)
def test_known_layout(size: int, padded: int, chunks: int) -> None:
    data = plaintext(size, seed=3)
    blob, digest = encrypt(KEY, data)
    assert padded_size(size) == padded
    expected = spec_blob(KEY, size, data + bytes(padded - size))
    assert blob == expected
    assert digest == hashlib.sha256(expected).digest()
    assert len(expected) == HEADER_LEN + padded + chunks * TAG_LEN


def test_blob_does_not_reveal_exact_size() -> None:
    small = {len(encrypt(new_attachment_key(random.Random(n).randbytes), plaintext(n))[0]) for n in (0, 1, 999)}
    assert small == {expected_blob_size(CHUNK_SIZE)}
    assert expected_blob_size(100_000) == expected_blob_size(100_001)


def test_new_key_uses_rng() -> None:
    assert new_attachment_key(lambda n: b"\x05" * n) == b"\x05" * 32
    with pytest.raises(ValueError, match="wrong number of bytes"):
        new_attachment_key(lambda n: b"\x05" * 16)


# --- padding ------------------------------------------------------------------------------------------


def test_padded_size_examples() -> None:
    assert padded_size(0) == MIN_PADDED_SIZE
    assert padded_size(CHUNK_SIZE) == CHUNK_SIZE
    assert padded_size(CHUNK_SIZE + 1) == CHUNK_SIZE + 2048  # Padmé: E=16, keep 5 bits
    assert padded_size(100 * MiB + 1) == 102 * MiB  # E=26, 5 significant bits: steps of 2 MiB
    assert padded_size(MAX_ATTACHMENT_SIZE) == MAX_ATTACHMENT_SIZE
    with pytest.raises(ValueError, match="attachment size is 0 to"):
        padded_size(MAX_ATTACHMENT_SIZE + 1)
    with pytest.raises(ValueError, match="attachment size is 0 to"):
        padded_size(-1)


@given(st.integers(0, MAX_ATTACHMENT_SIZE))
def test_padded_size_properties(size: int) -> None:
    p = padded_size(size)
    assert p >= size
    assert p >= MIN_PADDED_SIZE
    assert padded_size(p) == p
    if size > MIN_PADDED_SIZE:
        assert p - size < size / 32
    assert padded_size(max(0, size - 1)) <= p


def test_padded_size_bucket_count_is_small() -> None:
    """Padmé's point: few distinct lengths, so the length says little about the file."""
    for octave in range(16, 32):
        low = 1 << octave
        buckets = {padded_size(n) for n in range(low, 2 * low, max(1, low // 4096))}
        assert len(buckets) <= 33


# --- tampering ----------------------------------------------------------------------------------------

SIZE = 3 * CHUNK_SIZE + 500  # padded to 4 chunks, the last partly padding
DATA = plaintext(SIZE, seed=9)
BLOB, DIGEST = encrypt(KEY, DATA)


def chunk_bounds(blob: bytes) -> list[tuple[int, int]]:
    return [(i, min(i + SEALED, len(blob))) for i in range(HEADER_LEN, len(blob), SEALED)]


def assert_rejected(blob: bytes, key: bytes = KEY, size: int = SIZE, digest: bytes = DIGEST) -> None:
    """Rejected whether fed at once or in small pieces; the error comes from update() or finalize()."""
    for pieces in (None, list(range(1000, len(blob), 1000))):
        with pytest.raises(DecryptionError):
            decrypt(key, size, digest, blob, pieces)


def test_untampered_blob_opens() -> None:
    assert decrypt(KEY, SIZE, DIGEST, BLOB) == DATA
    assert len(chunk_bounds(BLOB)) == 4


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(BLOB) - 1), st.integers(1, 255))
def test_flipping_any_byte_is_detected(pos: int, mask: int) -> None:
    tampered = bytearray(BLOB)
    tampered[pos] ^= mask
    assert_rejected(bytes(tampered))


def test_flipping_a_byte_with_matching_digest_is_still_detected() -> None:
    """Per-chunk tags hold even if an attacker also rewrites the digest (e.g. a forged pointer)."""
    for start, end in chunk_bounds(BLOB):
        for pos in (start, (start + end) // 2, end - 1):
            tampered = bytearray(BLOB)
            tampered[pos] ^= 1
            assert_rejected(bytes(tampered), digest=hashlib.sha256(tampered).digest())
    for pos in range(HEADER_LEN):
        tampered = bytearray(BLOB)
        tampered[pos] ^= 1
        assert_rejected(bytes(tampered), digest=hashlib.sha256(tampered).digest())


def test_truncation_at_every_boundary_is_detected() -> None:
    cuts = [0, 1, HEADER_LEN, *[end for _, end in chunk_bounds(BLOB)][:-1], len(BLOB) - 1]
    for cut in cuts:
        truncated = BLOB[:cut]
        assert_rejected(truncated)
        assert_rejected(truncated, digest=hashlib.sha256(truncated).digest())


def test_truncation_with_a_matching_size_is_detected() -> None:
    """Dropping the final chunk and claiming a size that ends at the cut still fails (final flag, size AD)."""
    bounds = chunk_bounds(BLOB)
    truncated = BLOB[: bounds[2][1]]  # header + 3 full chunks
    for size in (3 * CHUNK_SIZE, 3 * CHUNK_SIZE - 1):
        assert expected_blob_size(size) == len(truncated)  # a size whose blob ends exactly at the cut
        assert_rejected(truncated, size=size, digest=hashlib.sha256(truncated).digest())


def test_dropping_a_chunk_is_detected() -> None:
    bounds = chunk_bounds(BLOB)
    for start, end in bounds:
        dropped = BLOB[:start] + BLOB[end:]
        assert_rejected(dropped)
        assert_rejected(dropped, digest=hashlib.sha256(dropped).digest())


def test_swapping_or_duplicating_chunks_is_detected() -> None:
    (a0, a1), (b0, b1) = chunk_bounds(BLOB)[:2]
    swapped = BLOB[:a0] + BLOB[b0:b1] + BLOB[a0:a1] + BLOB[b1:]
    assert len(swapped) == len(BLOB)
    assert_rejected(swapped, digest=hashlib.sha256(swapped).digest())
    duplicated = BLOB[:b0] + BLOB[a0:a1] + BLOB[b1:]
    assert_rejected(duplicated, digest=hashlib.sha256(duplicated).digest())


def test_appending_bytes_is_detected() -> None:
    for extra in (b"\x00", b"x" * SEALED):
        assert_rejected(BLOB + extra)
        assert_rejected(BLOB + extra, digest=hashlib.sha256(BLOB + extra).digest())


def test_wrong_key_size_or_digest_is_detected() -> None:
    assert_rejected(BLOB, key=bytes(32))
    assert_rejected(BLOB, digest=bytes(32))
    for size in (SIZE - 1, SIZE + 1, SIZE + 100, 0, 4 * CHUNK_SIZE):
        assert_rejected(BLOB, size=size)


def test_wrong_size_with_the_same_blob_length_is_detected() -> None:
    """Size is bound as associated data, so a size in the same padding bucket still fails."""
    assert expected_blob_size(SIZE + 1) == len(BLOB)
    assert_rejected(BLOB, size=SIZE + 1)
    assert_rejected(BLOB, size=SIZE - 1)


@pytest.mark.parametrize("size", [0, 10, CHUNK_SIZE + 10, 4 * MiB + 1])
def test_nonzero_padding_is_detected(size: int) -> None:
    """A key holder that hides bytes in the padding (valid tags, valid digest) is still rejected."""
    padded = padded_size(size)
    honest = spec_blob(KEY, size, b"a" * size + bytes(padded - size))
    assert decrypt(KEY, size, hashlib.sha256(honest).digest(), honest) == b"a" * size
    for hidden_at in (size, (size + padded) // 2, padded - 1):  # 4 MiB + 1: in a non-final chunk too
        body = bytearray(b"a" * size + bytes(padded - size))
        body[hidden_at] = 1
        forged = spec_blob(KEY, size, bytes(body))
        assert_rejected(forged, size=size, digest=hashlib.sha256(forged).digest())


def test_wrong_header_is_rejected() -> None:
    for header in (b"\x02" + BLOB[1:HEADER_LEN], b"\x01" + (2 * CHUNK_SIZE).to_bytes(4, "big")):
        tampered = header + BLOB[HEADER_LEN:]
        assert_rejected(tampered, digest=hashlib.sha256(tampered).digest())


def test_decryptor_stays_failed_after_an_error() -> None:
    dec = AttachmentDecryptor(KEY, SIZE, DIGEST)
    tampered = bytearray(BLOB)
    tampered[HEADER_LEN + 3] ^= 1
    with pytest.raises(DecryptionError):
        dec.update(bytes(tampered))
    with pytest.raises(DecryptionError):
        dec.update(b"")
    with pytest.raises(DecryptionError):
        dec.finalize()


def test_error_messages_are_opaque_and_helpful() -> None:
    with pytest.raises(DecryptionError) as info:
        decrypt(bytes(32), SIZE, DIGEST, BLOB)
    message = str(info.value)
    assert "again" in message
    assert KEY.hex() not in message
    assert DIGEST.hex() not in message


# --- misuse by the caller -----------------------------------------------------------------------------


def test_encryptor_rejects_wrong_length() -> None:
    enc = AttachmentEncryptor(KEY, 10)
    with pytest.raises(LocalProtocolError):
        enc.update(b"x" * 11)
    enc.update(b"x" * 9)
    with pytest.raises(LocalProtocolError):
        enc.finalize()
    with pytest.raises(LocalProtocolError):
        _ = enc.digest
    enc.update(b"x")
    enc.finalize()
    assert len(enc.digest) == 32
    with pytest.raises(LocalProtocolError):
        enc.update(b"")
    with pytest.raises(LocalProtocolError):
        enc.finalize()


def test_decryptor_cannot_be_reused() -> None:
    dec = AttachmentDecryptor(KEY, SIZE, DIGEST)
    dec.update(BLOB)
    assert dec.finalize()
    with pytest.raises(LocalProtocolError):
        dec.update(b"")
    with pytest.raises(LocalProtocolError):
        dec.finalize()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AttachmentEncryptor(b"short", 1), "key is 32 bytes"),
        (lambda: AttachmentEncryptor(KEY, -1), "size is 0 to"),
        (lambda: AttachmentEncryptor(KEY, MAX_ATTACHMENT_SIZE + 1), "size is 0 to"),
        (lambda: AttachmentDecryptor(KEY, 1, b"short"), "digest is 32 bytes"),
        (lambda: AttachmentDecryptor(b"k" * 31, 1, DIGEST), "key is 32 bytes"),
        (lambda: AttachmentDecryptor(KEY, -5, DIGEST), "size is 0 to"),
    ],
)
def test_constructors_reject_bad_arguments(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_reprs_show_no_key_material() -> None:
    enc = AttachmentEncryptor(KEY, 10)
    dec = AttachmentDecryptor(KEY, 10, DIGEST)
    for r in (repr(enc), repr(dec)):
        assert KEY.hex() not in r
        assert DIGEST.hex() not in r
        assert "size=10" in r


# --- memory stays flat --------------------------------------------------------------------------------


def stream_blob(enc: AttachmentEncryptor, size: int, piece: bytes) -> Iterator[bytes]:
    """Encrypt ``size`` bytes fed in 1 MiB pieces, checking the encryptor's memory at every step."""
    fed = 0
    while fed < size:
        n = min(MiB, size - fed)
        sealed = enc.update(piece[:n])
        fed += n
        assert enc.buffered <= CHUNK_SIZE
        assert len(sealed) <= n + CHUNK_SIZE + TAG_LEN * (n // CHUNK_SIZE + 1)
        yield sealed
    for sealed in enc.finalize_chunks():
        assert len(sealed) <= SEALED
        assert enc.buffered <= CHUNK_SIZE
        yield sealed


def test_memory_is_flat_for_a_large_attachment() -> None:
    """50 MiB in 1 MiB pieces: nothing held or returned grows with the attachment's size."""
    size = 50 * MiB + 12345
    piece = plaintext(MiB, seed=7)
    # Pass 1: encrypt, keeping only the digest. Encryption is deterministic for a key, so pass 2 repeats it.
    enc = AttachmentEncryptor(KEY, size)
    hasher = hashlib.sha256(enc.header())
    for sealed in stream_blob(enc, size, piece):
        hasher.update(sealed)
    assert enc.digest == hasher.digest()
    assert enc.blob_size == expected_blob_size(size)
    # Pass 2: decrypt as it streams, checking the decryptor's memory at every step.
    enc2 = AttachmentEncryptor(KEY, size)
    dec = AttachmentDecryptor(KEY, size, enc.digest)
    assert dec.update(enc2.header()) == b""
    recovered = 0
    for sealed in stream_blob(enc2, size, piece):
        opened = dec.update(sealed)
        assert dec.buffered <= SEALED
        assert len(opened) <= len(sealed)
        start = recovered % MiB
        assert opened == (piece * 2)[start : start + len(opened)]
        recovered += len(opened)
    tail = dec.finalize()
    start = recovered % MiB
    assert tail == (piece * 2)[start : start + len(tail)]
    assert recovered + len(tail) == size
