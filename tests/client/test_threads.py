"""The inbox and search (``Client.threads``, ``Client.search``) against a real relay: unread counts and "waiting
since" across sends, receipts, reads, deletes and timers; search over texts, captions and file names; the
in-memory index following deletions, expiry and writes by another process on the same profile."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from confide.client import MAX_SEARCH_QUERY_CHARS, Client, ClientError, ThreadSummary, store, threads
from confide.client.export import thread_summary_to_json

from .conftest import PASSPHRASE, MakeClient, introduce


def _now() -> int:
    return int(time.time() * 1000)


async def _pair(make_client: MakeClient) -> tuple[Client, Client]:
    """A therapist and a client who know each other: the therapist calls them "client", they call her "dr"."""
    t = await make_client("therapist", "therapist")
    c = await make_client("client")
    await introduce(t, c, "client", "dr")
    return t, c


def _line(client: Client, peer: str, now_ms: int | None = None) -> ThreadSummary:
    [line] = [t for t in client.threads(now_ms=now_ms) if t.contact.name == peer]
    return line


async def test_unread_and_waiting_since_follow_sends_reads_and_replies(make_client: MakeClient) -> None:
    t, c = await _pair(make_client)
    assert _line(t, "client") == ThreadSummary(t.contact("client"), None, None, 0, None)

    first = await c.send_text("dr", "I had a hard week")
    await c.send_text("dr", "Are you there?")
    await t.sync()
    history = t.history("client")
    line = _line(t, "client")
    assert (line.unread, line.waiting_since_ms) == (2, history[0].received_at_ms)
    assert line.last_message is not None
    assert (line.last_message.text, line.last_message.peer) == ("Are you there?", "client")
    assert line.last_activity_ms == history[1].received_at_ms
    # The sender's side: nothing unread, nobody waiting on them; its newest message is the second one.
    mine = _line(c, "dr")
    assert (mine.unread, mine.waiting_since_ms) == (0, None)
    assert mine.last_message is not None
    assert mine.last_message.text == "Are you there?"
    assert first.message_id in {m.message_id for m in c.history("dr")}

    # A reply answers them: still unread, but nobody is waiting any more.
    reply = await t.send_text("client", "I am here")
    line = _line(t, "client")
    assert (line.unread, line.waiting_since_ms) == (2, None)
    assert line.last_message is not None
    assert line.last_message.message_id == reply.message_id
    assert await t.mark_read("client") == 2
    assert (_line(t, "client").unread, _line(t, "client").waiting_since_ms) == (0, None)

    # They write again after the reply: waiting since that message.
    await c.send_text("dr", "Thank you")
    await t.sync()
    newest = t.history("client")[-1]
    line = _line(t, "client")
    assert (line.unread, line.waiting_since_ms) == (1, newest.received_at_ms)
    as_json = thread_summary_to_json(line)
    assert {k: v for k, v in as_json.items() if k not in ("contact", "last_message")} == {
        "last_activity_ms": newest.received_at_ms,
        "unread": 1,
        "waiting_since_ms": newest.received_at_ms,
    }
    assert (as_json["contact"]["name"], as_json["last_message"]["text"]) == ("client", "Thank you")


async def test_receipts_update_the_last_message_and_the_order_follows_activity(make_client: MakeClient) -> None:
    t = await make_client("therapist", "therapist")
    a = await make_client("ann")
    b = await make_client("ben")
    await introduce(t, a, "ann", "dr")
    await introduce(t, b, "ben", "dr")
    sent = await t.send_text("ann", "See you Tuesday")
    assert _line(t, "ann").last_message is not None
    assert _line(t, "ann").last_message.status == "sent"  # type: ignore[union-attr]
    await a.sync()  # stores it and sends the delivery receipt
    await t.sync()
    last = _line(t, "ann").last_message
    assert last is not None
    assert (last.message_id, last.status) == (sent.message_id, "delivered")
    await a.mark_read("dr")
    await asyncio.sleep(0.05)
    await t.sync()
    last = _line(t, "ann").last_message
    assert last is not None
    assert last.status == "read"
    assert [line.contact.name for line in t.threads()] == ["ann", "ben"]
    await b.send_text("dr", "Can we move our session?")
    await t.sync()
    assert [line.contact.name for line in t.threads()] == ["ben", "ann"]


async def test_deletes_leave_counts_and_search_at_once(make_client: MakeClient) -> None:
    t, c = await _pair(make_client)
    early = await c.send_text("dr", "the early secret")
    late = await c.send_text("dr", "the late secret")
    await t.sync()
    assert [m.message_id for m in t.search("secret")] == [late.message_id, early.message_id]
    received = {m.text: m for m in t.history("client")}

    # Deleted here: gone from the count, from "waiting since" and from search before the call returns.
    t.delete_message(early.message_id)
    line = _line(t, "client")
    assert (line.unread, line.waiting_since_ms) == (1, received["the late secret"].received_at_ms)
    assert [m.message_id for m in t.search("secret")] == [late.message_id]

    # Deleted for everyone by the sender: gone on the next sync, for search and the inbox alike.
    await c.delete_for_everyone("dr", late.message_id)
    await t.sync()
    assert t.search("secret") == []
    assert _line(t, "client") == ThreadSummary(t.contact("client"), None, None, 0, None)
    # The sender's copy it deleted for everyone is gone from its own search too.
    assert [m.message_id for m in c.search("secret")] == [early.message_id]


async def test_an_expired_message_is_never_counted_or_found(make_client: MakeClient) -> None:
    t, c = await _pair(make_client)
    await c.send_text("dr", "kept for good", expire_after_s=0)
    brief = await c.send_text("dr", "a brief confession", expire_after_s=60)
    await t.sync()
    assert [m.text for m in t.search("confession")] == ["a brief confession"]
    read_at = _now()
    await t.mark_read("client", now_ms=read_at)
    # Past its timer it is left out by the clock, before any sweep deleted its row...
    assert t.search("confession", now_ms=read_at + 60_000) == []
    assert t.search("confession", now_ms=read_at + 59_000)[0].message_id == brief.message_id
    line = _line(t, "client", now_ms=read_at + 60_000)
    assert line.last_message is not None
    assert line.last_message.text == "kept for good"
    # ... and once the sweep deleted it, it is gone at any time.
    assert t.expire_now(read_at + 60_000) == [brief.message_id]
    assert t.search("confession", now_ms=read_at) == []
    # An unread message does not expire: it counts and is found until it is read.
    await c.send_text("dr", "unread confession", expire_after_s=1)
    await t.sync()
    assert _line(t, "client", now_ms=_now() + 3_600_000).unread == 1
    assert [m.text for m in t.search("confession", now_ms=_now() + 3_600_000)] == ["unread confession"]
    # On the sender's side timers run from sending: the 1-second one is gone, the 60-second one is not yet.
    assert [m.text for m in c.search("confession", now_ms=_now() + 2_000)] == ["a brief confession"]


async def test_search_texts_captions_file_names_ignoring_case(make_client: MakeClient, tmp_path: Path) -> None:
    t = await make_client("therapist", "therapist")
    a = await make_client("ann")
    b = await make_client("ben")
    await introduce(t, a, "ann", "dr")
    await introduce(t, b, "ben", "dr")
    await a.send_text("dr", "Die STRASSE war laut")
    worksheet = tmp_path / "Sleep-Diary.pdf"
    worksheet.write_bytes(b"%PDF-1.4 a sleep diary")
    await b.send_file("dr", worksheet, caption="My week in Übersicht")
    await t.sync()
    mine = await t.send_text("ben", "the diary looks good")

    assert [m.text for m in t.search("straße")] == ["Die STRASSE war laut"]  # casefolded: ß is ss
    by_caption = t.search("übersicht")
    assert [(m.peer, m.kind) for m in by_caption] == [("ben", "attachment")]
    assert by_caption[0].attachment is not None
    assert by_caption[0].attachment.name == "Sleep-Diary.pdf"
    by_name = t.search("DIARY")
    # Newest first, across threads and directions; the file is found by its name.
    assert [m.message_id for m in by_name] == [mine.message_id, by_caption[0].message_id]
    assert [m.message_id for m in t.search("diary", limit=1)] == [mine.message_id]
    assert t.search("nothing like this") == []
    assert t.search("   ") == []
    # A query never matches across the caption and the file name.
    assert t.search("übersicht\x00sleep") == []
    with pytest.raises(ClientError):
        t.search("x" * (MAX_SEARCH_QUERY_CHARS + 1))
    with pytest.raises(ValueError, match="at least 1"):
        t.search("diary", limit=0)


async def test_a_renamed_contact_is_named_in_results(make_client: MakeClient) -> None:
    t, c = await _pair(make_client)
    await c.send_text("dr", "hello there")
    await t.sync()
    assert [m.peer for m in t.search("hello")] == ["client"]
    t.rename_contact("client", "Sam")
    assert [m.peer for m in t.search("hello")] == ["Sam"]
    assert [line.contact.name for line in t.threads()] == ["Sam"]
    t.remove_contact("Sam")
    assert t.search("hello") == []
    assert t.threads() == []


async def test_the_index_is_in_no_file(make_client: MakeClient) -> None:
    t, c = await _pair(make_client)
    await c.send_text("dr", "zebra-unique-plaintext")
    await t.sync()
    assert len(t.search("zebra-unique")) == 1
    assert t.threads()[0].unread == 1
    needles = [b"zebra-unique-plaintext", "zebra-unique-plaintext".encode("utf-16-le")]
    for path in t.profile_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path.name


_OTHER_PROCESS = """
import asyncio, sys
from confide.client import Client

async def main(profile, passphrase, action, arg):
    async with Client.open(profile, passphrase) as client:
        if action == "send":
            print((await client.send_text("client", arg)).message_id)
        elif action == "delete":
            client.delete_message(arg)
        elif action == "sync":
            await client.sync()

asyncio.run(main(*sys.argv[1:]))
"""


async def _other_process(profile: Path, action: str, arg: str = "") -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _OTHER_PROCESS,
        str(profile),
        PASSPHRASE,
        action,
        arg,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode().strip()


async def test_the_index_follows_another_process_on_the_same_profile(make_client: MakeClient) -> None:
    t, c = await _pair(make_client)
    await c.send_text("dr", "written before the index")
    await t.sync()
    assert len(t.search("written")) == 1  # the index is built now
    assert _line(t, "client").unread == 1

    # Another process (the CLI in another terminal) sends from this profile, and receives.
    sent_id = await _other_process(t.profile_dir, "send", "written by the other process")
    await c.send_text("dr", "written while the other process syncs")
    await _other_process(t.profile_dir, "sync")
    found = t.search("written")
    assert [m.text for m in found] == [
        "written while the other process syncs",
        "written by the other process",
        "written before the index",
    ]
    assert found[1].message_id == sent_id
    line = _line(t, "client")
    assert line.unread == 2
    assert line.waiting_since_ms == found[0].received_at_ms  # only what came after the other process's reply

    # It deletes a message: this process's search no longer finds it.
    await _other_process(t.profile_dir, "delete", found[0].message_id)
    assert [m.text for m in t.search("written")] == ["written by the other process", "written before the index"]
    assert (_line(t, "client").unread, _line(t, "client").waiting_since_ms) == (1, None)


async def test_a_second_client_on_the_profile_sees_reads_made_by_the_first(make_client: MakeClient) -> None:
    t, c = await _pair(make_client)
    await c.send_text("dr", "one")
    await t.sync()
    async with Client.open(t.profile_dir, PASSPHRASE) as desk:
        assert desk.threads()[0].unread == 1
        await t.mark_read("client")  # the row is written again: same id, new sealed bytes
        assert desk.threads()[0].unread == 0
        assert desk.threads()[0].last_message is not None
        assert desk.threads()[0].last_message.status == "read"  # type: ignore[union-attr]


async def test_an_index_built_in_the_background_sees_what_was_written_meanwhile(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "INDEX_PAGE_ROWS", 1)  # one row per page: writes land between pages
    t, c = await _pair(make_client)
    for i in range(4):
        await c.send_text("dr", f"note {i}")
    await t.sync()
    first, second = t.history("client")[:2]
    t.prepare_index()
    await asyncio.sleep(0)  # the first page is in
    t.delete_message(first.message_id)  # already indexed: must leave
    t.delete_message(second.message_id)  # not indexed yet: must never come in
    await c.send_text("dr", "note late")
    await t.sync()  # stored meanwhile
    task = t._index_task  # wait for the background build itself to finish
    assert task is not None
    await task
    assert [m.text for m in t.search("note")] == ["note late", "note 3", "note 2"]
    assert _line(t, "client").unread == 3


async def test_an_answer_during_the_background_build_finishes_it(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "INDEX_PAGE_ROWS", 1)
    t, c = await _pair(make_client)
    for i in range(3):
        await c.send_text("dr", f"note {i}")
    await t.sync()
    t.prepare_index()
    await asyncio.sleep(0)
    assert [m.text for m in t.search("note")] == ["note 2", "note 1", "note 0"]
    assert _line(t, "client").unread == 3


async def test_closing_drops_the_index(make_client: MakeClient) -> None:
    t, c = await _pair(make_client)
    await c.send_text("dr", "held in memory while unlocked")
    await t.sync()
    t.prepare_index()
    assert len(t.search("held in memory")) == 1
    index = t._threads  # what stays in memory after closing
    await t.close()
    assert (index._entries, index._by_thread, index._lines, index._newest_first) == ({}, {}, {}, None)


async def test_another_connection_changing_some_threads_of_many(make_client: MakeClient) -> None:
    t = await make_client("therapist", "therapist")
    peers = {name: await make_client(name) for name in ("ann", "ben", "cy")}
    for name, peer in peers.items():
        await introduce(t, peer, name, "dr")
        await peer.send_text("dr", f"hello from {name}")
    await t.sync()
    assert {line.contact.name: line.unread for line in t.threads()} == {"ann": 1, "ben": 1, "cy": 1}
    ben_hello = t.search("from ben")[0]
    async with Client.open(t.profile_dir, PASSPHRASE) as other:  # another connection on the profile
        await other.mark_read("ann")
        other.delete_message(ben_hello.message_id)
        other.remove_contact("cy")
    assert {line.contact.name: line.unread for line in t.threads()} == {"ann": 0, "ben": 0}
    assert [m.text for m in t.search("hello from")] == ["hello from ann"]
    # This connection writes next: only what it wrote is read again, and the other's changes stay seen.
    await peers["ben"].send_text("dr", "hello again from ben")
    await t.sync()
    assert [m.text for m in t.search("hello")] == ["hello again from ben", "hello from ann"]


async def test_more_own_writes_than_remembered_are_compared_instead(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "TOUCHED_ROWS_LIMIT", 1)
    t, c = await _pair(make_client)
    await c.send_text("dr", "before")
    await t.sync()
    assert _line(t, "client").unread == 1
    for i in range(3):
        await c.send_text("dr", f"after {i}")
    await t.sync()  # three rows written: more than remembered
    t.delete_message(t.search("before")[0].message_id)
    await t.send_text("client", "a reply")
    assert [m.text for m in t.search("a")] == ["a reply", "after 2", "after 1", "after 0"]
    line = _line(t, "client")
    assert (line.unread, line.waiting_since_ms) == (3, None)


async def test_during_the_background_build_the_inbox_comes_from_each_threads_newest_rows(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A front end's first inbox does not wait for every message to be opened: while the build started by
    prepare_index() goes on, threads() reads each thread only back to its last message already read, and gives
    exactly the answer the finished index gives (unread counts, waiting since, last message, order)."""
    monkeypatch.setattr(threads, "INDEX_PAGE_ROWS", 1)
    monkeypatch.setattr(threads, "TAIL_BATCH_ROWS", 2)
    t = await make_client("therapist", "therapist")
    c = await make_client("client")
    d = await make_client("other")
    await introduce(t, c, "client", "dr")
    await introduce(t, d, "other", "dr")
    for i in range(5):
        await c.send_text("dr", f"before {i}")
    await t.sync()
    await t.mark_read("client")
    for i in range(3):
        await c.send_text("dr", f"after {i}")
    await d.send_text("dr", "hello")
    await t.sync()
    await t.send_text("client", "noted")
    for i in range(2):
        await c.send_text("dr", f"again {i}")
    await t.sync()

    opened: list[str] = []
    newest_first = t._store.thread_newest_first

    def counting(contact_id: str, batch: int):  # type: ignore[no-untyped-def]
        for row in newest_first(contact_id, batch):
            opened.append(row[1])
            yield row

    monkeypatch.setattr(t._store, "thread_newest_first", counting)
    t.prepare_index()
    await asyncio.sleep(0)
    assert t._threads._pending is not None
    during = t.threads()
    assert t._threads._pending is not None  # answered without finishing the build
    assert len(opened) < len(t.history("client")) + len(t.history("other"))  # the read part was not opened
    line = next(x for x in during if x.contact.name == "client")
    assert line.unread == 5
    assert line.last_message is not None
    assert line.last_message.text == "again 1"
    assert t._index_task is not None
    await t._index_task  # the build finishes in the background
    assert t._threads._pending is None
    assert t.threads() == during
