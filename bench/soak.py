"""Soak: many client devices exchange numbered messages through one relay process, with offline periods and relay kills.

The long version of ``tests/reliability/test_load.py`` and ``test_relay_crash.py`` (issue 10), on the same harness
(``tests/reliability/harness.py``): the devices are ``Client`` instances in this process, the relay is
``python -m confide.server`` in a child process with its data in a temporary folder, and every message is judged
from what the receiving application was handed. ``--crash N`` SIGKILLs the relay N times, evenly spread over the
run, and restarts it on the same data directory and port. Exit status 1 if anything was lost, duplicated,
misdirected or left unsettled.

    .venv/bin/python bench/soak.py --devices 100 --messages 20000 --crash 4 --json
    .venv/bin/python bench/soak.py --quick --crash 1
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
from pathlib import Path

import harness

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.harness import LoadPlan, Tally, run_load_on_new_relay

QUICK_DEVICES = 10
QUICK_MESSAGES = 500
"""``--quick``: a run of well under a minute that still exercises every path (push, pull after an offline period,
retry after a kill)."""

DEFAULT_DEVICES = 100
DEFAULT_MESSAGES = 20_000
"""The long run: twice the devices and four times the messages of ``make test``'s load test."""


def _failed(tally: Tally) -> bool:
    return bool(tally.lost or tally.duplicated or tally.misdirected or tally.unsettled or tally.delivered != tally.sent)


async def _run(plan: LoadPlan, *, sync_full: bool) -> Tally:
    with tempfile.TemporaryDirectory(prefix="confide-soak-") as scratch:
        return await run_load_on_new_relay(plan, Path(scratch), sync_full=sync_full)


def main() -> int:
    parser = harness.bench_parser(__doc__)
    parser.add_argument("--devices", type=int, default=DEFAULT_DEVICES, help="client devices (default %(default)s)")
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="messages in all (default %(default)s)")
    parser.add_argument("--peers", type=int, default=4, help="contacts per device, even (default %(default)s)")
    parser.add_argument("--offline", type=int, default=2, help="offline periods per device (default %(default)s)")
    parser.add_argument("--crash", type=int, default=0, help="SIGKILLs of the relay, spread over the run (default 0)")
    parser.add_argument("--down", type=float, default=1.0, help="seconds the relay stays dead (default %(default)s)")
    parser.add_argument("--seed", type=int, default=10, help="seed of the schedule (default %(default)s)")
    parser.add_argument("--sync-full", action="store_true", help="run the relay with --sync-full true")
    harness.add_common_flags(
        parser, quick_help=f"{QUICK_DEVICES} devices, {QUICK_MESSAGES} messages (other flags still apply)"
    )
    args = parser.parse_args()
    devices, messages = (QUICK_DEVICES, QUICK_MESSAGES) if args.quick else (args.devices, args.messages)
    plan = LoadPlan(
        devices=devices,
        messages=messages,
        peers=args.peers,
        seed=args.seed,
        offline_per_device=args.offline,
        kill_at=tuple((k + 1) / (args.crash + 1) for k in range(args.crash)),
        down_s=args.down,
        settle_s=max(60.0, messages / 100),
    )
    tally = asyncio.run(_run(plan, sync_full=args.sync_full))
    clients, relays = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        **tally.as_dict(),
        "messages_per_s": round(tally.sent / tally.seconds, 1),
        "sync_full": args.sync_full,
        "client_cpu_s": round(clients.ru_utime + clients.ru_stime, 1),  # the devices' process
        "relay_cpu_s": round(relays.ru_utime + relays.ru_stime, 1),  # every relay process, reaped
    }
    harness.print_result(result, as_json=args.json)
    return 1 if _failed(tally) else 0


if __name__ == "__main__":
    sys.exit(main())
