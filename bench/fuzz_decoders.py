"""Fuzz every decoder for longer than make test does: arbitrary and mutated inputs, the same property.

    python bench/fuzz_decoders.py [--quick] [--seconds N] [--only NAME] [--json]

The decoders, their documented errors and valid encodings, and the property (:func:`tests.decoders.check`)
are those of ``tests/*/test_decoder_properties.py``, which run a few hundred derandomized inputs per decoder in
``make test``. Here Hypothesis draws fresh random inputs in batches, half arbitrary and half mutations of a
valid encoding, until each decoder's share of ``--seconds`` is spent. An input fails when the decoder raises
anything but its documented typed errors, accepts a non-canonical encoding, opens an altered authenticated
one, or changes state on a failed decryption. Prints, per decoder, the inputs tried, how many parsed, and each
failure (the smallest failing input Hypothesis found); exits 1 if there was any failure.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import add_common_flags, bench_parser, print_json

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests.decoders

from tests.decoders import (
    BYTE_DECODERS,
    TEXT_DECODERS,
    Decoder,
    T,
    arbitrary_bytes,
    arbitrary_text,
    mutated_bytes,
    mutated_texts,
    prove,
)

DEFAULT_SECONDS = 600
"""Ten minutes in all: tens of thousands of inputs per decoder, long enough to reach rare field values."""
QUICK_SECONDS = 36
"""One second per decoder: a smoke run that the script itself works."""
BATCH = 100
"""Inputs per Hypothesis run; a decoder's loop checks its time between runs, so this bounds the overshoot."""
MAX_REPORT_CHARS = 600
"""A failure's report (exception and smallest input) is cut to this length: enough to reproduce it."""


@dataclass
class Outcome:
    """What one decoder's fuzzing found."""

    inputs: int = 0
    parsed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def tally(self, parsed: bool) -> None:
        self.inputs += 1
        self.parsed += parsed

    def as_json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "parsed": self.parsed,
            "seconds": round(self.seconds, 1),
            "failures": self.failures,
        }


def _report(kind: str, exc: BaseException) -> str:
    notes = " ".join(getattr(exc, "__notes__", []))
    return f"{kind}: {type(exc).__name__}: {exc} {notes}".strip()[:MAX_REPORT_CHARS]


def _fuzz(decoder: Decoder[T], strategies: dict[str, Any], seconds: float) -> Outcome:
    """Alternate ``strategies`` in batches for ``seconds``; stop at the first failure (it would recur)."""
    outcome = Outcome()
    start = time.perf_counter()
    turn = 0
    while time.perf_counter() - start < seconds and not outcome.failures:
        kind = list(strategies)[turn % len(strategies)]
        turn += 1
        try:
            prove(decoder, strategies[kind], BATCH, derandomize=False, tally=outcome.tally)
        except Exception as exc:  # the failure itself: record it and move on to the next decoder
            outcome.failures.append(_report(kind, exc))
    outcome.seconds = time.perf_counter() - start
    return outcome


def run(seconds: float, only: str | None) -> dict[str, Outcome]:
    """Fuzz each decoder (or only those whose name contains ``only``) for its share of ``seconds``."""
    names = [n for n in (*BYTE_DECODERS, *TEXT_DECODERS) if only is None or only in n]
    if not names:
        raise SystemExit(f"no decoder name contains {only!r}")
    share = seconds / len(names)
    results: dict[str, Outcome] = {}
    for name in names:
        if name in BYTE_DECODERS:
            d = BYTE_DECODERS[name]
            results[name] = _fuzz(d, {"arbitrary": arbitrary_bytes(d), "mutated": mutated_bytes(d)}, share)
        else:
            t = TEXT_DECODERS[name]
            results[name] = _fuzz(t, {"arbitrary": arbitrary_text(t), "mutated": mutated_texts(t)}, share)
    return results


def main() -> int:
    parser = bench_parser(__doc__)
    add_common_flags(parser, quick_help=f"{QUICK_SECONDS} s in all instead of {DEFAULT_SECONDS}")
    parser.add_argument("--seconds", type=float, help=f"total fuzzing time (default {DEFAULT_SECONDS})")
    parser.add_argument("--only", help="fuzz only the decoders whose name contains this text")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else QUICK_SECONDS if args.quick else DEFAULT_SECONDS
    results = run(seconds, args.only)
    inputs = sum(o.inputs for o in results.values())
    failures = sum(len(o.failures) for o in results.values())
    if args.json:
        print_json(
            {
                "seconds": seconds,
                "decoders": len(results),
                "inputs": inputs,
                "failures": failures,
                "per_decoder": {name: o.as_json() for name, o in results.items()},
            }
        )
    else:
        width = max(map(len, results))
        print(f"{'decoder':<{width}}  {'inputs':>8}  {'parsed':>8}  failures")
        for name, o in results.items():
            print(f"{name:<{width}}  {o.inputs:>8}  {o.parsed:>8}  {len(o.failures)}")
            for failure in o.failures:
                print(f"  {failure}")
        print(f"{'all':<{width}}  {inputs:>8}  {'':>8}  {failures}  ({len(results)} decoders, {seconds:g} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
