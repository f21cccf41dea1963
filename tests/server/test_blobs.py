"""Attachments: streamed upload and download, the size cap, the signed hash, deletion, expiry."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from confide.protocol.auth import sign_request
from confide.server import sweep

from .conftest import Api, RunningRelay, User, make_user, relay_config, run_relay, stop_relay

CHUNK = 64 * 1024


async def _registered(api: Api) -> User:
    user = make_user(n_otk=0, n_kem=0)
    assert (await api.register(user))[0] == 201
    return user


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


async def _upload(
    api: Api, user: User, data: bytes, *, query: str = "", signed_hash: str | None = None, stream: bool = True
) -> tuple[int, dict[str, object]]:
    path = "/v1/blobs" + query
    body_hash = signed_hash or hashlib.sha256(data).hexdigest()
    headers = sign_request(user.device, "POST", path, body_hash, now=int(time.time()), nonce=os.urandom(16))
    headers["Content-Type"] = "application/octet-stream"
    body = _chunks(data) if stream else data
    async with api.session.post(api.base + path, data=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_upload_and_download_stream(relay: RunningRelay) -> None:
    api = relay.api
    user = await _registered(api)
    data = os.urandom(3 * 1024 * 1024 + 17)
    status, body = await _upload(api, user, data)
    assert status == 201
    assert body["size"] == len(data)
    blob_id = body["blob_id"]
    assert isinstance(blob_id, str)
    assert len(blob_id) == 43
    digest = hashlib.sha256()
    async with api.session.get(f"{api.base}/v1/blobs/{blob_id}") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/octet-stream"
        async for chunk in resp.content.iter_chunked(CHUNK):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert [p.name for p in relay.config.blob_dir.iterdir()] == [blob_id]


async def test_cap_refuses_and_keeps_nothing(tmp_path: Path) -> None:
    running = await run_relay(relay_config(tmp_path, max_blob_bytes=100_000))
    try:
        api = running.api
        user = await _registered(api)
        status, body = await _upload(api, user, os.urandom(100_001), stream=False)  # declared length
        assert (status, body["error"]) == (413, "too_large")
        status, body = await _upload(api, user, os.urandom(300_000))  # chunked: found while streaming
        assert (status, body["error"]) == (413, "too_large")
        assert list(running.config.blob_dir.iterdir()) == []
        status, _ = await _upload(api, user, os.urandom(100_000))
        assert status == 201
    finally:
        await stop_relay(running)


async def test_body_must_match_signed_hash(relay: RunningRelay) -> None:
    api = relay.api
    user = await _registered(api)
    status, body = await _upload(api, user, b"x" * 1000, signed_hash=hashlib.sha256(b"y").hexdigest())
    assert (status, body["error"]) == (401, "unauthorized")
    assert list(relay.config.blob_dir.iterdir()) == []


async def test_unknown_and_malformed_ids_are_not_found(api: Api) -> None:
    for blob_id in ("A" * 43, "../../etc/passwd", "x"):
        async with api.session.get(f"{api.base}/v1/blobs/{blob_id}") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == "not_found"


async def test_only_the_uploader_deletes(relay: RunningRelay) -> None:
    api = relay.api
    alice, bob = await _registered(api), await _registered(api)
    _, body = await _upload(api, alice, b"attachment")
    path = f"/v1/blobs/{body['blob_id']}"
    status, err = await api.call("DELETE", path, device=bob.device)
    assert (status, err["error"]) == (403, "forbidden")
    status, _ = await api.call("DELETE", path, device=alice.device)
    assert status == 204
    status, _ = await api.call("GET", path)
    assert status == 404
    assert list(relay.config.blob_dir.iterdir()) == []


async def test_blobs_expire(relay: RunningRelay) -> None:
    api = relay.api
    user = await _registered(api)
    _, short = await _upload(api, user, b"short-lived", query="?lifetime=60")
    _, long = await _upload(api, user, b"long-lived")
    expires = short["expires_at_ms"]
    assert isinstance(expires, int)
    result = await sweep(relay.relay.store, relay.relay.blobs, expires)
    assert result.blob_paths == (short["blob_id"],)
    assert (await api.call("GET", f"/v1/blobs/{short['blob_id']}"))[0] == 404
    assert (await api.call("GET", f"/v1/blobs/{long['blob_id']}"))[0] == 200
    assert [p.name for p in relay.config.blob_dir.iterdir()] == [long["blob_id"]]
