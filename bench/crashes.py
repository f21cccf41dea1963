"""Client crashes, repeated: one profile SIGKILLed again and again at random points, checked after every restart.

The long version of ``tests/reliability/test_client_crash.py``. A relay runs on loopback in this process; Bob is
a library client here; Alice's profile is opened, run after run, by a child process
(``python -m tests.reliability.crashkit``) that stops at a random crash point (``ack``, ``commit``,
``encrypted``, ``post``, ``posted``; see that module) on a random hit: while receiving 1–4 messages from Bob or
while sending 1–4 of her own. The child is SIGKILLed there while it holds the profile open; Alice's profile is
reopened here and synced, Bob syncs, and one more message goes each way (a DH ratchet turn). After every run:
each message Bob sent is shown to Alice exactly once, each of Alice's messages that was committed (the send
returned, or was killed after its commit) is shown to Bob exactly once and none that was not, and neither side
saw an undecryptable message or a session reset. The same profiles go through every run, so damage from one
crash would show in the next.

    .venv/bin/python bench/crashes.py                 # 40 runs
    .venv/bin/python bench/crashes.py --quick --json  # 8 runs
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import add_common_flags, bench_parser, print_result

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests.reliability

from confide.client import (
    Client,
    Event,
    MessageReceived,
    MessageUndecryptable,
    SessionReset,
    messaging,
)
from confide.keys.keystore import TEST_KDF
from confide.server import RelayConfig, start_relay
from tests.reliability.crashkit import CRASH_POINTS, RECEIVE_POINTS, ChildClient

PASSPHRASE = "correct horse battery staple"
DEFAULT_RUNS = 40
QUICK_RUNS = 8
MAX_BATCH = 4
"""Messages per run on the crashing side: enough for the kill to land on a middle one."""


def _texts(events: list[Event]) -> list[str]:
    return [e.message.text for e in events if isinstance(e, MessageReceived)]


def _broken(events: list[Event]) -> int:
    return sum(isinstance(e, MessageUndecryptable | SessionReset) for e in events)


class Tally:
    """What each side's application was shown, against what it should have been shown."""

    def __init__(self) -> None:
        self.expected: dict[str, list[str]] = {"alice": [], "bob": []}
        self.shown: dict[str, list[str]] = {"alice": [], "bob": []}
        self.broken = 0

    def saw(self, side: str, events: list[Event]) -> None:
        self.shown[side] += _texts(events)
        self.broken += _broken(events)

    def lost(self) -> int:
        return sum(len(set(self.expected[s]) - set(self.shown[s])) for s in self.expected)

    def duplicated(self) -> int:
        return sum(n - 1 for s in self.shown for n in Counter(self.shown[s]).values() if n > 1)

    def unexpected(self) -> int:
        return sum(len(set(self.shown[s]) - set(self.expected[s])) for s in self.shown)

    def in_order(self) -> bool:
        return all(self.shown[s] == self.expected[s] for s in self.shown)


async def _one_run(run: int, rng: random.Random, alice: Path, b: Client, tally: Tally) -> str:
    """One crash and restart; returns the crash point."""
    point = rng.choice(CRASH_POINTS)
    count = rng.randint(1, MAX_BATCH)
    if point in RECEIVE_POINTS:
        texts = [f"r{run}-b{i}" for i in range(count)]
        for text in texts:
            await b.send_text("a", text)
        tally.expected["alice"] += texts
        nth = 1 if point == "ack" else rng.randint(1, count)  # one ack per batch; one commit per message
        child = await ChildClient.start(alice, PASSPHRASE, crash_at=f"{point}:{nth}")
        await child.send({"op": "sync"})
        await child.kill_at(point)
    else:
        nth = rng.randint(1, count)
        child = await ChildClient.start(alice, PASSPHRASE, crash_at=f"{point}:{nth}")
        for i in range(count):
            text = f"r{run}-a{i}"
            answer = await child.ask({"op": "send", "peer": "b", "text": text})
            if "paused" in answer:
                assert answer == {"paused": point}
                if point != "encrypted":  # committed before the kill: it must arrive
                    tally.expected["bob"].append(text)
                await child.kill()
                break
            assert answer == {"status": "sent"}, answer
            tally.expected["bob"].append(text)
    async with Client.open(alice, PASSPHRASE) as a:
        a.auto_download = False
        tally.saw("alice", await a.sync())
        tally.saw("bob", await b.sync())
        tally.saw("bob", await b.sync())
        after_a, after_b = f"r{run}-after-a", f"r{run}-after-b"
        await a.send_text("b", after_a)
        tally.expected["bob"].append(after_a)
        tally.saw("bob", await b.sync())
        await b.send_text("a", after_b)
        tally.expected["alice"].append(after_b)
        tally.saw("alice", await a.sync())
    return point


async def measure(runs: int, seed: int) -> dict[str, Any]:
    messaging.RECEIPT_DELAY_MIN_S = messaging.RECEIPT_DELAY_MAX_S = 0.0
    rng = random.Random(seed)  # the schedule only; keys and ids come from os.urandom
    tally = Tally()
    points: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = RelayConfig(data_dir=root / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
        async with start_relay(config) as url:
            a = await Client.create(root / "alice", PASSPHRASE, url, "alice", "client", kdf=TEST_KDF)
            b = await Client.create(root / "bob", PASSPHRASE, url, "bob", "therapist", kdf=TEST_KDF)
            a.add_contact("b", b.invite_code())
            b.add_contact("a", a.invite_code())
            await a.close()
            started = time.perf_counter()
            for run in range(runs):
                points[await _one_run(run, rng, root / "alice", b, tally)] += 1
            seconds = time.perf_counter() - started
            await b.close()
    return {
        "runs": runs,
        "seed": seed,
        "kills": dict(sorted(points.items())),
        "messages_expected": sum(len(v) for v in tally.expected.values()),
        "messages_shown": sum(len(v) for v in tally.shown.values()),
        "lost": tally.lost(),
        "duplicated": tally.duplicated(),
        "unexpected": tally.unexpected(),
        "in_order": tally.in_order(),
        "undecryptable_or_reset": tally.broken,
        "seconds": round(seconds, 1),
        "seconds_per_run": round(seconds / runs, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"crash runs (default {DEFAULT_RUNS})")
    parser.add_argument("--seed", type=int, default=None, help="seed of the schedule (default: random)")
    add_common_flags(parser, quick_help=f"{QUICK_RUNS} runs")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    result = asyncio.run(measure(QUICK_RUNS if args.quick else args.runs, seed))
    print_result(result, as_json=args.json)
    clean = not (result["lost"] or result["duplicated"] or result["unexpected"] or result["undecryptable_or_reset"])
    return 0 if clean and result["in_order"] else 1


if __name__ == "__main__":
    sys.exit(main())
