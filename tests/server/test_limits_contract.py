"""One contract for the relay's counters, proved by both backends: the in-process ones (one relay process) and the
PostgreSQL ones (:mod:`confide.server.pg_limits`, several processes).

Every contract test runs against both (``inprocess`` and ``pg``); the PostgreSQL runs are skipped, with the
reason, when no server answers (see :mod:`.backend_services`). The cross-process tests are the attacks the
shared backend exists for: a client spreading its requests over relay processes to exceed a bucket or a budget,
and replaying a request to a second process (two processes numbering one mailbox at once is the store's:
``test_store_contract.py``). Each "process" is an
object on a connection pool of its own, as a relay process has.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from confide.server import embedded_backend
from confide.server.errors import MailboxFull, RateLimited, Unauthorized, Unavailable
from confide.server.inprocess import HourlyBudget, InProcessSequence, NonceCache, TokenBucketLimiter
from confide.server.pg_limits import SWEEP_INTERVAL_S, PgBudget, PgPool, PgRateLimiter, PgReplayCache
from confide.server.pg_reservations import PgReservations
from confide.server.ratelimit import Budget, RateLimiter
from confide.server.replay import ReplayCache

from .backend_services import fresh_database
from .conftest import RunningRelay, make_user, relay_config, run_relay, stop_relay

T0 = 1_700_000_000.0
"""The tests' clock: every call is given its time, so no test sleeps."""

STAMP = int(T0)

LIMITED = "too many requests from this connection; slow down and retry in a few seconds"
REPLAYED = "this request was already used (replay refused); sign each request afresh"
DEVICE_FULL = "this device is sending too many signed requests; retry in a minute"


@dataclass
class Kit:
    """Makes the counters of one backend; ``process`` picks the connection pool (the relay process) of a
    PostgreSQL object. Everything made is started, and closed at the end of the test."""

    backend: str
    dsn: str | None = None
    pools: dict[int, PgPool] = field(default_factory=dict)
    started: list[Any] = field(default_factory=list)

    def _pool(self, process: int) -> PgPool:
        assert self.dsn is not None
        return self.pools.setdefault(process, PgPool(self.dsn))

    async def _started(self, obj: Any) -> Any:
        await obj.start()
        self.started.append(obj)
        return obj

    async def limiter(self, rate: float, burst: float, *, scope: str = "ip", process: int = 0) -> RateLimiter:
        if self.backend == "inprocess":
            return TokenBucketLimiter(rate, burst)
        limiter: RateLimiter = await self._started(PgRateLimiter(self._pool(process), scope, rate, burst))
        return limiter

    async def budget(
        self, per_window: int, window_s: float = 3600.0, *, scope: str = "bundle", process: int = 0
    ) -> Budget:
        if self.backend == "inprocess":
            return HourlyBudget(per_window, window_s=window_s)
        budget: Budget = await self._started(PgBudget(self._pool(process), scope, per_window, window_s))
        return budget

    async def replay(self, per_device: int = 4000, memory_s: float = 600.0, *, process: int = 0) -> ReplayCache:
        if self.backend == "inprocess":
            return NonceCache(per_device, memory_s)
        cache: ReplayCache = await self._started(PgReplayCache(self._pool(process), per_device, memory_s))
        return cache

    async def reservations(self, *, process: int = 0) -> PgReservations:
        reservations: PgReservations = await self._started(PgReservations(self._pool(process)))
        return reservations

    async def close(self) -> None:
        for obj in reversed(self.started):
            await obj.close()

    async def sql(self, query: str, *args: Any) -> Any:
        """One value read directly from the test database."""
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


@pytest.fixture(params=["inprocess", "pg"])
async def kit(request: pytest.FixtureRequest) -> AsyncIterator[Kit]:
    if request.param == "inprocess":
        yield Kit("inprocess")
        return
    async with fresh_database() as dsn:
        made = Kit("pg", dsn)
        try:
            yield made
        finally:
            await made.close()


@pytest.fixture
async def pg() -> AsyncIterator[Kit]:
    """The PostgreSQL kit alone, for what only a shared backend can do."""
    async with fresh_database() as dsn:
        made = Kit("pg", dsn)
        try:
            yield made
        finally:
            await made.close()


def _device() -> bytes:
    return os.urandom(16)


def _nonce() -> bytes:
    return os.urandom(16)


async def _granted(limiter: RateLimiter, key: str, now: float, cost: float = 1.0) -> bool:
    try:
        await limiter.take(key, now, cost)
    except RateLimited as exc:
        refusal = exc.message
    else:
        return True
    assert refusal == LIMITED
    return False


# -- rate limiter -------------------------------------------------------------------------------------


async def test_a_bucket_grants_its_burst_then_refuses(kit: Kit) -> None:
    limiter = await kit.limiter(1.0, 3.0)
    assert [await _granted(limiter, "198.51.100.7", T0) for _ in range(5)] == [True, True, True, False, False]
    with pytest.raises(RateLimited) as refused:
        await limiter.take("198.51.100.7", T0)
    assert refused.value.message == LIMITED


async def test_a_bucket_refills_at_its_rate_up_to_its_burst(kit: Kit) -> None:
    limiter = await kit.limiter(2.0, 2.0)
    assert [await _granted(limiter, "k", T0) for _ in range(3)] == [True, True, False]
    assert [await _granted(limiter, "k", T0 + 0.5) for _ in range(2)] == [True, False]
    assert [await _granted(limiter, "k", T0 + 1000) for _ in range(3)] == [True, True, False]


async def test_a_refused_take_spends_nothing(kit: Kit) -> None:
    limiter = await kit.limiter(1.0, 2.0)
    assert not await _granted(limiter, "k", T0, cost=3.0)
    assert await _granted(limiter, "k", T0, cost=1.5)
    assert not await _granted(limiter, "k", T0, cost=1.0)
    assert await _granted(limiter, "k", T0, cost=0.5)
    assert not await _granted(limiter, "k", T0, cost=0.5)


async def test_each_key_has_its_own_bucket(kit: Kit) -> None:
    limiter = await kit.limiter(1.0, 1.0)
    assert await _granted(limiter, "a", T0)
    assert not await _granted(limiter, "a", T0)
    assert await _granted(limiter, "b", T0)


async def test_rate_zero_disables_the_limiter(kit: Kit) -> None:
    limiter = await kit.limiter(0.0, 0.0)
    assert all([await _granted(limiter, "k", T0) for _ in range(100)])


async def test_a_burst_below_one_is_one(kit: Kit) -> None:
    limiter = await kit.limiter(1.0, 0.25)
    assert [await _granted(limiter, "k", T0) for _ in range(2)] == [True, False]
    assert await _granted(limiter, "k", T0 + 1.0)


# -- budget -------------------------------------------------------------------------------------------


async def test_a_budget_spends_up_to_its_limit_in_one_window(kit: Kit) -> None:
    budget = await kit.budget(5, 3600.0)
    address = os.urandom(32)
    assert await budget.available(address, T0)
    assert await budget.try_spend(address, T0, 2)
    assert await budget.try_spend(address, T0 + 1, 2)
    assert not await budget.try_spend(address, T0 + 2, 2)
    assert await budget.available(address, T0 + 2)
    assert await budget.try_spend(address, T0 + 3, 1)
    assert not await budget.available(address, T0 + 3)
    assert not await budget.try_spend(address, T0 + 3599, 1)
    assert await budget.available(address, T0 + 3600)
    assert await budget.try_spend(address, T0 + 3600, 5)
    assert not await budget.try_spend(address, T0 + 3600, 1)


async def test_a_refused_spend_spends_nothing_and_a_non_positive_one_always_passes(kit: Kit) -> None:
    budget = await kit.budget(3)
    key = os.urandom(32)
    assert not await budget.try_spend(key, T0, 4)
    assert await budget.try_spend(key, T0, 0)
    assert await budget.try_spend(key, T0, -5)
    assert await budget.try_spend(key, T0, 3)
    assert await budget.try_spend(key, T0, 0)
    assert not await budget.try_spend(key, T0, 1)


async def test_spend_records_even_over_the_limit_and_never_a_non_positive_amount(kit: Kit) -> None:
    budget = await kit.budget(10, 60.0)
    key = os.urandom(32)
    await budget.spend(key, T0, 0)
    await budget.spend(key, T0, -3)
    assert await budget.try_spend(key, T0, 10)
    await budget.spend(key, T0, 7)
    assert not await budget.available(key, T0 + 59)
    assert await budget.available(key, T0 + 60)
    await budget.spend(key, T0 + 60, 9)
    assert await budget.available(key, T0 + 60)
    assert await budget.try_spend(key, T0 + 61, 1)
    assert not await budget.try_spend(key, T0 + 61, 1)


async def test_each_key_has_its_own_budget(kit: Kit) -> None:
    budget = await kit.budget(1)
    first, second = os.urandom(32), os.urandom(32)
    assert await budget.try_spend(first, T0, 1)
    assert not await budget.available(first, T0)
    assert await budget.available(second, T0)
    assert await budget.try_spend(second, T0, 1)


# -- replay cache -------------------------------------------------------------------------------------


async def test_a_nonce_is_accepted_once(kit: Kit) -> None:
    cache = await kit.replay()
    device, nonce = _device(), _nonce()
    await cache.remember(device, nonce, STAMP, 0, b"", T0)
    with pytest.raises(Unauthorized) as refused:
        await cache.remember(device, nonce, STAMP + 1, 0, b"", T0 + 1)
    assert refused.value.message == REPLAYED
    await cache.remember(_device(), nonce, STAMP, 0, b"", T0)  # another device's nonce is its own


async def test_the_stored_floor_refuses_what_came_before_a_restart(kit: Kit) -> None:
    """A device the cache does not hold: every proof stamped below its stored floor is refused, and at the floor
    each proof with one of the nonces stored with it; a new nonce at the floor, or a later stamp, passes."""
    cache = await kit.replay()
    device = _device()
    earlier = [_nonce() for _ in range(3)]
    with pytest.raises(Unauthorized):
        await cache.remember(device, _nonce(), STAMP - 1, STAMP, b"".join(earlier), T0)
    with pytest.raises(Unauthorized):
        await cache.remember(device, earlier[1], STAMP, STAMP, b"".join(earlier), T0)
    await cache.remember(device, _nonce(), STAMP, STAMP, b"".join(earlier), T0)
    await cache.remember(device, _nonce(), STAMP + 1, STAMP, b"".join(earlier), T0)
    with pytest.raises(Unauthorized):
        await cache.remember(device, earlier[2], STAMP, STAMP, b"".join(earlier), T0 + 1)


async def test_a_nonce_is_remembered_for_the_memory_window_only(kit: Kit) -> None:
    cache = await kit.replay(memory_s=600.0)
    device, nonce = _device(), _nonce()
    await cache.remember(device, nonce, STAMP, 0, b"", T0)
    with pytest.raises(Unauthorized):
        await cache.remember(device, nonce, STAMP, 0, b"", T0 + 599.5)
    # The proof's own time window (5 minutes) refuses it long before this; the cache may then forget it.
    await cache.remember(device, nonce, STAMP, 0, b"", T0 + 600)


async def test_a_full_share_refuses_the_device_alone_and_records_nothing(kit: Kit) -> None:
    cache = await kit.replay(per_device=2, memory_s=10.0)
    device, third = _device(), _nonce()
    await cache.remember(device, _nonce(), STAMP, 0, b"", T0)
    await cache.remember(device, _nonce(), STAMP, 0, b"", T0 + 5)
    with pytest.raises(RateLimited) as refused:
        await cache.remember(device, third, STAMP, 0, b"", T0 + 6)
    assert refused.value.message == DEVICE_FULL
    await cache.remember(_device(), _nonce(), STAMP, 0, b"", T0 + 6)  # others are unaffected
    # Once the first nonce expired there is room, and the refused nonce was never recorded: it passes now.
    await cache.remember(device, third, STAMP, 0, b"", T0 + 10)
    with pytest.raises(Unauthorized):
        await cache.remember(device, third, STAMP, 0, b"", T0 + 10)


# -- mailbox sequence (in process; PostgreSQL numbers in the store: test_store_contract.py) ----------------


async def test_numbers_continue_above_the_floor_in_increasing_ranges() -> None:
    sequence = InProcessSequence()
    await sequence.start(41)
    assert await sequence.reserve(3) == range(42, 45)
    assert await sequence.reserve(0) == range(45, 45)
    assert await sequence.reserve(1) == range(45, 46)
    await sequence.start(10)  # a lower floor never takes it back
    assert await sequence.reserve(2) == range(46, 48)
    await sequence.start(100)
    assert await sequence.reserve(1) == range(101, 102)


async def test_a_negative_count_is_refused_and_reserves_nothing() -> None:
    sequence = InProcessSequence()
    await sequence.start(0)
    with pytest.raises(ValueError, match="count must not be negative"):
        await sequence.reserve(-1)
    assert await sequence.reserve(1) == range(1, 2)


async def test_concurrent_reservations_never_overlap() -> None:
    sequence = InProcessSequence()
    await sequence.start(0)
    ranges = await asyncio.gather(*(sequence.reserve(n % 4 + 1) for n in range(60)))
    numbers = [n for r in ranges for n in r]
    assert sorted(numbers) == list(range(1, sum(n % 4 + 1 for n in range(60)) + 1))


# -- several processes: the attacks a shared backend exists for ----------------------------------------


async def test_a_client_spreading_requests_over_processes_gets_one_bucket(pg: Kit) -> None:
    first = await pg.limiter(0.001, 10.0, process=0)
    second = await pg.limiter(0.001, 10.0, process=1)
    outcomes = await asyncio.gather(*(_granted((first, second)[i % 2], "203.0.113.9", T0) for i in range(40)))
    assert outcomes.count(True) == 10
    assert not await _granted(first, "203.0.113.9", T0 + 1)
    assert not await _granted(second, "203.0.113.9", T0 + 1)
    other = await pg.limiter(0.001, 10.0, scope="bundle-ip", process=1)
    assert await _granted(other, "203.0.113.9", T0)  # another limiter's bucket for the same key is its own


async def test_a_budget_is_never_overspent_by_processes_together(pg: Kit) -> None:
    first = await pg.budget(10, process=0)
    second = await pg.budget(10, process=1)
    address = os.urandom(32)
    outcomes = await asyncio.gather(*((first, second)[i % 2].try_spend(address, T0, 2) for i in range(30)))
    assert outcomes.count(True) == 5
    assert not await first.available(address, T0)
    assert not await second.try_spend(address, T0, 1)


async def test_crosswise_decisions_in_shared_statements_never_deadlock(pg: Kit) -> None:
    """Concurrent takes and spends of one process share a statement (pg_batches). Two processes' statements
    holding the same two keys in opposite orders (k1 first and k2 last in one, k2 first and k1 last in the other,
    a long run of other keys between) would lock the two rows crosswise and deadlock, failing every request in
    both statements: rows are decided in key order, so none fails, and the counts stay exact."""
    budgets = [await pg.budget(1_000, scope="token-bytes", process=p) for p in (0, 1)]
    limiters = [await pg.limiter(0.001, 1_000.0, scope="token", process=p) for p in (0, 1)]
    k1, k2 = b"crossed-key-one", b"crossed-key-two"
    filler = [os.urandom(16) for _ in range(300)]

    def spends(p: int, first: bytes, last: bytes) -> list[Awaitable[bool]]:
        return [budgets[p].try_spend(key, T0, 1) for key in (first, *filler, last)]

    def takes(p: int, first: bytes, last: bytes) -> list[Awaitable[bool]]:
        return [_granted(limiters[p], key.hex(), T0) for key in (first, *filler, last)]

    # A first call per process starts a statement; the rows arriving meanwhile share the next one, in this order.
    warm = [budgets[0].try_spend(b"warm", T0, 1), budgets[1].try_spend(b"warm", T0, 1)]
    spent = await asyncio.gather(*warm, *spends(0, k1, k2), *spends(1, k2, k1))
    assert all(spent)
    warm = [_granted(limiters[0], "warm", T0), _granted(limiters[1], "warm", T0)]
    granted = await asyncio.gather(*warm, *takes(0, k1, k2), *takes(1, k2, k1))
    assert all(granted)
    # Each key was charged once per process: the crossed keys twice, the filler keys twice.
    for key in (k1, k2, filler[0], filler[-1]):
        assert await budgets[0].try_spend(key, T0, 998)
        assert not await budgets[1].try_spend(key, T0, 1)


async def test_an_upload_reservation_of_one_process_counts_in_another(pg: Kit) -> None:
    """Upload reservations are rows every process counts (server/pg_reservations.py): while process 0 holds one,
    process 1 cannot reserve past the device's quota; the relay-wide pending total counts both; a row left by a
    process that died stops counting after its time to live."""
    first, second = await pg.reservations(process=0), await pg.reservations(process=1)
    device, other = _device(), _device()
    async with first.hold(device, 600, 1000):
        with pytest.raises(MailboxFull):
            async with second.hold(device, 500, 1000):
                pass
        async with second.hold(device, 400, 1000), second.hold(other, 900, 1000):
            assert await first.pending() == await second.pending() == 600 + 400 + 900
    assert await first.pending() == 0
    await pg.sql(
        "INSERT INTO blobs (blob_id, device_id, size, expires_at_ms, path) VALUES ('b', $1, 700, 0, 'b')", device
    )
    with pytest.raises(MailboxFull):  # stored attachment bytes count too
        async with first.hold(device, 400, 1000):
            pass
    # A process died mid-upload: its row stays, and counts until its time to live (1 s here) has passed.
    await pg.sql(
        "INSERT INTO upload_reservations (id, device_id, amount, until_ms) VALUES ('dead', $1, 300, "
        "(extract(epoch FROM clock_timestamp()) * 1000)::bigint + 1000)",
        device,
    )
    with pytest.raises(MailboxFull):
        async with first.hold(device, 1, 1000):
            pass
    await asyncio.sleep(1.1)
    async with first.hold(device, 300, 1000):
        assert await first.pending() == 300


async def test_a_request_replayed_to_another_process_is_refused(pg: Kit) -> None:
    first = await pg.replay(process=0)
    second = await pg.replay(process=1)
    device, nonce = _device(), _nonce()
    await first.remember(device, nonce, STAMP, 0, b"", T0)
    with pytest.raises(Unauthorized):
        await second.remember(device, nonce, STAMP, 0, b"", T0)


async def test_one_nonce_sent_to_two_processes_at_once_is_accepted_once(pg: Kit) -> None:
    caches = [await pg.replay(process=0), await pg.replay(process=1)]
    for _ in range(10):
        device, nonce = _device(), _nonce()
        outcomes = await asyncio.gather(
            *(caches[i % 2].remember(device, nonce, STAMP, 0, b"", T0) for i in range(8)), return_exceptions=True
        )
        assert outcomes.count(None) == 1
        assert all(isinstance(o, Unauthorized) for o in outcomes if o is not None)


async def test_a_device_share_holds_across_processes(pg: Kit) -> None:
    caches = [await pg.replay(per_device=5, process=0), await pg.replay(per_device=5, process=1)]
    device = _device()
    outcomes = await asyncio.gather(
        *(caches[i % 2].remember(device, _nonce(), STAMP, 0, b"", T0) for i in range(20)), return_exceptions=True
    )
    assert outcomes.count(None) == 5
    assert all(isinstance(o, RateLimited) for o in outcomes if o is not None)


# -- two real relays on one database -------------------------------------------------------------------


@dataclass
class _Relays:
    first: RunningRelay
    second: RunningRelay


@contextlib.asynccontextmanager
async def _two_relays(tmp_path: Path, **parts: Any) -> AsyncIterator[_Relays]:
    """Two relays on loopback (two processes, as far as the counters can tell: each has its own pool), each on
    its own SQLite store, sharing only the counters that ``parts`` builds from a pool: ``name=factory(pool)``."""
    async with fresh_database() as dsn:
        running: list[RunningRelay] = []
        try:
            for name in ("a", "b"):
                config = relay_config(tmp_path / name)
                pool = PgPool(dsn)
                backend = dataclasses.replace(
                    embedded_backend(config), **{part: make(pool) for part, make in parts.items()}
                )
                running.append(await run_relay(config, backend=backend))
            yield _Relays(*running)
        finally:
            for relay in running:
                await stop_relay(relay)


async def test_a_signed_request_replayed_to_the_other_relay_process_is_refused(tmp_path: Path) -> None:
    async with _two_relays(tmp_path, replay=PgReplayCache) as relays:
        bob = make_user(n_otk=0, n_kem=0)
        for relay in (relays.first, relays.second):
            assert (await relay.api.register(bob))[0] == 201
        headers = relays.first.api.sign(bob.device, "GET", "/v1/prekeys")
        async with relays.first.api.session.get(relays.first.api.base + "/v1/prekeys", headers=headers) as resp:
            assert resp.status == 200
        async with relays.second.api.session.get(relays.second.api.base + "/v1/prekeys", headers=headers) as resp:
            assert (resp.status, await resp.json()) == (401, {"error": "unauthorized", "message": REPLAYED})


async def test_a_client_alternating_between_relay_processes_is_limited_once(tmp_path: Path) -> None:
    async with _two_relays(tmp_path, limiter=lambda pool: PgRateLimiter(pool, "ip", 0.001, 6.0)) as relays:
        statuses = []
        for i in range(10):
            api = (relays.first, relays.second)[i % 2].api
            async with api.session.get(api.base + "/v1/health") as resp:
                statuses.append(resp.status)
        assert statuses == [200] * 6 + [429] * 4


# -- PostgreSQL's own promises --------------------------------------------------------------------------


async def test_rows_of_quiet_keys_are_swept(pg: Kit) -> None:
    limiter = await pg.limiter(1.0, 5.0)
    budget = await pg.budget(3, 60.0)
    cache = await pg.replay(memory_s=30.0)
    await limiter.take("quiet", T0)
    await budget.spend(b"quiet", T0, 1)
    await cache.remember(b"quiet-device-id!", _nonce(), STAMP, 0, b"", T0)
    later = T0 + SWEEP_INTERVAL_S + 60.0  # past each row's life and the next sweep
    await limiter.take("busy", later)
    await budget.spend(b"busy", later, 1)
    await cache.remember(b"busy-device-id!!", _nonce(), STAMP, 0, b"", later)
    assert await pg.sql("SELECT array_agg(key) FROM limit_buckets") == ["busy"]
    assert await pg.sql("SELECT array_agg(key) FROM limit_budgets") == [b"busy"]
    assert await pg.sql("SELECT array_agg(device_id) FROM replay_devices") == [b"busy-device-id!!"]
    assert await pg.sql("SELECT count(*) FROM replay_nonces WHERE device_id = $1", b"quiet-device-id!") == 0


async def test_identifiers_never_reach_the_write_ahead_log(pg: Kit) -> None:
    """IPs, device ids and token hashes are keys of UNLOGGED tables, so PostgreSQL writes them to no WAL
    segment, standby or WAL archive (the mailbox numbers are the store's logged sequence, no identifier)."""
    await pg.limiter(1.0, 1.0)
    persistence = await pg.sql(
        "SELECT string_agg(relname || '=' || relpersistence::text, ',' ORDER BY relname) FROM pg_class "
        "WHERE relname IN ('limit_buckets', 'limit_budgets', 'replay_devices', 'replay_nonces')"
    )
    assert persistence == "limit_buckets=u,limit_budgets=u,replay_devices=u,replay_nonces=u"


async def test_objects_sharing_a_pool_start_and_close_independently(pg: Kit) -> None:
    """The app starts and closes every part once, but each may be started or closed twice: a part closed (even
    twice) never closes the pool under another that still uses it; the last one closes it."""
    assert pg.dsn is not None
    pool = PgPool(pg.dsn)
    limiter, budget = PgRateLimiter(pool, "ip", 1.0, 5.0), PgBudget(pool, "bundle", 3)
    await limiter.start()
    await limiter.start()
    await budget.start()
    await limiter.close()
    await limiter.close()
    assert await budget.try_spend(b"key", T0, 1)
    await budget.close()
    assert repr(pool) == "PgPool(open=False, users=0)"
    with pytest.raises(Unavailable):
        await budget.try_spend(b"key", T0, 1)


async def test_an_unreachable_database_is_answered_503() -> None:
    pool = PgPool("postgresql://confide@127.0.0.1:1/none")
    limiter = PgRateLimiter(pool, "ip", 1.0, 1.0)
    with pytest.raises(Unavailable) as refused:
        await limiter.start()
    assert refused.value.message == "the relay's shared limits are not reachable right now; retry in a few seconds"
    with pytest.raises(Unavailable):
        await PgReplayCache(pool).remember(_device(), _nonce(), STAMP, 0, b"", T0)
