"""A hostile relay replaying a first message (a prekey message) under a new envelope id (SPEC §4.1).

The relay keeps the envelope of Alice's first message, lets the thread go on both ways and the message
expire, then delivers the same sealed bytes again in a fresh envelope. Nothing may come back: no message, no
unread mark, and the live session must not be replaced by the stale one.
"""

from __future__ import annotations

import os

from confide.client import Client, Direction, MessageReceived
from confide.keys.prekeys import PreKeyBundle
from confide.protocol.envelope import Delivery, Envelope

from .conftest import MakeClient, introduce

MAX_BUNDLE_FETCHES = 200
"""Enough fetches to spend the relay's hourly one-time-prekey budget for an address (30 by default)."""


async def _drain_one_time_prekeys(a: Client, b: Client) -> None:
    """Make the relay hand out bundles without a one-time prekey, as a hostile relay may always do (one-time
    prekeys are unsigned: the relay can just leave them out), so Alice's first message uses none."""
    for _ in range(MAX_BUNDLE_FETCHES):
        [(_device, raw)] = await a._relay.fetch_bundles(b.identity.address)
        if PreKeyBundle.from_bytes(raw).one_time_prekey is None:
            return
    raise AssertionError("the relay kept handing out one-time prekeys")


async def _capture(b: Client) -> list[bytes]:
    """What a relay that keeps everything holds for Bob: the sealed bytes of every waiting envelope."""
    raw, _more = await b._relay.fetch()
    return [Delivery.from_bytes(d).ciphertext for d in raw]


async def _reinject(a: Client, b: Client, sealed: bytes) -> None:
    """The relay delivers kept bytes again under a fresh envelope id, through its public send endpoint."""
    token = a._contacts.find("b").token
    assert token is not None
    env = Envelope(os.urandom(16), b._keys.device.device_id, token, 3600, sealed)
    await a._relay.post_envelope(env.to_bytes())


def _incoming(b: Client) -> list[tuple[str, str, str]]:
    """Bob's received messages: id, text, status (unread or read)."""
    return [(m.message_id, m.text, m.status) for m in b.history("a") if m.direction == Direction.IN]


async def _texts(c: Client, peer: str) -> list[str]:
    return [e.message.text for e in await c.sync() if isinstance(e, MessageReceived) and e.peer == peer]


async def _round_trip(a: Client, b: Client, tag: str) -> None:
    await a.send_text("b", f"{tag}: from a")
    assert await _texts(b, "a") == [f"{tag}: from a"]
    await b.send_text("a", f"{tag}: from b")
    assert await _texts(a, "b") == [f"{tag}: from b"]


async def _first_message_then_new_session(a: Client, b: Client) -> bytes:
    """Alice writes first (no one-time prekey, a 1 s timer), the relay keeps that envelope; the thread goes on
    both ways; then Alice's device loses its session and starts a new one, which Bob adopts (the relay's
    replay must not bring the old one back). Returns the kept sealed bytes."""
    await introduce(a, b)
    await _drain_one_time_prekeys(a, b)
    await a.send_text("b", "the first disclosure", expire_after_s=1)
    [kept] = await _capture(b)
    assert await _texts(b, "a") == ["the first disclosure"]
    await b.mark_read("a")
    await b.send_text("a", "thank you for telling me")
    assert await _texts(a, "b") == ["thank you for telling me"]
    await _round_trip(a, b, "week 1")
    # Alice's device loses its session with Bob (a reinstall, a restored backup): it starts a new one.
    a._store._db.execute("DELETE FROM sessions")
    await _round_trip(a, b, "week 2")
    await b.mark_read("a")
    far_future = 2**62
    a.expire_now(far_future)
    b.expire_now(far_future)
    assert all(m.text != "the first disclosure" for m in a.history("b") + b.history("a"))
    return kept


async def test_replayed_first_message_is_refused_and_the_live_session_stays(make_client: MakeClient) -> None:
    """Attack: the relay replays Alice's expired first message under a new envelope id after the session
    changed. Before the fix Bob accepted it as a new session: the message came back unread and Bob's replies
    went out on the stale session Alice no longer has."""
    a = await make_client("alice")
    b = await make_client("bob")
    kept = await _first_message_then_new_session(a, b)

    before = _incoming(b)
    await _reinject(a, b, kept)
    events = await b.sync()
    assert not [e for e in events if isinstance(e, MessageReceived)]
    assert _incoming(b) == before  # nothing came back, nothing is unread again
    await _round_trip(a, b, "after the replay")


async def test_replay_is_refused_even_after_the_old_session_left_the_archive(make_client: MakeClient) -> None:
    """Attack: the same replay once the old session is no longer kept at all (pruned from the bounded archive,
    or never archived): the accepted base keys alone must refuse it while the signed prekey is kept."""
    a = await make_client("alice")
    b = await make_client("bob")
    kept = await _first_message_then_new_session(a, b)
    tables = {name for (name,) in b._store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "archived_sessions" in tables:  # (absent before the archive existed: then there was nothing to prune)
        b._store._db.execute("DELETE FROM archived_sessions")

    before = _incoming(b)
    await _reinject(a, b, kept)
    assert await _texts(b, "a") == []
    assert _incoming(b) == before
    await _round_trip(a, b, "after the replay")


async def test_replay_guard_is_forgotten_with_its_signed_prekey(make_client: MakeClient) -> None:
    """The accepted base keys are kept exactly as long as the signed prekey they name (then the replay fails
    anyway, for want of the private key), so the table cannot grow without bound."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "hello")
    await b.sync()
    [(count,)] = b._store._db.execute("SELECT count(*) FROM accepted_base_keys").fetchall()
    assert count == 1
    [(spk_id,)] = b._store._db.execute("SELECT signed_prekey_id FROM accepted_base_keys").fetchall()
    with b._store.transaction():
        b._store.delete_prekey("signed", spk_id)
    [(count,)] = b._store._db.execute("SELECT count(*) FROM accepted_base_keys").fetchall()
    assert count == 0
