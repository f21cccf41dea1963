"""``confide devices link | approve | list | remove | rename``: one person, several devices (issue 13).

``link`` runs on the NEW device: it makes the profile once an existing device approved it, after showing a short
code (and its QR). ``approve CODE`` runs on an EXISTING device. The exchange is end-to-end authenticated by the code
(SPEC section 15); the relay only carries it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from confide.client import Client, check_server_url, text_qr_terminal, write_text_qr_png
from confide.client.export import devices_to_json

from . import render
from .exits import EXIT_OK
from .files import write_new_private
from .options import kdf, open_client, profile_dir
from .progress import ProgressBar
from .prompts import check_strength, passphrase
from .verbs import AddVerb


async def cmd_devices(args: argparse.Namespace) -> int:
    """Dispatch ``confide devices ACTION``."""
    if args.devices_cmd == "link":
        return await _link(args)
    async with open_client(args) as client:
        if args.devices_cmd == "approve":
            bar = ProgressBar("Sending history", sys.stderr)
            print("Approving the device that shows this code; keep both devices open...", file=sys.stderr)
            added = await client.approve_device(args.code, history=not args.no_history, progress=bar)
            print(render.device_approved(added, history=not args.no_history))
            return EXIT_OK
        if args.devices_cmd == "remove":
            await client.remove_device(args.device)
            print(render.device_removed(args.device))
            return EXIT_OK
        if args.devices_cmd == "rename":
            client.rename_device(args.device, args.name)
            print("Renamed. The name stays on your devices; contacts never see it.")
            return EXIT_OK
        listed = client.devices()
    if args.json:
        print(json.dumps(devices_to_json(listed), indent=2))
    else:
        for line in render.device_lines(listed):
            print(line)
    return EXIT_OK


async def _link(args: argparse.Namespace) -> int:
    """The new device's side: show the code, wait for the approval, make the profile, take the history."""
    check_server_url(args.server)  # a URL that can never work creates nothing, not even a passphrase prompt
    secret = passphrase(confirm=True, prompt="New passphrase for this device")
    check_strength(secret, allow_weak=args.weak_passphrase_ok, user_inputs=(args.name,), nothing="nothing was created")
    pending = await Client.link(profile_dir(args), secret, args.server, args.name, kdf=kdf(args))
    qr = None if args.qr is None else Path(args.qr)
    try:
        if qr is not None:
            write_new_private(qr, b"")  # created 0600 first: the picture is the code
            write_text_qr_png(pending.qr_text, qr)
        if sys.stdout.isatty():  # a phone's camera can read it off the screen
            print(text_qr_terminal(pending.qr_text))
        for line in render.link_code_lines(pending.code, args.qr):
            print(line, flush=True)
        bar = ProgressBar("Receiving history", sys.stderr)
        client = await pending.wait(history=not args.no_history, progress=bar)
    except BaseException:
        await pending.cancel()
        raise
    finally:
        if qr is not None:
            qr.unlink(missing_ok=True)  # the code works once: its picture goes with it
    async with client:
        print(f"Linked: this device is now one of {client.address}'s devices (profile {client.profile_dir}).")
        print(render.history_received(pending.history_error, wanted=not args.no_history))
    return EXIT_OK


def register(add: AddVerb, common: argparse.ArgumentParser) -> None:
    """Add ``devices`` to the ``confide`` parser."""
    p = add("devices", cmd_devices, "link a new device, approve one, list or remove your devices")
    sub = p.add_subparsers(dest="devices_cmd", metavar="ACTION", required=True)
    pl = sub.add_parser(
        "link", parents=[common], help="on a NEW device: show a code, wait for your other device to approve it"
    )
    pl.add_argument("--server", required=True, metavar="URL", help="the relay URL your other device uses")
    pl.add_argument("--name", required=True, help="a name for this device, e.g. 'phone' (only your devices see it)")
    pl.add_argument("--qr", metavar="FILE.png", help="also write the code as a QR code (deleted when done)")
    pl.add_argument("--no-history", action="store_true", help="start empty: take no messages from the other device")
    pl.add_argument("--weak-passphrase-ok", action="store_true", help=argparse.SUPPRESS)
    pa = sub.add_parser("approve", parents=[common], help="on an EXISTING device: approve the device showing CODE")
    pa.add_argument("code", metavar="CODE", help="the code the new device shows (or the text of its QR code)")
    pa.add_argument("--no-history", action="store_true", help="send it no messages: it starts empty")
    ps = sub.add_parser("list", parents=[common], help="list your devices")
    ps.add_argument("--json", action="store_true", help="machine-readable output")
    pr = sub.add_parser("remove", parents=[common], help="remove a lost or old device (it receives nothing more)")
    pr.add_argument("device", metavar="ID", help="the device id, or its first 8 characters, from 'devices list'")
    pn = sub.add_parser("rename", parents=[common], help="name one of your devices (only your devices see it)")
    pn.add_argument("device", metavar="ID", help="the device id, or its first 8 characters")
    pn.add_argument("name", metavar="NAME", help="the new name")
