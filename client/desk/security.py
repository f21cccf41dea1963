"""The Desk's defences as a local web app, applied to every request before any handler runs.

- **DNS rebinding:** the request must have reached our own loopback socket and name it in ``Host`` exactly
  (``127.0.0.1:PORT`` or ``localhost:PORT``); anything else gets 421 and a short plain page, nothing more.
- **Another user's program:** a connection whose client end another user of the computer owns gets 403, even
  with the session cookie (:mod:`.peer`; Linux).
- **Session:** every request except the login link needs the session cookie (401 otherwise).
- **CSRF:** every state-changing request needs the session's CSRF token (form field or header) and, when the
  browser says where it comes from, an ``Origin`` that is the Desk's own (403 otherwise).
- **Idle lock:** a request after :attr:`DeskSession.lock_after_s` of idleness finds the Desk locked; a locked
  Desk sends every page to ``/locked``. The live stream, static files and requests marked with
  ``X-Desk-Background: 1`` (the script's own re-fetches) are not activity.
- **Headers:** a strict Content-Security-Policy, no framing, no sniffing, no referrer, and ``Cache-Control:
  no-store`` on every response, errors and static files included.
"""

from __future__ import annotations

import asyncio
import os
import weakref

from aiohttp import web
from aiohttp.typedefs import Handler

from . import peer
from .config import LOOPBACK_HOST
from .session import BACKGROUND_HEADER, CSRF_FIELD, CSRF_HEADER, LIVE_PATHS, session_cookie_name, session_of

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
"""Only the Desk's own script and style files run (no inline script or style, nothing from elsewhere), no
page of another site may frame it, and forms post only to it."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Set on every response. ``no-store``: pages carry plaintext, which must not land in the browser's disk cache."""

SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Methods that change nothing; every other method needs the CSRF token."""

PUBLIC_PATHS = frozenset({"/login"})
"""The only path served without the session cookie: the login link, which sets it."""

UNLOCKED_ONLY_EXEMPT = frozenset({"/locked", "/unlock", "/lock", "/panic", "/login"})
"""Paths served while locked (everything else redirects to ``/locked``); ``/static/`` too."""

FORM_TYPES = frozenset({"application/x-www-form-urlencoded"})
"""Bodies whose ``csrf`` field is read when the request has no ``X-CSRF-Token`` header. A multipart body (an
upload) is streamed by its handler, never read here before the check: it must carry the header."""


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


def misdirected() -> web.Response:
    """421 for a request that did not come to the Desk by its own name (a DNS-rebinding page, a proxy)."""
    return _plain(421, "Misdirected request: this is a Confide Desk, reachable only as 127.0.0.1 on this device.")


def _own_hosts(request: web.Request) -> frozenset[str] | None:
    """The ``Host`` values naming our socket (``127.0.0.1:PORT``, ``localhost:PORT``), or ``None`` when the
    request did not arrive on a 127.0.0.1 socket at all."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple) or len(sockname) < 2 or sockname[0] != LOOPBACK_HOST:
        return None
    port = sockname[1]
    return frozenset({f"{LOOPBACK_HOST}:{port}", f"localhost:{port}"})


@web.middleware
async def host_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """421 unless the request came to our 127.0.0.1 socket and its ``Host`` names that socket exactly."""
    own = _own_hosts(request)
    if own is None or request.headers.get("Host") not in own:
        return misdirected()
    return await handler(request)


_CONNECTION_OWNERS: weakref.WeakKeyDictionary[asyncio.BaseTransport, bool] = weakref.WeakKeyDictionary()
"""Each open connection's verdict, looked up once: a connection keeps its owner for its whole life, so a page's
keep-alive requests (fragments, static files) do not read the kernel's table again."""


def _from_another_user(request: web.Request) -> bool:
    """Whether the connection's client end belongs to another user than the Desk's (:mod:`.peer`): True also
    when the kernel's table is readable but does not show the connection (fail closed); False where the table
    cannot be read at all (the Desk warned at start)."""
    transport = request.transport
    if transport is None:
        return True
    known = _CONNECTION_OWNERS.get(transport)
    if known is not None:
        return known
    server, client = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
    if not (isinstance(server, tuple) and isinstance(client, tuple)):
        return True
    if not peer.can_check():
        verdict = False
    else:
        uid = peer.client_uid((str(client[0]), int(client[1])), (str(server[0]), int(server[1])))
        verdict = uid != os.getuid()
    _CONNECTION_OWNERS[transport] = verdict
    return verdict


@web.middleware
async def user_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 for a connection from a program of another user of this computer, cookie or not (a browser hands the
    session cookie to any port of 127.0.0.1, so a cookie alone does not prove it is the person's browser)."""
    if _from_another_user(request):
        return _plain(403, "Refused: this Desk serves only the user who started it.")
    return await handler(request)


async def _csrf_value(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if request.content_type in FORM_TYPES:
        form = await request.post()  # aiohttp keeps it: the handler's own request.post() reads it again
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


@web.middleware
async def session_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without the session cookie; 403 for a state-changing request without the CSRF token or from
    another origin."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    session = session_of(request)
    if not session.cookie_ok(request.cookies.get(session_cookie_name(request))):
        return _plain(401, "Not logged in: open the login link that 'confide desk' printed (each link works once).")
    if request.method not in SAFE_METHODS:
        origin = request.headers.get("Origin")
        if origin == "null" and request.headers.get("Sec-Fetch-Site") == "same-origin":
            origin = None  # under Referrer-Policy no-referrer a browser's own form posts say "null" (Fetch spec)
        if origin is not None and origin != f"http://{request.headers.get('Host')}":
            return _plain(403, "Refused: this request came from another site.")
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _plain(403, "Refused: this request came from another site.")
        if not session.csrf_ok(await _csrf_value(request)):
            return _plain(403, "Refused: the form is out of date or did not come from this Desk. Reload the page.")
    return await handler(request)


@web.middleware
async def lock_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Lock when idle too long; count this request as activity (unless it is the live stream, a static file or
    marked as the page's own background request); send a locked Desk's pages to ``/locked``."""
    session = session_of(request)
    if not session.locked and session.idle_expired():
        await session.lock()
    background = request.headers.get(BACKGROUND_HEADER) == "1"
    if request.path not in LIVE_PATHS and not request.path.startswith("/static/") and not background:
        session.touch()
    exempt = request.path in UNLOCKED_ONLY_EXEMPT or request.path.startswith("/static/")
    if session.locked and not exempt:
        raise web.HTTPSeeOther("/locked")
    return await handler(request)


async def set_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers of :data:`SECURITY_HEADERS` on every response."""
    response.headers.update(SECURITY_HEADERS)


MIDDLEWARES = (host_guard, user_guard, session_guard, lock_guard)
"""In order: the Host check first (a misdirected request learns nothing), then the connection's user, then the
session, then the lock."""
