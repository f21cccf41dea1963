"""Space reserved by attachment uploads in progress, so concurrent uploads cannot together exceed a quota.

An upload reserves its declared size (or the largest allowed, when it declares none) before the relay reads a
byte of its body, in one step with the quota check; it releases the reservation when its row is committed (the
bytes are then counted by the store) or when it fails. This is one process's memory: several relay processes
need a shared implementation (the check would move into the store's write transaction).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Reservations:
    """Reserved bytes per device and in total."""

    def __init__(self) -> None:
        self._by_device: dict[bytes, int] = {}
        self.total = 0

    def of(self, device_id: bytes) -> int:
        """Bytes reserved by ``device_id``'s uploads in progress."""
        return self._by_device.get(device_id, 0)

    @contextlib.contextmanager
    def hold(self, device_id: bytes, amount: int) -> Iterator[None]:
        """Reserve ``amount`` bytes for ``device_id`` for the duration of the block.

        The caller checks its quotas against :meth:`of` and :attr:`total` *immediately* before entering (no
        ``await`` between the check and the reservation), so check and reservation are one step."""
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
