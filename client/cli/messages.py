"""Verbs about a thread: ``send``, ``retry``, ``sync``, ``read``, ``save``, ``delete``, ``expire``, ``export``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncGenerator

from confide.client import (
    Client,
    Contact,
    Direction,
    Event,
    Message,
    MessageReceived,
    MessageStatus,
    ProfileWiped,
    ProfileWipedError,
    RelayUnreachable,
    UnknownContact,
    parse_duration,
)
from confide.client.export import contact_to_json, event_to_json, message_to_json

from . import compose, render
from .exits import EXIT_OK, EXIT_RELAY, UsageError
from .options import open_client, profile_dir
from .progress import ProgressBar

MAX_SYNC_WAIT_S = 24 * 3600
"""``sync --wait`` listens at most a day: a longer-running integration should use the library."""

QUEUED = "Queued: the relay is unreachable; it will be sent on the next 'confide sync'."
"""What ``send`` says on stderr when the message was kept to be sent later (exit code 0)."""


def _message_text(args: argparse.Namespace) -> str | None:
    """The text (or caption) to send: from the command line, standard input (``-``, or nothing given and
    stdin not a terminal), or the editor (``--edit``, or nothing given on a terminal). None: a file with no
    caption."""
    if args.edit:
        if args.text is not None:
            raise UsageError("give the message either on the command line or with --edit, not both")
        return compose.edit(Client.temp_dir_of(profile_dir(args)))
    if args.text == "-":
        return compose.read_stdin()
    if args.text is not None:
        return str(args.text)
    if args.file:
        return None
    if sys.stdin.isatty():
        return compose.edit(Client.temp_dir_of(profile_dir(args)))
    return compose.read_stdin()


async def cmd_send(args: argparse.Namespace) -> int:
    """Send a text or a file.

    The library raises when nothing was kept; otherwise the stored message's status says what happened:
    ``pending`` (queued, exit 0), ``failed`` (refused by the relay for good: one line on stderr, exit
    :data:`EXIT_RELAY`, the code a :class:`RelayError` gets too), or sent.
    """
    expire = parse_duration(args.expire) if args.expire is not None else None
    if args.file and args.caption is not None and args.text is not None:
        raise UsageError("give the caption either as TEXT or with --caption, not both")
    text = args.caption if args.file and args.caption is not None else _message_text(args)
    async with open_client(args, stdin_is_message=not sys.stdin.isatty()) as client:
        with contextlib.suppress(UnknownContact):  # the send itself says so
            for line in before_writing(client, client.contact(args.peer), client.history(args.peer)):
                print(line, file=sys.stderr)
        try:
            if args.file:
                msg = await client.send_file(
                    args.peer,
                    args.file,
                    caption=text or "",
                    expire_after_s=expire,
                    progress=ProgressBar("encrypting and sending", sys.stderr),
                )
            else:
                assert text is not None
                msg = await client.send_text(args.peer, text, expire_after_s=expire)
        except RelayUnreachable as exc:
            raise RelayUnreachable(render.not_sent_unreachable(args.peer)) from exc
    return _report(msg)


def before_writing(client: Client, contact: Contact, history: list[Message], *, provider: bool = False) -> list[str]:
    """What to know before writing to ``contact`` (``read``; on stderr before ``send``): what trusted practices
    say of them (with ``provider``), their availability, and the crisis notice of the practice that vouches for
    them on a thread's first message or outside their office hours."""
    lines = [render.provider_line(contact.provider)] if provider and contact.provider is not None else []
    seen = client.availability(contact.address)
    if seen is not None:
        lines.append(render.availability_line(seen.line))
    notice = client.crisis_notice(contact.address)
    first = not any(m.direction == Direction.OUT for m in history)
    if notice is not None and (first or not notice.in_office_hours):
        lines += render.crisis_notice_lines(notice)
    return lines


def _report(msg: Message) -> int:
    """One line on what happened to a send: sent, queued, or refused for good (exit code 6)."""
    if msg.status == MessageStatus.PENDING:
        print(QUEUED, file=sys.stderr)
        return EXIT_OK
    if msg.status == MessageStatus.FAILED:
        print(render.send_refused(msg), file=sys.stderr)
        return EXIT_RELAY
    print(render.sent(msg))
    return EXIT_OK


async def cmd_retry(args: argparse.Namespace) -> int:
    """Send again a message the relay refused for good (re-encrypted on the current session)."""
    async with open_client(args) as client:
        msg = await client.retry(args.message_id)
    return _report(msg)


CAUGHT_UP = "caught_up"
"""The ``type`` of the line ``sync --json`` prints once it has caught up: ``{"type": "caught_up", "new": N}``
with N the number of new messages (0 when nothing was new), so a script always gets at least one line."""


async def cmd_sync(args: argparse.Namespace) -> int:
    """Fetch, decrypt and print new messages; optionally keep listening."""
    wait = args.wait
    if not 0 <= wait <= MAX_SYNC_WAIT_S:
        raise UsageError("--wait is between 0 and 86400 seconds")

    def show(e: Event) -> None:
        if args.json:
            print(json.dumps(event_to_json(e)), flush=True)
        else:
            line = render.event_line(e)
            if line:
                print(line, flush=True)

    async with open_client(args) as client:
        events = await client.sync()
        for e in events:
            show(e)
        new = sum(isinstance(e, MessageReceived) for e in events)
        if args.json:
            print(json.dumps({"type": CAUGHT_UP, "new": new}), flush=True)
        elif new == 0:
            print("No new messages.", file=sys.stderr, flush=True)
        if wait > 0:
            stream = client.events()
            try:
                async with asyncio.timeout(wait):
                    async for e in stream:
                        if isinstance(e, ProfileWiped):  # wiped by another process: one line, its own exit code
                            raise ProfileWipedError("this profile was wiped; stopped.")
                        show(e)
            except TimeoutError:
                pass
            finally:
                if isinstance(stream, AsyncGenerator):  # it is one: close it now, not when collected
                    await stream.aclose()
    return EXIT_OK


async def cmd_read(args: argparse.Namespace) -> int:
    """Print a thread and mark it read."""
    async with open_client(args) as client:
        history = client.history(args.peer)
        contact = client.contact(args.peer)
        shown = history
        notes = before_writing(client, contact, history, provider=True)
        if not args.no_mark:
            await client.mark_read(args.peer)
            shown = client.history(args.peer)  # the timers of what was just read run from now
    now_ms = int(time.time() * 1000)
    if args.json:
        print(
            json.dumps(
                {"contact": contact_to_json(contact), "messages": [message_to_json(m) for m in history]},
                indent=2,  # ASCII only: a peer's bidi or C1 characters arrive as \\u escapes, not raw
            )
        )
    else:
        print(render.thread_header(contact))
        for line in notes:
            print(line)
        for m in shown:
            print(render.message_line(m, now_ms))
    return EXIT_OK


async def cmd_save(args: argparse.Namespace) -> int:
    """Decrypt a received attachment to a file or folder."""
    async with open_client(args) as client:
        path = await client.save_attachment(args.message_id, args.path, overwrite=args.force)
    print(render.saved(path))
    return EXIT_OK


async def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one of your messages for everyone."""
    async with open_client(args) as client:
        filed_by_peer = await client.delete_for_everyone(args.peer, args.message_id)
    print(render.deleted_for_everyone(filed_by_peer, args.peer))
    return EXIT_OK


async def cmd_expire(args: argparse.Namespace) -> int:
    """Set a thread's disappearing timer."""
    seconds = parse_duration(args.duration)
    async with open_client(args) as client:
        contact = await client.set_timer(args.peer, seconds)
    print(render.timer_set(contact))
    return EXIT_OK


async def cmd_export(args: argparse.Namespace) -> int:
    """Write a readable (unencrypted) copy of a thread."""
    async with open_client(args) as client:
        n = client.export_thread(args.peer, args.file, overwrite=args.force)
    print(f"Wrote {n} messages to {args.file}. This copy is NOT encrypted: keep it somewhere safe.")
    return EXIT_OK
