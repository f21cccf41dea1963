"""Changing the passphrase RE-KEYS the profile: a new store key, the whole store re-sealed under it, and the old
key store overwritten in place before the new one replaces it.

Why: a passphrase is changed because someone else knew it. A key store sealed under the old passphrase (a
backup, a copy, the blocks it occupied on disk) must then open nothing: not the store as it is now, nor
anything written later. Re-sealing only the key store (same keys) would leave that old copy as good as ever.

**What is re-sealed.** :func:`rekey_store` builds a NEW database file holding every row of every table with every
sealed value opened under the old store key and sealed again under the new one (fresh nonces), and every blind
index computed again under the new key (the index keys derive from the store key too,
:mod:`confide.client.sealing`): contact addresses, session ids (parsed from the sessions themselves), archived
sessions, accepted base keys (recomputed from the base keys of the sessions kept; an entry whose session is gone is
dropped), message ids (from the message), filed record copies (from the copy's message id and contact address),
signed documents and franking data (from the scope and the key sealed in the row). The one index whose input the
store never keeps, processed envelope ids (``seen_envelopes``), cannot be recomputed and is dropped: after a
passphrase change a redelivered envelope is still caught by the message-id check and by the ratchet (its message
key is used up). A table this module does not know makes the change refuse (nothing is changed), so a new table
cannot silently keep old-key values. Because the new file is written from scratch, no page of it ever held an old
sealed value (no freed pages to scrub, no ``VACUUM`` needed); the old file, its WAL and shm are overwritten in
place and unlinked. **Attachments** need nothing: each file is encrypted under its own random key, which is held
only inside its (re-sealed) message row; the files hold no store-key material.

**Crash safety.** The steps, each flushed to disk before the next::

    1. store.db.new.part   the re-sealed store, then renamed to store.db.new
    2. keystore.new.part   the new keys under the new passphrase, then renamed to keystore.new
    3. keystore            OVERWRITTEN IN PLACE with random bytes      <- the commit point
    4. keystore.new  ->  keystore (rename)
    5. store.db, -wal, -shm overwritten in place and unlinked; store.db.new -> store.db

:func:`open_keys_recovering` (run by every open, under the profile lock) finishes or undoes an interrupted
change: ``*.part`` files are shredded; if ``keystore`` opens with the passphrase given, the change never
committed and ``keystore.new``/``store.db.new`` are shredded (the OLD passphrase works); if it does not and
``keystore.new`` does, steps 3–4 are completed (the NEW passphrase works); then a ``store.db.new`` that opens
under the key store's store key replaces ``store.db`` (step 5), and one that does not is shredded. So a crash
at any point leaves a profile that opens with the old or the new passphrase, never neither.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confide.keys.encoding import RNG
from confide.keys.errors import CorruptKeyStore, WrongPassphrase
from confide.keys.keystore import KdfParams, kdf_params_of, open_keys, seal_keys
from confide.keys.secret_keys import STORE_KEY_LEN, SecretKeys
from confide.protocol.errors import ProtocolError
from confide.protocol.session import Session

from .errors import StorageError
from .profile import (
    STORE_FILE,
    STORE_SIDE_FILES,
    ProfileLock,
    ProfilePaths,
    read_keystore_file,
    write_private,
)
from .records import ContactRecord, FiledRecord, MessageRecord
from .sealing import Sealer
from .shred import fsync_dir, overwrite_in_place, shred_file
from .store import truncate_wal, unpack_doc

PART = ".part"
"""Suffix of a file still being written: never trusted, shredded by the next open."""
NEW_KEYSTORE = "keystore.new"
NEW_STORE = STORE_FILE + ".new"
STORE_CHECK = ("store-check", b"confide-store-v1")
"""The ``meta`` row every store holds, sealed under its store key: which key a store file belongs to."""

Row = dict[str, Any]
Rule = Callable[[Row, Sealer, Sealer, "_Preimages"], Row | None]


class _Preimages:
    """What the blind indexes of membership tables can be recomputed from: (identity, device, base key) of
    every session kept, current or archived."""

    def __init__(self) -> None:
        self.session_keys: list[bytes] = []


def _session_of(old: Sealer, table: str, row: Row) -> tuple[bytes, Session]:
    plain = old.open(table, "data", row["id"], row["data"])
    try:
        return plain, Session.from_bytes(plain)
    except ProtocolError as exc:
        raise StorageError("a stored session is damaged; the passphrase was not changed") from exc


def _meta(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> Row:
    return {**row, "v": new.seal("meta", "v", row["k"], old.open("meta", "v", row["k"], row["v"]))}


def _contacts(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> Row:
    plain = old.open("contacts", "data", row["id"], row["data"])
    rec = ContactRecord.from_json(row["id"], plain)
    pending = None if rec.pending_address is None else new.index("contact-address", rec.pending_address)
    return {
        **row,
        "addr_idx": new.index("contact-address", rec.address),
        "pending_idx": pending,
        "data": new.seal("contacts", "data", row["id"], plain),
    }


def _sessions(row: Row, old: Sealer, new: Sealer, pre: _Preimages) -> Row:
    plain, s = _session_of(old, "sessions", row)
    peer = s.peer_identity.signing + s.peer_device_id
    pre.session_keys.append(peer + s.base_key)
    sid = new.index("session", peer)
    return {**row, "id": sid, "data": new.seal("sessions", "data", sid, plain)}


def _archived_sessions(row: Row, old: Sealer, new: Sealer, pre: _Preimages) -> Row:
    plain, s = _session_of(old, "archived_sessions", row)
    peer = s.peer_identity.signing + s.peer_device_id
    pre.session_keys.append(peer + s.base_key)
    aid = new.index("archived-session", peer + s.base_key)
    return {
        **row,
        "id": aid,
        "peer": new.index("session", peer),
        "data": new.seal("archived_sessions", "data", aid, plain),
    }


def _messages(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> Row:
    plain = old.open("messages", "data", row["id"], row["data"])
    rec = MessageRecord.from_json(row["contact_id"], row["expires_at_ms"], plain)
    rid = new.index("message", rec.message_id)
    return {**row, "id": rid, "data": new.seal("messages", "data", rid, plain)}


def _prekeys(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> Row:
    rid = f"{row['kind']}:{row['key_id']}"
    return {**row, "data": new.seal("prekeys", "data", rid, old.open("prekeys", "data", rid, row["data"]))}


def _outbox(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> Row:
    return {**row, "data": new.seal("outbox", "data", row["id"], old.open("outbox", "data", row["id"], row["data"]))}


def _receipts_owed(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> Row:
    """A receipt owed: its blind index is recomputed from its sealed kind byte and message id."""
    plain = old.open("receipts_owed", "data", row["id"], row["data"])
    rid = new.index("receipt-owed", plain)
    return {**row, "id": rid, "data": new.seal("receipts_owed", "data", rid, plain)}


def _filed(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> Row:
    """A filed record copy: its row index is recomputed from the sealed message id, its owner index from the
    sealed address of the contact (filed files need nothing: each is under its own key, held in the row)."""
    plain = old.open("filed", "data", row["id"], row["data"])
    copy = FiledRecord.from_json(plain)
    rid = new.index("filed", copy.message_id)
    return {
        **row,
        "id": rid,
        "owner": new.index("record-owner", copy.address),
        "data": new.seal("filed", "data", rid, plain),
    }


def _docs(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> Row:
    """A signed document, franking key or reportable message: its row index is recomputed from its scope and the
    key sealed with it (its owner is a contact's random row id, unchanged)."""
    rid_old = row["id"]
    plain = old.open("docs", "data", rid_old, row["data"])
    key, _value = unpack_doc(plain)
    rid = new.index("doc:" + row["scope"], key)
    return {**row, "id": rid, "data": new.seal("docs", "data", rid, plain)}


def _accepted_base_keys(row: Row, old: Sealer, new: Sealer, pre: _Preimages) -> Row | None:
    for key in pre.session_keys:
        if old.index("accepted-base-key", key) == row["idx"]:
            return {**row, "idx": new.index("accepted-base-key", key)}
    return None  # its session is gone: the input of the index is not kept anywhere


def _drop(row: Row, old: Sealer, new: Sealer, _: _Preimages) -> None:
    return None


RULES: dict[str, Rule] = {
    "meta": _meta,
    "contacts": _contacts,
    "sessions": _sessions,
    "archived_sessions": _archived_sessions,
    "messages": _messages,
    "prekeys": _prekeys,
    "outbox": _outbox,
    "receipts_owed": _receipts_owed,
    "filed": _filed,
    "docs": _docs,
    "accepted_base_keys": _accepted_base_keys,
    "seen_envelopes": _drop,
}
"""How each table is carried into the re-keyed store, in this order (sessions before the base keys recomputed
from them). Every table of the store must be here: an unknown one makes the passphrase change refuse."""


def _tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall()
    return [r[0] for r in rows]


def rekey_store(source: Path, old_key: bytes, dest: Path, new_key: bytes, rng: RNG) -> None:
    """Write ``dest``: a new database with the schema and rows of ``source``, every sealed value and blind
    index moved from ``old_key`` to ``new_key`` (see the module docstring). ``dest`` must not exist; it is
    flushed to disk and is a single file (rollback journal, no WAL) when this returns.

    Raises:
        StorageError: the store holds a table without a rule, a value that does not open under ``old_key``,
            or cannot be read or written (``dest`` is removed).
    """
    old, new = Sealer(old_key, rng), Sealer(new_key, rng)
    src = sqlite3.connect(source, isolation_level=None)  # the caller holds the profile exclusively
    out = None
    try:
        unknown = sorted(set(_tables(src)) - set(RULES))
        if unknown:
            raise StorageError(
                f"the store has tables the passphrase change cannot re-seal ({', '.join(unknown)}); "
                "the passphrase was not changed"
            )
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        out = sqlite3.connect(dest, isolation_level=None)
        out.execute("PRAGMA journal_mode=DELETE")
        out.execute("PRAGMA secure_delete=ON")
        out.execute("BEGIN")
        schema = src.execute("SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
        later = []
        for kind, sql in schema.fetchall():
            if kind == "table":
                out.execute(sql)
            else:
                later.append(sql)  # indexes and triggers once the rows are in
        pre = _Preimages()
        present = set(_tables(src))
        for table in (t for t in RULES if t in present):
            cur = src.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names come from RULES
            names = [d[0] for d in cur.description]
            for values in cur:
                moved = RULES[table](dict(zip(names, values, strict=True)), old, new, pre)
                if moved is None:
                    continue
                cols = ", ".join(f'"{c}"' for c in moved)
                marks = ", ".join("?" for _ in moved)
                out.execute(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', list(moved.values()))  # noqa: S608
        for sql in later:
            out.execute(sql)
        version = int(src.execute("PRAGMA user_version").fetchone()[0])
        out.execute(f"PRAGMA user_version = {version:d}")
        out.execute("COMMIT")
        out.close()
        out = None
        fd = os.open(dest, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as exc:
        if out is not None:
            with contextlib.suppress(sqlite3.Error):
                out.close()
        for path in (dest, Path(str(dest) + "-journal")):
            shred_file(path)
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"the store could not be re-sealed ({exc}); the passphrase was not changed") from exc
        raise
    finally:
        src.close()


def store_belongs_to(path: Path, store_key: bytes) -> bool:
    """Whether the database at ``path`` was sealed under ``store_key`` (its ``store-check`` row opens)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        try:
            row = db.execute("SELECT v FROM meta WHERE k = ?", (STORE_CHECK[0],)).fetchone()
        finally:
            db.close()
        if row is None:
            return False
        return Sealer(store_key, os.urandom).open("meta", "v", STORE_CHECK[0], row[0]) == STORE_CHECK[1]
    except (sqlite3.Error, StorageError):
        return False


def _swap_store(paths: ProfilePaths) -> None:
    """Step 5: overwrite the old store and its companions in place, unlink them, move the new one in."""
    for suffix in ("", *STORE_SIDE_FILES):
        shred_file(Path(str(paths.store) + suffix))
    os.replace(paths.root / NEW_STORE, paths.store)
    fsync_dir(paths.root)


def _commit_keystore(paths: ProfilePaths) -> None:
    """Steps 3 and 4: overwrite the old key store in place, then rename the new one over it."""
    overwrite_in_place(paths.keystore)
    os.replace(paths.root / NEW_KEYSTORE, paths.keystore)
    fsync_dir(paths.root)


def has_pending_rekey(paths: ProfilePaths) -> bool:
    """Whether an interrupted passphrase change left files behind (then opening needs the profile alone)."""
    return any((paths.root / name).exists() for name in (NEW_KEYSTORE, NEW_STORE)) or any(paths.root.glob("*" + PART))


def open_keys_recovering(paths: ProfilePaths, passphrase: str) -> SecretKeys:
    """Open the profile's keys, first finishing or undoing a passphrase change a crash interrupted (see the
    module docstring). The caller holds the profile lock.

    Raises:
        ProfileError: no profile; WrongPassphrase (neither key store opens), CorruptKeyStore,
            KdfParametersTooCostly: as :func:`confide.keys.keystore.open_keys`.
    """
    for part in paths.root.glob("*" + PART):
        shred_file(part)
    pending = paths.root / NEW_KEYSTORE
    try:
        keys = open_keys(read_keystore_file(paths.keystore, paths), passphrase)
    except (WrongPassphrase, CorruptKeyStore):
        if not pending.exists():
            raise
        keys = open_keys(read_keystore_file(pending, paths), passphrase)
        _commit_keystore(paths)
    else:
        if pending.exists():
            shred_file(pending)  # the change never reached its commit point: the old passphrase stays
    new_store = paths.root / NEW_STORE
    if new_store.exists():
        if store_belongs_to(new_store, keys.store_key):
            _swap_store(paths)
        else:
            shred_file(new_store)
    return keys


def change_passphrase_rekeying(
    paths: ProfilePaths, old: str, new: str, *, kdf: KdfParams | None, rng: RNG, lock_wait_s: float = 0.0
) -> None:
    """Change the passphrase and re-key the profile (module docstring). Refuses while another process has the
    profile open (its store would be swapped under it).

    Raises:
        ProfileError: no profile, or the profile is open in another program (nothing was changed).
        WrongPassphrase, CorruptKeyStore, KdfParametersTooCostly: ``old`` does not open the key store
            (nothing was changed).
        StorageError: the store could not be re-sealed (nothing was changed).
        ValueError: ``new`` is empty or ``kdf`` is invalid (nothing was changed).
    """
    if not new:
        raise ValueError("the new passphrase must not be empty")
    read_keystore_file(paths.keystore, paths)  # ProfileError when there is no profile
    lock = ProfileLock(paths, exclusive=True, wait_s=lock_wait_s)
    try:
        keys = open_keys_recovering(paths, old)
        params = kdf if kdf is not None else kdf_params_of(read_keystore_file(paths.keystore, paths))
        new_keys = SecretKeys(keys.identity, keys.device, rng(STORE_KEY_LEN))
        blob = seal_keys(new_keys, new, params=params, rng=rng)  # ValueError before anything is written
        part = Path(str(paths.root / NEW_STORE) + PART)
        shred_file(part)
        if paths.store.exists():
            _checkpoint(paths.store)
            rekey_store(paths.store, keys.store_key, part, new_keys.store_key, rng)
            os.replace(part, paths.root / NEW_STORE)
            fsync_dir(paths.root)
        write_private(paths.root / NEW_KEYSTORE, blob, temp_suffix=PART)
        _commit_keystore(paths)  # the commit point: from here on only the new passphrase opens it
        if (paths.root / NEW_STORE).exists():
            _swap_store(paths)
    finally:
        lock.release()


def _checkpoint(store: Path) -> None:
    """Bring every committed write from the WAL into ``store`` (no other process has it open: we hold the
    exclusive profile lock), so the read-only copy sees all of it."""
    try:
        db = sqlite3.connect(store, isolation_level=None)
        try:
            if not truncate_wal(db, Path(str(store) + "-wal")):
                raise StorageError("the local store is busy; the passphrase was not changed")
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StorageError(f"the local store could not be read ({exc}); the passphrase was not changed") from exc
