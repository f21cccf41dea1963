"""Space reserved by attachment uploads in progress, so concurrent uploads cannot together exceed a quota.

An upload reserves its declared size (or the largest allowed, when it declares none) before the relay reads a
byte of its body, in one step with the quota check (the device's stored attachment bytes plus every reservation
of the device plus this one must fit its quota); it releases the reservation when its row is committed (the bytes
are then counted by the store) or when it fails. :meth:`Reservations.pending` is every upload's reservation, for
the relay-wide storage budget (:mod:`.room`).

:class:`InProcessReservations` keeps them in one process's memory (the embedded relay: one process). Several
processes share :class:`~confide.server.pg_reservations.PgReservations`, rows in the relay's PostgreSQL database,
so a device uploading through several processes at once still never passes its quota.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from .errors import MailboxFull
from .storage import RelayStore

QUOTA_USED = "this device's attachment quota is used up; delete old attachments or wait"
"""What a refused reservation says (a 507-style refusal as :class:`~confide.server.errors.MailboxFull`)."""


class Reservations(Protocol):
    """Attachment bytes reserved by uploads in progress, per device and relay-wide."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def hold(self, device_id: bytes, amount: int, quota: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Reserve ``amount`` bytes for ``device_id`` for the duration of the block, if its stored attachment bytes
        plus its reservations plus ``amount`` fit ``quota``; released when the block ends, however it ends.

        Raises:
            MailboxFull: they do not fit (nothing reserved).
            Unavailable: the shared store cannot answer right now (nothing reserved).
        """
        ...

    async def pending(self) -> int:
        """Bytes reserved by every upload in progress (of every process sharing the reservations).

        Raises:
            Unavailable: the shared store cannot answer right now.
        """
        ...


class InProcessReservations:
    """:class:`Reservations` of one process, checked against ``store``'s attachment bytes."""

    def __init__(self, store: RelayStore) -> None:
        self._store = store
        self._by_device: dict[bytes, int] = {}
        self.total = 0

    def __repr__(self) -> str:
        return f"InProcessReservations(devices={len(self._by_device)})"

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    def of(self, device_id: bytes) -> int:
        """Bytes reserved by ``device_id``'s uploads in progress."""
        return self._by_device.get(device_id, 0)

    async def pending(self) -> int:
        return self.total

    @contextlib.asynccontextmanager
    async def hold(self, device_id: bytes, amount: int, quota: int) -> AsyncIterator[None]:
        used = await self._store.blob_bytes(device_id)
        # From the store's answer to the reservation nothing suspends: the quota check and the reservation are
        # one step, so concurrent uploads of one device together never pass the quota (each counts the others'
        # reservations; a finished upload's bytes are in ``used`` before its reservation is released).
        if used + self.of(device_id) + amount > quota:
            raise MailboxFull(QUOTA_USED)
        self._by_device[device_id] = self.of(device_id) + amount
        self.total += amount
        try:
            yield
        finally:
            left = self.of(device_id) - amount
            if left:
                self._by_device[device_id] = left
            else:
                self._by_device.pop(device_id, None)
            self.total -= amount
