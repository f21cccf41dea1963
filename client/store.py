"""The profile's local SQLite store (``store.db``), with everything sensitive sealed.

SQLite runs in WAL mode with ``secure_delete=ON`` so deleted rows are overwritten, not just unlinked from
the b-tree. Every sensitive value (message bodies, contact names and identities, delivery tokens, thread
timers, session state, private prekeys, queued envelopes, receipts owed, filed record copies, settings) is sealed by
:class:`Sealer` with its row id as associated data; lookups go through blind indexes. What stays visible to
someone holding only ``store.db``: how many rows each table has, their sizes, which messages (and receipts
owed) belong to the same (randomly named) thread, and when messages are due to expire (needed to delete them
on time).

All methods are synchronous and short; callers group writes that must land together in
:meth:`Store.transaction`, e.g. an incoming message, the new session state and the "seen" mark.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from confide.keys.encoding import RNG
from confide.protocol.content import MESSAGE_ID_LEN, ReceiptKind

from .errors import ProfileWipedError, StorageError, UnknownMessage
from .migrations import migrate
from .records import ContactRecord, MessageRecord
from .sealing import Sealer
from .shred import overwrite_in_place

_log = logging.getLogger(__name__)

SEEN_ENVELOPE_RETENTION_MS = 45 * 24 * 3600 * 1000
"""Remember processed envelope ids for 45 days: longer than the relay's 30-day maximum lifetime, so a
redelivered envelope is always recognised, while the table cannot grow without bound."""

BUSY_TIMEOUT_S = 5.0
"""How long a write waits for another process's transaction on the same profile (``sync --wait`` in one
terminal, ``send`` in another) before giving up with :class:`StorageError`. Every transaction is a few
milliseconds of local work (no network inside), so 5 s is ample headroom even on a slow disk."""

CHECKPOINT_WAIT_MS = 1000
"""How long a checkpoint after a deletion waits for other connections (another process reading this
profile) to finish their reads before giving up: long enough for any of our own short reads, short enough
that a delete never hangs. What it could not finish, the next :meth:`Store.scrub` or the next open does."""

PREKEY_SIGNED = "signed"
PREKEY_ONE_TIME = "one_time"
PREKEY_KEM = "kem"


WAL_SALT = slice(16, 24)
"""Where a WAL file's header keeps its two salts: a writer that restarts the log writes new ones."""


def truncate_wal(db: sqlite3.Connection, wal: Path) -> bool:
    """Move the whole WAL into the database file, overwrite the WAL's old frames IN PLACE, then truncate it;
    True when all of that happened, False when another connection's read or write kept it from finishing
    within :data:`CHECKPOINT_WAIT_MS` (nothing was lost; the next call, close or open finishes it).

    Why overwrite before truncating: truncation frees the WAL's disk blocks without erasing them, so every
    page image the WAL ever held (sealed rows that were later deleted, or sealed under a store key that a
    passphrase change replaced) would stay readable in free space. Overwriting first is safe: after a
    ``RESTART`` checkpoint every frame is in the database file and no reader uses the WAL; holding the write
    lock (``BEGIN IMMEDIATE``) no writer can start a new log meanwhile, and one that did so just before is
    seen by its new salts, and then nothing is overwritten.

    Raises:
        sqlite3.Error: anything but "busy" (a damaged or unwritable file).
    """
    old_wait = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
    db.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS:d}")
    try:
        if int(db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]):
            return False
        salts = _wal_salts(wal)
        if salts is not None:
            db.execute("BEGIN IMMEDIATE")
            try:
                if _wal_salts(wal) != salts:
                    return False  # another writer started a new log: its frames are live
                overwrite_in_place(wal)
            finally:
                db.execute("ROLLBACK")
        return int(db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]) == 0
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    finally:
        db.execute(f"PRAGMA busy_timeout = {old_wait:d}")


def _wal_salts(wal: Path) -> bytes | None:
    """The salts in the header of ``wal``, or None when it is missing or empty (nothing to overwrite)."""
    try:
        with wal.open("rb") as fh:
            head = fh.read(WAL_SALT.stop)
    except FileNotFoundError:
        return None
    return head[WAL_SALT] if head else None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A queued envelope: queue id, opened item bytes, its thread (None in rows from before v3), when queued."""

    oid: str
    data: bytes = field(repr=False)
    contact_id: str | None
    queued_at_ms: int | None


@dataclass(frozen=True, slots=True)
class OwedReceipt:
    """A receipt owed to a contact for one message: its row id, the thread (contact id), the receipt kind and
    the message it confirms (identifiers: never shown by ``repr``)."""

    rid: str = field(repr=False)
    contact_id: str = field(repr=False)
    kind: ReceiptKind
    message_id: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.message_id) != MESSAGE_ID_LEN:
            raise ValueError("a message id is 16 bytes")

    def to_bytes(self) -> bytes:
        """What is sealed in the row: the kind byte, then the message id."""
        return bytes((self.kind,)) + self.message_id

    @classmethod
    def from_bytes(cls, rid: str, contact_id: str, plain: bytes) -> OwedReceipt:
        """Parse an opened row.

        Raises:
            StorageError: not one known kind byte and a message id.
        """
        if len(plain) != _OWED_LEN or plain[0] not in _RECEIPT_KINDS:
            raise StorageError("a stored receipt owed is damaged; restore the profile")
        return cls(rid, contact_id, ReceiptKind(plain[0]), bytes(plain[1:]))


_OWED_LEN = 1 + MESSAGE_ID_LEN
"""A sealed receipt owed opens to one kind byte and a message id."""
_RECEIPT_KINDS = frozenset(int(k) for k in ReceiptKind)


def _storage_error(exc: sqlite3.Error, failed: str, consequence: str) -> StorageError:
    """The :class:`StorageError` for ``exc``: a full disk says so and what to do (nothing is damaged; free some
    space), rather than suggesting the store is broken."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StorageError(
            f"{failed}: the disk holding the profile is full; {consequence}. Free some space, then try again"
        )
    return StorageError(f"{failed} ({exc}); {consequence}")


KEPT_OWED_META = "filed.kept-owed"
"""The ``meta`` row listing the KEPT notices owed (answers to deletes for everyone of filed messages, SPEC §8)."""

MESSAGE_DOC_SCOPE = "franked"
"""The ``docs`` scope keyed by a message id (what makes a message reportable): deleted with its message."""


def pack_doc(key: bytes, data: bytes) -> bytes:
    """What a ``docs`` row seals: ``len(key) u16 || key || value``."""
    return len(key).to_bytes(2, "big") + key + data


def unpack_doc(plain: bytes) -> tuple[bytes, bytes]:
    """``(key, value)`` of an opened ``docs`` row.

    Raises:
        StorageError: the row is damaged (shorter than its key length says).
    """
    n = int.from_bytes(plain[:2], "big")
    if len(plain) < 2 + n:
        raise StorageError("a stored document row is damaged; restore the profile")
    return plain[2 : 2 + n], plain[2 + n :]


ROW_ID_BYTES = 16
"""Random bytes of a contact or outbox row id: 128 bits never collide and say nothing about the row."""


_FINGERPRINT = "substr(data, -16)"
"""SQL for a sealed value's authentication tag (its last 16 bytes, :mod:`.sealing`): every write of a row seals it
under a fresh random nonce, so its tag is new too (a collision is a 2^-128 event); it stands for the row's version
without opening it."""

_MESSAGE_ROWS = f"SELECT rowid, id, contact_id, expires_at_ms, data, seq, {_FINGERPRINT} FROM messages"  # noqa: S608
"""What :meth:`Store.messages_at` and :meth:`Store.messages_after` read of a message row."""

TOUCHED_ROWS_LIMIT = 10_000
"""The most written message rows remembered for a reader (:meth:`Store.take_message_changes`): a process that
stores messages for days without asking (``confide sync --wait``) keeps no growing list; past it the reader
compares every thread's rows instead, which costs the same as reading this many rows again."""

_ROWS_PER_QUERY = 500
"""Row ids per ``IN (...)`` query: below SQLite's smallest limit on bound parameters (999 before 3.32)."""


class Store:
    """The sealed SQLite store of one profile. ``repr`` shows only the file name."""

    def __init__(self, path: Path, store_key: bytes, rng: RNG) -> None:
        self.path = path
        self._wal = Path(str(path) + "-wal")
        self._sealer = Sealer(store_key, rng)
        self._rng = rng
        self._conn: sqlite3.Connection | None = None
        self._wiped = False
        try:
            self._conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute("PRAGMA synchronous=FULL")
            # First, before anything reads: a WAL left by a crash (or by a checkpoint another reader blocked)
            # may still hold rows deleted before it; move it into the file, where secure_delete zeroed them.
            truncate_wal(self._db, self._wal)
            migrate(self._db)
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                raise _storage_error(exc, "the local store cannot be opened", "nothing was changed") from exc
            raise StorageError(f"the local store cannot be opened ({exc}); restore the profile") from exc
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.chmod(str(path) + suffix, 0o600)
        self._depth = 0
        self._scrub_due = False
        self._touched: tuple[set[str], set[str]] | None = None
        """Message rows and whole threads this connection wrote since :meth:`take_message_changes` (None: nobody
        asked yet, or more than :data:`TOUCHED_ROWS_LIMIT` rows)."""
        self._tracking = False
        self._check_key()

    @property
    def _db(self) -> sqlite3.Connection:
        """The open connection.

        Raises:
            ProfileWipedError: the profile was wiped while this store was open.
            StorageError: the store was closed.
        """
        if self._conn is None:
            if self._wiped:
                raise ProfileWipedError("this profile was wiped; nothing can be read or written any more")
            raise StorageError("the local store is closed; open the profile again")
        return self._conn

    def _check_key(self) -> None:
        """Refuse a store sealed under another key (e.g. a keystore swapped from another profile)."""
        marker = self.get_meta("store-check")
        if marker is None:
            self.set_meta("store-check", b"confide-store-v1")
        elif marker != b"confide-store-v1":
            raise StorageError("the local store does not belong to this key store")

    def close(self) -> None:
        """Checkpoint the WAL into the database, overwrite and truncate it (:func:`truncate_wal`), and close."""
        if self._conn is None:
            return
        with contextlib.suppress(sqlite3.Error):
            truncate_wal(self._conn, self._wal)
        self._conn.close()
        self._conn = None

    def abandon(self) -> None:
        """Close without a checkpoint: the profile's files are being destroyed (a panic wipe), so nothing more
        is written into them."""
        self._wiped = True
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def scrub(self) -> bool:
        """Checkpoint the WAL into the database file and truncate it, so a deleted row (zeroed in its page by
        ``secure_delete``) survives in no file; returns False when another connection's read kept it from
        finishing within :data:`CHECKPOINT_WAIT_MS` (the next scrub, close or open finishes it).

        Raises:
            StorageError: SQLite failed otherwise (a damaged or unwritable file).
        """
        try:
            done = truncate_wal(self._db, self._wal)
        except sqlite3.Error as exc:
            raise StorageError(f"the local store could not be checkpointed ({exc})") from exc
        if done:
            self._scrub_due = False
        return done

    def _scrub_after_delete(self) -> None:
        """After a transaction that deleted a message committed: scrub, or leave it to the next open."""
        if self._scrub_due and self._depth == 0 and not self.scrub():
            _log.info("checkpoint after a deletion postponed: another connection is reading")

    def checkpoint(self) -> None:
        """Move the WAL into the database file (so deleted rows leave the WAL too, overwritten).

        Raises:
            StorageError: SQLite could not checkpoint (e.g. the database is locked by another process).
        """
        if not self.scrub():
            raise StorageError("the local store could not be checkpointed (another process is using it)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically (``BEGIN IMMEDIATE``); nests by joining the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StorageError(f"the local store is busy or unwritable ({exc}); try again") from exc
        self._depth = 1
        try:
            yield
        except BaseException as exc:
            self._depth = 0
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _storage_error(exc, "the local store could not be written", "nothing was changed") from exc
            raise
        self._depth = 0
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise _storage_error(exc, "the local store could not be written", "nothing was changed") from exc
        self._scrub_after_delete()

    def _new_id(self) -> str:
        return self._rng(ROW_ID_BYTES).hex()

    # -- settings -------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else self._sealer.open("meta", "v", key, row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, self._sealer.seal("meta", "v", key, value))
        )

    def delete_meta(self, key: str) -> None:
        self._db.execute("DELETE FROM meta WHERE k = ?", (key,))

    def get_meta_int(self, key: str, default: int = 0) -> int:
        raw = self.get_meta(key)
        return default if raw is None else int(raw.decode())

    def set_meta_int(self, key: str, value: int) -> None:
        self.set_meta(key, str(value).encode())

    # -- contacts -------------------------------------------------------------------------------------
    def address_index(self, address: bytes) -> str:
        return self._sealer.index("contact-address", address)

    def new_contact_id(self) -> str:
        return self._new_id()

    def save_contact(self, rec: ContactRecord, *, tokens: bool = False) -> None:
        """Insert or update a contact (its address and pending address become blind indexes).

        Only a save with ``tokens`` (blocking, unblocking, minting and registering delivery tokens) may change
        the contact's ``blocked``, ``inbound_token`` and ``inbound_live``; any other save keeps the stored ones.
        A caller's copy read before an ``await`` (a send, a session start) and saved after it can therefore never
        undo a block, or bring back a blocked token, made in between (by this process or another).
        """
        if not tokens:
            stored = self.contact(rec.contact_id)
            if stored is not None:
                rec.blocked, rec.inbound_token, rec.inbound_live = (
                    stored.blocked,
                    stored.inbound_token,
                    stored.inbound_live,
                )
                rec.token_generation = stored.token_generation  # goes with the token it derived
        pending = None if rec.pending_address is None else self.address_index(rec.pending_address)
        data = self._sealer.seal("contacts", "data", rec.contact_id, rec.to_json())
        try:
            self._db.execute(
                "INSERT INTO contacts (id, addr_idx, pending_idx, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET addr_idx = excluded.addr_idx, "
                "pending_idx = excluded.pending_idx, data = excluded.data",
                (rec.contact_id, self.address_index(rec.address), pending, data),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError("another contact already has this address") from exc

    def _contact_from_row(self, row: tuple[str, bytes]) -> ContactRecord:
        return ContactRecord.from_json(row[0], self._sealer.open("contacts", "data", row[0], row[1]))

    def contact(self, contact_id: str) -> ContactRecord | None:
        row = self._db.execute("SELECT id, data FROM contacts WHERE id = ?", (contact_id,)).fetchone()
        return None if row is None else self._contact_from_row(row)

    def contact_by_address(self, address: bytes) -> ContactRecord | None:
        """The contact whose pinned (or pending, after an identity change) address is ``address``."""
        idx = self.address_index(address)
        row = self._db.execute(
            "SELECT id, data FROM contacts WHERE addr_idx = ? OR pending_idx = ? ORDER BY addr_idx = ? DESC LIMIT 1",
            (idx, idx, idx),
        ).fetchone()
        return None if row is None else self._contact_from_row(row)

    def contacts(self) -> list[ContactRecord]:
        rows = self._db.execute("SELECT id, data FROM contacts").fetchall()
        return sorted((self._contact_from_row(r) for r in rows), key=lambda c: c.name.lower())

    # -- sessions -------------------------------------------------------------------------------------
    def _session_id(self, identity_signing: bytes, device_id: bytes) -> str:
        return self._sealer.index("session", identity_signing + device_id)

    def get_session(self, identity_signing: bytes, device_id: bytes) -> bytes | None:
        sid = self._session_id(identity_signing, device_id)
        row = self._db.execute("SELECT data FROM sessions WHERE id = ?", (sid,)).fetchone()
        return None if row is None else self._sealer.open("sessions", "data", sid, row[0])

    def put_session(self, contact_id: str, identity_signing: bytes, device_id: bytes, data: bytes) -> None:
        sid = self._session_id(identity_signing, device_id)
        self._db.execute(
            "INSERT OR REPLACE INTO sessions (id, contact_id, data) VALUES (?, ?, ?)",
            (sid, contact_id, self._sealer.seal("sessions", "data", sid, data)),
        )

    def delete_device_sessions(self, identity_signing: bytes, device_id: bytes) -> None:
        """Delete the current and archived sessions with one peer device (dropped from its identity's device
        list); their bytes leave every file once the transaction commits."""
        sid = self._session_id(identity_signing, device_id)
        self._db.execute("DELETE FROM sessions WHERE id = ?", (sid,))
        self._db.execute("DELETE FROM archived_sessions WHERE peer = ?", (sid,))
        self._scrub_due = True
        self._scrub_after_delete()

    def sessions_of(self, contact_id: str) -> list[bytes]:
        rows = self._db.execute("SELECT id, data FROM sessions WHERE contact_id = ?", (contact_id,)).fetchall()
        return [self._sealer.open("sessions", "data", r[0], r[1]) for r in rows]

    # -- archived sessions and the replay guard (SPEC §4.1) --------------------------------------------
    def _archived_id(self, identity_signing: bytes, device_id: bytes, base_key: bytes) -> str:
        return self._sealer.index("archived-session", identity_signing + device_id + base_key)

    def archived_sessions(self, identity_signing: bytes, device_id: bytes) -> list[bytes]:
        """The archived sessions with a peer device, most recently archived first."""
        rows = self._db.execute(
            "SELECT id, data FROM archived_sessions WHERE peer = ? ORDER BY seq DESC",
            (self._session_id(identity_signing, device_id),),
        ).fetchall()
        return [self._sealer.open("archived_sessions", "data", r[0], r[1]) for r in rows]

    def put_archived_session(
        self, contact_id: str, identity_signing: bytes, device_id: bytes, base_key: bytes, data: bytes, *, keep: int
    ) -> None:
        """Archive (or update in place) the session with ``base_key``; keep the ``keep`` most recent ones."""
        aid = self._archived_id(identity_signing, device_id, base_key)
        peer = self._session_id(identity_signing, device_id)
        sealed = self._sealer.seal("archived_sessions", "data", aid, data)
        cur = self._db.execute("UPDATE archived_sessions SET data = ? WHERE id = ?", (sealed, aid))
        if cur.rowcount == 0:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM archived_sessions").fetchone()[0]
            self._db.execute(
                "INSERT INTO archived_sessions (id, peer, contact_id, seq, data) VALUES (?, ?, ?, ?, ?)",
                (aid, peer, contact_id, seq, sealed),
            )
        self._db.execute(
            "DELETE FROM archived_sessions WHERE peer = ? AND id NOT IN "
            "(SELECT id FROM archived_sessions WHERE peer = ? ORDER BY seq DESC LIMIT ?)",
            (peer, peer, keep),
        )

    def delete_archived_session(self, identity_signing: bytes, device_id: bytes, base_key: bytes) -> None:
        self._db.execute(
            "DELETE FROM archived_sessions WHERE id = ?", (self._archived_id(identity_signing, device_id, base_key),)
        )

    def _base_key_index(self, identity_signing: bytes, device_id: bytes, base_key: bytes) -> str:
        return self._sealer.index("accepted-base-key", identity_signing + device_id + base_key)

    def base_key_accepted(self, identity_signing: bytes, device_id: bytes, base_key: bytes) -> bool:
        """Whether a first message with this base key was already accepted from this peer device."""
        idx = self._base_key_index(identity_signing, device_id, base_key)
        return self._db.execute("SELECT 1 FROM accepted_base_keys WHERE idx = ?", (idx,)).fetchone() is not None

    def accept_base_key(
        self, identity_signing: bytes, device_id: bytes, base_key: bytes, signed_prekey_id: int
    ) -> None:
        """Remember an accepted base key until the signed prekey ``signed_prekey_id`` is deleted."""
        self._db.execute(
            "INSERT OR IGNORE INTO accepted_base_keys (idx, signed_prekey_id) VALUES (?, ?)",
            (self._base_key_index(identity_signing, device_id, base_key), signed_prekey_id),
        )

    # -- messages -------------------------------------------------------------------------------------
    def _message_row_id(self, message_id: bytes) -> str:
        return self._sealer.index("message", message_id)

    def find_message(self, message_id: str) -> MessageRecord:
        """The message with hex id ``message_id``.

        Raises:
            UnknownMessage: no such message (mistyped, expired or deleted).
        """
        try:
            raw = bytes.fromhex(message_id)
        except ValueError:
            raw = b""
        msg = self.message(raw) if len(raw) == MESSAGE_ID_LEN else None
        if msg is not None and msg.expires_at_ms is not None and msg.expires_at_ms <= int(time.time() * 1000):
            msg = None  # expired: gone for every reader, even before the sweep deletes the row
        if msg is None:
            raise UnknownMessage("no message with that id (it may have expired or been deleted)")
        return msg

    def has_message(self, message_id: bytes) -> bool:
        row = self._db.execute("SELECT 1 FROM messages WHERE id = ?", (self._message_row_id(message_id),))
        return row.fetchone() is not None

    def save_message(self, rec: MessageRecord) -> None:
        """Insert a message, or update it in place (keeping its position in the thread)."""
        rid = self._message_row_id(rec.message_id)
        self._touch(rid)
        data = self._sealer.seal("messages", "data", rid, rec.to_json())
        cur = self._db.execute(
            "UPDATE messages SET expires_at_ms = ?, data = ? WHERE id = ?", (rec.expires_at_ms, data, rid)
        )
        if cur.rowcount == 0:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM messages").fetchone()[0]
            self._db.execute(
                "INSERT INTO messages (id, seq, contact_id, expires_at_ms, data) VALUES (?, ?, ?, ?, ?)",
                (rid, seq, rec.contact_id, rec.expires_at_ms, data),
            )

    def _message_from_row(self, row: tuple[str, str, int | None, bytes]) -> MessageRecord:
        return MessageRecord.from_json(row[1], row[2], self._sealer.open("messages", "data", row[0], row[3]))

    def message(self, message_id: bytes) -> MessageRecord | None:
        row = self._db.execute(
            "SELECT id, contact_id, expires_at_ms, data FROM messages WHERE id = ?", (self._message_row_id(message_id),)
        ).fetchone()
        return None if row is None else self._message_from_row(row)

    def thread(self, contact_id: str) -> list[MessageRecord]:
        rows = self._db.execute(
            "SELECT id, contact_id, expires_at_ms, data FROM messages WHERE contact_id = ? ORDER BY seq", (contact_id,)
        ).fetchall()
        return [self._message_from_row(r) for r in rows]

    # -- change tracking for in-memory views (client/threads.py) -------------------------------------
    def change_stamp(self) -> tuple[int, int]:
        """A value that differs from an earlier one whenever a write was committed since: by another connection
        (another process on this profile: ``PRAGMA data_version``) or by this one (its total row changes). Read
        inside a transaction, it differs from every stamp read outside one, since what the transaction wrote may
        still be rolled back.

        Raises:
            ProfileWipedError, StorageError: the store is closed.
        """
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        changes = self._db.total_changes
        return version, -changes - 1 if self._db.in_transaction else changes

    def take_message_changes(self) -> tuple[set[str], set[str]] | None:
        """``(row ids, thread ids)``: the message rows this connection wrote (saved, moved or deleted) and the threads
        it deleted whole since the last call, committed or not (a reader opens them again to see which); None when
        that is not known (the first call, or more than :data:`TOUCHED_ROWS_LIMIT` rows were written): compare
        them all. Writes by other connections are never in it: :meth:`change_stamp` tells of those."""
        taken = self._touched if self._tracking else None
        self._tracking, self._touched = True, (set(), set())
        return taken

    def _touch(self, row_id: str) -> None:
        if self._touched is not None:
            self._touched[0].add(row_id)
            if len(self._touched[0]) > TOUCHED_ROWS_LIMIT:
                self._touched = None  # a reader compares every thread instead

    def thread_fingerprints(self) -> dict[str, str]:
        """Each thread's messages summed up without opening any: the hex fingerprints (:meth:`message_fingerprints`)
        of its rows in thread order, joined. Equal to an earlier value: no row of the thread was written, added,
        moved or deleted since (one pass over the table in SQLite, not a row per message in Python)."""
        rows = self._db.execute(  # the thread index gives the order, and no temporary b-tree (no temporary file)
            f"SELECT contact_id, group_concat(hex({_FINGERPRINT}), '') "  # noqa: S608 - fixed SQL
            "FROM messages INDEXED BY messages_thread GROUP BY contact_id"
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def message_fingerprints(self, contact_id: str) -> list[tuple[str, bytes]]:
        """``(row id, fingerprint)`` of every message row of the thread ``contact_id``, without opening any: the
        fingerprint is the sealed value's authentication tag, which changes whenever the row is written again (every
        save seals it afresh), so comparing them tells what changed since a row was read."""
        rows = self._db.execute(
            f"SELECT id, {_FINGERPRINT} FROM messages WHERE contact_id = ?",  # noqa: S608 - fixed SQL
            (contact_id,),
        ).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def messages_at(self, row_ids: Collection[str]) -> list[tuple[str, int, bytes, MessageRecord]]:
        """``(row id, seq, fingerprint, message)`` of the message rows ``row_ids`` still present, opened; the
        fingerprint is read with the row (see :meth:`message_fingerprints`).

        Raises:
            StorageError: a row does not open under the store key or is not a message.
        """
        ids = list(row_ids)
        rows = []
        for i in range(0, len(ids), _ROWS_PER_QUERY):
            chunk = ids[i : i + _ROWS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(f"{_MESSAGE_ROWS} WHERE id IN ({marks})", chunk).fetchall()
        return [r[1:] for r in self._opened(rows)]

    def messages_after(self, position: int, limit: int) -> list[tuple[int, str, int, bytes, MessageRecord]]:
        """A page of message rows in storage order: ``(position, row id, seq, fingerprint, message)`` of at most
        ``limit`` rows after ``position`` (0: from the first), opened; the next page starts after the last
        position. For reading every message a page at a time (a row written meanwhile may be in a later page).

        Raises:
            StorageError: a row does not open under the store key or is not a message.
        """
        query = f"{_MESSAGE_ROWS} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        return self._opened(self._db.execute(query, (position, limit)).fetchall())

    def thread_newest_first(self, contact_id: str, batch: int) -> Iterator[tuple[int, str, int, bytes, MessageRecord]]:
        """The thread's message rows from the newest back, opened ``batch`` at a time as the caller goes on
        (``(position, row id, seq, fingerprint, message)``): for reading only a thread's most recent rows.

        Raises:
            StorageError: a row does not open under the store key or is not a message.
        """
        query = f"{_MESSAGE_ROWS} INDEXED BY messages_thread WHERE contact_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        before = 2**63 - 1
        while True:
            page = self._opened(self._db.execute(query, (contact_id, before, batch)).fetchall())
            yield from page
            if len(page) < batch:
                return
            before = page[-1][2]

    def _opened(
        self, rows: list[tuple[int, str, str, int | None, bytes, int, bytes]]
    ) -> list[tuple[int, str, int, bytes, MessageRecord]]:
        return [(r[0], r[1], int(r[5]), bytes(r[6]), self._message_from_row((r[1], r[2], r[3], r[4]))) for r in rows]

    def move_message(self, message_id: bytes, contact_id: str) -> None:
        """Put a message in another thread (its sealed data is bound to its row id, not to the thread)."""
        rid = self._message_row_id(message_id)
        self._touch(rid)
        self._db.execute("UPDATE messages SET contact_id = ? WHERE id = ?", (contact_id, rid))

    def mark_unreported(self, message_id: bytes) -> None:
        """Flag a stored incoming message as not yet reported to the application."""
        self._db.execute("UPDATE messages SET unreported = 1 WHERE id = ?", (self._message_row_id(message_id),))

    def unreported_messages(self) -> list[MessageRecord]:
        """Incoming messages stored but not yet reported, in thread order."""
        rows = self._db.execute(
            "SELECT id, contact_id, expires_at_ms, data FROM messages WHERE unreported = 1 ORDER BY seq"
        ).fetchall()
        return [self._message_from_row(r) for r in rows]

    def clear_unreported(self, message_ids: list[bytes]) -> None:
        """The application has been told of these messages."""
        self._db.executemany(
            "UPDATE messages SET unreported = 0 WHERE id = ? AND unreported = 1",
            [(self._message_row_id(m),) for m in message_ids],
        )

    def delete_message(self, message_id: bytes) -> None:
        """Delete a message row, and any receipt still owed for it; once the transaction commits (or at once,
        outside one) the WAL is checkpointed and truncated (:meth:`scrub`), so its sealed bytes leave every
        file."""
        rid = self._message_row_id(message_id)
        self._touch(rid)
        self._db.execute("DELETE FROM messages WHERE id = ?", (rid,))
        self._db.executemany(
            "DELETE FROM receipts_owed WHERE id = ?", [(self._owed_row_id(k, message_id),) for k in ReceiptKind]
        )
        self._db.execute("DELETE FROM docs WHERE id = ?", (self._doc_row_id(MESSAGE_DOC_SCOPE, message_id),))
        self._scrub_due = True
        self._scrub_after_delete()

    def delete_contact(self, contact_id: str) -> None:
        """Delete a contact with everything of theirs: messages, current and archived sessions, queued
        envelopes, receipts owed, and every ``docs`` row it owns (its credential, card, franking key, reportable
        messages). The WAL is scrubbed like after any deletion (:meth:`delete_message`)."""
        if self._touched is not None:
            self._touched[1].add(contact_id)
        for table in ("messages", "sessions", "archived_sessions", "outbox", "receipts_owed"):
            self._db.execute(f"DELETE FROM {table} WHERE contact_id = ?", (contact_id,))  # noqa: S608 - fixed names
        self._db.execute("DELETE FROM docs WHERE owner = ?", (contact_id,))
        self._db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
        self._scrub_due = True
        self._scrub_after_delete()

    def expired_messages(self, now_ms: int) -> list[MessageRecord]:
        rows = self._db.execute(
            "SELECT id, contact_id, expires_at_ms, data FROM messages "
            "WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?",
            (now_ms,),
        ).fetchall()
        return [self._message_from_row(r) for r in rows]

    # -- processed envelopes --------------------------------------------------------------------------
    def envelope_seen(self, envelope_id: bytes) -> bool:
        idx = self._sealer.index("envelope", envelope_id)
        return self._db.execute("SELECT 1 FROM seen_envelopes WHERE idx = ?", (idx,)).fetchone() is not None

    def mark_envelope_seen(self, envelope_id: bytes, now_ms: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO seen_envelopes (idx, at_ms) VALUES (?, ?)",
            (self._sealer.index("envelope", envelope_id), now_ms),
        )

    def prune_seen_envelopes(self, now_ms: int) -> None:
        self._db.execute("DELETE FROM seen_envelopes WHERE at_ms < ?", (now_ms - SEEN_ENVELOPE_RETENTION_MS,))

    # -- private prekeys ------------------------------------------------------------------------------
    def put_prekey(self, kind: str, key_id: int, created_at: int, data: bytes) -> None:
        rid = f"{kind}:{key_id}"
        self._db.execute(
            "INSERT OR REPLACE INTO prekeys (kind, key_id, created_at, retired_at, data) VALUES (?, ?, ?, NULL, ?)",
            (kind, key_id, created_at, self._sealer.seal("prekeys", "data", rid, data)),
        )

    def get_prekey(self, kind: str, key_id: int) -> bytes | None:
        row = self._db.execute("SELECT data FROM prekeys WHERE kind = ? AND key_id = ?", (kind, key_id)).fetchone()
        return None if row is None else self._sealer.open("prekeys", "data", f"{kind}:{key_id}", row[0])

    def delete_prekey(self, kind: str, key_id: int) -> None:
        """Delete a private prekey an incoming first message used; once the outermost transaction commits the WAL
        is scrubbed (:meth:`scrub`), so the used key leaves every file (forward secrecy of that first message)."""
        self._db.execute("DELETE FROM prekeys WHERE kind = ? AND key_id = ?", (kind, key_id))
        self._scrub_due = True
        self._scrub_after_delete()

    def live_prekey_ids(self, kind: str) -> list[int]:
        """Ids of the ``kind`` private prekeys not retired, lowest first."""
        rows = self._db.execute(
            "SELECT key_id FROM prekeys WHERE kind = ? AND retired_at IS NULL ORDER BY key_id", (kind,)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def purge_prekeys(self, kind: str, key_ids: list[int]) -> None:
        """Delete these private prekeys; once the outermost transaction commits the WAL is checkpointed and
        truncated (:meth:`scrub`), so their sealed bytes leave every file."""
        self._db.executemany("DELETE FROM prekeys WHERE kind = ? AND key_id = ?", [(kind, k) for k in key_ids])
        self._scrub_due = True
        self._scrub_after_delete()

    def retire_prekey(self, kind: str, key_id: int, now: int) -> None:
        self._db.execute(
            "UPDATE prekeys SET retired_at = ? WHERE kind = ? AND key_id = ? AND retired_at IS NULL",
            (now, kind, key_id),
        )

    def delete_retired_prekeys(self, kind: str, before: int) -> int:
        """Delete the ``kind`` prekeys retired before ``before`` (past their grace period); when any was, the WAL
        is scrubbed once the outermost transaction commits, as for :meth:`delete_prekey`."""
        cur = self._db.execute(
            "DELETE FROM prekeys WHERE kind = ? AND retired_at IS NOT NULL AND retired_at < ?", (kind, before)
        )
        if cur.rowcount:
            self._scrub_due = True
            self._scrub_after_delete()
        return cur.rowcount

    # -- outbox ---------------------------------------------------------------------------------------
    def add_outbox(self, data: bytes, contact_id: str, queued_at_ms: int) -> str:
        """Queue an item (message id + envelope bytes) of the thread ``contact_id``; returns the queue id."""
        oid = self._new_id()
        seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox").fetchone()[0]
        self._db.execute(
            "INSERT INTO outbox (id, seq, data, contact_id, queued_at_ms) VALUES (?, ?, ?, ?, ?)",
            (oid, seq, self._sealer.seal("outbox", "data", oid, data), contact_id, queued_at_ms),
        )
        return oid

    def outbox(self) -> list[OutboxEntry]:
        """Every queued item, oldest first."""
        rows = self._db.execute("SELECT id, data, contact_id, queued_at_ms FROM outbox ORDER BY seq").fetchall()
        return [OutboxEntry(r[0], self._sealer.open("outbox", "data", r[0], r[1]), r[2], r[3]) for r in rows]

    def delete_outbox(self, oid: str) -> None:
        self._db.execute("DELETE FROM outbox WHERE id = ?", (oid,))

    # -- receipts owed --------------------------------------------------------------------------------
    def _owed_row_id(self, kind: ReceiptKind, message_id: bytes) -> str:
        return self._sealer.index("receipt-owed", bytes((kind,)) + message_id)

    def owe_receipts(self, contact_id: str, kind: ReceiptKind, message_ids: Iterable[bytes]) -> None:
        """Record that a ``kind`` receipt for each of these messages is owed to the contact ``contact_id``
        (once: one already owed keeps its place). Call inside the transaction that makes it owed (the one
        storing the message, or marking it read), so that a crash can never leave one without the other."""
        for mid in message_ids:
            rid = self._owed_row_id(kind, mid)
            self._db.execute(
                "INSERT OR IGNORE INTO receipts_owed (id, seq, contact_id, data) "
                "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM receipts_owed",
                (
                    rid,
                    contact_id,
                    self._sealer.seal("receipts_owed", "data", rid, OwedReceipt(rid, contact_id, kind, mid).to_bytes()),
                ),
            )

    def has_receipts_owed(self) -> bool:
        """Whether any receipt is owed (one indexed read: cheap enough after every batch received)."""
        return self._db.execute("SELECT 1 FROM receipts_owed LIMIT 1").fetchone() is not None

    def receipts_owed(self, contact_id: str | None = None) -> list[OwedReceipt]:
        """Every receipt owed (to ``contact_id`` only, if given), oldest first.

        Raises:
            StorageError: a row does not open under the store key or is not a kind byte and a message id.
        """
        if contact_id is None:
            rows = self._db.execute("SELECT id, contact_id, data FROM receipts_owed ORDER BY seq")
        else:
            rows = self._db.execute(
                "SELECT id, contact_id, data FROM receipts_owed WHERE contact_id = ? ORDER BY seq", (contact_id,)
            )
        return [
            OwedReceipt.from_bytes(rid, owner, self._sealer.open("receipts_owed", "data", rid, sealed))
            for rid, owner, sealed in rows.fetchall()
        ]

    def forget_receipts_owed(self, row_ids: Iterable[str]) -> None:
        """These receipts are no longer owed (queued in the outbox, or not to be sent)."""
        self._db.executemany("DELETE FROM receipts_owed WHERE id = ?", [(rid,) for rid in row_ids])

    # -- the records folder (filed copies) ------------------------------------------------------------
    def _filed_row_id(self, message_id: bytes) -> str:
        return self._sealer.index("filed", message_id)

    def record_owner(self, address: bytes) -> str:
        """The blind index that files a record under a contact's address (it outlives the contact row)."""
        return self._sealer.index("record-owner", address)

    def save_filed(self, owner: str, message_id: bytes, data: bytes) -> None:
        """Insert or update the filed copy of ``message_id`` (sealed JSON ``data``) in the record of ``owner``."""
        rid = self._filed_row_id(message_id)
        sealed = self._sealer.seal("filed", "data", rid, data)
        if self._db.execute("UPDATE filed SET data = ? WHERE id = ?", (sealed, rid)).rowcount == 0:
            self._db.execute(
                "INSERT INTO filed (id, seq, owner, data) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM filed",
                (rid, owner, sealed),
            )

    def filed(self, message_id: bytes) -> tuple[str, bytes] | None:
        """``(owner, opened data)`` of the filed copy of ``message_id``, or None when it was never filed."""
        rid = self._filed_row_id(message_id)
        row = self._db.execute("SELECT owner, data FROM filed WHERE id = ?", (rid,)).fetchone()
        return None if row is None else (row[0], self._sealer.open("filed", "data", rid, row[1]))

    def filed_of(self, owner: str) -> list[bytes]:
        """The opened data of every filed copy in the record of ``owner``, in the order they were filed."""
        rows = self._db.execute("SELECT id, data FROM filed WHERE owner = ? ORDER BY seq", (owner,)).fetchall()
        return [self._sealer.open("filed", "data", rid, sealed) for rid, sealed in rows]

    def delete_filed_of(self, owner: str) -> None:
        """Delete the whole record of ``owner``; the WAL is scrubbed once the transaction commits, as after any
        deletion (:meth:`delete_message`)."""
        self._db.execute("DELETE FROM filed WHERE owner = ?", (owner,))
        self._scrub_due = True
        self._scrub_after_delete()

    def owe_kept(self, contact_id: str, message_id: bytes) -> None:
        """Record that a KEPT notice for ``message_id`` is owed to the contact ``contact_id`` (once). Call inside
        the transaction that applies their delete for everyone, so a crash cannot lose the answer."""
        owed = self.kept_owed()
        if (contact_id, message_id) not in owed:
            owed.append((contact_id, message_id))
            self.set_meta(KEPT_OWED_META, json.dumps([[c, m.hex()] for c, m in owed]).encode())

    def kept_owed(self) -> list[tuple[str, bytes]]:
        """Every KEPT notice owed, oldest first: ``(contact id, message id)``.

        Raises:
            StorageError: the stored list is damaged.
        """
        raw = self.get_meta(KEPT_OWED_META)
        if raw is None:
            return []
        try:
            return [(str(c), bytes.fromhex(m)) for c, m in json.loads(raw)]
        except (ValueError, TypeError) as exc:
            raise StorageError("the stored list of notices owed is damaged; restore the profile") from exc

    def forget_kept_owed(self) -> None:
        """No KEPT notice is owed any more (queued in the outbox, or not to be sent)."""
        self._db.execute("DELETE FROM meta WHERE k = ?", (KEPT_OWED_META,))

    # -- signed documents and franking data (scopes: see client/peer_documents.py) ----------------------
    def _doc_row_id(self, scope: str, key: bytes) -> str:
        return self._sealer.index("doc:" + scope, key)

    def put_doc(self, scope: str, key: bytes, data: bytes, *, owner: str | None = None) -> None:
        """Insert or replace the value of ``(scope, key)`` (sealed together with its key, so that a passphrase change
        can recompute the blind row id), owned by the contact row ``owner`` (deleted with it by
        :meth:`delete_contact`) or by nobody. A replaced value's old bytes are scrubbed from every file once the
        transaction commits, as after a deletion."""
        rid = self._doc_row_id(scope, key)
        sealed = self._sealer.seal("docs", "data", rid, pack_doc(key, data))
        if self._db.execute("UPDATE docs SET data = ?, owner = ? WHERE id = ?", (sealed, owner, rid)).rowcount == 0:
            self._db.execute(
                "INSERT INTO docs (id, scope, owner, seq, data) SELECT ?, ?, ?, COALESCE(MAX(seq), 0) + 1, ? FROM docs",
                (rid, scope, owner, sealed),
            )
        else:
            self._scrub_due = True
            self._scrub_after_delete()

    def get_doc(self, scope: str, key: bytes) -> bytes | None:
        """The opened value of ``(scope, key)``, or None.

        Raises:
            StorageError: the row is damaged.
        """
        rid = self._doc_row_id(scope, key)
        row = self._db.execute("SELECT data FROM docs WHERE id = ?", (rid,)).fetchone()
        return None if row is None else unpack_doc(self._sealer.open("docs", "data", rid, row[0]))[1]

    def docs(self, scope: str) -> list[tuple[bytes, bytes]]:
        """Every ``(key, value)`` of ``scope``, oldest first.

        Raises:
            StorageError: a row is damaged.
        """
        rows = self._db.execute("SELECT id, data FROM docs WHERE scope = ? ORDER BY seq", (scope,)).fetchall()
        return [unpack_doc(self._sealer.open("docs", "data", rid, sealed)) for rid, sealed in rows]

    def delete_doc(self, scope: str, key: bytes) -> None:
        """Delete ``(scope, key)`` if present; its bytes leave every file once the transaction commits."""
        self._db.execute("DELETE FROM docs WHERE id = ?", (self._doc_row_id(scope, key),))
        self._scrub_due = True
        self._scrub_after_delete()

    def __repr__(self) -> str:
        return f"Store({self.path.name})"
