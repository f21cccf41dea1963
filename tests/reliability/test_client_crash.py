"""A client process killed (SIGKILL) at the worst moments of receiving and sending, then reopened.

Each test runs a real relay on loopback in this process and a client ("alice") in a child process
(:mod:`tests.reliability.crashkit`) that stops at one exact point and is killed there while it holds the profile
open. Then alice's profile is opened again with :class:`Client` and the test checks the promises: no message is
lost or handed to the application twice, on either side; the ratchet state is consistent (nothing
undecryptable, no session reset); and the conversation goes on in both directions for several more messages,
each one a DH ratchet turn. A delivery receipt owed when the client died is sent after the restart, exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from confide.client import (
    Client,
    Direction,
    Event,
    MessageReceived,
    MessageStatus,
    MessageUndecryptable,
    ReceiptReceived,
    SessionReset,
    messaging,
)
from confide.keys.keystore import TEST_KDF
from confide.server import RelayConfig, start_relay

from ..client.proxy import CuttingProxy
from .crashkit import RECEIVE_POINTS, SEND_POINTS, ChildClient

PASSPHRASE = "correct horse battery staple"
TURNS_AFTER = 3
"""Round trips after the restart: each message answers the other side's, so each one is a DH ratchet turn."""


@pytest.fixture(autouse=True)
def prompt_receipts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Receipts at once (the library delays them 1–5 s so their timing links nothing)."""
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MIN_S", 0.0)
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MAX_S", 0.0)


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[str]:
    config = RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
    async with start_relay(config) as url:
        yield url


class Side:
    """One profile and everything its application was handed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shown: list[str] = []
        self.events: list[Event] = []

    def saw(self, events: list[Event]) -> None:
        self.events += events
        self.shown += [e.message.text for e in events if isinstance(e, MessageReceived)]


async def _pair(tmp_path: Path, relay: str, alice_relay: str | None = None) -> tuple[Side, Side, Client]:
    """Alice (closed, for the child) and Bob (open), introduced, with one message each way already exchanged.
    ``alice_relay``: the URL Alice's profile reaches the relay by (a watching proxy), if not ``relay``."""
    alice, bob = Side(tmp_path / "alice"), Side(tmp_path / "bob")
    a = await Client.create(alice.path, PASSPHRASE, alice_relay or relay, "alice", "client", kdf=TEST_KDF)
    b = await Client.create(bob.path, PASSPHRASE, relay, "bob", "therapist", kdf=TEST_KDF)
    a.add_contact("b", b.invite_code())
    b.add_contact("a", a.invite_code())
    await a.send_text("b", "hello")
    bob.saw(await b.sync())
    await b.send_text("a", "hi")
    alice.saw(await a.sync())
    await a.close()
    assert (alice.shown, bob.shown) == (["hi"], ["hello"])
    return alice, bob, b


async def _continue(alice: Side, a: Client, bob: Side, b: Client) -> None:
    """Several more messages both ways, alternating (each a DH ratchet turn), each shown exactly once."""
    for i in range(TURNS_AFTER):
        before_a, before_b = list(alice.shown), list(bob.shown)
        assert (await a.send_text("b", f"a{i}")).status == MessageStatus.SENT
        bob.saw(await b.sync())
        assert bob.shown == [*before_b, f"a{i}"]
        assert (await b.send_text("a", f"b{i}")).status == MessageStatus.SENT
        alice.saw(await a.sync())
        assert alice.shown == [*before_a, f"b{i}"]
    bob.saw(await b.sync())  # the last receipts
    for side in (alice, bob):
        broken = [e for e in side.events if isinstance(e, MessageUndecryptable | SessionReset)]
        assert broken == [], "a ratchet that does not agree shows up as undecryptable messages and resets"


def _thread(c: Client, peer: str) -> list[tuple[Direction, str]]:
    return [(m.direction, m.text) for m in c.history(peer)]


@pytest.mark.parametrize("point", RECEIVE_POINTS)
async def test_killed_while_receiving(point: str, tmp_path: Path, relay: str) -> None:
    """Killed after decrypting two messages (``ack``: stored, not acknowledged; ``commit``: before the store
    committed): after the restart each is shown once, stored once, and the relay's mailbox is empty."""
    alice, bob, b = await _pair(tmp_path, relay)
    await b.send_text("a", "m1")
    await b.send_text("a", "m2")
    child = await ChildClient.start(alice.path, PASSPHRASE, crash_at=f"{point}:{2 if point == 'commit' else 1}")
    await child.send({"op": "sync"})
    await child.kill_at(point)  # killed inside sync(): the application was handed nothing
    async with Client.open(alice.path, PASSPHRASE) as a:
        a.auto_download = False
        alice.saw(await a.sync())
        assert alice.shown == ["hi", "m1", "m2"]
        alice.saw(await a.sync())  # nothing is left to redeliver or report
        assert alice.shown == ["hi", "m1", "m2"]
        assert [t for d, t in _thread(a, "b") if d == Direction.IN] == ["hi", "m1", "m2"]
        await _continue(alice, a, bob, b)
        assert _thread(a, "b") == _thread_mirror(b)
    await b.close()


def _thread_mirror(b: Client) -> list[tuple[Direction, str]]:
    """Bob's thread as Alice should see it."""
    flip = {Direction.IN: Direction.OUT, Direction.OUT: Direction.IN}
    return [(flip[m.direction], m.text) for m in b.history("a")]


@pytest.mark.parametrize("point", SEND_POINTS)
async def test_killed_while_sending(point: str, tmp_path: Path, relay: str) -> None:
    """Killed while sending "s1": before the send committed (``encrypted``: the ratchet advanced in memory only;
    the send never returned, so it never happened), after it committed but before the post (``post``), or after
    the relay stored it but before the client recorded it as sent (``posted``; Bob even receives it before Alice
    restarts, and her repost must not show it twice). After the restart the message is delivered exactly once
    (or, for ``encrypted``, not at all) and its status ends ``delivered``."""
    alice, bob, b = await _pair(tmp_path, relay)
    child = await ChildClient.start(alice.path, PASSPHRASE, crash_at=point)
    await child.send({"op": "send", "peer": "b", "text": "s1"})
    await child.kill_at(point)
    if point == "posted":
        bob.saw(await b.sync())
        assert bob.shown == ["hello", "s1"]
    async with Client.open(alice.path, PASSPHRASE) as a:
        a.auto_download = False
        kept = [(m.text, m.status) for m in a.history("b") if m.direction == Direction.OUT]
        if point == "encrypted":
            assert kept == [("hello", MessageStatus.DELIVERED)]
        else:
            assert kept == [("hello", MessageStatus.DELIVERED), ("s1", MessageStatus.PENDING)]
        alice.saw(await a.sync())  # posts what the outbox kept
        bob.saw(await b.sync())
        bob.saw(await b.sync())
        expected = ["hello"] if point == "encrypted" else ["hello", "s1"]
        assert bob.shown == expected
        alice.saw(await a.sync())  # Bob's delivery receipt
        statuses = [(m.text, m.status) for m in a.history("b") if m.direction == Direction.OUT]
        assert statuses == [(t, MessageStatus.DELIVERED) for t in expected]
        assert a.queued() == []
        await _continue(alice, a, bob, b)
        assert _thread(a, "b") == _thread_mirror(b)
    await b.close()


def _sealed_sends(proxy: CuttingProxy) -> int:
    """Sealed envelopes Alice's profile posted through ``proxy`` (unsigned ``POST /v1/messages``)."""
    return sum(1 for r in proxy.seen if not r.signed and r.method == "POST" and r.path == "/v1/messages")


def _delivered_receipts(events: list[Event]) -> list[tuple[str, ...]]:
    return [e.message_ids for e in events if isinstance(e, ReceiptReceived) and e.kind == MessageStatus.DELIVERED]


@pytest.mark.parametrize("point", ["receipt", "ack", "post"])
async def test_killed_before_the_receipt_is_posted(point: str, tmp_path: Path, relay: str) -> None:
    """Killed after Bob's "m1" was stored and before its delivery receipt was posted: owed, not yet queued
    (``receipt``); stored, not even acknowledged (``ack``: the relay redelivers it, and the redelivery is dropped as
    seen, so nothing new would make the receipt owed again); queued in the outbox, not posted (``post``). After
    the restart Bob's stored status of "m1" is ``delivered``, from exactly one receipt: Alice's traffic to the relay
    (a proxy in front of it) holds one sealed send, and Bob is handed one receipt, then no more."""
    proxy = CuttingProxy(relay)
    async with proxy.running() as alice_relay:
        alice, _bob, b = await _pair(tmp_path, relay, alice_relay)
        try:
            hi = [m.message_id for m in b.history("a") if m.text == "hi"]
            assert _delivered_receipts(await b.sync()) == [tuple(hi)]  # Alice's receipt for "hi"
            m1 = await b.send_text("a", "m1")
            assert m1.status == MessageStatus.SENT
            sends_before = _sealed_sends(proxy)
            child = await ChildClient.start(alice.path, PASSPHRASE, crash_at=f"{point}:1")
            await child.send({"op": "sync"})
            await child.kill_at(point)
            assert _sealed_sends(proxy) == sends_before  # the child posted nothing
            async with Client.open(alice.path, PASSPHRASE) as a:
                a.auto_download = False
                alice.saw(await a.sync())
                assert alice.shown == ["hi", "m1"]
                assert _sealed_sends(proxy) == sends_before + 1
            assert _delivered_receipts(await b.sync()) == [(m1.message_id,)]
            assert [(m.text, m.status) for m in b.history("a") if m.direction == Direction.OUT] == [
                ("hi", MessageStatus.DELIVERED),
                ("m1", MessageStatus.DELIVERED),
            ]
            async with Client.open(alice.path, PASSPHRASE) as a:  # nothing is left owed, to be sent again
                a.auto_download = False
                alice.saw(await a.sync())
            assert _delivered_receipts(await b.sync()) == []
            assert _sealed_sends(proxy) == sends_before + 1
            assert alice.shown == ["hi", "m1"]
        finally:
            await b.close()
