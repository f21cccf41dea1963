"""``confide block NAME [--rotate-invite]`` and ``confide unblock NAME``."""

from __future__ import annotations

import argparse
import json

from confide.client.export import contact_to_json

from . import render
from .exits import EXIT_OK
from .options import open_client


async def cmd_block(args: argparse.Namespace) -> int:
    """Block one contact (their delivery token is refused by the relay); ``--rotate-invite`` also replaces
    your invite code."""
    async with open_client(args) as client:
        contact = await client.block(args.peer, rotate_invite=args.rotate_invite)
        new_invite = client.invite_code() if args.rotate_invite else None
        if args.json:
            print(json.dumps({"contact": contact_to_json(contact), "new_invite": new_invite}, indent=2))
        else:
            print(render.contact_blocked(contact, new_invite))
    return EXIT_OK


async def cmd_unblock(args: argparse.Namespace) -> int:
    """Unblock one contact: a fresh delivery token for them, sent with your next message."""
    async with open_client(args) as client:
        contact = await client.unblock(args.peer)
        if args.json:
            print(json.dumps({"contact": contact_to_json(contact)}, indent=2))
        else:
            print(render.contact_unblocked(contact))
    return EXIT_OK
