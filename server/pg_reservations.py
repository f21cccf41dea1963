"""Upload reservations shared by every relay process on one PostgreSQL database (:mod:`.reservations`).

A reservation is a row of ``upload_reservations`` (``pg_migrations``, ``0006_upload_reservations``), made by
``confide_reserve_upload`` under the device's advisory lock together with the quota check, and deleted when its
upload ends. A process that dies mid-upload leaves its rows; they stop counting after
:data:`RESERVATION_TTL_S` and are deleted by the device's next reservation. The relay-wide total
(:meth:`PgReservations.pending`, read on every send for the storage budget) is one read shared by the concurrent
requests of a process (:class:`~confide.server.pg_batches.Grouped`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Hashable

from .errors import MailboxFull
from .pg_batches import Grouped
from .pg_limits import PgPool, PoolHold
from .reservations import QUOTA_USED

_log = logging.getLogger(__name__)

RESERVATION_TTL_S = 3600
"""How long a reservation counts at most: an upload of the largest attachment (100 MiB) at 30 KiB/s, a poor mobile
link, takes under an hour, and a process that died mid-upload holds its device's quota that long at most."""

_LOCK_UPLOADS = 0x4355706C
"""Advisory lock class (``CUpl``) of a device's upload reservations."""

_SQL_RESERVE = "SELECT confide_reserve_upload($1, $2, $3, $4, $5, $6)"
_SQL_RELEASE = "DELETE FROM upload_reservations WHERE id = $1"
_SQL_PENDING = (
    "SELECT coalesce(sum(amount), 0) FROM upload_reservations "
    "WHERE until_ms > (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
)


class PgReservations:
    """:class:`~confide.server.reservations.Reservations` in PostgreSQL, on the counters' shared ``pool``."""

    def __init__(self, pool: PgPool, *, ttl_s: int = RESERVATION_TTL_S) -> None:
        self._pool = pool
        self._ttl_ms = 1000 * ttl_s
        self._hold = PoolHold(pool)
        self._pending_reads: Grouped[None, int] = Grouped(self._read_pending, name="reserved")

    def __repr__(self) -> str:
        return "PgReservations()"

    async def start(self) -> None:
        """Open the shared pool (which migrates the schema). Idempotent.

        Raises:
            Unavailable: PostgreSQL cannot be reached.
        """
        await self._hold.take()

    async def close(self) -> None:
        """Release the shared pool (idempotent)."""
        await self._pending_reads.drain()
        await self._hold.release()

    @contextlib.asynccontextmanager
    async def hold(self, device_id: bytes, amount: int, quota: int) -> AsyncIterator[None]:
        reservation = os.urandom(16)
        if not await self._pool.fetchval(
            _SQL_RESERVE, reservation, device_id, amount, quota, _LOCK_UPLOADS, self._ttl_ms
        ):
            raise MailboxFull(QUOTA_USED)
        try:
            yield
        finally:
            try:
                await self._pool.execute(_SQL_RELEASE, reservation)
            except Exception as exc:  # the database gone: the row expires after RESERVATION_TTL_S
                _log.warning("an upload reservation was not released (%s); it expires on its own", type(exc).__name__)

    async def pending(self) -> int:
        [total] = await self._pending_reads.call([None])
        return total

    async def _read_pending(self, _key: Hashable, asks: list[None]) -> list[int]:
        total = int(await self._pool.fetchval(_SQL_PENDING))
        return [total] * len(asks)
