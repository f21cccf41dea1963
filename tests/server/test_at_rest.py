"""Envelopes sealed at rest under epoch keys: once an epoch's key is destroyed, no relay file (nor PostgreSQL's
table files and WAL) holds a sender's sealed bytes in a form anyone can read; an altered or orphaned at-rest
ciphertext is left out of a fetch, never a 500."""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from confide.protocol.envelope import Delivery
from confide.protocol.sealed import SEALED_VERSION
from confide.server import embedded_backend, sweep
from confide.server.at_rest import AT_REST_MARK, AT_REST_OVERHEAD, KEY_DIR_NAME, EpochKeys, SealedAtRest
from confide.server.backends import networked_backend
from confide.server.cli import add_serve_arguments, config_from_args
from confide.server.config import RelayConfig
from confide.server.state import Backend
from confide.server.storage import NewEnvelope, RelayStore

from .backend_services import fresh_database, pg_dsn
from .conftest import Api, RunningRelay, User, make_user, relay_config, run_relay, stop_relay
from .pg_forensics import search

__all__ = ["pg_dsn"]  # a fixture, used by name

MARKER_LEN = 4096
TEST_EPOCH_S = 1
"""One-second epochs, so a test sees its epoch close without waiting an hour."""


def _disk_bytes(data_dir: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def _traces(marker: bytes, disk: bytes) -> int:
    """Aligned 16-byte blocks of ``marker`` found (zero: no 32-byte slice of it survived)."""
    return sum(1 for i in range(0, len(marker) - 15, 16) if marker[i : i + 16] in disk)


def _sent(n: int) -> bytes:
    """``n`` random bytes as a client sends them: a sealed-sender ciphertext starts with its version byte (a row
    that starts with :data:`AT_REST_MARK` is taken for one sealed at rest)."""
    return bytes([SEALED_VERSION]) + os.urandom(n - 1)


def _raw(store: RelayStore) -> RelayStore:
    """The store under the relay's own :class:`SealedAtRest` (every backend has one): rows as stored."""
    assert isinstance(store, SealedAtRest)
    return store.inner


def _sealed(backend: Backend, config: RelayConfig, **options: float) -> tuple[Backend, EpochKeys, Backend]:
    """``backend`` sealing with one-second epochs, its keys, and ``backend`` on the bare store (what it holds)."""
    plain = dataclasses.replace(backend, store=_raw(backend.store))
    keys = EpochKeys(config.data_dir / KEY_DIR_NAME, epoch_s=TEST_EPOCH_S)
    store = SealedAtRest(
        plain.store,
        keys,
        max_lifetime_s=config.max_lifetime_s,
        grace_s=options.get("grace_s", 0),
        check_interval_s=0,
    )
    return dataclasses.replace(backend, store=store), keys, plain


def _slices(marker: bytes) -> dict[str, bytes]:
    """Every aligned 32-byte slice of ``marker``, by offset: PostgreSQL splits a long value into TOAST chunks."""
    return {f"sent@{i}": marker[i : i + 32] for i in range(0, len(marker) - 31, 32)}


def _messages(body: dict[str, list[str]]) -> list[Delivery]:
    return [Delivery.from_bytes(base64.b64decode(m)) for m in body["messages"]]


@pytest.fixture
async def sealed(tmp_path: Path) -> AsyncIterator[tuple[RunningRelay, EpochKeys, Backend]]:
    config = relay_config(tmp_path)
    backend, keys, plain = _sealed(embedded_backend(config), config)
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


def _sealing(backend: Backend) -> bool:
    """Whether ``backend`` seals new envelopes (every backend opens sealed rows: its store is a SealedAtRest)."""
    assert isinstance(backend.store, SealedAtRest)
    return backend.store.sealing


def _key_files(keys: EpochKeys) -> list[str]:
    return sorted(p.name for p in keys.directory.iterdir())


async def test_the_sealed_bytes_never_reach_a_relay_file_and_the_key_goes_once_the_epoch_empties(
    sealed: tuple[RunningRelay, EpochKeys, Backend],
) -> None:
    relay, keys, plain = sealed
    api, data_dir = relay.api, relay.config.data_dir
    bob = await _registered(api)
    marker = _sent(MARKER_LEN)
    env = bob.envelope(marker)
    assert (await api.send(env))[0] == 201

    [at_rest] = await plain.store.fetch(bob.device_id, 0, 10)  # what the database holds
    assert len(at_rest.ciphertext) == len(marker) + AT_REST_OVERHEAD == len(marker) + 33
    assert at_rest.ciphertext[0] == AT_REST_MARK
    epoch = int.from_bytes(at_rest.ciphertext[1:5], "big")
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
        # Unsealed by the backend: the test seals it itself, with one-second epochs, to see an epoch close.
        config = relay_config(tmp_path, db_url=dsn, seal_at_rest=False)
        backend, keys, plain = _sealed(networked_backend(config), config)
        relay = await run_relay(config, backend=backend)
        try:
            api = relay.api
            bob = await _registered(api)
            marker = _sent(MARKER_LEN)
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
    assert _sealing(embedded_backend(config))
    assert not _sealing(embedded_backend(relay_config(tmp_path)))
    relay = await run_relay(config)
    try:
        bob = await _registered(relay.api)
        marker = _sent(MARKER_LEN)
        assert (await relay.api.send(bob.envelope(marker)))[0] == 201
        assert [d.ciphertext for d in _messages((await relay.api.pull(bob))[1])] == [marker]
        assert len(os.listdir(config.data_dir / KEY_DIR_NAME)) == 1
        assert _traces(marker, _disk_bytes(config.data_dir)) == 0
    finally:
        await stop_relay(relay)


async def test_the_networked_backend_keeps_its_keys_beside_the_shared_blobs(tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        config = relay_config(tmp_path, db_url=dsn, seal_at_rest=True)
        assert _sealing(networked_backend(config))
        relay = await run_relay(config, backend=networked_backend(config))
        try:
            bob = await _registered(relay.api)
            assert (await relay.api.send(bob.envelope(b"over postgres")))[0] == 201
            assert [d.ciphertext for d in _messages((await relay.api.pull(bob))[1])] == [b"over postgres"]
            assert config.blob_dir.parent / KEY_DIR_NAME == config.data_dir / KEY_DIR_NAME
            assert len(os.listdir(config.data_dir / KEY_DIR_NAME)) == 1
        finally:
            await stop_relay(relay)


# -- the default: sealed on PostgreSQL, plain on SQLite (whose own scrub removes deleted bytes) --------------

SEAL_ENV = "CONFIDE_SEAL_AT_REST"
SOME_PG_URL = "postgresql://relay@127.0.0.1/confide"
"""A PostgreSQL URL for configurations that are parsed and built but never connected."""


async def _pg_ciphertexts(dsn: str) -> list[bytes]:
    """Every ``envelopes.ciphertext`` as PostgreSQL holds it, read past the relay."""
    conn = await asyncpg.connect(dsn)
    try:
        return [bytes(r["ciphertext"]) for r in await conn.fetch("SELECT ciphertext FROM envelopes")]
    finally:
        await conn.close()


def _sqlite_ciphertexts(config: RelayConfig) -> list[bytes]:
    conn = sqlite3.connect(config.db_path)
    try:
        return [bytes(row[0]) for row in conn.execute("SELECT ciphertext FROM envelopes")]
    finally:
        conn.close()


async def _send_and_pull(relay: RunningRelay, marker: bytes) -> None:
    bob = await _registered(relay.api)
    assert (await relay.api.send(bob.envelope(marker)))[0] == 201
    assert [d.ciphertext for d in _messages((await relay.api.pull(bob))[1])] == [marker]


def _cli_config(monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None = None) -> RelayConfig:
    """The configuration ``confide serve`` builds from ``argv`` with ``CONFIDE_SEAL_AT_REST`` set to ``env``."""
    if env is None:
        monkeypatch.delenv(SEAL_ENV, raising=False)
    else:
        monkeypatch.setenv(SEAL_ENV, env)
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return config_from_args(parser.parse_args(argv))


async def test_a_postgres_relay_with_no_seal_setting_stores_envelopes_sealed(tmp_path: Path, pg_dsn: str) -> None:
    config = relay_config(tmp_path, db_url=pg_dsn)
    assert config.seal_at_rest is None  # nobody asked: the default decides
    relay = await run_relay(config)  # the backend the relay chooses for itself
    try:
        marker = _sent(MARKER_LEN)
        before_ms = int(time.time() * 1000)
        await _send_and_pull(relay, marker)
        after_ms = int(time.time() * 1000)
        [row] = await _pg_ciphertexts(pg_dsn)
    finally:
        await stop_relay(relay)
    assert len(row) == len(marker) + AT_REST_OVERHEAD
    assert not any(piece in row for piece in _slices(marker).values())  # no 32 bytes of what was sent
    keys = EpochKeys(config.data_dir / KEY_DIR_NAME)
    assert row[0] == AT_REST_MARK
    epoch = int.from_bytes(row[1:5], "big")  # the epoch header
    assert epoch in {keys.epoch_of(before_ms), keys.epoch_of(after_ms)}
    assert keys.epochs() == [epoch]  # and its key, beside the blob folder


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--no-seal-at-rest"], None), ([], "0"), (["--no-seal-at-rest"], "1")],
    ids=["flag", "env", "flag-over-env"],
)
async def test_sealing_turned_off_on_postgres_stores_the_bytes_as_sent(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None
) -> None:
    chosen = _cli_config(monkeypatch, ["--db", pg_dsn, *argv], env)
    config = relay_config(tmp_path, db_url=pg_dsn, seal_at_rest=chosen.seal_at_rest)
    assert not config.sealed_at_rest
    relay = await run_relay(config)
    try:
        marker = _sent(MARKER_LEN)
        await _send_and_pull(relay, marker)
        assert await _pg_ciphertexts(pg_dsn) == [marker]
    finally:
        await stop_relay(relay)
    assert not (config.data_dir / KEY_DIR_NAME).exists()


async def test_a_sqlite_relay_with_no_seal_setting_stores_the_bytes_as_sent(tmp_path: Path) -> None:
    """SQLite's scrub is what removes deleted bytes there (tests/server/test_forensics.py searches for them)."""
    config = relay_config(tmp_path)
    relay = await run_relay(config)
    try:
        marker = _sent(MARKER_LEN)
        await _send_and_pull(relay, marker)
        assert _sqlite_ciphertexts(config) == [marker]
    finally:
        await stop_relay(relay)
    assert not (config.data_dir / KEY_DIR_NAME).exists()


def test_the_setting_in_effect(tmp_path: Path) -> None:
    on_pg, on_sqlite = RelayConfig(data_dir=tmp_path, db_url=SOME_PG_URL), RelayConfig(data_dir=tmp_path)
    assert (on_pg.sealed_at_rest, on_sqlite.sealed_at_rest) == (True, False)
    assert _sealing(networked_backend(on_pg))
    assert not _sealing(embedded_backend(on_sqlite))
    off_pg = dataclasses.replace(on_pg, seal_at_rest=False)
    on_sqlite_asked = dataclasses.replace(on_sqlite, seal_at_rest=True)
    assert (off_pg.sealed_at_rest, on_sqlite_asked.sealed_at_rest) == (False, True)
    assert not _sealing(networked_backend(off_pg))
    assert _sealing(embedded_backend(on_sqlite_asked))


@pytest.mark.parametrize(
    ("argv", "env", "asked", "in_effect"),
    [
        ([], None, None, False),
        (["--db", SOME_PG_URL], None, None, True),
        ([], "1", True, True),
        (["--db", SOME_PG_URL], "0", False, False),
        (["--seal-at-rest"], "0", True, True),
        (["--db", SOME_PG_URL, "--no-seal-at-rest"], "1", False, False),
    ],
)
def test_the_flag_wins_over_the_environment_which_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None, asked: bool | None, in_effect: bool
) -> None:
    config = _cli_config(monkeypatch, argv, env)
    assert (config.seal_at_rest, config.sealed_at_rest) == (asked, in_effect)


@pytest.mark.parametrize("value", ["hunter2", "true", "", "10"])
def test_a_bad_seal_variable_is_one_line_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _cli_config(monkeypatch, [], value)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "confide serve: environment variable CONFIDE_SEAL_AT_REST has an invalid value (expected 1 or 0)"
    ]


def test_confide_serve_refuses_a_bad_seal_variable_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIDE_")}
    env[SEAL_ENV] = "hunter2"
    done = subprocess.run(
        [sys.executable, "-m", "confide.server", "--port", "0", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "confide serve: environment variable CONFIDE_SEAL_AT_REST has an invalid value (expected 1 or 0)"
    ]
    assert "hunter2" not in done.stdout + done.stderr  # the value is never repeated
    assert not (tmp_path / KEY_DIR_NAME).exists()


# -- processes that differ in the setting, a setting that changes: no stored envelope is lost ---------------------


async def _waiting(relay: RunningRelay, user: User) -> dict[bytes, bytes]:
    """Every envelope a pull hands ``user`` (id → ciphertext), none acknowledged."""
    status, body = await relay.api.pull(user, limit=100)
    assert status == 200
    return {d.envelope_id: d.ciphertext for d in _messages(body)}


async def _send(relay: RunningRelay, user: User, ciphertext: bytes) -> tuple[bytes, bytes]:
    env = user.envelope(ciphertext)
    assert (await relay.api.send(env))[0] == 201
    return env.envelope_id, ciphertext


async def test_two_postgres_relays_that_differ_in_the_setting_hand_every_envelope_out_intact(
    tmp_path: Path, pg_dsn: str
) -> None:
    """Attack: one process of a relay started with ``--no-seal-at-rest``, another with the default, on one
    database and one data folder. Before the marker, the sealing process left the plain rows out (lost to the
    recipient) and the other handed the sealed rows out still sealed (garbage to the client)."""
    plain_config = relay_config(tmp_path, db_url=pg_dsn, seal_at_rest=False)
    sealing_config = relay_config(tmp_path, db_url=pg_dsn)
    assert plain_config.data_dir == sealing_config.data_dir  # where the keys are: shared
    plain = await run_relay(plain_config)
    sealing = await run_relay(sealing_config)
    try:
        bob = await _registered(plain.api)
        sent = dict(
            [
                await _send(plain, bob, _sent(MARKER_LEN)),
                await _send(sealing, bob, _sent(MARKER_LEN)),
                await _send(plain, bob, _sent(300)),
                await _send(sealing, bob, _sent(300)),
            ]
        )
        assert await _waiting(sealing, bob) == sent  # the rows stored as sent too
        assert await _waiting(plain, bob) == sent  # the sealed rows opened too
        rows = await _pg_ciphertexts(pg_dsn)
        assert sorted(len(r) - AT_REST_OVERHEAD * (r[0] == AT_REST_MARK) for r in rows) == sorted(
            len(c) for c in sent.values()
        )
        assert sum(r[0] == AT_REST_MARK for r in rows) == 2  # two sealed at rest, two as sent
    finally:
        await stop_relay(sealing)
        await stop_relay(plain)


async def test_a_sqlite_relay_turning_sealing_on_then_off_keeps_every_waiting_envelope(tmp_path: Path) -> None:
    """Attack: a relay restarted with the setting changed while envelopes wait. Before the marker, turning sealing
    on made every waiting envelope undeliverable (left out as unreadable), and turning it off handed the sealed
    ones out as garbage."""
    off = relay_config(tmp_path)
    relay = await run_relay(off)
    try:
        bob = await _registered(relay.api)
        before = dict([await _send(relay, bob, _sent(MARKER_LEN)) for _ in range(3)])
    finally:
        await stop_relay(relay)
    assert not (off.data_dir / KEY_DIR_NAME).exists()

    relay = await run_relay(dataclasses.replace(off, seal_at_rest=True))
    try:
        assert await _waiting(relay, bob) == before  # still delivered, byte for byte
        marker = _sent(MARKER_LEN)
        sealed_id, _ = await _send(relay, bob, marker)
        assert await _waiting(relay, bob) == before | {sealed_id: marker}
    finally:
        await stop_relay(relay)
    rows = _sqlite_ciphertexts(off)
    assert sorted(before.values()) == sorted(r for r in rows if r[0] != AT_REST_MARK)  # untouched
    [sealed_row] = [r for r in rows if r[0] == AT_REST_MARK]
    assert len(sealed_row) == len(marker) + AT_REST_OVERHEAD
    assert not any(piece in sealed_row for piece in _slices(marker).values())
    keys = EpochKeys(off.data_dir / KEY_DIR_NAME)
    assert keys.epochs() == [int.from_bytes(sealed_row[1:5], "big")]

    relay = await run_relay(off)  # sealing off again
    try:
        assert _sealing(relay.relay.backend) is False
        later_id, later = await _send(relay, bob, _sent(200))
        assert await _waiting(relay, bob) == before | {sealed_id: marker, later_id: later}
        assert later in _sqlite_ciphertexts(off)  # stored as sent
    finally:
        await stop_relay(relay)
    assert len(keys.epochs()) == 1  # no new key while sealing is off


async def test_a_ciphertext_that_starts_with_the_marker_is_delivered_intact_either_way(tmp_path: Path) -> None:
    """Attack: a client crafts a ciphertext that starts with AT_REST_MARK (an honest one starts with 0x01). A
    sealing relay seals it like any other: stored marked and sealed, delivered intact. A relay that stores
    envelopes as sent stores it escaped and delivers it intact too: an envelope left out for its first byte
    could be neither read nor acknowledged, and a sender with the recipient's token could fill the mailbox with
    them until they expired. Every other envelope, in the same mailbox and in others, is delivered intact."""
    crafted = bytes([AT_REST_MARK]) + os.urandom(MARKER_LEN - 1)
    sealing_config = relay_config(tmp_path / "sealing", seal_at_rest=True)
    relay = await run_relay(sealing_config)
    try:
        bob = await _registered(relay.api)
        crafted_id, _ = await _send(relay, bob, crafted)
        assert await _waiting(relay, bob) == {crafted_id: crafted}
    finally:
        await stop_relay(relay)
    [row] = _sqlite_ciphertexts(sealing_config)
    assert row[0] == AT_REST_MARK
    assert len(row) == len(crafted) + AT_REST_OVERHEAD  # sealed around the crafted bytes
    assert not any(piece in row for piece in _slices(crafted).values())

    plain_config = relay_config(tmp_path / "plain")
    relay = await run_relay(plain_config)
    try:
        bob, carol = await _registered(relay.api), await _registered(relay.api)
        first = await _send(relay, bob, _sent(300))
        crafted_too = await _send(relay, bob, crafted)
        last = await _send(relay, bob, _sent(300))
        for_carol = await _send(relay, carol, _sent(300))
        assert bytes([AT_REST_MARK]) + b"\xff" * 4 + crafted in _sqlite_ciphertexts(plain_config)  # escaped
        assert await _waiting(relay, bob) == dict([first, crafted_too, last])
        assert await _waiting(relay, carol) == dict([for_carol])
    finally:
        await stop_relay(relay)
    assert not (plain_config.data_dir / KEY_DIR_NAME).exists()
