"""The embedded :class:`~confide.server.blobstore.BlobStore`: one file per blob in the blob folder.

An upload streams to a temporary file with a running SHA-256, capped, and is renamed when complete. A blob's
file name is its id (43 base64url characters from 32 random bytes), so nothing else names it. Deleting removes
the file; the relay cannot promise that a file system or SSD erases the blocks (blobs are ciphertext; put the
data directory on an encrypted volume).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from aiohttp import StreamReader, web

from .blobstore import BLOB_ID_RE, Upload
from .errors import TooLarge

CHUNK_BYTES = 256 * 1024
"""Read and write in 256 KiB pieces: large enough to be cheap per byte, small enough to bound memory."""

TEMP_PREFIX = ".upload-"
"""Prefix of in-progress uploads; any left over from a crash are deleted at start."""


class BlobFiles:
    """:class:`~confide.server.blobstore.BlobStore` on the blob folder of one relay."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def start(self, known: set[str]) -> int:
        """Create the folder and delete leftovers of a crash (see :meth:`remove_orphans`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.remove_orphans(known)

    async def close(self) -> None:
        """Nothing to release: every file is closed when its request ends."""

    def path(self, name: str) -> Path:
        """The file of blob ``name``. Raises :class:`ValueError` if ``name`` is not a blob id."""
        if not BLOB_ID_RE.match(name):
            raise ValueError("not a blob file name")
        return self.folder / name

    async def receive(self, stream: StreamReader, cap: int) -> Upload:
        """Stream ``stream`` to a temporary file, hashing as it goes.

        Raises:
            TooLarge: more than ``cap`` bytes arrived (the partial file is deleted).
        """
        temp_name = TEMP_PREFIX + secrets.token_hex(16)
        temp = self.folder / temp_name
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
            self._unlink(temp)
            raise
        return Upload(temp_name, size, digest.hexdigest())

    async def commit(self, upload: Upload, name: str) -> None:
        """Rename a received upload to its final name. Raises :class:`ValueError` for a bad name."""
        os.replace(self._temp_path(upload), self.path(name))

    async def discard(self, upload: Upload) -> None:
        """Delete a received upload's temporary file (missing is fine)."""
        self._unlink(self._temp_path(upload))

    async def remove(self, name: str) -> None:
        """Delete a blob file (missing, or not a blob id, is fine)."""
        with contextlib.suppress(ValueError):
            self._unlink(self.path(name))

    async def serve(self, name: str) -> web.StreamResponse:
        """aiohttp's file answer (ranges, ``sendfile``); a missing file is answered 404 by aiohttp.

        Raises:
            ValueError: ``name`` is not a blob id.
        """
        return web.FileResponse(self.path(name), headers={"Content-Type": "application/octet-stream"})

    def remove_orphans(self, known: set[str]) -> int:
        """Delete temporary files and files no row refers to (a crash between file and row); return count."""
        removed = 0
        for entry in self.folder.iterdir():
            if entry.is_file() and entry.name not in known:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    removed += 1
        return removed

    def _temp_path(self, upload: Upload) -> Path:
        if not upload.temp_name.startswith(TEMP_PREFIX) or Path(upload.temp_name).name != upload.temp_name:
            raise ValueError("not an upload of this blob store")
        return self.folder / upload.temp_name

    @staticmethod
    def _unlink(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
