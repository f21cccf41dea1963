"""Confide Desk: the inbox in a browser, served by the user's own device on 127.0.0.1 (``confide desk``).

A front end like the ``confide`` command: it uses only :mod:`confide.client`'s public names. Keys and plaintext
stay on the device; the browser gets server-rendered pages over loopback, behind a single-use login link, a
session cookie, CSRF tokens, a Host check, a strict Content-Security-Policy and an idle lock.
"""

from .config import DEFAULT_LOCK_AFTER_S, LOOPBACK_HOST, DeskConfig
from .errors import DeskError, NotLoopback
from .server import DESK_CONFIG, RunningDesk, create_desk_app, login_path, open_in_browser, run_desk, serve_desk
from .session import (
    BACKGROUND_HEADER,
    CSRF_FIELD,
    CSRF_HEADER,
    DESK_SESSION,
    SESSION_COOKIE,
    ClientOpener,
    DeskSession,
    csrf_token,
    desk_client,
    session_cookie_name,
)
from .unlock import WIPE_CONFIRMATION

__all__ = [
    "BACKGROUND_HEADER",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "DEFAULT_LOCK_AFTER_S",
    "DESK_CONFIG",
    "DESK_SESSION",
    "LOOPBACK_HOST",
    "SESSION_COOKIE",
    "WIPE_CONFIRMATION",
    "ClientOpener",
    "DeskConfig",
    "DeskError",
    "DeskSession",
    "NotLoopback",
    "RunningDesk",
    "create_desk_app",
    "csrf_token",
    "desk_client",
    "login_path",
    "open_in_browser",
    "run_desk",
    "serve_desk",
    "session_cookie_name",
]
