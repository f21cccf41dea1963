"""Where implementations are chosen: the one module that names a concrete store, blob store or limiter.

:func:`~confide.server.app.create_app` builds its :class:`~confide.server.state.Backend` here unless it is given
one; :func:`describe_holdings` opens a read-only store here. The embedded backend is SQLite + blob files +
in-process push, replay cache, limits and mailbox sequence: one relay process. A backend for several relay
processes (PostgreSQL + NATS, say) is a new module of implementations and one more factory here.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from .blob_files import BlobFiles
from .config import LIMIT_BURST_S, RelayConfig
from .db import SqliteStore
from .inprocess import HourlyBudget, InProcessNotifier, InProcessSequence, NonceCache, TokenBucketLimiter
from .limits import BYTE_BUDGET_WINDOW_S
from .sequence import MailboxSequence
from .state import Backend
from .storage import Holdings


def embedded_backend(config: RelayConfig, *, sequence: MailboxSequence | None = None) -> Backend:
    """The single-process backend for ``config``: SQLite and blob files in ``config.data_dir``, everything
    else in this process's memory. Nothing is opened until the app starts.

    ``sequence`` numbers the mailboxes (default: an in-process counter). To replace another part, use
    ``dataclasses.replace(embedded_backend(config), replay=...)``.
    """
    numbering = InProcessSequence() if sequence is None else sequence
    return Backend(
        store=SqliteStore(
            config.db_path, sequence=numbering, sync_full=config.sync_full, account_ttl_s=config.account_ttl_s
        ),
        blobs=BlobFiles(config.blob_dir),
        notifier=InProcessNotifier(),
        replay=NonceCache(),
        limiter=TokenBucketLimiter(config.rate_per_s, config.rate_burst),
        bundle_limiter=TokenBucketLimiter(config.bundle_rate_per_min / 60.0, config.bundle_rate_per_min / 2),
        bundle_budget=HourlyBudget(config.bundle_budget_per_hour),
        device_limiter=TokenBucketLimiter(config.device_rate_per_s, config.device_rate_per_s * LIMIT_BURST_S),
        recipient_limiter=TokenBucketLimiter(config.recipient_rate_per_s, config.recipient_rate_per_s * LIMIT_BURST_S),
        token_limiter=TokenBucketLimiter(config.token_rate_per_s, config.token_rate_per_s * LIMIT_BURST_S),
        token_bytes=HourlyBudget(config.token_bytes_per_day, window_s=BYTE_BUDGET_WINDOW_S),
        address_bytes=HourlyBudget(config.address_bytes_per_day, window_s=BYTE_BUDGET_WINDOW_S),
        upload_bytes=HourlyBudget(config.device_upload_bytes_per_day, window_s=BYTE_BUDGET_WINDOW_S),
    )


def describe_holdings(config: RelayConfig) -> Holdings:
    """What the relay configured by ``config`` holds now: the sizes and times of its waiting envelopes and of
    its attachments, and the kinds, sizes and expiries of its signed public documents, nothing else (see
    :class:`~confide.server.storage.Holdings`).

    Read-only, and safe while that relay runs, in this process or another. Blocks until read (a worker thread
    with its own event loop does the reading, so it may be called from inside a running loop as well).

    Raises:
        FileNotFoundError: ``config.data_dir`` holds no relay database.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="confide-holdings") as pool:
        return pool.submit(asyncio.run, _read_holdings(config)).result()


async def _read_holdings(config: RelayConfig) -> Holdings:
    store = SqliteStore(config.db_path, read_only=True)
    await store.start()
    try:
        return await store.holdings()
    finally:
        await store.close()
