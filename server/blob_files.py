"""The embedded :class:`~confide.server.blobstore.BlobStore`: one file per blob in the blob folder.

An upload streams to a temporary file with a running SHA-256, capped, and is renamed when complete. A blob's
file name is its id (43 base64url characters from 32 random bytes), so nothing else names it. Deleting removes
the file; the relay cannot promise that a file system or SSD erases the blocks (blobs are ciphertext; put the
data directory on an encrypted volume).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

from aiohttp import StreamReader, hdrs, web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict, CIMultiDictProxy

from .blobstore import BLOB_ID_RE, Upload
from .errors import InsufficientStorage, TooLarge
from .ranges import ByteRange

CHUNK_BYTES = 256 * 1024
"""Read and write in 256 KiB pieces: large enough to be cheap per byte, small enough to bound memory."""

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""Write failures that mean "no room" (disk or quota full), answered 507 like the free-disk reserve: the disk can
fill during an upload (another program, or uploads racing the last free-space reading)."""

TEMP_PREFIX = ".upload-"
"""Prefix of in-progress uploads; any left over from a crash are deleted at start."""

FOLDER_MODE = 0o700
"""The blob folder: only the relay's own user may list it (the names are capabilities)."""

FILE_MODE = 0o600
"""Blob files and in-progress uploads: only the relay's own user may read them."""


class BlobFiles:
    """:class:`~confide.server.blobstore.BlobStore` on the blob folder of one relay."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def start(self, known: set[str]) -> int:
        """Create the folder and delete leftovers of a crash (see :meth:`remove_orphans`)."""
        self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        self.folder.chmod(FOLDER_MODE)
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
            InsufficientStorage: the disk filled up while writing (the partial file is deleted).
        """
        temp_name = TEMP_PREFIX + secrets.token_hex(16)
        temp = self.folder / temp_name
        digest = hashlib.sha256()
        size = 0
        f = await asyncio.to_thread(_create_private, temp)
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
        except BaseException as exc:
            with contextlib.suppress(OSError):  # closing flushes what is buffered: it may fail the same way
                f.close()
            await asyncio.to_thread(shred, temp)
            if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
                raise InsufficientStorage(
                    "the relay's disk filled up during the upload; nothing was kept, retry later"
                ) from None
            raise
        return Upload(temp_name, size, digest.hexdigest())

    async def commit(self, upload: Upload, name: str) -> None:
        """Rename a received upload to its final name. Raises :class:`ValueError` for a bad name."""
        os.replace(self._temp_path(upload), self.path(name))

    async def discard(self, upload: Upload) -> None:
        """Overwrite and delete a received upload's temporary file (missing is fine)."""
        await asyncio.to_thread(shred, self._temp_path(upload))

    async def remove(self, name: str) -> None:
        """Overwrite a blob file with zeros in place, then delete it (missing, or not a blob id, is fine).
        A download still streaming it gets zeros from then on; it was deleted."""
        with contextlib.suppress(ValueError):
            await asyncio.to_thread(shred, self.path(name))

    async def serve(self, name: str, byte_range: ByteRange | None = None) -> web.StreamResponse:
        """aiohttp's file answer (``sendfile``) for all of blob ``name`` or ``byte_range`` of it; a missing file
        is answered 404 by aiohttp.

        Raises:
            ValueError: ``name`` is not a blob id.
        """
        return _BlobResponse(self.path(name), byte_range)

    def remove_orphans(self, known: set[str]) -> int:
        """Delete temporary files and files no row refers to (a crash between file and row); return count."""
        removed = 0
        for entry in self.folder.iterdir():
            if entry.is_file() and entry.name not in known:
                shred(entry)
                removed += 1
        return removed

    def _temp_path(self, upload: Upload) -> Path:
        if not upload.temp_name.startswith(TEMP_PREFIX) or Path(upload.temp_name).name != upload.temp_name:
            raise ValueError("not an upload of this blob store")
        return self.folder / upload.temp_name


class _BlobResponse(web.FileResponse):
    """A blob file answered with exactly the range decided by :mod:`confide.server.ranges`.

    aiohttp's file answer reads the request's own headers: a malformed ``Range`` would get an empty-bodied 416,
    ``If-Match`` an empty-bodied 412, ``Accept-Encoding`` a look for compressed siblings. It is prepared with a
    copy of the request that carries only the canonical ``Range`` of the validated range, or none.
    """

    def __init__(self, path: Path, byte_range: ByteRange | None) -> None:
        super().__init__(path, headers={"Content-Type": "application/octet-stream"})
        self._byte_range = byte_range

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        headers = CIMultiDict[str]()
        if self._byte_range is not None:
            headers[hdrs.RANGE] = self._byte_range.header
        return await super().prepare(request.clone(headers=CIMultiDictProxy(headers)))


def _create_private(path: Path) -> BinaryIO:
    """A new file (never an existing one) readable by the relay's user alone, whatever the umask."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")


def shred(path: Path) -> None:
    """Overwrite ``path`` with zeros in place (and flush that to the device), then delete it; missing is fine.

    Unlinking alone leaves the ciphertext in the file system's free blocks (and readable through any
    descriptor still open). Overwriting in place reaches the same blocks on ordinary file systems; copy-on-write
    file systems and SSD wear levelling may still keep old blocks, which is why SECURITY.md asks for an
    encrypted volume."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        zeros = bytes(min(size, CHUNK_BYTES))
        done = 0
        while done < size:
            done += os.write(fd, zeros[: size - done])
        os.fsync(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
