"""Each message reaches the application once, whichever of ``events()`` and ``sync()`` it reads, and whenever.

Found while building the load harness (issue 10), against a real relay on loopback:

1. A message stored by a ``sync()`` was put in the queue of every open ``events()`` reader *and* returned by that
   ``sync()``, so an application with a live view and a "refresh" was handed each such message twice.
2. What a ``sync()`` stored and then could not return (the relay went away after the acknowledgement) was
   returned only by a later ``sync()``: an application that then reads only ``events()`` was never handed it (in
   the load runs with relay kills, it surfaced late, after newer messages from the same sender).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from confide.client import INSECURE_TEST_KDF, Client, Event, MessageReceived, RelayUnreachable
from confide.server import RelayConfig, start_relay

from ..client.proxy import CuttingProxy
from .harness import PASSPHRASE

MESSAGES = 5


@asynccontextmanager
async def _notes_from_a_to_b(tmp_path: Path) -> AsyncIterator[tuple[str, Client, list[str]]]:
    """A relay on loopback, A and B introduced, and :data:`MESSAGES` notes sent by A waiting for B: yields the
    relay's URL, B and the notes (both clients closed afterwards)."""
    config = RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
    async with start_relay(config, host="127.0.0.1", port=0) as url:
        a = await Client.create(tmp_path / "a", PASSPHRASE, url, "a", kdf=INSECURE_TEST_KDF)
        b = await Client.create(tmp_path / "b", PASSPHRASE, url, "b", kdf=INSECURE_TEST_KDF)
        try:
            a.add_contact("b", b.invite_code())
            b.add_contact("a", a.invite_code())
            sent = [f"note {i}" for i in range(MESSAGES)]
            for text in sent:
                await a.send_text("b", text)
            yield url, b, sent
        finally:
            await a.close()
            await b.close()


async def test_sync_and_an_events_reader_hand_each_message_over_once(tmp_path: Path) -> None:
    async with _notes_from_a_to_b(tmp_path) as (_url, b, sent):
        by_reader: list[str] = []
        gate = asyncio.Event()
        subscribed = asyncio.Event()
        stream = b.events(listen=False)

        async def read() -> None:
            first = asyncio.ensure_future(stream.__anext__())  # subscribes, then waits for an event
            await asyncio.sleep(0)
            subscribed.set()
            event = await first
            while True:
                if isinstance(event, MessageReceived):
                    by_reader.append(event.message.text)
                await gate.wait()  # a slow reader: it takes the rest only after sync() returned
                try:
                    event = await stream.__anext__()
                except StopAsyncIteration:
                    return

        reader = asyncio.create_task(read())
        await subscribed.wait()
        by_sync = [e.message.text for e in await b.sync() if isinstance(e, MessageReceived)]
        gate.set()
        await b.close()  # ends the reader's stream once it has drained its queue
        await asyncio.wait_for(reader, 10)
    assert sorted(by_reader + by_sync) == sorted(sent)  # each message handed over exactly once
    assert not set(by_reader) & set(by_sync)


def _texts(events: list[Event]) -> list[str]:
    return [e.message.text for e in events if isinstance(e, MessageReceived)]


async def test_what_a_failed_sync_stored_reaches_an_events_reader(tmp_path: Path) -> None:
    async with _notes_from_a_to_b(tmp_path) as (url, b, sent):
        proxy = CuttingProxy(url)
        async with proxy.running() as proxy_url:
            await b.set_server(proxy_url)
            proxy.cut_after("POST", "/v1/messages/ack")  # the relay goes away right after acknowledging
            with pytest.raises(RelayUnreachable):
                await b.sync()
            assert [m.text for m in b.history("a")] == sent  # stored, not yet handed over

            got: list[str] = []
            stream = b.events()  # the application now only listens
            async with asyncio.timeout(10):
                async for event in stream:
                    if isinstance(event, MessageReceived):
                        got.append(event.message.text)
                        if len(got) == len(sent):
                            break
            await stream.aclose()
        assert got == sent
        await b.set_server(url)
        assert _texts(await b.sync()) == []  # handed over once
