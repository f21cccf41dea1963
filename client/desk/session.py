"""The Desk's one browser session: the single-use login token, the session cookie, the CSRF token, and the
lock (the unlocked :class:`~confide.client.Client`, or none).

``confide desk`` prints a login link carrying a random token. The first request with it gets the session
cookie (``HttpOnly; SameSite=Strict``) and the token is gone: a link copied from the terminal, the shell history
or a screen share opens nothing. Every state-changing request also carries the session's CSRF token (a form
field ``csrf`` or the header ``X-CSRF-Token``), compared in constant time.

Locking closes the Client (its keys leave memory with it); unlocking opens a new one with the passphrase. A
front-end handler gets the Client through :func:`desk_client`, which sends a locked Desk's browser to
``/locked`` instead.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from confide.client import Client, KeyStoreError, ProfileWipedError

SESSION_COOKIE = "confide_desk"
"""The session cookie's name before its port: ``confide_desk_PORT`` (``HttpOnly; SameSite=Strict; Path=/``).
Browsers keep cookies per host, not per port, so two Desks in one browser (``confide desk --demo``: the therapist
and the client) would otherwise overwrite each other's session."""

CSRF_FIELD = "csrf"
"""Form field carrying the CSRF token (every ``<form method="post">``: see ``_macros.html``'s ``csrf_field``)."""

CSRF_HEADER = "X-CSRF-Token"
"""Header carrying the CSRF token on ``fetch``/XHR requests (``desk.js`` reads it from ``<meta name="csrf-token">``)."""

TOKEN_BYTES = 32
"""Random bytes in the login token, the session cookie and the CSRF token: 256 bits, unguessable even for a
local program that may try many requests a second."""

LIVE_PATHS = frozenset({"/events"})
"""Requests that do not count as the person's activity for the idle lock: the live stream stays open by itself."""

UNLOCK_FAILURE_DELAY_S = 1.0
"""Pause after a wrong passphrase, with further attempts waiting behind it: someone guessing at an unattended
Desk gets at most one try a second, however cheap the profile's key derivation is."""

BACKGROUND_HEADER = "X-Desk-Background"
"""A request the page's script makes by itself (a fragment re-fetched after a live event, a read mark) sends
this header with the value ``1``: it does not count as the person's activity, so a busy inbox does not keep
an unattended Desk unlocked."""

ClientOpener = Callable[[str], Awaitable[Client]]
"""Opens the profile's Client with a passphrase, e.g. ``lambda p: Client.open(profile_dir, p)``; raises
``WrongPassphrase`` for a wrong one."""

ClientListener = Callable[[Client | None], None]
"""Told of every change of the unlocked Client: the new one after an unlock, ``None`` on lock or wipe."""


def new_token(rng: Callable[[int], bytes]) -> str:
    """A fresh random token (hex) of :data:`TOKEN_BYTES` bytes."""
    return rng(TOKEN_BYTES).hex()


def _same(given: str | None, expected: str | None) -> bool:
    """Whether a secret from a request equals ours, in constant time (never true when either is missing)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


class DeskSession:
    """The state of one Desk: login, cookie, CSRF, idle clock, and the unlocked Client (``None``: locked).

    ``client`` is the Client unlocked at start (``None``: the Desk starts locked). ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        opener: ClientOpener,
        profile_dir: Path,
        *,
        client: Client | None,
        lock_after_s: float,
        rng: Callable[[int], bytes],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._opener = opener
        self._profile_dir = profile_dir
        self._client = client
        self._lock_after_s = lock_after_s
        self._clock = clock
        self._login_token: str | None = new_token(rng)
        self._cookie = new_token(rng)
        self._logged_in = False
        self._csrf = new_token(rng)
        self._last_activity = clock()
        self._wiped = False
        self._changing = asyncio.Lock()
        self._unlocking = asyncio.Lock()
        self._listeners: list[ClientListener] = []

    def __repr__(self) -> str:
        return f"DeskSession(locked={self.locked}, wiped={self._wiped})"  # never a token

    # -- login and cookie -------------------------------------------------------------------------------
    @property
    def login_token(self) -> str | None:
        """The login token for the link ``confide desk`` prints; ``None`` once it was used."""
        return self._login_token

    def redeem_login(self, token: str | None) -> str | None:
        """Use the login token: the session cookie's value if ``token`` is the (unused) login token, else
        ``None``. Works once: afterwards every token is refused."""
        if not _same(token, self._login_token):
            return None
        self._login_token = None
        self._logged_in = True
        self.touch()
        return self._cookie

    def cookie_ok(self, value: str | None) -> bool:
        """Whether ``value`` is this session's cookie (and the login link was used)."""
        return self._logged_in and _same(value, self._cookie)

    @property
    def csrf(self) -> str:
        """The CSRF token every state-changing request must carry."""
        return self._csrf

    def csrf_ok(self, value: str | None) -> bool:
        """Whether ``value`` is this session's CSRF token (constant-time comparison)."""
        return _same(value, self._csrf)

    # -- idle clock -------------------------------------------------------------------------------------
    @property
    def lock_after_s(self) -> float:
        """Idle seconds before the Desk locks itself."""
        return self._lock_after_s

    def touch(self) -> None:
        """The person did something: restart the idle clock."""
        self._last_activity = self._clock()

    def idle_expired(self) -> bool:
        """Whether the Desk has been idle for :attr:`lock_after_s` or longer."""
        return self._clock() - self._last_activity >= self._lock_after_s

    # -- lock, unlock, wipe -----------------------------------------------------------------------------
    @property
    def client(self) -> Client | None:
        """The unlocked Client, or ``None`` when locked or wiped (also when another process wiped the profile)."""
        if self._client is not None and self._client.wiped:
            self._client = None
            self._wiped = True
            self._tell(None)
        return self._client

    @property
    def locked(self) -> bool:
        """Whether no Client is open (locked, or wiped)."""
        return self.client is None

    @property
    def wiped(self) -> bool:
        """Whether the profile was wiped (from this Desk's panic button or by another process)."""
        _ = self.client
        return self._wiped

    def add_listener(self, listener: ClientListener) -> None:
        """Call ``listener`` with the new Client after each unlock, and with ``None`` on lock and wipe."""
        self._listeners.append(listener)

    def _tell(self, client: Client | None) -> None:
        for listener in list(self._listeners):
            listener(client)

    async def lock(self) -> None:
        """Close the Client (its keys leave memory with it); idempotent."""
        async with self._changing:
            client, self._client = self._client, None
            if client is not None:
                self._tell(None)
                await client.close()

    async def unlock(self, passphrase: str) -> None:
        """Open the profile again with ``passphrase`` (nothing happens when it is open already).

        Raises:
            WrongPassphrase: the passphrase does not open the key store (the Desk stays locked; the answer comes
                after :data:`UNLOCK_FAILURE_DELAY_S`, and other attempts wait behind it).
            ProfileError: the profile is gone (wiped).
            KeyStoreError, StorageError: damaged files.
        """
        async with self._unlocking:  # guesses wait here, never in front of a lock or a panic wipe
            if self._wiped:
                raise ProfileWipedError("the profile was wiped; there is nothing to unlock")
            if self._client is not None:
                return
            try:
                client = await self._opener(passphrase)
            except KeyStoreError:
                await asyncio.sleep(UNLOCK_FAILURE_DELAY_S)
                raise
            async with self._changing:
                if self._wiped or self._client is not None:  # wiped (or opened) while the key store opened
                    await client.close()
                    if self._wiped:
                        raise ProfileWipedError("the profile was wiped; there is nothing to unlock")
                    return
                self._client = client
                self.touch()
                client.start()
                client.prepare_index()
                self._tell(client)

    async def wipe(self) -> None:
        """Panic wipe: shred the keys, then every file of the profile (with the Client open or not).

        Raises:
            ProfileError: there is no profile any more (it was wiped already).
            OSError: the key store could not be overwritten.
        """
        async with self._changing:
            client, self._client = self._client, None
            self._tell(None)
            if client is not None and not client.wiped:
                await client.wipe()
            elif not self._wiped:
                await Client.wipe_profile(self._profile_dir)
            self._wiped = True

    async def close(self) -> None:
        """The Desk stops: close the Client if one is open."""
        await self.lock()


DESK_SESSION = web.AppKey("desk_session", DeskSession)
"""The app's :class:`DeskSession`."""


def session_cookie_name(request: web.Request) -> str:
    """The session cookie's name for the Desk that ``request`` reached: :data:`SESSION_COOKIE` and its port."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else 0
    return f"{SESSION_COOKIE}_{port}"


def session_of(request: web.Request) -> DeskSession:
    """The Desk's session for ``request``."""
    return request.app[DESK_SESSION]


def desk_client(request: web.Request) -> Client:
    """The unlocked Client, for a page or action handler.

    Raises:
        web.HTTPSeeOther: to ``/locked`` when the Desk is locked or the profile was wiped.
    """
    client = session_of(request).client
    if client is None:
        raise web.HTTPSeeOther("/locked")
    return client


def csrf_token(request: web.Request) -> str:
    """The CSRF token to put in a form (``<input type="hidden" name="csrf">``) or an ``X-CSRF-Token`` header."""
    return session_of(request).csrf


async def template_context(request: web.Request) -> dict[str, Any]:
    """What every template gets besides its own values: ``csrf``, ``now_ms`` (wall clock, for countdowns),
    ``locked`` and ``wiped``."""
    session = session_of(request)
    return {
        "csrf": session.csrf,
        "now_ms": int(time.time() * 1000),
        "locked": session.locked,
        "wiped": session.wiped,
    }
