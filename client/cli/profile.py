"""Verbs about the profile itself: ``init``, ``recovery create``, ``restore``, ``passwd``, ``whoami``, ``wipe``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from confide.client import (
    Client,
    DeviceRemoved,
    RelayError,
    RelayUnreachable,
    check_server_url,
    recovery_qr_text,
    write_text_qr_png,
)
from confide.client.export import profile_to_json

from . import render
from .exits import EXIT_OK
from .files import read_backup, write_new_private
from .options import kdf, open_client, profile_dir
from .prompts import check_strength, confirm_wipe, new_passphrase, passphrase, recovery_code


async def cmd_init(args: argparse.Namespace) -> int:
    """Create a profile and register it with a relay."""
    check_server_url(args.server)  # a URL that can never work creates nothing, not even a passphrase prompt
    secret = passphrase(confirm=True)
    check_strength(secret, allow_weak=args.weak_passphrase_ok, user_inputs=(args.name,), nothing="nothing was created")
    async with Client.create(profile_dir(args), secret, args.server, args.name, args.role, kdf=kdf(args)) as client:
        print(f"Created profile in {client.profile_dir}")
        print(f"Address:     {client.address}")
        print(f"Invite code: {client.invite_code()}")
        print("Give the invite code only to people who should be able to write to you.")
    return EXIT_OK


def _write_recovery_kit(out: Path, backup: bytes, qr: Path | None, code: str) -> None:
    """Write the backup (and the code's QR picture), each created 0600; on failure leave neither."""
    write_new_private(out, backup)
    if qr is None:
        return
    qr_created = False
    try:
        write_new_private(qr, b"")  # created 0600 first: the picture holds the code itself
        qr_created = True
        write_text_qr_png(recovery_qr_text(code), qr)  # CONFIDE-RC1:, never the safety-number prefix
    except BaseException:
        out.unlink(missing_ok=True)  # a backup whose code was never shown is useless: leave nothing
        if qr_created:
            qr.unlink(missing_ok=True)
        raise


async def cmd_recovery(args: argparse.Namespace) -> int:
    """Make a recovery code and an encrypted backup of the keys."""
    out = Path(args.out)
    qr = Path(args.qr) if args.qr else None
    async with open_client(args) as client:
        code, backup = client.create_recovery()
        _write_recovery_kit(out, backup, qr, code)
        try:  # only once the kit is written: the relay then vouches for this code alone
            vouched = await client.register_recovery_key(code)
        except (RelayError, DeviceRemoved):
            vouched = False
    print(f"Recovery backup written to {out} (encrypted; it holds your keys, not your messages).")
    if qr is not None:
        print(f"QR code of the recovery code written to {qr}: treat it like the code itself.")
    print()
    print("Recovery code (shown only this once):")
    print()
    print(f"    {code}")
    print()
    print("Write it down and keep it apart from this device and from the backup file: whoever has both")
    print("can take over your address. It opens only this backup. On a new device run:")
    print(f"    confide restore --server URL --name NAME --backup {out.name}")
    if not vouched:
        print("The relay could not be told of this code now: run 'confide sync' soon, so that a restore from it")
        print("can add a new device even when this one is lost.")
    return EXIT_OK


async def cmd_restore(args: argparse.Namespace) -> int:
    """Rebuild the profile on a new device from a recovery backup and its code."""
    check_server_url(args.server)
    backup = read_backup(Path(args.backup))
    code = recovery_code(args.code)
    new = passphrase(confirm=True, prompt="New passphrase for this device")
    check_strength(new, allow_weak=args.weak_passphrase_ok, user_inputs=(args.name,), nothing="nothing was created")
    async with Client.restore(
        profile_dir(args), new, backup, code, args.server, args.name, args.role, kdf=kdf(args)
    ) as client:
        print(f"Restored profile in {client.profile_dir}, added as a new device of your identity.")
        print(f"Address:     {client.address}  (the same as before)")
        print(f"Invite code: {client.invite_code()}")
        print("Your invite code is new: the old one works only until you remove the lost device")
        print("('confide devices list', then 'confide devices remove ID'); give contacts this one, or write first.")
        print("Messages and contacts were not in the backup. Add your contacts again from their invite codes")
        print("and write to them first: until then, what they send on their old sessions cannot be read here.")
    return EXIT_OK


async def cmd_passwd(args: argparse.Namespace) -> int:
    """Change the passphrase of the key store."""
    old = passphrase(prompt="Current passphrase")
    new = new_passphrase()
    check_strength(new, allow_weak=args.weak_passphrase_ok, nothing="the passphrase was not changed")
    await Client.change_passphrase(profile_dir(args), old, new)
    print("Passphrase changed and the store re-keyed. Your address and messages are unchanged.")
    return EXIT_OK


async def cmd_server(args: argparse.Namespace) -> int:
    """Show or change the relay this profile uses."""
    async with open_client(args) as client:
        if args.server_cmd == "show":
            print(client.server_url)
            return EXIT_OK
        try:
            url = await client.set_server(args.url)
        except RelayUnreachable as exc:
            raise RelayUnreachable(
                f"the relay is now {check_server_url(args.url)}, but it cannot be reached yet ({exc}); "
                "this profile registers there on the next 'confide sync'"
            ) from exc
    print(f"Relay set to {url}; registered there.")
    return EXIT_OK


async def cmd_whoami(args: argparse.Namespace) -> int:
    """Show this profile's address, invite code and identity fingerprint."""
    async with open_client(args) as client:
        info = profile_to_json(
            name=client.name,
            role=client.role,
            address=client.address,
            invite=client.invite_code(),
            fingerprint=client.identity.fingerprint(),
            server=client.server_url,
            profile=str(client.profile_dir),
        )
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for line in render.fields(info):
            print(line)
    return EXIT_OK


async def cmd_wipe(args: argparse.Namespace) -> int:
    """Destroy the profile, keys first, WITHOUT the passphrase (after the typed confirmation or ``--yes``);
    a program that has it open (``sync --wait``) stops within about a second."""
    if not args.yes and not confirm_wipe(str(profile_dir(args))):
        print("Nothing was deleted.")
        return EXIT_OK
    await Client.wipe_profile(profile_dir(args))
    print("Profile wiped: keys shredded, files overwritten and deleted.")
    return EXIT_OK
