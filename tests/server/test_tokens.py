"""Per-contact delivery tokens at the relay (issue 11): a device holds up to ``MAX_TOKEN_HASHES``, removing one
refuses exactly that one, and ``/openapi.json`` states the same cap."""

from __future__ import annotations

import os
from typing import Any

from confide.keys import DeviceKeyPair
from confide.protocol.envelope import delivery_token_hash
from confide.server.limits import MAX_JSON_BODY, MAX_TOKEN_HASHES

from .conftest import Api, b64, make_user


async def _put(api: Api, device: DeviceKeyPair, tokens: list[bytes]) -> tuple[int, Any]:
    body = {"token_hashes": [b64(delivery_token_hash(t)) for t in tokens]}
    return await api.call("PUT", "/v1/delivery-tokens", device=device, json_body=body)


async def test_a_device_holds_a_caseload_of_tokens_and_no_more(api: Api) -> None:
    user = make_user()
    await api.register(user)
    tokens = [os.urandom(32) for _ in range(MAX_TOKEN_HASHES)]
    assert await _put(api, user.device, tokens) == (200, {"count": MAX_TOKEN_HASHES})
    for token in (tokens[0], tokens[-1]):
        status, _ = await api.send(user.envelope(b"x", token=token))
        assert status == 201
    status, body = await _put(api, user.device, [*tokens, os.urandom(32)])
    assert status == 400
    assert isinstance(body, dict)
    assert body["error"] == "malformed"
    status, _ = await api.send(user.envelope(b"y", token=tokens[-1]))  # the set is unchanged
    assert status == 201


async def test_a_registration_carries_the_whole_set(api: Api) -> None:
    user = make_user(n_otk=200, n_kem=50)
    tokens = [os.urandom(32) for _ in range(MAX_TOKEN_HASHES)]
    body = await api.registration(user)
    body["delivery_token_hashes"] = [b64(delivery_token_hash(t)) for t in tokens]
    assert len(str(body)) < MAX_JSON_BODY
    status, _ = await api.call("POST", "/v1/accounts", device=user.device, json_body=body)
    assert status == 201
    status, _ = await api.send(user.envelope(b"x", token=tokens[-1]))
    assert status == 201


async def test_removing_one_token_refuses_that_one_only(api: Api) -> None:
    user = make_user()
    await api.register(user)
    blocked, kept = os.urandom(32), [os.urandom(32), os.urandom(32)]
    assert await _put(api, user.device, [kept[0], blocked, kept[1]]) == (200, {"count": 3})
    assert await _put(api, user.device, kept) == (200, {"count": 2})
    status, body = await api.send(user.envelope(b"x", token=blocked))
    assert (status, body["error"]) == (403, "forbidden")
    for token in kept:
        status, _ = await api.send(user.envelope(b"x", token=token))
        assert status == 201
    status, pulled = await api.pull(user)
    assert status == 200
    assert len(pulled["messages"]) == 2


async def test_openapi_states_the_cap(api: Api) -> None:
    status, doc = await api.call("GET", "/openapi.json")
    assert status == 200
    put = doc["paths"]["/v1/delivery-tokens"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["token_hashes"]["maxItems"] == MAX_TOKEN_HASHES
    answer = put["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["count"]["maximum"] == MAX_TOKEN_HASHES
    register = doc["paths"]["/v1/accounts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert register["properties"]["delivery_token_hashes"]["maxItems"] == MAX_TOKEN_HASHES
