"""Restart with data intact; migrations recorded and applied once; expiry sweeper for envelopes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import sqlite3
import time
from pathlib import Path

from aiohttp.test_utils import TestServer

from confide.keys import PreKeyBundle
from confide.protocol.auth import sign_request
from confide.server import create_app, sweep
from confide.server.migrations import migrate, migration_names
from confide.server.state import RELAY
from confide.server.storage import NewEnvelope

from .conftest import RunningRelay, make_user, relay_config, run_relay, stop_relay


async def test_restart_keeps_accounts_mailboxes_and_blobs(tmp_path: Path) -> None:
    config = relay_config(tmp_path)
    first = await run_relay(config)
    bob = make_user(n_otk=3, n_kem=1)
    await first.api.register(bob)
    env = bob.envelope(b"survives restart")
    await first.api.send(env)
    data = os.urandom(10_000)
    headers = sign_request(
        bob.device, "POST", "/v1/blobs", hashlib.sha256(data).hexdigest(), now=int(time.time()), nonce=os.urandom(16)
    )
    async with first.api.session.post(first.api.base + "/v1/blobs", data=data, headers=headers) as resp:
        blob_id = (await resp.json())["blob_id"]
    await stop_relay(first)

    second = await run_relay(config)
    try:
        api = second.api
        status, body = await api.pull(bob)
        assert status == 200
        assert len(body["messages"]) == 1
        assert (await api.send(env))[0] == 200  # still idempotent across the restart
        _, bundle = await api.call("GET", f"/v1/accounts/{bob.address}/bundle")
        parsed = PreKeyBundle.from_bytes(base64.b64decode(bundle["devices"][0]["bundle"]))
        assert parsed.one_time_prekey is not None
        status, got = await api.call("GET", f"/v1/blobs/{blob_id}")
        assert (status, got) == (200, data)
    finally:
        await stop_relay(second)


async def test_migrations_are_recorded_and_not_repeated(relay: RunningRelay) -> None:
    await stop_relay(relay)
    conn = sqlite3.connect(relay.config.db_path, isolation_level=None)
    try:
        assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == migration_names()
        assert migrate(conn) == []
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_sweeper_deletes_only_what_expired(relay: RunningRelay) -> None:
    api = relay.api
    bob = make_user(n_otk=0, n_kem=0)
    await api.register(bob)
    short = bob.envelope(b"short", lifetime_s=10)
    long = bob.envelope(b"long", lifetime_s=1000)
    _, s = await api.send(short)
    await api.send(long)
    result = await sweep(relay.relay.store, relay.relay.blobs, s["expires_at_ms"] - 1)
    assert result.envelopes == 0
    result = await sweep(relay.relay.store, relay.relay.blobs, s["expires_at_ms"])
    assert result.envelopes == 1
    _, body = await api.pull(bob)
    assert len(body["messages"]) == 1
    # The mailbox count follows the sweep: the quota is not eaten by expired envelopes.
    assert (await api.send(bob.envelope()))[0] == 201


async def test_background_sweeper_runs(tmp_path: Path) -> None:
    clock_offset = [0.0]
    app = create_app(relay_config(tmp_path, sweep_interval_s=0.05), clock=lambda: time.time() + clock_offset[0])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        store = app[RELAY].store
        bob = make_user(n_otk=0, n_kem=0)
        now = int(time.time() * 1000)
        await store.store_envelopes([NewEnvelope(os.urandom(16), bob.device_id, now, now + 1000, b"x")], 10)
        assert len(await store.fetch(bob.device_id, 0, 10)) == 1
        clock_offset[0] = 5.0
        for _ in range(100):
            if not await store.fetch(bob.device_id, 0, 10):
                break
            await asyncio.sleep(0.02)
        assert await store.fetch(bob.device_id, 0, 10) == []
    finally:
        await server.close()
