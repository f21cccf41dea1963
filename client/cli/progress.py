"""A progress bar for long uploads."""

from __future__ import annotations

from typing import TextIO


class ProgressBar:
    """A one-line progress bar on ``stream`` (drawn only when it is a terminal); a ``progress(done, total)``
    callback for :meth:`confide.client.Client.send_file`."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self._label = label
        self._stream = stream
        self._enabled = stream.isatty()
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        pct = 100 if total == 0 else done * 100 // total
        if pct == self._last:
            return
        self._last = pct
        bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
        self._stream.write(f"\r{self._label} [{bar}] {pct:3d}%")
        if pct >= 100:
            self._stream.write("\n")
        self._stream.flush()
