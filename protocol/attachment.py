"""Streaming, chunked encryption of attachments (sans-I/O: the caller feeds bytes and writes what comes out).

Each attachment has its own fresh 32-byte key (:func:`new_attachment_key`), sent to the recipient inside the
end-to-end encrypted :class:`~confide.protocol.content.AttachmentPointer` together with the plaintext
``size`` and the SHA-256 ``digest`` of the ciphertext blob. The relay stores only the blob.

Blob layout, version 1 (full text in ``protocol/SPEC.md``)::

    header    = version u8 (=1) || chunk_size u32 (=65536)
    blob      = header || sealed_0 || sealed_1 || ... || sealed_{n-1}
    sealed_i  = ChaCha20-Poly1305(chunk_key, nonce_i, plaintext_i, ad)       # len(plaintext_i) + 16
    chunk_key = HKDF-SHA256(ikm=key, salt=none, info="Confide-attachment-v1", length=32)
    nonce_i   = i as 11-byte big-endian || final_flag u8                      # 1 on the last chunk only
    ad        = header || size u64

The plaintext is padded with zero bytes up to :func:`padded_size` and cut into ``CHUNK_SIZE`` pieces (the
last may be shorter, never empty). This is the STREAM construction of Hoang, Reyhanitabar, Rogaway and
Vizár (2015): the counter in the nonce detects reordering and dropped chunks, the final flag detects
truncation at a chunk boundary, and binding the true ``size`` as associated data means a wrong size (even
one that rounds to the same padded length) fails to open. ``size`` never appears in the blob: the relay
sees only the padded length.

Length hiding: the padded length is Padmé (Nikitin et al., PURBs, 2019) with a floor of one chunk. What
leaks to the relay is the bucket: all files up to 64 KiB look the same; above that the bucket reveals only
the top 5 significant bits of the size (32 buckets per doubling up to 4 GiB; Padmé leaks O(log log L)
bits), for at most 1/32 (3.1 %) of padding.

Keys are single-use: sealing two different plaintexts under one key repeats nonces and destroys
confidentiality. Always take a fresh key from :func:`new_attachment_key` for every upload.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.keys.encoding import RNG

from .errors import DecryptionError, LocalProtocolError

ATTACHMENT_VERSION = 1
ATTACHMENT_KEY_LEN = 32
"""256-bit attachment keys, the ChaCha20-Poly1305 key size."""
DIGEST_LEN = 32
"""SHA-256 of the whole ciphertext blob."""

CHUNK_SIZE = 64 * 1024
"""Plaintext bytes per sealed chunk. 64 KiB keeps the per-chunk tag overhead at 0.02 % and bounds the memory
of both ends to about two chunks, while a corrupt byte is caught after at most 64 KiB of work."""
TAG_LEN = 16
"""Poly1305 tag appended to every chunk."""
HEADER_LEN = 1 + 4
"""``version u8 || chunk_size u32``."""

MIN_PADDED_SIZE = CHUNK_SIZE
"""Floor of the padding buckets: every attachment up to one chunk (a short voice note, a small worksheet)
produces a blob of the same length, so the relay cannot tell them apart. Costs at most 64 KiB per file."""

MAX_ATTACHMENT_SIZE = 4 * 1024**3
"""Largest plaintext this build encrypts or accepts in a pointer (4 GiB). Far above the relay's default
100 MiB blob cap, so operators can raise that cap, yet a hostile pointer cannot announce an absurd size."""

_NONCE_COUNTER_LEN = 11
_KDF_LABEL = b"Confide-attachment-v1"
_HEADER = struct.pack(">BI", ATTACHMENT_VERSION, CHUNK_SIZE)
_SIZE = struct.Struct(">Q")
_log = logging.getLogger(__name__)
_Buffer = bytes | bytearray | memoryview
_OPAQUE = (
    "the attachment cannot be opened: it is damaged, incomplete or not the file the sender described; "
    "download it again, or ask the sender to send it again"
)


def new_attachment_key(rng: RNG) -> bytes:
    """A fresh 32-byte attachment key from ``rng``. Use one per attachment, never twice.

    Raises:
        ValueError: ``rng`` returned the wrong number of bytes.
    """
    key = rng(ATTACHMENT_KEY_LEN)
    if len(key) != ATTACHMENT_KEY_LEN:
        raise ValueError("the random source returned the wrong number of bytes")
    return key


def padded_size(size: int) -> int:
    """The length ``size`` plaintext bytes are padded to before encryption (the bucket the relay sees).

    ``max(MIN_PADDED_SIZE, padme(size))``: with ``E = floor(log2 size)`` and ``S = floor(log2 E) + 1``,
    round ``size`` up to a multiple of ``2 ** (E - S)``. Monotone, idempotent
    (``padded_size(padded_size(n)) == padded_size(n)``), and above the floor adds under ``size / 32``.

    Raises:
        ValueError: ``size`` is negative or above :data:`MAX_ATTACHMENT_SIZE`.
    """
    _check_size(size)
    if size <= MIN_PADDED_SIZE:
        return MIN_PADDED_SIZE
    return _padme(size)


def _padme(length: int) -> int:
    """Padmé: keep the top ``floor(log2 E) + 1`` bits of the length (``E = floor(log2 L)``), round the rest up."""
    exponent = length.bit_length() - 1
    significant = exponent.bit_length()
    low_bits = exponent - significant
    mask = (1 << low_bits) - 1
    return (length + mask) & ~mask


def _chunk_count(padded: int) -> int:
    return -(-padded // CHUNK_SIZE)


def expected_blob_size(size: int) -> int:
    """Exact length of the blob that encrypts ``size`` plaintext bytes (header, padded chunks, tags).

    Raises:
        ValueError: ``size`` is negative or above :data:`MAX_ATTACHMENT_SIZE`.
    """
    padded = padded_size(size)
    return HEADER_LEN + padded + TAG_LEN * _chunk_count(padded)


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError("an attachment size is an int")
    if not 0 <= size <= MAX_ATTACHMENT_SIZE:
        raise ValueError(f"an attachment size is 0 to {MAX_ATTACHMENT_SIZE} bytes")


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != ATTACHMENT_KEY_LEN:
        raise ValueError("an attachment key is 32 bytes")


def _chunk_aead(key: bytes) -> ChaCha20Poly1305:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_LABEL)
    return ChaCha20Poly1305(hkdf.derive(key))


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(_NONCE_COUNTER_LEN, "big") + (b"\x01" if final else b"\x00")


def _associated_data(size: int) -> bytes:
    return _HEADER + _SIZE.pack(size)


class AttachmentEncryptor:
    """Encrypts one attachment as a stream. The blob is ``header() + update(...)... + finalize()``.

    Holds at most one chunk of plaintext (:attr:`buffered`) whatever the attachment size; ``update`` returns
    every whole chunk it can seal. The exact ``size`` is promised up front (it is bound into every chunk and
    travels in the pointer).
    """

    __slots__ = (
        "_ad",
        "_aead",
        "_buf",
        "_chunks",
        "_closing",
        "_digest",
        "_fed",
        "_hash",
        "_index",
        "_padded",
        "_size",
    )

    def __init__(self, key: bytes, size: int) -> None:
        """Start encrypting ``size`` bytes under ``key`` (fresh from :func:`new_attachment_key`).

        Raises:
            ValueError: the key is not 32 bytes, or ``size`` is out of range.
        """
        _check_key(key)
        _check_size(size)
        self._aead = _chunk_aead(key)
        self._size = size
        self._ad = _associated_data(size)
        self._padded = padded_size(size)
        self._chunks = _chunk_count(self._padded)
        self._buf = bytearray()
        self._fed = 0
        self._index = 0
        self._hash = hashlib.sha256(_HEADER)
        self._digest: bytes | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"AttachmentEncryptor(size={self._size}, fed={self._fed})"

    def header(self) -> bytes:
        """The first bytes of the blob (always the same; write them before anything ``update`` returns)."""
        return _HEADER

    @property
    def blob_size(self) -> int:
        """Total length of the blob, known before any data is fed (see :func:`expected_blob_size`)."""
        return HEADER_LEN + self._padded + TAG_LEN * self._chunks

    @property
    def buffered(self) -> int:
        """Plaintext bytes held back until a chunk is complete (never more than ``CHUNK_SIZE``)."""
        return len(self._buf)

    @property
    def digest(self) -> bytes:
        """SHA-256 of the whole blob (header included): the pointer's ``digest``.

        Raises:
            LocalProtocolError: :meth:`finalize` has not completed yet.
        """
        if self._digest is None:
            raise LocalProtocolError("the digest is known only after finalize(): finish the stream first")
        return self._digest

    def _seal(self, plaintext: _Buffer) -> bytes:
        final = self._index == self._chunks - 1
        sealed = self._aead.encrypt(_nonce(self._index, final), bytes(plaintext), self._ad)
        self._index += 1
        self._hash.update(sealed)
        return sealed

    def update(self, data: bytes) -> bytes:
        """Feed the next plaintext bytes; returns the sealed chunks now complete (possibly ``b""``).

        The last chunk is always held back until :meth:`finalize`.

        Raises:
            LocalProtocolError: more bytes than the promised ``size``, or the stream was finalized.
        """
        if self._closing:
            raise LocalProtocolError("this attachment is already finalized: start a new encryptor")
        if self._fed + len(data) > self._size:
            raise LocalProtocolError("more data than the size given to the encryptor: pass the exact size")
        self._fed += len(data)
        view = memoryview(data)
        out: list[bytes] = []
        # Top up a partial chunk first, then seal whole chunks straight from the input without copying it.
        if self._buf:
            take = min(CHUNK_SIZE - len(self._buf), len(view))
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) == CHUNK_SIZE and self._index < self._chunks - 1:
                out.append(self._seal(self._buf))
                self._buf = bytearray()
        while len(view) >= CHUNK_SIZE and not self._buf and self._index < self._chunks - 1:
            out.append(self._seal(view[:CHUNK_SIZE]))
            view = view[CHUNK_SIZE:]
        self._buf += view
        return b"".join(out)

    def finalize(self) -> bytes:
        """Pad and seal the remaining chunk(s) and return them all at once: the last data chunk plus the
        padding, which is up to 1/32 of the size (2 MiB for a 64 MiB file). For large files prefer
        :meth:`finalize_chunks`, which yields them one chunk at a time.

        Raises:
            LocalProtocolError: the bytes fed differ from the promised ``size``, or already finalized.
        """
        return b"".join(self.finalize_chunks())

    def finalize_chunks(self) -> Iterator[bytes]:
        """Like :meth:`finalize`, but yields one sealed chunk at a time (memory stays at about one chunk).

        The checks run at once, before the iterator is returned; :attr:`digest` is available once the
        iterator is exhausted.

        Raises:
            LocalProtocolError: the bytes fed differ from the promised ``size``, or already finalized.
        """
        if self._closing:
            raise LocalProtocolError("this attachment is already finalized: start a new encryptor")
        if self._fed != self._size:
            raise LocalProtocolError(
                f"the encryptor was promised {self._size} bytes but fed {self._fed}: pass the exact size"
            )
        self._closing = True
        return self._final_chunks()

    def _final_chunks(self) -> Iterator[bytes]:
        remaining = self._padded - self._index * CHUNK_SIZE
        while remaining > 0:
            n = min(CHUNK_SIZE, remaining)
            plaintext = bytes(self._buf[:n])
            del self._buf[:n]
            yield self._seal(plaintext + bytes(n - len(plaintext)))
            remaining -= n
        self._digest = self._hash.digest()


class AttachmentDecryptor:
    """Decrypts and verifies one blob as a stream, fed in any split.

    What is guaranteed when: every byte :meth:`update` returns comes from a chunk whose tag verified, so it
    is real data from a holder of the key, in the right position. But the whole-blob ``digest``, the blob
    length and the last chunk are checked only by :meth:`finalize`, which also returns the last chunk's
    plaintext. Until ``finalize`` succeeds, treat the output as incomplete: write it to a temporary file and
    rename it into place only afterwards (delete it on any error).

    Holds at most one sealed chunk (:attr:`buffered`) whatever the blob size. After a
    :class:`DecryptionError` the decryptor is spent: every later call raises it again.
    """

    __slots__ = (
        "_ad",
        "_aead",
        "_blob_size",
        "_buf",
        "_chunks",
        "_digest",
        "_done",
        "_failed",
        "_hash",
        "_header_ok",
        "_index",
        "_received",
        "_size",
    )

    def __init__(self, key: bytes, size: int, digest: bytes) -> None:
        """Prepare to open the blob that a pointer with this ``key``, ``size`` and ``digest`` describes.

        Raises:
            ValueError: the key or digest is not 32 bytes, or ``size`` is out of range.
        """
        _check_key(key)
        _check_size(size)
        if not isinstance(digest, bytes) or len(digest) != DIGEST_LEN:
            raise ValueError("an attachment digest is 32 bytes")
        self._aead = _chunk_aead(key)
        self._size = size
        self._digest = digest
        self._ad = _associated_data(size)
        padded = padded_size(size)
        self._chunks = _chunk_count(padded)
        self._blob_size = HEADER_LEN + padded + TAG_LEN * self._chunks
        self._buf = bytearray()
        self._received = 0
        self._index = 0
        self._header_ok = False
        self._hash = hashlib.sha256()
        self._failed = False
        self._done = False

    def __repr__(self) -> str:
        return f"AttachmentDecryptor(size={self._size}, received={self._received}/{self._blob_size})"

    @property
    def blob_size(self) -> int:
        """The exact blob length expected for this ``size``."""
        return self._blob_size

    @property
    def buffered(self) -> int:
        """Blob bytes held until a chunk is complete (never more than one sealed chunk)."""
        return len(self._buf)

    def _fail(self, reason: str) -> DecryptionError:
        """Spend the decryptor; the reason (never secret) goes only to the debug log."""
        _log.debug("attachment rejected: %s", reason)
        self._failed = True
        self._buf = bytearray()
        return DecryptionError(_OPAQUE)

    def _check_live(self) -> None:
        if self._failed:
            raise DecryptionError(_OPAQUE)
        if self._done:
            raise LocalProtocolError("this attachment is already finalized: start a new decryptor")

    def _unit_len(self) -> int:
        """Length of the next piece to process: the header, or a non-final sealed chunk."""
        return HEADER_LEN if not self._header_ok else CHUNK_SIZE + TAG_LEN

    def _open(self, sealed: _Buffer, final: bool) -> bytes:
        try:
            plaintext = self._aead.decrypt(_nonce(self._index, final), bytes(sealed), self._ad)
        except InvalidTag:
            raise self._fail("a chunk does not verify") from None
        start = self._index * CHUNK_SIZE
        self._index += 1
        keep = max(0, min(len(plaintext), self._size - start))
        padding = plaintext[keep:]
        if not hmac.compare_digest(padding, bytes(len(padding))):
            raise self._fail("the padding is not zero")
        return plaintext[:keep]

    def _process(self, unit: _Buffer) -> bytes:
        if not self._header_ok:
            version, chunk_size = struct.unpack(">BI", unit)
            if version != ATTACHMENT_VERSION or chunk_size != CHUNK_SIZE:
                raise self._fail("unknown blob version or chunk size")
            self._header_ok = True
            return b""
        return self._open(unit, final=False)

    def _in_final_chunk(self) -> bool:
        return self._header_ok and self._index == self._chunks - 1

    def update(self, data: bytes) -> bytes:
        """Feed the next blob bytes; returns the plaintext of every chunk now verified (possibly ``b""``).

        The last chunk is held back for :meth:`finalize`. See the class docstring for what is verified when.

        Raises:
            DecryptionError: a chunk fails to verify, wrong header, non-zero padding, or more bytes than
                the blob should have.
            LocalProtocolError: already finalized.
        """
        self._check_live()
        if self._received + len(data) > self._blob_size:
            raise self._fail("the blob is longer than expected")
        self._received += len(data)
        self._hash.update(data)
        view = memoryview(data)
        out: list[bytes] = []
        while view and not self._in_final_chunk():
            need = self._unit_len()
            if not self._buf and len(view) >= need:
                out.append(self._process(view[:need]))
                view = view[need:]
                continue
            take = min(need - len(self._buf), len(view))
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) == need:
                unit, self._buf = self._buf, bytearray()
                out.append(self._process(unit))
        # Whatever is left belongs to the final chunk; its length is bounded by the blob-size check above.
        self._buf += view
        return b"".join(out)

    def finalize(self) -> bytes:
        """Check the blob's length and digest, open the last chunk and return its plaintext.

        Only when this returns is the attachment complete and verified as a whole.

        Raises:
            DecryptionError: truncated blob, digest mismatch, bad last chunk or non-zero padding.
            LocalProtocolError: already finalized.
        """
        self._check_live()
        if self._received != self._blob_size:
            raise self._fail("the blob is truncated")
        if not hmac.compare_digest(self._hash.digest(), self._digest):
            raise self._fail("the blob does not match its digest")
        tail = self._open(self._buf, final=True)
        self._buf = bytearray()
        self._done = True
        return tail


__all__ = [
    "ATTACHMENT_KEY_LEN",
    "ATTACHMENT_VERSION",
    "CHUNK_SIZE",
    "DIGEST_LEN",
    "HEADER_LEN",
    "MAX_ATTACHMENT_SIZE",
    "MIN_PADDED_SIZE",
    "TAG_LEN",
    "AttachmentDecryptor",
    "AttachmentEncryptor",
    "expected_blob_size",
    "new_attachment_key",
    "padded_size",
]
