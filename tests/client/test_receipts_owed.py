"""Receipts owed are kept in the profile's store, not in memory (issue 10, "Client crash").

A delivery receipt is owed in the transaction that stores its message, a read receipt in the one that marks it
read; the row goes in the transaction that queues the receipt in the outbox. These tests stop a client between
the two without a crash: they replace ``Messaging.send_owed_receipts`` (neither the timer nor ``close()`` sends
anything), close, and open the profile again with the library as it is. The SIGKILL version is
``tests/reliability/test_client_crash.py::test_killed_before_the_receipt_is_posted``. Everything runs against a
real relay on loopback.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from confide.client import Client, Direction, Event, MessageReceived, MessageStatus, ReceiptReceived, Trust
from confide.client.messaging import Messaging
from confide.client.migrations import LATEST_VERSION

from .conftest import PASSPHRASE, MakeClient, introduce
from .test_deletion import _assert_gone, _blocks


async def _not_now(self: Messaging) -> None:
    """Stands in for ``send_owed_receipts`` while a profile must keep its receipts owed."""


def _owed_rows(profile: Path) -> list[tuple[str, bytes]]:
    """The ``receipts_owed`` rows, read straight from the file (as a thief would)."""
    con = sqlite3.connect(profile / "store.db")
    try:
        return [(rid, bytes(data)) for rid, data in con.execute("SELECT id, data FROM receipts_owed")]
    finally:
        con.close()


def _receipts(events: list[Event], kind: MessageStatus) -> list[tuple[str, ...]]:
    return [e.message_ids for e in events if isinstance(e, ReceiptReceived) and e.kind == kind]


def _statuses(c: Client, peer: str) -> list[tuple[str, MessageStatus]]:
    return [(m.text, m.status) for m in c.history(peer) if m.direction == Direction.OUT]


async def test_a_delivery_receipt_owed_at_close_is_sent_after_reopening(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored → closed without sending → reopened → ``sync()``: the sender's message becomes delivered, from one
    receipt."""
    a, b = await make_client("alice"), await make_client("bob")
    await introduce(a, b)
    m1 = await b.send_text("a", "m1")
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        assert [e.message.text for e in await a.sync() if isinstance(e, MessageReceived)] == ["m1"]
        await a.close()
    assert len(_owed_rows(tmp_path / "alice")) == 1
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == []
    assert _statuses(b, "a") == [("m1", MessageStatus.SENT)]

    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        assert await again.sync() == []  # m1 was handed over before the close: not again
        assert _owed_rows(tmp_path / "alice") == []
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == [(m1.message_id,)]
    assert _statuses(b, "a") == [("m1", MessageStatus.DELIVERED)]
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == []


async def test_a_read_receipt_owed_at_close_is_sent_after_reopening(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read receipts keep their meaning (owed when the message is read) and survive a close the same way."""
    a, b = await make_client("alice"), await make_client("bob")
    await introduce(a, b)
    m1 = await b.send_text("a", "m1")
    await a.sync()  # the delivery receipt goes at once (the test setting)
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == [(m1.message_id,)]
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        assert await a.mark_read("b") == 1
        await a.close()
    assert len(_owed_rows(tmp_path / "alice")) == 1
    assert _statuses(b, "a") == [("m1", MessageStatus.DELIVERED)]

    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        await again.sync()
    assert _receipts(await b.sync(), MessageStatus.READ) == [(m1.message_id,)]
    assert _statuses(b, "a") == [("m1", MessageStatus.READ)]


async def test_receipts_owed_after_a_restart_keep_their_delay_and_go_as_one(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three deliveries owed at close go out after the restart in ONE receipt, after the random delay."""
    a, b = await make_client("alice"), await make_client("bob")
    await introduce(a, b)
    sent = [(await b.send_text("a", t)).message_id for t in ("one", "two", "three")]
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        await a.sync()
        await a.close()
    assert len(_owed_rows(tmp_path / "alice")) == 3

    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        again._messaging.receipt_delay_s = (0.5, 0.6)
        begun = time.monotonic()
        await again.sync()
        assert time.monotonic() - begun >= 0.5, "the receipts waited their random delay"
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == [tuple(sent)]


async def test_nothing_is_owed_to_a_removed_contact(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: copy the sealed receipt owed before the contact is removed; afterwards no file of the profile holds
    a block of it (nor its row id), and reopening sends nothing."""
    a, b = await make_client("alice"), await make_client("bob")
    await introduce(a, b)
    await b.send_text("a", "m1")
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        await a.sync()
        rows = _owed_rows(tmp_path / "alice")
        assert len(rows) == 1
        a.remove_contact("b")
        _assert_gone(tmp_path / "alice", _blocks(rows[0][1]) | {rows[0][0].encode()})
        await a.close()
    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        await again.sync()
        assert _owed_rows(tmp_path / "alice") == []
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == []
    assert _statuses(b, "a") == [("m1", MessageStatus.SENT)]


async def test_a_deleted_message_owes_nothing(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message deleted on this device before its receipt went takes the receipt owed with it, from every
    file."""
    a, b = await make_client("alice"), await make_client("bob")
    await introduce(a, b)
    await b.send_text("a", "m1")
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        [got] = [e.message for e in await a.sync() if isinstance(e, MessageReceived)]
        [(rid, sealed)] = _owed_rows(tmp_path / "alice")
        a.delete_message(got.message_id)
        _assert_gone(tmp_path / "alice", _blocks(sealed) | {rid.encode()})
        await a.close()
    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        await again.sync()
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == []


async def test_a_panic_wipe_sends_nothing_owed(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await make_client("alice"), await make_client("bob")
    await introduce(a, b)
    await b.send_text("a", "m1")
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        await a.sync()
    assert len(_owed_rows(tmp_path / "alice")) == 1
    await a.wipe()
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == []
    assert _statuses(b, "a") == [("m1", MessageStatus.SENT)]


async def test_a_request_owes_no_receipt_until_accepted(make_client: MakeClient, tmp_path: Path) -> None:
    """A stranger's messages owe nothing (receipts would tell them the address is live); accepting them sends
    what was held back, once."""
    a, b = await make_client("alice"), await make_client("bob")
    b.add_contact("a", a.invite_code())  # Bob writes first; Alice has not added him
    m1 = await b.send_text("a", "m1")
    await a.sync()
    assert _owed_rows(tmp_path / "alice") == []
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == []
    [stranger] = a.contacts()
    assert stranger.request
    a.accept_contact(stranger.name)
    await a.sync()
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == [(m1.message_id,)]
    assert _owed_rows(tmp_path / "alice") == []


async def test_receipts_owed_follow_the_contact_s_setting_when_they_go(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receipt owed to a contact whose receipts stopped before it went (here: an identity change the user has
    not accepted) is dropped unsent at the restart, as it would have been without one."""
    a, b, mallory = await make_client("alice"), await make_client("bob"), await make_client("mallory")
    await introduce(a, b)
    await b.send_text("a", "m1")
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        await a.sync()
        a.add_contact("b", mallory.invite_code())  # "my therapist has a new invite code"
        assert a.contact("b").trust == Trust.CHANGED
        await a.close()
    assert len(_owed_rows(tmp_path / "alice")) == 1
    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        await again.sync()
        assert _owed_rows(tmp_path / "alice") == []
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == []
    assert _statuses(b, "a") == [("m1", MessageStatus.SENT)]
    assert _receipts(await mallory.sync(), MessageStatus.DELIVERED) == []


async def test_receipts_owed_are_re_sealed_by_a_passphrase_change(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``passwd`` carries receipts owed into the re-keyed store with their blind index recomputed: deleting one
    of the two messages still finds its receipt owed, and the other one's receipt goes after the reopen."""
    a, b = await make_client("alice"), await make_client("bob")
    await introduce(a, b)
    await b.send_text("a", "m1")
    m2 = await b.send_text("a", "m2")
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        got = [e.message.message_id for e in await a.sync() if isinstance(e, MessageReceived)]
        await a.close()
    old_rows = _owed_rows(tmp_path / "alice")
    assert len(old_rows) == 2
    await Client.change_passphrase(tmp_path / "alice", PASSPHRASE, "a new passphrase")
    new_rows = _owed_rows(tmp_path / "alice")
    assert len(new_rows) == 2
    assert {rid for rid, _ in new_rows}.isdisjoint(rid for rid, _ in old_rows)
    async with Client.open(tmp_path / "alice", "a new passphrase") as again:
        again.delete_message(got[0])
        assert len(_owed_rows(tmp_path / "alice")) == 1
        await again.sync()
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == [(m2.message_id,)]


async def test_a_profile_from_version_4_owes_receipts_after_the_upgrade(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before ``receipts_owed`` existed (schema 4) is upgraded on open and keeps receipts owed."""
    assert LATEST_VERSION == 8
    a, b = await make_client("alice"), await make_client("bob")
    await introduce(a, b)
    await a.close()
    db = sqlite3.connect(tmp_path / "alice" / "store.db")
    db.executescript("DROP TABLE receipts_owed; DROP TABLE filed; PRAGMA user_version = 4;")  # as schema 4 was
    db.close()
    m1 = await b.send_text("a", "m1")
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_owed_receipts", _not_now)
        async with Client.open(tmp_path / "alice", PASSPHRASE) as upgraded:
            await upgraded.sync()
    assert len(_owed_rows(tmp_path / "alice")) == 1
    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        await again.sync()
    assert _receipts(await b.sync(), MessageStatus.DELIVERED) == [(m1.message_id,)]
    db = sqlite3.connect(tmp_path / "alice" / "store.db")
    try:
        assert int(db.execute("PRAGMA user_version").fetchone()[0]) == LATEST_VERSION
    finally:
        db.close()
