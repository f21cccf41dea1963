"""The login link, the locked page, and the lock, unlock and panic buttons.

``POST /panic`` locks at once; with the typed confirmation :data:`WIPE_CONFIRMATION` in the field ``confirm``
it wipes the profile instead (keys shredded first, then every file), as ``confide wipe`` does.
"""

from __future__ import annotations

import contextlib

import aiohttp_jinja2
from aiohttp import web

from confide.client import KeyStoreError, ProfileError

from .session import session_cookie_name, session_of

WIPE_CONFIRMATION = "WIPE"
"""What the person types to wipe from the panic form: a word, so that no stray click or key destroys a profile."""

MAX_PASSPHRASE_CHARS = 1024
"""The longest passphrase the unlock form takes: more is no passphrase, only work for the key derivation."""


async def login(request: web.Request) -> web.StreamResponse:
    """``GET /login?token=``: the single-use login link becomes the session cookie, then the inbox (303).
    A used, wrong or missing token gets 403 and a line saying how to get a new link."""
    cookie = session_of(request).redeem_login(request.query.get("token"))
    if cookie is None:
        return web.Response(
            status=403,
            text="This login link was used already or is not valid. Run 'confide desk' again for a new one.\n",
            content_type="text/plain",
        )
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(session_cookie_name(request), cookie, httponly=True, samesite="Strict", path="/")
    return response


def _locked_page(request: web.Request, *, status: int = 200, error: str | None = None) -> web.Response:
    return aiohttp_jinja2.render_template("locked.html", request, {"error": error}, status=status)


async def locked(request: web.Request) -> web.StreamResponse:
    """``GET /locked``: the passphrase form (or, unlocked, back to the inbox)."""
    if not session_of(request).locked:
        raise web.HTTPSeeOther("/")
    return _locked_page(request)


async def unlock(request: web.Request) -> web.StreamResponse:
    """``POST /unlock`` (field ``passphrase``): open the profile again; a wrong passphrase leaves it locked."""
    form = await request.post()
    passphrase = form.get("passphrase")
    if not isinstance(passphrase, str) or not passphrase or len(passphrase) > MAX_PASSPHRASE_CHARS:
        return _locked_page(request, status=400, error="Type your passphrase to unlock.")
    session = session_of(request)
    try:
        await session.unlock(passphrase)
    except KeyStoreError:
        return _locked_page(request, status=403, error="Wrong passphrase. The Desk stays locked.")
    except ProfileError:
        return _locked_page(request, status=410, error="The profile was wiped. There is nothing to unlock.")
    raise web.HTTPSeeOther("/")


async def lock(request: web.Request) -> web.StreamResponse:
    """``POST /lock``: lock now."""
    await session_of(request).lock()
    raise web.HTTPSeeOther("/locked")


async def panic(request: web.Request) -> web.StreamResponse:
    """``POST /panic``: lock now; with ``confirm`` = :data:`WIPE_CONFIRMATION`, wipe the profile."""
    form = await request.post()
    session = session_of(request)
    if form.get("confirm") != WIPE_CONFIRMATION:
        await session.lock()
        raise web.HTTPSeeOther("/locked")
    with contextlib.suppress(ProfileError):  # gone already (wiped elsewhere): what the person asked for is done
        await session.wipe()
    raise web.HTTPSeeOther("/locked")


def add_lock_routes(app: web.Application) -> None:
    """The routes of this module: ``/login``, ``/locked``, ``/unlock``, ``/lock``, ``/panic``."""
    app.router.add_get("/login", login, allow_head=False)  # a HEAD (a link preview) must not use up the link
    app.router.add_get("/locked", locked)
    app.router.add_post("/unlock", unlock)
    app.router.add_post("/lock", lock)
    app.router.add_post("/panic", panic)
