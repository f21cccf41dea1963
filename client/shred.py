"""Overwriting files in place before unlinking them, so their old contents leave the disk blocks they held.

On a file system that writes in place (ext4, XFS, and the like on a hard disk) writing random bytes over a
file's length through the same inode and ``fsync``-ing them replaces its contents in the blocks it had. On
copy-on-write file systems (btrfs, ZFS, APFS) and on flash with wear levelling the old blocks may survive
anyway: there only full-disk encryption protects them (SECURITY.md, question 5).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from confide.keys.encoding import RNG

SHRED_CHUNK = 1 << 20
"""Bytes of random data written per step when overwriting a file: flat memory for files of any size."""


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename or unlink in it) to disk; best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def overwrite_in_place(path: Path, rng: RNG = os.urandom) -> bool:
    """Write random bytes over the whole of ``path`` through its own inode (no truncation, no new file) and
    flush them to disk; False when there was no such file. A symbolic link is not followed.

    Raises:
        OSError: the file exists but cannot be written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        done = 0
        while done < size:
            step = min(SHRED_CHUNK, size - done)
            done += os.pwrite(fd, rng(step), done)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def shred_file(path: Path, rng: RNG = os.urandom) -> None:
    """Overwrite ``path`` in place (:func:`overwrite_in_place`), then unlink it; nothing when it is missing.
    Failures are swallowed after trying to unlink: the caller's deletion has already happened."""
    with contextlib.suppress(OSError):
        overwrite_in_place(path, rng)
    with contextlib.suppress(OSError):
        path.unlink()
