"""``confide desk``: unlock the profile and serve Confide Desk, the inbox in a browser, on 127.0.0.1 only.

``confide desk --demo`` (what ``make desk`` runs) shows it to a newcomer without any set-up: a relay on
loopback and two throwaway profiles, a therapist and a client who know each other, each with its own Desk;
everything is deleted when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from confide.client import INSECURE_TEST_KDF, Client, parse_duration

from .exits import EXIT_OK, UsageError
from .options import profile_dir
from .prompts import passphrase
from .verbs import AddVerb

DEFAULT_LOCK_AFTER = "15m"
"""The idle lock's default, as typed (the Desk's own default, ``DEFAULT_LOCK_AFTER_S``)."""

DEMO_PASSPHRASE = "demo"  # noqa: S105 - the demo's throwaway profiles, deleted when it stops
"""The passphrase that unlocks the demo's Desks after an idle lock (printed with the links)."""

DEMO_PEOPLE = (("Dr Lee", "therapist"), ("Sam", "client"))
"""The demo's two people: a therapist and their client."""

DEMO_FIRST_MESSAGE = "Hello Dr Lee, this is Sam. Is Thursday still fine for our session?"
"""What the client has written when the demo opens, so the therapist's inbox is not empty."""


def _opener(folder: Path) -> Callable[[str], Awaitable[Client]]:
    """Unlocks the profile in ``folder`` with a passphrase (the Desk's unlock form calls it)."""
    return lambda secret: Client.open(folder, secret)


def _lock_after_s(args: argparse.Namespace) -> float:
    seconds = parse_duration(args.lock_after)
    if seconds <= 0:
        raise UsageError("--lock-after must be a duration such as 5m or 1h: the Desk always locks when left idle")
    return float(seconds)


async def cmd_desk(args: argparse.Namespace) -> int:
    """Serve the Desk until Ctrl-C: print the single-use login link and open the browser on it."""
    from confide.client.desk import DeskConfig, run_desk  # lazily: the other verbs need no web server

    lock_after_s = _lock_after_s(args)
    if args.demo:
        return await _demo(args, lock_after_s)
    config = DeskConfig(profile_dir(args), port=args.port, lock_after_s=lock_after_s, open_browser=not args.no_open)
    await run_desk(_opener(config.profile_dir), passphrase(), config)
    return EXIT_OK


async def _demo(args: argparse.Namespace, lock_after_s: float) -> int:
    """A relay and two Desks (therapist, client) on throwaway profiles, until Ctrl-C; then all is deleted."""
    from confide.client.desk import DeskConfig, create_desk_app, open_in_browser, serve_desk
    from confide.server import RelayConfig, start_relay  # lazily: only the demo runs a relay

    if args.port:
        raise UsageError("--demo picks its own ports; leave out --port")
    with tempfile.TemporaryDirectory(prefix="confide-desk-demo-") as tmp:
        root = Path(tmp)
        async with (
            start_relay(RelayConfig(data_dir=root / "relay"), host="127.0.0.1", port=0) as relay_url,
            contextlib.AsyncExitStack() as stack,
        ):
            clients = []
            for name, role in DEMO_PEOPLE:
                folder = root / role
                clients.append(
                    await Client.create(folder, DEMO_PASSPHRASE, relay_url, name, role, kdf=INSECURE_TEST_KDF)
                )
            therapist, client = clients
            therapist.add_contact(DEMO_PEOPLE[1][0], client.invite_code())
            client.add_contact(DEMO_PEOPLE[0][0], therapist.invite_code())
            await client.send_text(DEMO_PEOPLE[0][0], DEMO_FIRST_MESSAGE)
            print("Confide Desk demo: a relay and two throwaway profiles on this device (deleted on Ctrl-C).")
            for (name, role), opened in zip(DEMO_PEOPLE, clients, strict=True):
                folder = opened.profile_dir
                config = DeskConfig(folder, lock_after_s=lock_after_s, open_browser=not args.no_open)
                app = create_desk_app(_opener(folder), config, client=opened)
                desk = await stack.enter_async_context(serve_desk(app))
                print(f"  {name} ({role}): {desk.login_url}")
                if config.open_browser:
                    await open_in_browser(desk.login_url)
            print(f"Each link works once. After an idle lock the passphrase is '{DEMO_PASSPHRASE}'. Stop with Ctrl-C.")
            await asyncio.Event().wait()
    return EXIT_OK  # pragma: no cover - the demo runs until interrupted


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
    p.add_argument(
        "--demo",
        action="store_true",
        help="try it without a profile: a local relay, a therapist and a client, two Desks (all deleted after)",
    )
