"""Blocking one contact with per-contact delivery tokens (issue 11), against a real relay.

After A blocks B the relay refuses B's token (B's message ends ``failed`` and nothing reaches A's mailbox), C
still writes to A, A may still write to B, B writing through the invite's introduction token is dropped by A's
client without a trace, unblocking restores delivery both ways, a relay that ignores the block still cannot
get B's messages shown, and no token reaches a log or a repr.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from confide.client import Client, MessageReceived, MessageStatus, ReceiptReceived, RelayUnreachable, account
from confide.client.account import MAX_DELIVERY_TOKENS
from confide.client.records import ContactRecord
from confide.protocol.envelope import delivery_token_hash
from confide.server.limits import MAX_TOKEN_HASHES

from .conftest import MakeClient, introduce, run
from .proxy import CuttingProxy

REFUSED = "the recipient device does not accept this delivery token"


def _held_for(tmp_path: Path, client: Client) -> int:
    """How many envelopes the relay's own database holds for ``client``'s device."""
    db = sqlite3.connect(tmp_path / "relay" / "relay.db")
    try:
        row = db.execute("SELECT count(*) FROM envelopes WHERE device_id = ?", (client._keys.device.device_id,))
        return int(row.fetchone()[0])
    finally:
        db.close()


def _registered(client: Client, tmp_path: Path) -> set[bytes]:
    """The delivery-token hashes the relay's database holds for ``client``'s device."""
    db = sqlite3.connect(tmp_path / "relay" / "relay.db")
    try:
        rows = db.execute(
            "SELECT token_hash FROM delivery_tokens WHERE device_id = ?", (client._keys.device.device_id,)
        )
        return {bytes(r[0]) for r in rows}
    finally:
        db.close()


def _record(client: Client, name: str) -> ContactRecord:
    return client._contacts.find(name)


async def _texts(client: Client) -> list[str]:
    return [e.message.text for e in await client.sync() if isinstance(e, MessageReceived)]


async def _three(make_client: MakeClient) -> tuple[Client, Client, Client]:
    """A therapist A with two clients B and C who have each exchanged a message with A (so each holds A's
    per-contact token for them)."""
    a, b, c = await make_client("a", "therapist"), await make_client("b"), await make_client("c")
    await introduce(a, b, "b", "a")
    await introduce(a, c, "c", "a")
    for peer in (b, c):
        await peer.send_text("a", "hello")
    assert await _texts(a) == ["hello", "hello"]
    for name, peer in (("b", b), ("c", c)):
        assert (await a.send_text(name, "welcome")).status == MessageStatus.SENT
        assert await _texts(peer) == ["welcome"]
    assert [type(e) for e in await a.sync()] == [ReceiptReceived, ReceiptReceived]  # B's and C's of "welcome"
    assert _held_for(a._paths.root.parent, a) == 0
    return a, b, c


async def test_each_contact_writes_with_a_token_of_their_own(make_client: MakeClient, tmp_path: Path) -> None:
    a, b, c = await _three(make_client)
    rb, rc = _record(a, "b"), _record(a, "c")
    assert rb.inbound_token is not None
    assert rc.inbound_token is not None
    assert len({rb.inbound_token, rc.inbound_token, a._account.token()}) == 3
    assert rb.inbound_live
    assert rc.inbound_live
    # Each client took over the token A gave it, from A's sealed sender certificate.
    assert _record(b, "a").token == rb.inbound_token
    assert _record(c, "a").token == rc.inbound_token
    assert _registered(a, tmp_path) == {
        delivery_token_hash(t) for t in (a._account.token(), rb.inbound_token, rc.inbound_token)
    }


async def test_a_blocked_contact_is_refused_by_the_relay_and_nobody_else_is_affected(
    make_client: MakeClient, tmp_path: Path
) -> None:
    a, b, c = await _three(make_client)
    blocked = await a.block("b")
    assert blocked.blocked
    assert not a.contact("c").blocked
    assert [x.blocked for x in a.contacts()] == [True, False]

    sent = await b.send_text("a", "are you there?")
    assert (sent.status, sent.failure) == (MessageStatus.FAILED, REFUSED)
    assert _held_for(tmp_path, a) == 0  # the relay stored nothing for A
    assert await _texts(a) == []

    assert (await c.send_text("a", "still here")).status == MessageStatus.SENT
    assert _held_for(tmp_path, a) == 1
    assert await _texts(a) == ["still here"]
    assert (await a.send_text("c", "good")).status == MessageStatus.SENT
    assert await _texts(c) == ["good"]
    assert [type(e) for e in await a.sync()] == [ReceiptReceived]  # C's

    # A can still write to B; B reads it, and B's reply is refused like any other message of theirs.
    assert (await a.send_text("b", "one last note")).status == MessageStatus.SENT
    assert await _texts(b) == ["one last note"]
    reply = await b.send_text("a", "thanks")
    assert reply.status == MessageStatus.FAILED
    assert _held_for(tmp_path, a) == 0
    assert [m.text for m in a.history("b")] == ["hello", "welcome", "one last note"]


async def test_writing_through_the_old_invite_is_dropped_without_a_trace(
    make_client: MakeClient, tmp_path: Path
) -> None:
    a, b, _c = await _three(make_client)
    await a.block("b")
    b.add_contact("a", a.invite_code())  # B falls back to the introduction token of A's invite
    assert _record(b, "a").token == a._account.token()
    secret = "I know where you live 7f3a9c"
    sent = await b.send_text("a", secret)
    assert sent.status == MessageStatus.SENT  # the relay accepts the introduction token
    assert _held_for(tmp_path, a) == 1
    a._store.checkpoint()
    before = _rows(a)
    assert await a.sync() == []  # no event at all
    assert _held_for(tmp_path, a) == 0  # acknowledged: gone from the relay
    assert _rows(a) == before  # nothing stored, not even a "seen" mark
    assert [m.text for m in a.history("b")] == ["hello", "welcome"]
    await b.sync()
    assert [m.status for m in b.history("a") if m.text == secret] == [MessageStatus.SENT]  # no receipt
    a._store.checkpoint()
    for path in (tmp_path / "a").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data, path
            assert secret.encode("utf-16-le") not in data, path


def _rows(client: Client) -> dict[str, int]:
    db = sqlite3.connect(client._paths.store)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: int(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
    finally:
        db.close()


async def test_rotating_the_invite_refuses_a_stranger_who_kept_it(make_client: MakeClient, tmp_path: Path) -> None:
    a, b, c = await _three(make_client)
    old_invite = a.invite_code()
    x = await make_client("x")
    x.add_contact("a", old_invite)
    await x.send_text("a", "let me in")
    [event] = await a.sync()
    assert isinstance(event, MessageReceived)
    assert a.contact(event.peer).request
    await a.block(event.peer, rotate_invite=True)
    assert a.invite_code() != old_invite
    refused = await x.send_text("a", "again")
    assert (refused.status, refused.failure) == (MessageStatus.FAILED, REFUSED)
    assert _held_for(tmp_path, a) == 0
    # Contacts with their own token are unaffected; the new invite works for a newcomer.
    for peer in (b, c):
        assert (await peer.send_text("a", "fine")).status == MessageStatus.SENT
    d = await make_client("d")
    d.add_contact("a", a.invite_code())
    assert (await d.send_text("a", "new here")).status == MessageStatus.SENT
    assert sorted(await _texts(a)) == ["fine", "fine", "new here"]


async def test_unblock_restores_delivery_both_ways(make_client: MakeClient, tmp_path: Path) -> None:
    a, b, _c = await _three(make_client)
    old = _record(a, "b").inbound_token
    await a.block("b")
    assert (await b.send_text("a", "blocked")).status == MessageStatus.FAILED
    unblocked = await a.unblock("b")
    assert not unblocked.blocked
    fresh = _record(a, "b").inbound_token
    assert fresh is not None
    assert fresh != old
    assert delivery_token_hash(fresh) in _registered(a, tmp_path)
    assert old is not None
    assert delivery_token_hash(old) not in _registered(a, tmp_path)
    assert (await a.send_text("b", "we can talk again")).status == MessageStatus.SENT
    assert await _texts(b) == ["we can talk again"]
    assert _record(b, "a").token == fresh
    assert (await b.send_text("a", "thank you")).status == MessageStatus.SENT
    assert await _texts(a) == ["thank you"]
    await b.sync()
    assert [m.status for m in b.history("a") if m.text == "thank you"] == [MessageStatus.DELIVERED]


class _IgnoresBlocks(CuttingProxy):
    """A relay that tells the client its new token set was stored, but keeps the old one."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "PUT" and request.path == "/v1/delivery-tokens":
            hashes = json.loads(await request.read())["token_hashes"]
            return web.json_response({"count": len(hashes)})
        return await super().handle(request)


@asynccontextmanager
async def _through(proxy: CuttingProxy, client: Client) -> AsyncIterator[None]:
    async with proxy.running() as url:
        real = client._relay.base_url
        client._relay.base_url = url
        try:
            yield
        finally:
            client._relay.base_url = real


async def test_a_relay_that_ignores_the_block_still_cannot_show_their_messages(
    make_client: MakeClient, relay_url: str, tmp_path: Path
) -> None:
    a, b, c = await _three(make_client)
    token_b = _record(a, "b").inbound_token
    assert token_b is not None
    async with _through(_IgnoresBlocks(relay_url), a):
        await a.block("b")
        assert delivery_token_hash(token_b) in _registered(a, tmp_path)  # the relay kept B's token
        sent = await b.send_text("a", "you cannot block me")
        assert sent.status == MessageStatus.SENT
        assert (await c.send_text("a", "hi")).status == MessageStatus.SENT
        assert _held_for(tmp_path, a) == 2
        assert await _texts(a) == ["hi"]  # B's is dropped, C's shown
        assert _held_for(tmp_path, a) == 0
    assert [m.text for m in a.history("b")] == ["hello", "welcome"]
    await b.sync()
    assert [m.status for m in b.history("a") if m.text == "you cannot block me"] == [MessageStatus.SENT]


async def test_an_existing_profile_keeps_its_contacts_working(make_client: MakeClient, tmp_path: Path) -> None:
    """A profile written before per-contact tokens: its contacts have no token of their own and write with the
    one shared token, which stays registered as the introduction token until each is sent their own."""
    a, b = await make_client("a"), await make_client("b")
    await introduce(a, b, "b", "a")
    with a._store.transaction():
        rec = _record(a, "b")
        rec.inbound_token, rec.inbound_live = None, False
        a._store.save_contact(rec)
        a._store.set_meta("profile.token_set", b"")
    assert (await b.send_text("a", "from before")).status == MessageStatus.SENT
    assert _record(b, "a").token == a._account.token()
    assert await _texts(a) == ["from before"]  # the sync registered a token for B
    minted = _record(a, "b").inbound_token
    assert minted is not None
    assert _record(a, "b").inbound_live
    assert await a.send_text("b", "hi") is not None
    assert await _texts(b) == ["hi"]
    assert _record(b, "a").token == minted
    await a.block("b")
    assert (await b.send_text("a", "after")).status == MessageStatus.FAILED


async def test_tokens_never_reach_a_log_or_a_repr(
    make_client: MakeClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    a, b, c = await _three(make_client)
    await a.block("b", rotate_invite=True)
    b.add_contact("a", a.invite_code())
    await b.send_text("a", "x")
    await a.sync()
    await a.unblock("b")
    await a.send_text("b", "y")
    await b.sync()
    tokens = {a._account.token(), b._account.token(), c._account.token()}
    reprs = []
    for client in (a, b, c):
        for rec in client._store.contacts():
            tokens |= {t for t in (rec.token, rec.inbound_token, rec.pending_token) if t is not None}
            reprs += [repr(rec), repr(client.contact(rec.name)), repr(client.contacts())]
    assert len(tokens) >= 7
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "dropping a message from a blocked contact" in logged  # the drop was logged, by kind only
    for text in [logged, *reprs]:
        for t in tokens:
            assert not any(spelling in text for spelling in _spelled(t))


def _spelled(token: bytes) -> set[str]:
    return {token.hex(), base64.b64encode(token).decode(), base64.b32encode(token).decode().lower().rstrip("=")}


def test_the_client_registers_no_more_than_the_relay_accepts() -> None:
    assert MAX_DELIVERY_TOKENS == MAX_TOKEN_HASHES


def test_block_and_unblock_from_the_command_line(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    me, dr = str(tmp_path / "me"), str(tmp_path / "dr")
    for profile, name in ((me, "Sam"), (dr, "Dr R")):
        assert run(capsys, "init", "--profile", profile, "--server", relay_thread, "--name", name)[0] == 0
    code, out, _ = run(capsys, "whoami", "--profile", dr, "--json")
    old_invite = json.loads(out)["invite"]
    assert run(capsys, "contacts", "add", "--profile", me, "dr", old_invite)[0] == 0
    code, out, _ = run(capsys, "block", "--profile", me, "dr")
    assert (code, out) == (0, "Blocked dr: the relay refuses their messages; whatever still arrives is dropped.\n")
    code, out, _ = run(capsys, "contacts", "list", "--profile", me)
    assert code == 0
    assert "(blocked: 'confide unblock dr' to hear from them again)" in out
    code, out, _ = run(capsys, "contacts", "list", "--profile", me, "--json")
    assert json.loads(out)[0]["blocked"] is True
    code, out, _ = run(capsys, "unblock", "--profile", me, "dr", "--json")
    assert code == 0
    assert json.loads(out) == {"contact": {**json.loads(_list(capsys, me))[0], "blocked": False}}
    code, out, err = run(capsys, "block", "--profile", me, "nobody")
    assert code == 8
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, "block", "--profile", dr, "Sam", "--rotate-invite", "--json")
    assert code == 8  # Sam never wrote to Dr R: not a contact there
    code, out, _ = run(capsys, "contacts", "add", "--profile", dr, "sam", json.loads(_whoami(capsys, me))["invite"])
    code, out, _ = run(capsys, "block", "--profile", dr, "sam", "--rotate-invite", "--json")
    shown = json.loads(out)
    assert code == 0
    assert shown["contact"]["blocked"] is True
    assert shown["new_invite"].startswith("cfi1:")
    assert shown["new_invite"] != old_invite
    assert json.loads(_whoami(capsys, dr))["invite"] == shown["new_invite"]
    code, out, _ = run(capsys, "block", "--profile", me, "dr", "--json")
    assert code == 0
    assert json.loads(out)["new_invite"] is None


def _list(capsys: pytest.CaptureFixture[str], profile: str) -> str:
    code, out, _ = run(capsys, "contacts", "list", "--profile", profile, "--json")
    assert code == 0
    return out


def _whoami(capsys: pytest.CaptureFixture[str], profile: str) -> str:
    code, out, _ = run(capsys, "whoami", "--profile", profile, "--json")
    assert code == 0
    return out


async def test_a_block_made_offline_holds_here_and_reaches_the_relay_with_the_next_sync(
    make_client: MakeClient, relay_url: str, tmp_path: Path
) -> None:
    a, b, _c = await _three(make_client)
    token_b = _record(a, "b").inbound_token
    assert token_b is not None
    down = CuttingProxy(relay_url)
    down.cut = True
    async with _through(down, a):
        with pytest.raises(RelayUnreachable, match="blocked on this device"):
            await a.block("b")
    assert a.contact("b").blocked
    assert delivery_token_hash(token_b) in _registered(a, tmp_path)  # the relay was not told yet
    assert (await b.send_text("a", "sent before A's sync")).status == MessageStatus.SENT
    assert await a.sync() == []  # the sync tells the relay first, then drops what B sent meanwhile
    assert delivery_token_hash(token_b) not in _registered(a, tmp_path)
    assert _held_for(tmp_path, a) == 0
    assert (await b.send_text("a", "after")).status == MessageStatus.FAILED


async def test_a_stranger_who_wrote_first_gets_their_own_token_with_the_reply(make_client: MakeClient) -> None:
    a, x = await make_client("a", "therapist"), await make_client("x")
    x.add_contact("a", a.invite_code())
    await x.send_text("a", "can we talk?")
    [event] = await a.sync()
    assert isinstance(event, MessageReceived)
    assert _record(x, "a").token == a._account.token()  # the introduction token, from the invite
    assert (await a.send_text(event.peer, "yes")).status == MessageStatus.SENT
    assert await _texts(x) == ["yes"]
    own = _record(a, event.peer).inbound_token
    assert own is not None
    assert own != a._account.token()
    assert _record(x, "a").token == own


async def test_beyond_the_cap_the_last_contacts_share_the_introduction_token(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(account, "MAX_DELIVERY_TOKENS", 3)
    a = await make_client("a", "therapist")
    peers = [await make_client(name) for name in ("b", "c", "d")]
    for name, peer in zip(("b", "c", "d"), peers, strict=True):
        a.add_contact(name, peer.invite_code())
        peer.add_contact("a", a.invite_code())
        assert (await a.send_text(name, "hello")).status == MessageStatus.SENT
        assert await _texts(peer) == ["hello"]
    own = [_record(a, name) for name in ("b", "c", "d")]
    assert [r.inbound_live for r in own] == [True, True, False]
    assert len(_registered(a, tmp_path)) == 3
    assert [_record(p, "a").token for p in peers] == [own[0].inbound_token, own[1].inbound_token, a._account.token()]
    for peer in peers:  # everyone still writes
        assert (await peer.send_text("a", "hi")).status == MessageStatus.SENT


async def test_a_copy_saved_after_a_block_cannot_undo_it(make_client: MakeClient, tmp_path: Path) -> None:
    """The race: a send (or a rename, a timer) reads the contact, awaits the network, then saves its copy. A
    block made in between must survive that save, and the blocked token must not come back."""
    a, b, _ = await _three(make_client)
    stale = _record(a, "b")  # read before the block, as a send would before its await
    before = stale.inbound_token
    await a.block("b")
    after = _record(a, "b")
    assert after.blocked
    stale.timer_s = 3600  # the caller's own change, which must land
    with a._store.transaction():
        a._store.save_contact(stale)
    saved = _record(a, "b")
    assert saved.blocked
    assert saved.timer_s == 3600
    assert saved.inbound_token == after.inbound_token
    assert delivery_token_hash(before or b"") not in _registered(a, tmp_path)
    # Through the public API: a block racing a send to the same contact still holds afterwards.
    await a.unblock("b")
    await asyncio.gather(a.send_text("b", "one more"), a.block("b"))
    assert _record(a, "b").blocked
    assert a.contact("b").blocked
    sent = await b.send_text("a", "still there?")
    assert (sent.status, sent.failure) == (MessageStatus.FAILED, REFUSED)
