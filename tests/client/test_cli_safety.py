"""Attacks on what the ``confide`` command shows, writes, reads and says (issue 8, points 8, 11, 12, 13).

Each test is an attack (or a check a user relies on) run against a real relay on loopback; the docstrings
say what the attack is.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from confide.client import Client, ClientError, MessageStatus
from confide.client.cli import EXIT_CODES, EXIT_OS, EXIT_UNREACHABLE, EXIT_USAGE, EXIT_VERIFY
from confide.client.cli.exits import exit_code_table
from confide.client.cli.render import CONTINUATION
from confide.keys.encoding import Writer
from confide.protocol.content import CONTENT_VERSION, ContentType, new_message_id

from .conftest import PASSPHRASE, run

ROOT = Path(__file__).resolve().parents[2]


def _init(capsys: pytest.CaptureFixture[str], profile: Path, relay: str, name: str) -> str:
    """Create a profile; returns its invite code."""
    assert run(capsys, "init", "--profile", str(profile), "--server", relay, "--name", name)[0] == 0
    code, out, _ = run(capsys, "whoami", "--profile", str(profile), "--json")
    assert code == 0
    return str(json.loads(out)["invite"])


def _terminal_hazards(text: str) -> set[str]:
    """Characters that must never reach a terminal from a peer: C0 (but newline), DEL, C1, bidi, separators."""
    return {
        c
        for c in text
        if (unicodedata.category(c) == "Cc" and c != "\n")
        or c in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
    }


class _RawContent:
    """Content bytes built below validation, as a modified client would: ``Messaging.queue`` only needs these."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.expire_after_s = 0

    def to_bytes(self) -> bytes:
        return self._data


async def _send_raw_text(profile: Path, peer: str, text: str) -> None:
    """A stranger's modified client sends a TEXT holding ``text`` as is (ESC, CR, ... included)."""
    async with Client.open(profile, PASSPHRASE) as client:
        mid = new_message_id(os.urandom)
        w = Writer().u8(CONTENT_VERSION).u8(ContentType.TEXT).raw(mid).u64(1_700_000_000_000).u32(0)
        data = w.var32(text.encode("utf-8")).bytes()
        rec = client._contacts.find(peer)
        client._messaging.queue(rec, _RawContent(data), None, sync=False)  # type: ignore[arg-type]
        assert await client.flush_outbox() == []


# -- point 8: a peer cannot forge lines ------------------------------------------------------------------


FORGERIES = [
    "hello\n[2026-01-01 10:00] Dr. Rivera: please call me on 555-0100",
    "fine\u2028[2026-01-01 10:01] Dr. Rivera: forged after a line separator",
    "bidi \u202eelif.exe\u202c and C1 \x9b31m red \x85 next line",
    "\u2066isolate\u2069 \u200fmark \x7f",
]


def test_a_strangers_payloads_are_escaped_on_every_command(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack: a stranger (a second, real profile holding the therapist's invite) writes messages and a file
    caption with newlines, Unicode line separators, bidi overrides, C1 controls (CSI 0x9b, NEL 0x85) and
    DEL, hoping that ``sync``, ``sync --wait``, ``read`` (text and JSON), ``contacts list`` or ``save`` shows a
    forged line "from Dr. Rivera" or lets the terminal act on a control. Every output must hold none of
    those characters raw, and every line of a message after the first must start with the continuation
    mark."""
    t, s = tmp_path / "t", tmp_path / "s"
    invite = _init(capsys, t, relay_thread, "Dr R")
    _init(capsys, s, relay_thread, "stranger")
    assert run(capsys, "contacts", "add", "--profile", str(s), "dr", invite)[0] == 0
    for text in FORGERIES:
        assert run(capsys, "send", "--profile", str(s), "dr", text)[0] == 0
    doc = tmp_path / "report\u202etxt.exe"
    doc.write_bytes(b"data")
    caption = "see below\nDr. Rivera: \u202eforged caption"
    assert run(capsys, "send", "--profile", str(s), "dr", "--file", str(doc), "--caption", caption)[0] == 0

    outputs: dict[str, str] = {}
    code, outputs["sync --wait"], _ = run(capsys, "sync", "--profile", str(t), "--wait", "0.3")
    assert code == 0
    code, outputs["contacts list"], _ = run(capsys, "contacts", "list", "--profile", str(t))
    peer = json.loads(run(capsys, "contacts", "list", "--profile", str(t), "--json")[1])[0]["name"]
    code, outputs["read"], _ = run(capsys, "read", "--profile", str(t), peer, "--no-mark")
    assert code == 0
    code, outputs["read --json"], _ = run(capsys, "read", "--profile", str(t), peer, "--json")
    thread = json.loads(outputs["read --json"])
    assert [m["text"] for m in thread["messages"]] == [*FORGERIES, caption]  # nothing lost, only escaped
    attachment_id = thread["messages"][-1]["id"]
    code, outputs["save"], _ = run(capsys, "save", "--profile", str(t), attachment_id, str(tmp_path))
    assert code == 0
    for command, out in outputs.items():
        assert _terminal_hazards(out) == set(), command
    real_line = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d\] " + re.escape(peer) + ": ")
    for command in ("sync --wait", "read"):
        for line in outputs[command].splitlines():
            # a line is the real sender's, the thread header, or visibly marked as a continuation
            assert real_line.match(line) or line.startswith((CONTINUATION, "Thread with ")), (command, line)
        assert outputs[command].count(f"{CONTINUATION}[2026-01-01 10:00] Dr. Rivera: please call me") == 1


def test_a_hand_built_text_with_esc_is_dropped_by_the_receiver(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack: a modified client skips validation and sends a TEXT holding ESC and CR (erase the line, go back
    to its start, print a line "from" the therapist). The receiver's content layer refuses it (SPEC §8): it
    is dropped, never stored, never shown by ``sync`` or ``read``."""
    t, s = tmp_path / "t", tmp_path / "s"
    invite = _init(capsys, t, relay_thread, "Dr R")
    _init(capsys, s, relay_thread, "stranger")
    assert run(capsys, "contacts", "add", "--profile", str(s), "dr", invite)[0] == 0
    assert run(capsys, "send", "--profile", str(s), "dr", "a normal first message")[0] == 0
    asyncio.run(_send_raw_text(s, "dr", "ok\x1b[2K\rDr. Rivera: please call me"))
    code, out, _ = run(capsys, "sync", "--profile", str(t), "--json")
    assert code == 0
    texts = [json.loads(line)["message"]["text"] for line in out.splitlines() if "message_received" in line]
    assert texts == ["a normal first message"]
    peer = json.loads(run(capsys, "contacts", "list", "--profile", str(t), "--json")[1])[0]["name"]
    code, out, _ = run(capsys, "read", "--profile", str(t), peer)
    assert "Dr. Rivera" not in out
    assert "\x1b" not in out


def test_sending_a_control_character_is_refused_with_a_plain_error(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The library refuses to send ESC or CR in a text or a caption (ClientError, nothing kept); the command
    says so in one line."""
    t, c = tmp_path / "t", tmp_path / "c"
    invite = _init(capsys, t, relay_thread, "Dr R")
    _init(capsys, c, relay_thread, "Sam")
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", invite)[0] == 0

    async def library() -> None:
        async with Client.open(c, PASSPHRASE) as client:
            with pytest.raises(ClientError, match="control character"):
                await client.send_text("dr", "a\x1b[31mb")
            doc = tmp_path / "f.txt"
            doc.write_bytes(b"x")
            with pytest.raises(ClientError, match="control character"):
                await client.send_file("dr", doc, caption="a\rb")
            assert client.history("dr") == []
            assert client.queued() == []

    asyncio.run(library())
    code, _, err = run(capsys, "send", "--profile", str(c), "dr", "x\x1b]0;title\x07")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "control character" in err
    assert "\x1b" not in err


# -- point 11: the recovery QR -----------------------------------------------------------------------------


def test_verify_scan_refuses_a_recovery_code_with_a_warning(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack (social engineering): "scan my code to verify" gets a person to show their recovery QR, or a
    person scans their own recovery code by mistake. ``verify --scan`` must refuse it, warn never to share
    it, and not call it "another safety-number version"; whether new (CONFIDE-RC1:), old (CONFIDE-SN1:
    wrapping) or typed."""
    from confide.client import recovery_qr_text
    from confide.keys.qr import qr_text

    t, c = tmp_path / "t", tmp_path / "c"
    invite = _init(capsys, t, relay_thread, "Dr R")
    _init(capsys, c, relay_thread, "Sam")
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", invite)[0] == 0
    code, out, _ = run(capsys, "recovery", "create", "--profile", str(c), "--out", str(tmp_path / "backup"))
    assert code == 0
    recovery = next(line.strip() for line in out.splitlines() if re.fullmatch(r"\s+[0-9A-Z]{4}(-[0-9A-Z]{4}){7}", line))
    for scanned in (recovery_qr_text(recovery), qr_text(recovery.encode()), recovery, recovery.lower()):
        code, out, err = run(capsys, "verify", "--profile", str(c), "dr", "--scan", scanned)
        assert code == EXIT_VERIFY, scanned
        assert "RECOVERY CODE" in err
        assert "Never show it" in err
        assert "version" not in err
        assert out == ""
    assert json.loads(run(capsys, "contacts", "list", "--profile", str(c), "--json")[1])[0]["trust"] != "verified"


# -- point 12: the message is not on the command line -------------------------------------------------------


def _subprocess_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "CONFIDE_PASSPHRASE": PASSPHRASE, "CONFIDE_KDF": "test", **extra}


def _confide(*argv: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confide.client.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env or _subprocess_env(),
        timeout=120,
        check=False,
    )


def _texts(capsys: pytest.CaptureFixture[str], profile: Path, peer: str) -> list[str]:
    code, out, _ = run(capsys, "read", "--profile", str(profile), peer, "--json", "--no-mark")
    assert code == 0
    return [m["text"] for m in json.loads(out)["messages"]]


def test_send_reads_the_message_from_stdin_or_the_editor(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack: a message typed as an argument is in the shell history and in every ``ps`` listing on the
    machine. ``confide send NAME`` (no text) and ``confide send NAME -`` read it from standard input, and
    ``--edit`` opens $EDITOR on a private temporary file in the profile that is scrubbed afterwards; the
    message never appears in the process's arguments."""
    t, c = tmp_path / "t", tmp_path / "c"
    invite = _init(capsys, t, relay_thread, "Dr R")
    _init(capsys, c, relay_thread, "Sam")
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", invite)[0] == 0

    proc = _confide("send", "--profile", str(c), "dr", stdin="I relapsed last night.\nCan we talk?\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Sent (")
    proc = _confide("send", "--profile", str(c), "dr", "-", stdin="second, with a dash\r\n")
    assert proc.returncode == 0, proc.stderr

    seen = tmp_path / "seen.txt"
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import os, stat, sys\n"
        "path = sys.argv[1]\n"
        f"open({str(seen)!r}, 'w').write(path + ' ' + oct(stat.S_IMODE(os.stat(path).st_mode)))\n"
        "open(path, 'w').write('written in the editor\\n')\n"
    )
    proc = _confide(
        "send",
        "--profile",
        str(c),
        "dr",
        "--edit",
        env=_subprocess_env(EDITOR=f"{sys.executable} {editor}", VISUAL=""),
    )
    assert proc.returncode == 0, proc.stderr
    edited_path, mode = seen.read_text().rsplit(" ", 1)
    assert mode == "0o600"
    assert Path(edited_path).parent == c / "tmp"
    assert not Path(edited_path).exists()  # scrubbed and removed
    assert list((c / "tmp").iterdir()) == []

    proc = _confide("send", "--profile", str(c), "dr", stdin="\n\n")
    assert proc.returncode == EXIT_USAGE
    assert "empty" in proc.stderr
    assert _texts(capsys, c, "dr") == [
        "I relapsed last night.\nCan we talk?",
        "second, with a dash",
        "written in the editor",
    ]


def test_readme_shows_the_stdin_form_first() -> None:
    """The first ``confide send`` example a reader copies keeps the message off the command line."""
    readme = (ROOT / "README.md").read_text()
    first = next(line for line in readme.splitlines() if line.lstrip().startswith("confide send"))
    assert '"' not in first.split("#")[0].replace('"Dr. Rivera"', "")
    assert "<" in first or "|" in first or "--edit" in first


# -- point 13: URLs, passphrases, plain words, exit codes, sync --json, retry, first message offline -------


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:8787",
        "ftp://relay.example",
        "http://",
        "https://relay.example/some/path",
        "https://relay.example?x=1",
        "https://user:pw@relay.example",
        "http://127.0.0.1:99999",
    ],
)
def test_init_refuses_a_relay_url_that_can_never_work(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """A URL without a scheme (or with a path, query, credentials or a bad port) once made a profile that
    could never reach its relay; now nothing is created and the error says what a URL looks like."""
    p = tmp_path / "p"
    code, _, err = run(capsys, "init", "--profile", str(p), "--server", url, "--name", "x")
    assert code == EXIT_USAGE
    assert not p.exists()
    assert "e.g. https://" in err or "user name" in err
    assert len(err.strip().splitlines()) == 1


def test_server_set_moves_a_profile_to_a_working_relay(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile created while its relay address was wrong (or whose relay moved) can be pointed at the
    right relay and then works; a bad URL changes nothing."""
    t, c = tmp_path / "t", tmp_path / "c"
    invite = _init(capsys, t, relay_thread, "Dr R")
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    code, _, err = run(capsys, "init", "--profile", str(c), "--server", dead, "--name", "Sam")
    assert code == EXIT_UNREACHABLE
    code, _, err = run(capsys, "server", "set", "--profile", str(c), "relay.example")
    assert code == EXIT_USAGE
    assert run(capsys, "server", "show", "--profile", str(c))[1].strip() == dead
    code, out, err = run(capsys, "server", "set", "--profile", str(c), relay_thread + "/")
    assert code == 0, err
    assert run(capsys, "server", "show", "--profile", str(c))[1].strip() == relay_thread
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", invite)[0] == 0
    code, out, err = run(capsys, "send", "--profile", str(c), "dr", "over the right relay")
    assert code == 0, err
    code, out, _ = run(capsys, "sync", "--profile", str(t))
    assert "over the right relay" in out


def test_weak_passphrases_are_refused_unless_asked_for(
    relay_thread: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``abc`` used to seal a therapy client's keys without a word. ``init`` (and ``restore``, ``passwd``)
    refuse a passphrase below the minimum zxcvbn score with its estimate, never printing the passphrase;
    ``--weak-passphrase-ok`` keeps it with a warning."""
    monkeypatch.setenv("CONFIDE_KDF", "test")
    monkeypatch.setenv("CONFIDE_PASSPHRASE", "sunshine7")
    p = tmp_path / "p"
    code, out, err = run(capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", "x")
    assert code == EXIT_USAGE
    assert "easy to guess" in err
    assert "strength 0 of 4" in err or "strength 1 of 4" in err
    assert "sunshine7" not in out + err
    assert not p.exists()
    code, out, err = run(
        capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", "x", "--weak-passphrase-ok"
    )
    assert code == 0
    assert "warning: this passphrase is easy to guess" in err
    assert "sunshine7" not in out + err
    monkeypatch.setenv("CONFIDE_NEW_PASSPHRASE", "password1")
    code, out, err = run(capsys, "passwd", "--profile", str(p))
    assert code == EXIT_USAGE
    assert "the passphrase was not changed" in err
    assert "password1" not in out + err
    monkeypatch.setenv("CONFIDE_NEW_PASSPHRASE", PASSPHRASE)
    assert run(capsys, "passwd", "--profile", str(p))[0] == 0


CAMEL_CASE_EXCEPTION = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:Error|Exception|Unreachable|Conflict)\b")


def test_error_lines_never_show_exception_class_names(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A person once read ``ClientConnectorError``: every failure says what happened in words."""
    p = tmp_path / "p"
    failures = [
        ("init", "--profile", str(tmp_path / "down"), "--server", "http://127.0.0.1:9", "--name", "x"),
        ("init", "--profile", str(tmp_path / "bad"), "--server", "127.0.0.1:8787", "--name", "x"),
        ("whoami", "--profile", str(tmp_path / "missing")),
    ]
    assert run(capsys, "init", "--profile", str(p), "--server", relay_thread, "--name", "x")[0] == 0
    failures += [
        ("contacts", "add", "--profile", str(p), "dr", "cfi1:nonsense"),
        ("send", "--profile", str(p), "nobody", "hi"),
        ("save", "--profile", str(p), "00" * 16, str(tmp_path / "out")),
        ("export", "--profile", str(p), "nobody", str(tmp_path / "x.json")),
        (
            "restore",
            "--profile",
            str(tmp_path / "r"),
            "--server",
            relay_thread,
            "--name",
            "x",
            "--backup",
            str(tmp_path / "no-such-file"),
            "--code",
            "x",
        ),
        ("server", "set", "--profile", str(p), "http://127.0.0.1:9"),
    ]
    for argv in failures:
        code, _, err = run(capsys, *argv)
        assert code != 0, argv
        assert len(err.strip().splitlines()) == 1, (argv, err)
        assert not CAMEL_CASE_EXCEPTION.search(err), (argv, err)
        assert "Traceback" not in err
    down = tmp_path / "down"
    code, _, err = run(capsys, "sync", "--profile", str(down))
    assert code == EXIT_UNREACHABLE
    assert not CAMEL_CASE_EXCEPTION.search(err), err
    assert "connection" in err or "answer" in err


def test_readme_lists_the_exit_codes_of_the_command() -> None:
    """README once said a missing file gives 12 while the command gave 10: the README's list, ``confide
    --help`` and ``EXIT_CODES`` are one table."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("<!-- exit codes -->") : readme.index("<!-- /exit codes -->")]
    listed = {int(code): text.strip() for code, text in re.findall(r"^- `(\d+)` (.+)$", section, re.MULTILINE)}
    assert listed == dict(exit_code_table())
    assert {code for _cls, code, _text in EXIT_CODES} <= set(listed)


def test_sync_json_prints_every_event_and_says_when_caught_up(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script reading ``sync --json`` used to get nothing at all when nothing was new (indistinguishable
    from a hang or a crash) and never saw receipts, timer changes or deletions."""
    t, c = tmp_path / "t", tmp_path / "c"
    invite = _init(capsys, t, relay_thread, "Dr R")
    _init(capsys, c, relay_thread, "Sam")
    code, out, _ = run(capsys, "sync", "--profile", str(t), "--json")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [{"type": "caught_up", "new": 0}]
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", invite)[0] == 0
    code, out, _ = run(capsys, "send", "--profile", str(c), "dr", "hello")
    message_id = out.strip().removeprefix("Sent (").removesuffix(")")
    assert run(capsys, "expire", "--profile", str(c), "dr", "1h")[0] == 0
    assert run(capsys, "delete", "--profile", str(c), "dr", message_id)[0] == 0
    code, out, _ = run(capsys, "sync", "--profile", str(t), "--json")
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert "timer_changed" in types
    assert "message_deleted" in types
    assert types[-1] == "caught_up"
    peer = json.loads(run(capsys, "contacts", "list", "--profile", str(t), "--json")[1])[0]["name"]
    assert run(capsys, "send", "--profile", str(t), peer, "a reply")[0] == 0  # accepts the request: receipts flow
    code, out, _ = run(capsys, "sync", "--profile", str(c), "--json")
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert "receipt_received" in types
    assert types[-1] == "caught_up"


def test_a_failed_message_can_be_retried(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message the relay refused for good (here: the recipient restored their profile, so the old delivery
    token is refused) stayed ``failed`` with no way out; after the person fixes the cause (adds the new
    invite), ``confide retry`` sends the same message, re-encrypted, and the relay takes it."""
    t, c = tmp_path / "t", tmp_path / "c"
    old_invite = _init(capsys, t, relay_thread, "Dr R")
    _init(capsys, c, relay_thread, "Sam")
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", old_invite)[0] == 0
    assert run(capsys, "send", "--profile", str(c), "dr", "first")[0] == 0
    code, out, _ = run(capsys, "recovery", "create", "--profile", str(t), "--out", str(tmp_path / "b"))
    recovery = next(line.strip() for line in out.splitlines() if re.fullmatch(r"\s+[0-9A-Z]{4}(-[0-9A-Z]{4}){7}", line))
    assert run(capsys, "wipe", "--profile", str(t), "--yes")[0] == 0
    code, _, err = run(
        capsys,
        "restore",
        "--profile",
        str(t),
        "--server",
        relay_thread,
        "--name",
        "Dr R",
        "--backup",
        str(tmp_path / "b"),
        "--code",
        recovery,
    )
    assert code == 0, err
    # The restore added a device; the lost one is removed, so the relay refuses what is still sealed to it.
    listed = json.loads(run(capsys, "devices", "list", "--profile", str(t), "--json")[1])
    lost = next(d["device_id"] for d in listed if not d["this_device"])
    assert run(capsys, "devices", "remove", "--profile", str(t), lost[:8])[0] == 0
    code, out, err = run(capsys, "send", "--profile", str(c), "dr", "lost?")
    assert code == 6, err
    failed_id = next(
        m["id"]
        for m in json.loads(run(capsys, "read", "--profile", str(c), "dr", "--json")[1])["messages"]
        if m["text"] == "lost?"
    )
    code, _, err = run(capsys, "retry", "--profile", str(c), failed_id)
    assert code == 6  # nothing changed yet: refused again, and said so
    new_invite = json.loads(run(capsys, "whoami", "--profile", str(t), "--json")[1])["invite"]
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", new_invite)[0] == 0
    code, out, err = run(capsys, "retry", "--profile", str(c), failed_id)
    assert code == 0, err
    assert out.startswith("Sent (")
    code, _, err = run(capsys, "retry", "--profile", str(c), failed_id)
    assert code == 1
    assert "not failed" in err

    async def statuses() -> list[str]:
        async with Client.open(c, PASSPHRASE) as client:
            return [str(m.status) for m in client.history("dr") if m.message_id == failed_id]

    assert asyncio.run(statuses()) == [MessageStatus.SENT]


def test_a_first_message_while_the_relay_is_down_says_nothing_was_kept(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The docs promised ``pending`` for a first message sent while the relay is down, but nothing was kept:
    the command now says exactly that (exit 5) instead of an error a person cannot act on."""
    c = tmp_path / "c"
    code, _, _ = run(capsys, "init", "--profile", str(c), "--server", "http://127.0.0.1:9", "--name", "Sam")
    assert code == EXIT_UNREACHABLE
    other = tmp_path / "o"

    async def invite_of_someone() -> str:
        from confide.keys.keystore import TEST_KDF

        with pytest.raises(ClientError):
            await Client.create(other, PASSPHRASE, "http://127.0.0.1:9", "o", kdf=TEST_KDF)
        async with Client.open(other, PASSPHRASE) as o:
            return o.invite_code()

    invite = asyncio.run(invite_of_someone())
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", invite)[0] == 0
    code, _, err = run(capsys, "send", "--profile", str(c), "dr", "hello")
    assert code == EXIT_UNREACHABLE
    assert "never written to dr before" in err
    assert "nothing was kept" in err
    assert len(err.strip().splitlines()) == 1


def test_exit_code_of_an_existing_file_is_the_local_file_code() -> None:
    from confide.client import FileExistsConflict
    from confide.client.cli.exits import exit_code

    assert exit_code(FileExistsConflict("x")) == EXIT_OS
