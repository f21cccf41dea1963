"""Panic wipe: without the passphrase, overwriting every file in place, and stopping every process that has
the profile open. Each test is an attack on one promise of SECURITY.md questions 2 and 5."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from confide.client import Client, ProfileError, ProfileWiped, ProfileWipedError
from confide.client.cli.exits import EXIT_WIPED

from .conftest import PASSPHRASE, MakeClient, introduce, run

LISTENER_STOP_S = 2.5
"""The promise is "within about a second" (a 0.5 s poll); a loaded CI machine gets some slack on top."""


def _lines(stream: IO[str]) -> queue.Queue[str | None]:
    """Lines of ``stream`` as they come (a thread reads them), then None at its end."""
    q: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def _wait_for(q: queue.Queue[str | None], needle: str, timeout_s: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=0.1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} not seen; got {seen!r}")


def _drain(q: queue.Queue[str | None]) -> str:
    out = []
    while True:
        try:
            line = q.get(timeout=5)
        except queue.Empty:
            break
        if line is None:
            break
        out.append(line)
    return "".join(out)


def test_cli_wipe_needs_no_passphrase_and_stops_a_running_listener(
    relay_thread: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack (issue 8, point 4): ``confide sync --wait 30`` runs in its own process on Bob's profile and prints
    a message; then ``confide wipe --yes`` runs in another process with NO passphrase in its environment,
    and the therapist writes again right after. The wipe must succeed; the listener must stop within about
    a second, printing one line that says the profile was wiped (exit code EXIT_WIPED) and nothing sent after
    the wipe; and the profile directory must be gone."""
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CONFIDE_KDF", "test")
    t, b = tmp_path / "t", tmp_path / "b"
    for p in (t, b):
        assert run(capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", p.name)[0] == 0
    invites = {}
    for p in (t, b):
        code, out, _ = run(capsys, "whoami", "--profile", str(p), "--json")
        invites[p] = json.loads(out)["invite"]
    assert run(capsys, "contacts", "add", "--profile", str(t), "bob", invites[b])[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(b), "dr", invites[t])[0] == 0

    env = {**os.environ, "CONFIDE_PASSPHRASE": PASSPHRASE}
    listener = subprocess.Popen(
        [sys.executable, "-m", "confide.client.cli", "sync", "--profile", str(b), "--wait", "30"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out_lines, err_lines = _lines(listener.stdout), _lines(listener.stderr)  # type: ignore[arg-type]
        assert run(capsys, "send", "--profile", str(t), "bob", "before the wipe")[0] == 0
        _wait_for(out_lines, "before the wipe", 30)  # shown: the listener runs (caught up, then live)

        no_passphrase = {k: v for k, v in env.items() if k not in ("CONFIDE_PASSPHRASE", "CONFIDE_NEW_PASSPHRASE")}
        wipe = subprocess.run(
            [sys.executable, "-m", "confide.client.cli", "wipe", "--profile", str(b), "--yes"],
            env=no_passphrase,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
        wiped_at = time.monotonic()
        assert wipe.returncode == 0, wipe.stderr
        assert run(capsys, "send", "--profile", str(t), "bob", "after the wipe")[0] == 0
        code = listener.wait(timeout=30)
        stopped_after = time.monotonic() - wiped_at
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    rest_out, rest_err = _drain(out_lines), _drain(err_lines)
    assert code == EXIT_WIPED, rest_err
    assert stopped_after < LISTENER_STOP_S
    assert "after the wipe" not in rest_out
    assert [line for line in rest_err.splitlines() if line.strip()] == [
        "confide sync: this profile was wiped; stopped."
    ]
    assert not b.exists()


async def test_library_wipe_without_passphrase_stops_an_open_client(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack: a client is open and listening (``events()``); the profile is wiped from outside with
    ``Client.wipe_profile`` (no passphrase). The client must emit :class:`ProfileWiped` within about a second,
    end ``events()``, and have closed its store."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    received: list[object] = []

    async def listen() -> None:
        async for event in b.events():
            received.append(event)

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await Client.wipe_profile(tmp_path / "bob")
    await asyncio.wait_for(task, LISTENER_STOP_S)
    assert time.monotonic() - started < LISTENER_STOP_S
    assert isinstance(received[-1], ProfileWiped)
    assert b.wiped
    assert not (tmp_path / "bob").exists()
    with pytest.raises(ProfileError):
        await Client.open(tmp_path / "bob", PASSPHRASE)
    # The stopped client answers every further call with one typed error, never a SQLite one.
    with pytest.raises(ProfileWipedError):
        b.history("a")
    with pytest.raises(ProfileWipedError):
        await b.send_text("a", "still there?")


async def test_wipe_overwrites_every_file_in_place(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack: keep file descriptors open on the key store, store.db, its WAL and a received attachment
    before the wipe (as a process or a file-system snapshot of the same inodes would); after the wipe, read
    through them: every byte they held was replaced (an unlink alone would leave them readable)."""
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    source = tmp_path / "notes.txt"
    source.write_text("session notes " * 300)
    await a.send_file("b", source)
    await a.send_text("b", "a message")
    await b.sync()
    profile = b.profile_dir
    files = [profile / "keystore", profile / "store.db", *(profile / "attachments").iterdir()]
    if (profile / "store.db-wal").stat().st_size:
        files.append(profile / "store.db-wal")
    held = {path: path.open("rb") for path in files}  # kept open across the wipe on purpose
    try:
        before = {path: fh.read() for path, fh in held.items()}
        await b.wipe()
        assert not profile.exists()
        for path, fh in held.items():
            fh.seek(0)
            after = fh.read()
            old = before[path]
            assert len(after) >= len(old) > 0, path.name
            same = sum(1 for i in range(0, len(old) - 15, 16) if old[i : i + 16] == after[i : i + 16])
            assert same == 0, f"{path.name}: {same} blocks of 16 bytes unchanged"
    finally:
        for fh in held.values():
            fh.close()


async def test_wipe_refuses_a_folder_that_is_not_a_profile(tmp_path: Path) -> None:
    """Attack: a mistyped ``--profile`` (say, the home folder) must not be wiped: nothing there is touched."""
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    with pytest.raises(ProfileError):
        await Client.wipe_profile(folder)
    assert (folder / "thesis.txt").read_text() == "years of work"
