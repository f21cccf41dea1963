"""The relay's shared resources, reached by handlers through one ``web.AppKey``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .auth import Authenticator
from .blobs import BlobFiles
from .config import RelayConfig
from .notifier import Notifier
from .ratelimit import HourlyBudget, TokenBucketLimiter
from .storage import RelayStore


@dataclass(eq=False)
class Relay:
    """Everything a request handler may use; built by ``create_app`` when the app starts."""

    config: RelayConfig
    clock: Callable[[], float]
    store: RelayStore
    blobs: BlobFiles
    auth: Authenticator
    notifier: Notifier
    limiter: TokenBucketLimiter
    bundle_limiter: TokenBucketLimiter
    bundle_budget: HourlyBudget
    sockets: set[web.WebSocketResponse] = field(default_factory=set)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def expiry_ms(self, now_ms: int, lifetime_s: int) -> int:
        """When something received at ``now_ms`` with requested ``lifetime_s`` (0 = maximum) expires."""
        cap = self.config.max_lifetime_s
        return now_ms + 1000 * (cap if lifetime_s == 0 else min(lifetime_s, cap))


RELAY: web.AppKey[Relay] = web.AppKey("confide_relay", Relay)
