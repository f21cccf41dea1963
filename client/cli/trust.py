"""Verbs about a contact's identity: ``verify`` (show, export or check safety numbers) and ``accept``."""

from __future__ import annotations

import argparse

from confide.client import (
    VerificationFailed,
    is_recovery_qr_text,
    parse_qr_text,
    qr_terminal,
    qr_text,
    write_qr_png,
)

from . import render
from .exits import EXIT_OK
from .options import open_client


async def cmd_verify(args: argparse.Namespace) -> int:
    """Show, export or check the safety number with a contact."""
    async with open_client(args) as client:
        if args.scan and is_recovery_qr_text(args.scan):
            raise VerificationFailed(render.RECOVERY_CODE_SCANNED)
        number = await client.safety_number(args.peer)
        if args.scan:
            print(render.verified(await client.verify(args.peer, parse_qr_text(args.scan))))
            return EXIT_OK
        if args.confirm:
            print(render.marked_verified(client.mark_verified(args.peer)))
            return EXIT_OK
        print(render.safety_number_header(client.contact(args.peer)))
        print(number.display())
        if args.qr:
            write_qr_png(number.qr_payload(), args.qr)
            print(f"QR code written to {args.qr}")
        else:
            print(qr_terminal(number.qr_payload()))
        print(f"Code text: {qr_text(number.qr_payload())}")
        print(
            "Compare the digits with your contact (in person or on a call), or let them run "
            "'confide verify NAME --scan CODE' with your code; then run with --confirm."
        )
    return EXIT_OK


async def cmd_reject(args: argparse.Namespace) -> int:
    """Reject a contact's changed identity and keep the one pinned before."""
    async with open_client(args) as client:
        print(render.identity_rejected(client.reject_identity(args.peer)))
    return EXIT_OK


async def cmd_accept(args: argparse.Namespace) -> int:
    """Accept a contact's changed identity (unverified)."""
    async with open_client(args) as client:
        print(render.identity_accepted(client.accept_identity(args.peer)))
    return EXIT_OK
