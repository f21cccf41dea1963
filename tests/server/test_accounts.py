"""Registration, bundles, prekey refills and delivery tokens against a real relay."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path

from confide.keys import Address, IdentityKeyPair, KemPreKeyRecord, OneTimePreKeyRecord, PreKeyBundle
from confide.protocol.envelope import delivery_token_hash

from .conftest import Api, RunningRelay, b64, make_user, relay_config, run_relay, stop_relay


async def test_register_derives_address_and_is_idempotent(api: Api) -> None:
    user = make_user()
    status, body = await api.register(user)
    assert status == 201
    assert body == {"address": user.address, "device_id": user.device_id.hex()}
    status, body = await api.register(user)
    assert status == 200
    assert body["address"] == user.address


async def test_registration_must_be_signed_by_the_registered_device(api: Api) -> None:
    user, other = make_user(), make_user()
    await api.register(other)
    status, body = await api.call("POST", "/v1/accounts", device=other.device, json_body=await api.registration(user))
    assert status == 401
    assert body["error"] == "unauthorized"


async def test_registration_with_a_forged_device_certificate_is_refused(api: Api) -> None:
    user, mallory = make_user(), make_user()
    reg = await api.registration(user)
    reg["device"] = b64(mallory.device.certificate.to_bytes())  # certified by another identity
    status, body = await api.call("POST", "/v1/accounts", device=mallory.device, json_body=reg)
    assert status == 400
    assert body["error"] == "malformed"
    assert "signature" in body["message"]


async def test_registration_with_a_prekey_signed_by_another_identity_is_refused(api: Api) -> None:
    user, mallory = make_user(), make_user()
    reg = await api.registration(user)
    reg["signed_prekey"] = b64(mallory.spk.public.to_bytes())
    status, _ = await api.call("POST", "/v1/accounts", device=user.device, json_body=reg)
    assert status == 400
    status, _ = await api.call("GET", f"/v1/accounts/{user.address}/bundle")
    assert status == 404  # nothing was stored


async def test_bundle_verifies_and_matches_the_address(api: Api) -> None:
    user = make_user(n_otk=2, n_kem=1)
    await api.register(user)
    status, body = await api.call("GET", f"/v1/accounts/{user.address}/bundle")
    assert status == 200
    assert body["address"] == user.address
    [dev] = body["devices"]
    assert dev["device_id"] == user.device_id.hex()
    bundle = PreKeyBundle.from_bytes(base64.b64decode(dev["bundle"]))
    bundle.check_address(Address.parse(user.address))
    assert bundle.one_time_prekey is not None
    assert bundle.one_time_prekey.key_id == user.otks[0].key_id
    assert not bundle.kem_prekey.last_resort


async def test_unknown_and_invalid_addresses(api: Api) -> None:
    stranger = IdentityKeyPair.generate(os.urandom).public.address.text
    status, body = await api.call("GET", f"/v1/accounts/{stranger}/bundle")
    assert (status, body["error"]) == (404, "not_found")
    status, body = await api.call("GET", "/v1/accounts/cf1-nonsense/bundle")
    assert (status, body["error"]) == (400, "malformed")


async def test_exhaustion_falls_back_to_last_resort(api: Api) -> None:
    user = make_user(n_otk=2, n_kem=1)
    await api.register(user)
    seen = []
    for _ in range(4):
        _, body = await api.call("GET", f"/v1/accounts/{user.address}/bundle")
        seen.append(PreKeyBundle.from_bytes(base64.b64decode(body["devices"][0]["bundle"])))
    assert [b.one_time_prekey.key_id if b.one_time_prekey else None for b in seen] == [1, 2, None, None]
    assert [b.kem_prekey.last_resort for b in seen] == [False, True, True, True]
    assert [b.kem_prekey.key_id for b in seen[1:]] == [user.kem_lr.key_id] * 3
    status, counts = await api.call("GET", "/v1/prekeys", device=user.device)
    assert status == 200
    assert counts == {"one_time": 0, "kem_one_time": 0, "signed_prekey_id": 1, "kem_last_resort_id": user.kem_lr.key_id}


async def test_concurrent_fetches_hand_out_each_one_time_key_once(api: Api) -> None:
    user = make_user(n_otk=10, n_kem=10)
    await api.register(user)
    results = await asyncio.gather(*[api.call("GET", f"/v1/accounts/{user.address}/bundle") for _ in range(25)])
    bundles = [PreKeyBundle.from_bytes(base64.b64decode(b["devices"][0]["bundle"])) for s, b in results]
    otk_ids = [b.one_time_prekey.key_id for b in bundles if b.one_time_prekey is not None]
    kem_ids = [b.kem_prekey.key_id for b in bundles if not b.kem_prekey.last_resort]
    assert sorted(otk_ids) == [k.key_id for k in user.otks]
    assert sorted(kem_ids) == sorted(k.key_id for k in user.kem_otks)


async def test_fetch_budget_per_address_protects_one_time_keys(relay: RunningRelay) -> None:
    # The default budget is 30 one-time keys per hour, both kinds counted (2 per fetch of a one-device
    # account): after 15 fetches, the rest stay on the relay.
    user = make_user(n_otk=40, n_kem=0)
    api = relay.api
    await api.register(user)
    budget = relay.config.bundle_budget_per_hour
    for _ in range(budget + 5):
        await api.call("GET", f"/v1/accounts/{user.address}/bundle")
    _, counts = await api.call("GET", "/v1/prekeys", device=user.device)
    assert counts["one_time"] == 40 - budget // 2


async def test_refill_and_rotation(api: Api) -> None:
    user = make_user(n_otk=1, n_kem=0)
    await api.register(user)
    more = OneTimePreKeyRecord.generate_batch(50, 3, os.urandom)
    kem = [KemPreKeyRecord.generate(user.identity, 200, os.urandom, int(time.time()), last_resort=False)]
    new_lr = KemPreKeyRecord.generate(user.identity, 300, os.urandom, int(time.time()), last_resort=True)
    status, counts = await api.call(
        "PUT",
        "/v1/prekeys",
        device=user.device,
        json_body={
            "one_time_prekeys": [b64(k.public.to_bytes()) for k in more],
            "kem_one_time_prekeys": [b64(k.public.to_bytes()) for k in kem],
            "kem_last_resort": b64(new_lr.public.to_bytes()),
        },
    )
    assert status == 200
    assert counts == {"one_time": 4, "kem_one_time": 1, "signed_prekey_id": 1, "kem_last_resort_id": 300}


async def test_refill_with_keys_of_another_identity_is_refused(api: Api) -> None:
    user, mallory = make_user(n_otk=0, n_kem=0), make_user()
    await api.register(user)
    status, _body = await api.call(
        "PUT",
        "/v1/prekeys",
        device=user.device,
        json_body={"kem_one_time_prekeys": [b64(k.public.to_bytes()) for k in mallory.kem_otks]},
    )
    assert status == 400
    _, counts = await api.call("GET", "/v1/prekeys", device=user.device)
    assert counts["kem_one_time"] == 0


async def test_delivery_tokens_replace_the_accepted_set(api: Api) -> None:
    user = make_user()
    await api.register(user)
    new_token = os.urandom(32)
    status, body = await api.call(
        "PUT",
        "/v1/delivery-tokens",
        device=user.device,
        json_body={"token_hashes": [b64(delivery_token_hash(new_token))]},
    )
    assert (status, body) == (200, {"count": 1})
    status, body = await api.send(user.envelope())
    assert (status, body["error"]) == (403, "forbidden")
    status, _ = await api.send(user.envelope(token=new_token))
    assert status == 201


async def test_connection_and_bundle_fetch_rate_limits(tmp_path: Path) -> None:
    """Per-connection token buckets: a burst beyond the limit is a 429 JSON answer; bundle fetches have their own."""
    running = await run_relay(relay_config(tmp_path, rate_per_s=0.01, rate_burst=5, bundle_rate_per_min=0))
    try:
        statuses = [(await running.api.call("GET", "/v1/health"))[0] for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        status, body = await running.api.call("GET", "/v1/health")
        assert (status, body["error"]) == (429, "rate_limited")
    finally:
        await stop_relay(running)

    running = await run_relay(relay_config(tmp_path / "b", rate_per_s=0, bundle_rate_per_min=4))
    try:
        user = make_user(n_otk=10, n_kem=0)
        assert (await running.api.register(user))[0] == 201
        path = f"/v1/accounts/{user.address}/bundle"
        statuses = [(await running.api.call("GET", path))[0] for _ in range(3)]
        assert statuses == [200, 200, 429]  # a burst of half a minute's budget, then refused
        assert (await running.api.call("GET", "/v1/health"))[0] == 200  # other requests are unaffected
    finally:
        await stop_relay(running)
