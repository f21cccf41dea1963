"""The relay's shared resources, reached by handlers through one ``web.AppKey``.

Handlers, the sweeper and authentication see only interfaces: :class:`Backend` bundles the replaceable parts
(storage, blobs, push, replay cache, limits), each a ``typing.Protocol``. Which implementations make up a
backend is decided in :mod:`confide.server.backends`, and nowhere else.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .auth import Authenticator
from .blobstore import BlobStore
from .clientaddr import IPNetwork, parse_networks
from .config import RelayConfig
from .diskgauge import DiskGauge
from .notifier import Notifier
from .ratelimit import Budget, RateLimiter
from .replay import ReplayCache
from .reservations import InProcessReservations, Reservations
from .storage import RelayStore


@dataclass(frozen=True, slots=True)
class Backend:
    """The replaceable parts of one relay. The app starts each (storage first) and closes them in reverse.

    ``limiter`` limits every request per client IP, ``bundle_limiter`` prekey-bundle fetches per client IP,
    ``bundle_budget`` one-time prekeys handed out per address; ``device_limiter`` signed requests per device,
    ``recipient_limiter`` sealed envelopes per recipient device and ``token_limiter`` per delivery-token hash.
    """

    store: RelayStore
    blobs: BlobStore
    notifier: Notifier
    replay: ReplayCache
    limiter: RateLimiter
    bundle_limiter: RateLimiter
    bundle_budget: Budget
    device_limiter: RateLimiter
    recipient_limiter: RateLimiter
    token_limiter: RateLimiter
    token_bytes: Budget
    """Sealed bytes per day per recipient device + delivery-token hash."""
    address_bytes: Budget
    """Bytes per day (envelopes and uploads) per client address."""
    upload_bytes: Budget
    """Bytes per day per uploading device (attachments) and per publishing address (practice documents, keyed
    ``confide-document-publisher:`` + address, so the two never share a bucket)."""
    reservations: Reservations | None = None
    """Upload reservations shared by several processes; None: the relay keeps its own, in memory."""


@dataclass(eq=False)
class Relay:
    """Everything a request handler may use; built by ``create_app``."""

    config: RelayConfig
    clock: Callable[[], float]
    backend: Backend
    auth: Authenticator
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    reservations: Reservations = field(init=False)
    """Attachment bytes reserved by uploads in progress: ``backend.reservations``, or this process's own."""
    work_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Key of the registration challenges this process issues (a restart invalidates open challenges)."""
    disk: DiskGauge = field(default_factory=lambda: DiskGauge())
    """Free space of the data directory (read at most ten times a second; see :mod:`confide.server.room`)."""
    trusted_proxies: tuple[IPNetwork, ...] = ()
    """The reverse proxies whose ``X-Forwarded-For`` names the client (parsed from ``config``)."""

    def __post_init__(self) -> None:
        self.trusted_proxies = parse_networks(self.config.trusted_proxies)
        shared = self.backend.reservations
        self.reservations = InProcessReservations(self.backend.store) if shared is None else shared

    @property
    def store(self) -> RelayStore:
        """Accounts, prekeys, mailboxes, blob records."""
        return self.backend.store

    @property
    def blobs(self) -> BlobStore:
        """Attachment bytes."""
        return self.backend.blobs

    @property
    def notifier(self) -> Notifier:
        """Push to open sockets."""
        return self.backend.notifier

    @property
    def limiter(self) -> RateLimiter:
        """Requests per client IP."""
        return self.backend.limiter

    @property
    def bundle_limiter(self) -> RateLimiter:
        """Prekey-bundle fetches per client IP."""
        return self.backend.bundle_limiter

    @property
    def bundle_budget(self) -> Budget:
        """One-time prekeys handed out per address per hour."""
        return self.backend.bundle_budget

    @property
    def recipient_limiter(self) -> RateLimiter:
        """Sealed envelopes per recipient device."""
        return self.backend.recipient_limiter

    @property
    def token_limiter(self) -> RateLimiter:
        """Sealed envelopes per delivery-token hash."""
        return self.backend.token_limiter

    def now_ms(self) -> int:
        """The relay clock in unix milliseconds."""
        return int(self.clock() * 1000)

    def expiry_ms(self, now_ms: int, lifetime_s: int) -> int:
        """When something received at ``now_ms`` with requested ``lifetime_s`` (0 = maximum) expires."""
        cap = self.config.max_lifetime_s
        return now_ms + 1000 * (cap if lifetime_s == 0 else min(lifetime_s, cap))


RELAY: web.AppKey[Relay] = web.AppKey("confide_relay", Relay)
