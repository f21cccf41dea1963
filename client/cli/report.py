"""``confide report NAME MESSAGE_ID --out FILE [--force]``: the report file of a franked message, for the
practice it was franked for (SPEC 13.9; :meth:`~confide.client.Client.export_report`)."""

from __future__ import annotations

import argparse

from . import render
from .exits import EXIT_OK
from .options import open_client
from .verbs import AddVerb


async def cmd_report(args: argparse.Namespace) -> int:
    """Write the report file of a message you received, and say which practice to send it to."""
    async with open_client(args) as client:
        practice = client.export_report(args.peer, args.message_id, args.out, overwrite=args.force)
    print(render.report_written(args.out, practice))
    return EXIT_OK


def register(add: AddVerb, common: argparse.ArgumentParser) -> None:
    """Add this module's verbs to the ``confide`` parser (``add(name, func, help)`` adds one verb; give
    sub-parsers ``parents=[common]``)."""
    p = add(
        "report",
        cmd_report,
        "write the report file of a message you received (one franked for a practice you trust), to send to "
        "that practice (not encrypted: it holds the message; 0600)",
    )
    p.add_argument("peer", metavar="NAME", help="the contact who sent it")
    p.add_argument("message_id", metavar="MESSAGE_ID", help="the message's id (see 'confide read NAME')")
    p.add_argument("--out", required=True, metavar="FILE", help="a new file (created 0600)")
    p.add_argument("--force", action="store_true", help="replace an existing file (never follows a symlink)")
