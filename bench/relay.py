"""Relay benchmark: throughput, delivery latency, backlog drain and memory, on loopback.

The relay runs in a separate process (``python -m confide.server``); this process is the load generator.
In the same run a bare aiohttp handler (read the body, answer JSON) is measured the same way, as the
ceiling. Usage::

    .venv/bin/python bench/relay.py [--quick] [--json]
    .venv/bin/python bench/relay.py --db postgresql://... --bus nats://... --processes 2 [--quick] [--json]
    .venv/bin/python bench/relay.py --compare [--quick] [--json]

``--db`` / ``--bus`` / ``--processes`` measure one networked configuration (issue 14): throughput with the
senders spread over the processes' ports, delivery latency from a sender on the first process to a socket on
the last, and on PostgreSQL the last process's memory per idle WebSocket (one device each, so with NATS each
brings its subscription). ``--compare`` measures SQLite (1 process), PostgreSQL (1 process) and PostgreSQL +
NATS (2 processes) side by side in one run; the PostgreSQL columns are skipped, saying why, when the services
do not answer. Each PostgreSQL configuration gets a fresh database (``confide_bench_`` + random hex) on the
server ``--db`` names, dropped afterwards.

Loopback only; every loop is bounded by a duration or a count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from harness import (
    Stopwatch,
    add_common_flags,
    bench_parser,
    median,
    percentile,
    print_fields,
    print_json,
    print_result,
    rss_mib,
)

from confide.keys import DeviceKeyPair, IdentityKeyPair, KemPreKeyRecord, SignedPreKeyRecord
from confide.protocol.auth import sign_request
from confide.protocol.envelope import Delivery, delivery_token_hash, encode_batch

SENDERS = 16
"""Concurrent senders, as in the issue's comparison with Synapse (``--senders`` changes it for one run)."""
MAX_SENDERS = 512
"""Most ``--senders``: each holds a keep-alive connection to a relay, within the file descriptors the generator
raises its limit to."""
CIPHERTEXT_LEN = 200
"""Envelope payload size from the issue."""
BATCH = 64
"""Envelopes per batch request in the batched measurement."""
DRAIN_COUNT = 5000
"""Backlog drained in the drain measurement."""
IDLE_SOCKETS = 1000
"""Idle WebSockets held open for the memory-per-connection measurement."""
NETWORKED_IDLE_SOCKETS = 500
"""Idle WebSockets, each of its own device, held on the last process of a networked configuration. Registering
and opening one costs a relay on PostgreSQL about 5 ms of CPU (measured here), so 500 keep the phase to about five
seconds, while their growth (about 12 MiB) stays far above the page-sized steps of the resident-set reading."""
WARM_UP_SOCKETS = 200
"""Idle sockets opened before the networked memory reading and left out of it: the first sockets reuse heap the
earlier phases freed (measured here with 1,000 one-device sockets: the first hundred added 2-5 KiB each, each
hundred from the third on 20-29 KiB), so without them the figure would average that free memory in."""
WARM_UP_DEVICES = 2
"""Devices the warm-up sockets belong to: few, since registering costs the relay more CPU than a socket does."""
IDLE_DEVICES = 10
"""Devices the default run's idle sockets belong to (100 each): its figure is the cost of a socket alone, without
what each connected device adds (a NATS subscription on the networked relay)."""
REGISTER_CONCURRENCY = 100
"""Registrations (and socket openings) in flight at once while the idle sockets are set up: enough to keep the
set-up to a few seconds, few enough to stay within the relay's connection limits and the client's pool."""
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
"""The PostgreSQL server ``--compare`` uses unless ``--db`` names another (trust auth on the test machine); the
benchmark connects to this database only to create and drop its own."""
DEFAULT_BUS = "nats://127.0.0.1:4222"
"""The NATS server ``--compare`` uses unless ``--bus`` names another."""
SERVICE_TIMEOUT_S = 2.0
"""How long a service may take to answer before its columns are skipped: loopback answers in milliseconds."""
RELAY_START_S = 30.0
"""How long a relay process may take to answer its health check (the first one migrates a fresh database)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _ceiling_server(port: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"envelope_id": "00" * 16, "expires_at_ms": 0}, status=201)

    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=None, preexec_fn=_raise_nofile)


RELAY_FLAGS = [
    "--rate",
    "0",
    "--bundle-rate",
    "0",
    # All traffic goes to one device under one token: the per-device, per-recipient and per-token
    # limits (issue 9) exist to stop exactly that, so the throughput measurement turns them off.
    "--device-rate",
    "0",
    "--recipient-rate",
    "0",
    "--token-rate",
    "0",
    # Likewise the daily byte budgets and the registration work (issue 9, point 5): the benchmark's
    # devices are throw-away and its traffic is one flood; the disk-full guards stay on.
    "--token-bytes-per-day",
    str(1 << 50),
    "--address-bytes-per-day",
    str(1 << 50),
    "--registration-work",
    "0",
    "--sweep-interval",
    "0",
    "--mailbox-quota",
    "10000000",
    "--max-sockets-per-device",
    "1000",
    "--max-connections",
    "5000",
]
"""The relay's flags in every measurement (the same as the default run's)."""


async def _wait_up(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(400):
        try:
            async with session.get(url) as resp:
                await resp.read()
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start")


class Device:
    def __init__(self) -> None:
        self.identity = IdentityKeyPair.generate(os.urandom)
        self.device = DeviceKeyPair.generate(self.identity, os.urandom)
        self.token = os.urandom(32)
        self.prefix = self.device.device_id + self.token + struct.pack(">I", 0) + struct.pack(">I", CIPHERTEXT_LEN)

    def envelope(self) -> tuple[bytes, bytes]:
        """(envelope id, envelope bytes) with a 200-byte ciphertext."""
        eid = os.urandom(16)
        return eid, b"\x01" + eid + self.prefix + os.urandom(CIPHERTEXT_LEN)

    def headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        return sign_request(
            self.device, method, path, hashlib.sha256(body).hexdigest(), now=int(time.time()), nonce=os.urandom(16)
        )

    async def register(self, session: aiohttp.ClientSession, base: str) -> None:
        now = int(time.time())
        spk = SignedPreKeyRecord.generate(self.identity, 1, os.urandom, now)
        kem = KemPreKeyRecord.generate(self.identity, 1, os.urandom, now, last_resort=True)
        import base64

        def b64(b: bytes) -> str:
            return base64.b64encode(b).decode()

        body = json.dumps(
            {
                "identity": b64(self.identity.public.to_bytes()),
                "device": b64(self.device.certificate.to_bytes()),
                "delivery_token_hashes": [b64(delivery_token_hash(self.token))],
                "signed_prekey": b64(spk.public.to_bytes()),
                "kem_last_resort": b64(kem.public.to_bytes()),
            }
        ).encode()
        headers = {**self.headers("POST", "/v1/accounts", body), "Content-Type": "application/json"}
        async with session.post(base + "/v1/accounts", data=body, headers=headers) as resp:
            if resp.status not in (200, 201):
                raise RuntimeError(f"registration failed: {resp.status} {await resp.text()}")

    async def ws(self, session: aiohttp.ClientSession, base: str) -> aiohttp.ClientWebSocketResponse:
        return await session.ws_connect(base + "/v1/ws", headers=self.headers("GET", "/v1/ws"), heartbeat=None)


_OCTET = {"Content-Type": "application/octet-stream"}


class _RawHttp:
    """A minimal keep-alive HTTP/1.1 client (one request at a time per connection). aiohttp's client costs
    more CPU per request than the servers measured here, so on a small machine it, not the server, would
    set the pace; this one is cheap enough to measure the servers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._r, self._w, self._host = reader, writer, host

    @classmethod
    async def connect(cls, host: str, port: int) -> _RawHttp:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def post(self, path: str, body: bytes, *, close: bool = False) -> int:
        extra = "Connection: close\r\n" if close else ""
        self._w.write(
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/octet-stream\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self._r.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self._r.readexactly(length)
        return status

    def close(self) -> None:
        self._w.close()


async def _fresh_rate(port: int, path: str, make_body: Any, duration: float) -> float:
    """Envelopes per second with SENDERS concurrent senders that each open a new connection per request and
    close it after the answer, as the client library sends sealed envelopes (issue 9: no connection links a
    sealed send to anything else), after a short warm-up."""
    count = 0
    measuring = False
    stop_at = 0.0

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            conn = await _RawHttp.connect("127.0.0.1", port)
            try:
                status = await conn.post(path, make_body(), close=True)
            finally:
                conn.close()
            if status not in (200, 201):
                raise RuntimeError(f"unexpected status {status}")
            if measuring:
                count += 1

    stop_at = time.perf_counter() + 0.5
    await asyncio.gather(*[worker() for _ in range(SENDERS)])
    measuring = True
    with Stopwatch() as clock:
        stop_at = clock.start + duration
        await asyncio.gather(*[worker() for _ in range(SENDERS)])
    return count / clock.seconds


async def _rate(port: int | Sequence[int], path: str, make_body: Any, per_request: int, duration: float) -> float:
    """Items per second with SENDERS concurrent keep-alive connections, after a short warm-up; with several
    ports the connections are dealt over them in turn."""
    ports = [port] if isinstance(port, int) else list(port)
    conns = [await _RawHttp.connect("127.0.0.1", ports[k % len(ports)]) for k in range(SENDERS)]
    count = 0
    measuring = False
    stop_at = 0.0

    async def worker(conn: _RawHttp) -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            status = await conn.post(path, make_body())
            if status not in (200, 201):
                raise RuntimeError(f"unexpected status {status}")
            if measuring:
                count += per_request

    try:
        stop_at = time.perf_counter() + 0.5
        await asyncio.gather(*[worker(c) for c in conns])
        measuring = True
        with Stopwatch() as clock:
            stop_at = clock.start + duration
            await asyncio.gather(*[worker(c) for c in conns])
        return count / clock.seconds
    finally:
        for c in conns:
            c.close()


async def _latency(
    session: aiohttp.ClientSession,
    base: str,
    port: int,
    rate: float,
    duration: float,
    *,
    missing: list[int] | None = None,
    wait_s: float = 30.0,
) -> list[float]:
    """Send at ``rate`` envelopes/s to a connected device; return send→socket latencies in ms.

    Raises RuntimeError when a delivery has not reached the socket ``wait_s`` after the last send, unless
    ``missing`` is given: then the count of those is appended to it and the latencies of the rest returned."""
    dev = Device()
    await dev.register(session, base)
    ws = await dev.ws(session, base)
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    total = int(rate * duration)
    done = asyncio.Event()

    async def receiver() -> None:
        pending_acks: list[str] = []
        while len(latencies) < total:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            now = time.perf_counter()
            d = Delivery.from_bytes(msg.data)
            latencies.append((now - sent[d.envelope_id]) * 1000)
            pending_acks.append(d.envelope_id.hex())
            if len(pending_acks) >= 100:
                await ws.send_str(json.dumps({"ack": pending_acks}))
                pending_acks = []
        done.set()

    recv = asyncio.create_task(receiver())
    interval = SENDERS / rate
    start = time.perf_counter()

    conns = [await _RawHttp.connect("127.0.0.1", port) for _ in range(SENDERS)]

    async def sender(k: int) -> None:
        conn = conns[k]
        i = 0
        while True:
            n = k + i * SENDERS
            if n >= total:
                return
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            eid, body = dev.envelope()
            sent[eid] = time.perf_counter()
            if await conn.post("/v1/messages", body) != 201:
                raise RuntimeError("send failed")
            i += 1

    assert interval > 0
    await asyncio.gather(*[sender(k) for k in range(SENDERS)])
    for conn in conns:
        conn.close()
    await asyncio.wait({recv}, timeout=wait_s)
    if not done.is_set() and missing is not None:
        missing.append(total - len(latencies))
    elif not done.is_set():
        raise RuntimeError(f"delivery incomplete: {len(latencies)} of {total}") from (
            recv.exception() if recv.done() else None
        )
    recv.cancel()
    await ws.close()
    return latencies


async def _drain(session: aiohttp.ClientSession, base: str) -> float:
    dev = Device()
    await dev.register(session, base)
    for i in range(0, DRAIN_COUNT, 250):
        body = encode_batch([dev.envelope()[1] for _ in range(min(250, DRAIN_COUNT - i))])
        async with session.post(base + "/v1/messages/batch", data=body, headers=_OCTET) as resp:
            assert resp.status == 200, await resp.text()
    with Stopwatch() as clock:
        ws = await dev.ws(session, base)
        got = 0
        acks: list[str] = []
        while got < DRAIN_COUNT:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise RuntimeError("socket closed during drain")
            got += 1
            acks.append(msg.data[1:17].hex())
            if len(acks) >= 500:
                await ws.send_str(json.dumps({"ack": acks}))
                acks = []
    await ws.close()
    return DRAIN_COUNT / clock.seconds


async def _register_all(session: aiohttp.ClientSession, base: str, count: int) -> list[Device]:
    """``count`` new devices registered at ``base``, REGISTER_CONCURRENCY at a time.

    Raises RuntimeError when a registration is refused."""
    owners = [Device() for _ in range(count)]
    for start in range(0, count, REGISTER_CONCURRENCY):
        await asyncio.gather(*[d.register(session, base) for d in owners[start : start + REGISTER_CONCURRENCY]])
    return owners


async def _open_all(
    session: aiohttp.ClientSession, base: str, owners: Sequence[Device], per_device: int
) -> list[aiohttp.ClientWebSocketResponse]:
    """``per_device`` WebSockets for each of ``owners``, about REGISTER_CONCURRENCY opening at a time.

    Raises aiohttp's errors when the relay refuses a socket."""
    step = max(1, REGISTER_CONCURRENCY // per_device)
    opened: list[aiohttp.ClientWebSocketResponse] = []
    for start in range(0, len(owners), step):
        group = owners[start : start + step]
        opened += await asyncio.gather(*[d.ws(session, base) for d in group for _ in range(per_device)])
    return opened


class _IdleReading(NamedTuple):
    """What holding idle sockets cost one relay process."""

    before_mib: float
    """Its resident memory before the measured sockets opened."""
    kib_per_socket: float
    """What it grew by, per measured socket, a second after the last opened."""
    cpu_ms_per_open: float
    """Its CPU (user + system) per measured socket while they opened: the proof's check, the backlog read, and
    with NATS the device's subscription."""
    postgres_cpu_ms_per_open: float
    """PostgreSQL's CPU per measured socket meanwhile (a lower bound; 0 without PostgreSQL)."""


async def _idle_sockets(
    session: aiohttp.ClientSession,
    base: str,
    pid: int,
    sockets: int = IDLE_SOCKETS,
    devices: int = IDLE_DEVICES,
    warm_up: int = 0,
) -> _IdleReading:
    """What ``sockets`` idle WebSockets dealt evenly over ``devices`` newly registered devices cost relay ``pid``.
    ``warm_up`` sockets (on WARM_UP_DEVICES devices of their own) are opened first and held until the end, outside
    the figures.

    Raises RuntimeError when a registration is refused, and aiohttp's errors when a socket is."""
    owners = await _register_all(session, base, devices)
    held: list[aiohttp.ClientWebSocketResponse] = []
    try:
        if warm_up:
            warm = await _register_all(session, base, WARM_UP_DEVICES)
            held += await _open_all(session, base, warm, warm_up // WARM_UP_DEVICES)
        await asyncio.sleep(0.5)
        before = rss_mib(pid)
        cpu_before, postgres_before = _cpu_of_pid(pid), _cpu_of_named(["postgres"])
        opened = await _open_all(session, base, owners, sockets // devices)
        cpu, postgres = _cpu_of_pid(pid) - cpu_before, max(0.0, _cpu_of_named(["postgres"]) - postgres_before)
        held += opened
        await asyncio.sleep(1.0)
        after = rss_mib(pid)
    finally:
        for ws in held:
            await ws.close()
    n = len(opened)
    return _IdleReading(before, (after - before) * 1024 / n, cpu * 1000 / n, postgres * 1000 / n)


async def run(quick: bool) -> dict[str, Any]:
    _raise_nofile()
    duration = 3.0 if quick else 10.0
    relay_port, ceiling_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        relay = _spawn(
            ["-m", "confide.server", "--port", str(relay_port), "--data", str(Path(tmp) / "data"), *RELAY_FLAGS]
        )
        ceiling = _spawn([__file__, "--ceiling-server", str(ceiling_port)])
        try:
            connector = aiohttp.TCPConnector(limit=2 * IDLE_SOCKETS + 100)
            async with aiohttp.ClientSession(connector=connector) as session:
                base, cbase = f"http://127.0.0.1:{relay_port}", f"http://127.0.0.1:{ceiling_port}"
                await _wait_up(session, base + "/v1/health")
                await _wait_up(session, cbase + "/")
                await asyncio.sleep(0.5)
                rss_start = rss_mib(relay.pid)

                sender_target = Device()
                await sender_target.register(session, base)
                ceiling_rps = await _rate(
                    ceiling_port, "/v1/messages", lambda: sender_target.envelope()[1], 1, duration
                )
                single = await _rate(relay_port, "/v1/messages", lambda: sender_target.envelope()[1], 1, duration)
                fresh = await _fresh_rate(relay_port, "/v1/messages", lambda: sender_target.envelope()[1], duration)
                batched = await _rate(
                    relay_port,
                    "/v1/messages/batch",
                    lambda: encode_batch([sender_target.envelope()[1] for _ in range(BATCH)]),
                    BATCH,
                    duration,
                )
                lat = await _latency(session, base, relay_port, single / 2, duration)
                drain = await _drain(session, base)
                idle = await _idle_sockets(session, base, relay.pid)
        finally:
            for proc in (relay, ceiling):
                proc.terminate()
                proc.wait(timeout=15)
    return {
        "quick": quick,
        "senders": SENDERS,
        "ciphertext_bytes": CIPHERTEXT_LEN,
        "ceiling_req_per_s": round(ceiling_rps),
        "envelopes_per_s": round(single),
        "ratio": round(single / ceiling_rps, 3),
        "envelopes_per_s_fresh_connections": round(fresh),
        "envelopes_batched_per_s": round(batched),
        "batch_size": BATCH,
        "delivery_rate_per_s": round(single / 2),
        "delivery_p50_ms": round(median(lat), 2),
        "delivery_p99_ms": round(percentile(lat, 0.99), 2),
        "drain_per_s": round(drain),
        "rss_start_mib": round(rss_start, 1),
        "rss_before_sockets_mib": round(idle.before_mib, 1),
        "kib_per_idle_socket": round(idle.kib_per_socket, 1),
        "idle_sockets": IDLE_SOCKETS,
    }


# -- the networked backend (issue 14): one or several relay processes on PostgreSQL (+ NATS) --------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of_pid(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, from /proc (Linux); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _cpu_of_named(names: Sequence[str]) -> float:
    """CPU seconds used so far by every process whose command name is one of ``names`` (PostgreSQL's backends,
    the NATS server): read only, to say where the cores went."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            total += _cpu_of_pid(int(entry.name))
    return total


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


class _CpuMeter:
    """Where the cores went during a ``with`` block: the relay processes, PostgreSQL, NATS, this load generator,
    and the machine's busy share (1.0 = every core busy all the time)."""

    def __init__(self, relay_pids: Sequence[int]) -> None:
        self._pids = list(relay_pids)
        self.shares: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        busy, total = _machine_busy()
        return {
            "relays": sum(_cpu_of_pid(p) for p in self._pids),
            "postgres": _cpu_of_named(["postgres"]),
            "nats": _cpu_of_named(["nats-server"]),
            "generator": usage.ru_utime + usage.ru_stime,
            "busy": busy,
            "total": total,
            "wall": time.perf_counter(),
        }

    def __enter__(self) -> _CpuMeter:
        self._start = self._read()
        return self

    def __exit__(self, *_: object) -> None:
        end = self._read()
        wall = end["wall"] - self._start["wall"]
        # A process that exits during the block takes its CPU time with it (another client's PostgreSQL
        # backend): these are lower bounds, never below zero.
        self.shares = {
            f"cpu_{k}_cores": round(max(0.0, end[k] - self._start[k]) / wall, 2)
            for k in ("relays", "postgres", "nats", "generator")
        }
        self.shares["machine_busy"] = round(
            (end["busy"] - self._start["busy"]) / (end["total"] - self._start["total"]), 2
        )


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _where(url: str) -> str:
    """``host:port`` of ``url``, never its user or password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@asynccontextmanager
async def _fresh_database(url: str) -> AsyncIterator[str]:
    """A new empty database on the server ``url`` names (``url``'s own database is only where the benchmark
    connects to create and drop it); dropped, with any connection left, after the block."""
    import asyncpg  # only the networked measurements need it

    admin = await asyncpg.connect(url, timeout=SERVICE_TIMEOUT_S)
    name = "confide_bench_" + os.urandom(8).hex()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(url, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _postgres_missing(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it answers."""
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=SERVICE_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL is not running at {_where(url)}: {type(exc).__name__} (.ci/run starts it)"
    await conn.close()
    return None


async def _nats_missing(url: str) -> str | None:
    """Why NATS at ``url`` cannot be used, or None when it greets (its first line is ``INFO {...}``)."""
    parts = urlsplit(url)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 4222), SERVICE_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        return f"NATS is not running at {_where(url)}: {type(exc).__name__} (.ci/run starts it)"
    try:
        line = await asyncio.wait_for(reader.readline(), SERVICE_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return f"NATS at {_where(url)} did not greet: {type(exc).__name__}"
    finally:
        writer.close()
    return None if line.startswith(b"INFO") else f"no NATS server at {_where(url)}"


async def _cluster(db: str | None, bus: str | None, processes: int, quick: bool) -> dict[str, Any]:
    """Throughput and cross-process delivery latency of ``processes`` relay processes on one configuration.

    Throughput: SENDERS keep-alive senders dealt over the processes' ports, each envelope to one of SENDERS
    recipient devices (distinct mailboxes, as distinct clients' traffic is; one mailbox would serialise every
    send on its lock). Latency: a sender on the first process, the recipient's socket on the last one, at half
    the measured rate; with one process both are on it. Memory (PostgreSQL only: SQLite's figure is the default
    run's): the last process's growth per idle WebSocket, NETWORKED_IDLE_SOCKETS of them, each of its own device
    (with NATS, each device's subscription included), after WARM_UP_SOCKETS that are left out, and the CPU the
    relay and PostgreSQL spent opening each. Connections: the most the relays held busy and open at once while
    sending and while the sockets were registered and opened (all processes together, sampled).

    Raises SystemExit for several processes without ``db``, and RuntimeError when a relay does not start or a
    send or registration is refused (pushes that never arrive are counted, not raised)."""
    if processes > 1 and db is None:
        raise SystemExit("bench/relay.py: several relay processes need --db (SQLite serves one process)")
    duration = 3.0 if quick else 10.0
    ports = [_free_port() for _ in range(processes)]
    async with contextlib.AsyncExitStack() as stack:
        dsn = await stack.enter_async_context(_fresh_database(db)) if db is not None else None
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        relays: list[subprocess.Popen[bytes]] = []
        try:
            connector = aiohttp.TCPConnector(limit=NETWORKED_IDLE_SOCKETS + WARM_UP_SOCKETS + 2 * REGISTER_CONCURRENCY)
            async with aiohttp.ClientSession(connector=connector) as session:
                for port in ports:  # one at a time: the first migrates a fresh database, the next find it done
                    args = ["-m", "confide.server", "--port", str(port), "--data", str(Path(tmp) / "data")]
                    if dsn is not None:
                        args += ["--db", dsn]
                    if bus is not None:
                        args += ["--bus", bus]
                    relays.append(_spawn([*args, *RELAY_FLAGS]))
                    await _wait_up(session, f"http://127.0.0.1:{port}/v1/health")
                await asyncio.sleep(0.5)
                targets = [Device() for _ in range(SENDERS)]
                for k, target in enumerate(targets):
                    await target.register(session, f"http://127.0.0.1:{ports[k % len(ports)]}")
                pick = iter(range(1 << 62))

                def body() -> bytes:
                    return targets[next(pick) % SENDERS].envelope()[1]

                pg: dict[str, float] = {}
                if dsn is not None:
                    await asyncio.sleep(STATS_SETTLE_S)
                    before = await _pg_reading(dsn)
                async with contextlib.AsyncExitStack() as sampling:
                    sending = await sampling.enter_async_context(_pg_connections(dsn)) if dsn is not None else {}
                    with _CpuMeter([r.pid for r in relays]) as cpu:
                        rate = await _rate(ports, "/v1/messages", body, 1, duration)
                if dsn is not None:
                    await asyncio.sleep(STATS_SETTLE_S)
                    after = await _pg_reading(dsn)
                    # Divided by every envelope sent in the phase, its warm-up included (0.5 s before the clock).
                    sent = rate * (duration + 0.5)
                    pg["pg_commits_per_envelope"] = round((after["commits"] - before["commits"]) / sent, 2)
                    pg["pg_wal_bytes_per_envelope"] = round((after["wal"] - before["wal"]) / sent)
                    pg["pg_envelopes_table_bytes_per_row"] = round(await _pg_table_bytes_per_envelope(dsn))
                    pg["pg_connections_busy_peak_sending"] = sending["busy"]
                    pg["pg_connections_open_peak_sending"] = sending["open"]
                # A push that never reaches the socket is counted, not fatal: the client's catch-up (a fetch on
                # reconnection) is what delivers it, and the count says how often live push missed.
                missing: list[int] = []
                lat = await _latency(
                    session,
                    f"http://127.0.0.1:{ports[-1]}",
                    ports[0],
                    rate / 2,
                    duration,
                    missing=missing,
                    wait_s=MISSING_WAIT_S,
                )
                # Memory per idle socket on the last process, one device per socket as in a network (every
                # connected device its own socket): with NATS each socket brings its device's subscription too.
                if dsn is not None:
                    async with _pg_connections(dsn) as opening:
                        idle = await _idle_sockets(
                            session,
                            f"http://127.0.0.1:{ports[-1]}",
                            relays[-1].pid,
                            NETWORKED_IDLE_SOCKETS,
                            NETWORKED_IDLE_SOCKETS,
                            WARM_UP_SOCKETS,
                        )
                    pg["rss_before_sockets_mib"] = round(idle.before_mib, 1)
                    pg["kib_per_idle_socket"] = round(idle.kib_per_socket, 1)
                    pg["relay_cpu_ms_per_socket_open"] = round(idle.cpu_ms_per_open, 2)
                    pg["pg_cpu_ms_per_socket_open"] = round(idle.postgres_cpu_ms_per_open, 2)
                    pg["pg_connections_busy_peak_sockets"] = opening["busy"]
                    pg["pg_connections_open_peak_sockets"] = opening["open"]
        finally:
            for relay in relays:
                relay.terminate()
            for relay in relays:
                relay.wait(timeout=15)
    return {
        "envelopes_per_s": round(rate),
        "delivery_rate_per_s": round(rate / 2),
        "delivery_p50_ms": round(median(lat), 2),
        "delivery_p99_ms": round(percentile(lat, 0.99), 2),
        "live_pushes_missed": sum(missing),
        **cpu.shares,
        **pg,
    }


MISSING_WAIT_S = 5.0
"""How long after the last send a delivery still counts as pushed rather than missed (p99 targets are tens of ms)."""
STATS_SETTLE_S = 1.2
"""PostgreSQL 15's backends publish their statistics at most once a second: wait that long before reading."""
CONNECTION_SAMPLE_S = 0.05
"""How often the relays' PostgreSQL connections are counted during a phase: 20 readings a second (each a fraction
of a millisecond of PostgreSQL's CPU, so the phase's CPU figures move by well under 1 %) catch the usual number
of statements running at once; the peak is a sample, a lower bound of the true one."""


@asynccontextmanager
async def _pg_connections(dsn: str) -> AsyncIterator[dict[str, int]]:
    """During the block, the most connections to the database ``dsn`` names seen ``busy`` (running a statement or
    inside a transaction: taken from a relay's pool) and ``open`` at once, every CONNECTION_SAMPLE_S, the sampler's
    own left out."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=SERVICE_TIMEOUT_S)
    peak = {"busy": 0, "open": 0}

    async def sample() -> None:
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) AS open, count(*) FILTER (WHERE state <> 'idle') AS busy FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert row is not None
            for k in peak:
                peak[k] = max(peak[k], int(row[k]))
            await asyncio.sleep(CONNECTION_SAMPLE_S)

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()


async def _pg_reading(dsn: str) -> dict[str, float]:
    """The database's commits and the server's WAL position (bytes), to divide by the envelopes of a phase."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=SERVICE_TIMEOUT_S)
    try:
        row = await conn.fetchrow(
            "SELECT xact_commit, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal"
            " FROM pg_stat_database WHERE datname = current_database()"
        )
        assert row is not None
        return {"commits": float(row["xact_commit"]), "wal": float(row["wal"])}
    finally:
        await conn.close()


async def _pg_table_bytes_per_envelope(dsn: str) -> float:
    """On-disk bytes (heap, TOAST, indexes) of the envelopes table per row in it."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=SERVICE_TIMEOUT_S)
    try:
        await conn.execute("ANALYZE envelopes")
        size = await conn.fetchval("SELECT pg_total_relation_size('envelopes')")
        rows = await conn.fetchval("SELECT count(*) FROM envelopes")
        return float(size) / max(1, int(rows))
    finally:
        await conn.close()


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def run_networked(db: str | None, bus: str | None, processes: int, quick: bool) -> dict[str, Any]:
    """One configuration (``--db`` / ``--bus`` / ``--processes``)."""
    _raise_nofile()
    result: dict[str, Any] = {"quick": quick, "processes": processes, "load_average_before": _load_average()}
    if db is not None:
        result["idle_sockets"] = NETWORKED_IDLE_SOCKETS
    result["backend"] = "sqlite" if db is None else ("postgres+nats" if bus else "postgres+inprocess")
    result.update(await _cluster(db, bus, processes, quick))
    return result


async def run_compare(db: str, bus: str, quick: bool) -> dict[str, Any]:
    """SQLite (1 process), PostgreSQL (1 process, in-process push) and PostgreSQL + NATS (2 processes) in one run."""
    _raise_nofile()
    result: dict[str, Any] = {
        "quick": quick,
        "senders": SENDERS,
        "ciphertext_bytes": CIPHERTEXT_LEN,
        "idle_sockets": NETWORKED_IDLE_SOCKETS,
        "nproc": os.cpu_count(),
        "load_average_before": _load_average(),
    }
    result["sqlite_1"] = await _cluster(None, None, 1, quick)
    missing = await _postgres_missing(db) or await _nats_missing(bus)
    if missing is not None:
        result["skipped"] = f"PostgreSQL columns skipped: {missing}"
        return result
    result["pg_1"] = await _cluster(db, None, 1, quick)
    result["pg_2"] = await _cluster(db, bus, 2, quick)
    result["pg2_over_pg1"] = round(result["pg_2"]["envelopes_per_s"] / result["pg_1"]["envelopes_per_s"], 2)
    result["load_average_after"] = _load_average()
    return result


def _print_compare(result: dict[str, Any]) -> None:
    head = {k: v for k, v in result.items() if not isinstance(v, dict)}
    print_fields(head)
    columns = [k for k in ("sqlite_1", "pg_1", "pg_2") if k in result]
    rows = list(dict.fromkeys(row for c in columns for row in result[c]))  # first seen first, every column's
    print()
    print(f"{'':<24}" + "".join(f"{c:>12}" for c in columns))
    for row in rows:
        print(f"{row:<24}" + "".join(f"{result[c].get(row, ''):>12}" for c in columns))


def main(argv: list[str] | None = None) -> int:
    global SENDERS  # one run's setting (--senders), read by every phase
    parser = bench_parser(__doc__)
    add_common_flags(parser, quick_help="3 s per phase instead of 10 s (under a minute)")
    parser.add_argument("--ceiling-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", metavar="URL", help="measure relays on PostgreSQL: a fresh database on this server")
    parser.add_argument("--bus", metavar="URL", help="push between the relay processes over this NATS server")
    parser.add_argument("--processes", type=int, default=1, help="relay processes (more than one needs --db)")
    parser.add_argument(
        "--compare",
        action="store_true",
        help=f"SQLite, PostgreSQL and PostgreSQL + NATS with 2 processes side by side "
        f"(--db default {DEFAULT_DB}, --bus default {DEFAULT_BUS})",
    )
    parser.add_argument(
        "--senders",
        type=int,
        default=SENDERS,
        help=f"concurrent senders (default {SENDERS}; more shows how grouping scales with load)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.senders <= MAX_SENDERS:
        parser.error(f"--senders must be between 1 and {MAX_SENDERS}")
    SENDERS = args.senders
    if args.ceiling_server:
        _ceiling_server(args.ceiling_server)
        return 0
    if args.bus and not args.db:
        parser.error("--bus needs --db: relay processes that share a bus must share a database")
    if args.compare:
        result = asyncio.run(run_compare(args.db or DEFAULT_DB, args.bus or DEFAULT_BUS, args.quick))
        if args.json:
            print_json(result)
        else:
            _print_compare(result)
        return 0
    if args.db or args.processes != 1:
        if args.processes > 1 and not args.bus:
            parser.error("--processes above 1 needs --bus: each process pushes only to its own sockets otherwise")
        result = asyncio.run(run_networked(args.db, args.bus, args.processes, args.quick))
    else:
        result = asyncio.run(run(args.quick))
    print_result(result, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
