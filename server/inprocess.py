"""The single-process implementations: replay cache, rate limiters, budget, mailbox sequence and push.

Each keeps its state in this process's memory, bounded, and never writes it to disk or to a log. That is right
for the embedded relay (one process); a second relay process would have its own memory, so it would accept a
request replayed from the first, count rate limits and budgets apart, hand out clashing mailbox numbers and
never see the other's pushes. Several relay processes need networked implementations of the same interfaces
(:mod:`~confide.server.replay`, :mod:`~confide.server.ratelimit`, :mod:`~confide.server.sequence`,
:mod:`~confide.server.notifier`). Every method here returns without waiting on anything.
"""

from __future__ import annotations

from collections import OrderedDict

from .errors import RateLimited, Unauthorized
from .limits import BUDGET_WINDOW_S, NONCE_MEMORY_S
from .notifier import Subscription
from .storage import StoredEnvelope

MAX_NONCES = 200_000
"""Remembered nonces (about 30 MiB at most): 650 authenticated requests per second sustained over the
10-minute memory of the cache. When full, new proofs are refused rather than old nonces forgotten, so a
flood can slow the relay down but never reopen a replay."""

MAX_TRACKED_KEYS = 50_000
"""Keys (IPs or addresses) tracked at once by a limiter or budget, about 5 MiB; the least recently seen is
forgotten first. A forgotten key starts again with a full bucket, so the bound can only make the limiter more
lenient."""


class NonceCache:
    """:class:`~confide.server.replay.ReplayCache` of one process: nonces seen recently, forgotten in
    insertion order once they can no longer be replayed."""

    def __init__(self, max_entries: int = MAX_NONCES, memory_s: float = NONCE_MEMORY_S) -> None:
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._max = max_entries
        self._memory = memory_s

    def __len__(self) -> int:
        return len(self._seen)

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release (the memory goes with the object)."""

    async def remember(self, key: bytes, now: float) -> None:
        """Remember ``key``.

        Raises:
            Unauthorized: ``key`` was seen within the replay window (a replay).
            RateLimited: the cache is full of live nonces.
        """
        seen = self._seen
        while seen:
            oldest_key, expires = next(iter(seen.items()))
            if expires > now:
                break
            del seen[oldest_key]
        if key in seen:
            raise Unauthorized("this request was already used (replay refused); sign each request afresh")
        if len(seen) >= self._max:
            raise RateLimited("the relay is handling too many requests; retry in a minute")
        seen[key] = now + self._memory


class TokenBucketLimiter:
    """:class:`~confide.server.ratelimit.RateLimiter` of one process: ``rate`` events per second sustained,
    bursts of ``burst``; ``rate == 0`` disables the limiter."""

    def __init__(self, rate: float, burst: float, max_keys: int = MAX_TRACKED_KEYS) -> None:
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._max = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release."""

    async def take(self, key: str, now: float, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket.

        Raises:
            RateLimited: the bucket does not hold ``cost`` tokens.
        """
        if self._rate <= 0:
            return
        buckets = self._buckets
        state = buckets.pop(key, None)
        tokens = self._burst if state is None else min(self._burst, state[0] + (now - state[1]) * self._rate)
        if tokens < cost:
            buckets[key] = (tokens, now)
            raise RateLimited("too many requests from this connection; slow down and retry in a few seconds")
        buckets[key] = (tokens - cost, now)
        if len(buckets) > self._max:
            buckets.popitem(last=False)


class HourlyBudget:
    """:class:`~confide.server.ratelimit.Budget` of one process: a count per key that renews every
    :data:`~confide.server.limits.BUDGET_WINDOW_S` seconds."""

    def __init__(self, per_window: int, max_keys: int = MAX_TRACKED_KEYS, window_s: float = BUDGET_WINDOW_S):
        self._limit = per_window
        self._window = window_s
        self._max = max_keys
        self._used: OrderedDict[bytes, tuple[int, float]] = OrderedDict()

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release."""

    async def available(self, key: bytes, now: float) -> bool:
        """True while ``key`` has budget left in its current window."""
        state = self._used.get(key)
        return state is None or now - state[1] >= self._window or state[0] < self._limit

    async def spend(self, key: bytes, now: float, amount: int) -> None:
        """Record ``amount`` units spent by ``key``."""
        if amount <= 0:
            return
        state = self._used.pop(key, None)
        if state is None or now - state[1] >= self._window:
            state = (0, now)
        self._used[key] = (state[0] + amount, state[1])
        if len(self._used) > self._max:
            self._used.popitem(last=False)


class InProcessSequence:
    """:class:`~confide.server.sequence.MailboxSequence` of one process: a counter above the highest stored
    number.

    SQLite would reuse the rowid of a deleted last row, and a socket that already sent that number would then
    skip the new envelope; AUTOINCREMENT would keep a persistent high-water mark (a count of all traffic ever).
    So: the highest stored number at start, then counted in memory; numbers need only increase within the life
    of the process (sockets die with it).
    """

    def __init__(self) -> None:
        self._last = 0

    async def start(self, floor: int) -> None:
        """Continue above ``floor`` (and above every number already handed out)."""
        self._last = max(self._last, floor)

    async def close(self) -> None:
        """Nothing to release."""

    async def reserve(self, count: int) -> range:
        """The next ``count`` numbers. Raises :class:`ValueError` if ``count`` is negative."""
        if count < 0:
            raise ValueError("count must not be negative")
        first = self._last + 1
        self._last += count
        return range(first, first + count)


class InProcessNotifier:
    """:class:`~confide.server.notifier.Notifier` for a single relay process."""

    def __init__(self) -> None:
        self._subs: dict[bytes, set[Subscription]] = {}

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release: each socket unsubscribes as it closes."""

    async def subscribe(self, device_id: bytes) -> Subscription:
        """A new buffer for a socket of ``device_id``."""
        sub = Subscription(device_id)
        self._subs.setdefault(device_id, set()).add(sub)
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        """Forget ``sub``."""
        subs = self._subs.get(sub.device_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.device_id]

    async def publish(self, device_id: bytes, envelope: StoredEnvelope) -> None:
        """Push ``envelope`` into every buffer of ``device_id``."""
        for sub in self._subs.get(device_id, ()):
            sub.push(envelope)

    def sockets(self, device_id: bytes) -> int:
        """Buffers (sockets) of ``device_id``."""
        return len(self._subs.get(device_id, ()))
