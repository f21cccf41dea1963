"""Verbs about a thread: ``send``, ``sync``, ``read``, ``save``, ``delete``, ``expire``, ``export``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncGenerator

from confide.client import Event, MessageReceived, MessageStatus, parse_duration
from confide.client.export import contact_to_json, message_to_json

from . import render
from .exits import EXIT_OK, EXIT_RELAY, UsageError
from .options import open_client
from .progress import ProgressBar

MAX_SYNC_WAIT_S = 24 * 3600
"""``sync --wait`` listens at most a day: a longer-running integration should use the library."""

QUEUED = "Queued: the relay is unreachable; it will be sent on the next 'confide sync'."
"""What ``send`` says on stderr when the message was kept to be sent later (exit code 0)."""


async def cmd_send(args: argparse.Namespace) -> int:
    """Send a text or a file.

    The library raises when nothing was kept; otherwise the stored message's status says what happened:
    ``pending`` (queued, exit 0), ``failed`` (refused by the relay for good: one line on stderr, exit
    :data:`EXIT_RELAY`, the code a :class:`RelayError` gets too), or sent.
    """
    expire = parse_duration(args.expire) if args.expire is not None else None
    async with open_client(args) as client:
        if args.file:
            msg = await client.send_file(
                args.peer,
                args.file,
                caption=args.caption or args.text or "",
                expire_after_s=expire,
                progress=ProgressBar("encrypting and sending", sys.stderr),
            )
        elif args.text is None:
            raise UsageError("give the TEXT to send, or --file PATH")
        else:
            msg = await client.send_text(args.peer, args.text, expire_after_s=expire)
    if msg.status == MessageStatus.PENDING:
        print(QUEUED, file=sys.stderr)
    elif msg.status == MessageStatus.FAILED:
        print(render.send_refused(msg), file=sys.stderr)
        return EXIT_RELAY
    else:
        print(render.sent(msg))
    return EXIT_OK


async def cmd_sync(args: argparse.Namespace) -> int:
    """Fetch, decrypt and print new messages; optionally keep listening."""
    wait = args.wait
    if not 0 <= wait <= MAX_SYNC_WAIT_S:
        raise UsageError("--wait is between 0 and 86400 seconds")

    def show(e: Event) -> None:
        if args.json:
            if isinstance(e, MessageReceived):
                print(json.dumps(message_to_json(e.message)), flush=True)
        else:
            line = render.event_line(e)
            if line:
                print(line, flush=True)

    async with open_client(args) as client:
        events = await client.sync()
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
                if isinstance(stream, AsyncGenerator):  # it is one: close it now, not when collected
                    await stream.aclose()
        if not args.json and not any(isinstance(e, MessageReceived) for e in events) and wait == 0:
            print("No new messages.", file=sys.stderr)
    return EXIT_OK


async def cmd_read(args: argparse.Namespace) -> int:
    """Print a thread and mark it read."""
    async with open_client(args) as client:
        history = client.history(args.peer)
        contact = client.contact(args.peer)
        if not args.no_mark:
            await client.mark_read(args.peer)
    if args.json:
        print(
            json.dumps(
                {"contact": contact_to_json(contact), "messages": [message_to_json(m) for m in history]},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(render.thread_header(contact))
        for m in history:
            print(render.message_line(m))
    return EXIT_OK


async def cmd_save(args: argparse.Namespace) -> int:
    """Decrypt a received attachment to a file or folder."""
    async with open_client(args) as client:
        path = await client.save_attachment(args.message_id, args.path)
    print(render.saved(path))
    return EXIT_OK


async def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one of your messages for everyone."""
    async with open_client(args) as client:
        await client.delete_for_everyone(args.peer, args.message_id)
    print("Deleted here; the deletion was sent to your contact.")
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
        n = client.export_thread(args.peer, args.file)
    print(f"Wrote {n} messages to {args.file}. This copy is NOT encrypted: keep it somewhere safe.")
    return EXIT_OK
