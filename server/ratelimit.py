"""Abuse limits: token buckets per client connection (IP) and hourly budgets per address.

The embedded relay keeps both in process memory (:mod:`confide.server.inprocess`), so each relay process
counts alone; several processes behind one address share them through a networked implementation of these
interfaces. Keys are held only while they matter and are never written to a log.
"""

from __future__ import annotations

from typing import Protocol


class RateLimiter(Protocol):
    """``take`` spends tokens of a key's bucket; the bucket refills at a steady rate up to a burst size."""

    async def start(self) -> None:
        """Connect or allocate; called once by each app using the limiter before it serves (idempotent)."""
        ...

    async def take(self, key: str, now: float, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket at ``now`` (unix seconds).

        Raises:
            RateLimited: the bucket does not hold ``cost`` tokens.
        """
        ...

    async def close(self) -> None:
        """Release what :meth:`start` took (idempotent)."""
        ...


class Budget(Protocol):
    """A count per key that renews every :data:`~confide.server.limits.BUDGET_WINDOW_S` seconds."""

    async def start(self) -> None:
        """Connect or allocate; called once by each app using the budget before it serves (idempotent)."""
        ...

    async def available(self, key: bytes, now: float) -> bool:
        """True while ``key`` has budget left in its current window."""
        ...

    async def try_spend(self, key: bytes, now: float, amount: int) -> bool:
        """Spend ``amount`` units of ``key``'s budget at ``now`` if all are left (True), else nothing (False).

        The check and the spend are one atomic step: concurrent callers together never spend more than the
        budget (a networked implementation does both in one round trip, e.g. a script or a transaction)."""
        ...

    async def spend(self, key: bytes, now: float, amount: int) -> None:
        """Record ``amount`` units spent by ``key`` at ``now`` (a non-positive amount records nothing)."""
        ...

    async def close(self) -> None:
        """Release what :meth:`start` took (idempotent)."""
        ...
