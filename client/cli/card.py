"""``confide credential import | show``, ``confide availability set | show``, ``confide card export``: a
therapist's own credential, availability card and contact card (issue 11)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from confide.client import (
    KEEP_AWAY,
    Client,
    away_period,
    card_text,
    parse_office_hours,
    parse_reply_time,
)
from confide.client.export import availability_to_json, credential_to_json

from . import render
from .exits import EXIT_NOT_FOUND, EXIT_OK, UsageError
from .files import read_bounded, write_new_private, write_new_qr
from .options import open_client
from .verbs import AddVerb

MAX_CREDENTIAL_FILE_BYTES = 64 * 1024
"""Largest file ``credential import`` reads: a credential document is at most 770 bytes; anything much larger
is the wrong file, refused before it is read whole."""
MAX_QR_CARD_TEXT = 3391
"""Longest card text one QR code holds: 3,391 characters of the QR alphanumeric set at the largest version (40)
and the error correction level (M) Confide's codes use. A card with a long credential and a full week of split
office hours can be longer (up to 4,142): it goes as a file or as text then."""


async def cmd_credential(args: argparse.Namespace) -> int:
    """Import or show this profile's credential."""
    async with open_client(args) as client:
        if args.credential_cmd == "import":
            info = await client.import_credential(
                read_bounded(Path(args.file), MAX_CREDENTIAL_FILE_BYTES, "credential")
            )
            trusted = any(p.address == info.practice_address for p in client.practices())
            lines = render.credential_imported(info, practice_trusted=trusted)
        else:
            current = client.credential()
            if args.json:
                print(json.dumps(None if current is None else credential_to_json(current), indent=2))
                return EXIT_OK
            if current is None:
                print("No credential yet: import the file your practice issued ('confide credential import FILE').")
                return EXIT_NOT_FOUND
            lines = render.credential_lines(current)
    for line in lines:
        print(line)
    return EXIT_OK


def _away(args: argparse.Namespace, client: Client) -> object:
    """The away period the options ask for: a new one, None (``--back``), or :data:`KEEP_AWAY`.

    Raises:
        ValueError: bad dates, or no time zone to read them in.
    """
    if args.back:
        return None
    if args.away is None:
        return KEEP_AWAY
    current = client.availability_card()
    zone = args.tz if args.tz is not None else None if current is None else current.time_zone
    if zone is None:
        raise ValueError("there is no availability card yet: give --tz, --hours and --reply with --away")
    return away_period(args.away[0], args.away[1], zone, args.note or "")


async def cmd_availability(args: argparse.Namespace) -> int:
    """Set (sign and publish) or show this profile's availability card."""
    async with open_client(args) as client:
        if args.availability_cmd == "set":
            hours = parse_office_hours(args.hours) if args.hours else None
            reply = parse_reply_time(args.reply) if args.reply is not None else None
            away = _away(args, client)
            note = args.note if args.away is None and not args.back else None
            card = await client.set_availability(
                time_zone=args.tz, hours=hours, reply_within_s=reply, away=away, away_note=note
            )
            if not args.json:
                print("Published your availability card; it goes into your contact card too.")
        else:
            current = client.availability_card()
            if current is None:
                if args.json:
                    print("null")
                    return EXIT_OK
                print("No availability card yet: 'confide availability set --tz ZONE --hours ... --reply ...'")
                return EXIT_NOT_FOUND
            card = current
    if args.json:
        print(json.dumps(availability_to_json(card), indent=2))
    else:
        for line in render.availability_lines(card):
            print(line)
    return EXIT_OK


def _write_card(out: Path | None, qr: Path | None, card: bytes, text: str) -> None:
    """Write the card and its QR picture, each created 0600 (a card is a capability); never over a file."""
    if out is not None:
        write_new_private(out, card)
    if qr is not None:
        write_new_qr(qr, text)


async def cmd_card(args: argparse.Namespace) -> int:
    """Export this profile's signed contact card."""
    if args.out is None and args.qr is None and not args.text:
        raise UsageError("say where the card goes: --out FILE, --qr FILE.png and/or --text")
    async with open_client(args) as client:
        card = client.contact_card()
        credential = client.credential() is not None
        availability = client.availability_card() is not None
    text = card_text(card)
    if args.qr is not None and len(text) > MAX_QR_CARD_TEXT:
        raise UsageError("this card is too long for one QR code; share it with --out FILE or --text (nothing written)")
    _write_card(None if args.out is None else Path(args.out), None if args.qr is None else Path(args.qr), card, text)
    if args.text:
        print(text)
    for line in render.card_exported(args.out, args.qr, credential=credential, availability=availability):
        print(line)
    return EXIT_OK


def register(add: AddVerb, common: argparse.ArgumentParser) -> None:
    """Add ``credential``, ``availability`` and ``card`` to the ``confide`` parser."""
    p = add("credential", cmd_credential, "import or show your credential (issued by your practice)")
    sub = p.add_subparsers(dest="credential_cmd", metavar="ACTION", required=True)
    pi = sub.add_parser("import", parents=[common], help="keep the credential file your practice gave you")
    pi.add_argument("file", metavar="FILE", help="the file 'confide practice issue' wrote")
    ps = sub.add_parser("show", parents=[common], help="show your credential")
    ps.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("availability", cmd_availability, "set (sign and publish) or show your office hours and reply time")
    sub = p.add_subparsers(dest="availability_cmd", metavar="ACTION", required=True)
    pset = sub.add_parser(
        "set",
        parents=[common],
        help="publish a new availability card; what you leave out is kept from the current one",
    )
    pset.add_argument("--tz", metavar="ZONE", help="your IANA time zone, e.g. America/New_York")
    pset.add_argument(
        "--hours",
        action="append",
        metavar="DAYS HH:MM-HH:MM",
        help="office hours, repeatable: 'mon-fri 09:00-17:00', 'mon,wed 09:00-12:00,13:00-17:00'",
    )
    pset.add_argument("--reply", metavar="DURATION", help="usual reply time, e.g. 4h or 1d")
    pset.add_argument(
        "--away",
        nargs=2,
        metavar=("FROM", "UNTIL"),
        help="away from FROM until UNTIL (YYYY-MM-DD: the day you are back; or YYYY-MM-DDTHH:MM), your time zone",
    )
    pset.add_argument("--note", metavar="TEXT", help="a note for the away period (who covers, whom to write to)")
    pset.add_argument("--back", action="store_true", help="remove the away period")
    pset.add_argument("--json", action="store_true", help="machine-readable output")
    psh = sub.add_parser("show", parents=[common], help="show your current availability card")
    psh.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("card", cmd_card, "export your signed contact card (invite, credential, availability)")
    sub = p.add_subparsers(dest="card_cmd", metavar="ACTION", required=True)
    pe = sub.add_parser("export", parents=[common], help="write your contact card as a file, a QR code or text")
    pe.add_argument("--out", metavar="FILE", help="write the card here (mode 0600; never overwrites)")
    pe.add_argument("--qr", metavar="FILE.png", help="write its QR code here (mode 0600; never overwrites)")
    pe.add_argument("--text", action="store_true", help="print its CONFIDE-CARD1: text")
