"""Confide relay: an aiohttp server on SQLite that stores only ciphertext and forgets on time."""

from .app import create_app, start_relay
from .cli import add_serve_arguments, main, run_serve
from .config import RelayConfig
from .db import SqliteStore
from .errors import HttpError
from .notifier import InProcessNotifier, Notifier
from .storage import RelayStore
from .sweeper import sweep

__all__ = [
    "HttpError",
    "InProcessNotifier",
    "Notifier",
    "RelayConfig",
    "RelayStore",
    "SqliteStore",
    "add_serve_arguments",
    "create_app",
    "main",
    "run_serve",
    "start_relay",
    "sweep",
]
