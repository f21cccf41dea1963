"""Device-link rendezvous: ``PUT`` and ``GET /v1/links/{channel}/{slot}`` (docs/relay-api.md).

Two devices of one person meet here to run the link exchange (``protocol/link.py``): SPAKE2 keyed by the short
code one shows and the other types, then key confirmation and sealed messages. The relay carries the messages
and learns nothing of them: nothing is signed by a device (the new one is not registered yet), the exchange is
authenticated end to end by the code, and a message is a slot's opaque bytes.

A slot is written once (201; the same bytes again 200, other bytes 409) and read by anyone who knows the channel
(a SHA-256 of the code's channel bits, so 2^20 channels a guesser cannot tell apart from unused ones). A channel
lives :data:`~confide.server.limits.LINK_CHANNEL_TTL_S` from its first write, then the sweeper deletes it and
scrubs its bytes from every relay file. Bounded by :data:`~confide.server.limits.MAX_LINK_MESSAGE` per message,
:data:`~confide.server.limits.LINK_SLOTS` per channel, :data:`~confide.server.limits.MAX_LINK_CHANNELS` live
channels, the storage budget and the per-client-address request rate and daily byte budget. Nothing here logs a
channel.
"""

from __future__ import annotations

from aiohttp import web

from .bodies import hex_id, only_query_params, read_limited, require_content_type
from .errors import Malformed, NotFound
from .limits import LINK_CHANNEL_LEN, LINK_SLOTS, MAX_LINK_MESSAGE
from .room import ensure_room, spend_bytes
from .state import RELAY, Relay

routes = web.RouteTableDef()

_SLOTS = {str(slot): slot for slot in range(LINK_SLOTS)}
"""A slot in a path: exactly one digit 0..7 (no sign, no leading zero, no spaces)."""


def _place(request: web.Request) -> tuple[bytes, int]:
    """The channel and slot the path names.

    Raises:
        Malformed: the channel is not 64 lowercase hex digits, or the slot not one of 0..7.
    """
    only_query_params(request, frozenset())
    channel = hex_id(request.match_info["channel"], LINK_CHANNEL_LEN, "a link channel")
    slot = _SLOTS.get(request.match_info["slot"])
    if slot is None:
        raise Malformed(f"a link slot is a number from 0 to {LINK_SLOTS - 1}")
    return channel, slot


@routes.put("/v1/links/{channel}/{slot}")
async def put_link(request: web.Request) -> web.Response:
    """Write a link message once into a channel's slot; nobody signs the request."""
    relay: Relay = request.app[RELAY]
    require_content_type(request, "application/octet-stream")
    channel, slot = _place(request)
    data = await read_limited(request, MAX_LINK_MESSAGE)
    if not data:
        raise Malformed("a link message is not empty")
    await ensure_room(relay, len(data))
    await spend_bytes(relay, relay.backend.address_bytes, (request.remote or "").encode(), len(data), "of this address")
    stored = await relay.store.put_link(channel, slot, data, relay.now_ms())
    return web.json_response({"slot": slot}, status=201 if stored else 200)


@routes.get("/v1/links/{channel}/{slot}")
async def get_link(request: web.Request) -> web.Response:
    """Read a link message (404 until it is written, and after its channel expired)."""
    relay: Relay = request.app[RELAY]
    channel, slot = _place(request)
    data = await relay.store.link(channel, slot, relay.now_ms())
    if data is None:
        raise NotFound("nothing is in this link slot yet; retry in a moment, or start again if the code expired")
    return web.Response(body=data, content_type="application/octet-stream")
