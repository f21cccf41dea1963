"""Two and three clients against a real relay on loopback, through the library."""

from __future__ import annotations

from confide.client import MessageReceived, ReceiptReceived

from .conftest import MakeClient, introduce


async def test_offline_delivery_both_ways(make_client: MakeClient) -> None:
    therapist = await make_client("therapist", "therapist")
    client = await make_client("client")
    introduce_ = client.add_contact("dr", therapist.invite_code())
    assert introduce_.can_send

    # The therapist is not connected: the message waits on the relay.
    sent = await client.send_text("dr", "I had a hard week")
    assert sent.status == "sent"

    events = await therapist.sync()
    received = [e for e in events if isinstance(e, MessageReceived)]
    assert len(received) == 1
    assert received[0].message.text == "I had a hard week"
    # The therapist never had the client's invite: the contact was created from the sealed sender.
    contacts = therapist.contacts()
    assert [c.address for c in contacts] == [client.address]
    peer = contacts[0].name

    # Reply while the client is offline, using the reply token that came with the message.
    await therapist.send_text(peer, "Thank you for writing. Tell me more?")
    events = await client.sync()
    texts = [e.message.text for e in events if isinstance(e, MessageReceived)]
    assert texts == ["Thank you for writing. Tell me more?"]
    # The delivery receipt of the therapist's device arrived too.
    receipts = [e for e in events if isinstance(e, ReceiptReceived)]
    assert receipts
    assert receipts[0].kind == "delivered"
    assert [m.status for m in client.history("dr")] == ["delivered", "unread"]


async def test_three_clients_one_therapist(make_client: MakeClient) -> None:
    therapist = await make_client("t", "therapist")
    clients = [await make_client(f"c{i}") for i in range(3)]
    for i, c in enumerate(clients):
        c.add_contact("dr", therapist.invite_code())
        await c.send_text("dr", f"hello from {i}")
    events = await therapist.sync()
    texts = sorted(e.message.text for e in events if isinstance(e, MessageReceived))
    assert texts == ["hello from 0", "hello from 1", "hello from 2"]
    assert len(therapist.contacts()) == 3
    for i, c in enumerate(clients):
        therapist.rename_contact(c.address, f"client {i}")
        await therapist.send_text(f"client {i}", f"hi {i}")
    for i, c in enumerate(clients):
        events = await c.sync()
        assert [e.message.text for e in events if isinstance(e, MessageReceived)] == [f"hi {i}"]


async def test_read_receipts_and_conversation(make_client: MakeClient) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    for i in range(3):
        await a.send_text("b", f"m{i}")
    await b.sync()
    assert await b.mark_read("a") == 3
    events = await a.sync()
    kinds = {e.kind for e in events if isinstance(e, ReceiptReceived)}
    assert "read" in kinds
    assert [m.status for m in a.history("b")] == ["read"] * 3
    # Both sides now write alternately; the ratchet advances and nothing is lost.
    for i in range(4):
        await b.send_text("a", f"b{i}")
        await a.sync()
        await a.send_text("b", f"a{i}")
        await b.sync()
    assert [m.text for m in b.history("a")][-2:] == ["b3", "a3"]
    assert len(a.history("b")) == 3 + 8
