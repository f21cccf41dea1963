"""Where ``confide send`` gets the message when it is not on the command line (which would leave it in the
shell history and in ``ps`` for anyone on the machine): standard input, or the person's editor.

The editor edits a new temporary file (mode 0600, ``O_EXCL|O_NOFOLLOW``) in the profile's own ``tmp``
folder, which is then overwritten with zeros, fsynced and removed, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

from confide.client import MAX_TEXT_BYTES, ProfileError

from .exits import UsageError

ENV_EDITORS = ("VISUAL", "EDITOR")
"""The editor to open, by the usual convention: ``VISUAL`` first, then ``EDITOR``."""

MAX_COMPOSED_BYTES = MAX_TEXT_BYTES
"""The most a message read from stdin or the editor may be: one text message (a longer one is a file).
Reading stops one byte past it, so a huge input is refused without being read in full."""

EDITOR_NAME_BYTES = 8
"""Random bytes in the editor's temporary file name: never guessed, never shared by two commands."""


def _clean(data: bytes, source: str) -> str:
    if len(data) > MAX_COMPOSED_BYTES:
        raise UsageError(f"the message from {source} is longer than {MAX_COMPOSED_BYTES} bytes; send it as a file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the message from {source} is not UTF-8 text; nothing was sent") from None
    text = text.replace("\r\n", "\n").rstrip("\n")
    if not text.strip():
        raise UsageError(f"the message from {source} is empty; nothing was sent")
    return text


def read_stdin(stream: BinaryIO | None = None) -> str:
    """The message piped on standard input (UTF-8; CRLF line ends become LF; trailing newlines dropped)."""
    source = stream if stream is not None else sys.stdin.buffer
    return _clean(source.read(MAX_COMPOSED_BYTES + 1), "standard input")


def _editor() -> list[str]:
    for name in ENV_EDITORS:
        value = os.environ.get(name, "").strip()
        if value:
            return shlex.split(value)
    raise UsageError("no editor: set EDITOR, or pipe the message in (confide send NAME < message.txt)")


def _scrub(path: Path) -> None:
    """Overwrite the file with zeros, fsync it, remove it (each step best effort, the removal always tried)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
        try:
            size = os.fstat(fd).st_size
            os.write(fd, bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()


def edit(tmp_dir: Path) -> str:
    """Open the person's editor on a new private file in ``tmp_dir`` and return what they wrote."""
    command = _editor()
    if not tmp_dir.parent.is_dir():  # no profile there: create nothing (a stray folder would block 'init')
        raise ProfileError(f"no Confide profile in {tmp_dir.parent}; create one with 'confide init'")
    tmp_dir.mkdir(mode=0o700, exist_ok=True)
    path = tmp_dir / f"message-{secrets.token_hex(EDITOR_NAME_BYTES)}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    editor_files = [path, path.with_name(path.name + "~")]  # some editors leave a backup beside it
    try:
        try:
            result = subprocess.run([*command, str(path)], check=False)  # noqa: S603 - the person's own editor
        except OSError as exc:
            raise UsageError(f"cannot start the editor {command[0]}: {exc.strerror}") from None
        if result.returncode != 0:
            raise UsageError(f"the editor exited with code {result.returncode}; nothing was sent")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_COMPOSED_BYTES + 1)
        return _clean(data, "the editor")
    finally:
        for leftover in editor_files:
            _scrub(leftover)
