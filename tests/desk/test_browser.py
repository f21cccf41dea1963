"""The Desk in a real browser (Debian's Chromium driven by Playwright): issue 12's end-to-end list."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from tests.desk.conftest import BROWSER_TIMEOUT_MS


async def test_the_fixture_drives_chromium_against_a_local_page(browser: Browser) -> None:
    """The harness itself: Playwright drives the system Chromium, which runs a page's own script file."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(
            text='<!doctype html><title>t</title><p id="out">static</p><script src="/s.js"></script>',
            content_type="text/html",
        )

    async def script(_: web.Request) -> web.Response:
        return web.Response(
            text='document.getElementById("out").textContent = "ran"', content_type="application/javascript"
        )

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/s.js", script)
    async with TestServer(app, host="127.0.0.1") as server:
        context = await browser.new_context()
        tab = await context.new_page()
        tab.set_default_timeout(BROWSER_TIMEOUT_MS)
        await tab.goto(str(server.make_url("/")))
        assert await tab.text_content("#out") == "ran"
        await context.close()
