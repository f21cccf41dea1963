"""Files the library and the command write for the person: never over an existing file without being asked,
never through a symlink, always new 0600 files (issue 8, point 10).

The attacks: ``save`` silently replaced a PDF the person already had; ``export`` truncated an existing
world-readable file in place (keeping mode 0644, so the unencrypted thread became readable by everyone on
the machine) and followed a symlink planted at the destination (writing the thread wherever it pointed).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from confide.client import Client, FileExistsConflict
from confide.client.cli import EXIT_OS, main

from .conftest import MakeClient, introduce

SECRET = b"session notes: the thing I have never told anyone\n"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


async def _pair_with_file(make_client: MakeClient, tmp_path: Path) -> tuple[Client, Client, str]:
    a = await make_client("a")
    b = await make_client("b")
    await introduce(a, b)
    doc = tmp_path / "worksheet.pdf"
    doc.write_bytes(SECRET)
    await a.send_file("b", doc)
    received = [m for m in (await b.sync()) if hasattr(m, "message")]
    assert received
    message_id = b.history("a")[0].message_id
    return a, b, message_id


async def test_save_never_overwrites_without_being_asked(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack: ``save`` onto a file the person already has replaced it without a word."""
    _a, b, mid = await _pair_with_file(make_client, tmp_path)
    existing = tmp_path / "mine.pdf"
    existing.write_bytes(b"my own precious file")
    with pytest.raises(FileExistsConflict):
        await b.save_attachment(mid, existing)
    assert existing.read_bytes() == b"my own precious file"
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "worksheet.pdf").write_bytes(b"an older worksheet")
    with pytest.raises(FileExistsConflict):
        await b.save_attachment(mid, folder)  # into a folder: the sender's name is taken there
    assert (folder / "worksheet.pdf").read_bytes() == b"an older worksheet"
    assert sorted(p.name for p in folder.iterdir()) == ["worksheet.pdf"]  # no temporary file left
    written = await b.save_attachment(mid, existing, overwrite=True)
    assert written.read_bytes() == SECRET


async def test_save_never_follows_a_symlink(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack: a symlink planted at the destination (``out.pdf -> ~/.bashrc``) gets the decrypted bytes
    written through it. Without ``overwrite`` it is refused; with it, the link itself is replaced and its
    target is untouched."""
    _a, b, mid = await _pair_with_file(make_client, tmp_path)
    target = tmp_path / "target.txt"
    target.write_bytes(b"untouched")
    link = tmp_path / "out.pdf"
    link.symlink_to(target)
    with pytest.raises(FileExistsConflict):
        await b.save_attachment(mid, link)
    dangling = tmp_path / "dangling.pdf"
    dangling.symlink_to(tmp_path / "does-not-exist-yet")
    with pytest.raises(FileExistsConflict):
        await b.save_attachment(mid, dangling)
    assert not (tmp_path / "does-not-exist-yet").exists()
    await b.save_attachment(mid, link, overwrite=True)
    assert target.read_bytes() == b"untouched"
    assert not link.is_symlink()
    assert link.read_bytes() == SECRET
    assert _mode(link) == 0o600


async def test_export_refuses_existing_files_and_symlinks_and_force_makes_it_private(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Attack: ``export`` onto an existing 0644 file kept it world-readable, and onto a symlink wrote
    through it. Now: refused; with ``overwrite`` a new 0600 file replaces it; a symlink's target is never
    written."""
    a = await make_client("a")
    b = await make_client("b")
    await introduce(a, b)
    await a.send_text("b", "a private thought")
    await b.sync()
    shared = tmp_path / "thread.json"
    shared.write_text("old")
    shared.chmod(0o644)
    with pytest.raises(FileExistsConflict):
        b.export_thread("a", shared)
    assert shared.read_text() == "old"
    assert _mode(shared) == 0o644
    assert b.export_thread("a", shared, overwrite=True) == 1
    assert _mode(shared) == 0o600
    assert json.loads(shared.read_text())["messages"][0]["text"] == "a private thought"

    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with pytest.raises(FileExistsConflict):
        b.export_thread("a", link)
    b.export_thread("a", link, overwrite=True)
    assert target.read_text() == "untouched"
    assert not link.is_symlink()
    assert _mode(link) == 0o600

    fresh = tmp_path / "new.json"
    old_umask = os.umask(0)
    try:
        b.export_thread("a", fresh)
    finally:
        os.umask(old_umask)
    assert _mode(fresh) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_cli_save_and_export_refuse_then_force(
    relay_thread: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command: an existing file is refused (exit 12, one line naming ``--force``); ``--force``
    replaces it with a 0600 file; a symlink's target stays untouched."""
    monkeypatch.setenv("CONFIDE_PASSPHRASE", "correct horse battery staple")
    monkeypatch.setenv("CONFIDE_KDF", "test")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    t, c = tmp_path / "t", tmp_path / "c"
    assert run("init", "--profile", str(t), "--server", relay_thread, "--name", "T")[0] == 0
    assert run("init", "--profile", str(c), "--server", relay_thread, "--name", "C")[0] == 0
    invite = json.loads(run("whoami", "--profile", str(t), "--json")[1])["invite"]
    assert run("contacts", "add", "--profile", str(c), "t", invite)[0] == 0
    doc = tmp_path / "notes.txt"
    doc.write_bytes(SECRET)
    assert run("send", "--profile", str(c), "t", "--file", str(doc))[0] == 0
    assert run("sync", "--profile", str(t))[0] == 0
    peer = json.loads(run("contacts", "list", "--profile", str(t), "--json")[1])[0]["name"]
    mid = json.loads(run("read", "--profile", str(t), peer, "--json")[1])["messages"][0]["id"]

    dest = tmp_path / "dest.txt"
    dest.write_bytes(b"keep me")
    dest.chmod(0o644)
    code, _, err = run("save", "--profile", str(t), mid, str(dest))
    assert code == EXIT_OS
    assert "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert dest.read_bytes() == b"keep me"
    assert run("save", "--profile", str(t), mid, str(dest), "--force")[0] == 0
    assert dest.read_bytes() == SECRET
    assert _mode(dest) == 0o600

    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    link = tmp_path / "export.json"
    link.symlink_to(target)
    code, _, err = run("export", "--profile", str(t), peer, str(link))
    assert code == EXIT_OS
    assert run("export", "--profile", str(t), peer, str(link), "--force")[0] == 0
    assert target.read_bytes() == b"untouched"
    assert _mode(link) == 0o600


async def test_a_file_sent_while_the_relay_is_down_is_kept_encrypted_and_sent_on_the_next_sync(
    make_client: MakeClient, relay_url: str, tmp_path: Path
) -> None:
    """A file sent while the relay was unreachable used to fail and keep nothing, unlike a text. Now it is
    ``pending``: only its ciphertext is kept in the profile's tmp folder (the plaintext is nowhere there),
    and the next sync uploads it and sends the pointer; the file is then gone from tmp and arrives intact."""
    from confide.client import MessageStatus, RelayUnreachable

    a = await make_client("a")
    b = await make_client("b")
    await introduce(a, b)
    await a.send_text("b", "a session exists")
    with pytest.raises(RelayUnreachable):
        await a.set_server("http://127.0.0.1:9")  # nothing listens: the relay is "down" for a
    doc = tmp_path / "worksheet.pdf"
    doc.write_bytes(SECRET * 100)
    msg = await a.send_file("b", doc, caption="for Tuesday")
    assert msg.status == MessageStatus.PENDING
    kept = list((a.profile_dir / "tmp").iterdir())
    assert len(kept) == 1
    assert SECRET not in kept[0].read_bytes()
    with pytest.raises(RelayUnreachable):
        await a.sync()
    assert [m.status for m in a.history("b")][-1] == MessageStatus.PENDING
    await a.set_server(relay_url)  # the relay is back
    await a.sync()
    assert list((a.profile_dir / "tmp").iterdir()) == []
    sent = a.history("b")[-1]
    assert sent.message_id == msg.message_id
    assert sent.status == MessageStatus.SENT
    await b.sync()
    got = b.history("a")[-1]
    assert got.message_id == msg.message_id
    assert got.text == "for Tuesday"
    out = await b.save_attachment(got.message_id, tmp_path / "received.pdf")
    assert out.read_bytes() == SECRET * 100
