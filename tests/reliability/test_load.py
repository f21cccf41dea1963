"""Load without loss (issue 10): 50 client devices exchange 5,000 messages through one relay process on loopback,
with random offline periods and live push; every message reaches its recipient's application exactly once.

The devices are ``Client`` instances in this process (one asyncio loop); the relay is ``python -m confide.server``
in a child process. Each device sends its share one after another, each to a random contact, while every other
device receives by WebSocket push; twice during its run each device closes its client for 0.2-1.5 s and then
reopens it, catches up with ``sync()`` and listens again, so its mailbox fills while it is away and is drained
by pull. What is judged is what the applications were handed (``events()`` and ``sync()``), from the sender
number and sequence number in each body (:mod:`tests.reliability.harness`). The long version is
``bench/soak.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .harness import LoadPlan, run_load_on_new_relay

PLAN = LoadPlan(devices=50, messages=5000, peers=4, seed=10, offline_per_device=2)
"""The issue's numbers: at least 50 devices and 5,000 messages."""


async def test_load_without_loss(tmp_path: Path) -> None:
    tally = await run_load_on_new_relay(PLAN, tmp_path)
    print(json.dumps(tally.as_dict()))
    assert tally.devices == 50
    assert tally.offline_periods == 100
    assert tally.sent == 5000
    assert tally.raised == 0  # the relay never went away: no send failed
    assert tally.acknowledged == 5000
    assert tally.delivered == 5000
    assert tally.lost == 0
    assert tally.duplicated == 0
    assert tally.misdirected == 0
    assert tally.unsettled == 0
    assert tally.undecryptable == 0
    assert tally.resets == 0
