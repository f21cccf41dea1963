"""Expiry: delete what has expired, then make the deletion final on disk.

:func:`sweep` deletes expired envelope, blob, document and link-message rows (``secure_delete`` zeroes their
pages), removes the expired blobs' bytes, forgets removed devices after
:data:`~confide.server.limits.REMOVED_DEVICE_MEMORY_S`, and truncates the write-ahead log, where copies of deleted
and acknowledged pages would otherwise linger. Nothing is kept about what expired: no tombstone, no counter, no log
line (the only tombstones are of devices their own account's signed list removed, and they are swept too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .blobstore import BlobStore
from .storage import RelayStore, SweepResult

_log = logging.getLogger(__name__)


async def sweep(store: RelayStore, blobs: BlobStore, now_ms: int) -> SweepResult:
    """Delete every envelope, blob, signed document and link message expired at ``now_ms``, forget old removed
    devices, and truncate the WAL.

    Raises:
        Unavailable: the store is closed or failed (nothing was deleted; the next sweep retries).
    """
    result = await store.sweep(now_ms)
    for name in result.blob_paths:
        await blobs.remove(name)
    await store.checkpoint()
    return result


async def run_sweeper(store: RelayStore, blobs: BlobStore, interval_s: float, clock: Callable[[], float]) -> None:
    """Sweep every ``interval_s`` seconds until cancelled (``interval_s == 0`` disables it)."""
    if interval_s <= 0:
        return
    while True:
        await asyncio.sleep(interval_s)
        try:
            await sweep(store, blobs, int(clock() * 1000))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep sweeping; the next round retries
            with contextlib.suppress(Exception):
                _log.error("relay sweep failed: %s", type(exc).__name__)
