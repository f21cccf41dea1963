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
FRANKED_THREAD_BUCKET = 1024
"""Smallest padded size of every content in a thread whose texts are franked (SPEC 4, 13.6): a franked short
text (515 bytes of franking around it) needs 1,024 bytes, so receipts, timer changes and the other control
contents of that thread are padded to 1,024 too, and the relay cannot tell a franked text from a receipt by its
size. A receiver accepts any bucket (SPEC 4), so this is the sender's choice alone."""


def bucket_for(length: int, min_bucket: int = MIN_BUCKET) -> int:
    """The padded size for a plaintext of ``length`` bytes: the smallest power of two from ``min_bucket`` up that
    holds ``length + 1``.

    Raises:
        LocalProtocolError: the plaintext is longer than :data:`MAX_PLAINTEXT`.
        ValueError: ``min_bucket`` is not a power of two from :data:`MIN_BUCKET` to :data:`MAX_PADDED`.
    """
    if not MIN_BUCKET <= min_bucket <= MAX_PADDED or min_bucket & (min_bucket - 1):
        raise ValueError("a minimum bucket is a power of two from MIN_BUCKET to MAX_PADDED")
    needed = length + 1
    if needed > MAX_PADDED:
        raise LocalProtocolError(f"message too long: at most {MAX_PLAINTEXT} bytes; send a file instead")
    size = min_bucket
    while size < needed:
        size <<= 1
    return size


def pad(plaintext: bytes, min_bucket: int = MIN_BUCKET) -> bytes:
    """Pad ``plaintext`` to its bucket, at least ``min_bucket`` bytes.

    Raises:
        LocalProtocolError: it is too long.
        ValueError: ``min_bucket`` is not a valid bucket.
    """
    size = bucket_for(len(plaintext), min_bucket)
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
