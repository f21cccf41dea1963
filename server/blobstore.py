"""The blob store interface: where attachment ciphertext lives between upload and expiry or deletion.

The relay keeps each blob's row (owner, size, expiry, name) in :class:`~confide.server.storage.RelayStore`
and its bytes here. An upload is received under a temporary name with a running SHA-256 and a size cap, then
committed under its final name (its id) or discarded; the bytes are never held whole in memory. The embedded
relay keeps blobs as files (:class:`~confide.server.blob_files.BlobFiles`); an object store can follow.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiohttp import StreamReader, web

if TYPE_CHECKING:
    from .ranges import ByteRange

BLOB_ID_BYTES = 32
"""256 random bits: a blob id is a capability, unguessable by anyone who was not sent it."""

BLOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""A blob id: base64url without padding of :data:`BLOB_ID_BYTES` bytes."""


def new_blob_id() -> str:
    """A fresh blob id (base64url without padding of 32 random bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(BLOB_ID_BYTES)).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class Upload:
    """A completely received upload, still under the temporary name its blob store gave it."""

    temp_name: str
    size: int
    sha256_hex: str


class BlobStore(Protocol):
    """Blob bytes by name (the blob id). Names are checked against :data:`BLOB_ID_RE` by the caller."""

    async def start(self, known: set[str]) -> int:
        """Make the store ready and delete leftovers of a crash: partial uploads and blobs whose names are
        not in ``known`` (a crash between the bytes and the row). Return how many were deleted."""
        ...

    async def receive(self, stream: StreamReader, cap: int) -> Upload:
        """Stream ``stream`` to a temporary blob, hashing as it goes.

        Raises:
            TooLarge: more than ``cap`` bytes arrived (the partial blob is deleted).
        """
        ...

    async def commit(self, upload: Upload, name: str) -> None:
        """Give a received upload its final ``name``.

        Raises:
            ValueError: ``name`` is not a blob id.
        """
        ...

    async def discard(self, upload: Upload) -> None:
        """Delete a received upload that will not be committed (already gone is fine)."""
        ...

    async def remove(self, name: str) -> None:
        """Delete the blob ``name`` (missing, or not a blob id, is fine)."""
        ...

    async def serve(self, name: str, byte_range: ByteRange | None = None) -> web.StreamResponse:
        """An HTTP answer streaming blob ``name`` as ``application/octet-stream`` (404 if it is missing): all of
        it (200), or only ``byte_range`` (206 with ``Content-Range``), whatever the request's headers say.

        Raises:
            ValueError: ``name`` is not a blob id.
        """
        ...

    async def close(self) -> None:
        """Release what :meth:`start` took (idempotent)."""
        ...
