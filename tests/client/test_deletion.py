"""What expired or was deleted is gone: never returned by any read path, and absent from every file.

Each test is an attack on one promise of SECURITY.md question 5; it says which in its docstring.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from confide.client import Client, UnknownMessage
from confide.keys.keystore import TEST_KDF
from confide.server import RelayConfig, start_relay

from .conftest import PASSPHRASE, introduce, run

SECRET = "the dose I took last night"
BLOCK = 16
"""The attack searches for every 16-byte block of a deleted sealed row: a copy of any of them is a leak."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _rows(db: Path) -> dict[str, bytes]:
    """The sealed ``data`` of every message row, read straight from the file (as a thief would)."""
    con = sqlite3.connect(db)
    try:
        return {row_id: bytes(data) for row_id, data in con.execute("SELECT id, data FROM messages")}
    finally:
        con.close()


def _blocks(data: bytes) -> set[bytes]:
    return {data[i : i + BLOCK] for i in range(0, len(data) - BLOCK + 1, BLOCK)}


def _assert_gone(profile: Path, blocks: set[bytes]) -> None:
    """No file of the profile (store.db, -wal, -shm, attachments/, tmp/) holds any of ``blocks``."""
    assert blocks
    files = [p for p in profile.rglob("*") if p.is_file()]
    assert any(p.name == "store.db" for p in files)
    for path in files:
        raw = path.read_bytes()
        found = sum(1 for b in blocks if b in raw)
        assert found == 0, f"{found} blocks of a deleted row survive in {path.relative_to(profile)}"


async def _pair(tmp_path: Path, url: str) -> tuple[Client, Client]:
    a = await Client.create(tmp_path / "a", PASSPHRASE, url, "a", kdf=TEST_KDF)
    b = await Client.create(tmp_path / "b", PASSPHRASE, url, "b", kdf=TEST_KDF)
    await introduce(a, b)
    return a, b


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[str]:
    async with start_relay(RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0)) as url:
        yield url


def _deleted_blocks(before: dict[str, bytes], after: dict[str, bytes]) -> set[bytes]:
    gone = set(before) - set(after)
    assert len(gone) == 1
    return _blocks(before[gone.pop()])


# -- 1. expired messages are never returned -------------------------------------------------------------
async def test_expired_messages_are_never_returned_with_the_relay_down(tmp_path: Path) -> None:
    """Attack: with 1 s timers, stop the relay (so no ``sync`` can run) and wait until the timers ran out;
    then ask every read path — ``history``, ``export_thread``, ``save_attachment`` and ``delete_message`` by
    id — and re-open the profiles: the expired messages must not come back from any of them, and the rows
    must already be gone from the file right after ``open``, before any read."""
    source = tmp_path / "worksheet.txt"
    source.write_text("week 3 worksheet: " + SECRET)
    async with start_relay(RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0)) as url:
        a, b = await _pair(tmp_path, url)
        await a.send_text("b", SECRET, expire_after_s=1)
        att = await a.send_file("b", source, expire_after_s=1)
        await a.send_text("b", "kept")
        await b.sync()
        await b.mark_read("a")  # b's copies are timed from reading
    await asyncio.sleep(1.5)  # the relay is gone: only local expiry can act now

    for client, peer in ((a, "b"), (b, "a")):
        assert [m.text for m in client.history(peer)] == ["kept"]
        out = tmp_path / f"export-{peer}.json"
        assert client.export_thread(peer, out) == 1
        assert SECRET not in out.read_text()
        with pytest.raises(UnknownMessage):
            client.delete_message(att.message_id)
    with pytest.raises(UnknownMessage):
        await b.save_attachment(att.message_id, tmp_path / "saved.txt")
    assert not (tmp_path / "saved.txt").exists()
    await a.close()
    await b.close()


async def test_expiry_runs_when_a_profile_is_opened(tmp_path: Path) -> None:
    """Attack: close the profile before the timer runs out, wait, and look at the file right after the next
    ``open``: the expired row must already be deleted (not merely hidden from reads)."""
    async with start_relay(RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0)) as url:
        a, b = await _pair(tmp_path, url)
        await a.send_text("b", SECRET, expire_after_s=1)
        await a.close()
        await b.close()
    await asyncio.sleep(1.2)
    assert len(_rows(tmp_path / "a" / "store.db")) == 1
    async with Client.open(tmp_path / "a", PASSPHRASE):
        assert _rows(tmp_path / "a" / "store.db") == {}


def test_cli_never_shows_an_expired_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: the relay is stopped; ``confide read`` shows the time left, and once it has run out neither
    ``read``, ``read --json`` nor ``export`` shows the message, on the receiving or the sending side."""
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)

    async def set_up() -> None:
        async with start_relay(RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0)) as url:
            a, b = await _pair(tmp_path, url)
            await a.send_text("b", SECRET, expire_after_s=2)
            await b.sync()
            await a.close()
            await b.close()

    asyncio.run(set_up())
    b = str(tmp_path / "b")
    code, out, err = run(capsys, "read", "--profile", b, "a")  # marks it read: its 2 s start now
    assert code == 0, err
    assert SECRET in out
    assert "disappears in 2 s" in out or "disappears in 1 s" in out
    time.sleep(2.5)
    for profile, peer in ((b, "a"), (str(tmp_path / "a"), "b")):
        code, out, err = run(capsys, "read", "--profile", profile, peer)
        assert code == 0, err
        assert SECRET not in out
        code, out, err = run(capsys, "read", "--profile", profile, peer, "--json")
        assert code == 0, err
        assert json.loads(out)["messages"] == []
        export = tmp_path / f"export-{peer}.json"
        code, out, err = run(capsys, "export", "--profile", profile, peer, str(export))
        assert code == 0, err
        assert SECRET not in export.read_text()


# -- 2. deleted rows leave every file -----------------------------------------------------------------
async def test_local_delete_leaves_no_bytes_in_any_file(relay: str, tmp_path: Path) -> None:
    """Attack: copy the sealed row of a message before deleting it on this device only; after
    ``delete_message`` returns, search store.db, its WAL and shm and every other file for any 16-byte block
    of it. Without a checkpoint the WAL still holds the row (and opens with the passphrase)."""
    a, b = await _pair(tmp_path, relay)
    for i in range(20):
        await a.send_text("b", f"{SECRET} #{i} " + "x" * 300)
    victim = await a.send_text("b", SECRET)
    before = _rows(a.profile_dir / "store.db")
    a.delete_message(victim.message_id)
    _assert_gone(a.profile_dir, _deleted_blocks(before, _rows(a.profile_dir / "store.db")))
    await a.close()
    await b.close()


async def test_delete_for_everyone_leaves_no_bytes_on_either_side(relay: str, tmp_path: Path) -> None:
    """Attack: before a delete-for-everyone of an attachment message, copy the sender's sealed row, the
    receiver's sealed row and the receiver's downloaded attachment file; after ``delete_for_everyone``
    returns (sender) and after the receiver's ``sync`` returns (received delete), no file of either
    profile holds any 16-byte block of them."""
    a, b = await _pair(tmp_path, relay)
    source = tmp_path / "journal.txt"
    source.write_text((SECRET + "\n") * 200)
    for i in range(10):
        await a.send_text("b", f"filler {i} " + "y" * 300)
    msg = await a.send_file("b", source, caption=SECRET)
    await b.sync()
    stored = [p for p in (b.profile_dir / "attachments").iterdir()]
    assert len(stored) == 1
    attachment_blocks = _blocks(stored[0].read_bytes())
    a_before = _rows(a.profile_dir / "store.db")
    b_before = _rows(b.profile_dir / "store.db")

    await a.delete_for_everyone("b", msg.message_id)
    _assert_gone(a.profile_dir, _deleted_blocks(a_before, _rows(a.profile_dir / "store.db")))
    await b.sync()
    b_blocks = _deleted_blocks(b_before, _rows(b.profile_dir / "store.db"))
    _assert_gone(b.profile_dir, b_blocks | attachment_blocks)
    await a.close()
    await b.close()


async def test_expiry_leaves_no_bytes_in_any_file(relay: str, tmp_path: Path) -> None:
    """Attack: copy the sealed row of a read message and its attachment file, let its timer run out; after
    ``expire_now`` returns, no file of the profile holds any 16-byte block of them, and the attachment's own
    disk blocks (read through a descriptor held across the expiry, as a carving tool would find them) were
    overwritten, not merely unlinked."""
    a, b = await _pair(tmp_path, relay)
    source = tmp_path / "mood.csv"
    source.write_text("day,mood\n" + "mon,3\n" * 500)
    for i in range(10):
        await a.send_text("b", f"filler {i} " + "z" * 300)
    msg = await a.send_file("b", source, expire_after_s=60)
    await b.sync()
    await b.mark_read("a")
    (stored,) = (b.profile_dir / "attachments").iterdir()
    attachment_blocks = _blocks(stored.read_bytes())
    before = _rows(b.profile_dir / "store.db")
    with stored.open("rb") as held:
        assert b.expire_now(_now_ms() + 61_000) == [msg.message_id]
        _assert_gone(b.profile_dir, _deleted_blocks(before, _rows(b.profile_dir / "store.db")) | attachment_blocks)
        assert not (_blocks(held.read()) & attachment_blocks)
    await a.close()
    await b.close()


async def test_checkpoint_blocked_by_a_reader_is_finished_on_next_open(relay: str, tmp_path: Path) -> None:
    """Attack: another connection holds a read transaction while a message is deleted, so the WAL cannot be
    truncated; the process then dies (a copy of the directory is what it left). Opening that copy must
    checkpoint the WAL before anything else: right after ``open`` no file holds the deleted row."""
    a, b = await _pair(tmp_path, relay)
    for i in range(5):
        await a.send_text("b", f"filler {i} " + "w" * 300)
    victim = await a.send_text("b", SECRET)
    before = _rows(a.profile_dir / "store.db")
    reader = sqlite3.connect(a.profile_dir / "store.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM messages").fetchone()
    a.delete_message(victim.message_id)
    blocks = _deleted_blocks(before, _rows(a.profile_dir / "store.db"))
    crashed = tmp_path / "crashed"
    shutil.copytree(a.profile_dir, crashed)  # what a crash right now would leave behind
    reader.execute("COMMIT")
    reader.close()
    await a.close()
    await b.close()
    async with Client.open(crashed, PASSPHRASE) as reopened:
        _assert_gone(crashed, blocks)
        assert all(m.text != SECRET for m in reopened.history("b"))
