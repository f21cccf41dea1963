"""The relay's seams are real: apps built on other implementations of its interfaces use them, over real HTTP.

Two relays on two loopback ports stand in for two relay processes behind one address; each has its own
SQLite data directory, as processes on two machines would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path

import pytest

from confide.protocol.envelope import Delivery
from confide.server import HeldBlob, HeldEnvelope, Holdings, SqliteStore, describe_holdings, embedded_backend
from confide.server.errors import Unavailable
from confide.server.inprocess import NonceCache
from confide.server.storage import NewEnvelope

from .conftest import RunningRelay, User, make_user, relay_config, run_relay, stop_relay
from .memory_backend import MemoryBackend, RecordingSequence


async def _replay(relay: RunningRelay, headers: dict[str, str]) -> tuple[int, object]:
    """Send a GET /v1/prekeys with exactly these (already used) proof headers."""
    async with relay.api.session.get(relay.api.base + "/v1/prekeys", headers=headers) as resp:
        return resp.status, await resp.json()


async def _registered_on(user: User, *relays: RunningRelay) -> None:
    for relay in relays:
        assert (await relay.api.register(user))[0] == 201


async def test_request_replayed_to_a_second_relay_sharing_the_replay_cache_is_refused(tmp_path: Path) -> None:
    shared = NonceCache()
    config_a, config_b = relay_config(tmp_path / "a"), relay_config(tmp_path / "b")
    first = await run_relay(config_a, backend=dataclasses.replace(embedded_backend(config_a), replay=shared))
    second = await run_relay(config_b, backend=dataclasses.replace(embedded_backend(config_b), replay=shared))
    try:
        bob = make_user(n_otk=0, n_kem=0)
        await _registered_on(bob, first, second)
        headers = first.api.sign(bob.device, "GET", "/v1/prekeys")
        assert (await _replay(first, headers))[0] == 200
        status, body = await _replay(second, headers)
        assert (status, body) == (
            401,
            {
                "error": "unauthorized",
                "message": "this request was already used (replay refused); sign each request afresh",
            },
        )
    finally:
        await stop_relay(first)
        await stop_relay(second)


async def test_relays_with_their_own_default_replay_caches_each_accept_a_request_once(tmp_path: Path) -> None:
    """The embedded replay cache is per process. Each relay refuses a replay of a request it has seen, but a
    second relay with its own default cache accepts a request the first one already served: behind one address,
    several relay processes must be given one shared ReplayCache (the test above). This pins that limit, so
    that changing the default is a decision and not an accident."""
    config_a, config_b = relay_config(tmp_path / "a"), relay_config(tmp_path / "b")
    first, second = await run_relay(config_a), await run_relay(config_b)
    try:
        bob = make_user(n_otk=0, n_kem=0)
        await _registered_on(bob, first, second)
        headers = first.api.sign(bob.device, "GET", "/v1/prekeys")
        assert (await _replay(first, headers))[0] == 200
        assert (await _replay(first, headers))[0] == 401
        assert (await _replay(second, headers))[0] == 200
        assert (await _replay(second, headers))[0] == 401
    finally:
        await stop_relay(first)
        await stop_relay(second)


async def test_an_app_on_test_implementations_of_every_interface_uses_them(tmp_path: Path) -> None:
    parts = MemoryBackend()
    relay = await run_relay(relay_config(tmp_path), backend=parts.backend())
    api = relay.api
    try:
        bob = make_user(n_otk=2, n_kem=1)
        assert (await api.register(bob))[0] == 201
        assert await parts.store.device(bob.device_id) is not None
        assert len(parts.replay.keys) == 1
        assert parts.replay.keys[0].startswith(bob.device_id)

        ws = await api.ws(bob)
        try:
            env = bob.envelope(b"through the seams")
            assert (await api.send(env))[0] == 201
            assert parts.notifier.published == [(bob.device_id, env.envelope_id)]
            msg = await asyncio.wait_for(ws.receive(), 5)
            delivered = Delivery.from_bytes(msg.data)
            assert (delivered.envelope_id, delivered.ciphertext) == (env.envelope_id, b"through the seams")
            await ws.send_str(json.dumps({"ack": [env.envelope_id.hex()]}))
            for _ in range(100):
                if not parts.store.envelopes:
                    break
                await asyncio.sleep(0.01)
            assert parts.store.envelopes == {}
        finally:
            await ws.close()

        status, bundle = await api.call("GET", f"/v1/accounts/{bob.address}/bundle")
        assert status == 200
        assert len(bundle["devices"]) == 1
        address = bob.identity.public.address.raw
        assert parts.bundle_budget.calls == [("try_spend", address, 2)]
        assert parts.bundle_limiter.taken == [("127.0.0.1", 1.0)]

        data = os.urandom(5000)
        status, uploaded = await api.call(
            "POST", "/v1/blobs", device=bob.device, body=data, content_type="application/octet-stream"
        )
        assert status == 201
        assert parts.blobs.blobs == {uploaded["blob_id"]: data}
        assert await api.call("GET", f"/v1/blobs/{uploaded['blob_id']}") == (200, data)

        # challenge, register, ws upgrade, send, bundle, upload, download: every request passed the per-IP
        # limiter once.
        assert parts.limiter.taken == [("127.0.0.1", 1.0)] * 7
        assert await parts.store.holdings() == Holdings((), (HeldBlob(5000, uploaded["expires_at_ms"]),))
    finally:
        await stop_relay(relay)
    assert parts.blobs.known_at_start == set()
    for recorded in (
        parts.notifier,
        parts.replay,
        parts.limiter,
        parts.bundle_limiter,
        parts.bundle_budget,
        parts.blobs,
    ):
        assert recorded.events == ["start", "close"]
    assert parts.store.events == ["start", "close"]


async def test_the_sqlite_store_numbers_mailboxes_from_the_given_sequence(tmp_path: Path) -> None:
    config = relay_config(tmp_path)
    numbers = RecordingSequence(first=1_000_000)
    relay = await run_relay(config, backend=embedded_backend(config, sequence=numbers))
    try:
        bob = make_user(n_otk=0, n_kem=0)
        await relay.api.register(bob)
        await relay.api.send(bob.envelope(b"one"))
        await relay.api.send(bob.envelope(b"two"))
        assert [e.seq for e in await relay.relay.store.fetch(bob.device_id, 0, 10)] == [1_000_000, 1_000_001]
    finally:
        await stop_relay(relay)
    assert numbers.calls == [("start", 0), ("reserve", 1), ("reserve", 1), ("close", 0)]

    after_restart = RecordingSequence(first=1)
    relay = await run_relay(config, backend=embedded_backend(config, sequence=after_restart))
    try:
        await relay.api.send(bob.envelope(b"three"))
        assert [e.seq for e in await relay.relay.store.fetch(bob.device_id, 0, 10)] == [1_000_000, 1_000_001, 1_000_002]
    finally:
        await stop_relay(relay)
    assert after_restart.calls[0] == ("start", 1_000_001)


class _SlowSequence(RecordingSequence):
    """A sequence that answers late, as a networked one would: odd numbers take 5 ms to come back."""

    async def reserve(self, count: int) -> range:
        numbers = await super().reserve(count)
        await asyncio.sleep(0.005 if numbers[0] % 2 else 0)
        return numbers


async def test_numbers_from_a_slow_sequence_still_follow_commit_order(tmp_path: Path) -> None:
    """A socket skips any pushed envelope numbered below one it already sent: if a slow sequence let a later
    reservation commit first, that envelope would never reach the open socket."""
    config = relay_config(tmp_path)
    relay = await run_relay(config, backend=embedded_backend(config, sequence=_SlowSequence(first=1)))
    try:
        bob = make_user(n_otk=0, n_kem=0)
        await relay.api.register(bob)
        ws = await relay.api.ws(bob)
        try:
            envelopes = [bob.envelope(bytes([i])) for i in range(40)]
            statuses = await asyncio.gather(*(relay.api.send(e) for e in envelopes))
            assert [s for s, _ in statuses] == [201] * 40
            got = set()
            for _ in envelopes:
                msg = await asyncio.wait_for(ws.receive(), 5)
                got.add(Delivery.from_bytes(msg.data).envelope_id)
            assert got == {e.envelope_id for e in envelopes}
        finally:
            await ws.close()
    finally:
        await stop_relay(relay)


async def test_describe_holdings_shows_sizes_and_times_of_a_running_relay(relay: RunningRelay) -> None:
    api = relay.api
    bob = make_user(n_otk=0, n_kem=0)
    await api.register(bob)
    assert describe_holdings(relay.config) == Holdings((), ())
    _, sent = await api.send(bob.envelope(b"x" * 321, lifetime_s=1000))
    data = os.urandom(777)
    _, blob = await api.call(
        "POST", "/v1/blobs?lifetime=60", device=bob.device, body=data, content_type="application/octet-stream"
    )
    held = describe_holdings(relay.config)
    assert held == Holdings(
        (HeldEnvelope(321, sent["expires_at_ms"] - 1_000_000, sent["expires_at_ms"]),),
        (HeldBlob(777, blob["expires_at_ms"]),),
    )
    assert held.envelopes[0].lifetime_s == 1000


def test_describe_holdings_without_a_relay_database(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        describe_holdings(relay_config(tmp_path))


async def test_a_read_only_store_refuses_writes(relay: RunningRelay) -> None:
    view = await SqliteStore.open(relay.config.db_path, read_only=True)
    try:
        with pytest.raises(Unavailable):
            await view.store_envelopes([NewEnvelope(os.urandom(16), os.urandom(16), 0, 1, b"x")], 10)
        assert await view.holdings() == Holdings((), ())
    finally:
        await view.close()
