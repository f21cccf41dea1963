"""What the benchmarks share: clocks and timing loops, statistics, resident memory, the common flags, output.

``bench/crypto.py``, ``bench/relay.py`` and ``bench/attachment.py`` import it as ``harness`` (each runs as a
script from ``bench/``, which Python puts first on the import path).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

MIB = 1024 * 1024

WARMUP_FRACTION = 5
"""Each timed block is preceded by an untimed warm-up of 1/5 its length (caches, allocator, branch
predictors)."""

JSON_HELP = "print one JSON object"
"""Help text of ``--json`` unless a benchmark says more."""

Block = Callable[[int], int]
"""A timed unit of work: ``block(n)`` runs ``n`` units and returns how many items (messages) that was."""


# -- clocks and timing loops ----------------------------------------------------------------------------------


class Stopwatch:
    """Wall-clock seconds (``time.perf_counter``) of a ``with`` block: ``start`` on entry, ``seconds`` on exit."""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.seconds = time.perf_counter() - self.start


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect once, then keep the garbage collector off for the block (restored afterwards)."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_block(block: Block, n: int) -> float:
    """Nanoseconds per item of one timed run of ``block(n)``, after a warm-up, with gc paused."""
    with gc_paused():
        block(max(1, n // WARMUP_FRACTION))
        start = time.perf_counter_ns()
        items = block(n)
        elapsed = time.perf_counter_ns() - start
    return elapsed / items


def calibrate(block: Block, target_ns: int, minimum: int = 1) -> int:
    """How many units make one block last about ``target_ns``."""
    n = minimum
    while True:
        with gc_paused():
            start = time.perf_counter_ns()
            block(n)
            elapsed = time.perf_counter_ns() - start
        if elapsed >= target_ns // 4 or n > 10_000_000:
            return max(minimum, int(n * target_ns / max(elapsed, 1)))
        n *= 4


# -- statistics ---------------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    """The median (the mean of the middle two for an even count)."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value at ``fraction`` (0 to 1) of the sorted values: index ``int(len * fraction)``, capped at the last."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# -- memory -------------------------------------------------------------------------------------------------


def rss_mib(pid: int | None = None) -> float:
    """Resident set of process ``pid`` (this process if None) in MiB, from /proc (Linux)."""
    status = Path(f"/proc/{'self' if pid is None else pid}/status")
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in {status}")


# -- command line and output --------------------------------------------------------------------------------


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of a benchmark's docstring."""
    return argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)


def add_common_flags(parser: argparse.ArgumentParser, *, quick_help: str, json_help: str = JSON_HELP) -> None:
    """``--quick`` (a shorter run, described by ``quick_help``) and ``--json``, which every benchmark takes."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", action="store_true", help=json_help)


def print_json(result: Mapping[str, Any], *, indent: int | None = None) -> None:
    print(json.dumps(result, indent=indent))


def print_fields(result: Mapping[str, Any], *, width: int | None = None, gap: str = "  ") -> None:
    """One ``key value`` line per field, keys left-aligned to ``width`` (default: the longest key)."""
    pad = max(map(len, result)) if width is None else width
    for key, value in result.items():
        print(f"{key:<{pad}}{gap}{value}")


def print_result(result: Mapping[str, Any], *, as_json: bool, width: int | None = None, gap: str = "  ") -> None:
    """``result`` as one JSON object, or as :func:`print_fields` lines."""
    if as_json:
        print_json(result)
    else:
        print_fields(result, width=width, gap=gap)
