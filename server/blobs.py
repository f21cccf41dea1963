"""Attachment files: streamed to a temporary file with a running SHA-256, capped, renamed when complete.

A blob's body is never held whole in memory. Its file name is its id (43 base64url characters from 32
random bytes), so nothing else names it. Deleting removes the file; the relay cannot promise that a file
system or SSD erases the blocks (blobs are ciphertext; put the data directory on an encrypted volume).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import StreamReader

from .errors import TooLarge

BLOB_ID_BYTES = 32
"""256 random bits: a blob id is a capability, unguessable by anyone who was not sent it."""

CHUNK_BYTES = 256 * 1024
"""Read and write in 256 KiB pieces: large enough to be cheap per byte, small enough to bound memory."""

TEMP_PREFIX = ".upload-"
"""Prefix of in-progress uploads; any left over from a crash are deleted at start."""

BLOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_blob_id() -> str:
    """A fresh blob id (base64url without padding of 32 random bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(BLOB_ID_BYTES)).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class Upload:
    """A completely received upload, still under its temporary name."""

    temp: Path
    size: int
    sha256_hex: str


class BlobFiles:
    """The blob folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def start(self, known: set[str]) -> int:
        """Create the folder and delete leftovers of a crash (see :meth:`remove_orphans`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.remove_orphans(known)

    def path(self, name: str) -> Path:
        if not BLOB_ID_RE.match(name):
            raise ValueError("not a blob file name")
        return self.folder / name

    async def receive(self, stream: StreamReader, cap: int) -> Upload:
        """Stream ``stream`` to a temporary file, hashing as it goes.

        Raises:
            TooLarge: more than ``cap`` bytes arrived (the partial file is deleted).
        """
        temp = self.folder / (TEMP_PREFIX + secrets.token_hex(16))
        digest = hashlib.sha256()
        size = 0
        f = await asyncio.to_thread(open, temp, "xb")
        try:
            while True:
                chunk = await stream.read(CHUNK_BYTES)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise TooLarge(f"an attachment may be at most {cap} bytes; nothing was kept")
                digest.update(chunk)
                await asyncio.to_thread(f.write, chunk)
            await asyncio.to_thread(f.close)
        except BaseException:
            f.close()
            self.discard(temp)
            raise
        return Upload(temp, size, digest.hexdigest())

    def commit(self, upload: Upload, name: str) -> None:
        """Give a received upload its final name."""
        os.replace(upload.temp, self.path(name))

    def discard(self, temp: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    def remove(self, name: str) -> None:
        """Delete a blob file (missing is fine)."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.path(name).unlink()

    def remove_orphans(self, known: set[str]) -> int:
        """Delete temporary files and files no row refers to (a crash between file and row); return count."""
        removed = 0
        for entry in self.folder.iterdir():
            if entry.is_file() and entry.name not in known:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    removed += 1
        return removed
