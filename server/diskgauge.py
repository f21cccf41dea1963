"""The free space of the relay's data directory, read cheaply enough to ask on every send."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

DISK_READ_INTERVAL_S = 0.1
"""Least time between two reads of the data directory's free space. A read (``statvfs``) on every send cost
about 3 % of the relay's time at a thousand sends a second; between reads, the bytes this relay admitted are
subtracted from the last reading, so only other programs' writes of the last tenth of a second go unseen,
which the reserve (hundreds of MiB by default) absorbs."""


class DiskGauge:
    """The free space of one directory, read at most every :data:`DISK_READ_INTERVAL_S`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._read_at = float("-inf")
        self._free: int | None = None
        self._admitted = 0

    def free(self, directory: Path) -> int | None:
        """Free bytes now (the last reading less what was admitted since), or None if it cannot be read."""
        now = self._clock()
        if now - self._read_at >= DISK_READ_INTERVAL_S:
            self._read_at, self._admitted = now, 0
            try:
                self._free = shutil.disk_usage(directory).free
            except OSError:
                self._free = None
        return None if self._free is None else self._free - self._admitted

    def admit(self, size: int) -> None:
        """Count ``size`` bytes about to be written against the last reading."""
        self._admitted += size
