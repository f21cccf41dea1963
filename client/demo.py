"""``confide demo``: the newcomer's tour, with a real relay and two real profiles in a temporary folder.

A therapist and a client exchange messages while the other is offline, send an attachment, set a
disappearing timer and watch messages expire; after each step the tour shows side by side what each person
reads and what the relay holds (ciphertext sizes and expiry times, nothing else). Everything is deleted at
the end. The throwaway profiles use cheap passphrase hashing (``TEST_KDF``) so the tour takes seconds.
"""

from __future__ import annotations

import asyncio
import tempfile
import textwrap
from pathlib import Path
from typing import TextIO

from confide.keys.keystore import TEST_KDF

from .client import Client
from .models import Message
from .timers import format_duration

DEMO_PASSPHRASE = "demo passphrase (throwaway profile)"  # noqa: S105 - a demo's throwaway profile
COLUMN = 46
"""Width of each side of the side-by-side view: two columns and a gutter fit in 100 characters."""


def _line(m: Message) -> str:
    who = "me" if m.direction == "out" else "them"
    if m.kind == "timer":
        return f"{who}: (changed the timer)"
    if m.attachment is not None:
        return f"{who}: [file {m.attachment.name}, {m.attachment.size} B] {m.text}".rstrip()
    mark = " ⌛" if m.expire_after_s else ""
    return f"{who}: {m.text}{mark}"


def _side_by_side(out: TextIO, left_title: str, left: list[Message], right_title: str, right: list[Message]) -> None:
    def wrap(msgs: list[Message]) -> list[str]:
        lines: list[str] = []
        for m in msgs:
            lines += textwrap.wrap(_line(m), COLUMN) or [""]
        return lines or ["(nothing)"]

    a, b = wrap(left), wrap(right)
    out.write(f"  {left_title:<{COLUMN}} | {right_title}\n")
    out.write(f"  {'-' * COLUMN}-+-{'-' * COLUMN}\n")
    for i in range(max(len(a), len(b))):
        la = a[i] if i < len(a) else ""
        lb = b[i] if i < len(b) else ""
        out.write(f"  {la:<{COLUMN}} | {lb}\n")


def _relay_view(out: TextIO, relay_dir: Path) -> None:
    """What the relay operator could see: envelope and blob sizes, expiry times. Nothing else exists."""
    from confide.server import RelayConfig, describe_holdings

    held = describe_holdings(RelayConfig(data_dir=relay_dir))
    out.write("  The relay holds: ")
    if not held.envelopes and not held.blobs:
        out.write("nothing (every envelope was acknowledged and deleted)\n")
        return
    parts = [f"{e.size} B sealed envelope (kept ≤ {format_duration(e.lifetime_s)})" for e in held.envelopes]
    parts += [f"{b.size} B encrypted blob" for b in held.blobs]
    out.write("; ".join(parts) + ".\n  No names, no sender, no text: only sizes and times.\n")


async def run_demo(out: TextIO, *, expire_s: int = 2) -> int:
    """Run the tour, writing to ``out``; returns 0. Starts a relay on a free loopback port."""
    from confide.server import RelayConfig, start_relay

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    with tempfile.TemporaryDirectory(prefix="confide-demo-") as tmp:
        root = Path(tmp)
        relay_dir = root / "relay"
        async with start_relay(RelayConfig(data_dir=relay_dir), host="127.0.0.1", port=0) as url:
            say(f"1. A relay is running at {url} (data in a temporary folder).")
            therapist = await Client.create(
                root / "therapist", DEMO_PASSPHRASE, url, "Dr. Rivera", "therapist", kdf=TEST_KDF
            )
            client = await Client.create(root / "client", DEMO_PASSPHRASE, url, "Sam", "client", kdf=TEST_KDF)
            try:
                say(f"2. Two profiles were created: the therapist ({therapist.address})")
                say(f"   and the client ({client.address}).")
                say("   The therapist gives the client an invite code; the client adds it as a contact.")
                client.add_contact("Dr. Rivera", therapist.invite_code())

                say("\n3. The client writes at night; the therapist is offline.")
                await client.send_text("Dr. Rivera", "I couldn't sleep again. The worry loop is back.")
                await client.send_text("Dr. Rivera", "Can we talk about it on Thursday?")
                _relay_view(out, relay_dir)

                say("\n4. Next morning the therapist syncs, reads and replies; now the client is offline.")
                await therapist.sync()
                therapist.rename_contact(client.address, "Sam")
                await therapist.mark_read("Sam")
                await therapist.send_text(
                    "Sam", "Thank you for writing. Yes, Thursday. Try the 5-minute worry window tonight."
                )
                _relay_view(out, relay_dir)
                await client.sync()
                await client.mark_read("Dr. Rivera")
                await therapist.sync()  # receipts
                _side_by_side(
                    out, "client reads", client.history("Dr. Rivera"), "therapist reads", therapist.history("Sam")
                )

                say("\n5. The therapist shares a worksheet (encrypted with its own key, streamed to the relay).")
                sheet = root / "worry-window.txt"
                sheet.write_text("Worry window\n============\n1. Write the worry down.\n2. Postpone it.\n" * 50)
                await therapist.send_file("Sam", sheet, caption="for this week")
                _relay_view(out, relay_dir)
                await client.sync()
                msg = client.history("Dr. Rivera")[-1]
                saved = await client.save_attachment(msg.message_id, root / "received.txt")
                say(
                    f"   The client saved it after verifying it: {saved.stat().st_size} bytes, identical: "
                    f"{saved.read_bytes() == sheet.read_bytes()}."
                )

                say(f"\n6. The client sets a {expire_s}-second disappearing timer and writes something private.")
                await client.set_timer("Dr. Rivera", expire_s)
                await client.send_text("Dr. Rivera", "Something I have never told anyone.")
                await therapist.sync()
                await therapist.mark_read("Sam")  # the therapist's copy is timed from reading
                _side_by_side(
                    out, "client reads", client.history("Dr. Rivera"), "therapist reads", therapist.history("Sam")
                )
                await asyncio.sleep(expire_s + 0.2)
                client.expire_now()
                therapist.expire_now()
                say(f"   {expire_s} seconds later, on both devices, the message is gone from the store:")
                _side_by_side(
                    out, "client reads", client.history("Dr. Rivera"), "therapist reads", therapist.history("Sam")
                )
                await client.sync()
                _relay_view(out, relay_dir)

                number = await client.safety_number("Dr. Rivera")
                say("\n7. To be sure nobody is in the middle, they compare this safety number once:")
                say(textwrap.indent(number.display(), "   "))
            finally:
                await therapist.close()
                await client.close()
        say("\n8. Done: the relay stopped and every file of the tour was deleted.")
    return 0
