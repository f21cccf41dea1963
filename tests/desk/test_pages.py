"""The Desk's pages, actions and live stream over a real loopback socket (no browser): a therapist's Desk on a
real relay, and a client profile writing to it through the library.

Each page renders for a real profile; peer text holding HTML or script shows as text on every page that shows
it; sending, uploading and saving files, delete for everyone, the timer, verification and export work; a file a
peer sent is only ever a download; a POST without the CSRF token changes nothing; the live stream tells an open
page of a new message within a second of it reaching the relay, and tells it nothing of its text unless the
person opted in.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from confide.client import Client, Direction, MessageStatus, Trust, qr_text
from confide.client.desk import DESK_SESSION, RunningDesk
from confide.keys.keystore import TEST_KDF
from confide.protocol.document_bodies import OfficeHours, Weekday

from .conftest import DESK_PASSPHRASE, StartDesk

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)><b>bold</b>'
"""A message a hostile peer writes: it must reach every page as text."""

LIVE_BUDGET_S = 1.0
"""The issue's promise: a message that reaches the relay shows in an open Desk within a second."""


@dataclass
class Desk:
    """A logged-in therapist's Desk: its URL, its HTTP session (with the cookie), its CSRF token, the Client it
    runs, and a client profile ``peer`` introduced both ways (``address``: the peer's address at the Desk)."""

    url: str
    http: aiohttp.ClientSession
    csrf: str
    client: Client
    peer: Client
    address: str

    def at(self, path: str) -> str:
        return self.url + path

    def thread(self, suffix: str = "") -> str:
        return self.at(f"/t/{self.address}{suffix}")


@pytest.fixture
async def desk(start_desk: StartDesk, tmp_path: Path, relay_url: str) -> AsyncIterator[Desk]:
    running: RunningDesk = await start_desk("therapist", "therapist")
    client = running.app[DESK_SESSION].client
    assert client is not None
    peer = await Client.create(tmp_path / "alex", DESK_PASSPHRASE, relay_url, "alex", "client", kdf=TEST_KDF)
    contact = client.add_contact("Alex", peer.invite_code())
    peer.add_contact("Dr Lee", client.invite_code())
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(running.login_url) as r:
            assert r.status == 200
        yield Desk(running.url, http, running.app[DESK_SESSION].csrf, client, peer, contact.address)
    await peer.close()


async def _page(desk: Desk, path: str) -> str:
    async with desk.http.get(desk.at(path), allow_redirects=False) as r:
        assert r.status == 200, path
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Cache-Control"] == "no-store"
        return await r.text()


async def _post(desk: Desk, path: str, data: dict[str, str], *, csrf: bool = True) -> aiohttp.ClientResponse:
    form = dict(data, csrf=desk.csrf) if csrf else data
    async with desk.http.post(desk.at(path), data=form, allow_redirects=False) as r:
        await r.read()
        return r


async def _peer_writes(desk: Desk, text: str) -> str:
    sent = await desk.peer.send_text("Dr Lee", text)
    await desk.client.sync()
    return sent.message_id


async def _peer_sees(desk: Desk) -> list[str]:
    await desk.peer.sync()
    return [m.text for m in desk.peer.history("Dr Lee") if m.direction == Direction.IN]


# -- pages ----------------------------------------------------------------------------------------------------
async def test_every_page_renders_for_a_real_profile(desk: Desk) -> None:
    await _peer_writes(desk, "Hello, can we move Thursday?")
    inbox = await _page(desk, "/")
    assert "Alex" in inbox
    assert "1 unread" in inbox
    assert "Waiting for your reply since" in inbox
    assert "Hello, can we move Thursday?" in inbox
    assert f'href="/t/{desk.address}"' in inbox
    thread = await _page(desk, f"/t/{desk.address}")
    assert "Hello, can we move Thursday?" in thread
    assert 'name="csrf"' in thread
    assert '<label for="compose-text">' in thread
    assert "Not verified" in thread
    assert "Hello, can we move Thursday?" in await _page(desk, f"/t/{desk.address}/messages")
    assert "Alex" in await _page(desk, "/inbox/list")
    search = await _page(desk, "/search?q=THURSDAY")
    assert "1 result" in search
    assert "Hello, can we move Thursday?" in search
    assert "0 results" in await _page(desk, "/search?q=nowhere")
    safety = await _page(desk, f"/t/{desk.address}/safety")
    number = await desk.client.safety_number(desk.address)
    assert number.display() in safety
    async with desk.http.get(desk.thread("/safety.png")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "image/png"
        assert (await r.read()).startswith(b"\x89PNG\r\n\x1a\n")
    settings = await _page(desk, "/settings")
    assert '<label for="notify-text">' in settings
    devices = await _page(desk, "/devices")
    assert "(this device)" in devices
    assert '<label for="link-code">' in devices


async def test_opening_a_thread_marks_it_read(desk: Desk) -> None:
    message_id = await _peer_writes(desk, "are you there?")
    await _page(desk, f"/t/{desk.address}")
    [received] = desk.client.history(desk.address)
    assert received.status == MessageStatus.READ
    await desk.peer.sync()
    [sent] = [m for m in desk.peer.history("Dr Lee") if m.message_id == message_id]
    assert sent.status == MessageStatus.READ
    assert "unread" not in await _page(desk, "/")


async def test_unknown_thread_is_a_plain_404(desk: Desk) -> None:
    async with desk.http.get(desk.at("/t/cf1-nobody")) as r:
        assert r.status == 404
        assert r.headers["Content-Type"].startswith("text/html")
        page = await r.text()
    assert "There is no such conversation." in page
    assert "Traceback" not in page


async def test_a_message_holding_html_and_script_shows_as_text(desk: Desk) -> None:
    desk.peer.rename_contact("Dr Lee", "Dr Lee")
    await _peer_writes(desk, SCRIPT)
    desk.client.rename_contact(desk.address, "<i>Alex</i>\u202eexe.txt")
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&lt;b&gt;bold&lt;/b&gt;"
    for path in ("/", "/inbox/list", f"/t/{desk.address}", f"/t/{desk.address}/messages", "/search?q=alert"):
        page = await _page(desk, path)
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert "<b>bold" not in page, path
        assert "<i>Alex" not in page, path
        assert "\u202e" not in page, path  # a bidi override is made visible, never applied
        assert "&lt;i&gt;Alex&lt;/i&gt;\\u202eexe.txt" in page, path
        if path != "/" and path != "/inbox/list":
            assert escaped in page, path
    assert "&lt;script&gt;alert" in await _page(desk, "/")


# -- actions --------------------------------------------------------------------------------------------------
async def test_sending_a_text(desk: Desk) -> None:
    r = await _post(desk, f"/t/{desk.address}/send", {"text": "See you at 3.\r\nBest, Dr Lee"})
    assert r.status == 303
    assert r.headers["Location"] == f"/t/{desk.address}"
    assert await _peer_sees(desk) == ["See you at 3.\nBest, Dr Lee"]
    assert "See you at 3." in await _page(desk, f"/t/{desk.address}")


async def test_an_empty_text_is_refused_in_one_sentence(desk: Desk) -> None:
    r = await _post(desk, f"/t/{desk.address}/send", {"text": "   "})
    assert r.status == 400
    assert desk.client.history(desk.address) == []


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(desk: Desk) -> None:
    r = await _post(desk, f"/t/{desk.address}/send", {"text": "forged"}, csrf=False)
    assert r.status == 403
    r = await _post(desk, f"/t/{desk.address}/timer", {"seconds": "300"}, csrf=False)
    assert r.status == 403
    r = await _post(desk, "/settings", {"notify_text": "yes"}, csrf=False)
    assert r.status == 403
    assert desk.client.history(desk.address) == []
    assert desk.client.contact(desk.address).timer_s == 0
    assert desk.client.notify_text is False
    assert await _peer_sees(desk) == []


async def test_uploading_a_file_sends_it_and_leaves_no_plaintext_behind(desk: Desk, tmp_path: Path) -> None:
    data = b"session notes\n" * 5000
    form = aiohttp.FormData()
    form.add_field("caption", "notes for Thursday")
    form.add_field("file", data, filename="../notes.txt", content_type="text/plain")
    headers = {"X-CSRF-Token": desk.csrf, "Accept": "application/json"}
    async with desk.http.post(desk.thread("/upload"), data=form, headers=headers) as r:
        assert r.status == 200
        assert (await r.json())["ok"] is True
    [sent] = desk.client.history(desk.address)
    assert sent.attachment is not None
    assert sent.attachment.name == "notes.txt"
    assert sent.attachment.caption == "notes for Thursday"
    temp = Client.temp_dir_of(desk.client.profile_dir)
    assert not temp.exists() or list(temp.iterdir()) == []
    await desk.peer.sync()
    [received] = [m for m in desk.peer.history("Dr Lee") if m.attachment is not None]
    saved = await desk.peer.save_attachment(received.message_id, tmp_path / "got")
    assert saved.read_bytes() == data


async def test_an_upload_without_the_csrf_header_is_refused(desk: Desk) -> None:
    form = aiohttp.FormData()
    form.add_field("file", b"x", filename="x.txt")
    async with desk.http.post(desk.thread("/upload"), data=form, headers={"Accept": "application/json"}) as r:
        assert r.status == 403
    assert desk.client.history(desk.address) == []


async def test_a_received_file_is_only_ever_a_download(desk: Desk) -> None:
    page = b"<html><script>document.title='owned'</script></html>"
    source = desk.peer.profile_dir.parent / "page.html"
    source.write_bytes(page)
    sent = await desk.peer.send_file("Dr Lee", source, caption="<b>see this</b>")
    await desk.client.sync()
    thread = await _page(desk, f"/t/{desk.address}")
    assert f"/t/{desk.address}/files/{sent.message_id}" in thread
    assert "&lt;b&gt;see this&lt;/b&gt;" in thread
    async with desk.http.get(desk.thread(f"/files/{sent.message_id}")) as r:
        assert r.status == 200
        body = await r.read()
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["Content-Disposition"].startswith('attachment; filename="page.html"')
        assert r.headers["Content-Security-Policy"].endswith("; sandbox")
        assert r.headers["Cache-Control"] == "no-store"
    assert body == page
    temp = Client.temp_dir_of(desk.client.profile_dir)
    assert list(temp.iterdir()) == []


async def test_downloading_a_message_that_is_not_a_received_file_is_a_404(desk: Desk) -> None:
    mine = await desk.client.send_text(desk.address, "hi")
    async with desk.http.get(desk.thread(f"/files/{mine.message_id}")) as r:
        assert r.status == 404
    async with desk.http.get(desk.thread("/files/00ff")) as r:
        assert r.status == 404


async def test_delete_for_everyone(desk: Desk) -> None:
    mine = await desk.client.send_text(desk.address, "sent to the wrong person")
    assert await _peer_sees(desk) == ["sent to the wrong person"]
    fragment = await _page(desk, f"/t/{desk.address}/messages")
    assert fragment.count(f'name="csrf" value="{desk.csrf}"') == 1  # the delete form carries the token
    assert f'name="message_id" value="{mine.message_id}"' in fragment
    r = await _post(desk, f"/t/{desk.address}/delete", {"message_id": mine.message_id})
    assert r.status == 303
    assert desk.client.history(desk.address) == []
    assert await _peer_sees(desk) == []
    r = await _post(desk, f"/t/{desk.address}/delete", {"message_id": mine.message_id})
    assert r.status == 404


async def test_deleting_a_message_the_peer_filed_says_a_copy_remains(desk: Desk) -> None:
    mine = await desk.client.send_text(desk.address, "your homework for next week")
    await desk.peer.sync()
    await desk.peer.file("Dr Lee", mine.message_id)
    await desk.client.sync()
    async with desk.http.post(
        desk.thread("/delete"), data={"csrf": desk.csrf, "message_id": mine.message_id}, allow_redirects=False
    ) as r:
        assert r.status == 303
        assert r.headers["Location"] == f"/t/{desk.address}?kept=1"
    page = await _page(desk, f"/t/{desk.address}?kept=1")
    assert "a filed copy remains there" in page
    assert "your homework" not in page


async def test_the_timer(desk: Desk) -> None:
    r = await _post(desk, f"/t/{desk.address}/timer", {"seconds": "3600", "custom": ""})
    assert r.status == 303
    assert desk.client.contact(desk.address).timer_s == 3600
    await desk.peer.sync()
    assert desk.peer.contact("Dr Lee").timer_s == 3600
    r = await _post(desk, f"/t/{desk.address}/timer", {"seconds": "0", "custom": "90m"})
    assert r.status == 303
    assert desk.client.contact(desk.address).timer_s == 5400
    r = await _post(desk, f"/t/{desk.address}/timer", {"seconds": "0", "custom": "soon"})
    assert r.status == 400
    assert desk.client.contact(desk.address).timer_s == 5400
    mine = await desk.client.send_text(desk.address, "this one disappears")
    thread = await _page(desk, f"/t/{desk.address}")
    assert f'id="m-{mine.message_id}" data-expires="{mine.expires_at_ms}"' in thread
    assert "Disappearing messages: 1h30m" in thread


async def test_verifying_by_the_digits(desk: Desk) -> None:
    r = await _post(desk, f"/t/{desk.address}/verify", {})
    assert r.status == 400
    assert desk.client.contact(desk.address).trust == Trust.UNVERIFIED
    r = await _post(desk, f"/t/{desk.address}/verify", {"confirm": "yes"})
    assert r.status == 303
    assert desk.client.contact(desk.address).trust == Trust.VERIFIED
    assert "Verified" in await _page(desk, f"/t/{desk.address}/safety")


async def test_verifying_by_a_scanned_code_checks_it(desk: Desk) -> None:
    other = await desk.client.safety_number(desk.address)
    wrong = qr_text(other.qr_payload()[:-1] + bytes([other.qr_payload()[-1] ^ 1]))
    r = await _post(desk, f"/t/{desk.address}/verify", {"scanned": wrong})
    assert r.status == 400
    assert desk.client.contact(desk.address).trust == Trust.UNVERIFIED
    r = await _post(desk, f"/t/{desk.address}/verify", {"scanned": "not a code"})
    assert r.status == 400
    assert desk.client.contact(desk.address).trust == Trust.UNVERIFIED
    theirs = await desk.peer.safety_number("Dr Lee")
    r = await _post(desk, f"/t/{desk.address}/verify", {"scanned": qr_text(theirs.qr_payload())})
    assert r.status == 303
    assert desk.client.contact(desk.address).trust == Trust.VERIFIED


async def test_exporting_a_thread(desk: Desk) -> None:
    await _peer_writes(desk, "first")
    await desk.client.send_text(desk.address, "second")
    async with desk.http.post(desk.thread("/export"), data={"csrf": desk.csrf}) as r:
        assert r.status == 200
        assert r.headers["Content-Disposition"] == 'attachment; filename="confide-thread.json"'
        assert r.headers["Cache-Control"] == "no-store"
        doc = json.loads(await r.read())
    assert [m["text"] for m in doc["messages"]] == ["first", "second"]


async def test_the_notification_setting_is_kept_in_the_profile(desk: Desk) -> None:
    assert desk.client.notify_text is False
    r = await _post(desk, "/settings", {"notify_text": "yes"})
    assert r.status == 303
    assert desk.client.notify_text is True
    assert re.search(r'id="notify-text"[^>]* checked', await _page(desk, "/settings"))
    r = await _post(desk, "/settings", {})
    assert desk.client.notify_text is False


# -- live -----------------------------------------------------------------------------------------------------
async def _next_event(stream: aiohttp.StreamReader) -> tuple[str, dict[str, str]]:
    kind = ""
    while True:
        line = (await stream.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind:
            return kind, json.loads(line.removeprefix("data: "))


async def test_the_live_stream_tells_of_a_new_message_within_a_second(desk: Desk) -> None:
    async with desk.http.get(desk.at("/events")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        assert r.headers["Cache-Control"] == "no-store"
        assert await r.content.readline() == b": live\n"
        await asyncio.sleep(0.3)  # the Client's live connection is up
        started = time.monotonic()
        await desk.peer.send_text("Dr Lee", "a secret the stream must not carry")
        kind, data = await asyncio.wait_for(_next_event(r.content), LIVE_BUDGET_S)
        assert time.monotonic() - started < LIVE_BUDGET_S
    assert kind == "message"
    assert data == {"thread": desk.address, "text": ""}


async def test_the_live_stream_carries_text_only_when_opted_in(desk: Desk) -> None:
    desk.client.notify_text = True
    async with desk.http.get(desk.at("/events")) as r:
        await r.content.readline()
        await asyncio.sleep(0.3)
        await desk.peer.send_text("Dr Lee", "running late")
        kind, data = await asyncio.wait_for(_next_event(r.content), LIVE_BUDGET_S * 3)
    assert (kind, data) == ("message", {"thread": desk.address, "text": "running late"})


async def test_the_live_stream_tells_of_a_receipt(desk: Desk) -> None:
    await desk.client.send_text(desk.address, "hello")
    async with desk.http.get(desk.at("/events")) as r:
        await r.content.readline()
        await asyncio.sleep(0.3)
        await desk.peer.sync()
        await desk.peer.mark_read("Dr Lee")
        kind, data = await asyncio.wait_for(_next_event(r.content), LIVE_BUDGET_S * 3)
    assert (kind, data) == ("update", {"thread": desk.address, "text": ""})


async def test_locking_tells_every_open_page_to_reload(desk: Desk) -> None:
    async with desk.http.get(desk.at("/events")) as stream:
        await stream.content.readline()
        await asyncio.sleep(0.1)
        async with desk.http.post(desk.at("/lock"), data={"csrf": desk.csrf}, allow_redirects=False) as r:
            assert r.status == 303
        kind, data = await asyncio.wait_for(_next_event(stream.content), LIVE_BUDGET_S)
    assert (kind, data) == ("reload", {"thread": "", "text": ""})
    async with desk.http.get(desk.at("/"), allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"] == "/locked"


async def test_the_live_stream_tells_how_far_a_file_being_sent_is(desk: Desk) -> None:
    async with desk.http.get(desk.at("/events")) as stream:
        await stream.content.readline()
        form = aiohttp.FormData()
        form.add_field("file", b"x" * 300_000, filename="scan.pdf")
        headers = {"X-CSRF-Token": desk.csrf, "Accept": "application/json"}
        async with desk.http.post(desk.thread("/upload"), data=form, headers=headers) as r:
            assert r.status == 200
        seen: list[int] = []
        while not seen or seen[-1] != 100:
            kind, data = await asyncio.wait_for(_next_event(stream.content), LIVE_BUDGET_S)
            assert kind == "progress"
            assert data["thread"] == desk.address
            seen.append(int(data["percent"]))
    assert all(0 <= p <= 100 for p in seen)
    assert seen[-1] == 100


async def test_the_client_view_centres_on_the_therapist(start_desk: StartDesk, tmp_path: Path, relay_url: str) -> None:
    """A client's Desk: their therapist first, as a verified provider, with the availability line on the inbox and
    the thread, and the practice's crisis notice on a new thread; the practice's words are escaped too."""
    practice = await Client.create(
        tmp_path / "harbour", DESK_PASSPHRASE, relay_url, "harbour", "practice", kdf=TEST_KDF
    )
    therapist = await Client.create(tmp_path / "ana", DESK_PASSPHRASE, relay_url, "ana", "therapist", kdf=TEST_KDF)
    try:
        admin = practice.practice_admin()
        admin.set_up()
        admin.set_policy("<b>Harbour</b> Therapy", "In an emergency call 911.", [("Emergency", "911")])
        await therapist.set_availability(
            time_zone="Europe/London", hours=(OfficeHours(Weekday.MONDAY, 9 * 60, 17 * 60),), reply_within_s=86400
        )
        card = therapist.contact_card()
        credential = admin.issue(card, "Dr. Ana Rivera", "PSY 1", "Board", "GB", list_in_directory=True)
        await admin.publish()
        await therapist.import_credential(credential)

        running = await start_desk("sam", "client")
        client = running.app[DESK_SESSION].client
        assert client is not None
        friend = await Client.create(tmp_path / "friend", DESK_PASSPHRASE, relay_url, "friend", "client", kdf=TEST_KDF)
        client.add_contact("a friend", friend.invite_code())
        await friend.close()
        pinned = await client.trust_practice(practice.address)
        listing = client.directory(pinned.address)[0]
        contact = client.start_from_directory(pinned.address, listing.number, "Dr. Rivera")
        assert contact.provider is not None
        assert contact.provider.verified
        line = client.availability(contact.address)
        assert line is not None

        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(running.login_url) as r:
                inbox = await r.text()
            async with http.get(f"{running.url}/t/{contact.address}") as r:
                thread = await r.text()
        assert "Your conversations" in inbox
        assert inbox.index("Your therapists") < inbox.index("Dr. Rivera") < inbox.index("Other conversations")
        assert inbox.index("Dr. Rivera") < inbox.index("a friend")
        assert "Verified provider (&lt;b&gt;Harbour&lt;/b&gt; Therapy)" in inbox
        assert "usually replies within" in inbox
        assert "Verified provider: Dr. Ana Rivera, Board PSY 1" in thread
        assert "usually replies within" in thread
        assert "If you need help now" in thread
        assert "In an emergency call 911." in thread
        assert "Emergency: 911" in thread
        assert "<b>Harbour" not in thread
    finally:
        await practice.close()
        await therapist.close()


# -- what a therapist still could not do: requests, identity changes, failures, blocking, reports -----------------
async def test_a_message_request_is_accepted_or_renamed_from_its_thread(
    desk: Desk, tmp_path: Path, relay_url: str
) -> None:
    stranger = await Client.create(tmp_path / "kim", DESK_PASSPHRASE, relay_url, "kim", "client", kdf=TEST_KDF)
    async with stranger:
        stranger.add_contact("Dr Lee", desk.client.invite_code())
        sent = await stranger.send_text("Dr Lee", "I found you in the <b>directory</b>")
        await desk.client.sync()
        [contact] = [c for c in desk.client.contacts() if c.request]
        assert contact.name == stranger.address  # strangers appear under their address
        inbox = await _page(desk, "/")
        assert '<li class="request">New contact request</li>' in inbox
        thread = await _page(desk, f"/t/{contact.address}")
        assert "New contact request: they get no delivery or read receipts until you accept" in thread
        assert f'action="/t/{contact.address}/accept"' in thread
        assert '<label for="rename-name">Name</label>' in thread
        assert "I found you in the &lt;b&gt;directory&lt;/b&gt;" in thread
        await stranger.sync()
        assert [m.status for m in stranger.history("Dr Lee")] == [MessageStatus.SENT]  # no receipt went out

        assert (await _post(desk, f"/t/{contact.address}/accept", {}, csrf=False)).status == 403
        assert (await _post(desk, f"/t/{contact.address}/rename", {"name": "Kim"}, csrf=False)).status == 403
        assert desk.client.contact(contact.address).request is True
        assert desk.client.contact(contact.address).name == stranger.address

        assert (await _post(desk, f"/t/{contact.address}/rename", {"name": "  "})).status == 400
        assert (await _post(desk, f"/t/{contact.address}/rename", {"name": "Alex"})).status == 409  # taken
        assert (await _post(desk, f"/t/{contact.address}/rename", {"name": "K" * 201})).status == 400
        assert desk.client.contact(contact.address).request is True
        r = await _post(desk, f"/t/{contact.address}/rename", {"name": "Kim <new>"})
        assert r.status == 303
        assert r.headers["Location"] == f"/t/{contact.address}"
        renamed = desk.client.contact(contact.address)
        assert (renamed.name, renamed.request) == ("Kim <new>", False)  # a rename accepts them too
        thread = await _page(desk, f"/t/{contact.address}")
        assert "New contact request" not in thread
        assert "<h1>Kim &lt;new&gt;</h1>" in thread
        await desk.client.flush_outbox()
        await stranger.sync()
        [mine] = stranger.history("Dr Lee")
        assert (mine.message_id, mine.status) == (sent.message_id, MessageStatus.READ)  # held-back receipts went


async def test_accepting_a_message_request(desk: Desk, tmp_path: Path, relay_url: str) -> None:
    stranger = await Client.create(tmp_path / "kim", DESK_PASSPHRASE, relay_url, "kim", "client", kdf=TEST_KDF)
    async with stranger:
        stranger.add_contact("Dr Lee", desk.client.invite_code())
        await stranger.send_text("Dr Lee", "hello?")
        await desk.client.sync()
        r = await _post(desk, f"/t/{stranger.address}/accept", {})
        assert r.status == 303
        assert desk.client.contact(stranger.address).request is False
        assert "New contact request" not in await _page(desk, f"/t/{stranger.address}")
        assert "New contact request" not in await _page(desk, "/")


async def _identity_changes(desk: Desk, tmp_path: Path, relay_url: str) -> Client:
    """The therapist is talked into adding another person's invite under Alex's name: Alex's identity changed."""
    other = await Client.create(tmp_path / "mallory", DESK_PASSPHRASE, relay_url, "m", "client", kdf=TEST_KDF)
    desk.client.add_contact("Alex", other.invite_code())
    assert desk.client.contact(desk.address).trust == Trust.CHANGED
    return other


async def test_an_identity_change_refuses_sending_until_accepted(desk: Desk, tmp_path: Path, relay_url: str) -> None:
    other = await _identity_changes(desk, tmp_path, relay_url)
    async with other:
        thread = await _page(desk, f"/t/{desk.address}")
        assert "This contact's identity changed" in thread
        assert f'href="/t/{desk.address}/safety"' in thread
        assert f'action="/t/{desk.address}/identity/accept"' in thread
        assert f'action="/t/{desk.address}/identity/reject"' in thread
        assert "Sending is refused until you accept or reject" in thread

        r = await _post(desk, f"/t/{desk.address}/send", {"text": "are you still there?"})
        assert r.status == 409
        assert "accept or reject the change before writing again" in await r.text()
        headers = {"Accept": "application/json"}
        async with desk.http.post(
            desk.thread("/send"), data={"csrf": desk.csrf, "text": "x"}, headers=headers, allow_redirects=False
        ) as j:
            assert j.status == 409
            assert (await j.json())["ok"] is False
        assert desk.client.history(desk.address) == []

        assert (await _post(desk, f"/t/{desk.address}/identity/accept", {}, csrf=False)).status == 403
        assert (await _post(desk, f"/t/{desk.address}/identity/reject", {}, csrf=False)).status == 403
        assert desk.client.contact(desk.address).trust == Trust.CHANGED

        r = await _post(desk, f"/t/{desk.address}/identity/accept", {})
        assert r.status == 303
        assert r.headers["Location"] == f"/t/{other.address}"  # the contact now has the new identity's address
        accepted = desk.client.contact("Alex")
        assert (accepted.address, accepted.trust) == (other.address, Trust.UNVERIFIED)
        assert "identity changed" not in await _page(desk, f"/t/{other.address}")
        assert (await _post(desk, f"/t/{other.address}/send", {"text": "hello again"})).status == 303
        await other.sync()
        assert [m.text for m in other.history(desk.client.address)] == ["hello again"]


async def test_rejecting_an_identity_change_keeps_the_old_one(desk: Desk, tmp_path: Path, relay_url: str) -> None:
    before = desk.client.contact(desk.address).fingerprint
    other = await _identity_changes(desk, tmp_path, relay_url)
    async with other:
        r = await _post(desk, f"/t/{desk.address}/identity/reject", {})
        assert r.status == 303
        kept = desk.client.contact(desk.address)
        assert (kept.trust, kept.fingerprint) == (Trust.UNVERIFIED, before)
        assert (await _post(desk, f"/t/{desk.address}/send", {"text": "still you?"})).status == 303
        assert await _peer_sees(desk) == ["still you?"]


async def test_a_failed_message_shows_the_relays_reason_and_can_be_retried(desk: Desk) -> None:
    await _peer_writes(desk, "hello")  # the Desk now writes with the delivery token Alex gave
    await desk.peer.block("Dr Lee")
    failed = await desk.client.send_text(desk.address, "see you Tuesday")
    assert failed.status == MessageStatus.FAILED
    assert failed.failure
    fragment = await _page(desk, f"/t/{desk.address}/messages")
    assert f"Not sent: {failed.failure}" in fragment
    assert f'action="/t/{desk.address}/retry"' in fragment
    assert fragment.count(f'name="message_id" value="{failed.message_id}"') == 2  # retry and delete

    assert (await _post(desk, f"/t/{desk.address}/retry", {"message_id": failed.message_id}, csrf=False)).status == 403
    assert (await _post(desk, f"/t/{desk.address}/retry", {"message_id": "00ff"})).status == 404
    await desk.peer.unblock("Dr Lee")
    await desk.peer.send_text("Dr Lee", "sorry, that was a mistake")  # carries the fresh delivery token
    await desk.client.sync()
    r = await _post(desk, f"/t/{desk.address}/retry", {"message_id": failed.message_id})
    assert r.status == 303
    [retried] = [m for m in desk.client.history(desk.address) if m.message_id == failed.message_id]
    assert retried.status == MessageStatus.SENT
    assert "see you Tuesday" in await _peer_sees(desk)
    assert f'action="/t/{desk.address}/retry"' not in await _page(desk, f"/t/{desk.address}/messages")
    received = [m for m in desk.client.history(desk.address) if m.direction == Direction.IN]
    r = await _post(desk, f"/t/{desk.address}/retry", {"message_id": received[0].message_id})
    assert r.status == 404  # not one of ours


async def test_blocking_and_unblocking_from_the_thread(desk: Desk) -> None:
    await desk.client.send_text(desk.address, "welcome")
    assert await _peer_sees(desk) == ["welcome"]  # Alex now writes with the Desk's delivery token
    thread = await _page(desk, f"/t/{desk.address}")
    assert f'action="/t/{desk.address}/block"' in thread
    assert (await _post(desk, f"/t/{desk.address}/block", {}, csrf=False)).status == 403
    assert desk.client.contact(desk.address).blocked is False
    r = await _post(desk, f"/t/{desk.address}/block", {})
    assert r.status == 303
    assert r.headers["Location"] == f"/t/{desk.address}"
    assert desk.client.contact(desk.address).blocked is True
    assert '<li class="blocked">Blocked</li>' in await _page(desk, "/")
    thread = await _page(desk, f"/t/{desk.address}")
    assert "You blocked Alex" in thread
    assert f'action="/t/{desk.address}/unblock"' in thread
    assert f'action="/t/{desk.address}/block"' not in thread
    refused = await desk.peer.send_text("Dr Lee", "let me in")
    assert refused.status == MessageStatus.FAILED
    assert (await _post(desk, f"/t/{desk.address}/unblock", {}, csrf=False)).status == 403
    assert desk.client.contact(desk.address).blocked is True
    assert (await _post(desk, f"/t/{desk.address}/unblock", {})).status == 303
    assert desk.client.contact(desk.address).blocked is False
    assert '<li class="blocked">' not in await _page(desk, "/")


async def test_reporting_a_message_downloads_its_report_for_the_practice(
    start_desk: StartDesk, tmp_path: Path, relay_url: str
) -> None:
    """Sam writes to a therapist credentialed by a practice both trust: the message is reportable, its thread
    offers "Report to <practice>" (the practice's own words escaped), and the button downloads the report file
    that the practice's review finds authentic; without the CSRF token nothing is given out."""
    running = await start_desk("rivera", "therapist")
    rivera = running.app[DESK_SESSION].client
    assert rivera is not None
    harbour = await Client.create(tmp_path / "harbour", DESK_PASSPHRASE, relay_url, "h", "practice", kdf=TEST_KDF)
    sam = await Client.create(tmp_path / "sam", DESK_PASSPHRASE, relay_url, "sam", "client", kdf=TEST_KDF)
    async with harbour, sam:
        admin = harbour.practice_admin()
        admin.set_up()
        admin.set_policy("<b>Harbour</b> Therapy", "In an emergency call 911.", [("Emergency", "911")])
        credential = admin.issue(rivera.contact_card(), "Dr Ana Rivera", "PSY 1", "Board", "GB")
        await admin.publish()
        await rivera.import_credential(credential)
        await sam.trust_practice(harbour.address)
        sam.add_contact_card("Dr Rivera", rivera.contact_card())
        contact = rivera.add_contact("Sam", sam.invite_code())
        sent = await sam.send_text("Dr Rivera", "something you should not have said")
        await rivera.sync()
        mine = await rivera.send_text(contact.address, "a reply of mine")

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(running.login_url) as r:
                assert r.status == 200
            csrf = running.app[DESK_SESSION].csrf
            base = f"{running.url}/t/{contact.address}"
            async with http.get(base + "/messages") as r:
                fragment = await r.text()
            assert fragment.count("Report to &lt;b&gt;Harbour&lt;/b&gt; Therapy") == 1  # only the received one
            assert "<b>Harbour" not in fragment
            assert f'name="message_id" value="{sent.message_id}"' in fragment
            form = {"message_id": sent.message_id}
            async with http.post(base + "/report", data=form, allow_redirects=False) as r:
                assert r.status == 403
                assert await r.read() != rivera.report(contact.address, sent.message_id)
            async with http.post(base + "/report", data={**form, "csrf": csrf}) as r:
                assert r.status == 200
                assert r.headers["Content-Type"] == "application/octet-stream"
                assert r.headers["Content-Disposition"] == (
                    f'attachment; filename="confide-report-{sent.message_id[:8]}.cfr"'
                )
                assert r.headers["Cache-Control"] == "no-store"
                assert r.headers["Content-Security-Policy"].endswith("; sandbox")
                data = await r.read()
            verdict = admin.review(data)
            assert verdict.authentic
            assert (verdict.sender_address, verdict.recipient_address) == (sam.address, rivera.address)
            async with http.post(base + "/report", data={"message_id": mine.message_id, "csrf": csrf}) as r:
                assert r.status == 400  # one's own message is no report
                assert "cannot be reported" in await r.text()
