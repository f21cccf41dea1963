"""Attacks on the relay's abuse limits (issue 9, points 2, 3 and 5): each test is the attack.

One-time prekeys cannot be drained past the budget, one device cannot fill the replay cache for everyone,
replay protection survives a restart, and storage is bounded: a global budget (507), daily byte budgets,
reserved blob quota, registration work and the expiry of abandoned accounts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from confide.keys import PreKeyBundle
from confide.protocol.auth import sign_request, work_ok
from confide.protocol.envelope import delivery_token_hash
from confide.server import sweep
from confide.server.backends import embedded_backend
from confide.server.diskgauge import DiskGauge
from confide.server.errors import Unauthorized
from confide.server.inprocess import NonceCache

from .conftest import Api, RunningRelay, User, b64, make_user, relay_config, run_relay, stop_relay


async def _registered(api: Api, **keys: int) -> User:
    user = make_user(**keys) if keys else make_user(n_otk=0, n_kem=0)
    status, body = await api.register(user)
    assert status == 201, body
    return user


async def _fetch_from(base: str, address: str, source: str) -> list[PreKeyBundle]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"{base}/v1/accounts/{address}/bundle") as resp,
    ):
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    return [PreKeyBundle.from_bytes(base64.b64decode(d["bundle"])) for d in body["devices"]]


async def test_concurrent_bundle_fetches_from_many_addresses_never_hand_out_more_one_time_keys_than_the_budget(
    relay: RunningRelay,
) -> None:
    """The attack: drain a therapist's one-time prekeys (so first messages lose their replay protection) with
    many concurrent bundle fetches from eight source addresses (per-IP limits do not help). Both kinds of
    one-time key handed out together never exceed the per-address budget, and none is handed out twice."""
    api = relay.api
    victim = await _registered(api, n_otk=60, n_kem=40)
    budget = relay.config.bundle_budget_per_hour
    sources = [f"127.0.0.{n}" for n in range(2, 10)]
    fetches = [_fetch_from(api.base, victim.address, sources[i % len(sources)]) for i in range(64)]
    bundles = [b for result in await asyncio.gather(*fetches) for b in result]
    assert len(bundles) == 64
    otk_ids = [b.one_time_prekey.key_id for b in bundles if b.one_time_prekey is not None]
    kem_ids = [b.kem_prekey.key_id for b in bundles if not b.kem_prekey.last_resort]
    assert len(otk_ids) == len(set(otk_ids))
    assert len(kem_ids) == len(set(kem_ids))
    assert len(otk_ids) + len(kem_ids) <= budget
    assert len(otk_ids) > 0
    _, counts = await api.call("GET", "/v1/prekeys", device=victim.device)
    assert counts["one_time"] == 60 - len(otk_ids)
    assert counts["kem_one_time"] == 40 - len(kem_ids)


async def test_one_device_flooding_the_replay_cache_is_refused_alone(tmp_path: Path) -> None:
    """The attack: a throw-away device sends signed requests as fast as it can to fill the replay cache, which
    fails closed when full, so that nobody else can pull, ack or connect. Each device has its own share: the
    flooder is refused with 429 once its share is full, and another device's requests still succeed."""
    share = 50
    config = relay_config(tmp_path)
    backend = dataclasses.replace(embedded_backend(config), replay=NonceCache(share))
    running = await run_relay(config, backend=backend)
    try:
        api = running.api
        flooder, honest = await _registered(api), await _registered(api)
        statuses = [(await api.pull(flooder))[0] for _ in range(share + 5)]
        assert 429 in statuses
        assert statuses.count(200) <= share
        status, body = await api.pull(flooder)
        assert (status, body["error"]) == (429, "rate_limited")
        for _ in range(3):
            assert (await api.pull(honest))[0] == 200
    finally:
        await stop_relay(running)


async def test_a_signed_request_captured_before_a_restart_is_refused_after_it(tmp_path: Path) -> None:
    """The attack: capture a device's signed request (e.g. at a TLS-terminating proxy), wait for the relay to
    restart (its nonce memory is gone), and replay it within the five-minute window. The relay refuses it
    (401) on the same data directory, while the device's fresh requests, even within the same second, work."""
    config = relay_config(tmp_path)
    first = await run_relay(config)
    user = await _registered(first.api)
    captured = first.api.sign(user.device, "POST", "/v1/messages/ack", b'{"ids": []}')
    captured["Content-Type"] = "application/json"
    other = first.api.sign(user.device, "GET", "/v1/prekeys")
    assert (await first.api.call("POST", "/v1/messages/ack", body=b'{"ids": []}', headers=captured))[0] == 200
    assert (await first.api.call("GET", "/v1/prekeys", headers=other))[0] == 200
    await stop_relay(first)

    second = await run_relay(config)
    try:
        status, body = await second.api.call("POST", "/v1/messages/ack", body=b'{"ids": []}', headers=captured)
        assert (status, body["error"]) == (401, "unauthorized")
        assert (await second.api.call("GET", "/v1/prekeys", headers=other))[0] == 401
        assert (await second.api.pull(user))[0] == 200  # a fresh request is fine
    finally:
        await stop_relay(second)


async def test_a_full_storage_budget_refuses_new_data_with_507_and_keeps_what_is_held(tmp_path: Path) -> None:
    """The attack: fill the relay's disk with self-addressed envelopes so that every store fails for everyone.
    The global storage budget refuses new envelopes, batches and attachments with 507 and a JSON body before
    the disk is full; everything already held is still delivered."""
    running = await run_relay(relay_config(tmp_path, storage_budget_bytes=3_000))
    try:
        api = running.api
        user = await _registered(api)
        stored = []
        status = 201
        while status == 201:
            env = user.envelope(b"\x01" + os.urandom(999))  # a client's version byte (0xC5 marks sealed rows)
            status, body = await api.send(env)
            if status == 201:
                stored.append(env.envelope_id)
        assert (status, body["error"]) == (507, "insufficient_storage")
        assert "storage" in body["message"]
        assert 1 <= len(stored) <= 3
        status, body = await _upload(api, user, os.urandom(1000))
        assert (status, body["error"]) == (507, "insufficient_storage")
        status, pulled = await api.pull(user)
        assert status == 200
        assert len(pulled["messages"]) == len(stored)
        assert (await api.ack(user, stored))[0] == 200
        assert (await api.send(user.envelope(os.urandom(1000))))[0] == 201  # room again once collected
    finally:
        await stop_relay(running)


async def test_a_nearly_full_disk_refuses_new_data_with_507(tmp_path: Path) -> None:
    """The attack: the budget is set larger than the disk. The free-space reserve still refuses new data (507)
    before the disk fills."""
    running = await run_relay(relay_config(tmp_path))
    try:
        user = await _registered(running.api)
        running.relay.config = dataclasses.replace(running.config, disk_reserve_bytes=2**62)
        status, body = await running.api.send(user.envelope(b"x" * 100))
        assert (status, body["error"]) == (507, "insufficient_storage")
        assert "disk" in body["message"]
    finally:
        await stop_relay(running)


async def test_a_burst_between_two_disk_readings_cannot_eat_the_reserve(tmp_path: Path) -> None:
    """The attack: the free space is read at most ten times a second, so a burst sent between two readings
    could fill the disk unseen. The bytes admitted since the last reading count against it: with room for
    exactly three envelopes above the reserve, the fourth of a burst is refused (507) before any new reading."""
    running = await run_relay(relay_config(tmp_path))
    try:
        user = await _registered(running.api)
        running.relay.disk = DiskGauge(clock=lambda: 0.0)  # one reading for the whole test
        free = running.relay.disk.free(tmp_path)
        assert free is not None
        running.relay.config = dataclasses.replace(running.config, disk_reserve_bytes=free - 3 * 1000)
        for _ in range(3):
            assert (await running.api.send(user.envelope(os.urandom(1000))))[0] == 201
        status, body = await running.api.send(user.envelope(os.urandom(1000)))
        assert (status, body["error"]) == (507, "insufficient_storage")
    finally:
        await stop_relay(running)


async def test_daily_byte_budget_per_recipient_token_stops_a_flood_from_one_token(tmp_path: Path) -> None:
    """The attack: one contact (one delivery token) floods a recipient device with large sealed envelopes.
    Its daily byte budget refuses the flood (429) while the same recipient's other token still gets through."""
    running = await run_relay(relay_config(tmp_path, token_bytes_per_day=2_500))
    try:
        api = running.api
        user = await _registered(api)
        second_token = os.urandom(32)
        hashes = {"token_hashes": [b64(delivery_token_hash(user.token)), b64(delivery_token_hash(second_token))]}
        assert (await api.call("PUT", "/v1/delivery-tokens", device=user.device, json_body=hashes))[0] == 200
        assert (await api.send(user.envelope(os.urandom(1000))))[0] == 201
        assert (await api.send(user.envelope(os.urandom(1000))))[0] == 201
        status, body = await api.send(user.envelope(os.urandom(1000)))
        assert (status, body["error"]) == (429, "rate_limited")
        assert (await api.send(user.envelope(os.urandom(1000), token=second_token)))[0] == 201
    finally:
        await stop_relay(running)


async def _slow(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 8192):
        await asyncio.sleep(0.01)
        yield data[i : i + 8192]


async def _upload(
    api: Api, user: User, data: bytes, *, slow: bool = False, bad_hash: bool = False
) -> tuple[int, dict[str, Any]]:
    digest = hashlib.sha256(b"other" if bad_hash else data).hexdigest()
    headers = sign_request(user.device, "POST", "/v1/blobs", digest, now=int(time.time()), nonce=os.urandom(16))
    headers["Content-Type"] = "application/octet-stream"
    async with api.session.post(api.base + "/v1/blobs", data=_slow(data) if slow else data, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_concurrent_uploads_cannot_exceed_the_blob_quota(tmp_path: Path) -> None:
    """The attack: start many uploads at once, each under the quota, so that each passes the quota check before
    any is stored (before, eight concurrent uploads stored eight times the quota). Space is reserved before
    the body is read, so together they never exceed it; a failed upload releases its reservation."""
    quota = 100_000
    running = await run_relay(relay_config(tmp_path, blob_quota_bytes=quota, max_blob_bytes=60_000))
    try:
        api = running.api
        user = await _registered(api)
        results = await asyncio.gather(*[_upload(api, user, os.urandom(50_000), slow=True) for _ in range(8)])
        stored = sum(body["size"] for status, body in results if status == 201)
        assert stored <= quota
        assert [body["error"] for status, body in results if status != 201] == ["mailbox_full"] * sum(
            status != 201 for status, _ in results
        )
        assert await running.relay.store.blob_bytes(user.device_id) == stored
        assert await running.relay.reservations.pending() == 0
    finally:
        await stop_relay(running)
    running = await run_relay(relay_config(tmp_path / "b", blob_quota_bytes=quota, max_blob_bytes=60_000))
    try:
        user = await _registered(running.api)
        assert (await _upload(running.api, user, os.urandom(50_000), bad_hash=True))[0] == 401
        assert (await _upload(running.api, user, os.urandom(50_000)))[0] == 201  # the failure released its space
    finally:
        await stop_relay(running)


async def test_an_unseen_account_expires_with_its_mailbox_and_blobs(tmp_path: Path) -> None:
    """The attack: free throw-away accounts pile up forever with their mailboxes and attachments. An account
    none of whose devices was seen for the configured time is deleted by the sweeper with everything of it;
    an account seen recently stays."""
    running = await run_relay(relay_config(tmp_path, account_ttl_s=100))
    try:
        api = running.api
        store = running.relay.store
        gone, kept = await _registered(api, n_otk=3, n_kem=1), await _registered(api)
        assert (await api.send(gone.envelope(b"waiting")))[0] == 201
        status, body = await _upload(api, gone, os.urandom(5000))
        assert status == 201
        blob_id = body["blob_id"]
        assert (await api.send(kept.envelope(b"kept")))[0] == 201
        now_ms = int(time.time() * 1000)
        await store.note_seen(kept.device_id, int(time.time()) + 1, os.urandom(16), now_ms + 150_000)

        await sweep(store, running.relay.blobs, now_ms + 200_000)

        assert await store.device(gone.device_id) is None
        assert (await api.call("GET", f"/v1/accounts/{gone.address}/bundle"))[0] == 404
        assert (await api.pull(gone))[0] == 401
        assert (await api.call("GET", f"/v1/blobs/{blob_id}"))[0] == 404
        assert list(running.config.blob_dir.iterdir()) == []
        assert await store.bytes_held() == len(b"kept")
        status, pulled = await api.pull(kept)
        assert status == 200
        assert len(pulled["messages"]) == 1
    finally:
        await stop_relay(running)


async def test_registration_without_valid_work_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    """The attack: register accounts for free by the thousand. Registration needs proof of work over a fresh
    challenge issued by this relay and bound to the device; without it, with a wrong nonce, a forged
    challenge or work done for another device, the answer is 403 ``work_required`` and nothing is stored."""
    running = await run_relay(relay_config(tmp_path, registration_work_bits=12))
    try:
        api = running.api
        user, other = make_user(), make_user()
        attempts = [user.registration()]
        good = await api.registration(user)
        raw = base64.b64decode(good["work_challenge"])
        wrong = next(n for n in (i.to_bytes(16, "big") for i in range(64)) if not work_ok(raw, user.device_id, n, 12))
        attempts.append({**good, "work_nonce": b64(wrong)})
        forged = bytearray(base64.b64decode(good["work_challenge"]))
        forged[0] ^= 1
        attempts.append({**good, "work_challenge": b64(bytes(forged))})
        others_work = {k: v for k, v in (await api.registration(other)).items() if k.startswith("work_")}
        attempts.append({**user.registration(), **others_work})  # work done for another device
        for body in attempts:
            status, answer = await api.call("POST", "/v1/accounts", device=user.device, json_body=body)
            assert (status, answer["error"]) == (403, "work_required"), answer
        assert await running.relay.store.device(user.device_id) is None
        assert (await api.call("GET", f"/v1/accounts/{user.address}/bundle"))[0] == 404
        assert await running.relay.store.bytes_held() == 0
        assert (await api.call("POST", "/v1/accounts", device=user.device, json_body=good))[0] == 201
    finally:
        await stop_relay(running)


async def test_many_throw_away_devices_cannot_exhaust_the_replay_cache_or_reopen_a_replay() -> None:
    """The attack: register many cheap devices and let each fill its share, so that the relay's nonce memory
    grows without bound (or, bounded, fails closed for everyone). The cache stays within its total bound by
    forgetting the least recently seen devices whole; a forgotten device's replay is still refused from the
    floor its store row holds, and an honest device is never refused."""
    cache = NonceCache(10, max_total=100)
    now = time.time()
    stamp = int(now)
    first_nonces = [os.urandom(16) for _ in range(5)]
    for nonce in first_nonces:
        await cache.remember(b"victim".ljust(16, b"\0"), nonce, stamp, 0, b"", now)
    for d in range(50):
        for _ in range(10):
            await cache.remember(d.to_bytes(16, "big"), os.urandom(16), stamp, 0, b"", now)
    assert len(cache) <= 100
    await cache.remember(b"honest".ljust(16, b"\0"), os.urandom(16), stamp, 0, b"", now)
    # The victim was forgotten; the store hands back its floor (stamp) and the nonces accepted at it.
    try:
        await cache.remember(b"victim".ljust(16, b"\0"), first_nonces[0], stamp, stamp, b"".join(first_nonces), now)
    except Unauthorized:
        pass
    else:
        raise AssertionError("a replay was accepted after its device was forgotten")
    with contextlib.suppress(Unauthorized):
        await cache.remember(b"victim".ljust(16, b"\0"), os.urandom(16), stamp - 1, stamp, b"", now)
        raise AssertionError("an older stamp was accepted after its device was forgotten")
    await cache.remember(b"victim".ljust(16, b"\0"), os.urandom(16), stamp, stamp, b"".join(first_nonces), now)
