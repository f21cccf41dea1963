"""A hostile relay, for longer: seeded random fault schedules against two clients, round after round.

A real relay on loopback behind the fault-injecting proxy of ``tests/reliability/hostile.py``. Each round Alice
sends Bob a few texts; the proxy decides each delivery's fate at random (deliver, drop, hold until a later one went
out, duplicate, flip one bit in a random region, truncate), replays old deliveries (as sent, or under a fresh
envelope id), and now and then lies about ``more`` (serving the same page again), about Bob's prekey stock
(zero, huge, negative) and substitutes Mallory's bundle when Carol asks for Bob's. Bob syncs twice a round and is
sometimes restarted. A fresh pair every ``--pair-rounds`` rounds keeps the never-delivered envelopes, which the
honest relay keeps, to a few pages.

Checked and reported: forgeries accepted (a shown text Alice never sent), messages shown twice, messages lost
that no fault explains (a clean, duplicated or released delivery not shown), events other than messages on
Bob's side, prekey and substitution outcomes, and any exception that is not a ``ConfideError``. All of them but
the counts of faults and of messages must be zero.

    .venv/bin/python bench/hostile.py --quick            # 100 rounds (about half a minute)
    .venv/bin/python bench/hostile.py --seed 7 --json    # 1,000 rounds (about five minutes)
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import add_common_flags, bench_parser, print_result

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests.reliability

from confide.client import (
    INSECURE_TEST_KDF,
    Client,
    ConfideError,
    Event,
    MessageReceived,
    PrekeysLow,
    RelayError,
    messaging,
)
from confide.protocol.errors import RemoteProtocolError
from tests.reliability.hostile import (
    ENVELOPE_ID_LEN,
    REGIONS,
    Action,
    Drop,
    Duplicate,
    Flip,
    Hold,
    HostileRelay,
    Truncate,
    hostile_relay,
)

PASSPHRASE = "hostile relay bench"

QUICK_ROUNDS = 100
"""Rounds of ``--quick``: every fault kind dozens of times over, in about half a minute on 2 cores."""
DEFAULT_ROUNDS = 1000
"""Rounds of a full run (about five minutes)."""
PAIR_ROUNDS = 20
"""Rounds per Alice/Bob pair: the honest relay keeps what the proxy never delivers (drops, holds whose turn never
comes), oldest first in every page; a fresh pair well before 100 such envelopes keeps pages from filling up."""
MAX_PER_ROUND = 8
"""Most texts Alice sends in one round (far inside the ratchet's skip limit even with every hold)."""
SYNC_TIMEOUT_S = 30.0
"""A sync that takes longer than this counts as held by the relay (an outcome that must stay zero)."""

FAULT_WEIGHTS: dict[str, int] = {"pass": 50, "drop": 8, "hold": 12, "duplicate": 10, "flip": 12, "truncate": 8}
"""Relative odds of each fate for a delivery."""
P_REPLAY = 0.35
P_LIE_MORE = 0.15
P_PREKEY_LIE = 0.2
P_SUBSTITUTE = 0.15
P_RESTART = 0.05


@dataclass
class Tally:
    """What happened, summed over pairs."""

    sent: int = 0
    shown: int = 0
    lost_explained: int = 0
    lost_unexplained: int = 0
    shown_twice: int = 0
    forgeries_accepted: int = 0
    other_events: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)


class Pair:
    """Alice, Bob (the victim), Carol (who asks the relay for Bob's keys) and Mallory (whose keys it substitutes)."""

    def __init__(self, root: Path, url: str, relay: HostileRelay, rng: random.Random, tally: Tally) -> None:
        self.root, self.url, self.relay, self.rng, self.tally = root, url, relay, rng, tally
        self.sent: list[str] = []
        self.actions: dict[int, Action] = {}
        self.shown: Counter[str] = Counter()
        self.alice: Client
        self.bob: Client
        self.carol: Client
        self.mallory_answer = b""

    async def __aenter__(self) -> Pair:
        async def make(name: str) -> Client:
            return await Client.create(self.root / name, PASSPHRASE, self.url, name, "client", kdf=INSECURE_TEST_KDF)

        self.alice, self.bob, self.carol, mallory = [await make(n) for n in ("alice", "bob", "carol", "mallory")]
        self.alice.add_contact("bob", self.bob.invite_code())
        self.bob.add_contact("alice", self.alice.invite_code())
        self.carol.add_contact("bob", self.bob.invite_code())
        self.carol.add_contact("mallory", mallory.invite_code())
        await self.carol.start_thread("mallory")
        self.mallory_answer = self.relay.bundles[mallory.address][-1]
        await mallory.close()
        await self.bob.sync()
        self.relay.victim = self.relay.last_puller
        self.relay.schedule = self._decide
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in (self.alice, self.bob, self.carol):
            await client.close()

    def _decide(self, ordinal: int, raw: bytes) -> Action | None:
        kind = self.rng.choices(list(FAULT_WEIGHTS), weights=list(FAULT_WEIGHTS.values()))[0]
        action: Action | None = None
        if kind == "drop":
            action = Drop()
        elif kind == "hold":
            action = Hold(ordinal + self.rng.randint(1, 5))
        elif kind == "duplicate":
            action = Duplicate(self.rng.randint(2, 4))
        elif kind == "flip":
            action = Flip(self.rng.choice(REGIONS), self.rng.randrange(1 << 20))
        elif kind == "truncate":
            action = Truncate(self.rng.randrange(len(raw)), fix_length=self.rng.random() < 0.5)
        if action is not None:
            self.actions[ordinal] = action
        return action

    async def _sync_bob(self) -> None:
        try:
            events = await asyncio.wait_for(self.bob.sync(), SYNC_TIMEOUT_S)
        except TimeoutError:
            self.tally.outcomes["sync_held_by_relay"] += 1
            return
        except ConfideError as exc:
            self.tally.outcomes[f"sync_error_{getattr(exc, 'code', 'other')}"] += 1
            return
        self._count(events)

    def _count(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, MessageReceived):
                self.shown[event.message.text] += 1
            else:
                self.tally.other_events[type(event).__name__] += 1

    async def round(self) -> None:
        rng, relay, victim = self.rng, self.relay, self.relay.victim or ""
        if rng.random() < P_PREKEY_LIE:
            await self._prekey_lie(rng.choice([0, 10**9, -1, -(10**6)]))
        if rng.random() < P_REPLAY and relay.genuine.get(victim):
            for raw in rng.sample(relay.genuine[victim], min(3, len(relay.genuine[victim]))):
                if rng.random() < 0.5:
                    raw = raw[:1] + os.urandom(ENVELOPE_ID_LEN) + raw[1 + ENVELOPE_ID_LEN :]
                relay.replay(victim, raw)
        for _ in range(rng.randint(1, MAX_PER_ROUND)):
            text = f"text {len(self.sent)} of a pair"
            self.sent.append(text)
            await self.alice.send_text("bob", text)
        relay.lie_more = relay.repeat_pages = rng.random() < P_LIE_MORE
        await self._sync_bob()
        await self._sync_bob()
        relay.lie_more = relay.repeat_pages = False
        await self.alice.sync()  # receipts from Bob
        if rng.random() < P_SUBSTITUTE:
            await self._substitute()
        if rng.random() < P_RESTART:
            await self.bob.close()
            self.bob = await Client.open(self.root / "bob", PASSPHRASE)
            self.tally.outcomes["bob_restarted"] += 1

    async def _prekey_lie(self, count: int) -> None:
        self.relay.prekey_counts = {"one_time": count, "kem_one_time": count}
        try:
            result = await self.bob.maintain_prekeys()
        except RelayError as exc:
            key = "refused" if (count < 0 and exc.code == "malformed") else f"error_{exc.code}"
        else:
            if count == 0 and isinstance(result, PrekeysLow):
                key = "refilled_one_batch"
            elif count > 0 and result is None:
                key = "nothing_uploaded"
            else:
                key = "unexpected"
        self.relay.prekey_counts = None
        self.tally.outcomes[f"prekey_count_{'negative' if count < 0 else count}_{key}"] += 1

    async def _substitute(self) -> None:
        self.relay.bundle_answer = lambda _address, _answer: self.mallory_answer
        try:
            await self.carol.start_thread("bob")
        except RemoteProtocolError:
            self.tally.outcomes["substituted_bundle_refused"] += 1
        else:
            self.tally.outcomes["substituted_bundle_accepted"] += 1
        finally:
            self.relay.bundle_answer = None

    async def settle(self) -> None:
        """Stop attacking, let Bob catch up, and judge every text Alice sent."""
        self.relay.schedule = None
        await self._sync_bob()
        await self._sync_bob()
        delivered = self.relay.delivered(self.relay.victim or "")
        tally = self.tally
        for ordinal, text in enumerate(self.sent):
            tally.sent += 1
            shown = self.shown[text]
            action = self.actions.get(ordinal)
            must_show = (
                action is None or isinstance(action, Duplicate) or (isinstance(action, Hold) and ordinal in delivered)
            )
            if shown:
                tally.shown += 1
                tally.shown_twice += shown > 1
            elif must_show:
                tally.lost_unexplained += 1
            else:
                tally.lost_explained += 1
        tally.forgeries_accepted += sum(n for text, n in self.shown.items() if text not in self.sent)


async def run(rounds: int, pair_rounds: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    tally = Tally()
    started = time.perf_counter()
    messaging.RECEIPT_DELAY_MIN_S = messaging.RECEIPT_DELAY_MAX_S = 0.0  # receipts at once: each round settles
    with tempfile.TemporaryDirectory(prefix="confide-hostile-") as tmp:
        async with hostile_relay(Path(tmp) / "relay") as (relay, url):
            done = 0
            while done < rounds:
                root = Path(tmp) / f"pair{done}"
                async with Pair(root, url, relay, rng, tally) as pair:
                    for _ in range(min(pair_rounds, rounds - done)):
                        try:
                            await pair.round()
                        except ConfideError as exc:
                            tally.outcomes[f"round_error_{type(exc).__name__}"] += 1
                        except Exception as exc:  # what must never happen: counted and reported
                            tally.crashes.append(type(exc).__name__)
                        done += 1
                    await pair.settle()
    faults = dict(sorted(relay.faults.items()))
    return {
        "seed": seed,
        "rounds": rounds,
        "seconds": round(time.perf_counter() - started, 1),
        "faults_injected": faults,
        "faults_total": sum(faults.values()),
        "messages_sent": tally.sent,
        "messages_shown": tally.shown,
        "messages_lost_to_faults": tally.lost_explained,
        "messages_lost_unexplained": tally.lost_unexplained,
        "messages_shown_twice": tally.shown_twice,
        "forgeries_accepted": tally.forgeries_accepted,
        "bob_other_events": dict(tally.other_events),
        "outcomes": dict(sorted(tally.outcomes.items())),
        "crashes": tally.crashes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    add_common_flags(parser, quick_help=f"{QUICK_ROUNDS} rounds instead of {DEFAULT_ROUNDS} (about half a minute)")
    parser.add_argument("--rounds", type=int, help="rounds to run (overrides --quick)")
    parser.add_argument("--pair-rounds", type=int, default=PAIR_ROUNDS, help="rounds per Alice/Bob pair")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault schedule")
    args = parser.parse_args(argv)
    logging.getLogger("confide").setLevel(logging.ERROR)  # each rejected delivery logs a warning: thousands here
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    result = asyncio.run(run(rounds, args.pair_rounds, args.seed))
    print_result(result, as_json=args.json)
    bad = (
        result["forgeries_accepted"]
        + result["messages_shown_twice"]
        + result["messages_lost_unexplained"]
        + len(result["crashes"])
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
