"""Envelopes sealed at rest under epoch keys: once an epoch's key is destroyed, no relay file (nor PostgreSQL's
table files and WAL) holds a sender's sealed bytes in a form anyone can read; an altered or orphaned at-rest
ciphertext is left out of a fetch, never a 500."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from confide.protocol.envelope import Delivery
from confide.server import embedded_backend, sweep
from confide.server.at_rest import AT_REST_OVERHEAD, KEY_DIR_NAME, EpochKeys, SealedAtRest
from confide.server.backends import networked_backend
from confide.server.config import RelayConfig
from confide.server.state import Backend
from confide.server.storage import NewEnvelope

from .backend_services import fresh_database
from .conftest import Api, RunningRelay, User, make_user, relay_config, run_relay, stop_relay
from .pg_forensics import search

MARKER_LEN = 4096
TEST_EPOCH_S = 1
"""One-second epochs, so a test sees its epoch close without waiting an hour."""


def _disk_bytes(data_dir: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def _traces(marker: bytes, disk: bytes) -> int:
    """Aligned 16-byte blocks of ``marker`` found (zero: no 32-byte slice of it survived)."""
    return sum(1 for i in range(0, len(marker) - 15, 16) if marker[i : i + 16] in disk)


def _sealed(backend: Backend, config: RelayConfig, **options: float) -> tuple[Backend, EpochKeys]:
    keys = EpochKeys(config.data_dir / KEY_DIR_NAME, epoch_s=TEST_EPOCH_S)
    store = SealedAtRest(
        backend.store,
        keys,
        max_lifetime_s=config.max_lifetime_s,
        grace_s=options.get("grace_s", 0),
        check_interval_s=0,
    )
    return dataclasses.replace(backend, store=store), keys


def _slices(marker: bytes) -> dict[str, bytes]:
    """Every aligned 32-byte slice of ``marker``, by offset: PostgreSQL splits a long value into TOAST chunks."""
    return {f"sent@{i}": marker[i : i + 32] for i in range(0, len(marker) - 31, 32)}


def _messages(body: dict[str, list[str]]) -> list[Delivery]:
    return [Delivery.from_bytes(base64.b64decode(m)) for m in body["messages"]]


@pytest.fixture
async def sealed(tmp_path: Path) -> AsyncIterator[tuple[RunningRelay, EpochKeys, Backend]]:
    config = relay_config(tmp_path)
    plain = embedded_backend(config)
    backend, keys = _sealed(plain, config)
    running = await run_relay(config, backend=backend)
    try:
        yield running, keys, plain
    finally:
        await stop_relay(running)


async def _registered(api: Api) -> User:
    """A registered recipient (no one-time prekeys: these tests only fill its mailbox)."""
    bob = make_user(n_otk=0, n_kem=0)
    assert (await api.register(bob))[0] == 201
    return bob


def _key_files(keys: EpochKeys) -> list[str]:
    return sorted(p.name for p in keys.directory.iterdir())


async def test_the_sealed_bytes_never_reach_a_relay_file_and_the_key_goes_once_the_epoch_empties(
    sealed: tuple[RunningRelay, EpochKeys, Backend],
) -> None:
    relay, keys, plain = sealed
    api, data_dir = relay.api, relay.config.data_dir
    bob = await _registered(api)
    marker = os.urandom(MARKER_LEN)
    env = bob.envelope(marker)
    assert (await api.send(env))[0] == 201

    [at_rest] = await plain.store.fetch(bob.device_id, 0, 10)  # what the database holds
    assert len(at_rest.ciphertext) == len(marker) + AT_REST_OVERHEAD
    epoch = int.from_bytes(at_rest.ciphertext[:4], "big")
    assert epoch == keys.epoch_of(at_rest.received_at_ms)
    assert _key_files(keys) == [f"{epoch:010d}.key"]
    assert (keys.directory.stat().st_mode & 0o777, (keys.directory / f"{epoch:010d}.key").stat().st_mode & 0o777) == (
        0o700,
        0o600,
    )
    disk = _disk_bytes(data_dir)
    assert _traces(at_rest.ciphertext[16:], disk) > 0  # the search finds what the store wrote
    assert _traces(marker, disk) == 0  # but never the bytes as sent

    status, body = await api.pull(bob)
    assert status == 200
    assert [(d.envelope_id, d.ciphertext) for d in _messages(body)] == [(env.envelope_id, marker)]
    assert (await api.ack(bob, [env.envelope_id]))[1] == {"deleted": 1}

    # The epoch has not ended yet: the key stays.
    now_ms = int(time.time() * 1000)
    await sweep(relay.relay.store, relay.relay.blobs, min(now_ms, keys.end_ms(epoch) - 1))
    assert _key_files(keys) == [f"{epoch:010d}.key"]
    # Ended and empty: destroyed at the next sweep.
    await sweep(relay.relay.store, relay.relay.blobs, keys.end_ms(epoch))
    assert _key_files(keys) == []
    assert EpochKeys(keys.directory, epoch_s=TEST_EPOCH_S).key(epoch) is None
    assert _traces(marker, _disk_bytes(data_dir)) == 0


async def test_a_waiting_envelope_keeps_its_epoch_until_it_expires(
    sealed: tuple[RunningRelay, EpochKeys, Backend],
) -> None:
    relay, keys, plain = sealed
    api = relay.api
    bob = await _registered(api)
    env = bob.envelope(b"waiting", lifetime_s=5)
    assert (await api.send(env))[0] == 201
    [at_rest] = await plain.store.fetch(bob.device_id, 0, 10)
    epoch = keys.epoch_of(at_rest.received_at_ms)

    await sweep(relay.relay.store, relay.relay.blobs, keys.end_ms(epoch) + 1000)
    assert keys.epochs() == [epoch]  # ended, but an envelope of it waits
    assert [d.ciphertext for d in _messages((await api.pull(bob))[1])] == [b"waiting"]

    await sweep(relay.relay.store, relay.relay.blobs, at_rest.expires_at_ms + 1)
    assert keys.epochs() == []


async def test_a_destroyed_key_leaves_its_envelopes_out_of_a_fetch(
    sealed: tuple[RunningRelay, EpochKeys, Backend],
) -> None:
    relay, keys, plain = sealed
    api = relay.api
    bob = await _registered(api)
    old = bob.envelope(b"old epoch")
    assert (await api.send(old))[0] == 201
    [at_rest] = await plain.store.fetch(bob.device_id, 0, 10)
    keys.destroy(keys.epoch_of(at_rest.received_at_ms))

    status, body = await api.pull(bob)
    assert (status, body["messages"]) == (200, [])
    await asyncio.sleep(TEST_EPOCH_S)  # a new epoch: a new key
    new = bob.envelope(b"new epoch")
    assert (await api.send(new))[0] == 201
    assert [d.ciphertext for d in _messages((await api.pull(bob))[1])] == [b"new epoch"]


async def test_a_full_page_of_unreadable_envelopes_does_not_hide_the_readable_ones_after_it(
    sealed: tuple[RunningRelay, EpochKeys, Backend],
) -> None:
    relay, keys, plain = sealed
    api = relay.api
    bob = await _registered(api)
    for i in range(3):
        assert (await api.send(bob.envelope(b"old %d" % i)))[0] == 201
    for epoch in {keys.epoch_of(e.received_at_ms) for e in await plain.store.fetch(bob.device_id, 0, 10)}:
        keys.destroy(epoch)
    await asyncio.sleep(TEST_EPOCH_S)
    assert (await api.send(bob.envelope(b"readable")))[0] == 201

    status, body = await api.pull(bob, limit=2)
    assert status == 200
    assert [d.ciphertext for d in _messages(body)] == [b"readable"]


async def test_an_altered_stored_ciphertext_is_refused_not_a_server_error(
    sealed: tuple[RunningRelay, EpochKeys, Backend],
) -> None:
    relay, _keys, _plain = sealed
    api = relay.api
    bob = await _registered(api)
    altered, intact = bob.envelope(b"a" * 64), bob.envelope(b"b" * 64)
    assert (await api.send(altered))[0] == 201
    assert (await api.send(intact))[0] == 201

    conn = sqlite3.connect(relay.config.db_path)
    try:
        (blob,) = conn.execute(
            "SELECT ciphertext FROM envelopes WHERE envelope_id = ?", (altered.envelope_id,)
        ).fetchone()
        flipped = blob[:-1] + bytes([blob[-1] ^ 1])
        with conn:
            conn.execute("UPDATE envelopes SET ciphertext = ? WHERE envelope_id = ?", (flipped, altered.envelope_id))
    finally:
        conn.close()

    status, body = await api.pull(bob)
    assert status == 200
    assert [(d.envelope_id, d.ciphertext) for d in _messages(body)] == [(intact.envelope_id, b"b" * 64)]


async def test_a_ciphertext_moved_to_another_envelope_does_not_open(
    sealed: tuple[RunningRelay, EpochKeys, Backend],
) -> None:
    relay, _keys, plain = sealed
    bob = await _registered(relay.api)
    first = bob.envelope(b"first")
    assert (await relay.api.send(first))[0] == 201
    [held] = await plain.store.fetch(bob.device_id, 0, 10)
    moved = NewEnvelope(os.urandom(16), bob.device_id, held.received_at_ms, held.expires_at_ms, held.ciphertext)
    [result] = await plain.store.store_envelopes([moved], 10)
    assert result.status == "stored"
    assert [e.ciphertext for e in await relay.relay.store.fetch(bob.device_id, 0, 10)] == [b"first"]


def test_two_processes_on_one_directory_agree_on_an_epoch_key(tmp_path: Path) -> None:
    a, b = EpochKeys(tmp_path / "keys"), EpochKeys(tmp_path / "keys")
    a.open()
    key = b.key_for_sealing(7)
    assert a.key(7) == key
    assert a.key_for_sealing(7) == key  # the winner's key, not a new one
    assert a.key_for_sealing(8) == b.key_for_sealing(8) != key
    b.destroy(7)
    assert a.key(7) is None  # forgotten by the other process at its next use
    assert sorted(os.listdir(tmp_path / "keys")) == ["0000000008.key"]


def test_racing_creators_of_one_epoch_key_end_with_one_key(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    EpochKeys(directory).open()
    creators = [EpochKeys(directory) for _ in range(8)]

    async def race() -> list[bytes]:
        return list(await asyncio.gather(*(asyncio.to_thread(k.key_for_sealing, 3) for k in creators)))

    got = asyncio.run(race())
    assert len(set(got)) == 1
    assert sorted(os.listdir(directory)) == ["0000000003.key"]


async def test_postgres_an_acked_envelope_is_unreadable_in_tables_and_wal_once_its_key_is_gone(
    tmp_path: Path,
) -> None:
    async with fresh_database() as dsn:
        admin = await asyncpg.connect(dsn)
        try:
            pg_data = Path(await admin.fetchval("SHOW data_directory"))
        finally:
            await admin.close()
        if not os.access(pg_data, os.R_OK | os.X_OK):
            pytest.skip(f"the PostgreSQL data directory {pg_data} is not readable by this user (run as root)")
        config = relay_config(tmp_path, db_url=dsn)
        plain = networked_backend(config)
        backend, keys = _sealed(plain, config)
        relay = await run_relay(config, backend=backend)
        try:
            api = relay.api
            bob = await _registered(api)
            marker = os.urandom(MARKER_LEN)
            env = bob.envelope(marker)
            assert (await api.send(env))[0] == 201
            [at_rest] = await plain.store.fetch(bob.device_id, 0, 10)
            epoch = keys.epoch_of(at_rest.received_at_ms)
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute("CHECKPOINT")
            finally:
                await conn.close()
            found = search(pg_data, {"at_rest": at_rest.ciphertext[20:84], **_slices(marker)})
            assert found.pop("at_rest") != set()  # the search finds what PostgreSQL wrote
            assert set().union(*found.values()) == set()  # never the bytes as sent

            assert [d.ciphertext for d in _messages((await api.pull(bob))[1])] == [marker]
            assert (await api.ack(bob, [env.envelope_id]))[1] == {"deleted": 1}
            await sweep(relay.relay.store, relay.relay.blobs, keys.end_ms(epoch))
            assert keys.epochs() == []
            assert set().union(*search(pg_data, _slices(marker)).values()) == set()
            assert _traces(marker, _disk_bytes(config.data_dir)) == 0
        finally:
            await stop_relay(relay)


async def test_the_embedded_backend_seals_when_configured(tmp_path: Path) -> None:
    config = relay_config(tmp_path, seal_at_rest=True)
    assert isinstance(embedded_backend(config).store, SealedAtRest)
    assert not isinstance(embedded_backend(relay_config(tmp_path)).store, SealedAtRest)
    relay = await run_relay(config)
    try:
        bob = await _registered(relay.api)
        marker = os.urandom(MARKER_LEN)
        assert (await relay.api.send(bob.envelope(marker)))[0] == 201
        assert [d.ciphertext for d in _messages((await relay.api.pull(bob))[1])] == [marker]
        assert len(os.listdir(config.data_dir / KEY_DIR_NAME)) == 1
        assert _traces(marker, _disk_bytes(config.data_dir)) == 0
    finally:
        await stop_relay(relay)


async def test_the_networked_backend_keeps_its_keys_beside_the_shared_blobs(tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        config = relay_config(tmp_path, db_url=dsn, seal_at_rest=True)
        assert isinstance(networked_backend(config).store, SealedAtRest)
        relay = await run_relay(config, backend=networked_backend(config))
        try:
            bob = await _registered(relay.api)
            assert (await relay.api.send(bob.envelope(b"over postgres")))[0] == 201
            assert [d.ciphertext for d in _messages((await relay.api.pull(bob))[1])] == [b"over postgres"]
            assert config.blob_dir.parent / KEY_DIR_NAME == config.data_dir / KEY_DIR_NAME
            assert len(os.listdir(config.data_dir / KEY_DIR_NAME)) == 1
        finally:
            await stop_relay(relay)
