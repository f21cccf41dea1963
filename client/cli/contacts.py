"""``confide contacts add | list | rename | accept | remove``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from confide.client import CARD_TEXT_PREFIX, Client, Contact, Invite, Trust, UnknownContact
from confide.client.export import contact_to_json

from . import render
from .exits import EXIT_OK, UsageError
from .files import read_card_file
from .options import open_client
from .prompts import confirm


def _address_of(invite: str) -> str:
    """The address an invite code (or a bare address given with --token) names."""
    return Invite.parse(invite).address.text if invite.strip().lower().startswith("cfi1:") else invite.strip()


def _known(client: Client, peer: str) -> Contact | None:
    try:
        return client.contact(peer)
    except UnknownContact:
        return None


def _card_of(invite: str) -> bytes | str | None:
    """The contact card the INVITE argument gives (its ``CONFIDE-CARD1:`` text, or a card file's bytes), or
    None for an invite code or an address."""
    text = invite.strip()
    if text.lower().startswith("cfi1:"):
        return None
    if text.upper().startswith(CARD_TEXT_PREFIX):
        return text
    path = Path(invite)
    if not path.is_file():
        return None
    return read_card_file(path)


def _add_card(client: Client, args: argparse.Namespace, card: bytes | str) -> str:
    if args.token:
        raise UsageError("--token goes with a plain address, not with a contact card")
    before = {c.address: c for c in client.contacts()}
    had_name = _known(client, args.name.strip())
    added, brought = client.add_contact_card(args.name, card)
    had_address = before.get(added.address)
    if had_address is None and had_name is not None and had_name.trust == Trust.CHANGED:
        had_address = had_name
    return "\n".join(render.card_added(added, brought, had_address=had_address, had_name=had_name))


def _add(client: Client, args: argparse.Namespace) -> str:
    card = _card_of(args.invite)
    if card is not None:
        return _add_card(client, args, card)
    token = bytes.fromhex(args.token) if args.token else None
    had_address = _known(client, _address_of(args.invite))
    had_name = _known(client, args.name.strip())
    if had_address is None and had_name is not None and had_name.trust == Trust.CHANGED:
        had_address = had_name  # re-adding a contact's pinned invite while a change is pending
    added = client.add_contact(args.name, args.invite, token=token)
    return render.contact_added(added, had_address=had_address, had_name=had_name)


async def cmd_contacts(args: argparse.Namespace) -> int:
    """Add, list, rename, accept or remove contacts."""
    if args.contacts_cmd == "remove" and not args.yes and not confirm(f"Remove {args.peer} and your whole thread?"):
        print(render.NOTHING_REMOVED)
        return EXIT_OK
    async with open_client(args) as client:
        if args.contacts_cmd == "add":
            print(_add(client, args))
        elif args.contacts_cmd == "rename":
            print(render.contact_renamed(client.rename_contact(args.peer, args.new_name)))
        elif args.contacts_cmd == "accept":
            print(render.contact_accepted(client.accept_contact(args.peer)))
        elif args.contacts_cmd == "remove":
            client.remove_contact(args.peer, delete_records=args.delete_records)
            print(render.contact_removed(args.peer))
        else:
            contacts = client.contacts()
            if args.json:
                print(json.dumps([contact_to_json(c) for c in contacts], indent=2))
            elif not contacts:
                print("No contacts yet. Add one with: confide contacts add NAME INVITE")
            else:
                for c in contacts:
                    for line in render.contact_lines(c):
                        print(line)
    return EXIT_OK
