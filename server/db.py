"""The embedded storage: SQLite (WAL, ``secure_delete``), one connection, one writer with group commit.

Every write goes through :class:`~confide.server.writer.GroupCommitWriter`; reads run on the same
connection between transactions (the event loop thread owns it). SQL strings are constants, so
:mod:`sqlite3`'s statement cache prepares each once. Two small caches avoid per-request queries on the
send path: each device's delivery-token hashes and each mailbox's size; both are changed only by the writer
and dropped if a transaction fails.

Mailbox numbers come from an injected :class:`~confide.server.sequence.MailboxSequence`, reserved before an
operation is queued and under a lock, so they increase in commit order. The caches assume this process is the
only writer of the file (the embedded relay); several relay processes need a shared database backend.

Durability: ``journal_mode=WAL`` with ``synchronous=NORMAL`` (default) keeps every committed transaction
across a crash of the relay process; a power failure may lose the last transactions. ``sync_full`` in the
config selects ``synchronous=FULL``. ``secure_delete=ON`` zeroes deleted content in the database file;
:meth:`SqliteStore.checkpoint` (``wal_checkpoint(TRUNCATE)``) removes it from the write-ahead log. Its slow
part, copying the log into the database and flushing both (``wal_checkpoint(PASSIVE)``), runs first in a
worker thread on a second connection that does nothing else, concurrently with the writer; the truncation
runs on that connection too, in a worker thread while the writer waits (see :mod:`~confide.server.writer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

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
from .migrations import migrate
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
from .writer import GroupCommitWriter

_log = logging.getLogger(__name__)

_SQL_INSERT_ENVELOPE = (
    "INSERT INTO envelopes (seq, envelope_id, device_id, received_at_ms, expires_at_ms, ciphertext) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_SQL_ENVELOPE_BY_ID = "SELECT device_id, expires_at_ms FROM envelopes WHERE envelope_id = ?"
_SQL_MAILBOX_COUNT = "SELECT count(*) FROM envelopes WHERE device_id = ?"
_SQL_FETCH = (
    "SELECT seq, envelope_id, received_at_ms, expires_at_ms, ciphertext FROM envelopes "
    "WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)
_SQL_ACK = "DELETE FROM envelopes WHERE device_id = ? AND envelope_id = ? RETURNING length(ciphertext)"
_SQL_TOKENS = "SELECT token_hash FROM delivery_tokens WHERE device_id = ?"
_SQL_DEVICE_EXISTS = "SELECT 1 FROM devices WHERE device_id = ?"
_SQL_HELD_ENVELOPES = "SELECT length(ciphertext), received_at_ms, expires_at_ms FROM envelopes ORDER BY seq"
_SQL_RECEIVED_IN = "SELECT 1 FROM envelopes WHERE received_at_ms >= ? AND received_at_ms < ? LIMIT 1"
_SQL_HELD_BLOBS = "SELECT size, expires_at_ms FROM blobs ORDER BY rowid"
_SQL_BYTES_HELD = (
    "SELECT (SELECT coalesce(sum(length(ciphertext)), 0) FROM envelopes) + (SELECT coalesce(sum(size), 0) FROM blobs)"
    " + (SELECT coalesce(sum(length(data)), 0) FROM documents)"
    " + (SELECT coalesce(sum(length(data)), 0) FROM link_messages)"
)
_SQL_DOCUMENT = "SELECT version, expires_at_ms, data FROM documents WHERE address = ? AND kind = ?"
_SQL_INSERT_DOCUMENT = "INSERT INTO documents (address, kind, version, expires_at_ms, data) VALUES (?, ?, ?, ?, ?)"
_SQL_REPLACE_DOCUMENT = "UPDATE documents SET version = ?, expires_at_ms = ?, data = ? WHERE address = ? AND kind = ?"
_SQL_HELD_DOCUMENTS = "SELECT kind, length(data), expires_at_ms FROM documents ORDER BY rowid"
_SQL_EXPIRE_DOCUMENTS = "DELETE FROM documents WHERE expires_at_ms <= ? RETURNING length(data)"
_SQL_DELETE_DOCUMENTS = "DELETE FROM documents WHERE address = ? RETURNING length(data)"
_SQL_FLOOR = "SELECT last_proof_ts, replay_nonces FROM devices WHERE device_id = ?"
_SQL_NOTE_SEEN = (
    "UPDATE devices SET last_proof_ts = ?, replay_nonces = ?, last_seen_ms = max(last_seen_ms, ?) WHERE device_id = ?"
)
_SQL_EXPIRE_ENVELOPES = "DELETE FROM envelopes WHERE expires_at_ms <= ? RETURNING length(ciphertext)"
_SQL_DELETE_MAILBOX = "DELETE FROM envelopes WHERE device_id = ? RETURNING length(ciphertext)"
_SQL_DELIVERY_HASHES = (
    "SELECT DISTINCT t.token_hash FROM devices d JOIN devices o ON o.address = d.address "
    "JOIN delivery_tokens t ON t.device_id = o.device_id WHERE d.device_id = ?"
)
_SQL_REMOVED_AT = "SELECT removed_at_ms FROM removed_devices WHERE device_id = ?"
_SQL_TOMBSTONE = "INSERT OR REPLACE INTO removed_devices (device_id, address, removed_at_ms) VALUES (?, ?, ?)"
_SQL_HAS_LIST = "SELECT count(*), coalesce(sum(device_id = ?), 0) FROM listed_devices WHERE address = ?"
_SQL_FORGET_TOMBSTONES = "DELETE FROM removed_devices WHERE removed_at_ms <= ?"
_SQL_UNLISTED_ADDRESSES = (
    "DELETE FROM listed_devices WHERE address NOT IN (SELECT address FROM documents WHERE kind = ?)"
)
_SQL_LINK_EXPIRY = "SELECT min(expires_at_ms) FROM link_messages WHERE channel = ?"
_SQL_LINK_DROP_CHANNEL = "DELETE FROM link_messages WHERE channel = ? RETURNING length(data)"
_SQL_LIVE_CHANNELS = "SELECT count(DISTINCT channel) FROM link_messages WHERE expires_at_ms > ?"
_SQL_LINK = "SELECT data, expires_at_ms FROM link_messages WHERE channel = ? AND slot = ?"
_SQL_INSERT_LINK = "INSERT INTO link_messages (channel, slot, expires_at_ms, data) VALUES (?, ?, ?, ?)"
_SQL_EXPIRE_LINKS = "DELETE FROM link_messages WHERE expires_at_ms <= ? RETURNING length(data)"
_SQL_UNSEEN_ACCOUNTS = "SELECT address FROM devices GROUP BY address HAVING max(last_seen_ms) <= ?"

_VERSION_LEN = 8
"""A document's version is a u64 (SPEC section 12), stored as 8 big-endian bytes: SQLite's integers are signed."""

_DEVICES_KIND = int(DocumentKind.DEVICES)

_DEVICE_TABLES = ("one_time_prekeys", "kem_one_time_prekeys", "signed_prekeys", "kem_last_resort", "delivery_tokens")
"""Every table holding a device's keys or tokens by ``device_id`` (deleted with the device)."""

APPROVE_FIRST = "approve this device from one of your devices first (confide devices approve)"
"""Why a device its account's list does not name (or a second device of an address without a list) is refused."""

_STALE_DOCUMENT = (
    "the relay holds a newer version of this document, or this version with other bytes; publish a higher version"
)

BUSY_TIMEOUT_MS = 5000
"""How long a statement waits for another connection's lock (a read-only holdings view) before failing."""


DATA_DIR_MODE = 0o700
"""The data directory: only the relay's own user may list or enter it."""

DATA_FILE_MODE = 0o600
"""The database and its -wal/-shm files (SQLite gives these its database file's mode): only the relay's user."""


def _private_files(db: Path) -> None:
    """Create the data directory (0700) and the database file (0600) before SQLite opens it, and tighten both
    (and any -wal/-shm left by an earlier run) when they exist already, whatever the process's umask."""
    db.parent.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
    db.parent.chmod(DATA_DIR_MODE)
    os.close(os.open(db, os.O_WRONLY | os.O_CREAT, DATA_FILE_MODE))
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            path.chmod(DATA_FILE_MODE)


class SqliteStore:
    """:class:`~confide.server.storage.RelayStore` on one SQLite file. Create with :meth:`open`.

    ``sequence`` numbers the mailboxes (the store starts and closes it). ``account_ttl_s`` (None: never)
    is how long an account may go unseen before :meth:`sweep` deletes it with all its data. ``read_only``
    opens an existing database for reading alone, beside a relay that may be running: every write raises
    :class:`~confide.server.errors.Unavailable`, and no sequence is needed.

    Raises:
        ValueError: a writable store without a ``sequence``.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        sequence: MailboxSequence | None = None,
        sync_full: bool = False,
        read_only: bool = False,
        account_ttl_s: int | None = None,
    ) -> None:
        if sequence is None and not read_only:
            raise ValueError("a writable SqliteStore needs a mailbox sequence")
        self._path = str(path)
        self._sequence = sequence
        self._sync_full = sync_full
        self._read_only = read_only
        self._conn_: sqlite3.Connection | None = None
        self._writer_: GroupCommitWriter | None = None
        self._fold_conn: sqlite3.Connection | None = None
        self._fold_lock = threading.Lock()
        self._tokens: dict[bytes, tuple[bytes, ...]] = {}
        self._unions: dict[bytes, tuple[bytes, ...]] = {}
        self._counts: dict[bytes, int] = {}
        self._held: int | None = None
        self._account_ttl_ms = None if account_ttl_s is None else 1000 * account_ttl_s
        self._numbering = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        sequence: MailboxSequence | None = None,
        sync_full: bool = False,
        read_only: bool = False,
    ) -> SqliteStore:
        """Construct and :meth:`start` a store (arguments as for the constructor)."""
        store = cls(path, sequence=sequence, sync_full=sync_full, read_only=read_only)
        await store.start()
        return store

    async def start(self) -> None:
        """Open (creating and migrating) the database, start its sequence above the highest stored number, and
        start its writer. Read-only: open the existing file for reading.

        Raises:
            FileNotFoundError: read-only, and there is no database at the path.
            sqlite3.Error: the file is not a usable database.
        """
        if self._read_only:
            self._conn_ = self._connect_read_only()
            return
        if self._path != ":memory:":
            _private_files(Path(self._path))
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, cached_statements=64)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self._sync_full else 'NORMAL'}")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}")
        migrate(conn)
        assert self._sequence is not None
        await self._sequence.start(int(conn.execute("SELECT coalesce(max(seq), 0) FROM envelopes").fetchone()[0]))
        self._conn_ = conn
        if self._path == ":memory:":  # no write-ahead log to scrub
            self._writer_ = GroupCommitWriter(conn, self._drop_caches)
        else:
            # Used only inside _fold_log and _scrub, in one worker thread at a time (the lock); never waits.
            self._fold_conn = sqlite3.connect(self._path, timeout=0, isolation_level=None, check_same_thread=False)
            self._fold_conn.execute(f"PRAGMA synchronous={'FULL' if self._sync_full else 'NORMAL'}")
            self._writer_ = GroupCommitWriter(conn, self._drop_caches, self._scrub, fold=self._fold_log)
        self._writer_.start()

    def _connect_read_only(self) -> sqlite3.Connection:
        path = Path(self._path)
        if not path.is_file():
            raise FileNotFoundError(f"no relay database at {path}")
        conn = sqlite3.connect(
            path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._conn_ is None:
            raise Unavailable("the relay database is not open")
        return self._conn_

    @property
    def _writer(self) -> GroupCommitWriter:
        if self._writer_ is None:
            if self._read_only:
                raise Unavailable("this view of the relay database is read-only")
            raise Unavailable("the relay database is not open")
        return self._writer_

    def _drop_caches(self) -> None:
        self._tokens.clear()
        self._unions.clear()
        self._counts.clear()
        self._held = None

    def _add_held(self, delta: int) -> None:
        if self._held is not None:
            self._held += delta

    async def bytes_held(self) -> int:
        if self._held is None:
            self._held = int(self._conn.execute(_SQL_BYTES_HELD).fetchone()[0])
        return self._held

    # -- accounts -------------------------------------------------------------------------------------

    async def register(self, reg: Registration) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT address FROM devices WHERE device_id = ?", (reg.device_id,)).fetchone()
            if row is not None and row[0] != reg.address:
                raise Conflict("this device key is registered to another identity; create a new device key")
            created = row is None
            if conn.execute(_SQL_REMOVED_AT, (reg.device_id,)).fetchone() is not None:
                raise DeviceRemoved()
            listed, named = conn.execute(_SQL_HAS_LIST, (reg.device_id, reg.address)).fetchone()
            if listed and not named:
                raise Forbidden(APPROVE_FIRST)
            if created:
                n = conn.execute("SELECT count(*) FROM devices WHERE address = ?", (reg.address,)).fetchone()[0]
                if n >= MAX_DEVICES_PER_ACCOUNT:
                    raise BadRequest(f"an account may have at most {MAX_DEVICES_PER_ACCOUNT} devices")
                if n and not listed:
                    raise Forbidden(APPROVE_FIRST)
            conn.execute(
                "INSERT INTO accounts (address, identity) VALUES (?, ?) ON CONFLICT (address) DO NOTHING",
                (reg.address, reg.identity),
            )
            conn.execute(
                "INSERT INTO devices (device_id, address, device_cert) VALUES (?, ?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET device_cert = excluded.device_cert",
                (reg.device_id, reg.address, reg.device_cert),
            )
            self._note_seen(conn, reg.device_id, reg.proof_stamp, reg.proof_nonce, reg.seen_at_ms)
            for table in ("one_time_prekeys", "kem_one_time_prekeys", "delivery_tokens"):
                conn.execute(f"DELETE FROM {table} WHERE device_id = ?", (reg.device_id,))  # noqa: S608
            self._put_keys(
                conn,
                reg.device_id,
                PrekeyUpdate(reg.signed_prekey, reg.kem_last_resort, reg.one_time, reg.kem_one_time),
            )
            self._set_tokens(conn, reg.device_id, reg.token_hashes)
            return created

        return await self._writer.submit(op)

    async def device(self, device_id: bytes) -> DeviceRecord | None:
        row = self._conn.execute(
            "SELECT d.address, a.identity, d.device_cert, d.last_proof_ts, d.replay_nonces FROM devices d "
            "JOIN accounts a USING (address) WHERE d.device_id = ?",
            (device_id,),
        ).fetchone()
        return None if row is None else DeviceRecord(device_id, row[0], row[1], row[2], row[3], bytes(row[4]))

    async def device_count(self, address: bytes) -> int:
        row = self._conn.execute("SELECT count(*) FROM devices WHERE address = ?", (address,)).fetchone()
        return int(row[0])

    async def note_seen(self, device_id: bytes, stamp: int, nonce: bytes, now_ms: int) -> None:
        await self._writer.submit(lambda conn: self._note_seen(conn, device_id, stamp, nonce, now_ms))

    @staticmethod
    def _note_seen(conn: sqlite3.Connection, device_id: bytes, stamp: int, nonce: bytes, now_ms: int) -> None:
        row = conn.execute(_SQL_FLOOR, (device_id,)).fetchone()
        if row is None or stamp < row[0]:
            return
        nonces = bytes(row[1]) + nonce if stamp == row[0] else nonce
        conn.execute(_SQL_NOTE_SEEN, (stamp, nonces, now_ms, device_id))

    async def token_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        cached = self._tokens.get(device_id)
        if cached is not None:
            return cached
        if self._conn.execute(_SQL_DEVICE_EXISTS, (device_id,)).fetchone() is None:
            return None
        hashes = tuple(r[0] for r in self._conn.execute(_SQL_TOKENS, (device_id,)))
        self._tokens[device_id] = hashes
        return hashes

    async def delivery_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        cached = self._unions.get(device_id)
        if cached is not None:
            return cached
        if self._conn.execute(_SQL_DEVICE_EXISTS, (device_id,)).fetchone() is None:
            return None
        hashes = tuple(r[0] for r in self._conn.execute(_SQL_DELIVERY_HASHES, (device_id,)))
        self._unions[device_id] = hashes
        return hashes

    async def removed_at(self, device_id: bytes) -> int | None:
        row = self._conn.execute(_SQL_REMOVED_AT, (device_id,)).fetchone()
        return None if row is None else int(row[0])

    async def replace_tokens(self, device_id: bytes, hashes: tuple[bytes, ...]) -> int:
        def op(conn: sqlite3.Connection) -> int:
            conn.execute("DELETE FROM delivery_tokens WHERE device_id = ?", (device_id,))
            return self._set_tokens(conn, device_id, hashes)

        return await self._writer.submit(op)

    def _set_tokens(self, conn: sqlite3.Connection, device_id: bytes, hashes: tuple[bytes, ...]) -> int:
        unique = tuple(dict.fromkeys(hashes))
        if len(unique) > MAX_TOKEN_HASHES:
            raise BadRequest(f"a device may register at most {MAX_TOKEN_HASHES} delivery tokens")
        conn.executemany(
            "INSERT INTO delivery_tokens (device_id, token_hash) VALUES (?, ?)", [(device_id, h) for h in unique]
        )
        self._tokens.pop(device_id, None)
        self._unions.clear()  # every device of the address shares the union
        return len(unique)

    # -- prekeys --------------------------------------------------------------------------------------

    def _counts_of(self, conn: sqlite3.Connection, device_id: bytes) -> PrekeyCounts:
        otk = conn.execute("SELECT count(*) FROM one_time_prekeys WHERE device_id = ?", (device_id,)).fetchone()
        kem = conn.execute("SELECT count(*) FROM kem_one_time_prekeys WHERE device_id = ?", (device_id,)).fetchone()
        spk = conn.execute("SELECT key_id FROM signed_prekeys WHERE device_id = ?", (device_id,)).fetchone()
        klr = conn.execute("SELECT key_id FROM kem_last_resort WHERE device_id = ?", (device_id,)).fetchone()
        return PrekeyCounts(otk[0], kem[0], spk[0] if spk else 0, klr[0] if klr else 0)

    async def prekey_counts(self, device_id: bytes) -> PrekeyCounts:
        return self._counts_of(self._conn, device_id)

    def _put_keys(self, conn: sqlite3.Connection, device_id: bytes, update: PrekeyUpdate) -> None:
        for table, key in (("signed_prekeys", update.signed_prekey), ("kem_last_resort", update.kem_last_resort)):
            if key is not None:
                conn.execute(
                    f"INSERT OR REPLACE INTO {table} (device_id, key_id, record) VALUES (?, ?, ?)",  # noqa: S608
                    (device_id, key.key_id, key.record),
                )
        for table, keys, cap in (
            ("one_time_prekeys", update.one_time, MAX_ONE_TIME_STOCK),
            ("kem_one_time_prekeys", update.kem_one_time, MAX_KEM_ONE_TIME_STOCK),
        ):
            if not keys:
                continue
            conn.executemany(
                f"INSERT OR REPLACE INTO {table} (device_id, key_id, record) VALUES (?, ?, ?)",  # noqa: S608
                [(device_id, k.key_id, k.record) for k in keys],
            )
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE device_id = ?", (device_id,)).fetchone()[0]  # noqa: S608
            if n > cap:
                raise BadRequest(f"the relay keeps at most {cap} keys of this kind per device; upload fewer")

    async def put_prekeys(self, device_id: bytes, update: PrekeyUpdate) -> PrekeyCounts:
        def op(conn: sqlite3.Connection) -> PrekeyCounts:
            self._put_keys(conn, device_id, update)
            return self._counts_of(conn, device_id)

        return await self._writer.submit(op)

    async def take_bundles(self, address: bytes, *, consume: int) -> list[BundleParts] | None:
        def op(conn: sqlite3.Connection) -> list[BundleParts] | None:
            acct = conn.execute("SELECT identity FROM accounts WHERE address = ?", (address,)).fetchone()
            if acct is None:
                return None
            out = []
            rows = conn.execute(
                "SELECT d.device_id, d.device_cert, s.record, k.record FROM devices d "
                "JOIN signed_prekeys s USING (device_id) JOIN kem_last_resort k USING (device_id) "
                "WHERE d.address = ? AND (NOT EXISTS (SELECT 1 FROM listed_devices l WHERE l.address = d.address) "
                "OR d.device_id IN (SELECT l.device_id FROM listed_devices l WHERE l.address = d.address)) "
                "ORDER BY d.device_id",
                (address,),
            ).fetchall()
            for i, (device_id, cert, spk, kem_lr) in enumerate(rows):
                otk = kem = None
                if i < consume:
                    otk = self._take_one(conn, "one_time_prekeys", device_id)
                    kem = self._take_one(conn, "kem_one_time_prekeys", device_id)
                out.append(BundleParts(device_id, acct[0], cert, spk, otk, kem if kem is not None else kem_lr))
            return out

        return await self._writer.submit(op)

    @staticmethod
    def _take_one(conn: sqlite3.Connection, table: str, device_id: bytes) -> bytes | None:
        row = conn.execute(
            f"DELETE FROM {table} WHERE rowid = (SELECT rowid FROM {table} WHERE device_id = ? "  # noqa: S608
            "ORDER BY key_id LIMIT 1) RETURNING record",
            (device_id,),
        ).fetchone()
        return None if row is None else bytes(row[0])

    # -- mailboxes ------------------------------------------------------------------------------------

    def _mailbox_size(self, conn: sqlite3.Connection, device_id: bytes) -> int:
        n = self._counts.get(device_id)
        if n is None:
            n = int(conn.execute(_SQL_MAILBOX_COUNT, (device_id,)).fetchone()[0])
            self._counts[device_id] = n
        return n

    async def store_envelopes(self, items: list[NewEnvelope], quota: int) -> list[SendResult]:
        writer = self._writer
        assert self._sequence is not None
        # Numbers are reserved and the operation queued under one lock, so queue order (= commit order) is
        # number order even when the sequence has to wait for its answer.
        async with self._numbering:
            numbers = iter(await self._sequence.reserve(len(items)))
            done = writer.enqueue(lambda conn: self._store(conn, items, quota, numbers))
        return await done

    def _store(
        self, conn: sqlite3.Connection, items: list[NewEnvelope], quota: int, numbers: Iterator[int]
    ) -> list[SendResult]:
        results = []
        added: dict[bytes, int] = {}
        removed: dict[bytes, bool] = {}
        for env in items:
            if env.device_id not in removed:  # removed by a list committed after the handler checked its token
                removed[env.device_id] = conn.execute(_SQL_REMOVED_AT, (env.device_id,)).fetchone() is not None
            if removed[env.device_id]:
                results.append(SendResult(env.envelope_id, "device_removed"))
                continue
            size = self._mailbox_size(conn, env.device_id) + added.get(env.device_id, 0)
            existing = conn.execute(_SQL_ENVELOPE_BY_ID, (env.envelope_id,)).fetchone()
            if existing is not None:
                if existing[0] != env.device_id:
                    results.append(SendResult(env.envelope_id, "conflict"))
                else:
                    results.append(SendResult(env.envelope_id, "duplicate", existing[1]))
                continue
            if size >= quota:
                results.append(SendResult(env.envelope_id, "mailbox_full"))
                continue
            seq = next(numbers)
            conn.execute(
                _SQL_INSERT_ENVELOPE,
                (seq, env.envelope_id, env.device_id, env.received_at_ms, env.expires_at_ms, env.ciphertext),
            )
            added[env.device_id] = added.get(env.device_id, 0) + 1
            self._add_held(len(env.ciphertext))
            stored = StoredEnvelope(seq, env.envelope_id, env.received_at_ms, env.expires_at_ms, env.ciphertext)
            results.append(SendResult(env.envelope_id, "stored", env.expires_at_ms, stored))
        for device_id, n in added.items():
            self._counts[device_id] = self._counts.get(device_id, 0) + n
        return results

    async def fetch(self, device_id: bytes, after_seq: int, limit: int) -> list[StoredEnvelope]:
        return [
            StoredEnvelope(r[0], r[1], r[2], r[3], r[4])
            for r in self._conn.execute(_SQL_FETCH, (device_id, after_seq, limit))
        ]

    async def ack(self, device_id: bytes, envelope_ids: list[bytes]) -> int:
        def op(conn: sqlite3.Connection) -> int:
            deleted = 0
            for envelope_id in dict.fromkeys(envelope_ids):
                row = conn.execute(_SQL_ACK, (device_id, envelope_id)).fetchone()
                if row is not None:
                    deleted += 1
                    self._add_held(-int(row[0]))
            if deleted:
                self._writer.request_scrub()
            if device_id in self._counts:
                self._counts[device_id] -= deleted
            return deleted

        return await self._writer.submit(op)

    # -- blobs ----------------------------------------------------------------------------------------

    async def add_blob(self, blob: BlobRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO blobs (blob_id, device_id, size, expires_at_ms, path) VALUES (?, ?, ?, ?, ?)",
                (blob.blob_id, blob.device_id, blob.size, blob.expires_at_ms, blob.path),
            )
            self._add_held(blob.size)

        await self._writer.submit(op)

    async def blob(self, blob_id: str) -> BlobRecord | None:
        row = self._conn.execute(
            "SELECT device_id, size, expires_at_ms, path FROM blobs WHERE blob_id = ?", (blob_id,)
        ).fetchone()
        return None if row is None else BlobRecord(blob_id, row[0], row[1], row[2], row[3])

    async def blob_bytes(self, device_id: bytes) -> int:
        row = self._conn.execute("SELECT coalesce(sum(size), 0) FROM blobs WHERE device_id = ?", (device_id,))
        return int(row.fetchone()[0])

    async def delete_blob(self, blob_id: str) -> BlobRecord | None:
        def op(conn: sqlite3.Connection) -> BlobRecord | None:
            row = conn.execute(
                "DELETE FROM blobs WHERE blob_id = ? RETURNING device_id, size, expires_at_ms, path", (blob_id,)
            ).fetchone()
            if row is not None:
                self._add_held(-int(row[1]))
            return None if row is None else BlobRecord(blob_id, row[0], row[1], row[2], row[3])

        return await self._writer.submit(op)

    async def blob_names(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT path FROM blobs")}

    async def received_epochs(self, epoch_ms: int, epochs: list[int]) -> set[int]:
        conn = self._conn
        return {e for e in epochs if conn.execute(_SQL_RECEIVED_IN, (e * epoch_ms, (e + 1) * epoch_ms)).fetchone()}

    async def holdings(self) -> Holdings:
        conn = self._conn
        return Holdings(
            tuple(HeldEnvelope(r[0], r[1], r[2]) for r in conn.execute(_SQL_HELD_ENVELOPES)),
            tuple(HeldBlob(r[0], r[1]) for r in conn.execute(_SQL_HELD_BLOBS)),
            tuple(HeldDocument(r[0], r[1], r[2]) for r in conn.execute(_SQL_HELD_DOCUMENTS)),
        )

    # -- documents ------------------------------------------------------------------------------------

    async def put_document(self, document: StoredDocument) -> bool:
        return await self._writer.submit(lambda conn: self._put_document(conn, document))

    def _put_document(self, conn: sqlite3.Connection, document: StoredDocument) -> bool:
        version = document.version.to_bytes(_VERSION_LEN, "big")
        row = conn.execute(_SQL_DOCUMENT, (document.address, document.kind)).fetchone()
        if row is None:
            conn.execute(
                _SQL_INSERT_DOCUMENT,
                (document.address, document.kind, version, document.expires_at_ms, document.data),
            )
            self._add_held(len(document.data))
            return True
        held = int.from_bytes(row[0], "big")
        if held == document.version and hmac.compare_digest(bytes(row[2]), document.data):
            return False
        if held >= document.version:
            raise Conflict(_STALE_DOCUMENT)
        conn.execute(
            _SQL_REPLACE_DOCUMENT,
            (version, document.expires_at_ms, document.data, document.address, document.kind),
        )
        self._add_held(len(document.data) - len(row[2]))
        self._writer.request_scrub()  # the replaced bytes leave the WAL too
        return True

    async def put_device_list(
        self, document: StoredDocument, listed: tuple[bytes, ...], now_ms: int
    ) -> DeviceListUpdate:
        def op(conn: sqlite3.Connection) -> DeviceListUpdate:
            if not self._put_document(conn, document):
                return DeviceListUpdate(stored=False)
            address = document.address
            conn.execute("DELETE FROM listed_devices WHERE address = ?", (address,))
            conn.executemany(
                "INSERT INTO listed_devices (address, device_id) VALUES (?, ?)", [(address, d) for d in listed]
            )
            conn.executemany("DELETE FROM removed_devices WHERE device_id = ?", [(d,) for d in listed])
            wanted = set(listed)
            registered = [r[0] for r in conn.execute("SELECT device_id FROM devices WHERE address = ?", (address,))]
            removed = tuple(d for d in registered if d not in wanted)
            for device_id in removed:
                self._add_held(-self._delete_device(conn, device_id))
                conn.execute("DELETE FROM devices WHERE device_id = ?", (device_id,))
                conn.execute(_SQL_TOMBSTONE, (device_id, address, now_ms))
                self._tokens.pop(device_id, None)
                self._counts.pop(device_id, None)
            if removed:
                self._unions.clear()
                self._writer.request_scrub()  # the removed mailboxes leave the WAL too
            return DeviceListUpdate(stored=True, removed=removed)

        return await self._writer.submit(op)

    async def recovery_key(self, address: bytes) -> bytes | None:
        row = self._conn.execute("SELECT key FROM recovery_keys WHERE address = ?", (address,)).fetchone()
        return None if row is None else bytes(row[0])

    async def set_recovery_key(self, address: bytes, key: bytes, now_ms: int) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO recovery_keys (address, key, set_at_ms) VALUES (?, ?, ?)",
                (address, key, now_ms),
            )

        await self._writer.submit(op)

    @staticmethod
    def _delete_device(conn: sqlite3.Connection, device_id: bytes) -> int:
        """Delete a device's mailbox, keys and tokens (not its row, not its blobs); return the ciphertext bytes
        deleted."""
        freed = sum(r[0] for r in conn.execute(_SQL_DELETE_MAILBOX, (device_id,)).fetchall())
        for table in _DEVICE_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE device_id = ?", (device_id,))  # noqa: S608
        return int(freed)

    # -- device links ---------------------------------------------------------------------------------

    async def put_link(self, channel: bytes, slot: int, data: bytes, now_ms: int) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            expiry = conn.execute(_SQL_LINK_EXPIRY, (channel,)).fetchone()[0]
            if expiry is not None and expiry <= now_ms:  # dead, not yet swept: gone now
                self._add_held(-sum(r[0] for r in conn.execute(_SQL_LINK_DROP_CHANNEL, (channel,)).fetchall()))
                self._writer.request_scrub()
                expiry = None
            if expiry is None:
                if conn.execute(_SQL_LIVE_CHANNELS, (now_ms,)).fetchone()[0] >= MAX_LINK_CHANNELS:
                    raise InsufficientStorage("too many devices are being linked on this relay; retry in a few minutes")
                expiry = now_ms + 1000 * LINK_CHANNEL_TTL_S
            held = conn.execute(_SQL_LINK, (channel, slot)).fetchone()
            if held is not None:
                if hmac.compare_digest(bytes(held[0]), data):
                    return False
                raise Conflict("this link slot holds another message already; start the link again with a new code")
            conn.execute(_SQL_INSERT_LINK, (channel, slot, expiry, data))
            self._add_held(len(data))
            return True

        return await self._writer.submit(op)

    async def link(self, channel: bytes, slot: int, now_ms: int) -> bytes | None:
        row = self._conn.execute(_SQL_LINK, (channel, slot)).fetchone()
        return None if row is None or row[1] <= now_ms else bytes(row[0])

    async def document(self, address: bytes, kind: int) -> StoredDocument | None:
        row = self._conn.execute(_SQL_DOCUMENT, (address, kind)).fetchone()
        if row is None:
            return None
        return StoredDocument(address, kind, int.from_bytes(row[0], "big"), row[1], bytes(row[2]))

    # -- expiry ---------------------------------------------------------------------------------------

    async def sweep(self, now_ms: int) -> SweepResult:
        def op(conn: sqlite3.Connection) -> SweepResult:
            sizes = [r[0] for r in conn.execute(_SQL_EXPIRE_ENVELOPES, (now_ms,)).fetchall()]
            blobs = conn.execute(
                "DELETE FROM blobs WHERE expires_at_ms <= ? RETURNING path, size", (now_ms,)
            ).fetchall()
            documents = [r[0] for r in conn.execute(_SQL_EXPIRE_DOCUMENTS, (now_ms,)).fetchall()]
            links = [r[0] for r in conn.execute(_SQL_EXPIRE_LINKS, (now_ms,)).fetchall()]
            conn.execute(_SQL_FORGET_TOMBSTONES, (now_ms - 1000 * REMOVED_DEVICE_MEMORY_S,))
            n = len(sizes)
            freed = sum(sizes) + sum(size for _, size in blobs) + sum(documents) + sum(links)
            paths = [path for path, _ in blobs]
            accounts = 0
            if self._account_ttl_ms is not None:
                cutoff = now_ms - self._account_ttl_ms
                for (address,) in conn.execute(_SQL_UNSEEN_ACCOUNTS, (cutoff,)).fetchall():
                    n_acct, acct_paths, acct_freed = self._delete_account(conn, address)
                    accounts += 1
                    n += n_acct
                    paths.extend(acct_paths)
                    freed += acct_freed
                    self._tokens.clear()
                    self._unions.clear()
            if documents or accounts:
                conn.execute(_SQL_UNLISTED_ADDRESSES, (_DEVICES_KIND,))  # an expired list no longer decides
            if n:
                self._counts.clear()
            if n or documents or accounts or links:
                self._writer.request_scrub()  # the expired bytes leave the WAL even if no checkpoint follows
            self._add_held(-freed)
            return SweepResult(n, tuple(paths), len(documents))

        return await self._writer.submit(op)

    @staticmethod
    def _delete_account(conn: sqlite3.Connection, address: bytes) -> tuple[int, list[str], int]:
        """Delete an account and everything of its devices; return (envelopes deleted, blob file names, bytes)."""
        devices = [r[0] for r in conn.execute("SELECT device_id FROM devices WHERE address = ?", (address,))]
        n = freed = 0
        paths: list[str] = []
        for device_id in devices:
            sizes = [r[0] for r in conn.execute(_SQL_DELETE_MAILBOX, (device_id,)).fetchall()]
            blobs = conn.execute("DELETE FROM blobs WHERE device_id = ? RETURNING path, size", (device_id,)).fetchall()
            n += len(sizes)
            freed += sum(sizes) + sum(size for _, size in blobs)
            paths += [path for path, _ in blobs]
            for table in _DEVICE_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE device_id = ?", (device_id,))  # noqa: S608
        freed += sum(r[0] for r in conn.execute(_SQL_DELETE_DOCUMENTS, (address,)).fetchall())
        conn.execute("DELETE FROM listed_devices WHERE address = ?", (address,))
        conn.execute("DELETE FROM recovery_keys WHERE address = ?", (address,))
        conn.execute("DELETE FROM devices WHERE address = ?", (address,))
        conn.execute("DELETE FROM accounts WHERE address = ?", (address,))
        return n, paths, freed

    async def checkpoint(self) -> None:
        writer = self._writer_
        if writer is not None and writer.running:
            await writer.scrub_now()
            return
        # The writer has stopped (closing): no transaction is open or will begin.
        if self._fold_conn is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._fold_log)
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def _fold_log(self) -> None:
        """Copy the write-ahead log into the database and flush both, without blocking the writer or waiting
        for readers (``PASSIVE``): the slow part of a checkpoint. Runs in a worker thread."""
        with self._fold_lock:
            if self._fold_conn is not None:
                self._fold_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def _scrub(self) -> bool:
        """The writer's scrub after ciphertext was deleted: fold what is left of the WAL into the database file
        (where ``secure_delete`` has zeroed the deleted rows) and truncate the WAL to nothing. Runs in a worker
        thread while the writer has no transaction open; never waits on a reader (``timeout=0``): False if one
        kept it from finishing (the writer retries)."""
        with self._fold_lock:
            if self._fold_conn is None:
                return True
            return int(self._fold_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]) == 0

    async def close(self) -> None:
        conn, writer = self._conn_, self._writer_
        if conn is None:
            return
        if writer is not None:
            await writer.stop()
            try:
                await self.checkpoint()
            except sqlite3.Error as exc:  # e.g. a full disk: the WAL stays, and the next open folds it in
                _log.error("relay database checkpoint at close failed: %s", type(exc).__name__)
        if self._fold_conn is not None:
            with self._fold_lock:
                self._fold_conn.close()
                self._fold_conn = None
        conn.close()
        self._conn_ = None
        self._writer_ = None
        if self._sequence is not None and not self._read_only:
            await self._sequence.close()
