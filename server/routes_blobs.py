"""Attachments: streamed, capped upload; streamed download by capability id; deletion by the uploader."""

from __future__ import annotations

from aiohttp import web

from .auth import check_body_hash
from .blobstore import BLOB_ID_RE, new_blob_id
from .bodies import int_param, only_query_params, read_limited, require_content_type
from .errors import Forbidden, NotFound, TooLarge
from .ranges import byte_range
from .room import ensure_room, spend_bytes
from .state import RELAY
from .storage import BlobRecord

routes = web.RouteTableDef()

_MAX_LIFETIME_PARAM = 0xFFFFFFFF
"""``?lifetime=`` is a u32 of seconds like an envelope's ``lifetime_s``; the operator maximum caps it."""


@routes.post("/v1/blobs")
async def upload(request: web.Request) -> web.Response:
    """Stream an encrypted attachment to the blob store; keep it only if complete, under the cap and as signed."""
    relay = request.app[RELAY]
    device, proof = await relay.auth.authenticate_with_proof(request, None)
    require_content_type(request, "application/octet-stream")
    only_query_params(request, frozenset({"lifetime"}))
    lifetime = int_param(request, "lifetime", 0, 0, _MAX_LIFETIME_PARAM)
    cap = relay.config.max_blob_bytes
    declared = request.content_length
    if declared is not None and declared > cap:
        raise TooLarge(f"an attachment may be at most {cap} bytes")
    quota = relay.config.blob_quota_bytes
    reserve = cap if declared is None else declared
    await ensure_room(relay, reserve)
    # The quota check and the reservation are one step (reservations.py), shared by every relay process.
    async with relay.reservations.hold(device.device_id, reserve, quota):
        received = await relay.blobs.receive(request.content, reserve)
        try:
            check_body_hash(proof, received.sha256_hex)
            size = received.size
            await spend_bytes(relay, relay.backend.upload_bytes, device.device_id, size, "of this device's uploads")
            await spend_bytes(
                relay, relay.backend.address_bytes, (request.remote or "").encode(), size, "of this address"
            )
            blob_id = new_blob_id()
            now = relay.now_ms()
            record = BlobRecord(blob_id, device.device_id, received.size, relay.expiry_ms(now, lifetime), blob_id)
            await relay.blobs.commit(received, blob_id)
        except BaseException:
            await relay.blobs.discard(received)
            raise
        try:
            await relay.store.add_blob(record)
        except BaseException:
            await relay.blobs.remove(blob_id)
            raise
    return web.json_response(
        {"blob_id": blob_id, "size": received.size, "expires_at_ms": record.expires_at_ms}, status=201
    )


@routes.get("/v1/blobs/{blob_id}")
async def download(request: web.Request) -> web.StreamResponse:
    """Stream a blob to whoever holds its id (the relay does not learn who downloads): all of it, or the one
    byte range asked for (:mod:`confide.server.ranges`)."""
    relay = request.app[RELAY]
    blob_id = request.match_info["blob_id"]
    record = await relay.store.blob(blob_id) if BLOB_ID_RE.match(blob_id) else None
    if record is None or record.expires_at_ms <= relay.now_ms():
        raise NotFound("no such attachment: it expired, was deleted, or the id is wrong")
    return await relay.blobs.serve(record.path, byte_range(request.headers.get("Range"), record.size))


@routes.delete("/v1/blobs/{blob_id}")
async def delete(request: web.Request) -> web.Response:
    """Delete a blob now; only the device that uploaded it may."""
    relay = request.app[RELAY]
    device = await relay.auth.authenticate(request, await read_limited(request, 0))
    blob_id = request.match_info["blob_id"]
    record = await relay.store.blob(blob_id) if BLOB_ID_RE.match(blob_id) else None
    if record is None:
        raise NotFound("no such attachment: it expired, was deleted, or the id is wrong")
    if record.device_id != device.device_id:
        raise Forbidden("only the device that uploaded an attachment may delete it")
    deleted = await relay.store.delete_blob(blob_id)
    if deleted is not None:
        await relay.blobs.remove(deleted.path)
    return web.Response(status=204)
