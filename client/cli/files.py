"""Local files the command writes or reads on the person's behalf: new private files, QR pictures, small input
files, recovery backups."""

from __future__ import annotations

import os
from pathlib import Path

from confide.client import (
    MAX_CARD_BYTES,
    MAX_CARD_TEXT_LEN,
    MAX_RECOVERY_BACKUP_BYTES,
    CorruptKeyStore,
    write_text_qr_png,
)

from .exits import UsageError

MAX_CARD_FILE_BYTES = max(MAX_CARD_BYTES, MAX_CARD_TEXT_LEN + 64)
"""A contact card file holds the card's bytes or its text form (with some whitespace around it): anything longer
is not a card, and is refused after reading this much."""


def read_card_file(path: Path) -> bytes:
    """The bytes of a contact card file (the card, or its ``CONFIDE-CARD1:`` text), read within
    :data:`MAX_CARD_FILE_BYTES`.

    Raises:
        UsageError: the file is longer than any card file; OSError: it cannot be read.
    """
    return read_bounded(path, MAX_CARD_FILE_BYTES, "contact card")


def write_new_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data`` (flushed to disk); never overwrite a file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise FileExistsError(
            exc.errno, "the file exists; choose another name (a file is never overwritten)", str(path)
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_new_qr(path: Path, text: str) -> None:
    """A QR picture of ``text`` in a new file, created 0600 before anything is drawn (a card is a capability).

    Raises:
        FileExistsError: the file (or a symlink) is already there; it is left as it was.
        OSError: the picture cannot be written; the new file is removed again (likewise for any other error).
    """
    write_new_private(path, b"")
    try:
        write_text_qr_png(text, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of ``path``, a file that holds one ``what`` (a contact card, a credential): at most ``limit``
    bytes, and never more than ``limit + 1`` read.

    Raises:
        UsageError: the file is larger than ``limit`` (the wrong file chosen).
        OSError: the file cannot be read.
    """
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{path} is larger than any {what}; check that you chose the right file")
    return data


def read_backup(path: Path) -> bytes:
    """Read a recovery backup, refusing (without reading it all) a file larger than any backup can be."""
    with path.open("rb") as fh:
        data = fh.read(MAX_RECOVERY_BACKUP_BYTES + 1)
    if len(data) > MAX_RECOVERY_BACKUP_BYTES:
        raise CorruptKeyStore(f"{path} is larger than any Confide recovery backup; check that you chose the right file")
    return data
