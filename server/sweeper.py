"""Expiry: delete what has expired, then make the deletion final on disk.

:func:`sweep` deletes expired envelope, blob and document rows (``secure_delete`` zeroes their pages), removes
the expired blobs' bytes, and truncates the write-ahead log, where copies of deleted and acknowledged pages would
otherwise linger. Nothing is kept about what was deleted: no tombstone, no counter, no log line.
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
    """Delete every envelope, blob and signed document expired at ``now_ms`` and truncate the WAL.

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
