"""``confide contacts add | accept | remove`` and ``confide reject``: each says what really happened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run


def _init(capsys: pytest.CaptureFixture[str], profile: Path, relay: str, name: str) -> str:
    assert run(capsys, "init", "--profile", str(profile), "--server", relay, "--name", name)[0] == 0
    code, out, _ = run(capsys, "whoami", "--profile", str(profile), "--json")
    assert code == 0
    return str(json.loads(out)["invite"])


def test_contacts_add_says_what_happened(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, adding an invite that was already a contact printed "Added" while it renamed that contact,
    and an invite for another identity under a known name printed "Added" too."""
    me, dr, other = tmp_path / "me", tmp_path / "dr", tmp_path / "other"
    invite_me = _init(capsys, me, relay_thread, "Sam")
    invite_dr = _init(capsys, dr, relay_thread, "Dr R")
    invite_other = _init(capsys, other, relay_thread, "Mallory")
    del invite_me
    code, out, _ = run(capsys, "contacts", "add", "--profile", str(me), "dr", invite_dr)
    assert code == 0
    assert out.startswith("Added dr (")
    code, out, _ = run(capsys, "contacts", "add", "--profile", str(me), "Dr. Rivera", invite_dr)
    assert code == 0
    assert out.startswith("dr already had this invite: renamed to Dr. Rivera")
    code, out, _ = run(capsys, "contacts", "add", "--profile", str(me), "Dr. Rivera", invite_dr)
    assert out.startswith("Updated the invite of Dr. Rivera")
    code, out, _ = run(capsys, "contacts", "add", "--profile", str(me), "Dr. Rivera", invite_other)
    assert code == 0
    assert out.startswith("WARNING: this invite is for a different identity than the Dr. Rivera you know")
    assert "confide reject Dr. Rivera" in out
    code, out, _ = run(capsys, "contacts", "add", "--profile", str(me), "Dr. Rivera", invite_dr)
    assert out.startswith("Kept Dr. Rivera's pinned identity")


def test_reject_accept_and_remove_from_the_command_line(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    me, dr, other = tmp_path / "me", tmp_path / "dr", tmp_path / "other"
    invite_me = _init(capsys, me, relay_thread, "Sam")
    invite_dr = _init(capsys, dr, relay_thread, "Dr R")
    invite_other = _init(capsys, other, relay_thread, "Mallory")
    assert run(capsys, "contacts", "add", "--profile", str(me), "dr", invite_dr)[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(me), "dr", invite_other)[0] == 0
    code, out, _ = run(capsys, "reject", "--profile", str(me), "dr")
    assert code == 0
    assert out.startswith("Rejected the new identity; dr stays")
    code, out, _ = run(capsys, "contacts", "list", "--profile", str(me), "--json")
    [dr_contact] = json.loads(out)
    assert dr_contact["trust"] == "unverified"

    # Someone who writes first is listed as a request until accepted.
    assert run(capsys, "contacts", "add", "--profile", str(other), "sam", invite_me)[0] == 0
    assert run(capsys, "send", "--profile", str(other), "sam", "hello?")[0] == 0
    assert run(capsys, "sync", "--profile", str(me))[0] == 0
    code, out, _ = run(capsys, "contacts", "list", "--profile", str(me))
    [request_line] = [line for line in out.splitlines() if "wrote to you first" in line]
    address = request_line.split()[0]
    code, out, _ = run(capsys, "contacts", "accept", "--profile", str(me), address)
    assert code == 0
    assert out.startswith(f"Accepted {address}")
    code, out, _ = run(capsys, "contacts", "remove", "--profile", str(me), address, "--yes")
    assert code == 0
    assert out.startswith(f"Removed {address}")
    code, out, _ = run(capsys, "contacts", "list", "--profile", str(me), "--json")
    assert [c["name"] for c in json.loads(out)] == ["dr"]
    code, _, err = run(capsys, "contacts", "remove", "--profile", str(me), "nobody", "--yes")
    assert code == 8
    assert err.startswith("confide contacts: no contact has that name")
