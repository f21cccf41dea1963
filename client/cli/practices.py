"""``confide practices trust | list | forget | refresh`` and ``confide directory``: the practices this profile
trusts, and starting a thread from a practice's directory (issue 11, the reader's side)."""

from __future__ import annotations

import argparse
import json

from confide.client.export import listing_to_json, practice_to_json

from . import render
from .exits import EXIT_OK, UsageError
from .options import open_client
from .verbs import AddVerb


async def cmd_practices(args: argparse.Namespace) -> int:
    """Trust, list, forget or refresh practices."""
    lines: list[str] = []
    async with open_client(args) as client:
        if args.practices_cmd == "trust":
            info = await client.trust_practice(args.pin)
            lines = [f"Trusted {render.practice_lines(info)[0]}", *render.practice_lines(info)[1:]]
        elif args.practices_cmd == "forget":
            client.forget_practice(args.practice)
            lines = ["Forgot the practice: its documents are gone from this device."]
        elif args.practices_cmd == "refresh":
            warnings = await client.refresh_practices()
            lines = [render.practice_warning(w) for w in warnings] or ["Refreshed: every trusted practice is current."]
        else:
            infos = client.practices()
            if args.json:
                print(json.dumps([practice_to_json(p) for p in infos], indent=2))
                return EXIT_OK
            lines = [line for p in infos for line in render.practice_lines(p)] or [
                "No trusted practice yet. Trust one with: confide practices trust ADDRESS"
            ]
    for line in lines:
        print(line)
    return EXIT_OK


async def cmd_directory(args: argparse.Namespace) -> int:
    """List a trusted practice's therapists, or start a thread with one (``--add N NAME``)."""
    if args.add is not None and args.json:
        raise UsageError("--add starts a thread; it prints no JSON")
    async with open_client(args) as client:
        if args.add is not None:
            number, name = args.add
            contact = client.start_from_directory(args.practice, number, name)
            lines = [render.contact_added(contact), *render.contact_lines(contact)[1:]]
            seen = client.availability(contact.address)
            if seen is not None:
                lines.append(render.availability_line(seen.line))
        else:
            listings = client.directory(args.practice)
            if args.json:
                print(json.dumps([listing_to_json(entry) for entry in listings], indent=2))
                return EXIT_OK
            lines = [render.listing_line(entry) for entry in listings] or [
                "The practice lists no therapist (yet): 'confide practices refresh' fetches its newest directory."
            ]
    for line in lines:
        print(line)
    return EXIT_OK


def register(add: AddVerb, common: argparse.ArgumentParser) -> None:
    """Add ``practices`` and ``directory`` to the ``confide`` parser."""
    p = add("practices", cmd_practices, "trust, list, forget or refresh the practices that vouch for therapists")
    sub = p.add_subparsers(dest="practices_cmd", metavar="ACTION", required=True)
    pt = sub.add_parser(
        "trust", parents=[common], help="trust a practice by its address (or a file, or its QR code's text)"
    )
    pt.add_argument("pin", metavar="PIN", help="the practice's address, a file holding it, or its QR code's text")
    pl = sub.add_parser("list", parents=[common], help="list trusted practices, their documents and warnings")
    pl.add_argument("--json", action="store_true", help="print JSON")
    pf = sub.add_parser("forget", parents=[common], help="stop trusting a practice (its documents are deleted)")
    pf.add_argument("practice", metavar="PRACTICE", help="the practice's name or address")
    sub.add_parser("refresh", parents=[common], help="fetch every trusted practice's newest documents now")

    d = add("directory", cmd_directory, "list a trusted practice's therapists, or start a thread with one")
    d.add_argument("practice", metavar="PRACTICE", help="the practice's name or address")
    d.add_argument("--json", action="store_true", help="print JSON")
    d.add_argument(
        "--add", nargs=2, metavar=("N", "NAME"), help="add therapist number N (or credential id) as contact NAME"
    )
