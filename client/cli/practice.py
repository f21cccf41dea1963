"""``confide practice ...``: a practice's own side (issue 11): ``init``, ``policy``, ``issue``, ``revoke``,
``publish``, ``show``, ``review``.

The practice is a profile of its own (``--practice DIR``, env ``CONFIDE_PRACTICE``, default
``~/.confide-practice``) with its own passphrase (env ``CONFIDE_PRACTICE_PASSPHRASE``, else asked). Every text
shown that a therapist, a client or the practice wrote is formatted (and escaped) by :mod:`.render`; the JSON
comes from :mod:`confide.client.export`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

from confide.client import (
    CARD_TEXT_PREFIX,
    DEFAULT_VALID_DAYS,
    MAX_CRISIS_NOTICE_BYTES,
    MAX_REPORT_FILE_LEN,
    Client,
    ContactCardError,
    MalformedFranking,
    PracticeAdmin,
    check_server_url,
    parse_card_text,
)
from confide.client.export import review_to_json, summary_to_json

from . import render
from .exits import EXIT_OK, UsageError
from .files import read_bounded, read_card_file, write_new_private, write_new_qr
from .options import kdf
from .prompts import WEAK_OK_FLAG, check_strength, passphrase
from .verbs import AddVerb

ENV_PRACTICE = "CONFIDE_PRACTICE"
ENV_PRACTICE_PASSPHRASE = "CONFIDE_PRACTICE_PASSPHRASE"  # noqa: S105 - the name of an environment variable
DEFAULT_PRACTICE = "~/.confide-practice"
MAX_NOTICE_FILE_BYTES = MAX_CRISIS_NOTICE_BYTES + 64
"""A crisis notice file: the longest notice, with room for trailing newlines and NFC changes."""


def practice_dir(args: argparse.Namespace) -> Path:
    """The practice's profile directory: ``--practice``, else ``CONFIDE_PRACTICE``, else ``~/.confide-practice``."""
    return Path(os.path.expanduser(args.practice or os.environ.get(ENV_PRACTICE) or DEFAULT_PRACTICE))


def _secret(*, confirm: bool = False) -> str:
    return passphrase(confirm=confirm, prompt="Practice passphrase", env_name=ENV_PRACTICE_PASSPHRASE)


@contextlib.asynccontextmanager
async def _open(args: argparse.Namespace) -> AsyncIterator[tuple[Client, PracticeAdmin]]:
    """Unlock the practice's profile; its admin is set up (a moderation key made if init was interrupted)."""
    async with Client.open(practice_dir(args), _secret()) as client:
        admin = client.practice_admin()
        admin.set_up()
        yield client, admin


def _card_bytes(arg: str) -> bytes:
    """A contact card from ``CONFIDE-CARD1:`` text or a file holding the card's bytes or its text."""
    if arg.strip().upper().startswith(CARD_TEXT_PREFIX):
        return parse_card_text(arg)
    data = read_card_file(Path(arg))
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return data
    if text.strip().upper().startswith(CARD_TEXT_PREFIX):
        return parse_card_text(text)
    return data


def _refuse_existing(path: Path) -> None:
    """Refuse before anything is issued if the output file (or a symlink) is already there."""
    if path.exists() or path.is_symlink():
        raise FileExistsError(17, "the file exists; choose another name (a file is never overwritten)", str(path))


def _crisis(entries: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for entry in entries:
        label, sep, number = entry.partition("=")
        if not sep or not label.strip() or not number.strip():
            raise UsageError(f'--crisis takes LABEL=NUMBER, e.g. "Crisis line=988"; got {entry!r}')
        pairs.append((label.strip(), number.strip()))
    return pairs


# -- verbs ------------------------------------------------------------------------------------------------
async def _init(args: argparse.Namespace) -> int:
    check_server_url(args.server)  # a URL that can never work creates nothing, not even a passphrase prompt
    secret = _secret(confirm=True)
    check_strength(secret, allow_weak=args.weak_passphrase_ok, user_inputs=(args.name,), nothing="nothing was created")
    async with Client.create(practice_dir(args), secret, args.server, args.name, "practice", kdf=kdf(args)) as client:
        key = client.practice_admin().set_up()
        address = client.address
        print(f"Created the practice's profile in {client.profile_dir}")
    print(f"Practice address: {address}")
    print(f"Moderation key:   {key.fingerprint()}")
    print("Clients and therapists pin this practice by its address (check it with them out of band):")
    print(f"    confide practices trust {address}")
    print("or from a file holding the address, or from the QR code 'confide practice show --qr FILE.png' writes.")
    print("Next: 'confide practice policy --crisis-notice ...', then 'confide practice publish'.")
    return EXIT_OK


async def _policy(args: argparse.Namespace) -> int:
    if args.crisis_notice_file is not None:
        raw = read_bounded(Path(args.crisis_notice_file), MAX_NOTICE_FILE_BYTES, "crisis notice")
        try:
            notice = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise UsageError(f"{args.crisis_notice_file} is not UTF-8 text") from None
    else:
        notice = args.crisis_notice
    contacts = _crisis(args.crisis or [])
    async with _open(args) as (client, admin):
        fields = admin.set_policy(args.name or client.name, notice, contacts)
    print(render.policy_set(fields))
    print("Publish it with 'confide practice publish'.")
    return EXIT_OK


async def _issue(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _refuse_existing(out)
    try:
        card = _card_bytes(args.card)
    except ContactCardError as exc:
        raise ContactCardError(f"the contact card is not valid: {exc}") from None
    async with _open(args) as (_client, admin):
        try:
            document = admin.issue(
                card,
                args.name,
                args.licence,
                args.body,
                args.jurisdiction,
                valid_days=args.valid_days,
                list_in_directory=args.list,
            )
        except ContactCardError as exc:
            raise ContactCardError(f"the contact card is not valid: {exc}") from None
        issued = next(c for c in admin.show().credentials if c.document == document)
    write_new_private(out, document)
    for line in render.credential_issued(issued, out):
        print(line)
    return EXIT_OK


async def _revoke(args: argparse.Namespace) -> int:
    async with _open(args) as (_client, admin):
        revoked = await admin.revoke(args.target)
    for c in revoked:
        print(render.credential_revoked(c))
    print("Published: the revocation list names it and the directory no longer lists them.")
    return EXIT_OK


async def _publish(args: argparse.Namespace) -> int:
    async with _open(args) as (_client, admin):
        published = await admin.publish()
    print("Published to the relay:")
    for line in render.published_lines(published):
        print(line)
    print("Publish again at least weekly so the revocation list never goes stale.")
    return EXIT_OK


async def _show(args: argparse.Namespace) -> int:
    async with _open(args) as (_client, admin):
        summary = admin.show()
    if args.qr:
        write_new_qr(Path(args.qr), summary.address)
    if args.json:
        print(json.dumps(summary_to_json(summary), indent=2))
    else:
        for line in render.practice_summary_lines(summary):
            print(line)
        if args.qr:
            print(f"QR code of the address written to {args.qr}.")
    return EXIT_OK


async def _review(args: argparse.Namespace) -> int:
    data = read_bounded(Path(args.report), MAX_REPORT_FILE_LEN, "report file")
    async with _open(args) as (_client, admin):
        try:
            review = admin.review(data)
        except MalformedFranking as exc:
            raise MalformedFranking(f"this is not a Confide report file: {exc}") from None
    if args.json:
        print(json.dumps(review_to_json(review), indent=2))
        return EXIT_OK
    for line in render.review_lines(review):
        print(line)
    return EXIT_OK


_VERBS = {
    "init": _init,
    "policy": _policy,
    "issue": _issue,
    "revoke": _revoke,
    "publish": _publish,
    "show": _show,
    "review": _review,
}


async def cmd_practice(args: argparse.Namespace) -> int:
    """Run one ``confide practice`` action."""
    return await _VERBS[args.practice_cmd](args)


def register(add: AddVerb, common: argparse.ArgumentParser) -> None:
    """Add ``confide practice`` and its actions to the ``confide`` parser."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--practice",
        metavar="DIR",
        help=f"the practice's profile directory [env {ENV_PRACTICE}, default {DEFAULT_PRACTICE}]; its passphrase "
        f"comes from env {ENV_PRACTICE_PASSPHRASE} or is asked",
    )
    parents = [common, where]
    p = add("practice", cmd_practice, "run a practice: policy, credentials, directory, publishing, report review")
    sub = p.add_subparsers(dest="practice_cmd", metavar="ACTION", required=True)

    pi = sub.add_parser(
        "init", parents=parents, help="create the practice's profile and moderation key, and register with a relay"
    )
    pi.add_argument("--server", required=True, metavar="URL", help="relay URL: http(s)://host[:port]")
    pi.add_argument("--name", required=True, help="the practice's name (as its policy shows it)")
    pi.add_argument(WEAK_OK_FLAG, action="store_true", help="keep a passphrase that is easy to guess")

    pp = sub.add_parser("policy", parents=parents, help="set the crisis notice and crisis numbers (then publish)")
    notice = pp.add_mutually_exclusive_group(required=True)
    notice.add_argument("--crisis-notice", metavar="TEXT", help="the crisis notice shown to clients")
    notice.add_argument("--crisis-notice-file", metavar="FILE", help="read the crisis notice from a UTF-8 file")
    pp.add_argument(
        "--crisis", action="append", metavar="LABEL=NUMBER", help='a crisis number, e.g. "Crisis line=988" (repeat)'
    )
    pp.add_argument("--name", help="the practice's name (default: the name given to init)")

    ps = sub.add_parser(
        "issue", parents=parents, help="issue a credential to the therapist whose contact card is given"
    )
    ps.add_argument("card", metavar="CARD", help="their contact card: a file, or the CONFIDE-CARD1: text")
    ps.add_argument("--name", required=True, help="the therapist's name as the credential shows it")
    ps.add_argument("--licence", required=True, help="licence number")
    ps.add_argument("--body", required=True, help="licensing body")
    ps.add_argument("--jurisdiction", required=True, help="where the licence applies")
    ps.add_argument(
        "--valid-days", type=int, default=DEFAULT_VALID_DAYS, metavar="N", help=f"default {DEFAULT_VALID_DAYS}"
    )
    ps.add_argument("--list", action="store_true", help="also list them in the directory (from the next publish)")
    ps.add_argument("--out", required=True, metavar="FILE", help="write the credential here (never overwritten)")

    pr = sub.add_parser("revoke", parents=parents, help="revoke a credential (or all of a therapist's), then publish")
    pr.add_argument("target", metavar="ID_OR_ADDRESS", help="a credential id (see 'show') or a therapist's address")

    sub.add_parser(
        "publish", parents=parents, help="sign and publish the revocation list, directory and policy (weekly)"
    )

    pw = sub.add_parser("show", parents=parents, help="the practice's address, policy, credentials, publications")
    pw.add_argument("--json", action="store_true", help="machine-readable output")
    pw.add_argument("--qr", metavar="FILE.png", help="also write the address as a QR code (for clients to pin)")

    pv = sub.add_parser("review", parents=parents, help="the verdict on a report file a client sent")
    pv.add_argument("report", metavar="REPORT_FILE")
    pv.add_argument("--json", action="store_true", help="machine-readable output")
