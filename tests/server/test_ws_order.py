"""Pushes that arrive out of mailbox order (two requests, or two relay processes, committing to one mailbox: numbers
are reserved before the commit) are all delivered on the socket, once each; none waits for a reconnect."""

from __future__ import annotations

import asyncio
import os

import aiohttp

from confide.protocol.envelope import Delivery
from confide.server.storage import StoredEnvelope

from .conftest import RunningRelay, make_user

WAIT_S = 2.0
"""How long a push may take on loopback before the test calls it lost."""


async def _next_id(ws: aiohttp.ClientWebSocketResponse) -> bytes:
    frame = await asyncio.wait_for(ws.receive(), WAIT_S)
    assert frame.type == aiohttp.WSMsgType.BINARY
    return Delivery.from_bytes(frame.data).envelope_id


def _envelope(seq: int) -> StoredEnvelope:
    return StoredEnvelope(seq, os.urandom(16), 1, 2**62, b"sealed bytes")


async def test_a_push_below_the_newest_number_sent_is_delivered_once(relay: RunningRelay) -> None:
    api = relay.api
    user = make_user()
    assert (await api.register(user))[0] == 201
    ws = await api.ws(user)
    try:
        await asyncio.sleep(0.1)  # subscribed and the (empty) backlog sent
        newer, older = _envelope(7), _envelope(5)
        await relay.relay.notifier.publish(user.device_id, newer)
        assert await _next_id(ws) == newer.envelope_id
        await relay.relay.notifier.publish(user.device_id, older)  # committed later, numbered earlier
        assert await _next_id(ws) == older.envelope_id
        await relay.relay.notifier.publish(user.device_id, older)  # the same again: not sent twice
        await relay.relay.notifier.publish(user.device_id, _envelope(8))
        assert await _next_id(ws) != older.envelope_id
    finally:
        await ws.close()
