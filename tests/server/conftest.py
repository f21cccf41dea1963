"""Helpers for relay tests: real keys, real signed requests, a real relay on loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from confide.keys import (
    DeviceKeyPair,
    IdentityKeyPair,
    KemPreKeyRecord,
    OneTimePreKeyRecord,
    SignedPreKeyRecord,
)
from confide.protocol.auth import sign_request, solve_work
from confide.protocol.envelope import Envelope, delivery_token_hash
from confide.server import Backend, RelayConfig, create_app
from confide.server.state import RELAY, Relay


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class User:
    """A registered-to-be account with one device and real keys."""

    identity: IdentityKeyPair
    device: DeviceKeyPair
    spk: SignedPreKeyRecord
    kem_lr: KemPreKeyRecord
    otks: list[OneTimePreKeyRecord]
    kem_otks: list[KemPreKeyRecord]
    token: bytes = field(default_factory=lambda: os.urandom(32))

    @property
    def address(self) -> str:
        return self.identity.public.address.text

    @property
    def device_id(self) -> bytes:
        return self.device.device_id

    def registration(self) -> dict[str, Any]:
        return {
            "identity": b64(self.identity.public.to_bytes()),
            "device": b64(self.device.certificate.to_bytes()),
            "delivery_token_hashes": [b64(delivery_token_hash(self.token))],
            "signed_prekey": b64(self.spk.public.to_bytes()),
            "kem_last_resort": b64(self.kem_lr.public.to_bytes()),
            "one_time_prekeys": [b64(k.public.to_bytes()) for k in self.otks],
            "kem_one_time_prekeys": [b64(k.public.to_bytes()) for k in self.kem_otks],
        }

    def envelope(
        self,
        ciphertext: bytes = b"sealed",
        *,
        lifetime_s: int = 0,
        envelope_id: bytes | None = None,
        token: bytes | None = None,
    ) -> Envelope:
        """An envelope addressed to this user's device."""
        return Envelope(envelope_id or os.urandom(16), self.device_id, token or self.token, lifetime_s, ciphertext)


def make_user(n_otk: int = 5, n_kem: int = 2) -> User:
    now = int(time.time())
    identity = IdentityKeyPair.generate(os.urandom)
    return User(
        identity,
        DeviceKeyPair.generate(identity, os.urandom),
        SignedPreKeyRecord.generate(identity, 1, os.urandom, now),
        KemPreKeyRecord.generate(identity, 1, os.urandom, now, last_resort=True),
        OneTimePreKeyRecord.generate_batch(1, n_otk, os.urandom),
        [KemPreKeyRecord.generate(identity, 100 + i, os.urandom, now, last_resort=False) for i in range(n_kem)],
    )


class Api:
    """A thin test client speaking docs/relay-api.md over real HTTP."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    def sign(
        self,
        device: DeviceKeyPair,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        now: int | None = None,
        nonce: bytes | None = None,
    ) -> dict[str, str]:
        return sign_request(
            device,
            method,
            path,
            hashlib.sha256(body).hexdigest(),
            now=int(time.time()) if now is None else now,
            nonce=nonce or os.urandom(16),
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        device: DeviceKeyPair | None = None,
        body: bytes = b"",
        json_body: Any = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Make a request (signed by ``device`` if given); return (status, parsed JSON or raw bytes)."""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            content_type = content_type or "application/json"
        hdrs = dict(headers or {})
        if device is not None:
            hdrs.update(self.sign(device, method, path, body))
        if content_type:
            hdrs["Content-Type"] = content_type
        async with self.session.request(method, self.base + path, data=body or None, headers=hdrs) as resp:
            raw = await resp.read()
            if resp.content_type == "application/json":
                return resp.status, json.loads(raw)
            return resp.status, raw

    async def register(self, user: User) -> tuple[int, Any]:
        return await self.call("POST", "/v1/accounts", device=user.device, json_body=await self.registration(user))

    async def registration(self, user: User) -> dict[str, Any]:
        """``user``'s registration body with the work the relay asks for (a fresh challenge)."""
        body = user.registration()
        status, challenge = await self.call("GET", "/v1/accounts/challenge")
        assert status == 200, challenge
        if challenge["bits"]:
            raw = base64.b64decode(challenge["challenge"])
            body["work_challenge"] = challenge["challenge"]
            body["work_nonce"] = b64(solve_work(raw, user.device_id, challenge["bits"]))
        return body

    async def send(self, env: Envelope) -> tuple[int, Any]:
        return await self.call("POST", "/v1/messages", body=env.to_bytes(), content_type="application/octet-stream")

    async def pull(self, user: User, limit: int = 100) -> tuple[int, Any]:
        return await self.call("GET", f"/v1/messages?limit={limit}", device=user.device)

    async def ack(self, user: User, ids: list[bytes]) -> tuple[int, Any]:
        return await self.call(
            "POST", "/v1/messages/ack", device=user.device, json_body={"ids": [i.hex() for i in ids]}
        )

    async def ws(self, user: User) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(self.base + "/v1/ws", headers=self.sign(user.device, "GET", "/v1/ws"))


@dataclass
class RunningRelay:
    server: TestServer
    app: web.Application
    api: Api
    config: RelayConfig

    @property
    def relay(self) -> Relay:
        return self.app[RELAY]


def relay_config(tmp_path: Path, **overrides: Any) -> RelayConfig:
    """Relay settings for tests: a temporary data dir, no background sweeper, loose rate limits."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "sweep_interval_s": 0,
        "rate_per_s": 0,
        "bundle_rate_per_min": 0,
        "device_rate_per_s": 0,
        "recipient_rate_per_s": 0,
        "token_rate_per_s": 0,
    }
    values.update(overrides)
    return RelayConfig(**values)


@pytest.fixture
def config(tmp_path: Path) -> RelayConfig:
    return relay_config(tmp_path)


async def run_relay(config: RelayConfig, *, backend: Backend | None = None) -> RunningRelay:
    """A relay on a free loopback port, on ``backend`` (default: the embedded one of ``config``)."""
    app = create_app(config, backend=backend)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    return RunningRelay(server, app, Api(session, str(server.make_url("")).rstrip("/")), config)


async def stop_relay(running: RunningRelay) -> None:
    await running.api.session.close()
    await running.server.close()


@pytest.fixture
async def relay(config: RelayConfig) -> AsyncIterator[RunningRelay]:
    running = await run_relay(config)
    try:
        yield running
    finally:
        await stop_relay(running)


@pytest.fixture
def api(relay: RunningRelay) -> Api:
    return relay.api
