"""Ordered, registered schema migrations for the PostgreSQL relay store (the habit of :mod:`.migrations`).

Each migration is a list of SQL statements registered under a unique name; :func:`migrate` applies, in
registration order, those not yet recorded in ``_migrations``, each in its own transaction together with its
row, so a crash leaves every migration either fully applied and recorded or not at all. Several relay processes
may start at once against one database: :func:`migrate` holds a session advisory lock while it runs, so exactly
one of them applies a migration and the others find it recorded.

The schema mirrors the SQLite one (:mod:`.migrations`) table for table: public keys, ciphertext, and the
times and sizes needed to deliver and forget. A document's u64 version is 8 big-endian bytes (``bytea``
compares bytewise, so order is numeric order), as in SQLite. Ciphertext columns are stored ``EXTERNAL``
(out of line, never compressed: ciphertext does not compress, and a compressed copy would be one more place
the bytes live).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

MIGRATION_LOCK = 0x436F6E66_6964654D
"""The advisory lock key (``ConfideM``) held by :func:`migrate`: one process migrates at a time."""

_REGISTRY: list[tuple[str, tuple[str, ...]]] = []


def migration(name: str, *statements: str) -> None:
    """Register ``statements`` as the next migration, named ``name`` (never rename or reorder one once shipped).

    Raises:
        ValueError: ``name`` is registered already.
    """
    if any(existing == name for existing, _ in _REGISTRY):
        raise ValueError(f"migration {name!r} registered twice")
    _REGISTRY.append((name, statements))


def migration_names() -> list[str]:
    """Names of every registered migration, in order."""
    return [name for name, _ in _REGISTRY]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations on ``conn`` (not inside a transaction); return the names applied now.

    Raises:
        asyncpg.PostgresError: a statement failed (its migration is rolled back and not recorded).
    """
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name text PRIMARY KEY)")
        done = {row[0] for row in await conn.fetch("SELECT name FROM _migrations")}
        applied = []
        for name, statements in _REGISTRY:
            if name in done:
                continue
            async with conn.transaction():
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO _migrations (name) VALUES ($1)", name)
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


migration(
    "0001_initial",
    # Public keys only: identities, device certificates, prekeys. No names, numbers, e-mail or IPs.
    "CREATE TABLE accounts (address bytea PRIMARY KEY, identity bytea NOT NULL)",
    "CREATE TABLE devices (device_id bytea PRIMARY KEY, address bytea NOT NULL REFERENCES accounts (address), "
    "device_cert bytea NOT NULL, last_proof_ts bigint NOT NULL DEFAULT 0, last_seen_ms bigint NOT NULL DEFAULT 0, "
    "replay_nonces bytea NOT NULL DEFAULT ''::bytea)",
    "CREATE INDEX devices_address ON devices (address)",
    "CREATE TABLE delivery_tokens (device_id bytea NOT NULL, token_hash bytea NOT NULL, "
    "PRIMARY KEY (device_id, token_hash))",
    "CREATE TABLE signed_prekeys (device_id bytea PRIMARY KEY, key_id bigint NOT NULL, record bytea NOT NULL)",
    "CREATE TABLE kem_last_resort (device_id bytea PRIMARY KEY, key_id bigint NOT NULL, record bytea NOT NULL)",
    "CREATE TABLE one_time_prekeys (device_id bytea NOT NULL, key_id bigint NOT NULL, record bytea NOT NULL, "
    "PRIMARY KEY (device_id, key_id))",
    "CREATE TABLE kem_one_time_prekeys (device_id bytea NOT NULL, key_id bigint NOT NULL, record bytea NOT NULL, "
    "PRIMARY KEY (device_id, key_id))",
    # Mailboxes: ciphertext and the times needed to deliver and expire it; nothing names the sender.
    "CREATE TABLE envelopes (seq bigint PRIMARY KEY, envelope_id bytea NOT NULL UNIQUE, device_id bytea NOT NULL, "
    "received_at_ms bigint NOT NULL, expires_at_ms bigint NOT NULL, ciphertext bytea NOT NULL)",
    "ALTER TABLE envelopes ALTER COLUMN ciphertext SET STORAGE EXTERNAL",
    "CREATE INDEX envelopes_device_seq ON envelopes (device_id, seq)",
    "CREATE INDEX envelopes_expiry ON envelopes (expires_at_ms)",
    # ``added`` keeps upload order (SQLite's rowid).
    "CREATE TABLE blobs (blob_id text PRIMARY KEY, device_id bytea NOT NULL, size bigint NOT NULL, "
    "expires_at_ms bigint NOT NULL, path text NOT NULL, added bigint GENERATED ALWAYS AS IDENTITY)",
    "CREATE INDEX blobs_expiry ON blobs (expires_at_ms)",
    "CREATE INDEX blobs_device ON blobs (device_id)",
    # Signed public documents (SPEC section 12): the newest version per (address, kind); ``added`` keeps the
    # order first published (an update keeps the row).
    "CREATE TABLE documents (address bytea NOT NULL, kind integer NOT NULL, version bytea NOT NULL, "
    "expires_at_ms bigint NOT NULL, data bytea NOT NULL, added bigint GENERATED ALWAYS AS IDENTITY, "
    "PRIMARY KEY (address, kind))",
    "ALTER TABLE documents ALTER COLUMN data SET STORAGE EXTERNAL",
    "CREATE INDEX documents_expiry ON documents (expires_at_ms)",
    # Device lists (issue 13): the ids the newest list names, and the devices a list removed (tombstones).
    "CREATE TABLE listed_devices (address bytea NOT NULL, device_id bytea NOT NULL, PRIMARY KEY (address, device_id))",
    "CREATE TABLE removed_devices (device_id bytea PRIMARY KEY, address bytea NOT NULL, removed_at_ms bigint NOT NULL)",
    "CREATE INDEX removed_devices_age ON removed_devices (removed_at_ms)",
    # Link rendezvous: write-once messages per (channel, slot), all of a channel expiring with its first write.
    "CREATE TABLE link_messages (channel bytea NOT NULL, slot integer NOT NULL, expires_at_ms bigint NOT NULL, "
    "data bytea NOT NULL, PRIMARY KEY (channel, slot))",
    "ALTER TABLE link_messages ALTER COLUMN data SET STORAGE EXTERNAL",
    "CREATE INDEX link_messages_expiry ON link_messages (expires_at_ms)",
    # The public half of an identity's recovery authority (SPEC 15.7), one per address.
    "CREATE TABLE recovery_keys (address bytea PRIMARY KEY, key bytea NOT NULL, set_at_ms bigint NOT NULL)",
)

migration(
    "0002_limits",
    # The shared counters of :mod:`.pg_limits`. UNLOGGED: the identifiers they key on (client IPs, device ids,
    # token hashes) never reach the write-ahead log; a crash empties them (lenient limits for one window, the
    # replay cache back to the stored floors). The mailbox counter is logged: a number must never come again.
    # A token bucket per (limiter, key): ``tokens`` at time ``at``; ``granted`` is the last take's outcome,
    # read back by the same statement that decided it.
    "CREATE UNLOGGED TABLE limit_buckets (scope text NOT NULL, key text NOT NULL, "
    "tokens double precision NOT NULL, at double precision NOT NULL, granted boolean NOT NULL, "
    "PRIMARY KEY (scope, key))",
    # A budget per (budget, key): ``used`` units in the window that began at ``since``.
    "CREATE UNLOGGED TABLE limit_budgets (scope text NOT NULL, key bytea NOT NULL, "
    "used bigint NOT NULL, since double precision NOT NULL, PRIMARY KEY (scope, key))",
    # The replay cache: per device, the floor it was first seen with (less one) and its nonces until they expire.
    "CREATE UNLOGGED TABLE replay_devices (device_id bytea PRIMARY KEY, floor bigint NOT NULL, "
    "last_seen double precision NOT NULL)",
    "CREATE UNLOGGED TABLE replay_nonces (device_id bytea NOT NULL, nonce bytea NOT NULL, "
    "expires double precision NOT NULL, PRIMARY KEY (device_id, nonce))",
    "CREATE INDEX replay_nonces_expiry ON replay_nonces (expires)",
    # Returns 0 (remembered), 1 (a replay) or 2 (the device's share is full). The device's row is locked from
    # the first statement to the end, so one device's calls from every process run one after another.
    # The loop is the upsert of the PL/pgSQL manual (43.6.8): a row swept between the UPDATE and the INSERT
    # sends it round again.
    """CREATE FUNCTION confide_remember_nonce(p_device bytea, p_nonce bytea, p_stamp bigint,
        p_floor bigint, p_floor_nonces bytea[], p_now double precision, p_memory double precision,
        p_share integer) RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
        v_floor bigint;
        v_live integer;
    BEGIN
        LOOP
            UPDATE replay_devices SET last_seen = greatest(last_seen, p_now) WHERE device_id = p_device
                RETURNING floor INTO v_floor;
            EXIT WHEN FOUND;
            INSERT INTO replay_devices (device_id, floor, last_seen) VALUES (p_device, p_floor - 1, p_now)
                ON CONFLICT (device_id) DO NOTHING;
            IF FOUND THEN
                v_floor := p_floor - 1;
                INSERT INTO replay_nonces (device_id, nonce, expires)
                    SELECT p_device, n, p_now + p_memory FROM unnest(p_floor_nonces) AS n
                    ON CONFLICT (device_id, nonce) DO UPDATE SET expires = greatest(replay_nonces.expires,
                        excluded.expires);
                EXIT;
            END IF;
        END LOOP;
        DELETE FROM replay_nonces WHERE device_id = p_device AND expires <= p_now;
        IF p_stamp <= v_floor
            OR EXISTS (SELECT 1 FROM replay_nonces WHERE device_id = p_device AND nonce = p_nonce) THEN
            RETURN 1;
        END IF;
        SELECT count(*) INTO v_live FROM replay_nonces WHERE device_id = p_device;
        IF v_live >= p_share THEN
            RETURN 2;
        END IF;
        INSERT INTO replay_nonces (device_id, nonce, expires) VALUES (p_device, p_nonce, p_now + p_memory);
        RETURN 0;
    END;
    $$""",
    # Mailbox numbers: one logged row, raised by each reservation.
    "CREATE TABLE mailbox_counter (id boolean PRIMARY KEY DEFAULT true CHECK (id), last bigint NOT NULL)",
    "INSERT INTO mailbox_counter (id, last) VALUES (true, 0)",
)

HELD_SHARDS = 16
"""Rows of ``held_bytes``: each write transaction adds its change to one at random, so concurrent writers (of
every process) rarely wait on the same row lock, and the total is a sum of 16 rows. Frozen with ``0003_held_bytes``
(which creates them): a change needs a migration of its own."""

migration(
    "0003_held_bytes",
    # The bytes held (envelope ciphertext, attachments, documents, link messages) for the global storage budget,
    # kept by the transactions that change them instead of summed over every table on each request.
    "CREATE TABLE held_bytes (shard smallint PRIMARY KEY, bytes bigint NOT NULL)",
    "INSERT INTO held_bytes (shard, bytes) SELECT g, 0 FROM generate_series(0, 15) g",  # HELD_SHARDS rows
    "UPDATE held_bytes SET bytes = (SELECT coalesce(sum(octet_length(ciphertext)), 0) FROM envelopes)"
    " + (SELECT coalesce(sum(size), 0) FROM blobs) + (SELECT coalesce(sum(octet_length(data)), 0) FROM documents)"
    " + (SELECT coalesce(sum(octet_length(data)), 0) FROM link_messages) WHERE shard = 0",
)
