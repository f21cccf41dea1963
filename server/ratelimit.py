"""In-memory abuse limits: token buckets per client connection (IP) and hourly budgets per address.

Nothing here is written to disk or logged: keys are held only while they matter and the tables are bounded.
"""

from __future__ import annotations

from collections import OrderedDict

from .errors import RateLimited

MAX_TRACKED_KEYS = 50_000
"""Keys (IPs or addresses) tracked at once, about 5 MiB; the least recently seen is forgotten first. A
forgotten key starts again with a full bucket, so the bound can only make the limiter more lenient."""

BUDGET_WINDOW_S = 3600.0
"""The per-address prekey budget renews every hour."""


class TokenBucketLimiter:
    """``rate`` events per second sustained, bursts of ``burst``; ``rate == 0`` disables the limiter."""

    def __init__(self, rate: float, burst: float, max_keys: int = MAX_TRACKED_KEYS) -> None:
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._max = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket.

        Raises:
            RateLimited: the bucket does not hold ``cost`` tokens.
        """
        if self._rate <= 0:
            return
        buckets = self._buckets
        state = buckets.pop(key, None)
        if state is None:
            tokens = self._burst
        else:
            tokens = min(self._burst, state[0] + (now - state[1]) * self._rate)
        if tokens < cost:
            buckets[key] = (tokens, now)
            raise RateLimited("too many requests from this connection; slow down and retry in a few seconds")
        buckets[key] = (tokens - cost, now)
        if len(buckets) > self._max:
            buckets.popitem(last=False)


class HourlyBudget:
    """A count per key that renews every :data:`BUDGET_WINDOW_S` seconds."""

    def __init__(self, per_window: int, max_keys: int = MAX_TRACKED_KEYS, window_s: float = BUDGET_WINDOW_S):
        self._limit = per_window
        self._window = window_s
        self._max = max_keys
        self._used: OrderedDict[bytes, tuple[int, float]] = OrderedDict()

    def available(self, key: bytes, now: float) -> bool:
        """True while ``key`` has budget left in its current window."""
        state = self._used.get(key)
        return state is None or now - state[1] >= self._window or state[0] < self._limit

    def spend(self, key: bytes, now: float, amount: int) -> None:
        """Record ``amount`` units spent by ``key``."""
        if amount <= 0:
            return
        state = self._used.pop(key, None)
        if state is None or now - state[1] >= self._window:
            state = (0, now)
        self._used[key] = (state[0] + amount, state[1])
        if len(self._used) > self._max:
            self._used.popitem(last=False)
