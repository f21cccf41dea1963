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
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from confide.protocol.attachment import (
    MAX_ATTACHMENT_SIZE,
    AttachmentDecryptor,
    AttachmentEncryptor,
)
from confide.protocol.errors import DecryptionError

from .errors import AttachmentError, FileExistsConflict
from .relay import ProgressCallback
from .shred import fsync_dir

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


TEMP_SUFFIX_BYTES = 8
"""Random bytes in the name of the temporary file beside a destination: two writers never share one."""

_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
"""A temporary file is always new (``O_EXCL``), never reached through a symlink (``O_NOFOLLOW``)."""


def _refuse_existing(dest: Path) -> None:
    """Raise :class:`FileExistsConflict` if anything (a file, a folder, a symlink, even dangling) is at ``dest``."""
    with contextlib.suppress(FileNotFoundError):
        os.lstat(dest)
        raise FileExistsConflict(dest)


def write_private(dest: Path, write: Callable[[BinaryIO], object], *, overwrite: bool = False) -> None:
    """Create ``dest`` with mode 0600 holding what ``write(fh)`` writes, all or nothing.

    The bytes go to a new temporary file in the same folder (``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 0600),
    are fsynced, and only then take ``dest``'s place: without ``overwrite`` by a hard link, which fails if
    anything appeared at ``dest`` meanwhile (so an existing file is never replaced, even in a race); with
    ``overwrite`` by a rename, which replaces a file or a symlink itself and never follows a symlink (the
    file it pointed to is untouched) and never keeps an old file's mode. On any failure ``dest`` is as it
    was and the temporary file is gone.

    Raises:
        FileExistsConflict: something is at ``dest`` and ``overwrite`` is False (nothing was written).
        OSError: the folder cannot be written, the disk is full, ... (nothing was written).
        Whatever ``write`` raises.
    """
    if not overwrite:
        _refuse_existing(dest)
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(TEMP_SUFFIX_BYTES)}.part")
    fd = os.open(tmp, _NEW_FILE_FLAGS, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest, follow_symlinks=False)
            except FileExistsError:
                raise FileExistsConflict(dest) from None
        fsync_dir(dest.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def decrypt_file(blob: Path, dest: Path, key: bytes, size: int, digest: bytes, *, overwrite: bool = False) -> None:
    """Decrypt ``blob`` into ``dest`` through :func:`write_private`: created 0600, only once verified, never
    over an existing file unless ``overwrite``, never through a symlink.

    Raises:
        FileExistsConflict: something is at ``dest`` and ``overwrite`` is False.
        AttachmentError: integrity failure (``dest`` is not created), or ``dest`` cannot be written.
    """
    dec = AttachmentDecryptor(key, size, digest)

    def write(out: BinaryIO) -> None:
        with blob.open("rb") as fh:
            while chunk := fh.read(FILE_CHUNK):
                out.write(dec.update(chunk))
            out.write(dec.finalize())

    try:
        write_private(dest, write, overwrite=overwrite)
    except DecryptionError as exc:
        raise AttachmentError("the attachment failed its integrity check (damaged or altered)") from exc
    except OSError as exc:
        raise AttachmentError(f"cannot write {dest}: {exc.strerror}") from exc


def safe_file_name(name: str) -> str:
    """A received file name reduced to a bare, harmless name (no directories, no leading dots)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    cleaned = "".join(ch for ch in base if ch.isprintable())
    return cleaned or "attachment"
