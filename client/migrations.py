"""Ordered migrations of the profile store (``store.db``), recorded in ``PRAGMA user_version``.

Each migration is a function registered with its version number; :func:`migrate` runs the missing ones in
order, each in its own transaction together with the version bump, so a crash leaves the store at one
version or the next, never between. A store newer than this code knows is refused (opening it with an old
version could lose data). Profiles from before this module have ``user_version`` 0 and the tables of
version 1, which :func:`_v1` creates only where missing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .errors import StorageError

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[tuple[int, Migration]] = []
"""``(version, function)`` in ascending order."""


def migration(version: int) -> Callable[[Migration], Migration]:
    """Register ``fn`` as the migration to ``version`` (versions must be registered in order)."""

    def register(fn: Migration) -> Migration:
        assert not MIGRATIONS or MIGRATIONS[-1][0] == version - 1, "migrations are registered in order"
        MIGRATIONS.append((version, fn))
        return fn

    return register


@migration(1)
def _v1(db: sqlite3.Connection) -> None:
    """The first schema: settings, contacts, sessions, messages, processed envelopes, prekeys, outbox."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS contacts (id TEXT PRIMARY KEY, addr_idx TEXT UNIQUE NOT NULL, pending_idx TEXT, "
        "data BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, data BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS sessions_contact ON sessions (contact_id)",
        "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, contact_id TEXT NOT NULL, "
        "expires_at_ms INTEGER, data BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS messages_thread ON messages (contact_id, seq)",
        "CREATE INDEX IF NOT EXISTS messages_expiry ON messages (expires_at_ms)",
        "CREATE TABLE IF NOT EXISTS seen_envelopes (idx TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS prekeys (kind TEXT NOT NULL, key_id INTEGER NOT NULL, created_at INTEGER NOT "
        "NULL, retired_at INTEGER, data BLOB NOT NULL, PRIMARY KEY (kind, key_id))",
        "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data BLOB NOT NULL)",
    ):
        db.execute(statement)


@migration(2)
def _v2(db: sqlite3.Connection) -> None:
    """Incoming messages not yet reported to the application (by ``sync()`` or ``events()``): a ``sync()``
    that fails after storing messages leaves them marked, and the next one reports them."""
    db.execute("ALTER TABLE messages ADD COLUMN unreported INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX messages_unreported ON messages (unreported) WHERE unreported = 1")


@migration(3)
def _v3(db: sqlite3.Connection) -> None:
    """Each queued envelope knows its thread and when it was queued, so the outbox can be shown."""
    db.execute("ALTER TABLE outbox ADD COLUMN contact_id TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN queued_at_ms INTEGER")


@migration(4)
def _v4(db: sqlite3.Connection) -> None:
    """Several sessions per peer device, and the replay guard for first messages (SPEC §4.1).

    ``archived_sessions``: earlier sessions with a peer device (``peer`` is the same blind index as the
    current session's row id in ``sessions``), at most ``MAX_ARCHIVED_SESSIONS`` each, newest ``seq`` first.
    ``accepted_base_keys``: a blind index of every base key accepted from a peer device, with the signed
    prekey its first message named; a trigger forgets them when that signed prekey is deleted (after its
    grace period a replay of such a first message fails anyway: the private key is gone)."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS archived_sessions (id TEXT PRIMARY KEY, peer TEXT NOT NULL, "
        "contact_id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS archived_sessions_peer ON archived_sessions (peer, seq)",
        "CREATE TABLE IF NOT EXISTS accepted_base_keys (idx TEXT PRIMARY KEY, signed_prekey_id INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS accepted_base_keys_spk ON accepted_base_keys (signed_prekey_id)",
        "CREATE TRIGGER IF NOT EXISTS accepted_base_keys_forget AFTER DELETE ON prekeys WHEN old.kind = 'signed' "
        "BEGIN DELETE FROM accepted_base_keys WHERE signed_prekey_id = old.key_id; END",
    ):
        db.execute(statement)


@migration(5)
def _v5(db: sqlite3.Connection) -> None:
    """Receipts owed (issue 10): a delivery receipt is recorded in the transaction that stores its message, a
    read receipt in the one that marks it read, and the row is removed in the one that queues the receipt in
    the outbox, so a client killed in between still sends it after the restart. ``id`` is a blind index of
    the kind and message id (a receipt is owed once), ``data`` the sealed kind and message id."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS receipts_owed (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
        "contact_id TEXT NOT NULL, data BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS receipts_owed_contact ON receipts_owed (contact_id)",
    ):
        db.execute(statement)


@migration(6)
def _v6(db: sqlite3.Connection) -> None:
    """The records folder (issue 11): copies of messages the user filed into a contact's record, kept apart from
    the thread so that timers, deletes for everyone and thread deletion do not touch them. ``id`` is a blind
    index of the message id (a message is filed once), ``owner`` a blind index of the contact's ADDRESS (not of
    the contact row: a record outlives the contact unless its removal asks otherwise), ``data`` the sealed
    copy (:class:`~confide.client.filing.FiledRecord`)."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS filed (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, owner TEXT NOT NULL, "
        "data BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS filed_owner ON filed (owner, seq)",
    ):
        db.execute(statement)


@migration(7)
def _v7(db: sqlite3.Connection) -> None:
    """Signed documents and franking data (issue 11): pinned practices with the newest directory, revocation
    list and policy seen (and the versions seen, so a relay can never serve an older one), contacts' credentials,
    availability cards and franking keys, this profile's own credential and card, the practice's own state, and
    for each reportable message the franked bytes. ``id`` is a blind index of ``(scope, key)``, ``scope`` says
    what the row is (a fixed word), ``owner`` the contact row it belongs to (deleted with the contact) or NULL,
    ``data`` the sealed value."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, scope TEXT NOT NULL, owner TEXT, seq INTEGER NOT NULL, "
        "data BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS docs_scope ON docs (scope, seq)",
        "CREATE INDEX IF NOT EXISTS docs_owner ON docs (owner) WHERE owner IS NOT NULL",
    ):
        db.execute(statement)


@migration(8)
def _v8(db: sqlite3.Connection) -> None:
    """An index on ``messages (seq)``: storing a message numbers it ``MAX(seq) + 1``, which without it read the
    whole table (22 ms a message at 200,000 messages, measured by bench/desk.py); with it, one index lookup."""
    db.execute("CREATE INDEX IF NOT EXISTS messages_seq ON messages (seq)")


LATEST_VERSION = MIGRATIONS[-1][0]
"""The schema version this code writes."""


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` (autocommit connection) to :data:`LATEST_VERSION`; returns the version found.

    Raises:
        StorageError: the store was written by a newer version of Confide.
    """
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > LATEST_VERSION:
        raise StorageError("this profile was written by a newer version of Confide; update Confide to open it")
    for version, fn in MIGRATIONS:
        if version <= found:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            fn(db)
            db.execute(f"PRAGMA user_version = {version:d}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return found
