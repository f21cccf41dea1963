"""Every page of the Desk scanned by axe-core in Chromium: no serious or critical accessibility violation.

The pages are scanned as a person sees them, with a conversation in them (messages, a file, a timer, unread
threads), in the therapist's view and in the client's. The run also saves the screenshots README shows
(``docs/desk-inbox.png``, ``docs/desk-thread.png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.test_utils import TestServer
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect

from confide.client import Client
from confide.keys.keystore import TEST_KDF
from tests.desk.conftest import (
    CLIENT_AS_SEEN,
    DESK_PASSPHRASE,
    THERAPIST_AS_SEEN,
    DeskTab,
    OpenDesk,
    practice_and_therapist,
)

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
"""Where the screenshots go (README shows them)."""

BLOCKING_IMPACTS = frozenset({"serious", "critical"})
"""axe-core's impacts that fail the test: the ones that keep someone from using the page at all."""

AXE = Axe()


async def _violations(page: Page) -> list[str]:
    """The serious and critical violations on ``page``, one line each: rule, impact, the elements it hit."""
    results = await AXE.run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']]}"
        for v in found
        if v["impact"] in BLOCKING_IMPACTS
    ]


async def _scan(tab: DeskTab, paths: list[str]) -> dict[str, list[str]]:
    """Open each path of ``tab``'s Desk and scan it; the pages that have blocking violations, with them."""
    failing: dict[str, list[str]] = {}
    for path in paths:
        response = await tab.page.goto(tab.desk.url + path)
        assert response is not None
        assert response.status == 200, path
        found = await _violations(tab.page)
        if found:
            failing[path] = found
    return failing


async def test_every_page_passes_axe(desk_pair: tuple[DeskTab, DeskTab], relay_url: str, tmp_path: Path) -> None:
    therapist, client = desk_pair
    therapist_thread = therapist.thread_url(client.client).removeprefix(therapist.desk.url)
    client_thread = client.thread_url(therapist.client).removeprefix(client.desk.url)

    # A conversation worth looking at: texts both ways, a file, a disappearing timer, two more clients waiting.
    await client.client.send_text(THERAPIST_AS_SEEN, "Hi Dr Lee, the breathing exercise helped this week.")
    await therapist.client.sync()
    await therapist.client.send_text(CLIENT_AS_SEEN, "Good to hear. Shall we try the next step on Thursday?")
    note = tmp_path / "sleep-diary.pdf"
    note.write_bytes(b"%PDF-1.4 a sleep diary\n" * 200)
    await therapist.client.send_file(CLIENT_AS_SEEN, note, caption="Your sleep diary for the week")
    await client.client.sync()
    await client.client.send_text(THERAPIST_AS_SEEN, "Thursday works. Thank you!")
    await therapist.client.set_timer(CLIENT_AS_SEEN, 7 * 86400)
    for name, text in (("Alex", "Could we talk about my schedule?"), ("Jordan", "I filled in the form.")):
        async with await Client.create(
            tmp_path / name, DESK_PASSPHRASE, relay_url, name, "client", kdf=TEST_KDF
        ) as other:
            therapist.client.add_contact(name, other.invite_code())
            other.add_contact(THERAPIST_AS_SEEN, therapist.client.invite_code())
            await other.send_text(THERAPIST_AS_SEEN, text)
    await therapist.client.sync()

    failing = await _scan(
        therapist,
        ["/", therapist_thread, therapist_thread + "/safety", "/search?q=thursday", "/search", "/settings", "/devices"],
    )
    failing |= {
        f"client {path}": found
        for path, found in (await _scan(client, ["/", client_thread, client_thread + "/safety"])).items()
    }

    # The screenshots for README: the therapist's inbox and the conversation.
    await therapist.page.goto(therapist.desk.url + "/")
    await expect(therapist.page.locator(".thread-row")).to_have_count(3)
    await therapist.page.screenshot(path=DOCS / "desk-inbox.png", full_page=True)
    await therapist.page.goto(therapist.desk.url + therapist_thread)
    await therapist.page.screenshot(path=DOCS / "desk-thread.png", full_page=True)

    # The locked page, last.
    await therapist.page.get_by_role("button", name="Lock", exact=True).click()
    await expect(therapist.page.get_by_role("heading", level=1)).to_have_text("Confide Desk is locked")
    if found := await _violations(therapist.page):
        failing["/locked"] = found
    assert failing == {}


async def test_the_scan_catches_a_page_a_screen_reader_cannot_use(browser: Browser) -> None:
    """The scanner itself runs in this Chromium and fails what it must: an unlabelled field, a nameless button."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(
            text='<!doctype html><html lang="en"><title>t</title><main><input type="text"><button></button></main>',
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/", page)
    async with TestServer(app, host="127.0.0.1") as server:
        tab = await (await browser.new_context()).new_page()
        await tab.goto(str(server.make_url("/")))
        found = await _violations(tab)
    assert sorted(line.split(" ")[0] for line in found) == ["button-name", "label"]


async def test_the_client_view_with_a_practice_passes_axe(open_desk: OpenDesk, relay_url: str, tmp_path: Path) -> None:
    """The client's view: their therapist first as a verified provider, the availability line and the practice's
    crisis notice, as a person sees them in the browser."""
    async with practice_and_therapist(tmp_path, relay_url) as (practice, _):
        tab = await open_desk("sam", "client")
        pinned = await tab.client.trust_practice(practice.address)
        listing = tab.client.directory(pinned.address)[0]
        therapist = tab.client.start_from_directory(pinned.address, listing.number, "Dr. Rivera")
        thread = "/t/" + quote(therapist.address, safe="")
        await tab.page.goto(tab.desk.url + "/")
        await expect(tab.page.locator(".provider-thread .provider")).to_contain_text("Verified provider")
        await tab.page.goto(tab.desk.url + thread)
        await expect(tab.page.get_by_role("heading", name="If you need help now")).to_be_visible()
        await expect(tab.page.locator(".availability")).to_be_visible()
        assert await _scan(tab, ["/", thread, thread + "/safety"]) == {}
