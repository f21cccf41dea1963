"""Issue 11 end to end, through the ``confide`` command only, on one real relay: a practice, a therapist and a
client, each a profile of its own.

The practice sets its crisis notice and credentials the therapist from the therapist's own contact card; the
therapist imports the credential and publishes office hours; the client pins the practice by its address, finds
the therapist in the directory and writes without any other channel (seeing the availability line and the crisis
notice), sees a verified provider, reports an abusive reply that the practice's review finds authentic, and
sees the revocation the practice publishes afterwards. Then the attacks on the same relay: the relay serves the
old revocation list again (refused, the revocation still shown), a forged card is refused, a forged report is
not authentic.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from .conftest import PASSPHRASE, run

NOTICE = "If you are in danger now, call 911. Messages here are answered within office hours."
ABUSE = "You will regret writing to me."


@pytest.fixture
def story_env(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIDE_PRACTICE_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("CONFIDE_PRACTICE", raising=False)
    monkeypatch.setenv("TZ", "Europe/Berlin")


def _ok(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    code, out, err = run(capsys, *argv)
    assert code == 0, f"confide {' '.join(argv[:2])}: {err}"
    return out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    return json.loads(_ok(capsys, *argv)[0])


def _relay_row(relay_dir: Path, kind: int) -> bytes:
    con = sqlite3.connect(relay_dir / "relay.db")
    try:
        row = con.execute("SELECT data FROM documents WHERE kind = ?", (kind,)).fetchone()
        return bytes(row[0])
    finally:
        con.close()


def test_a_practice_a_therapist_and_a_client(
    story_env: None, relay_thread: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    practice = ["--practice", str(tmp_path / "practice")]
    therapist = ["--profile", str(tmp_path / "therapist")]
    client = ["--profile", str(tmp_path / "client")]

    # The practice: its own profile, passphrase and moderation key; a crisis notice of its own words.
    out, _ = _ok(capsys, "practice", "init", *practice, "--server", relay_thread, "--name", "Harbour Therapy")
    address = out.split("Practice address: ")[1].split()[0]
    _ok(capsys, "practice", "policy", *practice, "--crisis-notice", NOTICE, "--crisis", "Emergency=911")

    # The therapist: office hours first, then the card the practice credentials them from.
    _ok(capsys, "init", *therapist, "--server", relay_thread, "--name", "Ana", "--role", "therapist")
    hours = ["--tz", "America/Los_Angeles", "--hours", "mon-fri 09:00-17:00", "--reply", "1d"]
    _ok(capsys, "availability", "set", *therapist, *hours)
    card = tmp_path / "ana.card"
    _ok(capsys, "card", "export", *therapist, "--out", str(card))
    credential = tmp_path / "ana.credential"
    details = ["--name", "Dr. Ana Rivera", "--licence", "PSY 12345", "--body", "California Board of Psychology"]
    _ok(capsys, "practice", "issue", *practice, str(card), *details, "--jurisdiction", "US-CA", "--list", "--out",
        str(credential))  # fmt: skip
    _ok(capsys, "practice", "publish", *practice)
    out, _ = _ok(capsys, "credential", "import", *therapist, str(credential))
    assert "Dr. Ana Rivera" in out

    # The client pins the practice by its address and starts a thread from the directory: no other channel.
    _ok(capsys, "init", *client, "--server", relay_thread, "--name", "Sam")
    _ok(capsys, "practices", "trust", *client, address)
    listing = _json(capsys, "directory", *client, address, "--json")
    assert isinstance(listing, list)
    assert [entry["display_name"] for entry in listing] == ["Dr. Ana Rivera"]
    _ok(capsys, "directory", *client, address, "--add", "1", "Dr Rivera")
    shown = _json(capsys, "contacts", "list", *client, "--json")
    assert isinstance(shown, list)
    provider = shown[0]["provider"]
    assert (provider["status"], provider["display_name"], provider["licence_number"]) == (
        "verified",
        "Dr. Ana Rivera",
        "PSY 12345",
    )
    assert provider["practice_name"] == "Harbour Therapy"

    # Writing: the availability line and (first message of the thread) the practice's crisis notice, on stderr.
    _, err = _ok(capsys, "send", *client, "Dr Rivera", "Hello, I would like to start.")
    assert "usually replies within" in err
    assert NOTICE in err

    # The therapist reads and replies (abusively): the reply is franked for the practice's moderation key.
    events = [json.loads(line) for line in _ok(capsys, "sync", *therapist, "--json")[0].splitlines()]
    peer = next(e["peer"] for e in events if e["type"] == "message_received")
    _ok(capsys, "contacts", "accept", *therapist, peer)
    _ok(capsys, "send", *therapist, peer, ABUSE)
    _ok(capsys, "sync", *client)
    thread = _json(capsys, "read", *client, "Dr Rivera", "--json")
    assert isinstance(thread, dict)
    assert thread["contact"]["provider"]["status"] == "verified"
    reply = thread["messages"][-1]
    assert (reply["text"], reply["reportable"]) == (ABUSE, True)

    # The client reports it; the practice's review finds it authentic, naming its own credential's holder.
    report = tmp_path / "abuse.report"
    _ok(capsys, "report", *client, "Dr Rivera", reply["id"], "--out", str(report))
    verdict = _json(capsys, "practice", "review", *practice, str(report), "--json")
    assert isinstance(verdict, dict)
    assert verdict["authentic"] is True
    assert verdict["message"]["text"] == ABUSE

    # A report whose text was altered by one byte proves nothing.
    data = bytearray(report.read_bytes())
    data[data.index(ABUSE.encode())] ^= 0x20
    forged = tmp_path / "forged.report"
    forged.write_bytes(bytes(data))
    verdict = _json(capsys, "practice", "review", *practice, str(forged), "--json")
    assert isinstance(verdict, dict)
    assert verdict["authentic"] is False

    # The practice revokes the credential; the client sees it after a refresh.
    relay_dir = tmp_path / "relay"
    old_revocations = _relay_row(relay_dir, 2)
    issued = _json(capsys, "practice", "show", *practice, "--json")
    assert isinstance(issued, dict)
    _ok(capsys, "practice", "revoke", *practice, issued["credentials"][0]["id"])
    _ok(capsys, "practices", "refresh", *client)
    shown = _json(capsys, "contacts", "list", *client, "--json")
    assert isinstance(shown, list)
    assert shown[0]["provider"]["status"] == "revoked"

    # Attack: the relay serves the old revocation list (and directory) again. Refused; the revocation stands.
    con = sqlite3.connect(relay_dir / "relay.db")
    try:
        con.execute("UPDATE documents SET data = ? WHERE kind = 2", (old_revocations,))
        con.commit()
    finally:
        con.close()
    code, out, err = run(capsys, "practices", "refresh", *client)
    assert code == 0, err
    assert "older" in (out + err).lower()
    shown = _json(capsys, "contacts", "list", *client, "--json")
    assert isinstance(shown, list)
    assert shown[0]["provider"]["status"] == "revoked"

    # Attack: a card altered in transit is refused with one line, and nothing is added.
    text = _ok(capsys, "card", "export", *therapist, "--text")[0].strip()
    tampered = text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:]
    code, out, err = run(capsys, "contacts", "add", *client, "Mallory", tampered)
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    listed = _json(capsys, "contacts", "list", *client, "--json")
    assert isinstance(listed, list)
    names = [c["name"] for c in listed]
    assert "Mallory" not in names
