"""The relay's shared counters on PostgreSQL: rate limits, budgets and the replay cache.

:mod:`~confide.server.inprocess` keeps these in one process's memory; here they live in tables every relay
process of a deployment reads and writes, each decision one atomic statement (an ``INSERT ... ON CONFLICT DO
UPDATE ... RETURNING`` for a bucket or a budget, a function holding the device's row lock for the replay cache),
so processes together never exceed a bucket or a budget and never accept one nonce twice. Mailbox numbers are
the store's (the sequence ``envelope_seq``, drawn in the store's own transaction: :mod:`.pg_store`).

The semantics are the in-process ones, statement for statement (``tests/server/test_limits_contract.py`` runs
the same tests against both). What differs is what bounds the state: instead of a least-recently-seen bound,
rows are swept once they are indistinguishable from no row (a full bucket, an ended budget window, expired
nonces), at most every :data:`SWEEP_INTERVAL_S`.

The limiter, budget and replay tables are ``UNLOGGED``: they are never written to PostgreSQL's write-ahead
log, so the identifiers they key on (client IPs, device ids, token hashes, as given, nothing new) are not
copied into WAL segments, standbys or backups; a crash of PostgreSQL empties them, which makes the limits
lenient for one window and sends the replay cache back to each device's stored floor (the designed fallback,
as after a restart of the embedded relay).

Every object here takes a :class:`PgPool`, one asyncpg pool that several of them share; the pool's first
:meth:`PgPool.open` migrates the schema (:mod:`.pg_migrations`, whose ``0002_limits`` holds these tables), so
the counters work whether or not a store migrated the database first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable, Iterator
from typing import Any

import asyncpg

from confide.protocol.auth import NONCE_LEN

from .errors import RateLimited, Unauthorized, Unavailable
from .limits import BUDGET_WINDOW_S, MAX_NONCES_PER_DEVICE, NONCE_MEMORY_S
from .pg_batches import Grouped
from .pg_migrations import migrate
from .pg_session import keep_session

POOL_MAX = 8
"""Connections the shared-counter pool of one process may open. Each call here is one short statement (under a
millisecond on a LAN), so eight serve thousands of requests a second; with the store's own pool
(:data:`~confide.server.pg_store.POOL_MAX`, 16) four processes use 96 of PostgreSQL's default 100 connections at
most (docs/SCALING.md)."""

CONNECT_TIMEOUT_S = 5.0
"""How long opening a connection may take before a request is answered 503."""

STATEMENT_TIMEOUT_S = 5.0
"""Longest wait for one statement (a lock held by a stuck process, an overloaded server): the request is then
answered 503 rather than holding its connection forever."""

SWEEP_INTERVAL_S = 60.0
"""Least time between two sweeps of one object's expired rows (one ``DELETE`` each): a key that went quiet is
forgotten at most a minute after it became indistinguishable from a key never seen."""

_RETRYABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.DeadlockDetectedError,
)
"""Failures a retry may fix (the server down or restarting, a statement timeout, a full disk, too many
connections): the request is answered 503. Any other database error is a bug and propagates."""

_SESSION_SETTINGS = {"synchronous_commit": "off"}
"""The pool's sessions do not wait for a commit's WAL flush: the tables they write are unlogged, so there is
nothing of theirs to wait for (a crash of PostgreSQL empties them anyway, see the module's docstring)."""

_UNAVAILABLE = "the relay's shared limits are not reachable right now; retry in a few seconds"

_LIMITED = "too many requests from this connection; slow down and retry in a few seconds"
_REPLAYED = "this request was already used (replay refused); sign each request afresh"
_DEVICE_FULL = "this device is sending too many signed requests; retry in a minute"

# The outcomes of confide_remember_nonce().
_ACCEPTED, _REPLAY, _FULL = 0, 1, 2


@contextlib.contextmanager
def _answerable() -> Iterator[None]:
    """Turn a failure a retry may fix into :class:`Unavailable` (503)."""
    try:
        yield
    except _RETRYABLE:
        raise Unavailable(_UNAVAILABLE) from None


class PgPool:
    """One asyncpg pool for the shared counters of one process: opened by the first :meth:`open` of the objects
    sharing it (which also migrates the schema), closed by the last :meth:`close`.

    ``dsn`` is a ``postgresql://`` URL; it is never logged (it may carry a password). Its sessions commit
    without waiting for the write-ahead log to reach the disk (:data:`_SESSION_SETTINGS`).
    """

    def __init__(self, dsn: str, *, max_size: int = POOL_MAX) -> None:
        self._dsn = dsn
        self._max = max_size
        self._pool: Any = None
        self._users = 0
        self._opening = asyncio.Lock()
        # The send path's takes and spends of concurrent requests, shared statements (pg_batches, migration 0005).
        self._takes: Grouped[tuple[Any, ...], bool] = Grouped(self._take_rows, name="takes")
        self._spends: Grouped[tuple[Any, ...], bool] = Grouped(self._spend_rows, name="spends")

    def __repr__(self) -> str:
        return f"PgPool(open={self._pool is not None}, users={self._users})"

    async def open(self) -> None:
        """Count one more user; the first opens the pool and migrates the schema.

        Raises:
            Unavailable: PostgreSQL cannot be reached.
        """
        async with self._opening:
            if self._pool is None:
                with _answerable():
                    pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=self._max,
                        timeout=CONNECT_TIMEOUT_S,
                        command_timeout=STATEMENT_TIMEOUT_S,
                        server_settings=_SESSION_SETTINGS,
                        reset=keep_session,
                    )
                    try:
                        async with pool.acquire() as conn:
                            try:
                                await migrate(conn)
                            finally:
                                await conn.reset()  # the migration's session lock: gone before reuse
                    except BaseException:
                        await pool.close()
                        raise
                self._pool = pool
            self._users += 1

    async def close(self) -> None:
        """Count one user less; the last closes the pool (more closes than opens do nothing)."""
        async with self._opening:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0 and self._pool is not None:
                await self._takes.drain()
                await self._spends.drain()
                pool, self._pool = self._pool, None
                await pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A pooled connection (an ``asyncpg.Connection``).

        Raises:
            Unavailable: the pool is not open, or the database failed in a way a retry may fix.
        """
        if self._pool is None:
            raise Unavailable(_UNAVAILABLE)
        with _answerable():
            async with self._pool.acquire(timeout=CONNECT_TIMEOUT_S) as conn:
                yield conn

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """One row of ``query`` (an ``asyncpg.Record``) or None. Raises :class:`Unavailable` as above."""
        async with self.connection() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first value of ``query``'s first row, or None. Raises :class:`Unavailable` as above."""
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> None:
        """Run ``query``. Raises :class:`Unavailable` as above."""
        async with self.connection() as conn:
            await conn.execute(query, *args)

    async def take(self, row: tuple[Any, ...]) -> bool:
        """One bucket take (the columns of ``confide_take_all``), decided in a statement concurrent takes share.
        Raises :class:`Unavailable` as above."""
        [granted] = await self._takes.call([row])
        return granted

    async def try_spend(self, row: tuple[Any, ...]) -> bool:
        """One budget spend (the columns of ``confide_try_spend_all``), decided as :meth:`take` is."""
        [spent] = await self._spends.call([row])
        return spent

    async def _take_rows(self, _key: Hashable, rows: list[tuple[Any, ...]]) -> list[bool]:
        return await self._decide(_SQL_TAKE_ALL, rows)

    async def _spend_rows(self, _key: Hashable, rows: list[tuple[Any, ...]]) -> list[bool]:
        return await self._decide(_SQL_TRY_SPEND_ALL, rows)

    async def _decide(self, query: str, rows: list[tuple[Any, ...]]) -> list[bool]:
        async with self.connection() as conn:
            answers = await conn.fetch(query, *(list(column) for column in zip(*rows, strict=True)))
        return [bool(a[0]) for a in answers]


class PoolHold:
    """One object's hold on a shared :class:`PgPool`: taken once however often ``start`` is called, released
    once however often ``close`` is."""

    __slots__ = ("_held", "_pool")

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool
        self._held = False

    async def take(self) -> None:
        if not self._held:
            await self._pool.open()
            self._held = True

    async def release(self) -> None:
        if self._held:
            self._held = False
            await self._pool.close()


class _Sweeps:
    """When an object last swept its expired rows (by the callers' clock)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = float("-inf")

    def due(self, now: float) -> bool:
        if self._last <= now < self._last + SWEEP_INTERVAL_S:
            return False
        self._last = now
        return True


_SQL_TAKE_ALL = "SELECT g FROM confide_take_all($1, $2, $3, $4, $5, $6, $7, $8) WITH ORDINALITY AS r (g, n) ORDER BY n"
# Columns, one row per take: scope, key, tokens of a new bucket after this take, now, whether a new bucket grants
# it, cost, burst, rate.

_SQL_SWEEP_BUCKETS = "DELETE FROM limit_buckets WHERE scope = $1 AND at <= $2"


class PgRateLimiter:
    """:class:`~confide.server.ratelimit.RateLimiter` shared by every process on one database: ``rate`` events
    per second sustained, bursts of ``burst`` (at least 1), per key; ``rate == 0`` disables it.

    ``scope`` names the limiter (``"ip"``, ``"device"``, ...): objects with the same scope on the same database
    share their buckets, which is how several processes count together. Each take is one statement that refills
    and spends under the row's lock. A clock running behind another process's never refills a bucket
    backwards: time only moves forward per bucket.
    """

    def __init__(self, pool: PgPool, scope: str, rate: float, burst: float) -> None:
        self._pool = pool
        self._scope = scope
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._hold = PoolHold(pool)
        self._sweeps = _Sweeps()

    async def start(self) -> None:
        """Open the shared pool (a disabled limiter opens nothing). Idempotent.

        Raises:
            Unavailable: PostgreSQL cannot be reached.
        """
        if self._rate > 0:
            await self._hold.take()

    async def close(self) -> None:
        """Release the shared pool (idempotent)."""
        await self._hold.release()

    async def take(self, key: str, now: float, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket.

        Raises:
            RateLimited: the bucket does not hold ``cost`` tokens.
            Unavailable: the database cannot answer right now.
        """
        if self._rate <= 0:
            return
        fresh_grants = self._burst >= cost
        fresh_tokens = self._burst - cost if fresh_grants else self._burst
        granted = await self._pool.take(
            (self._scope, key, fresh_tokens, now, fresh_grants, cost, self._burst, self._rate)
        )
        if self._sweeps.due(now):
            # A bucket untouched for burst / rate seconds is full again: the same as no row.
            await self._pool.execute(_SQL_SWEEP_BUCKETS, self._scope, now - self._burst / self._rate)
        if not granted:
            raise RateLimited(_LIMITED)


_SQL_BUDGET_USED = "SELECT used, since FROM limit_budgets WHERE scope = $1 AND key = $2"

_SQL_TRY_SPEND_ALL = (
    "SELECT g FROM confide_try_spend_all($1, $2, $3, $4, $5, $6) WITH ORDINALITY AS r (g, n) ORDER BY n"
)
# Columns, one row per spend: scope, key, amount, now, window, limit.

_SQL_SPEND = """
INSERT INTO limit_budgets AS b (scope, key, used, since) VALUES ($1, $2, $3, $4)
ON CONFLICT (scope, key) DO UPDATE SET
    used = CASE WHEN $4 - b.since >= $5 THEN $3 ELSE b.used + $3 END,
    since = CASE WHEN $4 - b.since >= $5 THEN $4 ELSE b.since END
"""

_SQL_SWEEP_BUDGETS = "DELETE FROM limit_budgets WHERE scope = $1 AND since <= $2"


class PgBudget:
    """:class:`~confide.server.ratelimit.Budget` shared by every process on one database: ``per_window`` units
    per key, renewed every ``window_s`` seconds (default :data:`~confide.server.limits.BUDGET_WINDOW_S`).

    ``scope`` names the budget (``"bundle"``, ``"token-bytes"``, ...), as :class:`PgRateLimiter`'s does.
    :meth:`try_spend` checks and spends in one statement under the row's lock, so concurrent callers in every
    process together never spend more than ``per_window``.
    """

    def __init__(self, pool: PgPool, scope: str, per_window: int, window_s: float = BUDGET_WINDOW_S) -> None:
        self._pool = pool
        self._scope = scope
        self._limit = per_window
        self._window = window_s
        self._hold = PoolHold(pool)
        self._sweeps = _Sweeps()

    async def start(self) -> None:
        """Open the shared pool. Idempotent.

        Raises:
            Unavailable: PostgreSQL cannot be reached.
        """
        await self._hold.take()

    async def close(self) -> None:
        """Release the shared pool (idempotent)."""
        await self._hold.release()

    async def available(self, key: bytes, now: float) -> bool:
        """True while ``key`` has budget left in its current window. Raises :class:`Unavailable` when the
        database cannot answer."""
        row = await self._pool.fetchrow(_SQL_BUDGET_USED, self._scope, key)
        return row is None or now - row["since"] >= self._window or row["used"] < self._limit

    async def try_spend(self, key: bytes, now: float, amount: int) -> bool:
        """Spend ``amount`` units of ``key``'s budget if all of them are left, and say so; else spend nothing.

        Raises:
            Unavailable: the database cannot answer right now (nothing was spent, or all of it).
        """
        if amount <= 0:
            return True
        if amount > self._limit:
            return False
        spent = await self._pool.try_spend((self._scope, key, amount, now, self._window, self._limit))
        await self._sweep(now)
        return spent

    async def spend(self, key: bytes, now: float, amount: int) -> None:
        """Record ``amount`` units spent by ``key`` (a non-positive amount records nothing).

        Raises:
            Unavailable: the database cannot answer right now.
        """
        if amount <= 0:
            return
        await self._pool.execute(_SQL_SPEND, self._scope, key, amount, now, self._window)
        await self._sweep(now)

    async def _sweep(self, now: float) -> None:
        if self._sweeps.due(now):
            # A window that ended is the same as no row.
            await self._pool.execute(_SQL_SWEEP_BUDGETS, self._scope, now - self._window)


_SQL_REMEMBER = "SELECT confide_remember_nonce($1, $2, $3, $4, $5::bytea[], $6, $7, $8)"
_SQL_SWEEP_NONCES = "DELETE FROM replay_nonces WHERE expires <= $1"
_SQL_SWEEP_DEVICES = "DELETE FROM replay_devices WHERE last_seen <= $1"


class PgReplayCache:
    """:class:`~confide.server.replay.ReplayCache` shared by every process on one database: per device, the
    nonces of its verified requests, each until ``memory_s`` after it was first seen, at most ``per_device``
    live ones, above the floor the device had in the store when the cache first saw it.

    A unique key on (device, nonce) and the device's row lock make one nonce acceptable once, whichever
    processes it reaches. A device whose last request is ``memory_s`` old holds no live nonce and is forgotten
    by the sweep; it comes back with the floor its store row holds then, as a device the in-process cache
    forgot (:class:`~confide.server.inprocess.NonceCache`). Rows live at most ``memory_s``, so the tables hold
    at most the signed requests of the last ten minutes.
    """

    def __init__(self, pool: PgPool, per_device: int = MAX_NONCES_PER_DEVICE, memory_s: float = NONCE_MEMORY_S) -> None:
        self._pool = pool
        self._per_device = per_device
        self._memory = memory_s
        self._hold = PoolHold(pool)
        self._sweeps = _Sweeps()

    async def start(self) -> None:
        """Open the shared pool. Idempotent.

        Raises:
            Unavailable: PostgreSQL cannot be reached.
        """
        await self._hold.take()

    async def close(self) -> None:
        """Release the shared pool (idempotent)."""
        await self._hold.release()

    async def remember(
        self, device_id: bytes, nonce: bytes, stamp: int, floor: int, floor_nonces: bytes, now: float
    ) -> None:
        """Remember ``nonce`` of ``device_id``'s proof stamped ``stamp``.

        Raises:
            Unauthorized: a replay (``nonce`` seen within the window by any process, ``stamp`` below the floor,
                or at the floor with one of ``floor_nonces``).
            RateLimited: this device's share is full of live nonces; nothing was recorded.
            Unavailable: the database cannot answer right now.
        """
        at_floor = [floor_nonces[i : i + NONCE_LEN] for i in range(0, len(floor_nonces), NONCE_LEN)]
        outcome = await self._pool.fetchval(
            _SQL_REMEMBER, device_id, nonce, stamp, floor, at_floor, now, self._memory, self._per_device
        )
        if self._sweeps.due(now):
            async with self._pool.connection() as conn:
                await conn.execute(_SQL_SWEEP_NONCES, now)
                await conn.execute(_SQL_SWEEP_DEVICES, now - self._memory)
        if outcome == _REPLAY:
            raise Unauthorized(_REPLAYED)
        if outcome == _FULL:
            raise RateLimited(_DEVICE_FULL)
