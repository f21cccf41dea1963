"""The ``confide`` argument parser: every verb, its options, and the help text (exit codes, environment)."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

from confide.client import ROLES

from . import card, desk, devices, practice, practices, report
from .blocking import cmd_block, cmd_unblock
from .contacts import cmd_contacts
from .demo import cmd_demo
from .exits import exit_codes_help
from .messages import cmd_delete, cmd_expire, cmd_export, cmd_read, cmd_retry, cmd_save, cmd_send, cmd_sync
from .options import DEFAULT_PROFILE, ENV_PROFILE
from .profile import cmd_init, cmd_passwd, cmd_recovery, cmd_restore, cmd_server, cmd_whoami, cmd_wipe
from .prompts import ENV_NEW_PASSPHRASE, ENV_PASSPHRASE, ENV_RECOVERY_CODE
from .records import cmd_file, cmd_records
from .trust import cmd_accept, cmd_reject, cmd_verify
from .verbs import Command

WEAK_HELP = "keep a passphrase that is easy to guess (you are warned; the default refuses it)"


def _version() -> str:
    try:
        return f"confide {version('confide')}"
    except PackageNotFoundError:  # pragma: no cover - run from a source tree that was never installed
        return "confide (version unknown: not installed)"


def _epilog() -> str:
    lines = exit_codes_help()
    lines += [
        "",
        "environment:",
        f"  {ENV_PROFILE:<24}profile directory (default {DEFAULT_PROFILE})",
        f"  {ENV_PASSPHRASE:<24}passphrase for scripts (otherwise you are asked)",
        f"  {ENV_NEW_PASSPHRASE:<24}new passphrase for 'passwd' (otherwise asked twice)",
        f"  {ENV_RECOVERY_CODE:<24}recovery code for 'restore' (otherwise --code or asked)",
        "",
        "recovery: 'confide recovery create --out FILE' prints a recovery code once and writes an",
        "encrypted backup of your keys (not your messages) to FILE; 'confide restore' rebuilds the",
        "profile with the same address on a new device; 'confide passwd' changes the passphrase.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``confide`` argument parser (``serve`` is handled separately, see :func:`confide.client.cli.main`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--profile", metavar="DIR", help=f"profile directory [env {ENV_PROFILE}, default {DEFAULT_PROFILE}]"
    )
    common.add_argument("--kdf-test", action="store_true", help=argparse.SUPPRESS)

    parser = argparse.ArgumentParser(
        prog="confide",
        description="End-to-end encrypted, asynchronous messaging for online therapy.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    sub.add_parser("serve", help="run the relay (see 'confide serve --help')", add_help=False)

    p = add("init", cmd_init, "create a profile (new keys) and register with a relay")
    p.add_argument(
        "--server", required=True, metavar="URL", help="relay URL: http(s)://host[:port], e.g. https://relay.example"
    )
    p.add_argument("--weak-passphrase-ok", action="store_true", help=WEAK_HELP)
    p.add_argument("--name", required=True, help="your name as you see it (stays on this device)")
    p.add_argument("--role", choices=ROLES, default="client", help="client or therapist (default client)")

    p = add("recovery", cmd_recovery, "make a recovery code and an encrypted backup of your keys")
    rsub = p.add_subparsers(dest="recovery_cmd", metavar="ACTION", required=True)
    prc = rsub.add_parser(
        "create", parents=[common], help="print a new recovery code once and write the backup it opens"
    )
    prc.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="write the encrypted backup here (mode 0600; an existing file is not overwritten)",
    )
    prc.add_argument("--qr", metavar="FILE.png", help="also write the recovery code as a QR code (PNG)")

    p = add("restore", cmd_restore, "rebuild your profile (same address) from a recovery backup")
    p.add_argument(
        "--server", required=True, metavar="URL", help="relay URL: http(s)://host[:port], e.g. https://relay.example"
    )
    p.add_argument("--weak-passphrase-ok", action="store_true", help=WEAK_HELP)
    p.add_argument("--name", required=True, help="your name as you see it (stays on this device)")
    p.add_argument("--role", choices=ROLES, default="client", help="client or therapist (default client)")
    p.add_argument("--backup", required=True, metavar="FILE", help="the file 'confide recovery create' wrote")
    p.add_argument(
        "--code",
        metavar="CODE",
        help=f"the recovery code (safer: env {ENV_RECOVERY_CODE} or the prompt, which stay out of your shell history)",
    )

    p = add("passwd", cmd_passwd, "change your passphrase and re-key the store (close other programs first)")
    p.add_argument("--weak-passphrase-ok", action="store_true", help=WEAK_HELP)

    p = add("server", cmd_server, "show or change the relay this profile uses")
    ssub = p.add_subparsers(dest="server_cmd", metavar="ACTION", required=True)
    ssub.add_parser("show", parents=[common], help="print the relay URL")
    pss = ssub.add_parser("set", parents=[common], help="use another relay URL (and register there)")
    pss.add_argument("url", metavar="URL", help="http(s)://host[:port], e.g. https://relay.example")

    p = add("whoami", cmd_whoami, "show your address, invite code and key fingerprint")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("contacts", cmd_contacts, "add, list, rename, accept or remove contacts")
    csub = p.add_subparsers(dest="contacts_cmd", metavar="ACTION", required=True)
    pa = csub.add_parser("add", parents=[common], help="add a contact from an invite code or a contact card")
    pa.add_argument("name", metavar="NAME", help="local name for the contact")
    pa.add_argument(
        "invite",
        metavar="INVITE",
        help="their invite code (cfi1:...), contact card (a file, or its CONFIDE-CARD1: text), or address with --token",
    )
    pa.add_argument("--token", metavar="HEX", help="delivery token (64 hex digits) when giving a plain address")
    pl = csub.add_parser("list", parents=[common], help="list contacts")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pr = csub.add_parser("rename", parents=[common], help="rename a contact")
    pr.add_argument("peer", metavar="PEER")
    pr.add_argument("new_name", metavar="NEW_NAME")
    pac = csub.add_parser("accept", parents=[common], help="accept someone who wrote first (sends receipts)")
    pac.add_argument("peer", metavar="PEER")
    prm = csub.add_parser("remove", parents=[common], help="remove a contact and your whole thread with them")
    prm.add_argument("peer", metavar="PEER")
    prm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    prm.add_argument(
        "--delete-records",
        action="store_true",
        help="also delete your record of them (messages you filed); by default it is kept",
    )

    p = add("block", cmd_block, "block one contact: the relay refuses their messages (nobody else's)")
    p.add_argument("peer", metavar="PEER", help="contact name or address")
    p.add_argument(
        "--rotate-invite",
        action="store_true",
        help="also replace your invite code, so they cannot start again from the old one",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("unblock", cmd_unblock, "unblock a contact: a fresh token for them, sent with your next message")
    p.add_argument("peer", metavar="PEER", help="contact name or address")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(
        "send",
        cmd_send,
        "send a text message (from standard input or your editor; keep it off the command line) or a file",
    )
    p.add_argument("peer", metavar="PEER", help="contact name or address")
    p.add_argument(
        "text",
        metavar="TEXT",
        nargs="?",
        help="the message (the caption with --file); '-' or nothing: read standard input, or open $EDITOR "
        "on a terminal. Text typed here stays in your shell history and is visible in 'ps'",
    )
    p.add_argument("--edit", action="store_true", help="write the message in $EDITOR (VISUAL, then EDITOR)")
    p.add_argument("--file", metavar="PATH", help="send this file as an encrypted attachment")
    p.add_argument("--caption", metavar="TEXT", help="a caption for --file")
    p.add_argument("--expire", metavar="DURATION", help="this message disappears after DURATION (e.g. 10m, 1h)")

    p = add("sync", cmd_sync, "fetch, decrypt and print new messages")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep listening for this many seconds after catching up",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per event, then {"type": "caught_up", "new": N} once caught up',
    )

    p = add("read", cmd_read, "show a thread (and mark it read: starts disappearing timers)")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-mark", action="store_true", help="do not mark messages read")

    p = add("save", cmd_save, "decrypt a received attachment to a file or folder")
    p.add_argument("message_id", metavar="MESSAGE_ID")
    p.add_argument("path", metavar="PATH", help="a new file, or a folder to put it in under the sender's name")
    p.add_argument("--force", action="store_true", help="replace an existing file (never follows a symlink)")

    p = add("retry", cmd_retry, "send again a message the relay refused for good (status failed)")
    p.add_argument("message_id", metavar="MESSAGE_ID")

    p = add("verify", cmd_verify, "show or check the safety number with a contact")
    p.add_argument("peer", metavar="PEER")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--qr", metavar="FILE.png", help="write your safety-number QR code to a PNG file")
    g.add_argument("--scan", metavar="PAYLOAD", help="check a scanned code text (CONFIDE-SN1:...)")
    g.add_argument("--confirm", action="store_true", help="mark verified after comparing the digits yourself")

    p = add("accept", cmd_accept, "accept a contact's changed identity so you can write again")
    p.add_argument("peer", metavar="PEER")

    p = add("reject", cmd_reject, "reject a contact's changed identity and keep the one you had")
    p.add_argument("peer", metavar="PEER")

    p = add("expire", cmd_expire, "set the disappearing timer of a thread (e.g. 1h, 1d, off)")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("duration", metavar="DURATION")

    p = add("delete", cmd_delete, "delete one of your messages for everyone")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("message_id", metavar="MESSAGE_ID")

    p = add("file", cmd_file, "file a message into your record of the contact (kept past timers; they are told)")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("message_id", metavar="MESSAGE_ID")

    p = add(
        "records",
        cmd_records,
        "your record of a contact: 'records NAME' lists it, 'records export NAME FILE' writes it as JSON for "
        "your records system (not encrypted, 0600), 'records save NAME MESSAGE_ID PATH' decrypts a filed file",
    )
    p.add_argument("words", nargs="+", metavar="NAME | export NAME FILE | save NAME MESSAGE_ID PATH")
    p.add_argument("--json", action="store_true", help="machine-readable output (listing)")
    p.add_argument("--force", action="store_true", help="replace an existing file (never follows a symlink)")

    p = add("export", cmd_export, "write your own readable copy of a thread (JSON, not encrypted)")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("file", metavar="FILE", help="a new file (created 0600)")
    p.add_argument("--force", action="store_true", help="replace an existing file (never follows a symlink)")

    p = add("wipe", cmd_wipe, "panic wipe, no passphrase needed: shred the keys, then every file")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    for part in (practice, practices, card, report, desk, devices):
        part.register(add, common)

    p = add("demo", cmd_demo, "a guided tour: local relay, a therapist and a client, side by side")
    p.add_argument("--expire-s", type=int, default=2, help=argparse.SUPPRESS)
    return parser
