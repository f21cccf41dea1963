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

STORE_STATUSES = ("stored", "duplicate", "conflict", "mailbox_full", "device_removed")
"""What ``confide_store_envelopes`` (``0004_one_round_trip``) answers per envelope, by index: the
:class:`~confide.server.storage.SendResult` statuses. Frozen with that migration."""

migration(
    "0004_one_round_trip",
    # Mailbox numbers from a real sequence, drawn inside the store's transaction under the mailboxes' locks:
    # nextval never waits on another transaction (the counter row made every send of every process queue on one
    # row lock), and a later commit to a mailbox still gets a higher number. Sequences never go back, across
    # restarts and crashes too, so a socket never sees a number again. It starts above every number handed out.
    "CREATE SEQUENCE envelope_seq AS bigint",
    "SELECT setval('envelope_seq', greatest((SELECT last FROM mailbox_counter),"
    " (SELECT coalesce(max(seq), 0) FROM envelopes)) + 1, false)",
    "DROP TABLE mailbox_counter",
    # A batch of envelopes stored in one statement (one round trip, one implicit transaction): lock each
    # recipient mailbox in order (the advisory lock of _SQL_LOCK in pg_store.py, so a device's removal and a
    # store to its mailbox exclude each other; class + 1 locks an envelope id), check removal and quota, insert,
    # and add the bytes stored to one shard of held_bytes. Answers one row per input envelope, in input order: a
    # status index into STORE_STATUSES, the number stored under (or NULL) and the expiry that holds for it.
    """CREATE FUNCTION confide_store_envelopes(p_ids bytea[], p_devices bytea[], p_received bigint[],
        p_expires bigint[], p_data bytea[], p_quota bigint, p_lock_class integer, p_shard integer)
        RETURNS TABLE (status smallint, seq bigint, expires_at_ms bigint) LANGUAGE plpgsql AS $$
    DECLARE
        v_devices bytea[];
        v_sizes bigint[];
        v_removed boolean[];
        v_held bigint := 0;
        v_at integer;
        v_seq bigint;
        v_owner bytea;
        v_expires bigint;
        d bytea;
    BEGIN
        SELECT array_agg(x ORDER BY x) INTO v_devices FROM (SELECT DISTINCT x FROM unnest(p_devices) x) u;
        -- Every lock up front, in one global order (mailboxes, then envelope ids, each sorted): two statements
        -- never wait on each other crosswise. An envelope id's lock makes an insert never wait on another
        -- statement's insert of the same id (which a crafted pair of batches could otherwise turn into a deadlock
        -- failing every request sharing the statements).
        FOREACH d IN ARRAY v_devices LOOP
            PERFORM pg_advisory_xact_lock(p_lock_class, hashtext(encode(d, 'hex')));
        END LOOP;
        PERFORM pg_advisory_xact_lock(p_lock_class + 1, h)
            FROM (SELECT DISTINCT hashtext(encode(x, 'hex')) AS h FROM unnest(p_ids) x) u ORDER BY h;
        SELECT array_agg(EXISTS (SELECT 1 FROM removed_devices r WHERE r.device_id = x) ORDER BY o),
               array_agg((SELECT count(*) FROM envelopes e WHERE e.device_id = x) ORDER BY o)
            INTO v_removed, v_sizes FROM unnest(v_devices) WITH ORDINALITY AS t(x, o);
        FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
            v_at := array_position(v_devices, p_devices[i]);
            IF v_removed[v_at] THEN  -- removed by a list committed after the handler checked the token
                RETURN QUERY SELECT 4::smallint, NULL::bigint, NULL::bigint;
                CONTINUE;
            END IF;
            SELECT e.device_id, e.expires_at_ms INTO v_owner, v_expires FROM envelopes e
                WHERE e.envelope_id = p_ids[i];
            IF NOT FOUND AND v_sizes[v_at] < p_quota THEN
                v_seq := nextval('envelope_seq');
                INSERT INTO envelopes (seq, envelope_id, device_id, received_at_ms, expires_at_ms, ciphertext)
                    VALUES (v_seq, p_ids[i], p_devices[i], p_received[i], p_expires[i], p_data[i])
                    ON CONFLICT (envelope_id) DO NOTHING;
                IF FOUND THEN
                    v_sizes[v_at] := v_sizes[v_at] + 1;
                    v_held := v_held + octet_length(p_data[i]);
                    RETURN QUERY SELECT 0::smallint, v_seq, p_expires[i];
                    CONTINUE;
                END IF;
                -- Another transaction committed this envelope id meanwhile (under another mailbox's lock).
                SELECT e.device_id, e.expires_at_ms INTO v_owner, v_expires FROM envelopes e
                    WHERE e.envelope_id = p_ids[i];
            END IF;
            IF v_owner IS NULL THEN
                RETURN QUERY SELECT 3::smallint, NULL::bigint, NULL::bigint;
            ELSIF v_owner = p_devices[i] THEN
                RETURN QUERY SELECT 1::smallint, NULL::bigint, v_expires;
            ELSE
                RETURN QUERY SELECT 2::smallint, NULL::bigint, NULL::bigint;
            END IF;
            v_owner := NULL;
        END LOOP;
        IF v_held <> 0 THEN
            UPDATE held_bytes SET bytes = bytes + v_held WHERE shard = p_shard;
        END IF;
    END;
    $$""",
)

migration(
    "0005_grouped_counters",
    # The shared counters' decisions of several requests in one statement (pg_batches): rows are decided in the
    # order of their (scope, key), the calls of one key in the order they came, each as the one-row statement of
    # pg_limits would decide it; the answers come back in input order. Sorted, so two statements never lock two
    # rows crosswise (no deadlock).
    """CREATE FUNCTION confide_take_all(p_scopes text[], p_keys text[], p_fresh double precision[],
        p_now double precision[], p_fresh_grants boolean[], p_cost double precision[], p_burst double precision[],
        p_rate double precision[]) RETURNS SETOF boolean LANGUAGE plpgsql AS $$
    DECLARE
        v_out boolean[] := array_fill(false, ARRAY[coalesce(array_length(p_keys, 1), 0)]);
        v_granted boolean;
        i integer;
    BEGIN
        FOR i IN SELECT o FROM unnest(p_scopes, p_keys) WITH ORDINALITY AS t (s, k, o) ORDER BY s, k, o LOOP
            INSERT INTO limit_buckets AS b (scope, key, tokens, at, granted)
                VALUES (p_scopes[i], p_keys[i], p_fresh[i], p_now[i], p_fresh_grants[i])
            ON CONFLICT (scope, key) DO UPDATE SET
                tokens = CASE WHEN least(p_burst[i], b.tokens + greatest(p_now[i] - b.at, 0) * p_rate[i]) >= p_cost[i]
                    THEN least(p_burst[i], b.tokens + greatest(p_now[i] - b.at, 0) * p_rate[i]) - p_cost[i]
                    ELSE least(p_burst[i], b.tokens + greatest(p_now[i] - b.at, 0) * p_rate[i]) END,
                at = greatest(b.at, p_now[i]),
                granted = least(p_burst[i], b.tokens + greatest(p_now[i] - b.at, 0) * p_rate[i]) >= p_cost[i]
            RETURNING b.granted INTO v_granted;
            v_out[i] := v_granted;
        END LOOP;
        RETURN QUERY SELECT unnest(v_out);
    END;
    $$""",
    """CREATE FUNCTION confide_try_spend_all(p_scopes text[], p_keys bytea[], p_amounts bigint[],
        p_now double precision[], p_windows double precision[], p_limits bigint[])
        RETURNS SETOF boolean LANGUAGE plpgsql AS $$
    DECLARE
        v_out boolean[] := array_fill(false, ARRAY[coalesce(array_length(p_keys, 1), 0)]);
        i integer;
    BEGIN
        FOR i IN SELECT o FROM unnest(p_scopes, p_keys) WITH ORDINALITY AS t (s, k, o) ORDER BY s, k, o LOOP
            INSERT INTO limit_budgets AS b (scope, key, used, since)
                VALUES (p_scopes[i], p_keys[i], p_amounts[i], p_now[i])
            ON CONFLICT (scope, key) DO UPDATE SET
                used = CASE WHEN p_now[i] - b.since >= p_windows[i] THEN p_amounts[i] ELSE b.used + p_amounts[i] END,
                since = CASE WHEN p_now[i] - b.since >= p_windows[i] THEN p_now[i] ELSE b.since END
            WHERE (CASE WHEN p_now[i] - b.since >= p_windows[i] THEN 0 ELSE b.used END) + p_amounts[i] <= p_limits[i];
            v_out[i] := FOUND;
        END LOOP;
        RETURN QUERY SELECT unnest(v_out);
    END;
    $$""",
)

migration(
    "0006_upload_reservations",
    # Attachment bytes reserved by uploads in progress, shared by every process (pg_reservations). UNLOGGED, as the
    # counters: a device id never reaches the WAL, and a crash of PostgreSQL only forgets uploads in progress
    # (their bytes are counted once stored). A row lives until its upload ends or, if its process died,
    # until ``until_ms`` (the database's clock, the same for every process).
    "CREATE UNLOGGED TABLE upload_reservations (id bytea PRIMARY KEY, device_id bytea NOT NULL, "
    "amount bigint NOT NULL, until_ms bigint NOT NULL)",
    "CREATE INDEX upload_reservations_device ON upload_reservations (device_id)",
    # Reserve under the device's advisory lock: its stored attachment bytes and its live reservations, read in one
    # snapshot (an upload commits its blob row before it releases its reservation, so a snapshot sees at least
    # one of them), plus the new amount must fit the quota. True when reserved.
    """CREATE FUNCTION confide_reserve_upload(p_id bytea, p_device bytea, p_amount bigint, p_quota bigint,
        p_lock_class integer, p_ttl_ms bigint) RETURNS boolean LANGUAGE plpgsql AS $$
    DECLARE
        v_now bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    BEGIN
        PERFORM pg_advisory_xact_lock(p_lock_class, hashtext(encode(p_device, 'hex')));
        DELETE FROM upload_reservations WHERE device_id = p_device AND until_ms <= v_now;
        IF (SELECT coalesce(sum(size), 0) FROM blobs WHERE device_id = p_device)
            + (SELECT coalesce(sum(amount), 0) FROM upload_reservations WHERE device_id = p_device)
            + p_amount > p_quota THEN
            RETURN false;
        END IF;
        INSERT INTO upload_reservations (id, device_id, amount, until_ms) VALUES (p_id, p_device, p_amount,
            v_now + p_ttl_ms);
        RETURN true;
    END;
    $$""",
)

migration(
    "0007_envelopes_received",
    # Which closed epochs still hold an envelope (the at-rest wrapper's question, RelayStore.received_epochs): one
    # index probe per epoch instead of a scan of every waiting envelope.
    "CREATE INDEX envelopes_received ON envelopes (received_at_ms)",
)
