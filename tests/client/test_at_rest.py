"""The profile directory at rest: no message text or contact names; wrong passphrase; panic wipe."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from confide.client import Client, ProfileError, StorageError
from confide.keys.errors import WrongPassphrase
from confide.keys.keystore import TEST_KDF

from .conftest import PASSPHRASE, MakeClient

SECRET_TEXT = "my panic attacks came back on Tuesday"
SECRET_NAME = "Dr Evangeline Okonkwo-Smith"
SECRET_CAPTION = "mood diary for Dr Okonkwo"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _assert_absent(root: Path, needles: list[str]) -> None:
    files = _files(root)
    assert any(p.name.startswith("store.db") for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            for form in (needle.encode("utf-8"), needle.encode("utf-16-le")):
                assert form not in data, f"{needle!r} found in {path.name}"


async def test_profile_directory_reveals_no_text_or_names(make_client: MakeClient, tmp_path: Path) -> None:
    therapist = await make_client("therapist", "therapist")
    client = await make_client("client")
    client.add_contact(SECRET_NAME, therapist.invite_code())
    diary = tmp_path / "diary.txt"
    diary.write_text("slept badly; " * 1000)
    await client.send_text(SECRET_NAME, SECRET_TEXT)
    await client.send_file(SECRET_NAME, diary, caption=SECRET_CAPTION)
    await therapist.sync()
    therapist.rename_contact(client.address, "Jordan Q. Client")
    await therapist.send_text("Jordan Q. Client", "reply with a distinctive phrase: zebra lanterns")
    await client.sync()
    needles = [
        SECRET_TEXT,
        SECRET_NAME,
        SECRET_CAPTION,
        "slept badly",
        "zebra lanterns",
        "Jordan Q. Client",
        "diary.txt",
    ]
    # While open (WAL files present) and after closing.
    _assert_absent(client.profile_dir, needles)
    _assert_absent(therapist.profile_dir, needles)
    await client.close()
    await therapist.close()
    _assert_absent(tmp_path / "client", needles)
    _assert_absent(tmp_path / "therapist", needles)
    # The store is ordinary SQLite, yet its values are sealed: reading every cell finds nothing.
    db = sqlite3.connect(tmp_path / "therapist" / "store.db")
    cells = [
        v
        for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        for row in db.execute(f"SELECT * FROM {t}")
        for v in row
    ]
    assert cells
    assert not any(isinstance(v, str) and "Jordan" in v for v in cells)


async def test_wrong_passphrase_and_missing_profile(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client("alice")
    await client.close()
    with pytest.raises(WrongPassphrase):
        await Client.open(tmp_path / "alice", "not the passphrase")
    with pytest.raises(ProfileError):
        await Client.open(tmp_path / "nobody", PASSPHRASE)
    async with Client.open(tmp_path / "alice", PASSPHRASE) as again:
        assert again.name == "alice"


async def test_create_refuses_existing_profile(make_client: MakeClient, tmp_path: Path, relay_url: str) -> None:
    await make_client("alice")
    with pytest.raises(ProfileError):
        await Client.create(tmp_path / "alice", PASSPHRASE, relay_url, "again", kdf=TEST_KDF)


async def test_panic_wipe_crypto_shreds(make_client: MakeClient, tmp_path: Path) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    a.add_contact("b", b.invite_code())
    await a.send_text("b", SECRET_TEXT)
    profile = a.profile_dir
    await a.wipe()
    assert not profile.exists()
    with pytest.raises(ProfileError):
        await Client.open(profile, PASSPHRASE)


async def test_copy_taken_after_keystore_shredding_is_unreadable(make_client: MakeClient, tmp_path: Path) -> None:
    """A wipe interrupted right after the key store was shredded (or a disk image taken then, or old
    blocks of the database recovered later): without the key store nothing opens and nothing reads."""
    from confide.client.profile import ProfilePaths, shred_keystore

    a = await make_client("alice")
    b = await make_client("bob")
    a.add_contact(SECRET_NAME, b.invite_code())
    await a.send_text(SECRET_NAME, SECRET_TEXT)
    profile = a.profile_dir
    keystore_size = (profile / "keystore").stat().st_size
    await a.close()
    shred_keystore(ProfilePaths(profile), os.urandom)
    copy_after = tmp_path / "copy-after-shred"
    shutil.copytree(profile, copy_after)
    assert (copy_after / "store.db").exists()
    assert not (copy_after / "keystore").exists()
    with pytest.raises(ProfileError):
        await Client.open(copy_after, PASSPHRASE)
    _assert_absent(copy_after, [SECRET_TEXT, SECRET_NAME])
    assert keystore_size > 0


async def test_store_does_not_open_under_another_profiles_keys(make_client: MakeClient, tmp_path: Path) -> None:
    """Putting someone's store.db next to a key store the attacker controls does not open it."""
    a = await make_client("alice")
    m = await make_client("mallory")
    await a.close()
    await m.close()
    shutil.copy(tmp_path / "alice" / "store.db", tmp_path / "mallory" / "store.db")
    for suffix in ("-wal", "-shm"):
        (tmp_path / "mallory" / f"store.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(StorageError):
        await Client.open(tmp_path / "mallory", PASSPHRASE)
