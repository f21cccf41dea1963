"""Mailboxes: sealed-sender envelopes in (single and batch), pull, acknowledge (docs/relay-api.md).

The send path is the hot path: parse the envelope, check its delivery token against the cached hashes of every
device of the recipient's address (``hmac.compare_digest`` against each, no early exit: at most
``MAX_DEVICES_PER_ACCOUNT * MAX_TOKEN_HASHES`` = 6,144, see docs/relay-api.md for the measured cost), commit it to
the store, answer after the commit, then push it. An envelope for a device its account's list removed is answered
410 ``device_removed`` (in a batch, as that envelope's status).
"""

from __future__ import annotations

import base64
import hmac
from itertools import repeat

from aiohttp import web

from confide.protocol.envelope import (
    ENVELOPE_ID_LEN,
    MAX_ENVELOPE_LEN,
    MAX_IDS_PER_REQUEST,
    Envelope,
    decode_batch,
    delivery_token_hash,
)

from .bodies import hex_id_list, int_param, only_query_params, parse_json_object, read_limited
from .bodies import require_content_type as _require_type
from .delivery import delivery_bytes
from .errors import Conflict, DeviceRemoved, Forbidden, MailboxFull, NotFound, RateLimited
from .limits import MAX_BATCH_BODY, MAX_JSON_BODY
from .room import ensure_room, spend_bytes
from .state import RELAY, Relay
from .storage import NewEnvelope, SendResult

DEFAULT_PAGE = 100
"""Envelopes per pull page when the client does not say."""

_OCTET = "application/octet-stream"

routes = web.RouteTableDef()


async def _check_token(relay: Relay, env: Envelope) -> str | None:
    """None if the envelope may be stored, else the error code (``not_found`` / ``device_removed`` /
    ``forbidden`` / ``rate_limited``).

    Only an envelope with a valid token spends the recipient device's and the token's send buckets, so a
    stranger without a token cannot use up a recipient's rate (their requests count against their address)."""
    hashes = await relay.store.delivery_hashes(env.recipient_device)
    if hashes is None:
        if await relay.store.removed_at(env.recipient_device) is not None:
            return "device_removed"
        return "not_found"
    wanted = delivery_token_hash(env.delivery_token)
    # Every hash compared, in constant time, with no early exit (sum consumes them all): the time taken does not
    # say which hash matched. The cost grows with the hashes held (bench/devices.py, docs/BENCHMARKS.md).
    if not sum(map(hmac.compare_digest, hashes, repeat(wanted, len(hashes)))):
        return "forbidden"
    now = relay.clock()
    try:
        await relay.token_limiter.take(wanted.hex(), now)
        await relay.recipient_limiter.take(env.recipient_device.hex(), now)
    except RateLimited:
        return "rate_limited"
    return None


async def _spend_send_bytes(relay: Relay, request: web.Request, env: Envelope) -> None:
    """Charge the envelope's bytes to its recipient device + token and to the sender's address (per day)."""
    size = len(env.ciphertext)
    token_key = env.recipient_device + delivery_token_hash(env.delivery_token)
    await spend_bytes(relay, relay.backend.token_bytes, token_key, size, "for this recipient and token")
    address = (request.remote or "").encode()
    await spend_bytes(relay, relay.backend.address_bytes, address, size, "of this client address")


async def _publish(relay: Relay, results: list[SendResult], items: list[NewEnvelope]) -> None:
    by_id = {item.envelope_id: item.device_id for item in items}
    for r in results:
        if r.stored is not None:
            await relay.notifier.publish(by_id[r.envelope_id], r.stored)


@routes.post("/v1/messages")
async def send(request: web.Request) -> web.Response:
    """Store one envelope in its recipient device's mailbox (idempotent by envelope id)."""
    relay = request.app[RELAY]
    _require_type(request, _OCTET)
    env = Envelope.from_bytes(await read_limited(request, MAX_ENVELOPE_LEN))
    refused = await _check_token(relay, env)
    if refused == "not_found":
        raise NotFound("no device with this id is registered here; fetch the recipient's keys again")
    if refused == "device_removed":
        raise DeviceRemoved(
            "the recipient removed this device from their account; fetch their device list and keys again"
        )
    if refused == "rate_limited":
        raise RateLimited("too many envelopes for this recipient right now; retry in a few seconds")
    if refused is not None:
        raise Forbidden("the recipient device does not accept this delivery token")
    await ensure_room(relay, len(env.ciphertext))
    await _spend_send_bytes(relay, request, env)
    now = relay.now_ms()
    item = NewEnvelope(env.envelope_id, env.recipient_device, now, relay.expiry_ms(now, env.lifetime_s), env.ciphertext)
    [result] = await relay.store.store_envelopes([item], relay.config.mailbox_quota)
    if result.status == "mailbox_full":
        raise MailboxFull("the recipient's mailbox is full; retry later")
    if result.status == "device_removed":
        raise DeviceRemoved("the recipient removed this device from their account; fetch their device list again")
    if result.status == "conflict":
        raise Conflict("this envelope id is already in use for another device; use a fresh random id")
    await _publish(relay, [result], [item])
    return web.json_response(
        {"envelope_id": env.envelope_id.hex(), "expires_at_ms": result.expires_at_ms},
        status=201 if result.status == "stored" else 200,
    )


@routes.post("/v1/messages/batch")
async def send_batch(request: web.Request) -> web.Response:
    """Store up to 256 envelopes in one transaction; report a status per envelope."""
    relay = request.app[RELAY]
    _require_type(request, _OCTET)
    envelopes = decode_batch(await read_limited(request, MAX_BATCH_BODY))
    await relay.limiter.take(request.remote or "", relay.clock(), cost=len(envelopes) - 1)
    now = relay.now_ms()
    statuses: dict[int, SendResult] = {}
    items: list[NewEnvelope] = []
    positions: list[int] = []
    for i, env in enumerate(envelopes):
        refused = await _check_token(relay, env)
        if refused is None:
            try:
                await _spend_send_bytes(relay, request, env)
            except RateLimited:
                refused = "rate_limited"
        if refused is not None:
            statuses[i] = SendResult(env.envelope_id, refused)
            continue
        items.append(
            NewEnvelope(
                env.envelope_id, env.recipient_device, now, relay.expiry_ms(now, env.lifetime_s), env.ciphertext
            )
        )
        positions.append(i)
    if items:
        await ensure_room(relay, sum(len(item.ciphertext) for item in items))
        results = await relay.store.store_envelopes(items, relay.config.mailbox_quota)
        statuses.update(zip(positions, results, strict=True))
        await _publish(relay, results, items)
    out = []
    for i in range(len(envelopes)):
        r = statuses[i]
        entry: dict[str, object] = {"envelope_id": r.envelope_id.hex(), "status": r.status}
        if r.expires_at_ms:
            entry["expires_at_ms"] = r.expires_at_ms
        out.append(entry)
    return web.json_response({"results": out})


@routes.get("/v1/messages")
async def pull(request: web.Request) -> web.Response:
    """The oldest envelopes of the caller's own mailbox."""
    relay = request.app[RELAY]
    device = await relay.auth.authenticate(request, await read_limited(request, 0))
    only_query_params(request, frozenset({"limit"}))
    limit = int_param(request, "limit", DEFAULT_PAGE, 1, MAX_IDS_PER_REQUEST)
    rows = await relay.store.fetch(device.device_id, 0, limit + 1)
    return web.json_response(
        {
            "messages": [base64.b64encode(delivery_bytes(e)).decode() for e in rows[:limit]],
            "more": len(rows) > limit,
        }
    )


@routes.post("/v1/messages/ack")
async def ack(request: web.Request) -> web.Response:
    """Delete envelopes from the caller's own mailbox (ids of other mailboxes are ignored)."""
    relay = request.app[RELAY]
    _require_type(request, "application/json")
    body = await read_limited(request, MAX_JSON_BODY)
    device = await relay.auth.authenticate(request, body)
    ids = hex_id_list(parse_json_object(body, frozenset({"ids"})), "ids", ENVELOPE_ID_LEN)
    return web.json_response({"deleted": await relay.store.ack(device.device_id, ids)})
