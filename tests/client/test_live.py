"""Live receiving over the WebSocket, events as an async iterator, hooks, reconnect back-off."""

from __future__ import annotations

import asyncio
from pathlib import Path

from confide.client import (
    INSECURE_TEST_KDF,
    Client,
    Event,
    MessageReceived,
    PrekeysLow,
    ReceiptReceived,
    RelayOffline,
    TimerChanged,
)
from confide.keys.address import Address

from .conftest import PASSPHRASE, MakeClient, introduce

COLLECT_TIMEOUT_S = 10.0
"""Longest wait for an expected event: far above loopback delivery times, short enough to fail fast."""


async def _collect(it, predicate) -> list[Event]:  # type: ignore[no-untyped-def]
    seen: list[Event] = []
    async with asyncio.timeout(COLLECT_TIMEOUT_S):
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
    seen = await _collect(a.events(), lambda s: len(s) >= 2)
    offline = [e for e in seen if isinstance(e, RelayOffline)]
    assert len(offline) >= 2
    assert offline[0].retry_in_s <= 1.0
    assert offline[1].retry_in_s >= 0.5
    assert hooked


async def test_prekeys_refilled_when_low(tmp_path: Path) -> None:
    """Drain the therapist's one-time prekeys below the refill threshold, then check the exact refill."""
    from confide.keys.prekeys import KEM_ONE_TIME_BATCH, ONE_TIME_PREKEY_BATCH, REFILL_THRESHOLD
    from confide.server import RelayConfig, start_relay

    drained = ONE_TIME_PREKEY_BATCH - REFILL_THRESHOLD + 1  # one below the threshold
    config = RelayConfig(
        data_dir=tmp_path / "relay",
        rate_per_s=0,
        bundle_rate_per_min=0,
        bundle_budget_per_hour=10 * ONE_TIME_PREKEY_BATCH,
    )
    async with start_relay(config) as url:
        therapist = await Client.create(tmp_path / "t", PASSPHRASE, url, "t", "therapist", kdf=INSECURE_TEST_KDF)
        clients = [
            await Client.create(tmp_path / f"c{i}", PASSPHRASE, url, f"c{i}", kdf=INSECURE_TEST_KDF) for i in range(3)
        ]
        try:
            assert await therapist._relay.prekey_counts() == {
                "one_time": ONE_TIME_PREKEY_BATCH,
                "kem_one_time": KEM_ONE_TIME_BATCH,
                "signed_prekey_id": 1,
                "kem_last_resort_id": 1,
            }
            for c in clients:  # three real sessions, each using one key of each kind
                c.add_contact("dr", therapist.invite_code())
                await c.start_thread("dr")
            for _ in range(drained - len(clients)):  # the rest taken by bare bundle fetches
                await clients[0]._relay.fetch_bundles(Address.parse(therapist.address))
            low = await therapist._relay.prekey_counts()
            assert (low["one_time"], low["kem_one_time"]) == (REFILL_THRESHOLD - 1, 0)

            lows: list[Event] = []
            therapist.on(PrekeysLow, lows.append)
            event = await therapist.maintain_prekeys()
            assert event == PrekeysLow(REFILL_THRESHOLD - 1, 0, drained + KEM_ONE_TIME_BATCH)
            assert lows == [event]
            full = await therapist._relay.prekey_counts()
            assert (full["one_time"], full["kem_one_time"]) == (ONE_TIME_PREKEY_BATCH, KEM_ONE_TIME_BATCH)
            assert full["signed_prekey_id"] == 1  # not due for rotation yet
            assert await therapist.maintain_prekeys() is None  # nothing more to do

            # A week later: the signed prekey and the last-resort KEM key rotate (2 keys), nothing else.
            rotated = await therapist.maintain_prekeys(now=10**10)
            assert rotated == PrekeysLow(ONE_TIME_PREKEY_BATCH, KEM_ONE_TIME_BATCH, 2)
            assert (await therapist._relay.prekey_counts())["signed_prekey_id"] == 2
            # Sessions started before the rotation still open (the old signed prekey is kept for a grace period).
            for c in clients:
                await c.send_text("dr", "still works")
            texts = [e.message.text for e in await therapist.sync() if isinstance(e, MessageReceived)]
            assert texts == ["still works"] * 3
        finally:
            for c in [therapist, *clients]:
                await c.close()
