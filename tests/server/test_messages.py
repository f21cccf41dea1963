"""Mailboxes: send (idempotent), batch, pull, ack, quotas, lifetimes, push over WebSocket."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path

import aiohttp
import pytest

from confide.protocol.envelope import Delivery, encode_batch

from .conftest import Api, RunningRelay, User, make_user, relay_config, run_relay, stop_relay


async def _registered(api: Api) -> User:
    user = make_user(n_otk=0, n_kem=0)
    assert (await api.register(user))[0] == 201
    return user


def _deliveries(body: dict[str, object]) -> list[Delivery]:
    return [Delivery.from_bytes(base64.b64decode(m)) for m in body["messages"]]  # type: ignore[attr-defined]


async def test_send_pull_ack(api: Api) -> None:
    bob = await _registered(api)
    env = bob.envelope(b"ciphertext-1")
    before = int(time.time() * 1000)
    status, body = await api.send(env)
    assert status == 201
    assert body["envelope_id"] == env.envelope_id.hex()
    assert body["expires_at_ms"] >= before + 30 * 24 * 3600 * 1000
    status, body = await api.pull(bob)
    [d] = _deliveries(body)
    assert (d.envelope_id, d.ciphertext, d.expires_at_ms) == (
        env.envelope_id,
        b"ciphertext-1",
        d.received_at_ms + 30 * 24 * 3600 * 1000,
    )
    assert body["more"] is False
    status, body = await api.ack(bob, [env.envelope_id, env.envelope_id])
    assert (status, body) == (200, {"deleted": 1})
    assert (await api.pull(bob))[1]["messages"] == []


async def test_send_is_idempotent_by_envelope_id(api: Api) -> None:
    bob = await _registered(api)
    env = bob.envelope(b"once")
    first = await api.send(env)
    again = await api.send(env)
    assert first[0] == 201
    assert again[0] == 200
    assert first[1] == again[1]
    assert len((await api.pull(bob))[1]["messages"]) == 1


async def test_envelope_id_reused_for_another_device_is_a_conflict(api: Api) -> None:
    alice, bob = await _registered(api), await _registered(api)
    env = alice.envelope()
    await api.send(env)
    status, body = await api.send(bob.envelope(envelope_id=env.envelope_id))
    assert (status, body["error"]) == (409, "conflict")


async def test_unknown_device_and_wrong_token(api: Api) -> None:
    bob = await _registered(api)
    stranger = make_user()
    status, body = await api.send(stranger.envelope())
    assert (status, body["error"]) == (404, "not_found")
    status, body = await api.send(bob.envelope(token=os.urandom(32)))
    assert (status, body["error"]) == (403, "forbidden")
    assert (await api.pull(bob))[1]["messages"] == []


async def test_lifetime_is_the_senders_choice_capped_by_the_operator(api: Api) -> None:
    bob = await _registered(api)
    _, short = await api.send(bob.envelope(lifetime_s=60))
    _, long = await api.send(bob.envelope(lifetime_s=10**9))
    now = int(time.time() * 1000)
    assert abs(short["expires_at_ms"] - (now + 60_000)) < 5_000
    assert abs(long["expires_at_ms"] - (now + 30 * 24 * 3600 * 1000)) < 5_000


async def test_mailbox_quota(tmp_path: Path) -> None:
    running = await run_relay(relay_config(tmp_path, mailbox_quota=3))
    try:
        api = running.api
        bob = await _registered(api)
        statuses = [(await api.send(bob.envelope()))[0] for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
        _status, body = await api.send(bob.envelope())
        assert body["error"] == "mailbox_full"
        _, pulled = await api.pull(bob)
        await api.ack(bob, [d.envelope_id for d in _deliveries(pulled)][:1])
        assert (await api.send(bob.envelope()))[0] == 201
    finally:
        await stop_relay(running)


async def test_pull_pages_oldest_first(api: Api) -> None:
    bob = await _registered(api)
    envs = [bob.envelope(bytes([i])) for i in range(5)]
    for env in envs:
        await api.send(env)
    _status, body = await api.pull(bob, limit=3)
    assert [d.ciphertext for d in _deliveries(body)] == [b"\x00", b"\x01", b"\x02"]
    assert body["more"] is True


async def test_batch_stores_in_one_go_with_per_envelope_status(api: Api) -> None:
    alice, bob = await _registered(api), await _registered(api)
    stranger = make_user()
    dup = bob.envelope(b"dup")
    await api.send(dup)
    envs = [alice.envelope(b"a"), bob.envelope(b"b"), dup, bob.envelope(token=os.urandom(32)), stranger.envelope()]
    status, body = await api.call(
        "POST",
        "/v1/messages/batch",
        body=encode_batch([e.to_bytes() for e in envs]),
        content_type="application/octet-stream",
    )
    assert status == 200
    assert [r["status"] for r in body["results"]] == ["stored", "stored", "duplicate", "forbidden", "not_found"]
    assert [r["envelope_id"] for r in body["results"]] == [e.envelope_id.hex() for e in envs]
    assert len((await api.pull(bob))[1]["messages"]) == 2


async def test_push_to_connected_socket_and_backlog_first(api: Api) -> None:
    bob = await _registered(api)
    queued = bob.envelope(b"while offline")
    await api.send(queued)
    ws = await api.ws(bob)
    try:
        first = await asyncio.wait_for(ws.receive(), 5)
        assert first.type == aiohttp.WSMsgType.BINARY
        assert Delivery.from_bytes(first.data).ciphertext == b"while offline"
        live = bob.envelope(b"live")
        assert (await api.send(live))[0] == 201
        second = await asyncio.wait_for(ws.receive(), 5)
        assert Delivery.from_bytes(second.data).envelope_id == live.envelope_id
        await ws.send_str(json.dumps({"ack": [queued.envelope_id.hex(), live.envelope_id.hex()]}))
        for _ in range(50):
            if not (await api.pull(bob))[1]["messages"]:
                break
            await asyncio.sleep(0.02)
        assert (await api.pull(bob))[1]["messages"] == []
    finally:
        await ws.close()


async def test_offline_device_pulls_what_was_pushed_to_nobody(api: Api) -> None:
    alice, bob = await _registered(api), await _registered(api)
    ws = await api.ws(alice)
    try:
        env = bob.envelope(b"for bob")
        await api.send(env)
        _, body = await api.pull(bob)
        assert [d.envelope_id for d in _deliveries(body)] == [env.envelope_id]
        # Alice's socket got nothing of Bob's.
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.2)
    finally:
        await ws.close()


async def test_malformed_websocket_frame_closes_with_policy_violation(api: Api) -> None:
    bob = await _registered(api)
    ws = await api.ws(bob)
    await ws.send_str("not json")
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 1008
    await ws.close()


async def test_sockets_per_device_are_limited(tmp_path: Path) -> None:
    running = await run_relay(relay_config(tmp_path, max_sockets_per_device=1))
    try:
        api = running.api
        bob = await _registered(api)
        ws = await api.ws(bob)
        async with api.session.get(api.base + "/v1/ws", headers=api.sign(bob.device, "GET", "/v1/ws")) as resp:
            assert resp.status == 429
        await ws.close()
    finally:
        await stop_relay(running)


async def test_many_concurrent_senders_all_committed_and_pushed(relay: RunningRelay) -> None:
    api = relay.api
    bob = await _registered(api)
    ws = await api.ws(bob)
    try:
        envs = [bob.envelope(os.urandom(200)) for _ in range(200)]
        results = await asyncio.gather(*[api.send(e) for e in envs])
        assert all(status == 201 for status, _ in results)
        got: set[bytes] = set()
        while len(got) < len(envs):
            msg = await asyncio.wait_for(ws.receive(), 5)
            got.add(Delivery.from_bytes(msg.data).envelope_id)
        assert got == {e.envelope_id for e in envs}
    finally:
        await ws.close()


async def test_push_continues_after_the_newest_envelope_was_acked(api: Api) -> None:
    # Regression: SQLite reuses the rowid of a deleted last row; the socket must still get the next one.
    bob = await _registered(api)
    ws = await api.ws(bob)
    try:
        for i in range(3):
            env = bob.envelope(bytes([i]))
            await api.send(env)
            msg = await ws.receive(timeout=5)
            assert Delivery.from_bytes(msg.data).envelope_id == env.envelope_id
            await ws.send_str(json.dumps({"ack": [env.envelope_id.hex()]}))
            for _ in range(50):
                if not (await api.pull(bob))[1]["messages"]:
                    break
                await asyncio.sleep(0.01)
    finally:
        await ws.close()
