"""Two processes on one profile (``sync --wait`` in one terminal, ``send`` in another) never reuse a message key.

Real processes, each opening the same profile with :meth:`Client.open`, against a real relay on loopback.
Every ``(ratchet public key, chain index)`` the two processes encrypt under is recorded (a test-only wrapper
around ``Session.encrypt`` in the child processes) and must never repeat: a repeat is the same message key with
the same zero nonce, and the peer drops the second message as a duplicate while its sender shows it "sent".
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest

from confide.client import Client, Direction, MessageReceived

from .conftest import PASSPHRASE, MakeClient, introduce

MESSAGES_EACH_WAY = 50
PROCESS_TIMEOUT_S = 120.0
"""Generous: each child does 50 sends or syncs of a few milliseconds each; a hang fails instead of blocking."""

_CHILD = r"""
import asyncio, json, os, sys

from confide.client import Client, MessageReceived
from confide.protocol import session as _session

profile, passphrase, role, record, stop, count = sys.argv[1:7]
count = int(count)
_encrypt = _session.Session.encrypt


def _recording(self, plaintext, rng, **options):
    with open(record, "a", encoding="utf-8") as fh:  # every (ratchet key, index) this process encrypts under
        fh.write(json.dumps([self.ratchet.dhs_pub.hex(), self.ratchet.ns]) + "\n")
    return _encrypt(self, plaintext, rng, **options)


_session.Session.encrypt = _recording


async def main():
    async with Client.open(profile, passphrase) as client:
        if role == "send":
            for i in range(count):
                await client.send_text("b", f"a{i}")
            return
        received = 0
        while received < count or not os.path.exists(stop):
            events = await client.sync()
            received += sum(1 for e in events if isinstance(e, MessageReceived))


asyncio.run(main())
"""


async def _child(profile: Path, role: str, record: Path, stop: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        str(profile),
        PASSPHRASE,
        role,
        str(record),
        str(stop),
        str(MESSAGES_EACH_WAY),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finished(proc: asyncio.subprocess.Process) -> None:
    _out, err = await asyncio.wait_for(proc.communicate(), PROCESS_TIMEOUT_S)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


def _used(record: Path) -> list[tuple[str, int]]:
    if not record.exists():
        return []
    return [tuple(json.loads(line)) for line in record.read_text(encoding="utf-8").splitlines()]


async def test_receiving_and_sending_processes_never_reuse_a_message_key(
    make_client: MakeClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Attack (on ourselves): one process receives in a loop while another sends 50 messages on the same
    profile and the peer sends 50 back. Before the fix the receiver decrypted outside the store transaction and
    wrote its stale copy of the session back over the sender's, so later messages reused chain indexes: the
    peer dropped them as duplicates while the sender showed them "sent"."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "hello")
    await b.sync()
    await b.send_text("a", "hi")
    await a.sync()
    await a.close()  # from now on only the two child processes use Alice's profile

    caplog.set_level(logging.INFO, logger="confide.client.inbox")
    stop = tmp_path / "sender-done"
    receiver = await _child(tmp_path / "alice", "receive", tmp_path / "used-by-receiver", stop)
    sender = await _child(tmp_path / "alice", "send", tmp_path / "used-by-sender", stop)
    for i in range(MESSAGES_EACH_WAY):
        await b.send_text("a", f"b{i}")
        await asyncio.sleep(0.01)
    await _finished(sender)
    stop.touch()
    await _finished(receiver)

    expected = [f"a{i}" for i in range(MESSAGES_EACH_WAY)]
    for _ in range(10):  # Alice's receiver may have posted the last envelopes just before it stopped
        await b.sync()
        if len([m for m in b.history("a") if m.direction == Direction.IN]) >= MESSAGES_EACH_WAY + 1:
            break
    received = [m.text for m in b.history("a") if m.direction == Direction.IN]
    assert sorted(received) == sorted(["hello", *expected])  # every message, each exactly once
    assert "already decrypted" not in caplog.text  # none dropped as a duplicate

    used = _used(tmp_path / "used-by-receiver") + _used(tmp_path / "used-by-sender")
    assert used
    assert len(used) == len(set(used)), "a (ratchet key, chain index) was used twice"

    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        events = await again.sync()
        got = [m.text for m in again.history("b") if m.direction == Direction.IN]
        assert got == ["hi"] + [f"b{i}" for i in range(MESSAGES_EACH_WAY)]
        assert not [e for e in events if isinstance(e, MessageReceived)]  # all were reported by the receiver
