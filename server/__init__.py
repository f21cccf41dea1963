"""Confide relay: an aiohttp server that stores only ciphertext and public keys, and forgets on time.

The embedded backend (SQLite, blob files, in-process push and limits) serves one relay process; every part
sits behind a ``typing.Protocol`` so a backend for several processes can replace it (see ``Backend``).
"""

from .app import create_app, start_relay
from .backends import describe_holdings, embedded_backend
from .blobstore import BlobStore
from .cli import add_serve_arguments, main, run_serve
from .config import RelayConfig
from .db import SqliteStore
from .errors import HttpError
from .inprocess import InProcessNotifier
from .notifier import Notifier
from .ratelimit import Budget, RateLimiter
from .replay import ReplayCache
from .sequence import MailboxSequence
from .state import Backend
from .storage import HeldBlob, HeldEnvelope, Holdings, RelayStore
from .sweeper import sweep

__all__ = [
    "Backend",
    "BlobStore",
    "Budget",
    "HeldBlob",
    "HeldEnvelope",
    "Holdings",
    "HttpError",
    "InProcessNotifier",
    "MailboxSequence",
    "Notifier",
    "RateLimiter",
    "RelayConfig",
    "RelayStore",
    "ReplayCache",
    "SqliteStore",
    "add_serve_arguments",
    "create_app",
    "describe_holdings",
    "embedded_backend",
    "main",
    "run_serve",
    "start_relay",
    "sweep",
]
