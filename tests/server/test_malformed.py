"""Nothing a client sends produces a 500 or corrupts what is stored: every endpoint, malformed bodies."""

from __future__ import annotations

import base64
import json
import os
import random
from typing import Any

import aiohttp

from confide.keys import PreKeyBundle
from confide.protocol.envelope import encode_batch
from confide.server.limits import MAX_TOKEN_HASHES

from .conftest import Api, RunningRelay, User, make_user

JSON_GARBAGE: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"42",
    b'"text"',
    b"\xff\xfe\x00",
    b"{}",
    b'{"a": ' * 2000 + b"1" + b"}" * 2000,
    json.dumps({"identity": 5}).encode(),
    json.dumps({"identity": "!!!notbase64"}).encode(),
    json.dumps({"identity": base64.b64encode(os.urandom(128)).decode(), "device": "AAAA"}).encode(),
    json.dumps({"ids": "00"}).encode(),
    json.dumps({"ids": [1, 2]}).encode(),
    json.dumps({"ids": ["zz" * 16]}).encode(),
    json.dumps({"ids": ["00" * 16] * 501}).encode(),
    json.dumps({"token_hashes": ["AAAA"]}).encode(),
    json.dumps({"token_hashes": [base64.b64encode(os.urandom(32)).decode()] * (MAX_TOKEN_HASHES + 1)}).encode(),
    json.dumps({"one_time_prekeys": ["AAAA"]}).encode(),
    json.dumps({"kem_last_resort": "A" * 5000}).encode(),
    json.dumps({"signed_prekey": base64.b64encode(os.urandom(100)).decode()}).encode(),
]
BINARY_GARBAGE: list[bytes] = [
    b"",
    b"\x00",
    b"\x02" + os.urandom(100),
    b"\x01" + os.urandom(20),
    b"\x01" + os.urandom(68) + b"\xff\xff\xff\xff",
    os.urandom(2000),
    b"\x00\x00",
    b"\xff\xff" + os.urandom(50),
    b"\x00\x01\x00\x00\x00\x05hello",
]


def _mutations(valid: bytes, rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        data = bytearray(valid)
        kind = rng.randrange(4)
        if kind == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[rng.randrange(len(data) + 1) :]
        elif kind == 2:
            data += os.urandom(rng.randrange(1, 64))
        elif data:
            i = rng.randrange(len(data))
            data[i : i + 8] = os.urandom(8)
        out.append(bytes(data))
    return out


def _check_error(status: int, ctype: str, raw: bytes, where: str) -> None:
    assert 400 <= status < 500, (where, status)
    assert ctype == "application/json", where
    body = json.loads(raw)
    assert isinstance(body.get("error"), str), where
    assert isinstance(body.get("message"), str), where


async def _raw(
    api: Api, method: str, path: str, body: bytes, *, signer: User | None, ctype: str
) -> tuple[int, str, bytes]:
    headers = {"Content-Type": ctype}
    if signer is not None:
        headers.update(api.sign(signer.device, method, path, body))
    async with api.session.request(method, api.base + path, data=body, headers=headers) as resp:
        return resp.status, resp.content_type, await resp.read()


async def _snapshot(api: Api, victim: User) -> Any:
    _, pulled = await api.pull(victim)
    _, counts = await api.call("GET", "/v1/prekeys", device=victim.device)
    return pulled, counts


async def test_malformed_bodies_are_4xx_json_and_change_nothing(relay: RunningRelay) -> None:
    api = relay.api
    victim, fuzzer = make_user(n_otk=3, n_kem=1), make_user(n_otk=1, n_kem=1)
    await api.register(victim)
    await api.register(fuzzer)
    await api.send(victim.envelope(b"must survive"))
    before = await _snapshot(api, victim)

    json_endpoints = [
        ("POST", "/v1/accounts"),
        ("PUT", "/v1/prekeys"),
        ("PUT", "/v1/delivery-tokens"),
        ("POST", "/v1/messages/ack"),
    ]
    for method, path in json_endpoints:
        for body in JSON_GARBAGE:
            if (path, body) == ("/v1/prekeys", b"{}"):
                continue  # an empty refill is a valid no-op
            for signer in (fuzzer, None):
                status, ctype, raw = await _raw(api, method, path, body, signer=signer, ctype="application/json")
                _check_error(status, ctype, raw, f"{method} {path} {body[:40]!r}")
        status, ctype, raw = await _raw(api, method, path, b"{}", signer=fuzzer, ctype="text/plain")
        _check_error(status, ctype, raw, f"{method} {path} text/plain")

    for path in ("/v1/messages", "/v1/messages/batch"):
        for body in BINARY_GARBAGE:
            status, ctype, raw = await _raw(api, "POST", path, body, signer=None, ctype="application/octet-stream")
            _check_error(status, ctype, raw, f"POST {path} {body[:20]!r}")
        status, ctype, raw = await _raw(
            api, "POST", path, os.urandom(9 * 1024 * 1024), signer=None, ctype="application/octet-stream"
        )
        _check_error(status, ctype, raw, f"POST {path} huge")

    # Mutations of valid requests: never a 5xx; an error is always JSON.
    rng = random.Random(20240601)
    valid = {
        ("POST", "/v1/accounts"): json.dumps(await api.registration(fuzzer)).encode(),
        ("POST", "/v1/messages"): fuzzer.envelope(b"x" * 50).to_bytes(),
        ("POST", "/v1/messages/batch"): encode_batch([fuzzer.envelope(b"y").to_bytes()]),
        ("POST", "/v1/messages/ack"): json.dumps({"ids": [os.urandom(16).hex()]}).encode(),
    }
    for (method, path), body in valid.items():
        signer = fuzzer if path in ("/v1/accounts", "/v1/messages/ack") else None
        ctype = (
            "application/octet-stream" if path.startswith("/v1/messages") and "ack" not in path else "application/json"
        )
        for mutated in _mutations(body, rng, 60):
            status, rtype, raw = await _raw(api, method, path, mutated, signer=signer, ctype=ctype)
            assert status < 500, (path, status)
            if status >= 400:
                _check_error(status, rtype, raw, f"{method} {path} mutated")

    # Paths and queries.
    for method, path in [
        ("GET", "/v1/accounts/%00/bundle"),
        ("GET", "/v1/accounts/" + "a" * 5000 + "/bundle"),
        ("GET", "/v1/messages?limit=0"),
        ("GET", "/v1/messages?limit=-1"),
        ("GET", "/v1/messages?limit=abc"),
        ("GET", "/v1/messages?limit=501"),
        ("GET", "/v1/messages?limit=%C2%B2"),
        ("POST", "/v1/blobs?lifetime=x"),
        ("DELETE", "/v1/blobs/zzz"),
        ("GET", "/v1/nothing"),
        ("PATCH", "/v1/messages"),
        ("DELETE", "/v1/health"),
        ("GET", "/v1/blobs/" + "A" * 43),
    ]:
        status, ctype, raw = await _raw(api, method, path, b"", signer=fuzzer, ctype="application/octet-stream")
        _check_error(status, ctype, raw, f"{method} {path}")

    # WebSocket: a garbage frame closes the socket, nothing else.
    ws = await api.session.ws_connect(api.base + "/v1/ws", headers=api.sign(fuzzer.device, "GET", "/v1/ws"))
    await ws.send_bytes(os.urandom(100))
    while (await ws.receive(timeout=5)).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
        pass
    await ws.close()

    assert await _snapshot(api, victim) == before
    _, bundle = await api.call("GET", f"/v1/accounts/{victim.address}/bundle")
    PreKeyBundle.from_bytes(base64.b64decode(bundle["devices"][0]["bundle"]))


async def test_json_is_utf8_only_and_an_unknown_field_is_not_echoed(relay: RunningRelay) -> None:
    """RFC 8259 §8.1: JSON between systems is UTF-8 without a byte-order mark. Python's json reads UTF-16 and
    UTF-32 bytes too; the relay does not. And an error never repeats what the request carried."""
    api = relay.api
    user = make_user(n_otk=1, n_kem=1)
    await api.register(user)
    ack = json.dumps({"ids": [os.urandom(16).hex()]})
    for body in (b"\xef\xbb\xbf" + ack.encode(), ack.encode("utf-16"), ack.encode("utf-32"), ack.encode("utf-16-le")):
        status, ctype, raw = await _raw(api, "POST", "/v1/messages/ack", body, signer=user, ctype="application/json")
        _check_error(status, ctype, raw, f"ack {body[:6]!r}")
        assert json.loads(raw)["error"] == "malformed"
    status, _, raw = await _raw(api, "POST", "/v1/messages/ack", ack.encode(), signer=user, ctype="application/json")
    assert status == 200
    secret_name = "field-" + os.urandom(8).hex()
    body = json.dumps({"ids": [], secret_name: 1}).encode()
    status, ctype, raw = await _raw(api, "POST", "/v1/messages/ack", body, signer=user, ctype="application/json")
    _check_error(status, ctype, raw, "unknown field")
    assert secret_name not in raw.decode()
