"""Record keeping in the open (issue 11): a therapist files a message into the client's record.

Each test attacks one promise: the record outlives timers, deletes for everyone and thread deletion, sealed
(the plaintext in no file); the client is told of every filing; a sender deleting a filed message learns a
copy remains; a forged notice plants nothing; the export is private; the relay learns nothing new.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from confide.client import (
    Client,
    ClientError,
    FiledCopyKept,
    FileExistsConflict,
    MessageFiled,
    MessageKind,
    UnknownContact,
    UnknownMessage,
)
from confide.client.cli.exits import EXIT_NOT_FOUND, EXIT_OS
from confide.client.messaging import Messaging
from confide.client.migrations import LATEST_VERSION
from confide.keys.keystore import TEST_KDF
from confide.protocol.content import Content, Filed, FiledKind, new_message_id

from .conftest import PASSPHRASE, MakeClient, introduce, run

SECRET = "I stopped taking the sertraline on Monday"
FILE_BYTES = b"mood diary, week 3: " + SECRET.encode() * 3
ORDINARY = "ok"


async def _practice(make_client: MakeClient) -> tuple[Client, Client]:
    """Sam (a client) and Dr Rivera (a therapist), each a contact of the other, with a session both ways."""
    sam = await make_client("sam")
    rivera = await make_client("rivera", "therapist")
    await introduce(sam, rivera, "Dr Rivera", "Sam")
    await sam.send_text("Dr Rivera", "hello")
    await rivera.sync()
    await rivera.send_text("Sam", "welcome")
    await sam.sync()
    return sam, rivera


def _all_files(profile: Path) -> list[Path]:
    return [p for p in profile.rglob("*") if p.is_file()]


def _count(db: Path, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


async def test_record_outlives_timer_and_delete_for_everyone_sealed(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack: Sam sends a text on a 2 s timer and a file, Dr Rivera files both, Sam deletes the file for
    everyone and the timer runs out. The thread copies must be gone from every file, the record must hold both
    (text and the file's exact bytes), and no file of Rivera's profile may hold the plaintext."""
    sam, rivera = await _practice(make_client)
    source = tmp_path / "diary.txt"
    source.write_bytes(FILE_BYTES)
    timed = await sam.send_text("Dr Rivera", SECRET, expire_after_s=2)
    sent_file = await sam.send_file("Dr Rivera", source, caption="the diary")
    await rivera.sync()
    await rivera.mark_read("Sam")  # the 2 s run from now on this side

    entry = await rivera.file("Sam", timed.message_id)
    assert (entry.text, entry.kind, entry.peer) == (SECRET, MessageKind.TEXT, "Sam")
    filed_file = await rivera.file("Sam", sent_file.message_id)
    assert filed_file.attachment is not None
    assert (filed_file.attachment.name, filed_file.attachment.size) == ("diary.txt", len(FILE_BYTES))
    assert {m.message_id for m in rivera.history("Sam") if m.filed_here} == {timed.message_id, sent_file.message_id}

    assert await sam.delete_for_everyone("Dr Rivera", sent_file.message_id) is False  # not told yet: no sync
    await rivera.sync()
    assert sent_file.message_id not in {m.message_id for m in rivera.history("Sam")}
    await asyncio.sleep(2.2)
    assert [m.text for m in rivera.history("Sam")] == ["hello", "welcome"]  # both thread copies are gone

    records = rivera.records("Sam")
    assert [r.message_id for r in records] == [timed.message_id, sent_file.message_id]
    assert [r.kept_after_delete for r in records] == [False, True]
    assert records[0].text == SECRET
    out = await rivera.save_record_file("Sam", sent_file.message_id, tmp_path / "out.txt")
    assert out.read_bytes() == FILE_BYTES

    profile = tmp_path / "rivera"
    await rivera.close()  # checkpoints the WAL: what the files hold now is what a thief would get
    store = profile / "store.db"
    assert _count(store, "filed") == 2
    assert _count(store, "messages") == 2  # "hello" and "welcome" only
    thread_files = [p for p in (profile / "attachments").iterdir() if p.is_file()]
    assert thread_files == []  # the thread's copy of the file was shredded by the delete
    assert len(list((profile / "attachments" / "records").iterdir())) == 1
    for path in _all_files(profile):
        raw = path.read_bytes()
        assert SECRET.encode() not in raw, path
        assert FILE_BYTES[:16] not in raw, path


async def test_the_client_is_told_and_a_deleting_sender_learns_a_copy_remains(make_client: MakeClient) -> None:
    """Attack on "nothing is filed silently": every filing reaches the client as an event and a marker on the
    message; deleting that message for everyone says at once that a filed copy remains, and the therapist's
    client confirms it (FiledCopyKept), while the thread copy there is gone."""
    sam, rivera = await _practice(make_client)
    msg = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    await rivera.file("Sam", msg.message_id)
    again = await rivera.file("Sam", msg.message_id)  # twice: one record, one notice
    assert again.message_id == msg.message_id

    events = await sam.sync()
    filed = [e for e in events if isinstance(e, MessageFiled)]
    assert filed == [MessageFiled("Dr Rivera", msg.message_id)]
    shown = {m.message_id: m for m in sam.history("Dr Rivera")}
    assert shown[msg.message_id].filed_by_peer is True
    assert [m.message_id for m in shown.values() if m.filed_by_peer] == [msg.message_id]

    assert await sam.delete_for_everyone("Dr Rivera", msg.message_id) is True
    assert await rivera.sync() != []
    assert msg.message_id not in {m.message_id for m in rivera.history("Sam")}
    assert [r.message_id for r in rivera.records("Sam")] == [msg.message_id]
    kept = [e for e in await sam.sync() if isinstance(e, FiledCopyKept)]
    assert kept == [FiledCopyKept("Dr Rivera", msg.message_id)]

    other = await sam.send_text("Dr Rivera", "not filed")
    await rivera.sync()
    assert await sam.delete_for_everyone("Dr Rivera", other.message_id) is False
    await rivera.sync()
    assert [e for e in await sam.sync() if isinstance(e, FiledCopyKept)] == []  # only filed messages answer


async def test_a_forged_filed_notice_plants_nothing(make_client: MakeClient) -> None:
    """Attack: a peer's client sends FILED notices naming a message Sam never received, and a message of
    Sam's thread with someone else. Sam's client must show nothing and mark nothing; a true notice sent on
    the same session afterwards is shown (so the channel worked)."""
    sam, rivera = await _practice(make_client)
    other = await make_client("other")
    await introduce(sam, other, "Other", "Sam")
    foreign = await sam.send_text("Other", "for someone else")
    rec = rivera._contacts.find("Sam")
    for target in (os.urandom(16), bytes.fromhex(foreign.message_id)):
        forged = Content(new_message_id(os.urandom), 0, 0, Filed(FiledKind.FILED, target))
        rivera._messaging.queue(rec, forged, None)
    await rivera._messaging.flush()
    events = await sam.sync()
    assert [e for e in events if isinstance(e, MessageFiled)] == []
    assert [m for m in sam.history("Other") + sam.history("Dr Rivera") if m.filed_by_peer] == []

    hello = next(m for m in rivera.history("Sam") if m.text == "hello")
    await rivera.file("Sam", hello.message_id)
    assert [e for e in await sam.sync() if isinstance(e, MessageFiled)] == [MessageFiled("Dr Rivera", hello.message_id)]


async def test_what_cannot_be_filed_is_refused_and_nothing_is_sent(make_client: MakeClient) -> None:
    """A timer change, a mistyped id and another thread's message are refused with the exact error, and the
    client is told of nothing."""
    sam, rivera = await _practice(make_client)
    other = await make_client("other")
    await introduce(rivera, other, "Other", "Rivera")
    theirs = await other.send_text("Rivera", "another client")
    await rivera.sync()
    await sam.set_timer("Dr Rivera", 3600)
    await rivera.sync()
    timer = next(m for m in rivera.history("Sam") if m.kind == MessageKind.TIMER)
    with pytest.raises(ClientError, match="only a text message or a file"):
        await rivera.file("Sam", timer.message_id)
    with pytest.raises(UnknownMessage):
        await rivera.file("Sam", "00" * 16)
    with pytest.raises(UnknownMessage, match="in this thread"):
        await rivera.file("Sam", theirs.message_id)
    assert rivera.records("Sam") == []
    assert [e for e in await sam.sync() if isinstance(e, MessageFiled)] == []


async def test_export_is_private_and_never_overwrites(make_client: MakeClient, tmp_path: Path) -> None:
    """The export for the records system is a new 0600 file; an existing file is never replaced without
    ``overwrite``, and a symlink is not followed."""
    sam, rivera = await _practice(make_client)
    msg = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    await rivera.file("Sam", msg.message_id)
    out = tmp_path / "record.json"
    assert rivera.export_records("Sam", out) == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = json.loads(out.read_text())
    assert doc["format"] == "confide-records-export-v1"
    assert doc["peer"] == {"name": "Sam", "address": sam.address}
    assert [(r["id"], r["text"], r["direction"]) for r in doc["records"]] == [(msg.message_id, SECRET, "in")]
    out.write_text("older export")
    with pytest.raises(FileExistsConflict):
        rivera.export_records("Sam", out)
    assert out.read_text() == "older export"
    target = tmp_path / "elsewhere.txt"
    target.write_text("not ours")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert rivera.export_records("Sam", link, overwrite=True) == 1
    assert target.read_text() == "not ours"
    assert not link.is_symlink()
    assert stat.S_IMODE(link.stat().st_mode) == 0o600


async def test_removing_the_contact_keeps_the_record_unless_asked(make_client: MakeClient, tmp_path: Path) -> None:
    """Clinical records outlive the thread: removing the contact keeps the record (reachable by address);
    ``delete_records=True`` removes rows and files."""
    sam, rivera = await _practice(make_client)
    source = tmp_path / "diary.txt"
    source.write_bytes(FILE_BYTES)
    sent = await sam.send_file("Dr Rivera", source)
    await rivera.sync()
    await rivera.file("Sam", sent.message_id)
    rivera.remove_contact("Sam")
    with pytest.raises(UnknownContact):
        rivera.records("Sam")  # the name is gone with the contact
    kept = rivera.records(sam.address)
    assert [(r.message_id, r.peer) for r in kept] == [(sent.message_id, "Sam")]
    saved = await rivera.save_record_file(sam.address, sent.message_id, tmp_path / "again.txt")
    assert saved.read_bytes() == FILE_BYTES

    rivera.add_contact("Sam", sam.invite_code())
    assert [r.message_id for r in rivera.records("Sam")] == [sent.message_id]
    rivera.remove_contact("Sam", delete_records=True)
    with pytest.raises(UnknownContact):
        rivera.records(sam.address)
    assert list((tmp_path / "rivera" / "attachments" / "records").iterdir()) == []
    assert _count(tmp_path / "rivera" / "store.db", "filed") == 0


async def test_the_relay_sees_an_ordinary_sealed_envelope(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack from the relay: filing adds one envelope to Sam's mailbox, the same size as a two-letter text,
    and changes nothing else the relay stores (no new table, no new row anywhere else)."""
    sam, rivera = await _practice(make_client)
    msg = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    relay_db = tmp_path / "relay" / "relay.db"

    def snapshot() -> dict[str, int]:
        con = sqlite3.connect(relay_db)
        try:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {n: int(con.execute(f"SELECT count(*) FROM {n}").fetchone()[0]) for n in names}
        finally:
            con.close()

    def held() -> list[bytes]:
        con = sqlite3.connect(relay_db)
        try:
            rows = con.execute(
                "SELECT ciphertext FROM envelopes WHERE device_id = ? ORDER BY seq", (sam._keys.device.device_id,)
            )
            return [bytes(r[0]) for r in rows]
        finally:
            con.close()

    await sam.sync()  # takes the delivery receipt Rivera sent
    assert held() == []
    before = snapshot()
    await rivera.file("Sam", msg.message_id)
    after = snapshot()
    assert after == {**before, "envelopes": before["envelopes"] + 1}
    (notice,) = held()
    await sam.sync()
    await rivera.send_text("Sam", ORDINARY)
    (ordinary,) = held()
    assert len(notice) == len(ordinary)


async def test_passwd_rekeys_the_record(make_client: MakeClient, tmp_path: Path) -> None:
    """The record is re-sealed by a passphrase change like every table: it opens under the new passphrase."""
    sam, rivera = await _practice(make_client)
    msg = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    await rivera.file("Sam", msg.message_id)
    await rivera.close()
    await Client.change_passphrase(tmp_path / "rivera", PASSPHRASE, "another long passphrase 42", kdf=TEST_KDF)
    async with Client.open(tmp_path / "rivera", "another long passphrase 42") as reopened:
        assert [(r.message_id, r.text) for r in reopened.records("Sam")] == [(msg.message_id, SECRET)]
        assert reopened.records(sam.address) == reopened.records("Sam")


async def test_a_schema_5_profile_is_upgraded(make_client: MakeClient, tmp_path: Path) -> None:
    """A profile written before the records folder (store schema 5) opens, gets the table, and files."""
    _sam, rivera = await _practice(make_client)
    await rivera.close()
    store = tmp_path / "rivera" / "store.db"
    con = sqlite3.connect(store)
    con.executescript("DROP TABLE filed; PRAGMA user_version = 5;")
    con.close()
    async with Client.open(tmp_path / "rivera", PASSPHRASE) as reopened:
        hello = next(m for m in reopened.history("Sam") if m.text == "hello")
        await reopened.file("Sam", hello.message_id)
        assert [r.text for r in reopened.records("Sam")] == ["hello"]
    con = sqlite3.connect(store)
    assert int(con.execute("PRAGMA user_version").fetchone()[0]) == LATEST_VERSION == 8
    con.close()


def test_cli_file_records_and_export(
    tmp_path: Path, relay_thread: str, capsys: pytest.CaptureFixture[str], env: None
) -> None:
    """``confide file``, ``confide records [--json]`` and ``confide records export [--force]``; a peer's text
    with a terminal escape is shown escaped."""
    sam_dir, rivera_dir = str(tmp_path / "sam"), str(tmp_path / "rivera")
    assert run(capsys, "init", "--profile", sam_dir, "--server", relay_thread, "--name", "Sam")[0] == 0
    assert (
        run(capsys, "init", "--profile", rivera_dir, "--server", relay_thread, "--name", "R", "--role", "therapist")[0]
        == 0
    )

    async def set_up() -> str:
        async with Client.open(sam_dir, PASSPHRASE) as sam, Client.open(rivera_dir, PASSPHRASE) as rivera:
            await introduce(sam, rivera, "Dr Rivera", "Sam")
            msg = await sam.send_text("Dr Rivera", "line\u009b31m red")
            await rivera.sync()
            return msg.message_id

    mid = asyncio.run(set_up())
    code, out, err = run(capsys, "file", "--profile", rivera_dir, "Sam", mid)
    assert code == 0, err
    assert out == f"Filed message {mid} in your record of Sam; Sam is told.\n"
    code, out, err = run(capsys, "records", "--profile", rivera_dir, "Sam")
    assert code == 0, err
    assert "\\x9b31m red" in out
    assert "\x9b" not in out
    code, out, err = run(capsys, "records", "--profile", rivera_dir, "Sam", "--json")
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)["records"]] == [mid]
    dest = tmp_path / "export.json"
    assert run(capsys, "records", "--profile", rivera_dir, "export", "Sam", str(dest))[0] == 0
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    code, out, err = run(capsys, "records", "--profile", rivera_dir, "export", "Sam", str(dest))
    assert code == EXIT_OS
    assert err.count("\n") == 1
    assert "--force" in err
    assert run(capsys, "records", "--profile", rivera_dir, "export", "Sam", str(dest), "--force")[0] == 0
    code, out, err = run(capsys, "records", "--profile", rivera_dir, "Nobody")
    assert code == EXIT_NOT_FOUND
    assert err.count("\n") == 1
    code, out, err = run(capsys, "sync", "--profile", sam_dir)
    assert code == 0, err
    assert "Dr Rivera filed a message in your record" in out
    code, out, err = run(capsys, "read", "--profile", sam_dir, "Dr Rivera")
    assert "filed in your record by Dr Rivera" in out


async def test_panic_wipe_destroys_the_record(make_client: MakeClient, tmp_path: Path) -> None:
    """A record outlives timers and deletes, never a panic wipe: no file of the profile is left, the filed
    file included."""
    sam, rivera = await _practice(make_client)
    source = tmp_path / "diary.txt"
    source.write_bytes(FILE_BYTES)
    sent = await sam.send_file("Dr Rivera", source)
    await rivera.sync()
    await rivera.file("Sam", sent.message_id)
    assert len(list((tmp_path / "rivera" / "attachments" / "records").iterdir())) == 1
    await rivera.wipe()
    assert [p for p in (tmp_path / "rivera").rglob("*") if p.is_file()] == []


async def _not_now(self: Messaging) -> None:
    """Stands in for ``send_kept_owed``: the process "dies" before the notice is queued."""


async def test_the_answer_to_a_delete_survives_a_crash(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack on the KEPT answer: Rivera's client applies Sam's delete for everyone of a filed message and stops
    before queueing the answer. Opened again, it must still answer exactly once."""
    sam, rivera = await _practice(make_client)
    msg = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    await rivera.file("Sam", msg.message_id)
    await sam.sync()
    assert await sam.delete_for_everyone("Dr Rivera", msg.message_id) is True
    with monkeypatch.context() as m:
        m.setattr(Messaging, "send_kept_owed", _not_now)
        await rivera.sync()
    await rivera.close()
    assert [e for e in await sam.sync() if isinstance(e, FiledCopyKept)] == []
    async with Client.open(tmp_path / "rivera", PASSPHRASE) as reopened:
        await reopened.sync()
    kept = [e for e in await sam.sync() if isinstance(e, FiledCopyKept)]
    assert kept == [FiledCopyKept("Dr Rivera", msg.message_id)]
    async with Client.open(tmp_path / "rivera", PASSPHRASE) as again:
        await again.sync()
    assert [e for e in await sam.sync() if isinstance(e, FiledCopyKept)] == []  # answered once
