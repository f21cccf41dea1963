"""The ``confide`` command, in-process (``main([...])`` with environment variables) and as a subprocess."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from confide.client import Client, Contact, Direction, Message, MessageKind, MessageStatus, RelayError
from confide.client.cli import (
    EXIT_NOT_FOUND,
    EXIT_PASSPHRASE,
    EXIT_RELAY,
    EXIT_UNREACHABLE,
    EXIT_UNTRUSTED,
    main,
)
from confide.client.cli.messages import QUEUED
from confide.client.cli.render import CONTINUATION
from confide.client.export import contact_to_json, message_to_json

from .conftest import PASSPHRASE, run


def _invite(capsys: pytest.CaptureFixture[str], profile: Path) -> str:
    code, out, _ = run(capsys, "whoami", "--profile", str(profile), "--json")
    assert code == 0
    return str(json.loads(out)["invite"])


def test_cli_conversation(relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t, c = tmp_path / "t", tmp_path / "c"
    assert (
        run(capsys, "init", "--profile", str(t), "--server", relay_thread, "--name", "Dr R", "--role", "therapist")[0]
        == 0
    )
    assert run(capsys, "init", "--profile", str(c), "--server", relay_thread, "--name", "Sam")[0] == 0
    code, out, _ = run(capsys, "contacts", "add", "--profile", str(c), "dr", _invite(capsys, t))
    assert code == 0
    assert "unverified" in out
    assert run(capsys, "send", "--profile", str(c), "dr", "hello from the CLI", "--expire", "1h")[0] == 0
    doc = tmp_path / "notes.txt"
    doc.write_bytes(b"line\n" * 300_000)
    assert run(capsys, "send", "--profile", str(c), "dr", "--file", str(doc), "--caption", "my notes")[0] == 0

    code, out, _ = run(capsys, "sync", "--profile", str(t), "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1] == {"type": "caught_up", "new": 2}
    received = [e["message"] for e in events if e["type"] == "message_received"]
    assert [m["kind"] for m in received] == ["text", "attachment"]
    assert received[0]["text"] == "hello from the CLI"
    assert received[0]["expire_after_s"] == 3600
    client_address = received[0]["peer"]
    assert run(capsys, "contacts", "rename", "--profile", str(t), client_address, "sam")[0] == 0

    code, out, _ = run(capsys, "contacts", "list", "--profile", str(t), "--json")
    assert [c_["name"] for c_ in json.loads(out)] == ["sam"]
    code, out, _ = run(capsys, "read", "--profile", str(t), "sam", "--json")
    thread = json.loads(out)
    assert [m["text"] for m in thread["messages"]] == ["hello from the CLI", "my notes"]
    attachment_id = thread["messages"][1]["id"]
    assert run(capsys, "save", "--profile", str(t), attachment_id, str(tmp_path / "got.txt"))[0] == 0
    assert (tmp_path / "got.txt").read_bytes() == doc.read_bytes()

    assert run(capsys, "send", "--profile", str(t), "sam", "received, thank you")[0] == 0
    assert run(capsys, "expire", "--profile", str(t), "sam", "10m")[0] == 0
    code, out, _ = run(capsys, "sync", "--profile", str(c))
    assert "received, thank you" in out
    assert "10m" in out
    code, out, _ = run(capsys, "read", "--profile", str(c), "dr")
    assert "Thread with dr" in out
    assert "received, thank you" in out

    code, out, _ = run(capsys, "verify", "--profile", str(t), "sam", "--qr", str(tmp_path / "sn.png"))
    assert code == 0
    assert (tmp_path / "sn.png").exists()
    payload = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Code text"))
    code, out, _ = run(capsys, "verify", "--profile", str(c), "dr", "--scan", payload)
    assert code == 0
    assert "verified" in out

    export = tmp_path / "export.json"
    assert run(capsys, "export", "--profile", str(c), "dr", str(export))[0] == 0
    assert json.loads(export.read_text())["messages"][0]["text"] == "hello from the CLI"

    assert run(capsys, "wipe", "--profile", str(c), "--yes")[0] == 0
    assert not c.exists()


def test_cli_errors_are_one_line_with_distinct_codes(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "p"
    assert run(capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", "x")[0] == 0
    code, _out, err = run(capsys, "send", "--profile", str(p), "nobody", "hi")
    assert code == EXIT_NOT_FOUND
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    monkeypatch.setenv("CONFIDE_PASSPHRASE", "wrong")
    code, _, err = run(capsys, "whoami", "--profile", str(p))
    assert code == EXIT_PASSPHRASE
    assert "passphrase" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    code, _, err = run(
        capsys, "init", "--profile", str(tmp_path / "q"), "--server", "http://127.0.0.1:9", "--name", "q"
    )
    assert code == EXIT_UNREACHABLE
    assert "relay" in err
    code, _, err = run(capsys, "send", "--profile", str(p), "x", "hi", "--expire", "soon")
    assert code == 2
    assert "duration" in err
    assert run(capsys, "bogus")[0] == 2
    code, _, err = run(capsys, "sync", "--profile", str(p), "--wait", "0.3")
    assert code == 0
    assert "Traceback" not in err


def test_serve_help_is_delegated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    assert "--port" in capsys.readouterr().out


def test_cli_identity_change_exit_code(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for p in (a, b, c):
        assert run(capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", p.name)[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(a), "bob", _invite(capsys, b))[0] == 0
    assert run(capsys, "send", "--profile", str(a), "bob", "hi")[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(a), "bob", _invite(capsys, c))[0] == 0
    code, _, err = run(capsys, "send", "--profile", str(a), "bob", "hi again")
    assert code == EXIT_UNTRUSTED
    assert "verify" in err
    assert run(capsys, "accept", "--profile", str(a), "bob")[0] == 0
    assert run(capsys, "send", "--profile", str(a), "bob", "hi again")[0] == 0


def test_help_documents_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in (
        "serve",
        "init",
        "whoami",
        "contacts",
        "send",
        "sync",
        "read",
        "verify",
        "expire",
        "export",
        "wipe",
        "demo",
        "accept",
        "save",
        "delete",
    ):
        assert command in out
    assert "exit codes" in out


def test_demo_subprocess(tmp_path: Path) -> None:
    """The newcomer's tour, as a user would run it (a separate process, real relay, a few seconds)."""
    env = dict(os.environ, CONFIDE_KDF="test")
    proc = subprocess.run(
        [sys.executable, "-m", "confide.client.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "The relay holds" in proc.stdout
    assert "Something I have never told anyone." in proc.stdout
    assert "Done" in proc.stdout
    assert proc.stderr == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"confide {version('confide')}\n", "")


def test_json_outputs_are_the_export_forms(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sync`` (one ``event_to_json`` object per event, then ``caught_up``), ``contacts list`` and ``read`` with
    ``--json`` print confide.client.export's forms, exactly."""
    t, c = tmp_path / "t", tmp_path / "c"
    assert run(capsys, "init", "--profile", str(t), "--server", relay_thread, "--name", "Dr R")[0] == 0
    assert run(capsys, "init", "--profile", str(c), "--server", relay_thread, "--name", "Sam")[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", _invite(capsys, t))[0] == 0
    assert run(capsys, "send", "--profile", str(c), "dr", "hello", "--expire", "1h")[0] == 0
    assert run(capsys, "send", "--profile", str(c), "dr", "two\nlines")[0] == 0
    code, out, _ = run(capsys, "sync", "--profile", str(t), "--json")
    assert code == 0
    synced = [json.loads(line) for line in out.splitlines()]
    # An attachment's event comes before its automatic download: compare it in 'read' (after the download).
    doc = tmp_path / "notes.txt"
    doc.write_bytes(b"notes")
    assert run(capsys, "send", "--profile", str(c), "dr", "--file", str(doc), "--caption", "my notes")[0] == 0
    assert run(capsys, "sync", "--profile", str(t))[0] == 0
    code, out, _ = run(capsys, "contacts", "list", "--profile", str(t), "--json")
    assert code == 0
    listed = json.loads(out)
    code, out, _ = run(capsys, "read", "--profile", str(t), synced[0]["peer"], "--json", "--no-mark")
    assert code == 0
    thread = json.loads(out)

    async def library_view() -> tuple[list[Contact], list[Message]]:
        async with Client.open(t, PASSPHRASE) as client:
            contacts = client.contacts()
            return contacts, client.history(contacts[0].name)

    contacts, history = asyncio.run(library_view())
    assert len(contacts) == 1
    assert [m.kind for m in history] == ["text", "text", "attachment"]
    assert history[2].attachment is not None
    assert history[2].attachment.downloaded
    assert synced == [
        *({"type": "message_received", "peer": m.peer, "message": message_to_json(m)} for m in history[:2]),
        {"type": "caught_up", "new": 2},
    ]
    assert listed == [contact_to_json(c_) for c_ in contacts]
    assert thread == {"contact": contact_to_json(contacts[0]), "messages": [message_to_json(m) for m in history]}


def test_a_hostile_message_reaches_the_terminal_escaped(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t, c = tmp_path / "t", tmp_path / "c"
    assert run(capsys, "init", "--profile", str(t), "--server", relay_thread, "--name", "Dr R")[0] == 0
    assert run(capsys, "init", "--profile", str(c), "--server", relay_thread, "--name", "Sam")[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", _invite(capsys, t))[0] == 0
    attack = "ok\n[2026-01-01 10:00] Dr. Rivera: call me\x9b2K\u202e..."  # C0 controls: see test_cli_safety
    assert run(capsys, "send", "--profile", str(c), "dr", attack)[0] == 0
    code, synced, _ = run(capsys, "sync", "--profile", str(t))
    assert code == 0
    code, read, _ = run(
        capsys,
        "read",
        "--profile",
        str(t),
        json.loads(run(capsys, "contacts", "list", "--profile", str(t), "--json")[1])[0]["name"],
    )
    assert code == 0
    for out in (synced, read):
        assert not {"\x9b", "\u202e"} & set(out)
        forged = next(line for line in out.splitlines() if "Dr. Rivera" in line)
        assert forged == f"{CONTINUATION}[2026-01-01 10:00] Dr. Rivera: call me\\x9b2K\\u202e..."


def _stored(status: MessageStatus, failure: str = "") -> Message:
    return Message("ab" * 16, "dr", Direction.OUT, MessageKind.TEXT, "hi", 1, 1, status, 0, None, None, False, failure)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (_stored(MessageStatus.SENT), (0, f"Sent ({'ab' * 16})\n", "")),
        (_stored(MessageStatus.PENDING), (0, "", QUEUED + "\n")),
        (
            _stored(MessageStatus.FAILED, "410 gone: the delivery token was rotated"),
            (
                EXIT_RELAY,
                "",
                "confide send: not sent: the relay refused it for good (410 gone: the delivery token was rotated)\n",
            ),
        ),
        (
            RelayError(410, "gone", "the delivery token was rotated"),
            (
                EXIT_RELAY,
                "",
                "confide send: the relay refused the request (410 gone): the delivery token was rotated\n",
            ),
        ),
    ],
    ids=["sent", "pending", "failed", "raised"],
)
def test_send_says_what_became_of_the_message(
    relay_thread: str,
    env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    outcome: Message | RelayError,
    expected: tuple[int, str, str],
) -> None:
    """A send returns the stored message (sent, queued, or refused for good) or raises (nothing kept)."""
    p = tmp_path / "p"
    assert run(capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", "x")[0] == 0

    async def send_text(self: Client, peer: str, text: str, **_: Any) -> Message:
        assert (peer, text) == ("dr", "hi")
        if isinstance(outcome, RelayError):
            raise outcome
        return outcome

    monkeypatch.setattr(Client, "send_text", send_text)
    assert run(capsys, "send", "--profile", str(p), "dr", "hi") == expected


CLI_DIR = Path(__file__).resolve().parents[2] / "client" / "cli"
LAZY_ONLY = {
    "serve.py": {"confide.server.cli"},
    "demo.py": {"confide.client.demo"},
    "desk.py": {"confide.client.desk", "confide.server"},
}


def test_the_command_imports_only_the_public_library() -> None:
    """Front ends are thin: the standard library, ``confide.client`` itself and its serializer, and (inside
    the function that needs it) the relay for ``serve``, the tour for ``demo``, and the Desk (and, for its demo,
    the relay) for ``desk``."""
    assert (CLI_DIR / "__init__.py").exists()
    bad = []
    for path in sorted(CLI_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                lazy = node not in tree.body and name in LAZY_ONLY.get(path.name, set())
                if (
                    name.split(".")[0] in sys.stdlib_module_names
                    or lazy
                    or name in ("confide.client", "confide.client.export")
                ):
                    continue
                bad.append(f"{path.name}: {name}")
    assert bad == []
