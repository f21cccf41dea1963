"""What a Desk runs with: the profile, the loopback port, and how soon an idle Desk locks itself."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .errors import NotLoopback

LOOPBACK_HOST = "127.0.0.1"
"""The only address the Desk listens on: pages carry plaintext, so nothing off this device may connect (and
not ``localhost``, which may resolve to ``::1`` or, misconfigured, to anything)."""

DEFAULT_LOCK_AFTER_S = 15 * 60.0
"""Idle time before the Desk locks itself (keys dropped, passphrase needed): short enough that a screen
left open in a consulting room does not stay readable for long, long enough not to lock mid-session."""

MIN_LOCK_AFTER_S = 0.2
"""The shortest idle lock accepted: below it the Desk would lock between a page and its own next request."""

MAX_LOCK_AFTER_S = 24 * 3600.0
"""The longest idle lock accepted: a Desk must lock at least once a day, whatever was asked."""


@dataclass(frozen=True)
class DeskConfig:
    """How to run a Desk for the profile in ``profile_dir``.

    ``port`` 0 picks a free port; ``lock_after_s`` is the idle time before the Desk locks (requests of the live
    stream do not count); ``open_browser`` asks the system's browser to open the login link.

    Raises:
        NotLoopback: ``host`` is not 127.0.0.1.
        ValueError: ``port`` is not 0-65535, or ``lock_after_s`` is outside
            [:data:`MIN_LOCK_AFTER_S`, :data:`MAX_LOCK_AFTER_S`].
    """

    profile_dir: Path
    host: str = LOOPBACK_HOST
    port: int = 0
    lock_after_s: float = DEFAULT_LOCK_AFTER_S
    open_browser: bool = True

    def __post_init__(self) -> None:
        if self.host != LOOPBACK_HOST:
            raise NotLoopback(f"the Desk listens on {LOOPBACK_HOST} only, never on another address")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"the port must be 0-65535 (0: any free port), not {self.port}")
        if not (math.isfinite(self.lock_after_s) and MIN_LOCK_AFTER_S <= self.lock_after_s <= MAX_LOCK_AFTER_S):
            raise ValueError(f"the idle lock must be between {MIN_LOCK_AFTER_S:g} s and {MAX_LOCK_AFTER_S / 3600:g} h")
