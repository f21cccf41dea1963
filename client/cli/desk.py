"""``confide desk``: unlock the profile and serve Confide Desk, the inbox in a browser, on 127.0.0.1 only."""

from __future__ import annotations

import argparse

from confide.client import Client, parse_duration

from .exits import EXIT_OK, UsageError
from .options import profile_dir
from .prompts import passphrase
from .verbs import AddVerb

DEFAULT_LOCK_AFTER = "15m"
"""The idle lock's default, as typed (the Desk's own default, ``DEFAULT_LOCK_AFTER_S``)."""


async def cmd_desk(args: argparse.Namespace) -> int:
    """Serve the Desk until Ctrl-C: print the single-use login link and open the browser on it."""
    from confide.client.desk import DeskConfig, run_desk  # lazily: the other verbs need no web server

    lock_after_s = parse_duration(args.lock_after)
    if lock_after_s <= 0:
        raise UsageError("--lock-after must be a duration such as 5m or 1h: the Desk always locks when left idle")
    config = DeskConfig(
        profile_dir(args), port=args.port, lock_after_s=float(lock_after_s), open_browser=not args.no_open
    )
    directory = config.profile_dir
    await run_desk(lambda secret: Client.open(directory, secret), passphrase(), config)
    return EXIT_OK


def register(add: AddVerb, common: argparse.ArgumentParser) -> None:
    """Add ``desk`` to the ``confide`` parser."""
    p = add(
        "desk",
        cmd_desk,
        "serve Confide Desk, your inbox in a browser, on this device only (127.0.0.1) until Ctrl-C",
    )
    p.add_argument("--port", type=int, default=0, metavar="N", help="listen on port N (default: any free port)")
    p.add_argument("--no-open", action="store_true", help="print the login link but do not open a browser")
    p.add_argument(
        "--lock-after",
        default=DEFAULT_LOCK_AFTER,
        metavar="DURATION",
        help=f"lock after this much idle time, e.g. 5m or 1h (default {DEFAULT_LOCK_AFTER})",
    )
