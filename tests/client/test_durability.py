"""Ack only after commit: a crash between storing and acknowledging redelivers without duplicates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from confide.client import Client, MessageReceived, MessageStatus, RelayUnreachable
from confide.client.invite import Invite

from .conftest import PASSPHRASE, MakeClient, introduce


async def test_crash_before_ack_redelivers_without_duplicates(make_client: MakeClient, tmp_path: Path) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    for i in range(3):
        await a.send_text("b", f"m{i}")

    # Bob fetches and stores every message, then "crashes" before acknowledging any of them.
    raw, _ = await b._relay.fetch()
    assert len(raw) == 3
    for delivery in raw:
        b._inbox.handle(delivery)
    assert [m.text for m in b.history("a")] == ["m0", "m1", "m2"]
    await b.close()

    reopened = await Client.open(tmp_path / "bob", PASSPHRASE)
    try:
        events = await reopened.sync()  # the relay redelivers all three: stored once, reported once
        # They were stored before the crash but never reported to the application, so this sync reports
        # them (each exactly once) although their redelivered envelopes are dropped as already processed.
        assert [e.message.text for e in events if isinstance(e, MessageReceived)] == ["m0", "m1", "m2"]
        assert [m.text for m in reopened.history("a")] == ["m0", "m1", "m2"]
        # ...and they were acknowledged this time: the mailbox is empty.
        again, more = await reopened._relay.fetch()
        assert again == []
        assert not more
        # The conversation continues with the ratchet state that was committed with the messages.
        await a.send_text("b", "m3")
        assert [e.message.text for e in await reopened.sync() if isinstance(e, MessageReceived)] == ["m3"]
    finally:
        await reopened.close()


async def test_same_message_in_two_envelopes_is_shown_once(make_client: MakeClient) -> None:
    """A content message id seen twice (e.g. a sender retrying after a lost answer) is stored once."""
    from confide.protocol.content import Content, Text, new_message_id

    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "first")
    await b.sync()
    rec = a._contacts.find("b")
    content = Content(new_message_id(a._rng), 1, 0, Text("retried"))
    a._messaging.queue(rec, content, None)
    a._messaging.queue(rec, content, None)
    await a.flush_outbox()
    events = await b.sync()
    assert [e.message.text for e in events if isinstance(e, MessageReceived)] == ["retried"]
    assert [m.text for m in b.history("a")] == ["first", "retried"]


async def test_relay_down_keeps_message_pending_then_sends(make_client: MakeClient, tmp_path: Path) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "hello")  # sessions exist now
    real_url = a._relay.base_url
    a._relay.base_url = "http://127.0.0.1:9"  # nothing listens on the discard port
    msg = await a.send_text("b", "queued while offline")
    assert msg.status == MessageStatus.PENDING
    assert [(q.message_id, q.peer, q.kind) for q in a.queued()] == [(msg.message_id, "b", "message")]
    a._relay.base_url = real_url
    await a.sync()
    assert a.history("b")[-1].status == MessageStatus.SENT
    assert a.queued() == []
    texts = [e.message.text for e in await b.sync() if isinstance(e, MessageReceived)]
    assert texts == ["hello", "queued while offline"]


async def test_refused_message_is_marked_failed_not_sent(make_client: MakeClient) -> None:
    """A final refusal (a delivery token the recipient does not accept) is returned and shown as failed.

    One answer to "was this send queued?": the send returns the stored message (it does not raise), with
    status ``failed`` and the relay's reason.
    """
    a = await make_client("alice")
    b = await make_client("bob")
    wrong = Invite(Invite.parse(b.invite_code()).address, os.urandom(32)).code
    a.add_contact("b", wrong)
    msg = await a.send_text("b", "hello?")
    assert msg.status == MessageStatus.FAILED
    assert msg.failure == "the recipient device does not accept this delivery token"
    assert [(m.text, m.status, m.failure) for m in a.history("b")] == [("hello?", "failed", msg.failure)]
    assert a.queued() == []
    assert await a.flush_outbox() == []  # dropped, not retried forever


async def test_a_send_that_raises_keeps_nothing(make_client: MakeClient) -> None:
    """The other half of the answer: when a send raises, nothing was kept (no row, nothing queued)."""
    a = await make_client("alice")
    b = await make_client("bob")
    a.add_contact("b", b.invite_code())
    a._relay.base_url = "http://127.0.0.1:9"  # no session yet and the relay is gone: keys cannot be fetched
    with pytest.raises(RelayUnreachable):
        await a.send_text("b", "first words")
    assert a.history("b") == []
    assert a.queued() == []
