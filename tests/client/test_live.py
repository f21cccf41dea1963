"""Live receiving over the WebSocket, events as an async iterator, hooks, reconnect back-off."""

from __future__ import annotations

import asyncio

from confide.client import (
    Event,
    MessageReceived,
    PrekeysLow,
    ReceiptReceived,
    RelayOffline,
    TimerChanged,
)

from .conftest import MakeClient, introduce


async def _collect(it, predicate, timeout: float = 10.0) -> list[Event]:  # type: ignore[no-untyped-def]
    seen: list[Event] = []
    async with asyncio.timeout(timeout):
        async for event in it:
            seen.append(event)
            if predicate(seen):
                return seen
    return seen


async def test_push_events_while_connected(make_client: MakeClient) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    events = b.events()  # starts the live connection

    async def writer() -> None:
        await asyncio.sleep(0.2)
        await a.send_text("b", "live one")

    task = asyncio.create_task(writer())
    seen = await _collect(events, lambda s: any(isinstance(e, MessageReceived) for e in s))
    await task
    texts = [e.message.text for e in seen if isinstance(e, MessageReceived)]
    assert texts == ["live one"]
    # The relay was acknowledged over the socket: nothing is left to pull.
    await asyncio.sleep(0.2)
    raw, _ = await b._relay.fetch()
    assert raw == []
    # The sender gets the delivery receipt.
    got = await a.sync()
    assert any(isinstance(e, ReceiptReceived) for e in got)
    await events.aclose()


async def test_push_continues_after_an_acknowledged_envelope(make_client: MakeClient) -> None:
    """Several envelopes over one socket, each acknowledged as it is stored."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    events = b.events()

    async def writer() -> None:
        await asyncio.sleep(0.2)
        await a.send_text("b", "one")
        await a.send_text("b", "two")
        await a.set_timer("b", 3600)

    task = asyncio.create_task(writer())
    seen = await _collect(events, lambda s: any(isinstance(e, TimerChanged) for e in s))
    await task
    assert [e.message.text for e in seen if isinstance(e, MessageReceived)] == ["one", "two"]
    await events.aclose()


async def test_relay_unreachable_event_and_backoff(make_client: MakeClient) -> None:
    a = await make_client("alice")
    a._relay.base_url = "http://127.0.0.1:9"
    hooked: list[Event] = []
    a.on(RelayOffline, hooked.append)
    seen = await _collect(a.events(), lambda s: len(s) >= 2, timeout=10)
    offline = [e for e in seen if isinstance(e, RelayOffline)]
    assert len(offline) >= 2 and offline[0].retry_in_s <= 1.0 and offline[1].retry_in_s >= 0.5
    assert hooked


async def test_prekeys_refilled_when_low(make_client: MakeClient) -> None:
    therapist = await make_client("therapist", "therapist")
    clients = [await make_client(f"c{i}") for i in range(3)]
    before = await therapist._relay.prekey_counts()
    for c in clients:
        c.add_contact("dr", therapist.invite_code())
        await c.start_thread("dr")
    after = await therapist._relay.prekey_counts()
    assert after["one_time"] == before["one_time"] - 3
    lows: list[Event] = []
    therapist.on(PrekeysLow, lows.append)
    # Pretend a week passed: the signed prekey is rotated and the one-time stock topped up.
    event = await therapist.maintain_prekeys(now=10**10)
    assert event is not None and event.uploaded >= 2 and lows == [event]
    full = await therapist._relay.prekey_counts()
    assert full["one_time"] >= before["one_time"] - 3
    # Sessions started before the rotation still open (the old signed prekey is kept for a grace period).
    for c in clients:
        await c.send_text("dr", "still works")
    texts = [e for e in await therapist.sync() if isinstance(e, MessageReceived)]
    assert len(texts) == 3
