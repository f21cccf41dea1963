"""Disappearing messages: thread timers both sides see, per-message overrides, deletion for real."""

from __future__ import annotations

import os
import time
from pathlib import Path

from confide.client import MessageDeleted, TimerChanged

from .conftest import MakeClient, introduce


def _now() -> int:
    return int(time.time() * 1000)


async def test_thread_timer_expires_on_both_sides(make_client: MakeClient, tmp_path: Path) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    contact = await a.set_timer("b", 60)
    assert contact.timer_s == 60
    events = await b.sync()
    assert any(isinstance(e, TimerChanged) and e.seconds == 60 and e.by_peer for e in events)
    assert b.contact("a").timer_s == 60

    source = tmp_path / "photo.jpg"
    source.write_bytes(os.urandom(2000))
    sent = await a.send_text("b", "this disappears")
    await a.send_file("b", source)
    assert sent.expire_after_s == 60
    assert sent.expires_at_ms is not None
    # The sender's copy is timed from sending.
    assert a.expire_now(_now() + 30_000) == []
    assert len(a.expire_now(_now() + 61_000)) == 2
    assert [m.kind for m in a.history("b")] == ["timer"]

    await b.sync()
    texts = [m for m in b.history("a") if m.kind != "timer"]
    assert len(texts) == 2
    assert all(m.expires_at_ms is None for m in texts)
    assert len(list((b.profile_dir / "attachments").iterdir())) == 1
    # Not read yet: even long after, nothing expires.
    assert b.expire_now(_now() + 3_600_000) == []
    read_at = _now()
    await b.mark_read("a", now_ms=read_at)
    assert b.expire_now(read_at + 59_000) == []
    deleted = b.expire_now(read_at + 60_000)
    assert sorted(deleted) == sorted(m.message_id for m in texts)
    assert [m.kind for m in b.history("a")] == ["timer"]
    # The attachment file went with its message.
    assert list((b.profile_dir / "attachments").iterdir()) == []


async def test_per_message_override_and_delete_for_everyone(make_client: MakeClient) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    keep = await a.send_text("b", "kept", expire_after_s=0)
    brief = await a.send_text("b", "brief", expire_after_s=5)
    assert keep.expires_at_ms is None
    assert brief.expire_after_s == 5
    await b.sync()
    await b.mark_read("a")
    assert b.expire_now(_now() + 6_000) == [brief.message_id]
    assert [m.text for m in b.history("a")] == ["kept"]

    await a.delete_for_everyone("b", keep.message_id)
    assert a.history("b") == [] or all(m.message_id != keep.message_id for m in a.history("b"))
    events = await b.sync()
    assert any(isinstance(e, MessageDeleted) and e.message_id == keep.message_id for e in events)
    assert b.history("a") == []


async def test_relay_lifetime_never_exceeds_timer(make_client: MakeClient) -> None:
    from confide.protocol.envelope import Delivery
    from confide.server.config import DEFAULT_MAX_LIFETIME_S

    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "short-lived", expire_after_s=90)
    await a.send_text("b", "no timer")
    raw, _ = await b._relay.fetch()
    lifetimes = [(d.expires_at_ms - d.received_at_ms) // 1000 for d in map(Delivery.from_bytes, raw)]
    assert lifetimes == [90, DEFAULT_MAX_LIFETIME_S]  # the timer, and the operator maximum when there is none
