"""Attachment files: streaming encryption to a temporary file, verification and decryption on demand.

Sending: the file is encrypted chunk by chunk (:class:`~confide.protocol.attachment.AttachmentEncryptor`)
into ``PROFILE/tmp``; the blob's SHA-256 (the pointer's ``digest``, also the upload's content hash) is known
when that pass ends; the temp file is then streamed to the relay and removed. Receiving: the blob is
streamed from the relay into ``PROFILE/tmp``, verified end to end by running the decryptor over it, and
renamed into ``PROFILE/attachments``. The stored file stays ciphertext; :func:`decrypt_file` writes the
plaintext only to a path the user chose. Memory stays at a few chunks whatever the file size; these
functions are synchronous and meant for ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from confide.protocol.attachment import (
    MAX_ATTACHMENT_SIZE,
    AttachmentDecryptor,
    AttachmentEncryptor,
)
from confide.protocol.errors import DecryptionError

from .errors import AttachmentError
from .relay import ProgressCallback

FILE_CHUNK = 256 * 1024
"""Bytes read per step when encrypting or decrypting a file: four protocol chunks, flat memory."""


def encrypt_file(source: Path, dest: Path, key: bytes, progress: ProgressCallback | None = None) -> tuple[int, bytes]:
    """Encrypt ``source`` into ``dest`` (created 0600). Returns ``(plaintext_size, digest)``.

    Raises:
        AttachmentError: the file is too large, unreadable, or changed size while being read.
    """
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise AttachmentError(f"cannot read {source.name}: {exc.strerror}") from exc
    if not source.is_file():
        raise AttachmentError(f"{source.name} is not a regular file")
    if size > MAX_ATTACHMENT_SIZE:
        raise AttachmentError("the file is larger than the 4 GiB attachment limit")
    enc = AttachmentEncryptor(key, size)
    done = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            out.write(enc.header())
            while chunk := src.read(FILE_CHUNK):
                done += len(chunk)
                if done > size:
                    raise AttachmentError(f"{source.name} grew while it was being sent; try again")
                out.write(enc.update(chunk))
                if progress is not None:
                    progress(done, size)
            if done != size:
                raise AttachmentError(f"{source.name} shrank while it was being sent; try again")
            for sealed in enc.finalize_chunks():
                out.write(sealed)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            dest.unlink()
        raise
    return size, enc.digest


def verify_blob(blob: Path, key: bytes, size: int, digest: bytes) -> None:
    """Check that ``blob`` opens with ``key`` into ``size`` bytes with this ``digest`` (discarding output).

    Raises:
        AttachmentError: the blob was tampered with, truncated or does not match the pointer.
    """
    dec = AttachmentDecryptor(key, size, digest)
    try:
        with blob.open("rb") as fh:
            while chunk := fh.read(FILE_CHUNK):
                dec.update(chunk)
        dec.finalize()
    except DecryptionError as exc:
        raise AttachmentError(
            "the attachment failed its integrity check (damaged or altered); ask the sender to send it again"
        ) from exc


def decrypt_file(blob: Path, dest: Path, key: bytes, size: int, digest: bytes) -> None:
    """Decrypt ``blob`` into ``dest``: written to a temp file next to it and renamed only once verified.

    Raises:
        AttachmentError: integrity failure (``dest`` is not created), or ``dest`` cannot be written.
    """
    dec = AttachmentDecryptor(key, size, digest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, blob.open("rb") as fh:
            while chunk := fh.read(FILE_CHUNK):
                out.write(dec.update(chunk))
            out.write(dec.finalize())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except DecryptionError as exc:
        raise AttachmentError("the attachment failed its integrity check (damaged or altered)") from exc
    except OSError as exc:
        raise AttachmentError(f"cannot write {dest}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def safe_file_name(name: str) -> str:
    """A received file name reduced to a bare, harmless name (no directories, no leading dots)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    cleaned = "".join(ch for ch in base if ch.isprintable())
    return cleaned or "attachment"
