"""``confide report NAME MESSAGE_ID [--out FILE] [--force]``: the report file of a franked message, for the
practice it was franked for (SPEC 13.9; :meth:`~confide.client.Client.export_report`)."""

from __future__ import annotations

import argparse

from . import render
from .exits import EXIT_OK
from .options import open_client
from .verbs import AddVerb


async def cmd_report(args: argparse.Namespace) -> int:
    """Write the report file of a message you received, and say which practice to send it to."""
    out = args.out or default_report_name(args.message_id)
    async with open_client(args) as client:
        practice = client.export_report(args.peer, args.message_id, out, overwrite=args.force)
    print(render.report_written(out, practice))
    return EXIT_OK


REPORT_NAME_ID_CHARS = 8
"""Hex digits of the message id in a report file's default name: enough to tell a day's reports apart, short
enough to read out; the whole id is inside the file."""


def default_report_name(message_id: str) -> str:
    """The file ``confide report`` writes without ``--out``: ``confide-report-<first id digits>.cfr`` in the current
    folder (never over an existing file without ``--force``)."""
    digits = "".join(c for c in message_id.lower() if c in "0123456789abcdef")[:REPORT_NAME_ID_CHARS]
    return f"confide-report-{digits or 'message'}.cfr"


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
    p.add_argument(
        "--out",
        metavar="FILE",
        help="a new file (created 0600); default confide-report-<first 8 id digits>.cfr in this folder",
    )
    p.add_argument("--force", action="store_true", help="replace an existing file (never follows a symlink)")
