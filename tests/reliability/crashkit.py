"""Helpers for the crash and disk-fault tests: a client in a child process that can be killed at an exact point,
and a small file system that really fills up.

**The child client.** ``python -m tests.reliability.crashkit PROFILE`` opens the profile with the public
:class:`~confide.client.Client` API (passphrase from ``CONFIDE_PASSPHRASE``) and obeys JSON lines on its stdin:
``{"op": "sync"}`` answers ``{"shown": [texts the application was handed]}``, ``{"op": "send", "peer": P,
"text": T}`` answers ``{"status": S}``. With ``CONFIDE_CRASH_AT=POINT[:N]`` in its environment it replaces ONE
internal function by a wrapper that, on the N-th call (default 1), writes ``{"paused": POINT}`` to stdout and
then blocks for good: the parent (:class:`ChildClient`) waits for that line and sends SIGKILL while the child
holds the profile open. The points (:data:`CRASH_POINTS`):

- ``ack``: an incoming message was decrypted and committed to the store, the relay's ack not sent yet;
- ``commit``: an incoming message was decrypted and its writes made, inside the transaction, before COMMIT;
- ``encrypted``: a send advanced the ratchet and queued the envelope, inside the transaction, before COMMIT;
- ``post``: a send committed (ratchet, message, outbox), the envelope not yet posted to the relay;
- ``posted``: the relay stored the envelope and answered, the client has not recorded it as sent;
- ``receipt``: the N-th incoming message of this run is stored (committed) and acknowledged, the delivery receipt
  it owes not yet queued or posted (the stop is the next time the receipts owed are about to be sent).

**The small file system.** :func:`small_filesystem` mounts a tmpfs of a few MiB (root and ``mount`` needed; the
caller says why it cannot run otherwise), and :func:`fill` writes a filler file until the disk refuses with
``ENOSPC``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
"""The checkout: the child runs ``python -m tests.reliability.crashkit`` from here."""

CRASH_ENV = "CONFIDE_CRASH_AT"
"""Environment variable naming the point (and optionally the hit, ``POINT:N``) where the child stops."""

CRASH_POINTS = ("ack", "commit", "encrypted", "post", "posted", "receipt")
"""Every point :func:`install_crash_point` knows (see the module docstring)."""

RECEIVE_POINTS = ("ack", "commit", "receipt")
"""Points reached while receiving (a ``sync`` with messages waiting)."""

SEND_POINTS = ("encrypted", "post", "posted")
"""Points reached while sending (a ``send``)."""

CHILD_TIMEOUT_S = 60.0
"""Longest wait for one answer of the child (its start included): a ``sync`` of a few messages takes well
under a second; a minute covers a loaded 2-core CI machine without letting a hung child stall the suite."""

MIB = 1024 * 1024


# -- the child ------------------------------------------------------------------------------------------
def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _stop_here(point: str) -> None:
    """Tell the parent where we are, then block until killed (the event loop stops with us)."""
    _say({"paused": point})
    while True:
        time.sleep(3600)


def install_crash_point(spec: str) -> None:
    """Wrap the one internal function of ``spec`` (``POINT`` or ``POINT:N``) so that its N-th call stops the
    process at that point. Raises :class:`ValueError` for an unknown point."""
    point, _, nth_text = spec.partition(":")
    nth = int(nth_text) if nth_text else 1
    hits = 0

    def due() -> bool:
        nonlocal hits
        hits += 1
        return hits == nth

    from confide.client.inbox import Inbox
    from confide.client.messaging import Messaging
    from confide.client.outbox import Outbox
    from confide.client.relay import RelayClient
    from confide.client.store import Store

    if point == "ack":
        ack = RelayClient.ack

        async def ack_hook(self: RelayClient, envelope_ids: list[bytes]) -> None:
            if due():
                _stop_here(point)
            await ack(self, envelope_ids)

        RelayClient.ack = ack_hook  # type: ignore[method-assign]
    elif point == "commit":
        store_opened = Inbox._store_opened

        def store_hook(self: Inbox, *args: Any) -> None:
            store_opened(self, *args)
            if due():
                _stop_here(point)

        Inbox._store_opened = store_hook  # type: ignore[method-assign,assignment]
    elif point == "encrypted":
        add = Outbox.add

        def add_hook(self: Outbox, *args: Any) -> None:
            add(self, *args)
            if due():
                _stop_here(point)

        Outbox.add = add_hook  # type: ignore[method-assign,assignment]
    elif point in ("post", "posted"):
        post = RelayClient.post_envelope

        async def post_hook(self: RelayClient, envelope: bytes) -> dict[str, Any]:
            if point == "post" and due():
                _stop_here(point)
            answer = await post(self, envelope)
            if point == "posted" and due():
                _stop_here(point)
            return answer

        RelayClient.post_envelope = post_hook  # type: ignore[method-assign]
    elif point == "receipt":
        owe, send_owed = Store.owe_receipts, Messaging.send_owed_receipts
        armed = False

        def owe_hook(self: Store, *args: Any) -> None:
            nonlocal armed
            owe(self, *args)
            armed |= due()  # the N-th message's receipt is owed (its transaction commits after this returns)

        async def send_hook(self: Messaging) -> None:
            if armed:
                _stop_here(point)
            await send_owed(self)

        Store.owe_receipts = owe_hook  # type: ignore[method-assign,assignment]
        Messaging.send_owed_receipts = send_hook  # type: ignore[method-assign]
    else:
        raise ValueError(f"unknown crash point {point!r}; known: {', '.join(CRASH_POINTS)}")


async def _child(profile: str) -> None:
    from confide.client import Client, MessageReceived, messaging

    messaging.RECEIPT_DELAY_MIN_S = messaging.RECEIPT_DELAY_MAX_S = 0.0  # receipts at once, as in the client tests
    spec = os.environ.get(CRASH_ENV)
    if spec:
        install_crash_point(spec)
    client = await Client.open(profile, os.environ["CONFIDE_PASSPHRASE"])
    client.auto_download = False
    _say({"ready": True})
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            cmd = json.loads(line)
            if cmd["op"] == "sync":
                events = await client.sync()
                _say({"shown": [e.message.text for e in events if isinstance(e, MessageReceived)]})
            elif cmd["op"] == "send":
                msg = await client.send_text(cmd["peer"], cmd["text"])
                _say({"status": str(msg.status)})
            else:
                break
    finally:
        await client.close()


# -- the parent's side -----------------------------------------------------------------------------------
class ChildClient:
    """A client in its own process (see the module docstring); start it with :meth:`start`."""

    def __init__(self, proc: asyncio.subprocess.Process, profile: Path) -> None:
        self.proc = proc
        self.profile = profile

    @classmethod
    async def start(cls, profile: Path, passphrase: str, crash_at: str | None = None) -> ChildClient:
        """Start a child on ``profile`` (which must not be open elsewhere) and wait until it has opened it."""
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        env = dict(os.environ, CONFIDE_PASSPHRASE=passphrase, PYTHONPATH=path)
        env.pop(CRASH_ENV, None)
        if crash_at is not None:
            env[CRASH_ENV] = crash_at
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.reliability.crashkit",
            str(profile),
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        child = cls(proc, profile)
        assert await child.read() == {"ready": True}
        return child

    async def read(self) -> dict[str, Any]:
        """The child's next line. Raises :class:`AssertionError` if it exits or stays silent too long."""
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), CHILD_TIMEOUT_S)
        assert line, f"the child exited (code {await self.proc.wait()})"
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def send(self, cmd: dict[str, Any]) -> None:
        """Write one command line to the child."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        await self.proc.stdin.drain()

    async def ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Send a command and return its answer."""
        await self.send(cmd)
        return await self.read()

    async def kill_at(self, point: str) -> None:
        """Wait until the child stops at ``point``, then :meth:`kill` it."""
        assert await self.read() == {"paused": point}
        await self.kill()

    async def kill(self) -> None:
        """SIGKILL the child (which must hold the profile open: it stopped at its point) and reap it."""
        assert profile_held(self.profile), "the child must hold the profile open when it is killed"
        os.kill(self.proc.pid, signal.SIGKILL)
        assert await asyncio.wait_for(self.proc.wait(), CHILD_TIMEOUT_S) == -signal.SIGKILL

    async def quit(self) -> None:
        """Ask the child to close the profile and exit; it must exit 0."""
        await self.send({"op": "quit"})
        assert await asyncio.wait_for(self.proc.wait(), CHILD_TIMEOUT_S) == 0


def profile_held(profile: Path) -> bool:
    """Whether a process holds ``PROFILE/lock`` (every open client holds it shared): an exclusive try fails."""
    fd = os.open(profile / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


# -- a small file system ----------------------------------------------------------------------------------
def mount_problem() -> str | None:
    """Why a tmpfs cannot be mounted here (None: it can): the disk-full tests need root and ``mount``."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    probe = Path(f"/tmp/confide-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True, text=True
        )
        if done.returncode != 0:
            return f"mount -t tmpfs failed: {done.stderr.strip()}"
        subprocess.run(["umount", str(probe)], check=True)
        return None
    finally:
        probe.rmdir()


@contextlib.contextmanager
def small_filesystem(where: Path, size_mib: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_mib`` MiB on ``where`` for the block; unmounted (lazily, should a process still
    hold a file there) afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path, leave: int = 0) -> int:
    """Append zeros to ``path`` until the file system refuses (``ENOSPC``) even a single byte, then give back
    ``leave`` bytes by truncating; returns the file's final size. Call it again to take up space freed since."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1024 * 1024, 4096, 1):  # big writes first, then down to the last byte of the last page
            chunk = bytes(size)
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        end = os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)
    if leave:
        end = max(0, end - leave)
        os.truncate(path, end)
    return end


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = CHILD_TIMEOUT_S) -> None:
    """Wait until ``check()`` is true. Raises :class:`AssertionError` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1]))
