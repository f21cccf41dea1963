"""The shared load harness: many client devices (``Client`` instances in one asyncio process) exchange numbered
messages through one relay process, go offline at random, and the relay may be SIGKILLed and restarted.

Everything is judged from what the *application* saw: each message body is ``"load <sender> <seq>"`` (the
sender's device index and its own sequence number, counted over everything it sends), and a receiving device
records the body of every :class:`~confide.client.MessageReceived` that ``events()`` yielded or ``sync()``
returned. :class:`Ledger` compares that with what each sender's ``send_text`` returned.

Public API (other reliability tests and ``bench/soak.py`` import it; keep it stable):

- :class:`RelayProcess` — ``python -m confide.server`` as a child process: :meth:`~RelayProcess.start`,
  :meth:`~RelayProcess.kill` (SIGKILL), :meth:`~RelayProcess.restart` (same port and data directory),
  :meth:`~RelayProcess.stop` (SIGTERM); ``url``, ``data_dir``.
- :class:`LoadPlan` — the size and the seeded schedule of a run (devices, messages, peers per device, offline
  periods, relay kills).
- :func:`run_load` — ``await run_load(plan, root, relay)`` runs a plan and returns a :class:`Tally`.
- :class:`Tally` — the figures of a run (sent, delivered, lost, duplicated, ...) and :meth:`Tally.as_dict`.
- :func:`body` / :func:`parse_body` / :func:`device_name` — the message body format and the devices' names.
- :func:`profiles_dir` — where to put the profiles (tmpfs when there is one: see its docstring for why).
- :class:`Device`, :class:`Ledger` — one device's application, and the book of what was sent and handed over
  (for scenarios of their own; :func:`run_load` composes them).

Only the schedule (who writes to whom, when a device goes offline, when the relay dies) comes from the seeded
RNG; keys and ids come from ``os.urandom`` as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from confide.client import (
    INSECURE_TEST_KDF,
    Client,
    MessageReceived,
    MessageStatus,
    MessageUndecryptable,
    RelayError,
    RelayUnreachable,
    SessionReset,
)

PASSPHRASE = "reliability harness passphrase"
"""Every device's passphrase (the key stores use :data:`INSECURE_TEST_KDF`: test profiles only)."""

STARTUP_TIMEOUT_S = 30.0
"""How long a relay child process may take to answer ``/v1/health`` (a cold start on a loaded 2-core machine
takes about a second; a restart after SIGKILL also recovers the WAL)."""

SEND_RETRY_WAIT_S = 0.2
"""Pause before a device tries again a send that raised (nothing was kept: the relay was down while the first
message to that contact needed the peer's keys)."""

SEND_GIVE_UP_S = 60.0
"""A send that keeps raising for this long fails the run: the relay was down for far longer than any plan asks."""

CREATE_CONCURRENCY = 8
"""Profiles created at once: each registers and uploads prekeys; more at once only queues on the 2 cores."""

RELAY_FLAGS = (
    "--rate",
    "0",
    "--bundle-rate",
    "0",
    "--device-rate",
    "0",
    "--recipient-rate",
    "0",
    "--token-rate",
    "0",
    "--registration-work",
    "0",
)
"""Limits off for the load relay: 50 devices on one loopback address would otherwise share one per-IP bucket
(the limits have their own tests in ``tests/server``); registration work off so that set-up is quick."""

_BODY_PREFIX = "load"


def body(sender: int, seq: int) -> str:
    """The text of message number ``seq`` (from 1) sent by device ``sender``."""
    return f"{_BODY_PREFIX} {sender} {seq}"


def parse_body(text: str) -> tuple[int, int]:
    """``(sender, seq)`` of a :func:`body`.

    Raises:
        ValueError: not a load message.
    """
    prefix, sender, seq = text.split(" ")
    if prefix != _BODY_PREFIX:
        raise ValueError("not a load message")
    return int(sender), int(seq)


def device_name(index: int) -> str:
    """Device ``index``'s profile name, also the contact name every peer gives it."""
    return f"d{index:03d}"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the relay as a child process ----------------------------------------------------------------------------


class RelayProcess:
    """``python -m confide.server`` on ``127.0.0.1:port`` with data in ``data_dir`` (limits off: :data:`RELAY_FLAGS`).

    ``sync_full`` passes ``--sync-full true``; ``extra`` adds flags; ``prefix`` runs it under another program
    (``strace ...``: then :meth:`kill` and :meth:`stop` signal the relay, the prefix program's child). Its output
    goes to ``<data_dir>-relay.log`` beside the data directory.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        sync_full: bool = False,
        extra: tuple[str, ...] = (),
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sync_full = sync_full
        self.extra = extra
        self.kills = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-relay.log"

    def _argv(self) -> list[str]:
        argv = [
            *self.prefix,
            sys.executable,
            "-m",
            "confide.server",
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
        ]
        argv += [*RELAY_FLAGS, "--sync-full", "true" if self.sync_full else "false", *self.extra]
        return argv

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIDE_")}
        with self.log.open("ab") as out:
            return subprocess.Popen(self._argv(), stdout=out, stderr=subprocess.STDOUT, env=env)

    async def start(self) -> None:
        """Start the process and wait until it answers its health check.

        Raises:
            RuntimeError: it exited or did not answer within :data:`STARTUP_TIMEOUT_S`.
        """
        self._proc = self._spawn()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with aiohttp.ClientSession() as session:
            while True:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"the relay exited with {self._proc.returncode}; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.url + "/v1/health") as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the relay did not come up in {STARTUP_TIMEOUT_S} s; see {self.log}")
                await asyncio.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def _relay_pid(self) -> int:
        """The relay's own pid: the process started, or under a ``prefix`` that process's child."""
        assert self._proc is not None
        if not self.prefix:
            return self._proc.pid
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children").read_text().split()
        return int(children[0])

    def kill(self) -> None:
        """SIGKILL the relay (no shutdown code runs) and reap it."""
        assert self._proc is not None
        assert self._proc.poll() is None
        os.kill(self._relay_pid(), signal.SIGKILL)
        self._proc.wait()
        self.kills += 1

    async def restart(self) -> None:
        """Start again on the same port and data directory (after :meth:`kill` or :meth:`stop`)."""
        await self.start()

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 15 s); nothing if it is not running."""
        if self._proc is None or self._proc.poll() is not None:
            return
        with contextlib.suppress(OSError, IndexError):
            os.kill(self._relay_pid(), signal.SIGTERM)
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


# -- what a run does and what it found -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """The size and seeded schedule of one run.

    ``devices`` profiles, each the contact of ``peers`` others (a ring lattice: device i and i±1..i±peers/2);
    ``messages`` texts in all, split evenly over the senders, each to a random contact. Each device goes
    offline (closes its ``Client``) ``offline_per_device`` times, at random points of its sending, for a random
    ``offline_s`` range of seconds, then reopens, ``sync()``s and listens again. ``kill_at`` lists fractions
    of ``messages`` (e.g. ``(0.4,)``): when that many sends have returned, the relay is SIGKILLed while every
    device keeps sending, pulling and acknowledging, and restarted ``down_s`` seconds later. ``settle_s``
    bounds the wait for everything to arrive at the end.
    """

    devices: int = 50
    messages: int = 5000
    peers: int = 4
    seed: int = 10
    offline_per_device: int = 2
    offline_s: tuple[float, float] = (0.2, 1.5)
    kill_at: tuple[float, ...] = ()
    down_s: float = 1.0
    settle_s: float = 60.0

    def __post_init__(self) -> None:
        if self.peers % 2 or not 2 <= self.peers < self.devices:
            raise ValueError("peers must be even, at least 2 and less than devices")
        if any(not 0 < f < 1 for f in self.kill_at):
            raise ValueError("kill_at fractions must lie strictly between 0 and 1 (sends must still be under way)")


@dataclass(frozen=True, slots=True)
class Tally:
    """The figures of a run, from what the applications saw.

    ``sent``: sends that returned a stored message; ``acknowledged``: of those, returned ``sent`` (the relay
    answered 201 before ``send_text`` returned); ``queued``: returned ``pending`` (the library had to retry);
    ``raised``: sends that raised and were tried again by the application (nothing had been kept);
    ``delivered``: distinct messages some receiver reported; ``lost``: sent, never reported to its recipient;
    ``duplicated``: extra reports of a message already reported; ``misdirected``: reports at a device the
    message was not sent to, or under another contact than its sender; ``reordered``: messages a receiver was
    handed after a later one from the same sender (order is still reconstructable from the numbers);
    ``unsettled``: sent messages whose final status at the sender is ``pending`` or ``failed``, plus envelopes
    still queued; ``undecryptable`` / ``resets``: :class:`MessageUndecryptable` / :class:`SessionReset` events.
    ``lost_acknowledged`` / ``lost_queued``: the lost messages among those returned ``sent`` / ``pending``;
    ``sends_in_flight_at_kills``: ``send_text`` calls under way at the moments the relay was SIGKILLed.
    """

    devices: int
    sent: int
    acknowledged: int
    queued: int
    raised: int
    delivered: int
    lost: int
    duplicated: int
    misdirected: int
    reordered: int
    unsettled: int
    lost_acknowledged: int
    lost_queued: int
    undecryptable: int
    resets: int
    offline_periods: int
    relay_kills: int
    sends_in_flight_at_kills: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        return asdict(self)


@dataclass
class Ledger:
    """What the senders were told and what the receivers' applications were handed."""

    sent: dict[tuple[int, int], int] = field(default_factory=dict)
    """(sender, seq) → recipient."""
    status: dict[tuple[int, int], str] = field(default_factory=dict)
    """(sender, seq) → the status ``send_text`` returned."""
    in_flight: int = 0
    """``send_text`` calls under way right now."""
    in_flight_at_kills: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    """How many sends returned each status."""
    raised: int = 0
    received: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    """receiver → [(sender, seq), ...] in the order its application was handed them."""
    misdirected: int = 0
    undecryptable: int = 0
    resets: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever an application is handed a message."""
    sending: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever a ``send_text`` call begins."""

    def record_send(self, sender: int, seq: int, recipient: int, status: str) -> None:
        self.sent[(sender, seq)] = recipient
        self.status[(sender, seq)] = status
        self.statuses[status] += 1

    def record_event(self, receiver: int, event: object) -> None:
        """Book one event a device's application was handed."""
        if isinstance(event, MessageReceived):
            sender, seq = parse_body(event.message.text)
            if event.peer != device_name(sender):
                self.misdirected += 1
            self.received.setdefault(receiver, []).append((sender, seq))
            self.arrived.set()
        elif isinstance(event, MessageUndecryptable):
            self.undecryptable += 1
        elif isinstance(event, SessionReset):
            self.resets += 1

    def delivered_count(self) -> int:
        """Distinct sent messages reported at their recipient."""
        return len({(s, q) for r, got in self.received.items() for s, q in got if self.sent.get((s, q)) == r})

    def tally(self, *, devices: int, unsettled: int, offline: int, kills: int, seconds: float) -> Tally:
        """The figures, once the run is over."""
        seen: Counter[tuple[int, int]] = Counter()
        misdirected = self.misdirected
        reordered = 0
        for receiver, got in self.received.items():
            last: dict[int, int] = {}
            for sender, seq in got:
                if self.sent.get((sender, seq)) != receiver:
                    misdirected += 1
                    continue
                seen[(sender, seq)] += 1
                if seq < last.get(sender, 0):
                    reordered += 1
                last[sender] = max(seq, last.get(sender, 0))
        lost = [key for key in self.sent if key not in seen]
        return Tally(
            devices=devices,
            sent=len(self.sent),
            acknowledged=self.statuses[MessageStatus.SENT],
            queued=self.statuses[MessageStatus.PENDING],
            raised=self.raised,
            delivered=len(seen),
            lost=len(lost),
            duplicated=sum(n - 1 for n in seen.values()),
            misdirected=misdirected,
            reordered=reordered,
            unsettled=unsettled,
            lost_acknowledged=sum(1 for key in lost if self.status[key] == MessageStatus.SENT),
            lost_queued=sum(1 for key in lost if self.status[key] == MessageStatus.PENDING),
            undecryptable=self.undecryptable,
            resets=self.resets,
            offline_periods=offline,
            relay_kills=kills,
            sends_in_flight_at_kills=self.in_flight_at_kills,
            seconds=round(seconds, 1),
        )


# -- one device ----------------------------------------------------------------------------------------------


class Device:
    """One profile and its application: a ``Client`` while online, a task consuming its ``events()``."""

    def __init__(self, index: int, root: Path, ledger: Ledger) -> None:
        self.index = index
        self.name = device_name(index)
        self.profile = root / self.name
        self.ledger = ledger
        self.client: Client | None = None
        self._listener: asyncio.Task[None] | None = None
        self.offline_periods = 0

    async def create(self, relay_url: str) -> None:
        self.client = await Client.create(self.profile, PASSPHRASE, relay_url, self.name, kdf=INSECURE_TEST_KDF)

    def listen(self) -> None:
        """Hand every event ``events()`` yields to the ledger (live push over the WebSocket)."""
        client = self.client
        assert client is not None

        async def consume() -> None:
            async for event in client.events():
                self.ledger.record_event(self.index, event)

        self._listener = asyncio.get_running_loop().create_task(consume(), name=f"listen-{self.name}")

    async def close(self) -> None:
        """Close the client (its ``events()`` ends) and wait for the listener."""
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self._listener is not None:
            await self._listener
            self._listener = None

    async def reopen(self, *, listen: bool = True) -> None:
        """Open the profile again, catch up with ``sync()`` (a relay that is down is not an error: the listener
        reconnects, and the final ``sync()`` reports what is left), then listen (unless ``listen`` is False).
        The listener starts only after ``sync()`` returned: two consumers at once would each be handed the
        events of the other's catch-up."""
        self.client = await Client.open(self.profile, PASSPHRASE)
        await self.catch_up()
        if listen:
            self.listen()

    async def catch_up(self) -> None:
        """One ``sync()``; its events go to the ledger. A relay that is down is tolerated."""
        assert self.client is not None
        with contextlib.suppress(RelayUnreachable):
            for event in await self.client.sync():
                self.ledger.record_event(self.index, event)

    async def go_offline(self, seconds: float) -> None:
        await self.close()
        self.offline_periods += 1
        await asyncio.sleep(seconds)
        await self.reopen()

    async def send(self, peer: int, seq: int) -> None:
        """Send message ``seq`` to ``peer`` and book what ``send_text`` returned; a send that raised kept nothing,
        so the application tries again (:data:`SEND_RETRY_WAIT_S`, at most :data:`SEND_GIVE_UP_S`).

        Raises:
            RelayUnreachable, RelayError: still raising after :data:`SEND_GIVE_UP_S`.
        """
        assert self.client is not None
        deadline = time.monotonic() + SEND_GIVE_UP_S
        while True:
            self.ledger.in_flight += 1
            self.ledger.sending.set()
            try:
                message = await self.client.send_text(device_name(peer), body(self.index, seq))
            except (RelayUnreachable, RelayError):
                if time.monotonic() > deadline:
                    raise
                self.ledger.raised += 1
                await asyncio.sleep(SEND_RETRY_WAIT_S)
                continue
            finally:
                self.ledger.in_flight -= 1
            self.ledger.record_send(self.index, seq, peer, message.status)
            return

    def unsettled(self, peers: list[int]) -> int:
        """Own messages still ``pending`` or ``failed``, plus envelopes still queued."""
        assert self.client is not None
        bad = (MessageStatus.PENDING, MessageStatus.FAILED)
        stuck = sum(
            1 for p in peers for m in self.client.history(device_name(p)) if m.direction == "out" and m.status in bad
        )
        return stuck + len(self.client.queued())


@contextlib.contextmanager
def profiles_dir(fallback: Path) -> Iterator[Path]:
    """A fresh folder for the devices' profiles: on ``/dev/shm`` (tmpfs) when there is one, else ``fallback``.

    Each profile's store commits with ``synchronous=FULL``; fifty devices in one process share one event loop,
    so on a disk every fsync of one device (7 ms on this machine) would stall all the others, which real
    devices, each on its own disk, never do. The relay's data stays on ``fallback``'s disk. Removed afterwards.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="confide-load-", dir=shm))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        fallback.mkdir(parents=True, exist_ok=True)
        yield fallback


# -- a run ---------------------------------------------------------------------------------------------------


def contacts_of(index: int, plan: LoadPlan) -> list[int]:
    """The ring-lattice neighbours of device ``index``."""
    half = plan.peers // 2
    return sorted({(index + d) % plan.devices for d in range(-half, half + 1) if d})


async def _create(devices: list[Device], relay_url: str) -> None:
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(device: Device) -> None:
        async with gate:
            await device.create(relay_url)

    await asyncio.gather(*(one(d) for d in devices))


async def run_load_on_new_relay(plan: LoadPlan, folder: Path, *, sync_full: bool = False) -> Tally:
    """Start a relay process on ``folder/relay``, run ``plan`` on profiles under ``folder/profiles`` (tmpfs when
    available: :func:`profiles_dir`), stop the relay, return the tally."""
    relay = RelayProcess(folder / "relay", sync_full=sync_full)
    await relay.start()
    try:
        with profiles_dir(folder / "profiles") as root:
            return await run_load(plan, root, relay)
    finally:
        relay.stop()


async def run_load(plan: LoadPlan, root: Path, relay: RelayProcess) -> Tally:
    """Create ``plan.devices`` profiles under ``root`` on the running ``relay``, run the plan, wait until every
    send is reported at its recipient (at most ``plan.settle_s``), close everything and return the tally."""
    rng = random.Random(plan.seed)
    ledger = Ledger()
    devices = [Device(i, root, ledger) for i in range(plan.devices)]
    started = time.monotonic()
    await _create(devices, relay.url)
    for device in devices:
        assert device.client is not None
        for peer in contacts_of(device.index, plan):
            other = devices[peer].client
            assert other is not None
            device.client.add_contact(devices[peer].name, other.invite_code())
    for device in devices:
        device.listen()

    shares = [
        plan.messages // plan.devices + (1 if i < plan.messages % plan.devices else 0) for i in range(plan.devices)
    ]
    schedules = []
    for device in devices:
        share = shares[device.index]
        peers = contacts_of(device.index, plan)
        targets = [rng.choice(peers) for _ in range(share)]
        points = rng.sample(range(1, share), min(plan.offline_per_device, max(share - 1, 0)))
        offline = {p: rng.uniform(*plan.offline_s) for p in points}
        schedules.append((targets, offline))
    kill_marks = sorted(int(f * plan.messages) for f in plan.kill_at)
    progress = asyncio.Event()

    async def drive(device: Device) -> None:
        targets, offline = schedules[device.index]
        for n, peer in enumerate(targets):
            if n in offline:
                await device.go_offline(offline[n])
            await device.send(peer, n + 1)
            progress.set()

    async def killer() -> None:
        for mark in kill_marks:
            while len(ledger.sent) < mark:
                progress.clear()
                await progress.wait()
            while ledger.in_flight == 0:  # kill it while sends are under way
                ledger.sending.clear()
                await ledger.sending.wait()
            ledger.in_flight_at_kills += ledger.in_flight
            relay.kill()
            await asyncio.sleep(plan.down_s)
            await relay.restart()

    await asyncio.gather(killer(), *(drive(d) for d in devices))
    deadline = time.monotonic() + plan.settle_s
    while ledger.delivered_count() < len(ledger.sent) and time.monotonic() < deadline:
        ledger.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ledger.arrived.wait(), deadline - time.monotonic())

    async def last_look(device: Device) -> int:
        # Anything stored but never handed over is reported by sync() (the documented path).
        await device.close()
        await device.reopen(listen=False)
        stuck = device.unsettled(contacts_of(device.index, plan))
        await device.close()
        return stuck

    unsettled = sum(await asyncio.gather(*(last_look(d) for d in devices)))
    return ledger.tally(
        devices=plan.devices,
        unsettled=unsettled,
        offline=sum(d.offline_periods for d in devices),
        kills=relay.kills,
        seconds=time.monotonic() - started,
    )
