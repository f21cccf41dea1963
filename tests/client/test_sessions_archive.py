"""Several sessions per peer device, simultaneous first messages, and the automatic session reset (SPEC §4.1, §8)."""

from __future__ import annotations

import asyncio
import os

from confide.client import Client, Direction, Event, MessageReceived, MessageUndecryptable, SessionReset
from confide.protocol.envelope import Delivery, Envelope

from .conftest import MakeClient, introduce

MESSAGES_EACH_WAY = 50


def _incoming(c: Client, peer: str) -> list[str]:
    return [m.text for m in c.history(peer) if m.direction == Direction.IN]


async def _sync_both(a: Client, b: Client, log: list[Event]) -> None:
    ea, eb = await asyncio.gather(a.sync(), b.sync())
    log.extend(ea)
    log.extend(eb)


async def _settle(a: Client, b: Client, log: list[Event], rounds: int = 4) -> None:
    for _ in range(rounds):
        log.extend(await a.sync())
        log.extend(await b.sync())


def _lose_sessions(c: Client) -> None:
    """The device loses every session (e.g. its store was restored from an old copy)."""
    db = c._store._db
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE name IN ('sessions', 'archived_sessions')"):
        db.execute(f"DELETE FROM {table}")


async def test_both_write_first_then_fifty_each_way_arrive_once_in_order(make_client: MakeClient) -> None:
    """Attack on availability: both people write first before either syncs, then keep writing while messages
    cross. Before the fix each side replaced its session with the other's, and every later message in both
    directions was undecryptable while shown "sent"."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    log: list[Event] = []
    await a.send_text("b", "a0")
    await b.send_text("a", "b0")
    for i in range(1, MESSAGES_EACH_WAY + 1):
        await a.send_text("b", f"a{i}")
        await b.send_text("a", f"b{i}")
        if i % 3 == 0:  # messages cross: both sides write before they read
            await _sync_both(a, b, log)
    await _settle(a, b, log)

    assert _incoming(b, "a") == [f"a{i}" for i in range(MESSAGES_EACH_WAY + 1)]
    assert _incoming(a, "b") == [f"b{i}" for i in range(MESSAGES_EACH_WAY + 1)]
    assert not [e for e in log if isinstance(e, MessageUndecryptable | SessionReset)]
    # Both sides ended on the same session: a further message each way needs no archive and no reset.
    [sa] = a._sessions.of(a._contacts.find("b"))
    [sb] = b._sessions.of(b._contacts.find("a"))
    assert sa.base_key == sb.base_key


async def test_lost_session_is_reset_and_the_message_resent(make_client: MakeClient) -> None:
    """Attack on availability: Bob's device lost its session (deleted rows) while Alice keeps writing on it.
    Before the fix Bob dropped her message as undecryptable and Alice saw it "sent" forever; now Bob starts a
    fresh session and asks for a resend, Alice resends on it, and the message arrives once."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "hello")
    await b.sync()
    await b.send_text("a", "hi")
    await a.sync()
    _lose_sessions(b)

    sent = await a.send_text("b", "I had a hard week")
    events = await b.sync()  # Alice's message (and her receipt for "hi") no longer decrypt
    undecryptable = [e.peer for e in events if isinstance(e, MessageUndecryptable)]
    assert set(undecryptable) == {"a"}
    [mine] = [e for e in events if isinstance(e, SessionReset)]
    assert (mine.by_peer, mine.failed) == (False, len(undecryptable))

    events = await a.sync()
    [theirs] = [e for e in events if isinstance(e, SessionReset)]
    assert (theirs.by_peer, theirs.failed, theirs.resent) == (True, len(undecryptable), (sent.message_id,))

    events = await b.sync()
    assert [e.message.text for e in events if isinstance(e, MessageReceived)] == ["I had a hard week"]
    assert _incoming(b, "a") == ["hello", "I had a hard week"]
    # The thread works both ways again, and what Alice sent is now confirmed delivered.
    await b.send_text("a", "I am sorry to hear that")
    assert [e.message.text for e in await a.sync() if isinstance(e, MessageReceived)] == ["I am sorry to hear that"]
    assert [m.status for m in a.history("b") if m.message_id == sent.message_id] == ["delivered"]


async def test_resets_are_bounded_and_cannot_loop(make_client: MakeClient) -> None:
    """Attack: keep making a device's messages undecryptable (a relay replaying old messages, a broken peer).
    One reset covers every failed message; a second failure within the interval starts no new reset, so two
    devices can never keep resetting each other."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "hello")
    await b.sync()
    _lose_sessions(b)
    for i in range(5):
        await a.send_text("b", f"lost {i}")
    events = await b.sync()
    assert len([e for e in events if isinstance(e, MessageUndecryptable)]) == 5
    assert [(e.by_peer, e.failed) for e in events if isinstance(e, SessionReset)] == [(False, 5)]
    await a.sync()
    await b.sync()
    assert _incoming(b, "a") == ["hello"] + [f"lost {i}" for i in range(5)]

    _lose_sessions(b)  # fails again at once: no second reset within the interval
    await a.send_text("b", "again")
    events = await b.sync()
    assert [e.peer for e in events if isinstance(e, MessageUndecryptable)] == ["a"]
    assert not [e for e in events if isinstance(e, SessionReset)]
    assert not [e for e in await a.sync() if isinstance(e, SessionReset)]


def _current_base_key(c: Client, peer: str) -> bytes:
    [session] = c._sessions.of(c._contacts.find(peer))
    return session.base_key


async def test_a_late_message_on_the_losing_session_does_not_switch_back(make_client: MakeClient) -> None:
    """Attack: both write first; the relay holds back a second message the losing side sent on its own (losing)
    session, lets the thread settle on the winning session, then delivers it late under a new envelope id. The
    message is genuine and must arrive once, but an older session must not replace the live one."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "a0")
    await b.send_text("a", "b0")
    a_lost = _current_base_key(a, "b") > _current_base_key(b, "a")  # the lower base key wins (SPEC §4.1)
    loser, winner = (a, b) if a_lost else (b, a)
    loser_peer, winner_peer = ("b", "a") if a_lost else ("a", "b")
    await loser.send_text(loser_peer, "written before reading")  # still on the loser's own session

    raw, _more = await winner._relay.fetch()
    first, late = (Delivery.from_bytes(d) for d in raw)
    await winner._relay.ack([late.envelope_id])  # the relay keeps a copy and hides it
    log: list[Event] = []
    await _settle(a, b, log)
    await loser.send_text(loser_peer, "after settling")
    await _settle(a, b, log)
    live = _current_base_key(winner, winner_peer)
    assert live == _current_base_key(loser, loser_peer)

    token = loser._contacts.find(loser_peer).token
    assert token is not None
    env = Envelope(os.urandom(16), winner._keys.device.device_id, token, 3600, late.ciphertext)
    await loser._relay.post_envelope(env.to_bytes())
    await _settle(a, b, log)
    assert _incoming(winner, winner_peer).count("written before reading") == 1
    assert _current_base_key(winner, winner_peer) == live
    assert not [e for e in log if isinstance(e, MessageUndecryptable | SessionReset)]
    await winner.send_text(winner_peer, "still the same thread")
    assert "still the same thread" in [e.message.text for e in await loser.sync() if isinstance(e, MessageReceived)]
    assert first.envelope_id != late.envelope_id
