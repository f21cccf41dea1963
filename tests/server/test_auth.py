"""Device authentication: refusals for missing, bad, expired, replayed and misdirected proofs."""

from __future__ import annotations

import json
import os
import time

from confide.protocol.auth import H_SIGNATURE

from .conftest import Api, User, make_user


async def _registered(api: Api) -> User:
    user = make_user()
    assert (await api.register(user))[0] == 201
    return user


async def test_unsigned_request_is_refused(api: Api) -> None:
    status, body = await api.call("GET", "/v1/messages")
    assert (status, body["error"]) == (401, "unauthorized")


async def test_unregistered_device_is_refused(api: Api) -> None:
    stranger = make_user()
    status, body = await api.pull(stranger)
    assert (status, body["error"]) == (401, "unauthorized")
    assert "register" in body["message"]


async def test_bad_signature_is_refused(api: Api) -> None:
    user = await _registered(api)
    headers = api.sign(user.device, "GET", "/v1/messages")
    sig = bytearray(headers[H_SIGNATURE].encode())
    sig[5] = ord("A") if sig[5] != ord("A") else ord("B")
    headers[H_SIGNATURE] = sig.decode()
    status, body = await api.call("GET", "/v1/messages", headers=headers)
    assert (status, body["error"]) == (401, "unauthorized")


async def test_signature_covers_path_and_query(api: Api) -> None:
    user = await _registered(api)
    headers = api.sign(user.device, "GET", "/v1/messages?limit=1")
    status, _ = await api.call("GET", "/v1/messages?limit=2", headers=headers)
    assert status == 401
    headers = api.sign(user.device, "GET", "/v1/prekeys")
    status, _ = await api.call("GET", "/v1/messages", headers=headers)
    assert status == 401


async def test_body_must_match_the_signed_hash(api: Api) -> None:
    user = await _registered(api)
    signed = json.dumps({"ids": []}).encode()
    headers = api.sign(user.device, "POST", "/v1/messages/ack", signed)
    other = json.dumps({"ids": ["00" * 16]}).encode()
    status, body = await api.call(
        "POST", "/v1/messages/ack", body=other, headers=headers, content_type="application/json"
    )
    assert (status, body["error"]) == (401, "unauthorized")


async def test_expired_and_future_proofs_are_refused(api: Api) -> None:
    user = await _registered(api)
    for skew in (-301, 301):
        headers = api.sign(user.device, "GET", "/v1/messages", now=int(time.time()) + skew)
        status, body = await api.call("GET", "/v1/messages", headers=headers)
        assert (status, body["error"]) == (401, "unauthorized")
        assert "clock" in body["message"]


async def test_replayed_proof_is_refused(api: Api) -> None:
    user = await _registered(api)
    headers = api.sign(user.device, "GET", "/v1/messages", nonce=os.urandom(16))
    status, _ = await api.call("GET", "/v1/messages", headers=headers)
    assert status == 200
    status, body = await api.call("GET", "/v1/messages", headers=headers)
    assert (status, body["error"]) == (401, "unauthorized")
    assert "replay" in body["message"]


async def test_a_device_reads_and_acks_only_its_own_mailbox(api: Api) -> None:
    alice, bob = await _registered(api), await _registered(api)
    env = alice.envelope(b"for alice only")
    assert (await api.send(env))[0] == 201
    status, body = await api.pull(bob)
    assert (status, body["messages"]) == (200, [])
    status, body = await api.ack(bob, [env.envelope_id])
    assert (status, body) == (200, {"deleted": 0})
    status, body = await api.pull(alice)
    assert len(body["messages"]) == 1


async def test_websocket_upgrade_requires_a_proof(api: Api) -> None:
    user = await _registered(api)
    async with api.session.get(api.base + "/v1/ws") as resp:
        assert resp.status == 401
    headers = api.sign(user.device, "GET", "/v1/ws", now=int(time.time()) - 1000)
    async with api.session.get(api.base + "/v1/ws", headers=headers) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "unauthorized"
