"""The replay cache: a signed request is accepted once, by every relay process that shares the cache.

:class:`~confide.server.auth.Authenticator` records each verified proof's device id + nonce here. The embedded
relay uses :class:`~confide.server.inprocess.NonceCache`, whose memory is one process's: a second relay
process with its own cache would accept a request replayed from the first. Several relay processes behind
one address must share one cache (a networked implementation of this interface).
"""

from __future__ import annotations

from typing import Protocol


class ReplayCache(Protocol):
    """Per device, nonces of verified requests, each remembered for :data:`~confide.server.limits.NONCE_MEMORY_S`,
    at most :data:`~confide.server.limits.MAX_NONCES_PER_DEVICE` of them, above a floor.

    The floor makes replay protection survive a restart while the store keeps only one timestamp and a few
    nonces per device: the store keeps the highest proof timestamp it accepted from the device and the nonces
    accepted at exactly that timestamp (written before the request is answered); a cache that does not hold a
    device (new process, or forgotten) refuses every proof stamped below that floor, and at the floor every
    proof with one of those nonces.
    """

    async def start(self) -> None:
        """Connect or allocate; called once by each app using the cache before it serves (idempotent)."""
        ...

    async def remember(
        self, device_id: bytes, nonce: bytes, stamp: int, floor: int, floor_nonces: bytes, now: float
    ) -> None:
        """Record ``nonce`` of ``device_id``'s proof stamped ``stamp`` as used at ``now`` (unix seconds);
        ``floor`` and ``floor_nonces`` are the store's (see above), used if the cache does not hold the device.

        Raises:
            Unauthorized: a replay: ``nonce`` recorded within the memory window, ``stamp`` below the device's
                floor, or at it with one of its nonces.
            RateLimited: this device's share is full of live nonces; nothing was recorded (others unaffected).
        """
        ...

    async def close(self) -> None:
        """Release what :meth:`start` took; called by each app using the cache when it stops (idempotent)."""
        ...
