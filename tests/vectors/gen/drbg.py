"""The vectors' DRBG, as protocol/SPEC.md section 11 describes it, a recorder of what it hands out, and a
replayer of what a file lists."""

from __future__ import annotations

import hashlib

from confide.keys.encoding import RNG

RNG_ALGORITHM = "SHAKE-256(seed || u64be counter), n bytes per call"
"""The DRBG, as written into every file (see :class:`SeededRng`)."""
RNG_NOTE = (
    "call k (k = 1, 2, ...) returns the first n bytes of SHAKE-256(seed || k as 8 bytes big-endian); "
    "the counter grows by one per call whatever n is"
)


class SeededRng:
    """Deterministic byte source for tests and vectors: SHAKE-256(seed || counter) blocks.

    The one definition: ``tests/protocol/parties.py`` and ``tests/test_vectors.py`` import it through
    ``tests/vectors/generate.py``, which re-exports it.
    """

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)


class RecordingRng:
    """Wraps an RNG and remembers what it handed out, so the vectors can list every draw."""

    def __init__(self, inner: RNG) -> None:
        self._inner = inner
        self.outputs: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = self._inner(n)
        self.outputs.append(out)
        return out

    def take(self) -> list[str]:
        """The draws since the last :meth:`take`, as hex, and forget them."""
        out = [o.hex() for o in self.outputs]
        self.outputs.clear()
        return out


class ReplayRng:
    """An RNG that hands out a vector file's listed draws (hex), in order, and insists on each one's length.

    The counterpart of :class:`RecordingRng`, for the checkers that rerun an algorithm with the listed draws.
    An ``AssertionError`` when asked for a length other than the next draw's, an ``IndexError`` past the last.
    """

    def __init__(self, draws: list[str]) -> None:
        self._draws = [bytes.fromhex(d) for d in draws]

    def __call__(self, n: int) -> bytes:
        out = self._draws.pop(0)
        assert len(out) == n
        return out

    def done(self) -> bool:
        """Whether every listed draw has been handed out."""
        return not self._draws
