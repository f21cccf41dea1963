"""Where implementations are chosen: the one module that names a concrete store, blob store or limiter.

:func:`~confide.server.app.create_app` builds its :class:`~confide.server.state.Backend` here unless it is given
one; :func:`describe_holdings` opens a read-only store here. The embedded backend is SQLite + blob files +
in-process push, replay cache, limits and mailbox sequence: one relay process. The networked backend
(:func:`networked_backend`, chosen when ``config.db_url`` is set) is PostgreSQL for the store, the limits, the
replay cache and the mailbox sequence, NATS for push (``config.bus_url``; in-process push without it) and blob
files in a folder every process shares: several relay processes. Its modules (asyncpg, nats-py) are imported
only when it is built, so the embedded relay never loads them.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from .at_rest import KEY_DIR_NAME, EpochKeys, SealedAtRest
from .blob_files import BlobFiles
from .config import LIMIT_BURST_S, RelayConfig
from .db import SqliteStore
from .inprocess import HourlyBudget, InProcessNotifier, InProcessSequence, NonceCache, TokenBucketLimiter
from .limits import BUDGET_WINDOW_S, BYTE_BUDGET_WINDOW_S
from .sequence import MailboxSequence
from .state import Backend
from .storage import Holdings, RelayStore


def embedded_backend(config: RelayConfig, *, sequence: MailboxSequence | None = None) -> Backend:
    """The single-process backend for ``config``: SQLite and blob files in ``config.data_dir``, everything
    else in this process's memory. Nothing is opened until the app starts.

    ``sequence`` numbers the mailboxes (default: an in-process counter). To replace another part, use
    ``dataclasses.replace(embedded_backend(config), replay=...)``.
    """
    numbering = InProcessSequence() if sequence is None else sequence
    return Backend(
        store=_sealed(
            config,
            SqliteStore(
                config.db_path, sequence=numbering, sync_full=config.sync_full, account_ttl_s=config.account_ttl_s
            ),
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


def _sealed(config: RelayConfig, store: RelayStore) -> SealedAtRest:
    """``store`` behind :class:`~confide.server.at_rest.SealedAtRest`, always, with epoch keys kept beside the blob
    directory on the path every process shares. New envelopes are sealed only when ``config.sealed_at_rest`` (by
    default on PostgreSQL, whose WAL keeps deleted rows' bytes for an unbounded time; not on SQLite, whose scrub
    removes them within about a second); a process that does not seal creates no key directory and no key, yet
    still opens the sealed rows another process (or this relay before its setting changed) wrote while their keys
    exist, and destroys those keys in time. So processes may differ in the setting, and it may change, without a
    stored envelope being lost or handed out sealed."""
    keys = EpochKeys(config.blob_dir.parent / KEY_DIR_NAME)
    return SealedAtRest(store, keys, max_lifetime_s=config.max_lifetime_s, seal=config.sealed_at_rest)


def backend_for(config: RelayConfig) -> Backend:
    """The backend ``config`` asks for: :func:`networked_backend` when it names a database, else
    :func:`embedded_backend`."""
    return networked_backend(config) if config.db_url is not None else embedded_backend(config)


def networked_backend(config: RelayConfig) -> Backend:
    """The backend of a relay of one or several processes on the PostgreSQL database ``config.db_url``: store,
    limits, budgets, replay cache and mailbox numbers there (shared by every process on it, one connection pool
    per process for all the counters), push over the NATS server ``config.bus_url`` (in this process only when it
    is None), blob files in ``config.blob_dir``, which every process must share. Nothing is opened until the app
    starts.

    Raises:
        ValueError: ``config.db_url`` is None.
    """
    if config.db_url is None:
        raise ValueError("the networked backend needs a database URL")
    from .nats_notifier import NatsNotifier
    from .pg_limits import PgBudget, PgPool, PgRateLimiter, PgReplayCache
    from .pg_reservations import PgReservations
    from .pg_store import PostgresStore
    from .shared_blobs import SharedBlobFiles

    pool = PgPool(config.db_url)

    def limiter(scope: str, rate: float, burst: float) -> PgRateLimiter:
        return PgRateLimiter(pool, scope, rate, burst)

    def budget(scope: str, per_window: int, window_s: float = BUDGET_WINDOW_S) -> PgBudget:
        return PgBudget(pool, scope, per_window, window_s)

    return Backend(
        store=_sealed(config, PostgresStore(config.db_url, account_ttl_s=config.account_ttl_s)),
        blobs=SharedBlobFiles(config.blob_dir),
        notifier=InProcessNotifier() if config.bus_url is None else NatsNotifier(config.bus_url),
        replay=PgReplayCache(pool),
        limiter=limiter("ip", config.rate_per_s, config.rate_burst),
        bundle_limiter=limiter("bundle-ip", config.bundle_rate_per_min / 60.0, config.bundle_rate_per_min / 2),
        bundle_budget=budget("bundle", config.bundle_budget_per_hour),
        device_limiter=limiter("device", config.device_rate_per_s, config.device_rate_per_s * LIMIT_BURST_S),
        recipient_limiter=limiter(
            "recipient", config.recipient_rate_per_s, config.recipient_rate_per_s * LIMIT_BURST_S
        ),
        token_limiter=limiter("token", config.token_rate_per_s, config.token_rate_per_s * LIMIT_BURST_S),
        token_bytes=budget("token-bytes", config.token_bytes_per_day, BYTE_BUDGET_WINDOW_S),
        address_bytes=budget("address-bytes", config.address_bytes_per_day, BYTE_BUDGET_WINDOW_S),
        upload_bytes=budget("upload-bytes", config.device_upload_bytes_per_day, BYTE_BUDGET_WINDOW_S),
        reservations=PgReservations(pool),
    )


def describe_holdings(config: RelayConfig) -> Holdings:
    """What the relay configured by ``config`` holds now: the sizes and times of its waiting envelopes and of
    its attachments, and the kinds, sizes and expiries of its signed public documents, nothing else (see
    :class:`~confide.server.storage.Holdings`).

    Read-only, and safe while that relay runs, in this process or another. Blocks until read (a worker thread
    with its own event loop does the reading, so it may be called from inside a running loop as well).

    Raises:
        FileNotFoundError: ``config.data_dir`` holds no relay database (SQLite), or ``config.db_url``'s database
            holds no relay schema (PostgreSQL: it is only read, never created or migrated here).
        Unavailable: ``config.db_url``'s database cannot be reached, or its schema is older than this program
            (PostgreSQL).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="confide-holdings") as pool:
        return pool.submit(asyncio.run, _read_holdings(config)).result()


async def _read_holdings(config: RelayConfig) -> Holdings:
    if config.db_url is not None:
        from .pg_store import PostgresStore

        pg = PostgresStore(config.db_url, account_ttl_s=config.account_ttl_s, migrate=False)  # a reader: no DDL
        await pg.start()
        try:
            return await pg.holdings()
        finally:
            await pg.close()
    store = SqliteStore(config.db_path, read_only=True)
    await store.start()
    try:
        return await store.holdings()
    finally:
        await store.close()
