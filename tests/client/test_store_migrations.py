"""The profile store's ordered migrations: an old profile opens and keeps its data; a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from confide.client import Client, MessageReceived, StorageError
from confide.client.migrations import LATEST_VERSION, MIGRATIONS

from .conftest import PASSPHRASE, MakeClient, introduce


def test_migrations_are_numbered_in_order() -> None:
    assert [v for v, _ in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


async def test_a_profile_from_before_migrations_is_brought_up_to_date(make_client: MakeClient, tmp_path: Path) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "written before the upgrade")
    await b.sync()
    await b.close()
    store = tmp_path / "bob" / "store.db"
    assert _user_version(store) == LATEST_VERSION

    # Turn Bob's store back into the first release's schema: no version, none of the later columns.
    db = sqlite3.connect(store)
    db.executescript("""
        DROP INDEX messages_unreported;
        ALTER TABLE messages DROP COLUMN unreported;
        ALTER TABLE outbox DROP COLUMN contact_id;
        ALTER TABLE outbox DROP COLUMN queued_at_ms;
        PRAGMA user_version = 0;
    """)
    db.close()

    async with Client.open(tmp_path / "bob", PASSPHRASE) as reopened:
        assert [m.text for m in reopened.history("a")] == ["written before the upgrade"]
        await a.send_text("b", "and after")
        assert [e.message.text for e in await reopened.sync() if isinstance(e, MessageReceived)] == ["and after"]
    assert _user_version(store) == LATEST_VERSION


async def test_a_store_from_a_newer_version_is_refused_untouched(make_client: MakeClient, tmp_path: Path) -> None:
    a = await make_client("alice")
    await a.close()
    store = tmp_path / "alice" / "store.db"
    db = sqlite3.connect(store)
    db.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    db.close()
    before = store.read_bytes()
    with pytest.raises(StorageError, match="newer version"):
        await Client.open(tmp_path / "alice", PASSPHRASE)
    assert _user_version(store) == LATEST_VERSION + 1
    assert store.read_bytes() == before


async def test_numbering_a_new_message_reads_one_index_entry(make_client: MakeClient) -> None:
    """Schema 8: ``MAX(seq)`` over the messages (what storing a message numbers it by) is answered from the
    ``messages_seq`` index, not by reading every row (22 ms a message at 200,000 before it)."""
    client = await make_client("sam")
    plan = client._store._db.execute("EXPLAIN QUERY PLAN SELECT COALESCE(MAX(seq), 0) + 1 FROM messages").fetchall()
    assert any("messages_seq" in str(row[-1]) for row in plan), plan
