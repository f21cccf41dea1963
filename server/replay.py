"""The replay cache: a signed request is accepted once, by every relay process that shares the cache.

:class:`~confide.server.auth.Authenticator` records each verified proof's device id + nonce here. The embedded
relay uses :class:`~confide.server.inprocess.NonceCache`, whose memory is one process's: a second relay
process with its own cache would accept a request replayed from the first. Several relay processes behind
one address must share one cache (a networked implementation of this interface).
"""

from __future__ import annotations

from typing import Protocol


class ReplayCache(Protocol):
    """Nonces of verified requests, each remembered for :data:`~confide.server.limits.NONCE_MEMORY_S`."""

    async def start(self) -> None:
        """Connect or allocate; called once by each app using the cache before it serves (idempotent)."""
        ...

    async def remember(self, key: bytes, now: float) -> None:
        """Record ``key`` (device id + nonce) as used at ``now`` (unix seconds).

        Raises:
            Unauthorized: ``key`` was recorded within the memory window (a replay).
            RateLimited: the cache cannot take more keys right now; nothing was recorded.
        """
        ...

    async def close(self) -> None:
        """Release what :meth:`start` took; called by each app using the cache when it stops (idempotent)."""
        ...
