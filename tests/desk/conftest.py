"""Fixtures for the Desk's tests: a real relay on loopback, and Debian's Chromium driven by Playwright.

Playwright's own browser download does not work here, so the browser is the system's Chromium
(``/usr/bin/chromium``, or the path in ``CONFIDE_CHROMIUM``); ``.ci/run`` installs it when it is missing.
Without one, every test that asks for :func:`browser` is skipped with a reason that says how to get it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from confide.client import Client, messaging
from confide.client.desk import DEFAULT_LOCK_AFTER_S, DESK_SESSION, DeskConfig, RunningDesk, create_desk_app, serve_desk
from confide.keys.keystore import TEST_KDF
from confide.protocol.document_bodies import OfficeHours, Weekday
from confide.server import RelayConfig, start_relay

# -- a Desk for a fresh profile, over a real loopback socket (K1: server and security tests) ----------
DESK_PASSPHRASE = "correct horse battery staple"
"""The passphrase of every profile :func:`start_desk` makes (cheap test KDF)."""

StartDesk = Callable[..., Awaitable[RunningDesk]]
"""``await start_desk(name="me", role="therapist", lock_after_s=...)``: a running Desk, not logged in yet."""


@pytest.fixture
async def start_desk(tmp_path: Path, relay_url: str) -> AsyncIterator[StartDesk]:
    """Start Desks for fresh profiles ``tmp_path/<name>`` registered with the test relay, each unlocked and
    listening on a free 127.0.0.1 port; all are stopped (and their Clients closed) at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            name: str = "me", role: str = "therapist", *, lock_after_s: float = DEFAULT_LOCK_AFTER_S
        ) -> RunningDesk:
            profile = tmp_path / name
            client = await Client.create(profile, DESK_PASSPHRASE, relay_url, name, role, kdf=TEST_KDF)
            config = DeskConfig(profile, lock_after_s=lock_after_s, open_browser=False)
            app = create_desk_app(lambda secret: Client.open(profile, secret), config, client=client)
            return await stack.enter_async_context(serve_desk(app))

        yield start


CHROMIUM_ENV = "CONFIDE_CHROMIUM"
"""Environment variable naming a Chromium binary to use instead of Debian's."""

DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
"""Where Debian's ``chromium`` package puts the browser."""

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""Launch flags: headless in a container without a user namespace sandbox or GPU, and no traffic of
Chromium's own (updates, sync, field trials) that could slow a test or leave the loopback."""

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
"""The browser window's size: a laptop screen (the screenshots in docs/ are taken at it)."""

BROWSER_TIMEOUT_MS = 10_000
"""Playwright's default wait for a page event: long enough for a loaded 2-core CI box, short enough that a
missing element fails the test in seconds instead of the default 30."""


def chromium_path() -> Path | None:
    """The Chromium binary to drive, or None when there is none (the tests then skip)."""
    named = os.environ.get(CHROMIUM_ENV)
    path = Path(named) if named else DEFAULT_CHROMIUM
    return path if path.is_file() and os.access(path, os.X_OK) else None


LaunchBrowser = Callable[..., Awaitable[Browser]]
"""``await launch_browser(*extra_args)``: one more Chromium with the standard flags plus ``extra_args``."""


@pytest.fixture
async def launch_browser() -> AsyncIterator[LaunchBrowser]:
    """Launch headless Chromiums for this test (all closed afterwards, so no state carries over to the next).

    Skips the test when there is no Chromium, with a reason saying how to get one.
    """
    path = chromium_path()
    if path is None:
        named = os.environ.get(CHROMIUM_ENV)
        where = f"{CHROMIUM_ENV}={named} is not an executable file" if named else f"no Chromium at {DEFAULT_CHROMIUM}"
        pytest.skip(f"{where}: `apt-get install chromium` (or set {CHROMIUM_ENV}) to run the Desk's browser tests")
    async with async_playwright() as playwright:
        launched: list[Browser] = []

        async def launch(*extra_args: str) -> Browser:
            browser = await playwright.chromium.launch(executable_path=str(path), args=[*CHROMIUM_ARGS, *extra_args])
            launched.append(browser)
            return browser

        try:
            yield launch
        finally:
            for browser in launched:
                await browser.close()


@pytest.fixture
async def browser(launch_browser: LaunchBrowser) -> Browser:
    """A headless Chromium for this test."""
    return await launch_browser()


# -- a Desk in a browser tab --------------------------------------------------------------------------
@dataclass(frozen=True)
class DeskTab:
    """A running Desk and a browser tab logged in to it (its own browser context: its own cookies)."""

    desk: RunningDesk
    page: Page

    @property
    def client(self) -> Client:
        """The Client the Desk runs (for set-up and for checking what the Desk really did)."""
        client = self.desk.app[DESK_SESSION].client
        assert client is not None, "the Desk is locked"
        return client

    def thread_url(self, peer: Client) -> str:
        """The URL of this Desk's conversation with ``peer``."""
        return f"{self.desk.url}/t/{quote(peer.address, safe='')}"


LIVE_PROBE = """
window.EventSource = class extends window.EventSource {
    constructor(...args) { super(...args); window.__confideLive = this; }
};
"""
"""Before a page's own script runs: keep a handle on the live stream it opens, so a test can wait until the page
listens before it makes something happen elsewhere (an event sent earlier would never reach this page)."""


async def wait_live(page: Page) -> None:
    """Wait until ``page``'s live stream is open (the Desk has subscribed it to its events)."""
    await page.wait_for_function("() => window.__confideLive?.readyState === EventSource.OPEN")


async def log_in(browser: Browser, desk: RunningDesk) -> Page:
    """A fresh browser context that opens ``desk``'s single-use login link and lands on the inbox (its live
    stream open)."""
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(LIVE_PROBE)
    page = await context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    response = await page.goto(desk.login_url)
    assert response is not None
    assert response.status == 200, "the login link did not lead to the inbox"
    assert page.url == desk.url + "/"
    await wait_live(page)
    return page


OpenDesk = Callable[..., Awaitable[DeskTab]]
"""``await open_desk(name, role, lock_after_s=...)``: a Desk for a fresh profile and a tab logged in to it."""


@pytest.fixture
async def open_desk(start_desk: StartDesk, browser: Browser) -> OpenDesk:
    """Start a Desk for a fresh profile (see :func:`start_desk`) and log a new browser context in to it."""

    async def open_(name: str, role: str, *, lock_after_s: float = DEFAULT_LOCK_AFTER_S) -> DeskTab:
        desk = await start_desk(name, role, lock_after_s=lock_after_s)
        return DeskTab(desk, await log_in(browser, desk))

    return open_


THERAPIST_AS_SEEN = "Dr Lee"
"""How the client's Desk names the therapist in :func:`desk_pair`."""

CLIENT_AS_SEEN = "Sam"
"""How the therapist's Desk names the client in :func:`desk_pair`."""


@pytest.fixture
async def desk_pair(open_desk: OpenDesk) -> tuple[DeskTab, DeskTab]:
    """``(therapist, client)``: two Desks on one relay, each with the other as a contact and a tab on its
    inbox."""
    therapist = await open_desk("lee", "therapist")
    client = await open_desk("sam", "client")
    therapist.client.add_contact(CLIENT_AS_SEEN, client.client.invite_code())
    client.client.add_contact(THERAPIST_AS_SEEN, therapist.client.invite_code())
    for tab in (therapist, client):
        await tab.page.reload()  # the inbox now lists the new contact
        await wait_live(tab.page)
    return therapist, client


@pytest.fixture
async def relay_url(tmp_path: Path) -> AsyncIterator[str]:
    """A relay on loopback with its rate limits off (the tests send in tight loops)."""
    config = RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
    async with start_relay(config, host="127.0.0.1", port=0) as url:
        yield url


@pytest.fixture(autouse=True)
def prompt_receipts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Receipts go out at once (the library's 1–5 s unlinkability delay has its own test), so a read mark
    shows in the other Desk within the tests' one-second budget."""
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MIN_S", 0.0)
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MAX_S", 0.0)


@contextlib.asynccontextmanager
async def practice_and_therapist(folder: Path, relay_url: str) -> AsyncIterator[tuple[Client, Client]]:
    """``(practice, therapist)``: a practice with a crisis notice that lists a therapist it credentialed, who
    publishes office hours; both profiles in ``folder``, open until the block ends."""
    practice = await Client.create(folder / "harbour", DESK_PASSPHRASE, relay_url, "harbour", "practice", kdf=TEST_KDF)
    therapist = await Client.create(folder / "ana", DESK_PASSPHRASE, relay_url, "ana", "therapist", kdf=TEST_KDF)
    async with practice, therapist:
        admin = practice.practice_admin()
        admin.set_up()
        admin.set_policy("Harbour Therapy", "In an emergency call 911.", [("Emergency", "911")])
        await therapist.set_availability(
            time_zone="Europe/London", hours=(OfficeHours(Weekday.MONDAY, 9 * 60, 17 * 60),), reply_within_s=86400
        )
        credential = admin.issue(
            therapist.contact_card(), "Dr. Ana Rivera", "PSY 1", "Board", "GB", list_in_directory=True
        )
        await admin.publish()
        await therapist.import_credential(credential)
        yield practice, therapist
