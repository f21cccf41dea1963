"""The networked storage: PostgreSQL through an asyncpg pool, shared by every relay process of a deployment.

Every write runs in one transaction (``READ COMMITTED``) that locks what it decides on, so two relay processes
never act on the same state at once: an address's registrations and device lists hold a transaction-level
advisory lock on the address, a mailbox's stores hold one on its device (taken in device order: no deadlock),
and a one-time prekey is handed out by ``DELETE ... WHERE key = (SELECT ... FOR UPDATE SKIP LOCKED)``, so
concurrent takers (in this process or another) each delete a different key and no key is handed out twice.
There are no caches: another process may change any row, so every read asks the database (correctness first;
``docs/SCALING.md`` has the cost).

Mailbox numbers come from the injected :class:`~confide.server.sequence.MailboxSequence` (one shared by every
process), reserved while the transaction holds its mailboxes' locks, so within a mailbox numbers increase in
commit order across processes.

Deletion (measured by ``tests/server/pg_forensics.py``): PostgreSQL keeps a deleted row's bytes in its table
file until its page is rewritten, and in the write-ahead log until the segment is recycled and overwritten.
``VACUUM`` prunes dead rows, and compacting a page overwrites a dead row that older rows move over, but not the
newest row of a page nor a TOAST chunk (a ciphertext over 2 kB): those stay in the file until the space is
reused. So after a commit that deleted ciphertext the store runs ``VACUUM`` of the touched tables on a pooled
connection, outside the request path, coalesced to at most one per ``SCRUB_INTERVAL_S`` (``VACUUM`` cannot run
inside a transaction block); and :meth:`PostgresStore.checkpoint` (the sweeper's, every sweep) rewrites the
tables that had deletions (``VACUUM FULL``: a new file holding only live rows, the old one truncated at once) at
most once per ``REWRITE_INTERVAL_S``, never waiting more than ``REWRITE_LOCK_TIMEOUT_MS`` for the table and never
a table over ``REWRITE_MAX_BYTES``. The log is not forced: a ``CHECKPOINT`` only makes old segments reusable,
and they are overwritten when reused. SECURITY.md states what stays and for how long.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from asyncpg import Connection as Conn
from asyncpg import Pool

from confide.protocol.documents import DocumentKind

from .errors import BadRequest, Conflict, DeviceRemoved, Forbidden, InsufficientStorage, Unavailable
from .limits import (
    LINK_CHANNEL_TTL_S,
    MAX_DEVICES_PER_ACCOUNT,
    MAX_KEM_ONE_TIME_STOCK,
    MAX_LINK_CHANNELS,
    MAX_ONE_TIME_STOCK,
    MAX_TOKEN_HASHES,
    REMOVED_DEVICE_MEMORY_S,
)
from .pg_migrations import migrate
from .sequence import MailboxSequence
from .storage import (
    BlobRecord,
    BundleParts,
    DeviceListUpdate,
    DeviceRecord,
    HeldBlob,
    HeldDocument,
    HeldEnvelope,
    Holdings,
    NewEnvelope,
    PrekeyCounts,
    PrekeyUpdate,
    Registration,
    SendResult,
    StoredDocument,
    StoredEnvelope,
    SweepResult,
)

T = TypeVar("T")

_log = logging.getLogger(__name__)

POOL_MIN = 2
"""Connections each process keeps open: one for a write and one for a read between requests."""

POOL_MAX = 16
"""Connections each process may open: a relay's concurrent requests queue for these (PostgreSQL's default
``max_connections`` of 100 serves six processes with room for the scrub connections and ``psql``)."""

CONNECT_TIMEOUT_S = 5.0
"""How long opening a connection may take before the store reports the database unavailable."""

SCRUB_INTERVAL_S = 0.1
"""Least time between two scrubs (``VACUUM`` of the tables a commit deleted ciphertext from), as the SQLite
writer's: an idle relay vacuums right after the deleting commit, a steady stream of acks at most ten times a
second."""

REWRITE_INTERVAL_S = 60.0
"""Least time between two rewrites (``VACUUM FULL``) of the ciphertext tables by one process: an acknowledged
ciphertext's last copy in a table file lives at most about this long plus one sweep interval. A rewrite holds the
table's exclusive lock while it copies the live rows (about 10 ms per MiB here), so once a minute costs a
practice relay's sends a pause of milliseconds."""

REWRITE_MAX_BYTES = 64 * 1024 * 1024
"""A ciphertext table larger than this (with its TOAST and indexes) is not rewritten: the pause would reach
about a second. Its deleted rows stay until their space is reused (docs/SCALING.md)."""

REWRITE_LOCK_TIMEOUT_MS = 50
"""How long a rewrite waits for its table's exclusive lock before giving up until the next sweep: requests queue
behind a waiting rewrite, so the wait is bounded well below the live-push target."""

_VERSION_LEN = 8
"""A document's version is a u64 (SPEC section 12), stored as 8 big-endian bytes (``bytea`` orders bytewise)."""

_DEVICES_KIND = int(DocumentKind.DEVICES)

_LOCK_ADDRESS = 0x43416472
"""Advisory lock class (``CAdr``) of an address: its registrations, device list and deletion."""

_LOCK_MAILBOX = 0x434D6278
"""Advisory lock class (``CMbx``) of a device's mailbox: its stores (quota, numbering) and removal."""

_LOCK_REWRITE = 0x436F6E66_69646552
"""Session advisory lock (``ConfideR``): one process rewrites the tables at a time."""

_LOCK_LINKS = 0x434C6E6B
"""Advisory lock class (``CLnk``): the count of live link channels is decided under it."""

_DEVICE_TABLES = ("one_time_prekeys", "kem_one_time_prekeys", "signed_prekeys", "kem_last_resort", "delivery_tokens")
"""Every table holding a device's keys or tokens by ``device_id`` (deleted with the device)."""

_CIPHERTEXT_TABLES = ("envelopes", "documents", "link_messages")
"""Tables whose deleted rows held ciphertext or replaced public bytes: vacuumed by the scrub."""

APPROVE_FIRST = "approve this device from one of your devices first (confide devices approve)"
"""Why a device its account's list does not name (or a second device of an address without a list) is refused."""

_STALE_DOCUMENT = (
    "the relay holds a newer version of this document, or this version with other bytes; publish a higher version"
)

_SQL_LOCK = "SELECT pg_advisory_xact_lock($1::int4, hashtext(encode($2::bytea, 'hex')))"
_SQL_REMOVED_AT = "SELECT removed_at_ms FROM removed_devices WHERE device_id = $1"
_SQL_HAS_LIST = "SELECT count(*), coalesce(sum((device_id = $1)::int), 0) FROM listed_devices WHERE address = $2"
_SQL_FLOOR = "SELECT last_proof_ts, replay_nonces FROM devices WHERE device_id = $1 FOR UPDATE"
_SQL_NOTE_SEEN = (
    "UPDATE devices SET last_proof_ts = $1, replay_nonces = $2, last_seen_ms = greatest(last_seen_ms, $3) "
    "WHERE device_id = $4"
)
_SQL_DELIVERY_HASHES = (
    "SELECT DISTINCT t.token_hash FROM devices d JOIN devices o ON o.address = d.address "
    "JOIN delivery_tokens t ON t.device_id = o.device_id WHERE d.device_id = $1 ORDER BY t.token_hash"
)
_SQL_BYTES_HELD = (
    "SELECT (SELECT coalesce(sum(octet_length(ciphertext)), 0) FROM envelopes)"
    " + (SELECT coalesce(sum(size), 0) FROM blobs)"
    " + (SELECT coalesce(sum(octet_length(data)), 0) FROM documents)"
    " + (SELECT coalesce(sum(octet_length(data)), 0) FROM link_messages)"
)
_SQL_INSERT_ENVELOPE = (
    "INSERT INTO envelopes (seq, envelope_id, device_id, received_at_ms, expires_at_ms, ciphertext) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (envelope_id) DO NOTHING RETURNING seq"
)
_SQL_ENVELOPE_BY_ID = "SELECT device_id, expires_at_ms FROM envelopes WHERE envelope_id = $1"
_SQL_FETCH = (
    "SELECT seq, envelope_id, received_at_ms, expires_at_ms, ciphertext FROM envelopes "
    "WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
)
_SQL_ACK = "DELETE FROM envelopes WHERE device_id = $1 AND envelope_id = ANY($2::bytea[])"
_SQL_DOCUMENT = "SELECT version, expires_at_ms, data FROM documents WHERE address = $1 AND kind = $2"
_SQL_DOCUMENT_FOR_UPDATE = _SQL_DOCUMENT + " FOR UPDATE"
_SQL_LINK = "SELECT data, expires_at_ms FROM link_messages WHERE channel = $1 AND slot = $2"
_SQL_UNLISTED_ADDRESSES = (
    "DELETE FROM listed_devices WHERE address NOT IN (SELECT address FROM documents WHERE kind = $1)"
)
_SQL_UNSEEN_ACCOUNTS = "SELECT address FROM devices GROUP BY address HAVING max(last_seen_ms) <= $1"

_RETRYABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
)
"""Failures a retry may fix: reported as :class:`~confide.server.errors.Unavailable` (503)."""


def _changed(status: str) -> int:
    """Rows a command changed, from its status tag (``DELETE 3``)."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore:
    """:class:`~confide.server.storage.RelayStore` on PostgreSQL, safe to share among relay processes.

    ``dsn`` is a ``postgresql://`` URL. ``sequence`` numbers the mailboxes (the store starts and closes it) and
    must be shared by every process writing to the database. ``account_ttl_s`` (None: never) is how long an
    account may go unseen before :meth:`sweep` deletes it with all its data. ``scrub_interval_s`` bounds how
    often the deleted ciphertext is vacuumed, ``rewrite_interval_s`` (None: never) how often :meth:`checkpoint`
    rewrites the tables it was deleted from.
    """

    def __init__(
        self,
        dsn: str,
        *,
        sequence: MailboxSequence,
        account_ttl_s: int | None = None,
        scrub_interval_s: float = SCRUB_INTERVAL_S,
        rewrite_interval_s: float | None = REWRITE_INTERVAL_S,
        pool_min: int = POOL_MIN,
        pool_max: int = POOL_MAX,
    ) -> None:
        self._dsn = dsn
        self._sequence = sequence
        self._account_ttl_ms = None if account_ttl_s is None else 1000 * account_ttl_s
        self._scrub_interval = scrub_interval_s
        self._rewrite_interval = rewrite_interval_s
        self._rewritable: set[str] = set()
        self._last_rewrite = float("-inf")
        self._pool_min = pool_min
        self._pool_max = pool_max
        self._pool_: Pool | None = None
        self._dirty: set[str] = set()
        self._scrub_wake = asyncio.Event()
        self._scrub_task: asyncio.Task[None] | None = None
        self._last_scrub = float("-inf")

    async def start(self) -> None:
        """Open the pool, migrate the schema (one process at a time), start the sequence above the highest
        stored number and the scrub task.

        Raises:
            Unavailable: the database cannot be reached.
            asyncpg.PostgresError: a migration failed.
        """
        try:
            pool = await asyncpg.create_pool(
                self._dsn, min_size=self._pool_min, max_size=self._pool_max, timeout=CONNECT_TIMEOUT_S
            )
        except _RETRYABLE as exc:
            raise Unavailable(f"the relay database cannot be reached ({type(exc).__name__})") from exc
        assert pool is not None
        async with pool.acquire() as conn:
            await migrate(conn)
            floor = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM envelopes")
        await self._sequence.start(int(floor))
        self._pool_ = pool
        self._scrub_task = asyncio.create_task(self._scrub_loop(), name="confide-pg-scrub")

    @property
    def _pool(self) -> Pool:
        if self._pool_ is None:
            raise Unavailable("the relay database is not open")
        return self._pool_

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A pooled connection; a failure a retry may fix becomes :class:`Unavailable`."""
        pool = self._pool
        try:
            async with pool.acquire(timeout=CONNECT_TIMEOUT_S) as conn:
                yield conn
        except _RETRYABLE as exc:
            raise Unavailable(f"the relay database failed ({type(exc).__name__}); retry") from exc

    async def _write(self, op: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``op`` in one transaction on a pooled connection (committed when it returns, rolled back when
        it raises)."""
        async with self._connection() as conn, conn.transaction():
            return await op(conn)

    async def _read(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self._connection() as conn:
            return list(await conn.fetch(query, *args))

    async def _read_row(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self._connection() as conn:
            return await conn.fetchrow(query, *args)

    @staticmethod
    async def _lock(conn: Conn, kind: int, key: bytes) -> None:
        await conn.execute(_SQL_LOCK, kind, key)

    def _request_scrub(self, *tables: str) -> None:
        self._dirty.update(tables)
        self._rewritable.update(tables)
        self._scrub_wake.set()

    async def bytes_held(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(_SQL_BYTES_HELD))

    # -- accounts -------------------------------------------------------------------------------------

    async def register(self, reg: Registration) -> bool:
        async def op(conn: Conn) -> bool:
            await self._lock(conn, _LOCK_ADDRESS, reg.address)
            row = await conn.fetchrow("SELECT address FROM devices WHERE device_id = $1 FOR UPDATE", reg.device_id)
            if row is not None and row[0] != reg.address:
                raise Conflict("this device key is registered to another identity; create a new device key")
            created = row is None
            if await conn.fetchrow(_SQL_REMOVED_AT, reg.device_id) is not None:
                raise DeviceRemoved()
            listed, named = await conn.fetchrow(_SQL_HAS_LIST, reg.device_id, reg.address)
            if listed and not named:
                raise Forbidden(APPROVE_FIRST)
            if created:
                n = await conn.fetchval("SELECT count(*) FROM devices WHERE address = $1", reg.address)
                if n >= MAX_DEVICES_PER_ACCOUNT:
                    raise BadRequest(f"an account may have at most {MAX_DEVICES_PER_ACCOUNT} devices")
                if n and not listed:
                    raise Forbidden(APPROVE_FIRST)
            await conn.execute(
                "INSERT INTO accounts (address, identity) VALUES ($1, $2) ON CONFLICT (address) DO NOTHING",
                reg.address,
                reg.identity,
            )
            await conn.execute(
                "INSERT INTO devices (device_id, address, device_cert) VALUES ($1, $2, $3) "
                "ON CONFLICT (device_id) DO UPDATE SET device_cert = excluded.device_cert",
                reg.device_id,
                reg.address,
                reg.device_cert,
            )
            await self._note_seen(conn, reg.device_id, reg.proof_stamp, reg.proof_nonce, reg.seen_at_ms)
            for table in ("one_time_prekeys", "kem_one_time_prekeys", "delivery_tokens"):
                await conn.execute(f"DELETE FROM {table} WHERE device_id = $1", reg.device_id)  # noqa: S608
            await self._put_keys(
                conn,
                reg.device_id,
                PrekeyUpdate(reg.signed_prekey, reg.kem_last_resort, reg.one_time, reg.kem_one_time),
            )
            await self._set_tokens(conn, reg.device_id, reg.token_hashes)
            return created

        return await self._write(op)

    async def device(self, device_id: bytes) -> DeviceRecord | None:
        row = await self._read_row(
            "SELECT d.address, a.identity, d.device_cert, d.last_proof_ts, d.replay_nonces FROM devices d "
            "JOIN accounts a USING (address) WHERE d.device_id = $1",
            device_id,
        )
        return None if row is None else DeviceRecord(device_id, row[0], row[1], row[2], row[3], bytes(row[4]))

    async def device_count(self, address: bytes) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM devices WHERE address = $1", address))

    async def note_seen(self, device_id: bytes, stamp: int, nonce: bytes, now_ms: int) -> None:
        await self._write(lambda conn: self._note_seen(conn, device_id, stamp, nonce, now_ms))

    @staticmethod
    async def _note_seen(conn: Conn, device_id: bytes, stamp: int, nonce: bytes, now_ms: int) -> None:
        row = await conn.fetchrow(_SQL_FLOOR, device_id)  # FOR UPDATE: two processes never lose a nonce
        if row is None or stamp < row[0]:
            return
        nonces = bytes(row[1]) + nonce if stamp == row[0] else nonce
        await conn.execute(_SQL_NOTE_SEEN, stamp, nonces, now_ms, device_id)

    async def token_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        async with self._connection() as conn:
            if await conn.fetchval("SELECT 1 FROM devices WHERE device_id = $1", device_id) is None:
                return None
            rows = await conn.fetch(
                "SELECT token_hash FROM delivery_tokens WHERE device_id = $1 ORDER BY token_hash", device_id
            )
        return tuple(r[0] for r in rows)

    async def delivery_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        async with self._connection() as conn:
            if await conn.fetchval("SELECT 1 FROM devices WHERE device_id = $1", device_id) is None:
                return None
            rows = await conn.fetch(_SQL_DELIVERY_HASHES, device_id)
        return tuple(r[0] for r in rows)

    async def removed_at(self, device_id: bytes) -> int | None:
        row = await self._read_row(_SQL_REMOVED_AT, device_id)
        return None if row is None else int(row[0])

    async def replace_tokens(self, device_id: bytes, hashes: tuple[bytes, ...]) -> int:
        async def op(conn: Conn) -> int:
            await conn.execute("DELETE FROM delivery_tokens WHERE device_id = $1", device_id)
            return await self._set_tokens(conn, device_id, hashes)

        return await self._write(op)

    @staticmethod
    async def _set_tokens(conn: Conn, device_id: bytes, hashes: tuple[bytes, ...]) -> int:
        unique = tuple(dict.fromkeys(hashes))
        if len(unique) > MAX_TOKEN_HASHES:
            raise BadRequest(f"a device may register at most {MAX_TOKEN_HASHES} delivery tokens")
        await conn.executemany(
            "INSERT INTO delivery_tokens (device_id, token_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(device_id, h) for h in unique],
        )
        return len(unique)

    # -- prekeys --------------------------------------------------------------------------------------

    @staticmethod
    async def _counts_of(conn: Conn, device_id: bytes) -> PrekeyCounts:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM one_time_prekeys WHERE device_id = $1), "
            "(SELECT count(*) FROM kem_one_time_prekeys WHERE device_id = $1), "
            "(SELECT key_id FROM signed_prekeys WHERE device_id = $1), "
            "(SELECT key_id FROM kem_last_resort WHERE device_id = $1)",
            device_id,
        )
        assert row is not None
        return PrekeyCounts(int(row[0]), int(row[1]), int(row[2] or 0), int(row[3] or 0))

    async def prekey_counts(self, device_id: bytes) -> PrekeyCounts:
        async with self._connection() as conn:
            return await self._counts_of(conn, device_id)

    @staticmethod
    async def _put_keys(conn: Conn, device_id: bytes, update: PrekeyUpdate) -> None:
        for table, key in (("signed_prekeys", update.signed_prekey), ("kem_last_resort", update.kem_last_resort)):
            if key is not None:
                await conn.execute(
                    f"INSERT INTO {table} (device_id, key_id, record) VALUES ($1, $2, $3) "  # noqa: S608
                    "ON CONFLICT (device_id) DO UPDATE SET key_id = excluded.key_id, record = excluded.record",
                    device_id,
                    key.key_id,
                    key.record,
                )
        for table, keys, cap in (
            ("one_time_prekeys", update.one_time, MAX_ONE_TIME_STOCK),
            ("kem_one_time_prekeys", update.kem_one_time, MAX_KEM_ONE_TIME_STOCK),
        ):
            if not keys:
                continue
            await conn.executemany(
                f"INSERT INTO {table} (device_id, key_id, record) VALUES ($1, $2, $3) "  # noqa: S608
                "ON CONFLICT (device_id, key_id) DO UPDATE SET record = excluded.record",
                [(device_id, k.key_id, k.record) for k in keys],
            )
            n = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE device_id = $1", device_id)  # noqa: S608
            if n > cap:
                raise BadRequest(f"the relay keeps at most {cap} keys of this kind per device; upload fewer")

    async def put_prekeys(self, device_id: bytes, update: PrekeyUpdate) -> PrekeyCounts:
        async def op(conn: Conn) -> PrekeyCounts:
            await self._put_keys(conn, device_id, update)
            return await self._counts_of(conn, device_id)

        return await self._write(op)

    async def take_bundles(self, address: bytes, *, consume: int) -> list[BundleParts] | None:
        async def op(conn: Conn) -> list[BundleParts] | None:
            identity = await conn.fetchval("SELECT identity FROM accounts WHERE address = $1", address)
            if identity is None:
                return None
            rows = await conn.fetch(
                "SELECT d.device_id, d.device_cert, s.record, k.record FROM devices d "
                "JOIN signed_prekeys s USING (device_id) JOIN kem_last_resort k USING (device_id) "
                "WHERE d.address = $1 AND (NOT EXISTS (SELECT 1 FROM listed_devices l WHERE l.address = d.address) "
                "OR d.device_id IN (SELECT l.device_id FROM listed_devices l WHERE l.address = d.address)) "
                "ORDER BY d.device_id",
                address,
            )
            out = []
            for i, (device_id, cert, spk, kem_lr) in enumerate(rows):
                otk = kem = None
                if i < consume:
                    otk = await self._take_one(conn, "one_time_prekeys", device_id)
                    kem = await self._take_one(conn, "kem_one_time_prekeys", device_id)
                out.append(BundleParts(device_id, identity, cert, spk, otk, kem if kem is not None else kem_lr))
            return out

        return await self._write(op)

    @staticmethod
    async def _take_one(conn: Conn, table: str, device_id: bytes) -> bytes | None:
        # SKIP LOCKED: a key another transaction is taking is not waited for but passed over, so concurrent
        # takers (any process) each delete a different key; each key is returned by exactly one DELETE.
        record = await conn.fetchval(
            f"DELETE FROM {table} WHERE (device_id, key_id) = (SELECT device_id, key_id FROM {table} "  # noqa: S608
            "WHERE device_id = $1 ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING record",
            device_id,
        )
        return None if record is None else bytes(record)

    # -- mailboxes ------------------------------------------------------------------------------------

    async def store_envelopes(self, items: list[NewEnvelope], quota: int) -> list[SendResult]:
        async def op(conn: Conn) -> list[SendResult]:
            devices = sorted({env.device_id for env in items})
            for device_id in devices:  # in order: two stores never wait on each other crosswise
                await self._lock(conn, _LOCK_MAILBOX, device_id)
            # Reserved under the mailboxes' locks: a later commit to a mailbox gets higher numbers.
            numbers = iter(await self._sequence.reserve(len(items)))
            removed = {d for d in devices if await conn.fetchrow(_SQL_REMOVED_AT, d) is not None}
            sizes = {
                d: int(await conn.fetchval("SELECT count(*) FROM envelopes WHERE device_id = $1", d))
                for d in devices
                if d not in removed
            }
            results = []
            for env in items:
                if env.device_id in removed:  # removed by a list committed after the handler checked its token
                    results.append(SendResult(env.envelope_id, "device_removed"))
                    continue
                existing = await conn.fetchrow(_SQL_ENVELOPE_BY_ID, env.envelope_id)
                if existing is None and sizes[env.device_id] < quota:
                    seq = next(numbers)
                    inserted = await conn.fetchval(
                        _SQL_INSERT_ENVELOPE,
                        seq,
                        env.envelope_id,
                        env.device_id,
                        env.received_at_ms,
                        env.expires_at_ms,
                        env.ciphertext,
                    )
                    if inserted is not None:
                        sizes[env.device_id] += 1
                        stored = StoredEnvelope(
                            seq, env.envelope_id, env.received_at_ms, env.expires_at_ms, env.ciphertext
                        )
                        results.append(SendResult(env.envelope_id, "stored", env.expires_at_ms, stored))
                        continue
                    # Another process committed this envelope id meanwhile (to another mailbox's lock).
                    existing = await conn.fetchrow(_SQL_ENVELOPE_BY_ID, env.envelope_id)
                if existing is not None:
                    if existing[0] != env.device_id:
                        results.append(SendResult(env.envelope_id, "conflict"))
                    else:
                        results.append(SendResult(env.envelope_id, "duplicate", existing[1]))
                    continue
                results.append(SendResult(env.envelope_id, "mailbox_full"))
            return results

        return await self._write(op)

    async def fetch(self, device_id: bytes, after_seq: int, limit: int) -> list[StoredEnvelope]:
        rows = await self._read(_SQL_FETCH, device_id, after_seq, limit)
        return [StoredEnvelope(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def ack(self, device_id: bytes, envelope_ids: list[bytes]) -> int:
        async def op(conn: Conn) -> int:
            return _changed(await conn.execute(_SQL_ACK, device_id, list(dict.fromkeys(envelope_ids))))

        deleted = await self._write(op)
        if deleted:
            self._request_scrub("envelopes")
        return deleted

    # -- blobs ----------------------------------------------------------------------------------------

    async def add_blob(self, blob: BlobRecord) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO blobs (blob_id, device_id, size, expires_at_ms, path) VALUES ($1, $2, $3, $4, $5)",
                blob.blob_id,
                blob.device_id,
                blob.size,
                blob.expires_at_ms,
                blob.path,
            )

    async def blob(self, blob_id: str) -> BlobRecord | None:
        row = await self._read_row("SELECT device_id, size, expires_at_ms, path FROM blobs WHERE blob_id = $1", blob_id)
        return None if row is None else BlobRecord(blob_id, row[0], row[1], row[2], row[3])

    async def blob_bytes(self, device_id: bytes) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval("SELECT coalesce(sum(size), 0) FROM blobs WHERE device_id = $1", device_id))

    async def delete_blob(self, blob_id: str) -> BlobRecord | None:
        row = await self._read_row(
            "DELETE FROM blobs WHERE blob_id = $1 RETURNING device_id, size, expires_at_ms, path", blob_id
        )
        return None if row is None else BlobRecord(blob_id, row[0], row[1], row[2], row[3])

    async def blob_names(self) -> set[str]:
        return {r[0] for r in await self._read("SELECT path FROM blobs")}

    async def holdings(self) -> Holdings:
        async with self._connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            envelopes = await conn.fetch(
                "SELECT octet_length(ciphertext), received_at_ms, expires_at_ms FROM envelopes ORDER BY seq"
            )
            blobs = await conn.fetch("SELECT size, expires_at_ms FROM blobs ORDER BY added")
            documents = await conn.fetch("SELECT kind, octet_length(data), expires_at_ms FROM documents ORDER BY added")
        return Holdings(
            tuple(HeldEnvelope(r[0], r[1], r[2]) for r in envelopes),
            tuple(HeldBlob(r[0], r[1]) for r in blobs),
            tuple(HeldDocument(r[0], r[1], r[2]) for r in documents),
        )

    # -- documents ------------------------------------------------------------------------------------

    async def put_document(self, document: StoredDocument) -> bool:
        return await self._write(lambda conn: self._put_document(conn, document))

    async def _put_document(self, conn: Conn, document: StoredDocument) -> bool:
        version = document.version.to_bytes(_VERSION_LEN, "big")
        # A first publication by two processes at once: the loser of the insert waits and then sees the row.
        inserted = await conn.fetchval(
            "INSERT INTO documents (address, kind, version, expires_at_ms, data) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (address, kind) DO NOTHING RETURNING 1",
            document.address,
            document.kind,
            version,
            document.expires_at_ms,
            document.data,
        )
        if inserted is not None:
            return True
        row = await conn.fetchrow(_SQL_DOCUMENT_FOR_UPDATE, document.address, document.kind)
        assert row is not None
        held = int.from_bytes(row[0], "big")
        if held == document.version and hmac.compare_digest(bytes(row[2]), document.data):
            return False
        if held >= document.version:
            raise Conflict(_STALE_DOCUMENT)
        await conn.execute(
            "UPDATE documents SET version = $1, expires_at_ms = $2, data = $3 WHERE address = $4 AND kind = $5",
            version,
            document.expires_at_ms,
            document.data,
            document.address,
            document.kind,
        )
        self._request_scrub("documents")  # the replaced bytes are a dead tuple until vacuumed
        return True

    async def put_device_list(
        self, document: StoredDocument, listed: tuple[bytes, ...], now_ms: int
    ) -> DeviceListUpdate:
        async def op(conn: Conn) -> DeviceListUpdate:
            address = document.address
            await self._lock(conn, _LOCK_ADDRESS, address)
            if not await self._put_document(conn, document):
                return DeviceListUpdate(stored=False)
            await conn.execute("DELETE FROM listed_devices WHERE address = $1", address)
            await conn.executemany(
                "INSERT INTO listed_devices (address, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [(address, d) for d in listed],
            )
            await conn.execute("DELETE FROM removed_devices WHERE device_id = ANY($1::bytea[])", list(listed))
            wanted = set(listed)
            registered = [
                r[0]
                for r in await conn.fetch(
                    "SELECT device_id FROM devices WHERE address = $1 ORDER BY device_id", address
                )
            ]
            removed = tuple(d for d in registered if d not in wanted)
            for device_id in removed:
                await self._lock(conn, _LOCK_MAILBOX, device_id)  # no store into a mailbox being deleted
                await self._delete_device(conn, device_id)
                await conn.execute("DELETE FROM devices WHERE device_id = $1", device_id)
                await conn.execute(
                    "INSERT INTO removed_devices (device_id, address, removed_at_ms) VALUES ($1, $2, $3) "
                    "ON CONFLICT (device_id) DO UPDATE SET address = excluded.address, "
                    "removed_at_ms = excluded.removed_at_ms",
                    device_id,
                    address,
                    now_ms,
                )
            if removed:
                self._request_scrub("envelopes")
            return DeviceListUpdate(stored=True, removed=removed)

        return await self._write(op)

    async def document(self, address: bytes, kind: int) -> StoredDocument | None:
        row = await self._read_row(_SQL_DOCUMENT, address, kind)
        if row is None:
            return None
        return StoredDocument(address, kind, int.from_bytes(row[0], "big"), row[1], bytes(row[2]))

    async def recovery_key(self, address: bytes) -> bytes | None:
        row = await self._read_row("SELECT key FROM recovery_keys WHERE address = $1", address)
        return None if row is None else bytes(row[0])

    async def set_recovery_key(self, address: bytes, key: bytes, now_ms: int) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO recovery_keys (address, key, set_at_ms) VALUES ($1, $2, $3) "
                "ON CONFLICT (address) DO UPDATE SET key = excluded.key, set_at_ms = excluded.set_at_ms",
                address,
                key,
                now_ms,
            )

    @staticmethod
    async def _delete_device(conn: Conn, device_id: bytes) -> int:
        """Delete a device's mailbox, keys and tokens (not its row, not its blobs); return envelopes deleted."""
        n = _changed(await conn.execute("DELETE FROM envelopes WHERE device_id = $1", device_id))
        for table in _DEVICE_TABLES:
            await conn.execute(f"DELETE FROM {table} WHERE device_id = $1", device_id)  # noqa: S608
        return n

    # -- device links ---------------------------------------------------------------------------------

    async def put_link(self, channel: bytes, slot: int, data: bytes, now_ms: int) -> bool:
        async def op(conn: Conn) -> bool:
            # One lock for every channel: the live-channel count and a channel's first write are decided together.
            await conn.execute("SELECT pg_advisory_xact_lock($1::int4, 0)", _LOCK_LINKS)
            expiry = await conn.fetchval("SELECT min(expires_at_ms) FROM link_messages WHERE channel = $1", channel)
            if expiry is not None and expiry <= now_ms:  # dead, not yet swept: gone now
                await conn.execute("DELETE FROM link_messages WHERE channel = $1", channel)
                self._request_scrub("link_messages")
                expiry = None
            if expiry is None:
                live = await conn.fetchval(
                    "SELECT count(DISTINCT channel) FROM link_messages WHERE expires_at_ms > $1", now_ms
                )
                if live >= MAX_LINK_CHANNELS:
                    raise InsufficientStorage("too many devices are being linked on this relay; retry in a few minutes")
                expiry = now_ms + 1000 * LINK_CHANNEL_TTL_S
            held = await conn.fetchrow(_SQL_LINK, channel, slot)
            if held is not None:
                if hmac.compare_digest(bytes(held[0]), data):
                    return False
                raise Conflict("this link slot holds another message already; start the link again with a new code")
            await conn.execute(
                "INSERT INTO link_messages (channel, slot, expires_at_ms, data) VALUES ($1, $2, $3, $4)",
                channel,
                slot,
                expiry,
                data,
            )
            return True

        return await self._write(op)

    async def link(self, channel: bytes, slot: int, now_ms: int) -> bytes | None:
        row = await self._read_row(_SQL_LINK, channel, slot)
        return None if row is None or row[1] <= now_ms else bytes(row[0])

    # -- expiry ---------------------------------------------------------------------------------------

    async def sweep(self, now_ms: int) -> SweepResult:
        async def op(conn: Conn) -> SweepResult:
            n = _changed(await conn.execute("DELETE FROM envelopes WHERE expires_at_ms <= $1", now_ms))
            paths = [
                r[0] for r in await conn.fetch("DELETE FROM blobs WHERE expires_at_ms <= $1 RETURNING path", now_ms)
            ]
            documents = _changed(await conn.execute("DELETE FROM documents WHERE expires_at_ms <= $1", now_ms))
            links = _changed(await conn.execute("DELETE FROM link_messages WHERE expires_at_ms <= $1", now_ms))
            await conn.execute(
                "DELETE FROM removed_devices WHERE removed_at_ms <= $1", now_ms - 1000 * REMOVED_DEVICE_MEMORY_S
            )
            accounts = 0
            if self._account_ttl_ms is not None:
                cutoff = now_ms - self._account_ttl_ms
                for (address,) in await conn.fetch(_SQL_UNSEEN_ACCOUNTS, cutoff):
                    deleted = await self._delete_account(conn, address, cutoff)
                    if deleted is None:
                        continue  # seen meanwhile by another process
                    accounts += 1
                    n += deleted[0]
                    paths.extend(deleted[1])
            if documents or accounts:
                await conn.execute(_SQL_UNLISTED_ADDRESSES, _DEVICES_KIND)  # an expired list no longer decides
            if n or documents or accounts or links:
                self._request_scrub(*_CIPHERTEXT_TABLES)
            return SweepResult(n, tuple(paths), documents)

        return await self._write(op)

    async def _delete_account(self, conn: Conn, address: bytes, cutoff: int) -> tuple[int, list[str]] | None:
        """Delete an account unseen since ``cutoff`` and everything of its devices; return (envelopes deleted,
        blob file names), or None if a device of it was seen since (checked under the address's lock)."""
        await self._lock(conn, _LOCK_ADDRESS, address)
        seen = await conn.fetchval("SELECT max(last_seen_ms) FROM devices WHERE address = $1", address)
        if seen is None or seen > cutoff:
            return None
        devices = [r[0] for r in await conn.fetch("SELECT device_id FROM devices WHERE address = $1", address)]
        n = 0
        paths: list[str] = []
        for device_id in sorted(devices):
            await self._lock(conn, _LOCK_MAILBOX, device_id)
            n += await self._delete_device(conn, device_id)
            rows = await conn.fetch("DELETE FROM blobs WHERE device_id = $1 RETURNING path", device_id)
            paths += [r[0] for r in rows]
        await conn.execute("DELETE FROM documents WHERE address = $1", address)
        await conn.execute("DELETE FROM listed_devices WHERE address = $1", address)
        await conn.execute("DELETE FROM recovery_keys WHERE address = $1", address)
        await conn.execute("DELETE FROM devices WHERE address = $1", address)
        await conn.execute("DELETE FROM accounts WHERE address = $1", address)
        return n, paths

    # -- scrub ----------------------------------------------------------------------------------------

    async def _scrub_loop(self) -> None:
        """Vacuum the tables a commit deleted ciphertext from, at most once per ``scrub_interval_s``."""
        while True:
            await self._scrub_wake.wait()
            wait = self._last_scrub + self._scrub_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._scrub_wake.clear()
            try:
                await self._vacuum()
            except (Unavailable, *_RETRYABLE, asyncpg.PostgresError) as exc:
                _log.warning("vacuum after a deletion failed (%s); retried at the next one", type(exc).__name__)

    async def _vacuum(self) -> None:
        tables, self._dirty = sorted(self._dirty), set()
        self._last_scrub = time.monotonic()
        if not tables:
            return
        async with self._connection() as conn:  # autocommit: VACUUM cannot run inside a transaction block
            await conn.execute(f"VACUUM (INDEX_CLEANUP ON) {', '.join(tables)}")

    async def checkpoint(self) -> None:
        """Vacuum now what a deletion touched and, at most once per ``rewrite_interval_s``, rewrite the tables
        deleted from since the last rewrite (see the module's text); a table busy for longer than
        ``REWRITE_LOCK_TIMEOUT_MS``, or being rewritten by another process, waits for the next call.

        Raises:
            Unavailable: the store is closed or the database failed.
        """
        await self._vacuum()
        if self._rewrite_interval is None or not self._rewritable:
            return
        if time.monotonic() - self._last_rewrite < self._rewrite_interval:
            return
        self._last_rewrite = time.monotonic()
        async with self._connection() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_REWRITE):
                return
            try:
                await conn.execute(f"SET lock_timeout = {REWRITE_LOCK_TIMEOUT_MS:d}")
                tables, self._rewritable = sorted(self._rewritable), set()  # a deletion from now on: next time
                for table in tables:
                    size = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table)
                    if size > REWRITE_MAX_BYTES:
                        continue
                    try:
                        await conn.execute(f"VACUUM (FULL) {table}")
                    except asyncpg.exceptions.LockNotAvailableError:
                        self._rewritable.add(table)  # busy: the next call tries again
            finally:
                await conn.execute("RESET lock_timeout")
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_REWRITE)

    async def close(self) -> None:
        pool = self._pool_
        if pool is None:
            return
        if self._scrub_task is not None:
            self._scrub_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scrub_task
            self._scrub_task = None
        try:
            await self._vacuum()
        except (Unavailable, *_RETRYABLE, asyncpg.PostgresError) as exc:
            _log.error("relay database vacuum at close failed: %s", type(exc).__name__)
        self._pool_ = None
        await pool.close()
        await self._sequence.close()
