"""``confide file NAME MESSAGE_ID``, ``confide records NAME [--json]``, ``confide records export NAME FILE
[--force]`` and ``confide records save NAME MESSAGE_ID PATH [--force]``: record keeping in the open."""

from __future__ import annotations

import argparse
import json

from confide.client.export import record_to_json

from . import render
from .exits import EXIT_OK, UsageError
from .options import open_client

RECORDS_USAGE = (
    "use 'confide records NAME', 'confide records export NAME FILE' or 'confide records save NAME MESSAGE_ID PATH'"
)


async def cmd_file(args: argparse.Namespace) -> int:
    """File a message of the thread into your record of the contact (they are told)."""
    async with open_client(args) as client:
        entry = await client.file(args.peer, args.message_id)
    print(render.filed(entry))
    return EXIT_OK


async def cmd_records(args: argparse.Namespace) -> int:
    """List, export or save from your record of a contact (``words``: NAME, or export NAME FILE, or save NAME
    MESSAGE_ID PATH: a contact called "export" is listed with ``confide records export``)."""
    words = list(args.words)
    if len(words) == 1:
        return await _list(args, words[0])
    if len(words) == 3 and words[0] == "export":
        async with open_client(args) as client:
            n = client.export_records(words[1], words[2], overwrite=args.force)
        print(render.records_exported(n, words[2]))
        return EXIT_OK
    if len(words) == 4 and words[0] == "save":
        async with open_client(args) as client:
            path = await client.save_record_file(words[1], words[2], words[3], overwrite=args.force)
        print(render.saved(path))
        return EXIT_OK
    raise UsageError(RECORDS_USAGE)


async def _list(args: argparse.Namespace, peer: str) -> int:
    async with open_client(args) as client:
        entries = client.records(peer)
    if args.json:  # ASCII only: a peer's bidi or C1 characters arrive as \u escapes, not raw
        print(json.dumps({"peer": peer, "records": [record_to_json(r) for r in entries]}, indent=2))
    else:
        print(render.record_header(peer, len(entries)))
        for r in entries:
            print(render.record_line(r))
    return EXIT_OK
