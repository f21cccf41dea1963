"""The ``confide`` command, in-process (``main([...])`` with environment variables) and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from confide.client.cli import EXIT_NOT_FOUND, EXIT_PASSPHRASE, EXIT_UNREACHABLE, EXIT_UNTRUSTED, main

from .conftest import PASSPHRASE


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CONFIDE_KDF", "test")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _invite(capsys: pytest.CaptureFixture[str], profile: Path) -> str:
    code, out, _ = run(capsys, "whoami", "--profile", str(profile), "--json")
    assert code == 0
    return str(json.loads(out)["invite"])


def test_cli_conversation(relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t, c = tmp_path / "t", tmp_path / "c"
    assert run(capsys, "init", "--profile", str(t), "--server", relay_thread, "--name", "Dr R", "--role",
               "therapist")[0] == 0
    assert run(capsys, "init", "--profile", str(c), "--server", relay_thread, "--name", "Sam")[0] == 0
    code, out, _ = run(capsys, "contacts", "add", "--profile", str(c), "dr", _invite(capsys, t))
    assert code == 0 and "unverified" in out
    assert run(capsys, "send", "--profile", str(c), "dr", "hello from the CLI", "--expire", "1h")[0] == 0
    doc = tmp_path / "notes.txt"
    doc.write_bytes(b"line\n" * 300_000)
    assert run(capsys, "send", "--profile", str(c), "dr", "--file", str(doc), "--caption", "my notes")[0] == 0

    code, out, _ = run(capsys, "sync", "--profile", str(t), "--json")
    assert code == 0
    received = [json.loads(line) for line in out.splitlines()]
    assert [m["kind"] for m in received] == ["text", "attachment"]
    assert received[0]["text"] == "hello from the CLI" and received[0]["expire_after_s"] == 3600
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
    assert "received, thank you" in out and "10m" in out
    code, out, _ = run(capsys, "read", "--profile", str(c), "dr")
    assert "Thread with dr" in out and "received, thank you" in out

    code, out, _ = run(capsys, "verify", "--profile", str(t), "sam", "--qr", str(tmp_path / "sn.png"))
    assert code == 0 and (tmp_path / "sn.png").exists()
    payload = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Code text"))
    code, out, _ = run(capsys, "verify", "--profile", str(c), "dr", "--scan", payload)
    assert code == 0 and "verified" in out

    export = tmp_path / "export.json"
    assert run(capsys, "export", "--profile", str(c), "dr", str(export))[0] == 0
    assert json.loads(export.read_text())["messages"][0]["text"] == "hello from the CLI"

    assert run(capsys, "wipe", "--profile", str(c), "--yes")[0] == 0
    assert not c.exists()


def test_cli_errors_are_one_line_with_distinct_codes(relay_thread: str, env: None, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "p"
    assert run(capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", "x")[0] == 0
    code, _out, err = run(capsys, "send", "--profile", str(p), "nobody", "hi")
    assert code == EXIT_NOT_FOUND and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setenv("CONFIDE_PASSPHRASE", "wrong")
    code, _, err = run(capsys, "whoami", "--profile", str(p))
    assert code == EXIT_PASSPHRASE and "passphrase" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    code, _, err = run(capsys, "init", "--profile", str(tmp_path / "q"), "--server", "http://127.0.0.1:9",
                       "--name", "q")
    assert code == EXIT_UNREACHABLE and "relay" in err
    code, _, err = run(capsys, "send", "--profile", str(p), "x", "hi", "--expire", "soon")
    assert code == 2 and "duration" in err
    assert run(capsys, "bogus")[0] == 2
    code, _, err = run(capsys, "sync", "--profile", str(p), "--wait", "0.3")
    assert code == 0 and "Traceback" not in err


def test_serve_help_is_delegated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    assert "--port" in capsys.readouterr().out


def test_cli_identity_change_exit_code(relay_thread: str, env: None, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for p in (a, b, c):
        assert run(capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", p.name)[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(a), "bob", _invite(capsys, b))[0] == 0
    assert run(capsys, "send", "--profile", str(a), "bob", "hi")[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(a), "bob", _invite(capsys, c))[0] == 0
    code, _, err = run(capsys, "send", "--profile", str(a), "bob", "hi again")
    assert code == EXIT_UNTRUSTED and "verify" in err
    assert run(capsys, "accept", "--profile", str(a), "bob")[0] == 0
    assert run(capsys, "send", "--profile", str(a), "bob", "hi again")[0] == 0


def test_help_documents_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("serve", "init", "whoami", "contacts", "send", "sync", "read", "verify", "expire",
                    "export", "wipe", "demo", "accept", "save", "delete"):
        assert command in out
    assert "exit codes" in out


def test_demo_subprocess(tmp_path: Path) -> None:
    """The newcomer's tour, as a user would run it (a separate process, real relay, a few seconds)."""
    env = dict(os.environ, CONFIDE_KDF="test")
    proc = subprocess.run([sys.executable, "-m", "confide.client.cli", "demo"], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "The relay holds" in proc.stdout and "Something I have never told anyone." in proc.stdout
    assert "Done" in proc.stdout and proc.stderr == ""
