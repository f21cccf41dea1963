"""The Desk's web app: the factory, its start and stop, and running it on 127.0.0.1 for ``confide desk``.

:func:`create_desk_app` is used by ``confide desk`` and by the tests alike. The app holds one
:class:`~.session.DeskSession` (``app[DESK_SESSION]``): the unlocked Client, running its live receiving in the
background, and the login, cookie, CSRF and idle-lock state. Pages and actions come from :mod:`.routes`; the
login, lock, unlock and panic routes from :mod:`.unlock`; the defences from :mod:`.security`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import webbrowser
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from confide.client import Client

from . import peer, routes
from .config import LOOPBACK_HOST, DeskConfig
from .security import MIDDLEWARES, set_security_headers
from .session import DESK_SESSION, ClientOpener, DeskSession, template_context
from .unlock import add_lock_routes

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

IDLE_CHECK_INTERVAL_S = 1.0
"""How often the Desk checks whether it has been idle long enough to lock, so that it locks (and drops the
keys) even when no request comes; a quarter of a shorter idle lock is used instead."""

DESK_CONFIG = web.AppKey("desk_config", DeskConfig)
"""The app's :class:`DeskConfig`."""


async def _idle_lock(session: DeskSession) -> None:
    interval = min(IDLE_CHECK_INTERVAL_S, session.lock_after_s / 4)
    while True:
        await asyncio.sleep(interval)
        if not session.locked and session.idle_expired():
            await session.lock()


def create_desk_app(
    client_opener: ClientOpener,
    config: DeskConfig,
    *,
    client: Client | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> web.Application:
    """The Desk's web app for ``config.profile_dir``.

    ``client`` is the Client already unlocked (``None``: the Desk starts locked and the passphrase form
    unlocks it through ``client_opener``); the app owns it from now on and closes it when it stops.
    ``rng`` makes the login, session and CSRF tokens.
    """
    session = DeskSession(client_opener, config.profile_dir, client=client, lock_after_s=config.lock_after_s, rng=rng)
    app = web.Application(middlewares=MIDDLEWARES)
    app[DESK_CONFIG] = config
    app[DESK_SESSION] = session
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        context_processors=[template_context],
        default_helpers=False,
    )
    app.on_response_prepare.append(set_security_headers)

    async def background(app: web.Application) -> AsyncIterator[None]:
        if session.client is not None:
            session.client.start()  # live receiving, expiry sweep, outbox and prekey upkeep
            session.client.prepare_index()  # the inbox and search index, built in the background
        watcher = asyncio.create_task(_idle_lock(session), name="confide-desk-idle-lock")
        yield
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await session.close()

    app.cleanup_ctx.append(background)
    add_lock_routes(app)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    routes.add_routes(app)
    return app


def login_path(app: web.Application) -> str:
    """``/login?token=...`` for the app's unused login token.

    Raises:
        ValueError: the login token was used already.
    """
    token = app[DESK_SESSION].login_token
    if token is None:
        raise ValueError("the login link was used already")
    return f"/login?token={token}"


@dataclass(frozen=True)
class RunningDesk:
    """A Desk listening on ``url`` (``http://127.0.0.1:PORT``); ``login_url`` opens it once."""

    url: str
    login_url: str = field(repr=False)
    app: web.Application = field(repr=False)


@contextlib.asynccontextmanager
async def serve_desk(app: web.Application) -> AsyncIterator[RunningDesk]:
    """Listen on 127.0.0.1 (the port of the app's :class:`DeskConfig`; 0: a free one) until the block ends.

    Raises:
        OSError: the port is taken.
    """
    config = app[DESK_CONFIG]
    runner = web.AppRunner(app, access_log=None)  # an access log would record the login token
    await runner.setup()
    try:
        site = web.TCPSite(runner, LOOPBACK_HOST, config.port)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://{LOOPBACK_HOST}:{port}"
        yield RunningDesk(url, url + login_path(app), app)
    finally:
        await runner.cleanup()


def _has_graphical_browser() -> bool:
    """Whether opening a browser can show a window: on Linux and the BSDs only with a display (else Python's
    ``webbrowser`` may start a text browser in the very terminal that shows the login link)."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


async def open_in_browser(url: str) -> bool:
    """Ask the system's browser to open ``url``; False when there is no window to show it in or it failed."""
    if not _has_graphical_browser():
        return False
    opened: bool = await asyncio.to_thread(webbrowser.open, url)
    return opened


async def run_desk(
    client_opener: ClientOpener,
    passphrase: str,
    config: DeskConfig,
    *,
    announce: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """``confide desk``: unlock the profile, serve the Desk on 127.0.0.1, ``announce`` the login link, open
    the browser on it (``config.open_browser``), and run until ``stop`` is set (or the task is cancelled).

    Raises:
        WrongPassphrase, ProfileError, KeyStoreError, StorageError: the profile did not open (nothing listens).
        OSError: the port is taken.
    """
    client = await client_opener(passphrase)
    try:
        app = create_desk_app(client_opener, config, client=client)
    except BaseException:
        await client.close()
        raise
    async with serve_desk(app) as desk:
        announce(f"Confide Desk: open {desk.login_url}")
        announce("The link works once. Stop the Desk with Ctrl-C.")
        if not peer.can_check():
            announce(
                "Note: this system does not say which user a local connection comes from, so another user of this "
                "computer who obtains the session cookie is not refused (see SECURITY.md, the Desk)."
            )
        if config.open_browser:
            await open_in_browser(desk.login_url)
        await (stop or asyncio.Event()).wait()
