"""``confide contacts add | list | rename``."""

from __future__ import annotations

import argparse
import json

from confide.client.export import contact_to_json

from . import render
from .exits import EXIT_OK
from .options import open_client


async def cmd_contacts(args: argparse.Namespace) -> int:
    """Add, list or rename contacts."""
    async with open_client(args) as client:
        if args.contacts_cmd == "add":
            token = bytes.fromhex(args.token) if args.token else None
            print(render.contact_added(client.add_contact(args.name, args.invite, token=token)))
        elif args.contacts_cmd == "rename":
            print(render.contact_renamed(client.rename_contact(args.peer, args.new_name)))
        else:
            contacts = client.contacts()
            if args.json:
                print(json.dumps([contact_to_json(c) for c in contacts], indent=2))
            elif not contacts:
                print("No contacts yet. Add one with: confide contacts add NAME INVITE")
            else:
                for c in contacts:
                    print(render.contact_line(c))
    return EXIT_OK
