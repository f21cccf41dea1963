"""``passwd`` re-keys and a panic wipe crypto-shreds: attacks with an old key store, an interrupted change, and
a forensic carve of the raw disk image (SECURITY.md, questions 2 and 5)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from confide.client import Client, ProfileError, StorageError
from confide.client import rekey as rekey_module
from confide.client.sealing import Sealer
from confide.keys.errors import CorruptKeyStore, KeyStoreError, WrongPassphrase
from confide.keys.keystore import HEADER_LEN, KEYSTORE_MAGIC, KEYSTORE_VERSION, TAG_LEN, TEST_KDF, open_keys
from confide.keys.secret_keys import SecretKeys

from .conftest import PASSPHRASE, MakeClient, introduce

NEW = "a passphrase nobody else knows"
BLOCK = 16
IMAGE_MIB = 64
"""A small ext4 image: room for two profiles and the file system's own metadata, quick to carve."""
FS_BLOCK = 4096


def _blocks(data: bytes) -> set[bytes]:
    return {data[i : i + BLOCK] for i in range(0, len(data) - BLOCK + 1, BLOCK)}


def _sealed_cells(db: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """Every BLOB cell of every table: (table, column, the whole row), read straight from the file."""
    con = sqlite3.connect(db)
    try:
        out: list[tuple[str, str, dict[str, Any]]] = []
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cur = con.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cur.description]
            for values in cur:
                row = dict(zip(names, values, strict=True))
                out.extend((table, col, row) for col, v in row.items() if isinstance(v, bytes))
        return out
    finally:
        con.close()


def _text_cells(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {v for t in tables for row in con.execute(f'SELECT * FROM "{t}"') for v in row if isinstance(v, str)}
    finally:
        con.close()


async def _profile_with_history(make_client: MakeClient, tmp_path: Path) -> tuple[Client, Client]:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    source = tmp_path / "worksheet.txt"
    source.write_text("thought record " * 200)
    await a.send_text("b", "first session notes")
    await a.send_file("b", source, caption="worksheet")
    await b.sync()
    await b.send_text("a", "thank you, see you Tuesday")
    await a.sync()
    return a, b


async def test_passwd_overwrites_the_old_key_store_in_place(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack: hold a file descriptor on the key store before ``passwd`` (as the old blocks on disk would
    keep it); afterwards read through it. A rename-over leaves that inode intact, opening with the old
    passphrase; re-keying must have overwritten it in place with random bytes."""
    a, b = await _profile_with_history(make_client, tmp_path)
    await a.close()
    keystore = tmp_path / "alice" / "keystore"
    with keystore.open("rb") as held:
        before = held.read()
        await Client.change_passphrase(tmp_path / "alice", PASSPHRASE, NEW)
        held.seek(0)
        after = held.read()
    assert len(after) == len(before)
    assert not (_blocks(before) & _blocks(after))
    with pytest.raises(KeyStoreError):
        open_keys(after, PASSPHRASE)
    async with Client.open(tmp_path / "alice", NEW) as reopened:
        assert [m.text for m in reopened.history("b")][-1] == "thank you, see you Tuesday"
    await b.close()


async def test_an_old_key_store_copy_opens_nothing_after_passwd(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack: someone kept a copy of the key store and knows the old passphrase (why it was changed). After
    ``passwd`` the copy still opens, but its store key must open no sealed value of any table of the store
    (values sealed again under a new key) and match no blind index (recomputed under the new key)."""
    a, b = await _profile_with_history(make_client, tmp_path)
    message_ids = [bytes.fromhex(m.message_id) for m in a.history("b")]
    await a.close()
    profile = tmp_path / "alice"
    stolen = (profile / "keystore").read_bytes()
    await Client.change_passphrase(profile, PASSPHRASE, NEW)

    old_keys = open_keys(stolen, PASSPHRASE)
    new_keys = open_keys((profile / "keystore").read_bytes(), NEW)
    assert old_keys.identity.public == new_keys.identity.public  # same person, same address
    assert old_keys.store_key != new_keys.store_key
    old = Sealer(old_keys.store_key, os.urandom)
    cells = _sealed_cells(profile / "store.db")
    assert len({t for t, _, _ in cells}) >= 5  # meta, contacts, sessions, messages, prekeys at least
    for table, column, row in cells:
        for candidate in [str(v) for v in row.values() if not isinstance(v, bytes)]:
            with pytest.raises(StorageError):
                old.open(table, column, candidate, row[column])
    texts = _text_cells(profile / "store.db")
    old_indexes = {old.index("message", mid) for mid in message_ids}
    assert not (old_indexes & texts)
    await b.close()


@pytest.mark.parametrize(
    "crash_in",
    ["rekey_store", "write_private", "_commit_keystore", "_swap_store"],
)
async def test_an_interrupted_passwd_opens_with_the_old_or_the_new_passphrase(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_in: str
) -> None:
    """Attack: the process dies inside each step of ``passwd`` (the step raises after doing its work, as if
    the power went). The profile must open with exactly one of the two passphrases, with its whole history,
    and keep working."""
    a, b = await _profile_with_history(make_client, tmp_path)
    texts = [m.text for m in a.history("b")]
    await a.close()
    real = getattr(rekey_module, crash_in)

    def crash(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(rekey_module, crash_in, crash)
    with pytest.raises(KeyboardInterrupt):
        await Client.change_passphrase(tmp_path / "alice", PASSPHRASE, NEW)
    monkeypatch.setattr(rekey_module, crash_in, real)

    opened = []
    for phrase in (PASSPHRASE, NEW):
        try:
            async with Client.open(tmp_path / "alice", phrase) as again:
                assert [m.text for m in again.history("b")] == texts
                await again.send_text("b", "still works")
                opened.append(phrase)
        except WrongPassphrase:
            continue
    assert len(opened) == 1
    leftovers = sorted(p.name for p in (tmp_path / "alice").iterdir() if p.is_file())
    assert [n for n in leftovers if n.endswith((".new", ".part"))] == []
    await b.close()


# -- the forensic carve ---------------------------------------------------------------------------------
def _root_tools() -> str | None:
    """Why the loop-device test cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root to mount a loop device (CI runs as root)"
    for tool in ("mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture
def ext4(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh ext4 file system in a 64 MiB image file, loop-mounted: ``(image, mount point)``."""
    reason = _root_tools()
    if reason:
        pytest.skip(reason)
    image, mnt = tmp_path / "disk.img", tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["truncate", "-s", f"{IMAGE_MIB}M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    done = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mount -o loop failed here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield image, mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _keystore_candidates(raw: bytes) -> Iterator[bytes]:
    """Every place in ``raw`` that starts like a key store, cut to the length its header claims."""
    head = KEYSTORE_MAGIC + bytes((KEYSTORE_VERSION,))
    pos = raw.find(head)
    while pos != -1:
        header = raw[pos : pos + HEADER_LEN]
        if len(header) == HEADER_LEN:
            payload_len = int.from_bytes(header[-4:], "big")
            if payload_len < 1 << 16:
                yield raw[pos : pos + HEADER_LEN + payload_len + TAG_LEN]
        pos = raw.find(head, pos + 1)


def _unmount_and_read(image: Path, mnt: Path) -> bytes:
    """Unmount (everything reaches the image), read the raw image, mount it again for the fixture's umount."""
    subprocess.run(["sync"], check=True)
    subprocess.run(["umount", str(mnt)], check=True)
    raw = image.read_bytes()
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    return raw


def _used_blocks(raw: bytes) -> bytes:
    """The non-zero file-system blocks of the image (the rest cannot hold anything)."""
    return b"".join(raw[i : i + FS_BLOCK] for i in range(0, len(raw), FS_BLOCK) if raw[i : i + FS_BLOCK].strip(b"\0"))


async def test_carving_the_disk_after_passwd_and_wipe_finds_nothing(
    ext4: tuple[Path, Path], relay_url: str, tmp_path: Path
) -> None:
    """Attack (issue 8, point 3): a profile lives on a real ext4 file system; after messages, ``passwd`` and a
    panic wipe, carve the raw image. Every key-store-shaped run of bytes is tried with the OLD and the NEW
    passphrase: none may open (a rename-over would leave the old one in a freed block). Every 16-byte block
    of the sealed rows of the store read just before the wipe, and of the key stores before ``passwd``, is
    searched for: none may be found (a wipe that only unlinks leaves them all)."""
    image, mnt = ext4
    profile = mnt / "alice"
    a = await Client.create(profile, PASSPHRASE, relay_url, "alice", kdf=TEST_KDF)
    b = await Client.create(tmp_path / "bob", PASSPHRASE, relay_url, "bob", kdf=TEST_KDF)
    try:
        await introduce(a, b)
        for i in range(30):
            await a.send_text("b", f"journal entry {i}: " + "I felt anxious before the call. " * 8)
        await b.sync()
        for i in range(10):
            await b.send_text("a", f"reply {i}: " + "that sounds hard; let us talk Tuesday. " * 6)
        await a.sync()
        await a.close()
        old_rows = b"".join(row[col] for _, col, row in _sealed_cells(profile / "store.db"))
        old_keystore = (profile / "keystore").read_bytes()
        await Client.change_passphrase(profile, PASSPHRASE, NEW)
        new_keystore = (profile / "keystore").read_bytes()
        rows = b"".join(row[col] for _, col, row in _sealed_cells(profile / "store.db"))
        assert len(rows) > 10_000
        await Client.wipe_profile(profile)
        assert not profile.exists()
    finally:
        await a.close()
        await b.close()
    raw = await asyncio.to_thread(_unmount_and_read, image, mnt)

    opened = []
    tried = 0
    for candidate in _keystore_candidates(raw):
        tried += 1
        for phrase in (PASSPHRASE, NEW):
            try:
                SecretKeys.to_bytes(open_keys(candidate, phrase))
                opened.append(phrase)
            except (CorruptKeyStore, WrongPassphrase, KeyStoreError):
                pass
    assert opened == [], f"{len(opened)} key stores carved from the disk open"
    used = _used_blocks(raw)
    for name, data in (
        ("old key store", old_keystore),
        ("new key store", new_keystore),
        ("sealed rows before passwd", old_rows),
        ("sealed rows", rows),
    ):
        found = [blk for blk in _blocks(data) if blk in used]
        assert found == [], f"{len(found)} blocks of the {name} carved from the disk ({tried} key-store candidates)"


async def test_passwd_is_refused_while_the_profile_is_open(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack: change the passphrase while another client has the profile open: its store would be swapped
    under it (and its writes lost). The change must be refused with nothing changed."""
    a = await make_client("alice")
    before = (tmp_path / "alice" / "keystore").read_bytes()
    with pytest.raises(ProfileError, match="open in another"):
        await Client.change_passphrase(tmp_path / "alice", PASSPHRASE, NEW)
    assert (tmp_path / "alice" / "keystore").read_bytes() == before
    await a.close()


async def test_every_table_of_the_store_has_a_rekey_rule(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack on tomorrow's schema: a table added without a re-keying rule would keep values sealed under the
    old store key after ``passwd``. ``passwd`` refuses such a store (nothing changes); this test names the
    table first."""
    a = await make_client("alice")
    await a.close()
    con = sqlite3.connect(tmp_path / "alice" / "store.db")
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()
    assert tables - {"sqlite_sequence"} <= set(rekey_module.RULES)
