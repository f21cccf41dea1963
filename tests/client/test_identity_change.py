"""Attacks on identity pinning (issue 8, point 9) and on strangers (point 13, message requests).

The attacker, Mallory, talks the user (Bob) into adding her invite under his therapist's name ("Dr. Rivera
has a new invite code"). Until Bob accepts that change, nothing Mallory sends may act on the thread, and what
she writes is shown under her own address, never under the trusted name. Bob can reject the change and keep
the identity he pinned. A stranger who merely holds Bob's delivery token learns nothing from automatic
receipts until Bob accepts them as a contact.
"""

from __future__ import annotations

from confide.client import (
    Client,
    Event,
    MessageReceived,
    MessageStatus,
    MessageUndecryptable,
    ReceiptReceived,
    TimerChanged,
    Trust,
    UntrustedIdentity,
)
from confide.protocol.content import Content, Delete, Receipt, ReceiptKind, new_message_id

from .conftest import MakeClient, introduce


async def _tricked(make_client: MakeClient) -> tuple[Client, Client, Client]:
    """Alice (the therapist, pinned as "dr"), Bob, and Mallory whose invite Bob added under "dr"."""
    alice = await make_client("alice")
    bob = await make_client("bob")
    mallory = await make_client("mallory")
    await introduce(alice, bob, "b", "dr")
    await alice.send_text("b", "Hello Bob, see you Tuesday.")
    await bob.sync()
    bob.add_contact("dr", mallory.invite_code())  # the social-engineering step
    assert bob.contact("dr").trust == Trust.CHANGED
    mallory.add_contact("bob", bob.invite_code())
    return alice, bob, mallory


def _queue_control(sender: Client, peer: str, body: Delete | Receipt) -> None:
    """What a modified client can send: a control message built below the public API."""
    rec = sender._contacts.find(peer)
    sender._messaging.queue(rec, Content(new_message_id(sender._rng), 1, 0, body), None)


async def test_unaccepted_identity_cannot_change_the_timer_or_pose_as_the_trusted_name(
    make_client: MakeClient,
) -> None:
    _alice, bob, mallory = await _tricked(make_client)
    await mallory.set_timer("bob", 10)
    await mallory.send_text("bob", "This is Dr. Rivera. Call me at this number.")
    events: list[Event] = await bob.sync()
    assert bob.contact("dr").timer_s == 0  # the timer did not change
    assert not [e for e in events if isinstance(e, TimerChanged)]
    received = [e for e in events if isinstance(e, MessageReceived)]
    assert len(received) == 1
    assert received[0].peer == mallory.address  # named by her address, never "dr"
    assert received[0].message.peer == mallory.address
    assert received[0].message.unverified_identity
    shown = [m for m in bob.history("dr") if m.unverified_identity]
    assert [(m.peer, m.text) for m in shown] == [(mallory.address, "This is Dr. Rivera. Call me at this number.")]


async def test_unaccepted_identity_cannot_delete_or_mark_read(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    mallory = await make_client("mallory")
    await introduce(alice, bob, "b", "dr")
    await alice.send_text("b", "Hello Bob, see you Tuesday.")
    await bob.sync()
    [from_alice] = bob.history("dr")
    sent = await bob.send_text("dr", "Thank you, Tuesday is fine.")
    bob.add_contact("dr", mallory.invite_code())  # the social-engineering step
    mallory.add_contact("bob", bob.invite_code())
    await mallory.send_text("bob", "hi")  # Mallory's first message starts her session with Bob
    await bob.sync()
    _queue_control(mallory, "bob", Delete(bytes.fromhex(from_alice.message_id)))
    _queue_control(mallory, "bob", Receipt(ReceiptKind.READ, (bytes.fromhex(sent.message_id),)))
    await mallory.flush_outbox()
    events = await bob.sync()
    assert [m.text for m in bob.history("dr") if m.message_id == from_alice.message_id] == [from_alice.text]
    assert [m.status for m in bob.history("dr") if m.message_id == sent.message_id] == [MessageStatus.SENT]
    assert not [e for e in events if isinstance(e, ReceiptReceived)]


async def test_reject_keeps_the_pinned_identity_and_moves_the_stranger_out(make_client: MakeClient) -> None:
    alice, bob, mallory = await _tricked(make_client)
    await mallory.send_text("bob", "It's me, Dr. Rivera, new phone.")
    await bob.sync()
    contact = bob.reject_identity("dr")
    assert contact.trust == Trust.UNVERIFIED
    assert contact.can_send
    assert contact.address == alice.address
    # The thread is Alice's again; what Mallory wrote lives under her own address.
    assert all(not m.unverified_identity for m in bob.history("dr"))
    assert [m.text for m in bob.history(mallory.address)] == ["It's me, Dr. Rivera, new phone."]
    # Bob and Alice carry on; Mallory's further messages stay in her own (stranger) thread.
    await bob.send_text("dr", "Sorry, someone pretended to be you.")
    assert [e.message.text for e in await alice.sync() if isinstance(e, MessageReceived)] == [
        "Sorry, someone pretended to be you."
    ]
    await mallory.send_text("bob", "again")
    received = [e for e in await bob.sync() if isinstance(e, MessageReceived)]
    assert [(e.peer, e.message.text) for e in received] == [(mallory.address, "again")]
    assert bob.contact("dr").trust == Trust.UNVERIFIED


async def test_re_adding_the_genuine_invite_clears_the_pending_change(make_client: MakeClient) -> None:
    alice, bob, _mallory = await _tricked(make_client)
    contact = bob.add_contact("dr", alice.invite_code())
    assert contact.trust == Trust.UNVERIFIED
    assert contact.can_send
    await bob.send_text("dr", "back to the real you")
    assert [e.message.text for e in await alice.sync() if isinstance(e, MessageReceived)] == ["back to the real you"]


async def test_sending_stays_blocked_while_a_change_is_pending(make_client: MakeClient) -> None:
    _alice, bob, _mallory = await _tricked(make_client)
    try:
        await bob.send_text("dr", "hello?")
    except UntrustedIdentity:
        pass
    else:
        raise AssertionError("sending to a contact with a pending identity change must be refused")
    assert [m.text for m in bob.history("dr") if m.direction == "out"] == []


async def test_a_stranger_gets_no_delivery_receipt_until_accepted(make_client: MakeClient) -> None:
    """A stranger who holds the delivery token must not learn that the device is active."""
    bob = await make_client("bob")
    stranger = await make_client("stranger")
    stranger.add_contact("bob", bob.invite_code())
    probe = await stranger.send_text("bob", "are you there?")
    events = await bob.sync()
    [request] = [c for c in bob.contacts() if c.address == stranger.address]
    assert request.request
    assert [e.message.text for e in events if isinstance(e, MessageReceived)] == ["are you there?"]
    await bob.mark_read(stranger.address)  # reading does not tell the stranger either
    await stranger.sync()
    assert [m.status for m in stranger.history("bob")] == [MessageStatus.SENT]
    assert probe.status == MessageStatus.SENT

    accepted = bob.accept_contact(stranger.address)
    assert not accepted.request
    await bob.flush_outbox()
    await stranger.sync()
    assert [m.status for m in stranger.history("bob")] == [MessageStatus.READ]  # the held receipts


async def test_replying_accepts_a_request(make_client: MakeClient) -> None:
    bob = await make_client("bob")
    new_client = await make_client("sam")
    new_client.add_contact("dr", bob.invite_code())
    await new_client.send_text("dr", "I'd like to book a first session.")
    await bob.sync()
    await bob.send_text(new_client.address, "Welcome. Tuesday at 10?")
    assert not bob.contact(new_client.address).request
    await new_client.sync()
    assert [m.status for m in new_client.history("dr") if m.direction == "out"] == [MessageStatus.DELIVERED]


async def test_removing_a_contact_leaves_nothing_of_them_in_any_file(make_client: MakeClient) -> None:
    """Attack: after ``remove_contact``, search every file of the profile for any 16-byte block of the
    contact's sealed row and of their messages' sealed rows. The sessions went with them, so what they write
    on the old session afterwards cannot be read: it is dropped and named by their address, nothing stored."""
    import sqlite3

    bob = await make_client("bob")
    ex = await make_client("ex")
    await introduce(bob, ex, "ex", "bob")
    await ex.send_text("bob", "I know where you live.")
    await bob.sync()
    await bob.send_text("ex", "Please stop writing to me.")
    db = sqlite3.connect(bob.profile_dir / "store.db")
    [(contact_row,)] = db.execute("SELECT data FROM contacts").fetchall()
    message_rows = [bytes(r[0]) for r in db.execute("SELECT data FROM messages").fetchall()]
    db.close()
    sealed = [bytes(contact_row), *message_rows]
    assert len(sealed) == 3

    bob.remove_contact("ex")
    assert bob.contacts() == []
    blocks = {row[i : i + 16] for row in sealed for i in range(0, len(row) - 15, 16)}
    for path in [p for p in bob.profile_dir.rglob("*") if p.is_file()]:
        raw = path.read_bytes()
        assert not [b for b in blocks if b in raw], f"a removed contact's bytes survive in {path.name}"

    await ex.send_text("bob", "you can't block me")
    events = await bob.sync()
    assert [e.peer for e in events if isinstance(e, MessageUndecryptable)] == [ex.address]
    assert not [e for e in events if isinstance(e, MessageReceived)]
    assert bob.contacts() == []
