"""Three bugs found while restructuring the client, each with the test that failed before the fix.

1. Live receiving could silently never start once an async hook had run (its task sat in the list that
   ``start()`` used to decide whether it had already run), and finished hook tasks were kept forever.
2. ``sync()`` dropped the events of messages it had stored and acknowledged when a later step failed, so
   those messages were never reported.
3. A local fault (a damaged stored session) was treated as an undecryptable message and acknowledged, so
   the relay deleted an envelope this device never kept.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from confide.client import Client, Connected, Event, MessageReceived, RelayUnreachable, StorageError

from .conftest import PASSPHRASE, MakeClient, introduce
from .proxy import CuttingProxy


def _texts(events: list[Event]) -> list[str]:
    return [e.message.text for e in events if isinstance(e, MessageReceived)]


async def test_live_receiving_starts_after_an_async_hook_ran(make_client: MakeClient) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    b.catch_up_interval_s = 3600.0  # only the live connection can deliver within the test
    hooked: list[str] = []

    async def hook(event: Event) -> None:
        assert isinstance(event, MessageReceived)
        hooked.append(event.message.text)

    b.on(MessageReceived, hook)
    await a.send_text("b", "before")
    assert _texts(await b.sync()) == ["before"]
    await asyncio.sleep(0)  # the hook's task runs
    assert hooked == ["before"]
    assert b._bus.hook_tasks == 0  # finished hook tasks are forgotten

    stream = b.events()
    await a.send_text("b", "live")
    async with asyncio.timeout(10):
        async for event in stream:
            if isinstance(event, MessageReceived):
                assert event.message.text == "live"
                break
    await stream.aclose()
    await asyncio.sleep(0)
    assert hooked == ["before", "live"]


async def test_sync_that_fails_after_storing_reports_every_message_exactly_once(
    make_client: MakeClient, relay_url: str, tmp_path: Path
) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    sent = [f"disclosure {i}" for i in range(30)]
    for text in sent:
        await a.send_text("b", text)

    proxy = CuttingProxy(relay_url)
    async with proxy.running() as proxy_url:
        b._relay.base_url = proxy_url
        # The relay goes away right after it acknowledged (and so deleted) the whole backlog.
        proxy.cut_after("POST", "/v1/messages/ack")
        with pytest.raises(RelayUnreachable):
            await b.sync()
        assert ("POST", "/v1/messages/ack") in proxy.requests
    assert [m.text for m in b.history("a")] == sent  # stored...
    await b.close()

    # ...and reported by the next sync, even in another process (here: the profile opened again).
    async with Client.open(tmp_path / "bob", PASSPHRASE) as reopened:
        assert _texts(await reopened.sync()) == sent
        assert _texts(await reopened.sync()) == []  # exactly once
        await a.send_text("b", "after")
        assert _texts(await reopened.sync()) == ["after"]


async def test_events_reader_counts_as_reported(make_client: MakeClient) -> None:
    """A message yielded by ``events()`` is not reported again by a later ``sync()``."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    stream = b.events()
    await a.send_text("b", "seen live")
    async with asyncio.timeout(10):
        async for event in stream:
            if isinstance(event, MessageReceived):
                break
    await stream.aclose()
    assert _texts(await b.sync()) == []


async def test_local_fault_is_not_acknowledged(make_client: MakeClient, tmp_path: Path) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "one")
    assert _texts(await b.sync()) == ["one"]
    await a.send_text("b", "two")

    # Damage Bob's stored session with Alice (as a bad disk block or a half-restored backup would).
    db = sqlite3.connect(tmp_path / "bob" / "store.db")
    [(sid, good)] = db.execute("SELECT id, data FROM sessions").fetchall()
    damaged = bytes(good[:-1]) + bytes([good[-1] ^ 1])
    db.execute("UPDATE sessions SET data = ? WHERE id = ?", (damaged, sid))
    db.commit()

    with pytest.raises(StorageError):
        await b.sync()
    waiting, _ = await b._relay.fetch()
    assert len(waiting) == 1  # the relay still holds "two": nothing unstored was acknowledged
    assert [m.text for m in b.history("a")] == ["one"]

    db.execute("UPDATE sessions SET data = ? WHERE id = ?", (good, sid))  # the fault is repaired
    db.commit()
    db.close()
    assert _texts(await b.sync()) == ["two"]
    assert (await b._relay.fetch())[0] == []


async def test_connected_is_emitted_once_the_backlog_is_processed(make_client: MakeClient) -> None:
    """``Connected`` comes after every envelope the relay held when the connection opened was processed."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    for i in range(5):
        await a.send_text("b", f"while offline {i}")
    seen: list[Event] = []
    stream = b.events()
    async with asyncio.timeout(10):
        async for event in stream:
            seen.append(event)
            if isinstance(event, Connected):
                break
    await stream.aclose()
    assert _texts(seen) == [f"while offline {i}" for i in range(5)]
    assert seen[-1] == Connected(5)
