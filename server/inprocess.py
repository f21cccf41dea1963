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

from confide.protocol.auth import NONCE_LEN

from .errors import RateLimited, Unauthorized
from .limits import BUDGET_WINDOW_S, MAX_NONCES_PER_DEVICE, NONCE_MEMORY_S
from .notifier import Subscription
from .storage import StoredEnvelope

MAX_TRACKED_DEVICES = 50_000
"""Devices whose nonces are held at once (each at most
:data:`~confide.server.limits.MAX_NONCES_PER_DEVICE`); the least recently seen device is forgotten first.
Forgetting is safe: a forgotten device comes back with the floor its store row holds now (the highest proof
timestamp the relay accepted from it and the nonces at it), and every proof before that is refused."""

MAX_NONCES = 200_000
"""Nonces held at once over all devices (about 30 MiB): many throw-away devices each filling their share
cannot exhaust memory. Over it, the least recently seen devices are forgotten whole (safe, as above), never the
nonces of the device being served, so nobody is refused because others flood."""

MAX_TRACKED_KEYS = 50_000
"""Keys (IPs or addresses) tracked at once by a limiter or budget, about 5 MiB; the least recently seen is
forgotten first. A forgotten key starts again with a full bucket, so the bound can only make the limiter more
lenient."""


class _DeviceNonces:
    __slots__ = ("floor", "seen")

    def __init__(self, floor: int, floor_nonces: bytes, expires: float) -> None:
        # Stamps below the stored floor are refused outright; at the floor, the stored nonces are refused.
        self.floor = floor - 1
        self.seen: OrderedDict[bytes, float] = OrderedDict(
            (floor_nonces[i : i + NONCE_LEN], expires) for i in range(0, len(floor_nonces), NONCE_LEN)
        )


class NonceCache:
    """:class:`~confide.server.replay.ReplayCache` of one process: per device, the nonces seen recently (at most
    ``per_device``, forgotten in insertion order once they can no longer be replayed) above a floor.

    The floor is the highest proof timestamp the store had persisted for the device when this cache first saw
    it (after a restart, or after forgetting the device), with the nonces accepted at that timestamp: every
    request accepted before then is stamped below the floor, or at it with one of those nonces, so refusing
    those refuses every replay from before, without keeping older nonces anywhere.
    """

    def __init__(
        self,
        per_device: int = MAX_NONCES_PER_DEVICE,
        memory_s: float = NONCE_MEMORY_S,
        max_devices: int = MAX_TRACKED_DEVICES,
        max_total: int = MAX_NONCES,
    ) -> None:
        self._devices: OrderedDict[bytes, _DeviceNonces] = OrderedDict()
        self._per_device = per_device
        self._memory = memory_s
        self._max_devices = max_devices
        self._max_total = max_total
        self._total = 0

    def __len__(self) -> int:
        return self._total

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release (the memory goes with the object)."""

    async def remember(
        self, device_id: bytes, nonce: bytes, stamp: int, floor: int, floor_nonces: bytes, now: float
    ) -> None:
        """Remember ``nonce`` of ``device_id``'s proof stamped ``stamp``.

        Raises:
            Unauthorized: a replay (``nonce`` seen within the window, ``stamp`` below the floor, or at the floor
                with one of ``floor_nonces``).
            RateLimited: this device's share of the cache is full of live nonces (other devices are unaffected).
        """
        entry = self._devices.pop(device_id, None)
        if entry is None:
            entry = _DeviceNonces(floor, floor_nonces, now + self._memory)
        else:
            self._total -= len(entry.seen)
        self._devices[device_id] = entry
        seen = entry.seen
        while seen:
            oldest_key, expires = next(iter(seen.items()))
            if expires > now:
                break
            del seen[oldest_key]
        self._total += len(seen)
        if stamp <= entry.floor or nonce in seen:
            raise Unauthorized("this request was already used (replay refused); sign each request afresh")
        if len(seen) >= self._per_device:
            raise RateLimited("this device is sending too many signed requests; retry in a minute")
        seen[nonce] = now + self._memory
        self._total += 1
        while len(self._devices) > 1 and (len(self._devices) > self._max_devices or self._total > self._max_total):
            _, forgotten = self._devices.popitem(last=False)
            self._total -= len(forgotten.seen)


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
    """:class:`~confide.server.ratelimit.Budget` of one process: a count per key that renews every ``window_s``
    seconds (default :data:`~confide.server.limits.BUDGET_WINDOW_S`)."""

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

    async def try_spend(self, key: bytes, now: float, amount: int) -> bool:
        """Spend ``amount`` units of ``key``'s budget if all of them are left, and say so; else spend nothing.

        Check and spend are one step (no ``await`` between them), so concurrent callers never overspend."""
        if amount <= 0:
            return True
        state = self._used.get(key)
        used = 0 if state is None or now - state[1] >= self._window else state[0]
        if used + amount > self._limit:
            return False
        self._spend(key, now, amount)
        return True

    async def spend(self, key: bytes, now: float, amount: int) -> None:
        """Record ``amount`` units spent by ``key``."""
        self._spend(key, now, amount)

    def _spend(self, key: bytes, now: float, amount: int) -> None:
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

    async def disconnect(self, device_id: bytes) -> None:
        """Tell every socket of ``device_id`` to close (each unsubscribes as it closes)."""
        for sub in self._subs.get(device_id, ()):
            sub.close()

    def sockets(self, device_id: bytes) -> int:
        """Buffers (sockets) of ``device_id``."""
        return len(self._subs.get(device_id, ()))
