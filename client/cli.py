"""The ``confide`` command: a thin layer over :class:`confide.client.Client`.

Every verb is one library call an integrator could make too. Errors print one readable line on stderr and
exit with a code per error class (listed in ``confide --help`` and the README); never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from confide.keys.errors import ConfideError, CorruptKeyStore, KeyStoreError, QRPayloadError
from confide.keys.keystore import DEFAULT_KDF, TEST_KDF, KdfParams
from confide.keys.recovery import BACKUP_HEADER_LEN, BACKUP_MAX_PAYLOAD_LEN
from confide.protocol.errors import ProtocolError, UntrustedIdentity

from .client import ROLES, Client
from .errors import (
    AttachmentError,
    ProfileError,
    RelayError,
    RelayUnreachable,
    StorageError,
    UnknownContact,
    UnknownMessage,
    VerificationFailed,
)
from .events import (
    Event,
    IdentityChanged,
    MessageDeleted,
    MessageReceived,
    MessageUndecryptable,
    ReceiptReceived,
    TimerChanged,
)
from .models import Contact, Message
from .timers import format_duration, parse_duration

ENV_PROFILE = "CONFIDE_PROFILE"
ENV_PASSPHRASE = "CONFIDE_PASSPHRASE"  # noqa: S105 - the name of an environment variable
ENV_NEW_PASSPHRASE = "CONFIDE_NEW_PASSPHRASE"  # noqa: S105 - the name of an environment variable
ENV_RECOVERY_CODE = "CONFIDE_RECOVERY_CODE"
ENV_KDF = "CONFIDE_KDF"
DEFAULT_PROFILE = "~/.confide"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PASSPHRASE = 3
EXIT_PROFILE = 4
EXIT_UNREACHABLE = 5
EXIT_RELAY = 6
EXIT_UNTRUSTED = 7
EXIT_NOT_FOUND = 8
EXIT_VERIFY = 9
EXIT_ATTACHMENT = 10
EXIT_PROTOCOL = 11
EXIT_OS = 12
EXIT_INTERRUPTED = 130

EXIT_CODES: list[tuple[type[BaseException], int, str]] = [
    (KeyStoreError, EXIT_PASSPHRASE, "wrong passphrase or recovery code, or a damaged key store or backup"),
    (ProfileError, EXIT_PROFILE, "no profile / profile exists / profile incomplete"),
    (StorageError, EXIT_PROFILE, "the local store is damaged or belongs to another key store"),
    (RelayUnreachable, EXIT_UNREACHABLE, "the relay cannot be reached (messages stay queued)"),
    (RelayError, EXIT_RELAY, "the relay refused the request"),
    (UntrustedIdentity, EXIT_UNTRUSTED, "the contact's identity changed: verify or accept first"),
    (UnknownContact, EXIT_NOT_FOUND, "no such contact"),
    (UnknownMessage, EXIT_NOT_FOUND, "no such message"),
    (VerificationFailed, EXIT_VERIFY, "safety numbers do not match"),
    (QRPayloadError, EXIT_VERIFY, "not a safety-number code"),
    (AttachmentError, EXIT_ATTACHMENT, "an attachment could not be sent, fetched or saved"),
    (ProtocolError, EXIT_PROTOCOL, "malformed data from the relay or a peer"),
    (ConfideError, EXIT_ERROR, "any other Confide error (invalid invite, contact exists, ...)"),
    (OSError, EXIT_OS, "a local file could not be read or written"),
]
"""Exit code per error class, first match wins (also printed in ``confide --help``)."""

MAX_SYNC_WAIT_S = 24 * 3600
"""``sync --wait`` listens at most a day: a longer-running integration should use the library."""

MAX_BACKUP_FILE = BACKUP_HEADER_LEN + BACKUP_MAX_PAYLOAD_LEN + 16
"""The largest recovery backup the keys layer accepts (header, payload ceiling, AEAD tag): ``restore``
reads no more than this, so naming a wrong (huge) file cannot exhaust memory."""


def _epilog() -> str:
    lines = ["exit codes:", f"  {EXIT_OK:3}  success", f"  {EXIT_USAGE:3}  bad command line"]
    seen = set()
    for _cls, code, text in EXIT_CODES:
        if code not in seen:
            seen.add(code)
            lines.append(f"  {code:3}  {text}")
    lines.append(f"  {EXIT_INTERRUPTED:3}  interrupted")
    lines += ["", "environment:", f"  {ENV_PROFILE:<24}profile directory (default {DEFAULT_PROFILE})",
              f"  {ENV_PASSPHRASE:<24}passphrase for scripts (otherwise you are asked)",
              f"  {ENV_NEW_PASSPHRASE:<24}new passphrase for 'passwd' (otherwise asked twice)",
              f"  {ENV_RECOVERY_CODE:<24}recovery code for 'restore' (otherwise --code or asked)",
              "",
              "recovery: 'confide recovery create --out FILE' prints a recovery code once and writes an",
              "encrypted backup of your keys (not your messages) to FILE; 'confide restore' rebuilds the",
              "profile with the same address on a new device; 'confide passwd' changes the passphrase."]
    return "\n".join(lines)


# -- helpers ------------------------------------------------------------------------------------------
def _profile(args: argparse.Namespace) -> Path:
    return Path(os.path.expanduser(args.profile or os.environ.get(ENV_PROFILE) or DEFAULT_PROFILE))


def _kdf(args: argparse.Namespace) -> KdfParams:
    return TEST_KDF if args.kdf_test or os.environ.get(ENV_KDF) == "test" else DEFAULT_KDF


def _passphrase(*, confirm: bool = False, prompt: str = "Passphrase") -> str:
    env = os.environ.get(ENV_PASSPHRASE)
    if env:
        return env
    if not sys.stdin.isatty():
        raise ProfileError(f"no passphrase: set {ENV_PASSPHRASE} or run in a terminal")
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise ProfileError("the two passphrases differ; nothing was created")
    if not first:
        raise ProfileError("the passphrase must not be empty")
    return first


def _new_passphrase() -> str:
    env = os.environ.get(ENV_NEW_PASSPHRASE)
    if env:
        return env
    if not sys.stdin.isatty():
        raise ProfileError(f"no new passphrase: set {ENV_NEW_PASSPHRASE} or run in a terminal")
    first = getpass.getpass("New passphrase: ")
    if getpass.getpass("Repeat new passphrase: ") != first:
        raise ProfileError("the two new passphrases differ; the passphrase was not changed")
    if not first:
        raise ProfileError("the new passphrase must not be empty; the passphrase was not changed")
    return first


def _recovery_code(args: argparse.Namespace) -> str:
    code = args.code or os.environ.get(ENV_RECOVERY_CODE)
    if code:
        return str(code)
    if not sys.stdin.isatty():
        raise _Usage(f"no recovery code: give --code, set {ENV_RECOVERY_CODE} or run in a terminal")
    return getpass.getpass("Recovery code (it is not shown as you type): ")


def _write_new_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data`` (flushed to disk); never overwrite a file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise FileExistsError(exc.errno, "the file exists; choose another name (a file is never overwritten)",
                              str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _read_backup(path: Path) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(MAX_BACKUP_FILE + 1)
    if len(data) > MAX_BACKUP_FILE:
        raise CorruptKeyStore(f"{path} is larger than any Confide recovery backup; check that you chose the "
                              "right file")
    return data


def _open(args: argparse.Namespace) -> Any:
    return Client.open(_profile(args), _passphrase())


def _time(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def _message_json(m: Message) -> dict[str, Any]:
    return {
        "id": m.message_id, "peer": m.peer, "direction": m.direction, "kind": m.kind, "text": m.text,
        "sent_at_ms": m.sent_at_ms, "received_at_ms": m.received_at_ms, "status": m.status,
        "expire_after_s": m.expire_after_s, "expires_at_ms": m.expires_at_ms,
        "unverified_identity": m.unverified_identity,
        "attachment": None if m.attachment is None else {
            "name": m.attachment.name, "mime": m.attachment.mime, "size": m.attachment.size,
            "downloaded": m.attachment.downloaded},
    }


def _contact_json(c: Contact) -> dict[str, Any]:
    return {"name": c.name, "address": c.address, "trust": c.trust, "timer_s": c.timer_s,
            "fingerprint": c.fingerprint, "can_send": c.can_send}


def _message_line(m: Message) -> str:
    who = "you" if m.direction == "out" else m.peer
    if m.kind == "timer":
        return f"[{_time(m.sent_at_ms)}] {who} changed the disappearing timer"
    body = m.text
    if m.attachment is not None:
        a = m.attachment
        body = f"[file {a.name}, {a.size} bytes, {a.mime}; id {m.message_id}]" + (f" {m.text}" if m.text else "")
    flags = []
    if m.direction == "out":
        flags.append(m.status)
    if m.expire_after_s:
        flags.append(f"disappears {format_duration(m.expire_after_s)} after "
                     f"{'sending' if m.direction == 'out' else 'reading'}")
    if m.unverified_identity:
        flags.append("UNVERIFIED IDENTITY")
    tail = f"  ({', '.join(flags)})" if flags else ""
    return f"[{_time(m.sent_at_ms)}] {who}: {body}{tail}"


def _event_line(e: Event) -> str | None:
    if isinstance(e, MessageReceived):
        return _message_line(e.message)
    if isinstance(e, TimerChanged):
        return f"{e.peer} set the disappearing timer to {format_duration(e.seconds)}"
    if isinstance(e, IdentityChanged):
        return f"WARNING: {e.peer}'s identity changed; run 'confide verify {e.peer}' before trusting new messages"
    if isinstance(e, MessageUndecryptable):
        return f"a message from {e.peer} could not be decrypted; ask them to send it again"
    if isinstance(e, MessageDeleted) and e.reason == "deleted":
        return f"{e.peer} deleted a message"
    if isinstance(e, ReceiptReceived):
        return None
    return None


class _ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self._label = label
        self._stream = stream
        self._enabled = stream.isatty()
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        pct = 100 if total == 0 else done * 100 // total
        if pct == self._last:
            return
        self._last = pct
        bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
        self._stream.write(f"\r{self._label} [{bar}] {pct:3d}%")
        if pct >= 100:
            self._stream.write("\n")
        self._stream.flush()


# -- commands -----------------------------------------------------------------------------------------
async def cmd_init(args: argparse.Namespace) -> int:
    """Create a profile and register it with a relay."""
    async with Client.create(_profile(args), _passphrase(confirm=True), args.server, args.name, args.role,
                             kdf=_kdf(args)) as client:
        print(f"Created profile in {client.profile_dir}")
        print(f"Address:     {client.address}")
        print(f"Invite code: {client.invite_code()}")
        print("Give the invite code only to people who should be able to write to you.")
    return EXIT_OK


async def cmd_recovery(args: argparse.Namespace) -> int:
    """Make a recovery code and an encrypted backup of the keys."""
    from confide.keys.qr import write_qr_png

    out = Path(args.out)
    qr = Path(args.qr) if args.qr else None
    async with _open(args) as client:
        code, backup = client.create_recovery()
    _write_new_private(out, backup)
    if qr is not None:
        qr_created = False
        try:
            _write_new_private(qr, b"")  # created 0600 first: the picture holds the code itself
            qr_created = True
            write_qr_png(code.encode("utf-8"), qr)
        except BaseException:
            out.unlink(missing_ok=True)  # a backup whose code was never shown is useless: leave nothing
            if qr_created:
                qr.unlink(missing_ok=True)
            raise
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
    return EXIT_OK


async def cmd_restore(args: argparse.Namespace) -> int:
    """Rebuild the profile on a new device from a recovery backup and its code."""
    backup = _read_backup(Path(args.backup))
    code = _recovery_code(args)
    passphrase = _passphrase(confirm=True, prompt="New passphrase for this device")
    async with Client.restore(_profile(args), passphrase, backup, code, args.server, args.name, args.role,
                              kdf=_kdf(args)) as client:
        print(f"Restored profile in {client.profile_dir}")
        print(f"Address:     {client.address}  (the same as before)")
        print(f"Invite code: {client.invite_code()}")
        print("Your old invite code no longer works: give contacts this one, or write to them first.")
        print("Messages and contacts were not in the backup. Add your contacts again from their invite codes")
        print("and write to them first: until then, what they send on their old sessions cannot be read here.")
    return EXIT_OK


async def cmd_passwd(args: argparse.Namespace) -> int:
    """Change the passphrase of the key store."""
    old = _passphrase(prompt="Current passphrase")
    new = _new_passphrase()
    await Client.change_passphrase(_profile(args), old, new)
    print("Passphrase changed. Your keys, address and messages are unchanged.")
    return EXIT_OK


async def cmd_whoami(args: argparse.Namespace) -> int:
    """Show this profile's address, invite code and identity fingerprint."""
    async with _open(args) as client:
        info = {"name": client.name, "role": client.role, "address": client.address,
                "invite": client.invite_code(), "fingerprint": client.identity.fingerprint(),
                "server": client.server_url, "profile": str(client.profile_dir)}
        if args.json:
            print(json.dumps(info, indent=2))
        else:
            for key, value in info.items():
                print(f"{key + ':':13}{value}")
    return EXIT_OK


async def cmd_contacts(args: argparse.Namespace) -> int:
    """Add, list or rename contacts."""
    async with _open(args) as client:
        if args.contacts_cmd == "add":
            token = bytes.fromhex(args.token) if args.token else None
            contact = client.add_contact(args.name, args.invite, token=token)
            print(f"Added {contact.name} ({contact.address}); trust: {contact.trust}")
        elif args.contacts_cmd == "rename":
            contact = client.rename_contact(args.peer, args.new_name)
            print(f"Renamed to {contact.name}")
        else:
            contacts = client.contacts()
            if args.json:
                print(json.dumps([_contact_json(c) for c in contacts], indent=2))
            elif not contacts:
                print("No contacts yet. Add one with: confide contacts add NAME INVITE")
            else:
                for c in contacts:
                    timer = f", timer {format_duration(c.timer_s)}" if c.timer_s else ""
                    print(f"{c.name}  {c.address}  [{c.trust}{timer}]")
    return EXIT_OK


async def cmd_send(args: argparse.Namespace) -> int:
    """Send a text or a file."""
    expire = parse_duration(args.expire) if args.expire is not None else None
    async with _open(args) as client:
        if args.file:
            msg = await client.send_file(args.peer, args.file, caption=args.caption or args.text or "",
                                         expire_after_s=expire,
                                         progress=_ProgressBar("encrypting and sending", sys.stderr))
        elif args.text is None:
            raise _Usage("give the TEXT to send, or --file PATH")
        else:
            msg = await client.send_text(args.peer, args.text, expire_after_s=expire)
        if msg.status == "pending":
            print("Queued: the relay is unreachable; it will be sent on the next 'confide sync'.",
                  file=sys.stderr)
        else:
            print(f"Sent ({msg.message_id})")
    return EXIT_OK


async def cmd_sync(args: argparse.Namespace) -> int:
    """Fetch, decrypt and print new messages; optionally keep listening."""
    wait = args.wait
    if not 0 <= wait <= MAX_SYNC_WAIT_S:
        raise _Usage("--wait is between 0 and 86400 seconds")
    async with _open(args) as client:
        events = await client.sync()

        def show(e: Event) -> None:
            if args.json:
                if isinstance(e, MessageReceived):
                    print(json.dumps(_message_json(e.message)), flush=True)
            else:
                line = _event_line(e)
                if line:
                    print(line, flush=True)

        for e in events:
            show(e)
        if wait > 0:
            stream = client.events()
            try:
                async with asyncio.timeout(wait):
                    async for e in stream:
                        show(e)
            except TimeoutError:
                pass
            finally:
                await stream.aclose()
        if not args.json and not any(isinstance(e, MessageReceived) for e in events) and wait == 0:
            print("No new messages.", file=sys.stderr)
    return EXIT_OK


async def cmd_read(args: argparse.Namespace) -> int:
    """Print a thread and mark it read."""
    async with _open(args) as client:
        history = client.history(args.peer)
        contact = client.contact(args.peer)
        if not args.no_mark:
            await client.mark_read(args.peer)
        if args.json:
            print(json.dumps({"contact": _contact_json(contact), "messages": [_message_json(m) for m in history]},
                             indent=2, ensure_ascii=False))
        else:
            timer = f"; disappearing after {format_duration(contact.timer_s)}" if contact.timer_s else ""
            print(f"Thread with {contact.name} ({contact.trust}{timer})")
            for m in history:
                print(_message_line(m))
    return EXIT_OK


async def cmd_save(args: argparse.Namespace) -> int:
    """Decrypt a received attachment to a file or folder."""
    async with _open(args) as client:
        path = await client.save_attachment(args.message_id, args.path)
        print(f"Saved {path}")
    return EXIT_OK


async def cmd_verify(args: argparse.Namespace) -> int:
    """Show, export or check the safety number with a contact."""
    from confide.keys.qr import parse_qr_text, qr_terminal, qr_text, write_qr_png

    async with _open(args) as client:
        number = await client.safety_number(args.peer)
        if args.scan:
            contact = await client.verify(args.peer, parse_qr_text(args.scan))
            print(f"Safety numbers match: {contact.name} is now verified.")
            return EXIT_OK
        if args.confirm:
            contact = client.mark_verified(args.peer)
            print(f"{contact.name} marked verified.")
            return EXIT_OK
        print(f"Safety number with {client.contact(args.peer).name}:")
        print(number.display())
        if args.qr:
            write_qr_png(number.qr_payload(), args.qr)
            print(f"QR code written to {args.qr}")
        else:
            print(qr_terminal(number.qr_payload()))
        print(f"Code text: {qr_text(number.qr_payload())}")
        print("Compare the digits with your contact (in person or on a call), or let them run "
              "'confide verify NAME --scan CODE' with your code; then run with --confirm.")
    return EXIT_OK


async def cmd_accept(args: argparse.Namespace) -> int:
    """Accept a contact's changed identity (unverified)."""
    async with _open(args) as client:
        contact = client.accept_identity(args.peer)
        print(f"Accepted the new identity of {contact.name} (unverified: compare safety numbers soon).")
    return EXIT_OK


async def cmd_expire(args: argparse.Namespace) -> int:
    """Set a thread's disappearing timer."""
    seconds = parse_duration(args.duration)
    async with _open(args) as client:
        contact = await client.set_timer(args.peer, seconds)
        print(f"Disappearing timer with {contact.name}: {format_duration(contact.timer_s)}")
    return EXIT_OK


async def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one of your messages for everyone."""
    async with _open(args) as client:
        await client.delete_for_everyone(args.peer, args.message_id)
        print("Deleted here; the deletion was sent to your contact.")
    return EXIT_OK


async def cmd_export(args: argparse.Namespace) -> int:
    """Write a readable (unencrypted) copy of a thread."""
    async with _open(args) as client:
        n = client.export_thread(args.peer, args.file)
        print(f"Wrote {n} messages to {args.file}. This copy is NOT encrypted: keep it somewhere safe.")
    return EXIT_OK


async def cmd_wipe(args: argparse.Namespace) -> int:
    """Destroy the profile (keys first)."""
    if not args.yes:
        if not sys.stdin.isatty():
            raise _Usage("wipe needs --yes when not run in a terminal")
        answer = input(f"Destroy the profile in {_profile(args)} for good? Type 'wipe': ")
        if answer.strip() != "wipe":
            print("Nothing was deleted.")
            return EXIT_OK
    async with _open(args) as client:
        await client.wipe()
    print("Profile wiped: keys shredded, files deleted.")
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace) -> int:
    """Run the newcomer's tour."""
    from .demo import run_demo

    return await run_demo(sys.stdout, expire_s=args.expire_s)


class _Usage(Exception):
    """A command-line mistake found after parsing (exit code 2)."""


# -- parser -------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``confide`` argument parser (``serve`` is handled separately, see :func:`main`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", metavar="DIR",
                        help=f"profile directory [env {ENV_PROFILE}, default {DEFAULT_PROFILE}]")
    common.add_argument("--kdf-test", action="store_true", help=argparse.SUPPRESS)

    parser = argparse.ArgumentParser(
        prog="confide", description="End-to-end encrypted, asynchronous messaging for online therapy.",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], help_text: str,
            ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    sub.add_parser("serve", help="run the relay (see 'confide serve --help')", add_help=False)

    p = add("init", cmd_init, "create a profile (new keys) and register with a relay")
    p.add_argument("--server", required=True, metavar="URL", help="relay URL, e.g. https://relay.example")
    p.add_argument("--name", required=True, help="your name as you see it (stays on this device)")
    p.add_argument("--role", choices=ROLES, default="client", help="client or therapist (default client)")

    p = add("recovery", cmd_recovery, "make a recovery code and an encrypted backup of your keys")
    rsub = p.add_subparsers(dest="recovery_cmd", metavar="ACTION", required=True)
    prc = rsub.add_parser("create", parents=[common],
                          help="print a new recovery code once and write the backup it opens")
    prc.add_argument("--out", required=True, metavar="FILE",
                     help="write the encrypted backup here (mode 0600; an existing file is not overwritten)")
    prc.add_argument("--qr", metavar="FILE.png", help="also write the recovery code as a QR code (PNG)")

    p = add("restore", cmd_restore, "rebuild your profile (same address) from a recovery backup")
    p.add_argument("--server", required=True, metavar="URL", help="relay URL, e.g. https://relay.example")
    p.add_argument("--name", required=True, help="your name as you see it (stays on this device)")
    p.add_argument("--role", choices=ROLES, default="client", help="client or therapist (default client)")
    p.add_argument("--backup", required=True, metavar="FILE", help="the file 'confide recovery create' wrote")
    p.add_argument("--code", metavar="CODE",
                   help=f"the recovery code (safer: env {ENV_RECOVERY_CODE} or the prompt, which stay out of "
                        "your shell history)")

    p = add("passwd", cmd_passwd, "change your passphrase (the keys stay the same)")

    p = add("whoami", cmd_whoami, "show your address, invite code and key fingerprint")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("contacts", cmd_contacts, "add, list or rename contacts")
    csub = p.add_subparsers(dest="contacts_cmd", metavar="ACTION", required=True)
    pa = csub.add_parser("add", parents=[common], help="add a contact from an invite code")
    pa.add_argument("name", metavar="NAME", help="local name for the contact")
    pa.add_argument("invite", metavar="INVITE", help="their invite code (cfi1:...) or their address with --token")
    pa.add_argument("--token", metavar="HEX", help="delivery token (64 hex digits) when giving a plain address")
    pl = csub.add_parser("list", parents=[common], help="list contacts")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pr = csub.add_parser("rename", parents=[common], help="rename a contact")
    pr.add_argument("peer", metavar="PEER")
    pr.add_argument("new_name", metavar="NEW_NAME")

    p = add("send", cmd_send, "send a text message or a file")
    p.add_argument("peer", metavar="PEER", help="contact name or address")
    p.add_argument("text", metavar="TEXT", nargs="?", help="the message (the caption with --file)")
    p.add_argument("--file", metavar="PATH", help="send this file as an encrypted attachment")
    p.add_argument("--caption", metavar="TEXT", help="a caption for --file")
    p.add_argument("--expire", metavar="DURATION", help="this message disappears after DURATION (e.g. 10m, 1h)")

    p = add("sync", cmd_sync, "fetch, decrypt and print new messages")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="keep listening for this many seconds after catching up")
    p.add_argument("--json", action="store_true", help="one JSON object per received message")

    p = add("read", cmd_read, "show a thread (and mark it read: starts disappearing timers)")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-mark", action="store_true", help="do not mark messages read")

    p = add("save", cmd_save, "decrypt a received attachment to a file or folder")
    p.add_argument("message_id", metavar="MESSAGE_ID")
    p.add_argument("path", metavar="PATH")

    p = add("verify", cmd_verify, "show or check the safety number with a contact")
    p.add_argument("peer", metavar="PEER")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--qr", metavar="FILE.png", help="write your safety-number QR code to a PNG file")
    g.add_argument("--scan", metavar="PAYLOAD", help="check a scanned code text (CONFIDE-SN1:...)")
    g.add_argument("--confirm", action="store_true", help="mark verified after comparing the digits yourself")

    p = add("accept", cmd_accept, "accept a contact's changed identity so you can write again")
    p.add_argument("peer", metavar="PEER")

    p = add("expire", cmd_expire, "set the disappearing timer of a thread (e.g. 1h, 1d, off)")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("duration", metavar="DURATION")

    p = add("delete", cmd_delete, "delete one of your messages for everyone")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("message_id", metavar="MESSAGE_ID")

    p = add("export", cmd_export, "write your own readable copy of a thread (JSON, not encrypted)")
    p.add_argument("peer", metavar="PEER")
    p.add_argument("file", metavar="FILE")

    p = add("wipe", cmd_wipe, "panic wipe: shred the keys, then delete the profile")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = add("demo", cmd_demo, "a guided tour: local relay, a therapist and a client, side by side")
    p.add_argument("--expire-s", type=int, default=2, help=argparse.SUPPRESS)
    return parser


def _serve(argv: Sequence[str]) -> int:
    from confide.server.cli import add_serve_arguments, run_serve

    parser = argparse.ArgumentParser(prog="confide serve", description="Run the Confide relay.")
    add_serve_arguments(parser)
    code: int = run_serve(parser.parse_args(list(argv)))
    return code


def _exit_code(exc: BaseException) -> int:
    for cls, code, _ in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``confide`` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        return _serve(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = asyncio.run(args.func(args))
        return code
    except _Usage as exc:
        print(f"confide {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("confide: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as exc:  # durations, names, passphrases: user input checked by the library
        print(f"confide {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ConfideError, OSError, aiohttp.ClientError) as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:
            message = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
        print(f"confide {args.command}: {message}", file=sys.stderr)
        return _exit_code(exc)


__all__ = ["EXIT_CODES", "build_parser", "main"]


if __name__ == "__main__":  # pragma: no cover - ``python -m confide.client.cli``
    sys.exit(main())
