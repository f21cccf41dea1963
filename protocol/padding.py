"""Padding of message plaintext to size buckets, so ciphertext length leaks only the bucket.

Scheme: ISO/IEC 7816-4 (append ``0x80`` then zero bytes) up to the smallest bucket that holds
``len(plaintext) + 1``. Buckets are powers of two from :data:`MIN_BUCKET` to :data:`MAX_PADDED`.
A short message and a long paragraph look alike; only very long texts move up a bucket.
"""

from __future__ import annotations

from .errors import DecryptionError, LocalProtocolError

MIN_BUCKET = 256
"""Smallest padded size: every short message (greetings, receipts, timer changes) looks the same."""
MAX_PADDED = 64 * 1024
"""Largest padded plaintext: long letters fit; files travel as attachments, not inline."""
MAX_PLAINTEXT = MAX_PADDED - 1
"""Largest plaintext that can be padded (one byte goes to the 0x80 marker)."""


def bucket_for(length: int) -> int:
    """The padded size for a plaintext of ``length`` bytes. Raises :class:`LocalProtocolError` if too long."""
    needed = length + 1
    if needed > MAX_PADDED:
        raise LocalProtocolError(f"message too long: at most {MAX_PLAINTEXT} bytes; send a file instead")
    size = MIN_BUCKET
    while size < needed:
        size <<= 1
    return size


def pad(plaintext: bytes) -> bytes:
    """Pad ``plaintext`` to its bucket. Raises :class:`LocalProtocolError` if it is too long."""
    size = bucket_for(len(plaintext))
    return plaintext + b"\x80" + bytes(size - len(plaintext) - 1)


def unpad(padded: bytes) -> bytes:
    """Remove padding. Raises :class:`DecryptionError` if the padding or the bucket size is wrong."""
    n = len(padded)
    if n < MIN_BUCKET or n > MAX_PADDED or n & (n - 1):
        raise DecryptionError("message could not be decrypted")
    stripped = padded.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise DecryptionError("message could not be decrypted")
    return stripped[:-1]
