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
from .limits import MAX_WS_MESSAGE
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


async def _send_backlog(relay: Relay, ws: web.WebSocketResponse, device_id: bytes, last_seq: int) -> int:
    while True:
        rows = await relay.store.fetch(device_id, last_seq, BACKLOG_PAGE)
        for e in rows:
            await ws.send_bytes(delivery_bytes(e))
            last_seq = e.seq
        if len(rows) < BACKLOG_PAGE:
            return last_seq


async def _pusher(relay: Relay, ws: web.WebSocketResponse, sub: Subscription) -> None:
    last_seq = await _send_backlog(relay, ws, sub.device_id, 0)
    while not ws.closed:
        await sub.event.wait()
        sub.event.clear()
        if sub.closing:
            await ws.close(code=WS_DEVICE_REMOVED, message=_DEVICE_REMOVED)
            return
        if sub.resync:
            sub.resync = False
            sub.items.clear()
            last_seq = await _send_backlog(relay, ws, sub.device_id, last_seq)
            continue
        while sub.items:
            e = sub.items.popleft()
            if e.seq > last_seq:
                await ws.send_bytes(delivery_bytes(e))
                last_seq = e.seq


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
