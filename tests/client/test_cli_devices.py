"""``confide devices link | approve | list | remove | rename`` and what ``confide sync`` says of devices (issue 13).

``devices link`` runs as a subprocess (the new device waits while the existing one approves, in this process), on
a real relay in its own thread. A mistyped code fails on both devices in one line each and creates nothing; a
device id is taken by its 8-digit prefix, and a prefix that is too short, unknown or this device's own is refused
in one line with nothing changed; a device's name (which another device chose) is escaped on the terminal.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from confide.client import DeviceInfo, DeviceListRefused, DevicesChanged, ThisDeviceRemoved
from confide.client.cli import EXIT_USAGE
from confide.client.cli.exits import EXIT_ERROR, EXIT_PROFILE, EXIT_VERIFY
from confide.client.cli.render import THIS_DEVICE_REMOVED, device_approved, device_lines, event_line

from .conftest import PASSPHRASE, run

CONFIDE = (sys.executable, "-m", "confide.client.cli")
"""The ``confide`` command, as a subprocess."""

LINK_WAIT_S = 90
"""Longest a ``devices link`` subprocess may take in a test: the link itself times out long before."""


def _invite(capsys: pytest.CaptureFixture[str], profile: Path) -> str:
    code, out, _ = run(capsys, "whoami", "--profile", str(profile), "--json")
    assert code == 0
    return str(json.loads(out)["invite"])


def _init(capsys: pytest.CaptureFixture[str], profile: Path, relay: str, name: str, role: str = "client") -> None:
    assert run(capsys, "init", "--profile", str(profile), "--server", relay, "--name", name, "--role", role)[0] == 0


def _listed(capsys: pytest.CaptureFixture[str], profile: Path) -> list[dict[str, object]]:
    code, out, _ = run(capsys, "devices", "list", "--profile", str(profile), "--json")
    assert code == 0
    listed: list[dict[str, object]] = json.loads(out)
    return listed


def _start_link(profile: Path, relay: str, *extra: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``confide devices link`` as a subprocess; returns it, the code it shows and the lines printed up to it."""
    env = {**os.environ, "CONFIDE_PASSPHRASE": PASSPHRASE, "CONFIDE_KDF": "test"}
    proc = subprocess.Popen(
        [*CONFIDE, "devices", "link", "--profile", str(profile), "--server", relay, "--name", "phone", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.strip().startswith("confide devices approve "):
            return proc, line.split()[-1], lines
    proc.wait(LINK_WAIT_S)
    raise AssertionError(f"no code shown: {lines} {proc.stderr.read() if proc.stderr else ''}")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=LINK_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()  # a link left waiting would outlive the test
        proc.communicate()
        raise
    return proc.returncode, out, err


@pytest.fixture
def pair(relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """``(sam, dr)``: two CLI profiles introduced both ways, with a message each way."""
    sam, dr = tmp_path / "sam", tmp_path / "dr"
    _init(capsys, sam, relay_thread, "Sam")
    _init(capsys, dr, relay_thread, "Dr R", "therapist")
    assert run(capsys, "contacts", "add", "--profile", str(sam), "dr", _invite(capsys, dr))[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(dr), "sam", _invite(capsys, sam))[0] == 0
    assert run(capsys, "send", "--profile", str(dr), "sam", "the blue heron")[0] == 0  # dr fetches sam's list
    assert run(capsys, "sync", "--profile", str(sam))[0] == 0
    assert run(capsys, "send", "--profile", str(sam), "dr", "a hard week")[0] == 0
    assert run(capsys, "sync", "--profile", str(dr))[0] == 0
    return sam, dr


# -- list, rename, remove ----------------------------------------------------------------------------
def test_list_marks_this_device(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    sam, _ = pair
    [only] = _listed(capsys, sam)
    assert only["this_device"] is True
    assert only["origin"] == "first"
    assert isinstance(only["device_id"], str)
    assert len(only["device_id"]) == 32
    code, out, err = run(capsys, "devices", "list", "--profile", str(sam))
    assert code == 0
    assert err == ""
    first = out.splitlines()[0]
    assert first.startswith(str(only["device_id"])[:8] + "  ")
    assert first.endswith("<- this device")
    assert "confide devices remove ID" in out


def test_rename_by_prefix(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    sam, _ = pair
    [only] = _listed(capsys, sam)
    code, out, _ = run(capsys, "devices", "rename", "--profile", str(sam), str(only["device_id"])[:8], "Office laptop")
    assert code == 0
    assert "contacts never see it" in out
    assert [d["name"] for d in _listed(capsys, sam)] == ["Office laptop"]
    code, out, err = run(capsys, "devices", "rename", "--profile", str(sam), str(only["device_id"]), "bad\x1b[2Jname")
    assert code == EXIT_USAGE
    assert err.count("\n") == 1
    assert "\x1b" not in err
    assert [d["name"] for d in _listed(capsys, sam)] == ["Office laptop"]


@pytest.mark.parametrize(
    ("which", "says"),
    [
        ("this", "this is the device you are using"),
        ("unknown", "no device of yours has this id"),
        ("short", "not a device id"),
        ("not hex", "not a device id"),
    ],
)
def test_remove_refusals_say_one_line_and_change_nothing(
    pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str], which: str, says: str
) -> None:
    sam, _ = pair
    before = _listed(capsys, sam)
    own = str(before[0]["device_id"])
    given = {
        "this": own[:8],
        "unknown": ("0" if own[0] != "0" else "1") * 8,
        "short": own[:7],
        "not hex": "zzzzzzzz",
    }[which]
    code, out, err = run(capsys, "devices", "remove", "--profile", str(sam), given)
    assert code == EXIT_ERROR
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("confide devices: ")
    assert says in err
    assert _listed(capsys, sam) == before


# -- link and approve, for real ---------------------------------------------------------------------------
def test_link_approve_sync_and_remove(
    pair: tuple[Path, Path], relay_thread: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sam, dr = pair
    phone, qr = tmp_path / "phone", tmp_path / "code.png"
    proc, code_text, shown = _start_link(phone, relay_thread, "--qr", str(qr))
    try:
        assert proc.stdout is not None
        assert f"(or give it the QR code in {qr})" in [*shown, *(proc.stdout.readline().rstrip("\n") for _ in (1, 2))]
        assert stat.S_IMODE(qr.stat().st_mode) == 0o600
        assert qr.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        code, out, err = run(capsys, "devices", "approve", "--profile", str(sam), code_text)
    finally:
        linked = _finish(proc)
    assert code == 0, err
    assert out.startswith("Approved phone as one of your devices and sent it your recent messages.")
    assert linked[0] == 0, linked[2]
    assert "Linked: this device is now one of" in linked[1]
    assert "Your recent messages arrived from the other device." in linked[1]
    assert not qr.exists()

    devices = _listed(capsys, sam)
    assert [(d["name"], d["this_device"], d["origin"]) for d in devices] == [
        ("", True, "first"),
        ("phone", False, "linked"),
    ]
    assert [(d["device_id"], d["this_device"]) for d in _listed(capsys, phone)] == [
        (devices[0]["device_id"], False),
        (devices[1]["device_id"], True),
    ]
    # The new profile is the same identity, holds the history, and works.
    assert _invite(capsys, phone) == _invite(capsys, sam)
    code, out, _ = run(capsys, "read", "--profile", str(phone), "dr", "--json", "--no-mark")
    assert code == 0
    assert [m["text"] for m in json.loads(out)["messages"]] == ["the blue heron", "a hard week"]
    assert run(capsys, "send", "--profile", str(phone), "dr", "from my phone")[0] == 0
    code, out, _ = run(capsys, "sync", "--profile", str(dr))
    assert code == 0
    assert "sam added a device (safety numbers are unchanged)" in out  # the next time they hear from sam
    assert "from my phone" in out
    code, out, _ = run(capsys, "sync", "--profile", str(sam))
    assert "(from your other device)" in out
    assert "from my phone" in out

    # Removed by its 8-digit prefix from the first device; the phone is told at its next sync.
    phone_id = str(devices[1]["device_id"])
    code, out, err = run(capsys, "devices", "remove", "--profile", str(sam), phone_id[:8])
    assert code == 0, err
    assert out.startswith(f"Removed device {phone_id[:8]}:")
    assert [d["device_id"] for d in _listed(capsys, sam)] == [devices[0]["device_id"]]
    code, out, err = run(capsys, "sync", "--profile", str(phone))
    assert code == EXIT_PROFILE
    assert err.count("\n") == 1
    assert err.startswith("confide sync: this device was removed from your devices")
    assert "confide devices link" in err


def test_link_without_history_starts_empty(
    pair: tuple[Path, Path], relay_thread: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sam, _ = pair
    phone = tmp_path / "phone"
    proc, code_text, _ = _start_link(phone, relay_thread)
    try:
        code, out, err = run(capsys, "devices", "approve", "--profile", str(sam), code_text, "--no-history")
    finally:
        linked = _finish(proc)
    assert code == 0, err
    assert "(it starts with no messages)" in out
    assert linked[0] == 0, linked[2]
    code, out, _ = run(capsys, "read", "--profile", str(phone), "dr", "--json", "--no-mark")
    assert code == 0
    assert json.loads(out)["messages"] == []


def test_a_wrong_code_fails_on_both_in_one_line_and_creates_nothing(
    pair: tuple[Path, Path], relay_thread: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sam, _ = pair
    phone, qr = tmp_path / "phone", tmp_path / "code.png"
    before = _listed(capsys, sam)
    proc, code_text, _ = _start_link(phone, relay_thread, "--qr", str(qr))
    typo = code_text[:-1] + ("0" if code_text[-1] != "0" else "1")
    try:
        code, out, err = run(capsys, "devices", "approve", "--profile", str(sam), typo)
    finally:
        linked = _finish(proc)
    assert code == EXIT_VERIFY
    assert out == ""
    assert err.splitlines()[0].startswith("Approving the device that shows this code")
    assert len(err.splitlines()) == 2  # that notice, then the one line of the error
    assert err.splitlines()[1].startswith("confide devices: the code did not match on the two devices")
    assert linked[0] == EXIT_VERIFY
    assert linked[2].count("\n") == 1, linked[2]
    assert linked[2].startswith("confide devices: ")
    assert not phone.exists()
    assert not qr.exists()
    assert _listed(capsys, sam) == before
    # Not a code at all: refused before anything is sent.
    code, out, err = run(capsys, "devices", "approve", "--profile", str(sam), "ABCD-EFGH")
    assert code == EXIT_USAGE
    assert len(err.splitlines()) == 2
    assert err.splitlines()[1].startswith("confide devices: a link code has 12 characters in 3 groups of 4")
    assert _listed(capsys, sam) == before


# -- what another device named reaches the terminal escaped --------------------------------------------------
def test_a_device_name_is_escaped_on_the_terminal() -> None:
    hostile = DeviceInfo("ab" * 16, "phone\x1b]0;owned\x07\u202eexe.txt\nline", False, 1_700_000_000, "linked")
    for line in [*device_lines([hostile]), device_approved(hostile, history=True)]:
        assert "\x1b" not in line
        assert "\u202e" not in line
        assert "\x07" not in line
        assert "\n" not in line
    assert "phone\\x1b]0;owned\\x07\\u202eexe.txt" in device_lines([hostile])[0]


def test_device_events_escape_what_a_peer_or_the_relay_chose() -> None:
    hostile = "Dr\x1b[2J\u202eR"
    lines = [
        event_line(DevicesChanged(hostile, 1, 0)),
        event_line(DevicesChanged(hostile, 0, 2)),
        event_line(DeviceListRefused(hostile, "older\x1b[31m than\nthe kept one")),
    ]
    assert lines[0] == "Dr\\x1b[2J\\u202eR added a device (safety numbers are unchanged)"
    assert lines[1] == "Dr\\x1b[2J\\u202eR removed 2 devices (safety numbers are unchanged)"
    for line in lines:
        assert line is not None
        assert "\x1b" not in line
        assert "\u202e" not in line
        assert "\n" not in line
    assert event_line(DevicesChanged("Dr R", 1, 0, restored=True)) == (
        "Dr R restored their identity on a new device (safety numbers are unchanged)"
    )
    own = event_line(DevicesChanged("", 1, 0, restored=True))
    assert own is not None
    assert own.startswith("your identity's devices changed: it was restored on a new device. If you did not")
    assert "someone else holds your identity" in own
    assert event_line(DevicesChanged("", 2, 1)) == (
        "your identity's devices changed: 2 devices added and a device removed. If you did not link or restore a "
        "device just now, someone else holds your identity: remove it ('confide devices list', 'confide devices "
        "remove ID') and make a new recovery code"
    )
    assert event_line(ThisDeviceRemoved()) == THIS_DEVICE_REMOVED
