"""Fixtures for the Desk's tests: a real relay on loopback, and Debian's Chromium driven by Playwright.

Playwright's own browser download does not work here, so the browser is the system's Chromium
(``/usr/bin/chromium``, or the path in ``CONFIDE_CHROMIUM``); ``.ci/run`` installs it when it is missing.
Without one, every test that asks for :func:`browser` is skipped with a reason that says how to get it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from confide.client import Client, messaging
from confide.client.desk import DEFAULT_LOCK_AFTER_S, DeskConfig, RunningDesk, create_desk_app, serve_desk
from confide.keys.keystore import TEST_KDF
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

BROWSER_TIMEOUT_MS = 10_000
"""Playwright's default wait for a page event: long enough for a loaded 2-core CI box, short enough that a
missing element fails the test in seconds instead of the default 30."""


def chromium_path() -> Path | None:
    """The Chromium binary to drive, or None when there is none (the tests then skip)."""
    named = os.environ.get(CHROMIUM_ENV)
    path = Path(named) if named else DEFAULT_CHROMIUM
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for this test, closed afterwards (so no state carries from one test to the next)."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            f"no Chromium at {DEFAULT_CHROMIUM} (and {CHROMIUM_ENV} unset or not executable): "
            "`apt-get install chromium` or set CONFIDE_CHROMIUM to run the Desk's browser tests"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(path), args=list(CHROMIUM_ARGS))
        try:
            yield launched
        finally:
            await launched.close()


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
