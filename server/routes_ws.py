"""``GET /v1/ws``: push delivery. Backlog first, then live envelopes, as binary ``Delivery`` frames.

The client acknowledges with text frames ``{"ack": [envelope_id hex, ..]}``. A message over
:data:`~confide.server.limits.MAX_WS_MESSAGE` bytes closes the socket with code 1009 (too big), anything else from
the client with code 1008 (policy violation). A frame that breaks RFC 6455 itself never becomes a message:
aiohttp's frame reader closes the socket with the RFC's code (1002, or 1007 for text that is not UTF-8).

Subscribing happens *before* the backlog is read, and every envelope carries its mailbox sequence number, so
nothing committed during the backlog is missed or sent twice on one socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import WSMsgType, web

from confide.protocol.envelope import ENVELOPE_ID_LEN

from .bodies import hex_id_list, read_limited
from .delivery import delivery_bytes
from .errors import Malformed, RateLimited, Unavailable
from .limits import MAX_BUFFERED_PUSHES, MAX_WS_MESSAGE
from .notifier import Subscription
from .state import RELAY, Relay

HEARTBEAT_S = 30.0
"""Ping every 30 s: keeps NAT mappings open and finds dead peers within a minute."""

BACKLOG_PAGE = 200
"""Envelopes read from the mailbox per query while sending a backlog."""

WS_POLICY_VIOLATION = 1008
WS_MESSAGE_TOO_BIG = 1009
WS_DEVICE_REMOVED = 4410
"""Close code (the application range, RFC 6455 7.4.2) of a socket whose device a newer device list removed; the
close reason is ``device_removed``, as the 410 answer's code."""
_DEVICE_REMOVED = b"device_removed"

READER_MAX_MSG_SIZE = MAX_WS_MESSAGE + 1
"""What aiohttp's reader is told: it refuses a frame of ``max_msg_size`` bytes *or more* (a message of exactly
``MAX_WS_MESSAGE`` bytes would be refused) but a decompressed message only *above* it, so the handler checks
``MAX_WS_MESSAGE`` itself, exactly, on every message the reader lets through."""

_ACK_FIELDS = frozenset({"ack"})
_NOT_AN_ACK = b'expected {"ack": [envelope ids]}'
_NOT_TEXT = b"send acks as JSON text frames"
_TOO_BIG = f"a message may be at most {MAX_WS_MESSAGE} bytes".encode()

routes = web.RouteTableDef()


class _Sent:
    """The mailbox numbers this socket was sent: the highest, and the recent ones below it. Numbers are reserved
    before the commit, so two requests (or two relay processes) can commit, and push, out of order: a push below
    the highest number sent is sent too unless it was sent already (by the backlog, say), never dropped and never
    sent twice on one socket."""

    __slots__ = ("highest", "recent")

    def __init__(self) -> None:
        self.highest = 0
        self.recent: set[int] = set()

    def add(self, seq: int) -> None:
        self.highest = max(self.highest, seq)
        self.recent.add(seq)
        if len(self.recent) > MAX_REMEMBERED_SEQS:
            floor = self.highest - MAX_REMEMBERED_SEQS
            self.recent = {n for n in self.recent if n > floor}

    def wants(self, seq: int) -> bool:
        return seq > self.highest or (seq > self.highest - MAX_REMEMBERED_SEQS and seq not in self.recent)


MAX_REMEMBERED_SEQS = 4 * MAX_BUFFERED_PUSHES
"""Numbers remembered per socket to tell an out-of-order push from one already sent: a late commit more than this
many numbers behind the newest is left to the client's next catch-up (it is in the database; nothing is lost)."""


async def _send_backlog(relay: Relay, ws: web.WebSocketResponse, device_id: bytes, sent: _Sent) -> None:
    """Send what waits in the mailbox and was not sent on this socket: from the oldest number still remembered, so
    that a resynchronisation (a buffer overflow, a bus reconnect) also catches a commit that was numbered below the
    newest one sent but never pushed."""
    after = max(0, sent.highest - MAX_REMEMBERED_SEQS)
    while True:
        rows = await relay.store.fetch(device_id, after, BACKLOG_PAGE)
        for e in rows:
            if sent.wants(e.seq):
                await ws.send_bytes(delivery_bytes(e))
                sent.add(e.seq)
            after = e.seq
        if len(rows) < BACKLOG_PAGE:
            return


async def _pusher(relay: Relay, ws: web.WebSocketResponse, sub: Subscription) -> None:
    sent = _Sent()
    await _send_backlog(relay, ws, sub.device_id, sent)
    while not ws.closed:
        await sub.event.wait()
        sub.event.clear()
        if sub.closing:
            await ws.close(code=WS_DEVICE_REMOVED, message=_DEVICE_REMOVED)
            return
        if sub.resync:
            sub.resync = False
            sub.items.clear()
            await _send_backlog(relay, ws, sub.device_id, sent)
            continue
        while sub.items:
            e = sub.items.popleft()
            if sent.wants(e.seq):
                await ws.send_bytes(delivery_bytes(e))
                sent.add(e.seq)


def _parse_ack(text: str) -> list[bytes]:
    """The ids of ``{"ack": [ids]}``. Parsed from the text, not its bytes: ``json.loads`` would take bytes with a
    byte-order mark or in UTF-16 too.

    Raises:
        Malformed: not JSON, not an object whose one field is ``ack`` (a misspelt field would be a silent
            no-op), or not a list of at most ``MAX_IDS_PER_REQUEST`` lowercase hex envelope ids.
    """
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise Malformed("not JSON") from None
    if not isinstance(obj, dict) or obj.keys() != _ACK_FIELDS:
        raise Malformed('not an object whose one field is "ack"')
    return hex_id_list(obj, "ack", ENVELOPE_ID_LEN)


@routes.get("/v1/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    """Authenticate the upgrade, then push the device's mailbox and take acknowledgements."""
    relay = request.app[RELAY]
    device = await relay.auth.authenticate(request, await read_limited(request, 0))
    if relay.notifier.sockets(device.device_id) >= relay.config.max_sockets_per_device:
        raise RateLimited("this device has too many open sockets; close one first")
    if len(relay.sockets) >= relay.config.max_connections:
        raise Unavailable("the relay has too many open sockets; retry later or pull instead")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=READER_MAX_MSG_SIZE)
    await ws.prepare(request)
    sub = await relay.notifier.subscribe(device.device_id)
    if await relay.store.device(device.device_id) is None:  # removed between the upgrade and the subscription
        sub.close()
    relay.sockets.add(ws)
    pusher = asyncio.get_running_loop().create_task(_pusher(relay, ws, sub))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                size = len(msg.data.encode())
            elif msg.type == WSMsgType.BINARY:
                size = len(msg.data)
            else:  # ERROR: aiohttp's reader refused a frame and has closed the socket already (a no-op then)
                await ws.close(code=WS_POLICY_VIOLATION, message=_NOT_TEXT)
                break
            if size > MAX_WS_MESSAGE:
                await ws.close(code=WS_MESSAGE_TOO_BIG, message=_TOO_BIG)
                break
            if msg.type != WSMsgType.TEXT:
                await ws.close(code=WS_POLICY_VIOLATION, message=_NOT_TEXT)
                break
            try:
                ids = _parse_ack(msg.data)
            except Malformed:
                await ws.close(code=WS_POLICY_VIOLATION, message=_NOT_AN_ACK)
                break
            await relay.store.ack(device.device_id, ids)
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pusher
        await relay.notifier.unsubscribe(sub)
        relay.sockets.discard(ws)
        if not ws.closed:
            await ws.close()
    return ws
