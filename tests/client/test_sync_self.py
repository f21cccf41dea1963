"""Sent-message sync, contact sync and shared tokens between two devices of one identity (issue 13), on a real
relay: device 1 (``d1``) and device 2 (``d2``) of one client identity, and a therapist ``p``.

What is sent from one device shows on the other as sent, exactly once, under the same id; the peer's messages and
receipts reach both; a read, a timer change and a delete for everyone reach every device; a SYNC or CONTACT
content from anyone but the own identity plants nothing; a message from a device the sender's signed list no
longer names is refused; and two devices meeting a new contact at once give it the same delivery token.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from confide.client import (
    Client,
    Direction,
    MessageReceived,
    MessageStatus,
    MessageSynced,
    MessageUndecryptable,
    StorageError,
)
from confide.client.inbox import UNLISTED_DEVICE
from confide.client.self_sync import OWN_THREAD
from confide.keys.encoding import Reader
from confide.protocol.content import ContactSnapshot, Content, SentSync, Text, new_message_id

from .conftest import MakeClient, MakeDevice

Devices3 = tuple[Client, Client, Client, str]


@pytest.fixture
async def setup(make_client: MakeClient, make_device: MakeDevice) -> tuple[Client, Client, Client, str]:
    """d1 and d2 (one identity: d2 holds what linking provisions, the token key and the introduction token), and
    the therapist p, who wrote first to the identity; both devices got it. Yields them and p's address (the
    contact's name on both devices)."""
    d1 = await make_client("d1")
    d2 = await make_device(d1, "d2")
    d2._account.adopt_token_key(d1._account.token_key())
    d2._account.adopt_intro_token(d1._account.token())
    p = await make_client("p", "therapist")
    p.add_contact("me", d1.invite_code())
    assert (await p.send_text("me", "first")).status == MessageStatus.SENT
    for d in (d1, d2):
        assert [e.message.text for e in await d.sync() if isinstance(e, MessageReceived)] == ["first"]
    return d1, d2, p, p.address


def _thread(client: Client, peer: str) -> list[tuple[str, Direction, str, MessageStatus]]:
    return [(m.message_id, m.direction, m.text, m.status) for m in client.history(peer)]


async def test_a_text_sent_from_one_device_shows_on_the_other_as_sent_once(setup: Devices3) -> None:
    d1, d2, p, peer = setup
    sent = await d1.send_text(peer, "reply from the laptop")
    assert sent.status == MessageStatus.SENT
    events = await d2.sync()
    synced = [e for e in events if isinstance(e, MessageSynced)]
    assert [(e.message.message_id, e.message.text) for e in synced] == [(sent.message_id, "reply from the laptop")]
    assert not [e for e in events if isinstance(e, MessageReceived)]  # never shown as received
    mine = [m for m in _thread(d2, peer) if m[1] == Direction.OUT]
    assert mine == [(sent.message_id, Direction.OUT, "reply from the laptop", MessageStatus.SENT)]
    assert not d2.contact(peer).request  # replying accepted the request on d1: the snapshot says so
    assert await d2.sync() == []
    assert [m for m in _thread(d2, peer) if m[1] == Direction.OUT] == mine  # exactly once

    # The peer gets it once, and its delivery receipt reaches both devices.
    assert [e.message.text for e in await p.sync() if isinstance(e, MessageReceived)] == ["reply from the laptop"]
    await d1.sync()
    await d2.sync()
    for d in (d1, d2):
        assert d.history(peer)[-1].status == MessageStatus.DELIVERED


async def test_the_peers_reply_and_a_read_reach_both_devices(setup: Devices3) -> None:
    d1, d2, p, peer = setup
    await d1.send_text(peer, "hello")
    await p.sync()
    answer = await p.send_text("me", "how are you?")
    for d in (d1, d2):
        got = [e.message for e in await d.sync() if isinstance(e, MessageReceived)]
        assert [(m.message_id, m.text) for m in got] == [(answer.message_id, "how are you?")]
    assert await d2.mark_read(peer) == 2  # "first" and "how are you?"
    await d1.sync()
    incoming = [m for m in d1.history(peer) if m.direction == Direction.IN]
    assert [m.status for m in incoming] == [MessageStatus.READ, MessageStatus.READ]
    assert await d1.mark_read(peer) == 0  # nothing left unread: no second read receipt from d1
    await p.sync()
    assert p.history("me")[-1].status == MessageStatus.READ


async def test_timer_and_delete_reach_all_three(setup: Devices3) -> None:
    d1, d2, p, peer = setup
    doomed = await d1.send_text(peer, "sent to the wrong person")
    await d1.set_timer(peer, 3600)
    await d2.sync()
    await p.sync()
    assert d2.contact(peer).timer_s == 3600
    assert p.contact("me").timer_s == 3600
    assert doomed.message_id in [m.message_id for m in d2.history(peer)]
    assert doomed.message_id in [m.message_id for m in p.history("me")]

    await d1.delete_for_everyone(peer, doomed.message_id)
    await d2.sync()
    await p.sync()
    for client, name in ((d1, peer), (d2, peer), (p, "me")):
        assert doomed.message_id not in [m.message_id for m in client.history(name)]


async def test_a_forged_sync_or_snapshot_from_a_peer_plants_nothing(setup: Devices3, make_client: MakeClient) -> None:
    d1, _, p, peer = setup
    q = await make_client("q", "therapist")
    q.add_contact("me", d1.invite_code())
    await q.send_text("me", "I am the other therapist")
    await d1.sync()
    await d1.send_text(peer, "hello")  # p now holds a session it may write on
    await p.sync()
    before = _thread(d1, q.address)

    rec = p._contacts.find("me")
    forged_text = Content(new_message_id(os.urandom), 1, 0, Text("planted: stop your treatment"))
    forged = Content(forged_text.message_id, 1, 0, SentSync(bytes(d1._contacts.find(q.address).address), forged_text))
    snapshot = ContactSnapshot(
        d1._contacts.find(q.address).address,
        p._keys.identity.public.to_bytes(),
        True,
        True,
        False,
        "q",
        0,
        None,
        None,
    )
    rec = await p._messaging.writable(rec)
    p._messaging.queue(rec, forged, None)
    p._messaging.queue(rec, Content(new_message_id(os.urandom), 1, 0, snapshot), None)
    await p._messaging.flush()

    events = await d1.sync()
    assert not [e for e in events if isinstance(e, MessageReceived | MessageSynced)]
    assert _thread(d1, q.address) == before  # nothing planted in q's thread
    assert not d1.contact(q.address).blocked  # the snapshot was dropped too
    assert forged_text.message_id.hex() not in [m.message_id for m in d1.history(peer)]


async def test_a_message_from_a_removed_device_is_refused(setup: Devices3, make_client: MakeClient) -> None:
    d1, d2, p, peer = setup
    await d1.send_text(peer, "hello")
    await p.sync()
    await d2.sync()
    # d2 seals a message to p while listed; it leaves before the relay carries it.
    rec = await d2._messaging.writable(d2._contacts.find(peer))
    d2._messaging.queue(rec, Content(new_message_id(os.urandom), 1, 0, Text("from the stolen phone")), None)
    queued = [entry.data for entry in d2._store.outbox() if entry.contact_id == rec.contact_id]
    transcripts = [entry.data for entry in d2._store.outbox() if entry.contact_id == OWN_THREAD]
    assert queued
    assert transcripts  # its SYNC of that text, to d1
    await d1.remove_device(d2.device_id)
    await p.sync()  # p learns the list without d2 (a DEVICES content from d1)
    assert p._sessions.device_listed(d1._keys.identity.public, d2._keys.device.device_id) is False

    # Someone holding the sealed envelope posts it anyway (sealed sender: any device may carry it).
    q = await make_client("q")
    for data in queued:
        r = Reader(data, StorageError)
        r.var8()  # the message id the outbox keeps beside the envelope
        await q._relay.post_envelope(r.rest())
    events = await p.sync()
    assert [e for e in events if isinstance(e, MessageUndecryptable)] == [MessageUndecryptable("me", UNLISTED_DEVICE)]
    assert "from the stolen phone" not in [m.text for m in p.history("me")]
    # And d1 takes no transcript from the device it removed.
    for data in transcripts:
        r = Reader(data, StorageError)
        r.var8()
        await q._relay.post_envelope(r.rest())
    assert [e for e in await d1.sync() if isinstance(e, MessageSynced)] == []
    assert "from the stolen phone" not in [m.text for m in d1.history(peer)]


async def test_two_devices_meeting_a_stranger_at_once_give_the_same_token(
    setup: Devices3, make_client: MakeClient
) -> None:
    d1, d2, p, peer = setup
    one, two = d1._contacts.find(peer), d2._contacts.find(peer)
    assert one.inbound_token is not None
    assert one.inbound_token == two.inbound_token
    assert one.request
    assert two.request
    # A different identity derives another token for the same stranger.
    other = await make_client("other")
    p.add_contact("other", other.invite_code())
    await p.send_text("other", "hi")
    await other.sync()
    assert other._contacts.find(peer).inbound_token not in (None, one.inbound_token)


async def test_a_block_and_an_unblock_reach_the_other_device_and_never_bring_back_the_blocked_token(
    setup: Devices3,
) -> None:
    d1, d2, p, peer = setup
    await d1.send_text(peer, "hello")  # accepts p; d2 learns the contact from the snapshot
    await d2.sync()
    first = d1._contacts.find(peer).inbound_token
    assert d2._contacts.find(peer).inbound_token == first

    await d1.block(peer)
    await d1._messaging.own_posted()  # the snapshot goes out in the background
    await d2.sync()
    assert d2.contact(peer).blocked
    assert d2._contacts.find(peer).inbound_token == first
    await p.send_text("me", "are you there?")
    assert [e for e in await d2.sync() if isinstance(e, MessageReceived)] == []  # the relay refuses p's token

    await d2.unblock(peer)  # on the other device, whose generation lags behind d1's
    await d2._messaging.own_posted()
    fresh = d2._contacts.find(peer).inbound_token
    assert fresh not in (None, first)
    await d1.sync()
    assert not d1.contact(peer).blocked
    assert d1._contacts.find(peer).inbound_token == fresh
    await d1.block(peer)
    await d1.unblock(peer)
    assert d1._contacts.find(peer).inbound_token not in (first, fresh)


async def test_a_file_sent_from_one_device_is_fetched_by_the_other(setup: Devices3, tmp_path: Path) -> None:
    d1, d2, _, peer = setup
    doc = tmp_path / "homework.txt"
    doc.write_bytes(b"write down three things that went well\n" * 100)
    sent = await d1.send_file(peer, doc, caption="for Tuesday")
    synced = [e.message for e in await d2.sync() if isinstance(e, MessageSynced)]
    assert [(m.message_id, m.text, m.direction) for m in synced] == [(sent.message_id, "for Tuesday", Direction.OUT)]
    kept = next(m for m in d2.history(peer) if m.message_id == sent.message_id)
    assert kept.attachment is not None
    assert kept.attachment.name == "homework.txt"
    assert kept.attachment.downloaded  # its encrypted blob is kept here, like a received file's


async def test_a_rename_reaches_the_other_device_as_one_line_of_at_most_128_bytes(setup: Devices3) -> None:
    d1, d2, _, peer = setup
    await d1.send_text(peer, "hello")
    await d2.sync()
    d1.rename_contact(peer, "Dr. Rivera")
    await d1._messaging.own_posted()
    await d2.sync()
    assert d2.contact("Dr. Rivera").address == peer
    d1.rename_contact("Dr. Rivera", "Dr.\tRivera " + "x" * 200)  # a local name may be longer than a snapshot's
    await d1._messaging.own_posted()
    await d2.sync()
    names = [c.name for c in d2.contacts() if c.address == peer]
    assert names == [("Dr. Rivera " + "x" * 200)[:128]]
