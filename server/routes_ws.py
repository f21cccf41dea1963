"""``GET /v1/ws``: push delivery. Backlog first, then live envelopes, as binary ``Delivery`` frames.

The client acknowledges with text frames ``{"ack": [envelope_id hex, ..]}``; anything else from the client
closes the socket with code 1008 (policy violation). Subscribing happens *before* the backlog is read, and
every envelope carries its mailbox sequence number, so nothing committed during the backlog is missed or
sent twice on one socket.
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


def _parse_ack(data: str) -> list[bytes]:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        raise Malformed("not JSON") from None
    if not isinstance(obj, dict):
        raise Malformed("not an object")
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
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_WS_MESSAGE)
    await ws.prepare(request)
    sub = await relay.notifier.subscribe(device.device_id)
    relay.sockets.add(ws)
    pusher = asyncio.get_running_loop().create_task(_pusher(relay, ws, sub))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                await ws.close(code=WS_POLICY_VIOLATION, message=b"send acks as JSON text frames")
                break
            try:
                ids = _parse_ack(msg.data)
            except Malformed:
                await ws.close(code=WS_POLICY_VIOLATION, message=b'expected {"ack": [envelope ids]}')
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
