"""Ordered, registered schema migrations (the sqlite-utils ``migrations`` habit).

Each migration is a function registered with :func:`migration` under a unique name; :func:`migrate` applies,
in registration order, those not yet recorded in ``_migrations``, each in its own transaction together with
its row, so a crash leaves every migration either fully applied and recorded or not at all.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]

_REGISTRY: list[tuple[str, Migration]] = []


def migration(name: str) -> Callable[[Migration], Migration]:
    """Register ``fn`` as the next migration, named ``name`` (never rename or reorder one once shipped)."""

    def register(fn: Migration) -> Migration:
        if any(existing == name for existing, _ in _REGISTRY):
            raise ValueError(f"migration {name!r} registered twice")
        _REGISTRY.append((name, fn))
        return fn

    return register


def migration_names() -> list[str]:
    """Names of every registered migration, in order."""
    return [name for name, _ in _REGISTRY]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations to ``conn`` (autocommit mode); return the names applied now."""
    db = sqlite_utils.Database(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY)")
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for name, fn in _REGISTRY:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            fn(db)
            conn.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(name)
    return applied


@migration("0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    # Public keys only: identities, device certificates, prekeys. No names, numbers, e-mail or IPs.
    db.table("accounts").create({"address": bytes, "identity": bytes}, pk="address")
    db.table("devices").create(
        {"device_id": bytes, "address": bytes, "device_cert": bytes},
        pk="device_id",
        foreign_keys=[("address", "accounts", "address")],
    )
    db.table("devices").create_index(["address"])
    db.table("delivery_tokens").create({"device_id": bytes, "token_hash": bytes}, pk=("device_id", "token_hash"))
    db.table("signed_prekeys").create({"device_id": bytes, "key_id": int, "record": bytes}, pk="device_id")
    db.table("kem_last_resort").create({"device_id": bytes, "key_id": int, "record": bytes}, pk="device_id")
    db.table("one_time_prekeys").create(
        {"device_id": bytes, "key_id": int, "record": bytes}, pk=("device_id", "key_id")
    )
    db.table("kem_one_time_prekeys").create(
        {"device_id": bytes, "key_id": int, "record": bytes}, pk=("device_id", "key_id")
    )
    # Mailboxes: ciphertext and the times needed to deliver and expire it; nothing names the sender.
    db.execute(
        "CREATE TABLE envelopes (seq INTEGER PRIMARY KEY, envelope_id BLOB NOT NULL UNIQUE, "
        "device_id BLOB NOT NULL, received_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL, "
        "ciphertext BLOB NOT NULL)"
    )
    db.execute("CREATE INDEX envelopes_device_seq ON envelopes (device_id, seq)")
    db.execute("CREATE INDEX envelopes_expiry ON envelopes (expires_at_ms)")
    db.table("blobs").create(
        {"blob_id": str, "device_id": bytes, "size": int, "expires_at_ms": int, "path": str}, pk="blob_id"
    )
    db.table("blobs").create_index(["expires_at_ms"])
    db.table("blobs").create_index(["device_id"])


@migration("0002_device_replay_floor_and_last_seen")
def _device_floor(db: sqlite_utils.Database) -> None:
    # Per device: the highest proof timestamp accepted and the nonces accepted at it (replay protection across
    # restarts: see server/replay.py), and when it was
    # last seen (expiry of abandoned accounts). Devices present now count as seen now: a full lifetime ahead.
    db.execute("ALTER TABLE devices ADD COLUMN last_proof_ts INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE devices ADD COLUMN last_seen_ms INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE devices ADD COLUMN replay_nonces BLOB NOT NULL DEFAULT x''")
    db.execute("UPDATE devices SET last_seen_ms = ?", [int(time.time() * 1000)])


@migration("0003_documents")
def _documents(db: sqlite_utils.Database) -> None:
    # Signed public documents (SPEC section 12): the newest version per (address, kind), its expiry and its
    # bytes. ``version`` is a u64, over SQLite's signed range: kept as 8 big-endian bytes (compared in Python).
    db.execute(
        "CREATE TABLE documents (address BLOB NOT NULL, kind INTEGER NOT NULL, version BLOB NOT NULL, "
        "expires_at_ms INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (address, kind))"
    )
    db.execute("CREATE INDEX documents_expiry ON documents (expires_at_ms)")


@migration("0004_device_lists_and_links")
def _device_lists_and_links(db: sqlite_utils.Database) -> None:
    # The device ids the address's newest signed device list names (registration accepts only these once a list
    # is held), and the devices a list removed, remembered REMOVED_DEVICE_MEMORY_S to answer them 410.
    db.execute(
        "CREATE TABLE listed_devices (address BLOB NOT NULL, device_id BLOB NOT NULL, PRIMARY KEY (address, device_id))"
    )
    db.execute(
        "CREATE TABLE removed_devices (device_id BLOB PRIMARY KEY, address BLOB NOT NULL, "
        "removed_at_ms INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX removed_devices_age ON removed_devices (removed_at_ms)")
    # Link rendezvous: write-once messages per (channel, slot), all of a channel expiring with its first write.
    db.execute(
        "CREATE TABLE link_messages (channel BLOB NOT NULL, slot INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL, "
        "data BLOB NOT NULL, PRIMARY KEY (channel, slot))"
    )
    db.execute("CREATE INDEX link_messages_expiry ON link_messages (expires_at_ms)")


@migration("0005_recovery_keys")
def _recovery_keys(db: sqlite_utils.Database) -> None:
    # The public half of an identity's recovery authority (SPEC 15.7): a device list signed with it is taken from a
    # device the relay does not know yet (a restore from the recovery backup). One per address, replaced by a newer.
    db.execute("CREATE TABLE recovery_keys (address BLOB PRIMARY KEY, key BLOB NOT NULL, set_at_ms INTEGER NOT NULL)")


@migration("0006_envelopes_received")
def _envelopes_received(db: sqlite_utils.Database) -> None:
    # Which closed epochs still hold an envelope (the at-rest wrapper's question, RelayStore.received_epochs):
    # one index probe per epoch instead of a scan of every waiting envelope.
    db.execute("CREATE INDEX envelopes_received ON envelopes (received_at_ms)")
