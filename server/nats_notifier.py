"""Push between relay processes: a :class:`~confide.server.notifier.Notifier` over NATS.

Each relay process holds the sockets of some devices. When one process commits an envelope it pushes it to its
own sockets of the recipient device directly and publishes it once on that device's subject,
``confide.push.<device id hex>`` (the device id is what the relay routes by already; no address, token or name is
on the bus). Every process subscribes to the subject of each device it holds a socket of, for as long as it holds
one, so a publish reaches exactly the processes that need it. A device removed from its account is published on
the same subject, and every process closes its sockets of it.

The database stays the source of truth: a push lost on the bus (NATS down, restarting, or this process too slow
to keep up) only delays delivery until the socket re-reads its mailbox. The notifier makes that re-read happen
itself where it can know of a loss: after a reconnection to NATS, and when NATS reports that it dropped messages
for a slow subscription, every affected socket is told to resynchronise (as a socket whose buffer overflows is,
see :class:`~confide.server.notifier.Subscription`).

What travels, one NATS message each (parsed, length-checked, before anything is pushed):

* ``01 || seq (u64) || received_at_ms (u64) || expires_at_ms (u64) || envelope id (16) || ciphertext``: an
  envelope committed for the device, as the socket delivers it;
* ``02``: an envelope was committed but was larger than the NATS server's largest message: re-read the mailbox;
* ``03``: the device was removed: close its sockets with ``device_removed``.

Anything else on the subject is treated as ``02`` (a wake-up), never as an envelope. The bus carries
ciphertext and the times and sequence numbers the relay keeps anyway; run NATS on the relay's private network
and with TLS (``tls://``) and credentials in the URL when that network is not trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import struct
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from confide.protocol.envelope import ENVELOPE_ID_LEN

from .limits import MAX_BUFFERED_PUSHES
from .notifier import Subscription
from .storage import StoredEnvelope

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "confide.push"
"""Subjects of the relay's pushes: ``confide.push.<device id hex>``. Relays sharing one NATS server keep apart
with a prefix of their own (``NatsNotifier(url, subject_prefix=...)``)."""

KIND_ENVELOPE = 0x01
KIND_WAKE = 0x02
KIND_GONE = 0x03
_ENVELOPE_HEAD = struct.Struct(">BQQQ")
_ENVELOPE_MIN = _ENVELOPE_HEAD.size + ENVELOPE_ID_LEN
_WAKE = bytes([KIND_WAKE])
_GONE = bytes([KIND_GONE])

CONNECT_TIMEOUT_S = 5.0
"""How long the first connection may take before the relay refuses to start: NATS on the relay's network answers
in milliseconds; a stopped server refuses at once."""

RECONNECT_WAIT_S = 0.5
"""Pause between reconnection attempts after the connection dropped: a restarted NATS is found within half a
second, and a down one costs two attempts a second. The relay keeps serving meanwhile (pull works; push within
this process works; other processes' pushes arrive after the reconnection, by resync)."""

SUBSCRIBE_CONFIRM_S = 2.0
"""How long a new socket waits for NATS to confirm its device's subscription (one round trip) before its backlog
is read; past it (NATS unreachable) the socket is served anyway, and the resync on reconnection covers the gap."""

PENDING_MESSAGES = MAX_BUFFERED_PUSHES
"""Messages NATS's client may queue for one device's subscription before it drops them (and the notifier tells
that device's sockets to resync): as many as one socket buffers. The callback only moves each message into the
sockets' buffers, so the queue is almost always empty."""

PENDING_BYTES = 8 * 1024 * 1024
"""Bytes queued for one device's subscription before dropping (about a hundred maximal envelopes): bounds what a
flood for one device can make a process hold beyond its sockets' own buffers."""

PENDING_OUTBOUND_BYTES = 8 * 1024 * 1024
"""Publishes buffered while NATS is unreachable; beyond it a publish is dropped (a lost wake-up: the envelope is
in the database and its recipient reads it at its next resync or pull)."""


class BusError(ConnectionError):
    """The bus could not be reached when the relay started (a ``ConnectionError``: ``confide serve`` reports it
    in one line)."""


@dataclass(eq=False)
class _Route:
    """This process's sockets of one device and the NATS subscription that feeds them."""

    subs: set[Subscription] = field(default_factory=set)
    ready: asyncio.Task[None] | None = None
    nats_sub: NatsSubscription | None = None
    high: int = 0
    """The highest sequence number pushed to these sockets. Each mailbox's numbers increase in commit order, but
    pushes from different processes may cross on the bus: one that arrives below this was overtaken."""

    def push(self, envelope: StoredEnvelope) -> None:
        """Push ``envelope`` to every socket, or, when it was overtaken by a later one (a socket sends in number
        order and would skip it), tell every socket to re-read its mailbox instead."""
        if envelope.seq < self.high:
            for sub in self.subs:
                _resync(sub)
            return
        self.high = envelope.seq
        for sub in self.subs:
            sub.push(envelope)


def encode_envelope(envelope: StoredEnvelope) -> bytes:
    """The bus form (kind ``01``) of ``envelope``.

    Raises:
        ValueError: its envelope id is not :data:`ENVELOPE_ID_LEN` bytes or a number does not fit 64 bits.
    """
    if len(envelope.envelope_id) != ENVELOPE_ID_LEN:
        raise ValueError("envelope id of the wrong length")
    try:
        head = _ENVELOPE_HEAD.pack(KIND_ENVELOPE, envelope.seq, envelope.received_at_ms, envelope.expires_at_ms)
    except struct.error:
        raise ValueError("a number of the envelope does not fit 64 bits") from None
    return head + envelope.envelope_id + envelope.ciphertext


def decode_envelope(data: bytes) -> StoredEnvelope | None:
    """The envelope carried by ``data`` (kind ``01``), or ``None`` when ``data`` is not one (too short, another
    kind)."""
    if len(data) < _ENVELOPE_MIN or data[0] != KIND_ENVELOPE:
        return None
    _, seq, received, expires = _ENVELOPE_HEAD.unpack_from(data)
    start = _ENVELOPE_HEAD.size
    return StoredEnvelope(
        seq, data[start : start + ENVELOPE_ID_LEN], received, expires, data[start + ENVELOPE_ID_LEN :]
    )


def _resync(sub: Subscription) -> None:
    """Tell ``sub``'s socket to re-read its mailbox (what it missed is in the database)."""
    if sub.closing:
        return
    sub.items.clear()
    sub.resync = True
    sub.event.set()


def _check_prefix(prefix: str) -> str:
    tokens = prefix.split(".")
    if not prefix or any(not t or any(c in t for c in " \t\r\n*>") for t in tokens):
        raise ValueError("subject_prefix must be dot-separated NATS tokens without wildcards or spaces")
    return prefix


class NatsNotifier:
    """:class:`~confide.server.notifier.Notifier` for a relay of several processes, over the NATS server at
    ``url`` (``nats://host:port``, ``tls://...``, credentials in the URL as NATS takes them).

    Raises:
        ValueError: ``url`` is not a ``nats://``, ``tls://``, ``ws://`` or ``wss://`` URL, or ``subject_prefix``
            is not a NATS subject without wildcards.
    """

    def __init__(
        self, url: str, *, subject_prefix: str = SUBJECT_PREFIX, connect_timeout_s: float = CONNECT_TIMEOUT_S
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
            raise ValueError("the bus must be a nats:// (or tls://) URL")
        self._url = url
        self._where = f"{parts.hostname}:{parts.port or 4222}"
        self._prefix = _check_prefix(subject_prefix)
        self._connect_timeout = connect_timeout_s
        self._nc: Client | None = None
        self._routes: dict[bytes, _Route] = {}
        self.dropped = 0
        """Publishes that did not reach the bus (NATS unreachable past its buffer): each a delayed delivery."""
        self.resyncs = 0
        """Times the sockets were told to re-read their mailboxes because pushes may have been lost."""

    def __repr__(self) -> str:
        return f"NatsNotifier({self._where})"

    async def start(self) -> None:
        """Connect to NATS (idempotent).

        Raises:
            BusError: NATS did not answer within ``connect_timeout_s`` (default :data:`CONNECT_TIMEOUT_S`).
        """
        if self._nc is not None:
            return
        nc = Client()
        try:
            # Reconnection is unbounded once connected, and nats-py applies that to the first connection too:
            # the deadline here is what makes an unreachable bus fail the start.
            await asyncio.wait_for(
                nc.connect(
                    self._url,
                    name="confide-relay",
                    no_echo=True,  # this process pushes to its own sockets directly
                    connect_timeout=max(1, int(self._connect_timeout)),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT_S,  # type: ignore[arg-type]  # nats-py takes float seconds
                    pending_size=PENDING_OUTBOUND_BYTES,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed,
                ),
                self._connect_timeout,
            )
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            with contextlib.suppress(nats.errors.Error, OSError):
                await nc.close()
            raise BusError(f"the NATS bus at {self._where} did not answer ({type(exc).__name__})") from None
        self._nc = nc

    async def close(self) -> None:
        """Drop every subscription and the connection (idempotent). Sockets still open keep their buffers."""
        nc, self._nc = self._nc, None
        for route in self._routes.values():
            if route.ready is not None:
                route.ready.cancel()
        if nc is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await nc.close()

    def _client(self) -> Client:
        if self._nc is None:
            raise RuntimeError("NatsNotifier used before start()")
        return self._nc

    def _subject(self, device_id: bytes) -> str:
        return f"{self._prefix}.{device_id.hex()}"

    async def subscribe(self, device_id: bytes) -> Subscription:
        """A new buffer for a socket of ``device_id``; the first of this process's sockets of a device subscribes
        to the device's subject and waits (at most :data:`SUBSCRIBE_CONFIRM_S`) until NATS confirms it, so an
        envelope another process publishes after this returns is pushed to it.

        Raises:
            RuntimeError: before :meth:`start`.
        """
        self._client()
        sub = Subscription(device_id)
        route = self._routes.get(device_id)
        if route is None:
            route = self._routes[device_id] = _Route()
            route.ready = asyncio.get_running_loop().create_task(self._open(device_id, route))
        route.subs.add(sub)
        if route.ready is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(route.ready)
        return sub

    async def _open(self, device_id: bytes, route: _Route) -> None:
        nc = self._client()
        try:
            nats_sub = await nc.subscribe(
                self._subject(device_id),
                cb=functools.partial(self._on_message, route),
                pending_msgs_limit=PENDING_MESSAGES,
                pending_bytes_limit=PENDING_BYTES,
            )
        except (nats.errors.Error, OSError):
            log.warning("push subscription failed; sockets rely on resync after reconnection")
            return
        route.nats_sub = nats_sub
        if self._routes.get(device_id) is not route:  # every socket left while subscribing
            await self._drop(nats_sub)
            return
        try:
            # Two round trips, not one: nats-py (2.16) writes a flush's PING straight to the socket, ahead of the
            # SUB still queued for its writer task, so the first PONG may come back before NATS has the
            # subscription (seen here: about one socket in a hundred missed its first push). By the first PONG
            # the writer has sent the SUB; the second PING follows it, so the second PONG confirms it.
            for _ in range(2):
                await nc.flush(timeout=SUBSCRIBE_CONFIRM_S)  # type: ignore[arg-type]  # nats-py takes float seconds
        except (nats.errors.Error, OSError, TimeoutError):
            log.warning("push subscription not confirmed in time; sockets rely on resync after reconnection")

    async def _drop(self, nats_sub: NatsSubscription) -> None:
        with contextlib.suppress(nats.errors.Error, OSError):
            await nats_sub.unsubscribe()

    async def unsubscribe(self, sub: Subscription) -> None:
        """Forget ``sub``; with this process's last socket of the device, its subject's subscription goes too."""
        route = self._routes.get(sub.device_id)
        if route is None:
            return
        route.subs.discard(sub)
        if route.subs:
            return
        del self._routes[sub.device_id]
        if route.ready is not None and not route.ready.done():
            return  # _open sees the route gone and drops its subscription itself
        if route.nats_sub is not None:
            await self._drop(route.nats_sub)

    async def publish(self, device_id: bytes, envelope: StoredEnvelope) -> None:
        """Push ``envelope`` to this process's sockets of ``device_id`` and publish it to the other processes.

        Never raises for the bus: a publish NATS cannot take is dropped and counted in :attr:`dropped`
        (the envelope is committed; its device reads it at its next resync or pull).

        Raises:
            RuntimeError: before :meth:`start`.
        """
        nc = self._client()
        route = self._routes.get(device_id)
        if route is not None:
            route.push(envelope)
        payload = encode_envelope(envelope)
        if len(payload) > nc.max_payload:
            payload = _WAKE
        await self._send(nc, device_id, payload)

    async def disconnect(self, device_id: bytes) -> None:
        """Close every socket of ``device_id``, here and (over NATS) in every other process.

        Raises:
            RuntimeError: before :meth:`start`.
        """
        nc = self._client()
        route = self._routes.get(device_id)
        if route is not None:
            for sub in route.subs:
                sub.close()
        await self._send(nc, device_id, _GONE)

    async def _send(self, nc: Client, device_id: bytes, payload: bytes) -> None:
        try:
            await nc.publish(self._subject(device_id), payload)
        except (nats.errors.Error, OSError):
            self.dropped += 1

    def sockets(self, device_id: bytes) -> int:
        """This process's sockets of ``device_id``."""
        route = self._routes.get(device_id)
        return 0 if route is None else len(route.subs)

    async def _on_message(self, route: _Route, msg: Msg) -> None:
        data = msg.data
        if data == _GONE:
            for sub in route.subs:
                sub.close()
            return
        envelope = decode_envelope(data)
        if envelope is not None:
            route.push(envelope)
            return
        for sub in route.subs:
            _resync(sub)

    def _route_of(self, subject: str) -> _Route | None:
        head, _, tail = subject.rpartition(".")
        if head != self._prefix:
            return None
        try:
            return self._routes.get(bytes.fromhex(tail))
        except ValueError:
            return None

    def _resync_all(self) -> None:
        self.resyncs += 1
        for route in self._routes.values():
            for sub in route.subs:
                _resync(sub)

    async def _on_error(self, exc: Exception) -> None:
        # Only the error's type is logged: nats-py's messages name subjects, which carry device ids.
        if isinstance(exc, nats.errors.SlowConsumerError):
            route = self._route_of(exc.subject)
            if route is not None:
                self.resyncs += 1
                for sub in route.subs:
                    _resync(sub)
            return
        log.warning("push bus error: %s", type(exc).__name__)

    async def _on_disconnected(self, *_: Any) -> None:
        if self._nc is not None:
            log.warning("push bus connection lost; reconnecting")

    async def _on_reconnected(self, *_: Any) -> None:
        # Whatever was published while this process was away never reached it: every socket re-reads.
        self._resync_all()

    async def _on_closed(self, *_: Any) -> None:
        """Nothing to do: :meth:`close` closed it, or reconnection gave up (it never does: attempts are unbounded)."""
