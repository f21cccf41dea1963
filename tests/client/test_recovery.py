"""Key recovery and passphrase change, through the library and the ``confide`` command, against a real relay.

What a recovery backup brings back (the identity: the same address) and what it does not (history, contacts,
sessions, the introduction token) is tested as it is, including what a contact sees. A restore is a NEW device of
the identity: it lists itself as ``restored`` beside the lost device, which keeps its own mailbox until it is
removed (then the relay refuses what is still encrypted to it), and the other devices are told.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from confide.client import (
    Client,
    CorruptKeyStore,
    DeviceRemoved,
    DevicesChanged,
    Event,
    IdentityChanged,
    InvalidRecoveryCode,
    Invite,
    MessageReceived,
    MessageStatus,
    ProfileError,
    ReceiptReceived,
    WrongPassphrase,
    devices,
)
from confide.client.cli import EXIT_OS, EXIT_PASSPHRASE, EXIT_PROFILE, EXIT_USAGE
from confide.keys.keystore import TEST_KDF, kdf_params_of
from confide.keys.qr import qr_text

from .conftest import PASSPHRASE, MakeClient, introduce, run

NEW_PASSPHRASE = "a different, longer passphrase"
CODE_RE = re.compile(r"\b[0-9A-Z]{4}(?:-[0-9A-Z]{4}){7}\b")


def _texts(events: Sequence[Event]) -> list[str]:
    return [e.message.text for e in events if isinstance(e, MessageReceived)]


def _typo(code: str) -> str:
    """The code with its first character replaced by another valid one (the checksum catches it)."""
    return ("1" if code[0] != "1" else "2") + code[1:]


async def _converse(sam: Client, dr: Client) -> None:
    """Sessions in both directions, so that the lost device had live ratchets with ``dr``."""
    await introduce(sam, dr, "dr", "sam")
    await sam.send_text("dr", "I had a hard week")
    assert _texts(await dr.sync()) == ["I had a hard week"]
    await dr.send_text("sam", "Thank you for telling me")
    assert _texts(await sam.sync()) == ["Thank you for telling me"]


# -- library ------------------------------------------------------------------------------------------
async def test_restore_after_wipe_keeps_the_address(make_client: MakeClient, tmp_path: Path, relay_url: str) -> None:
    dr = await make_client("dr", "therapist")
    sam = await make_client("sam")
    await _converse(sam, dr)
    code, backup = sam.create_recovery()
    assert CODE_RE.fullmatch(code)
    assert code not in repr(sam)
    assert sam.address not in repr(sam)  # no identifier in a repr either
    address, old_invite, lost = sam.address, sam.invite_code(), sam.device_id
    await sam.wipe()
    assert not (tmp_path / "sam").exists()

    async with Client.restore(
        tmp_path / "sam-new", NEW_PASSPHRASE, backup, code, relay_url, "Sam", kdf=TEST_KDF
    ) as restored:
        assert restored.address == address
        assert restored.name == "Sam"
        assert restored.role == "client"
        # A NEW device of the identity (the backup's device key is not reused), listed beside the lost one:
        # nothing is replaced silently.
        assert restored.device_id != lost
        assert [(d.device_id, d.origin, d.this_device) for d in restored.devices()] == [
            (lost, "first", False),
            (restored.device_id, "restored", True),
        ]
        # Keys only: no contacts, no history; and a new introduction token, so a new invite code.
        assert restored.contacts() == []
        assert restored.invite_code() != old_invite

        # The lost device is removed here: the relay closes its mailbox, and what the contact still encrypts to
        # it is refused, the contact being told why.
        await restored.remove_device(lost)
        assert [d.device_id for d in restored.devices()] == [restored.device_id]
        refused = await dr.send_text("sam", "Are you there?")
        assert refused.status == MessageStatus.FAILED
        assert "removed" in refused.failure

        # The restored side writes first: that starts a new session, registered with fresh prekeys.
        restored.add_contact("dr", dr.invite_code())
        await restored.send_text("dr", "New phone, same me")
        events = await dr.sync()
        assert _texts(events) == ["New phone, same me"]
        assert not any(isinstance(e, IdentityChanged) for e in events)
        assert dr.contact("sam").address == address
        assert dr.contact("sam").trust == "unverified"

        # The contact's client took over the new token and session: replies arrive and decrypt.
        await dr.send_text("sam", "Welcome back")
        events = await restored.sync()
        assert _texts(events) == ["Welcome back"]
        assert any(isinstance(e, ReceiptReceived) for e in events)  # the delivery receipt for our message

    # The restored profile is a normal profile under the new passphrase.
    with pytest.raises(WrongPassphrase):
        await Client.open(tmp_path / "sam-new", PASSPHRASE)
    async with Client.open(tmp_path / "sam-new", NEW_PASSPHRASE) as reopened:
        assert reopened.address == address
        assert [m.text for m in reopened.history("dr")] == ["New phone, same me", "Welcome back"]


async def test_the_old_device_learns_of_a_restore(
    make_client: MakeClient, tmp_path: Path, relay_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restore while the old device still works (or someone else holds the backup and its code): the old device
    is told at its next check of the list, as a device added by a restore, and can remove it."""
    monkeypatch.setattr(devices, "DEVICE_CHECK_INTERVAL_S", 0.0)  # the next sync checks the list
    sam = await make_client("sam")
    await sam.sync()
    told: list[Event] = []
    sam.on(DevicesChanged, told.append)
    code, backup = sam.create_recovery()
    async with Client.restore(
        tmp_path / "sam-new", NEW_PASSPHRASE, backup, code, relay_url, "Sam", kdf=TEST_KDF
    ) as restored:
        assert [d.origin for d in restored.devices()] == ["first", "restored"]
        await sam.sync()
        assert told == [DevicesChanged("", 1, 0, restored=True)]
        assert [(d.device_id, d.origin) for d in sam.devices()] == [
            (sam.device_id, "first"),
            (restored.device_id, "restored"),
        ]
        # Not you? Remove it: the relay refuses it from then on.
        await sam.remove_device(restored.device_id)
        with pytest.raises(DeviceRemoved):
            await restored.sync()


async def test_messages_on_old_sessions_are_lost_until_the_restored_side_writes(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    dr = await make_client("dr", "therapist")
    sam = await make_client("sam")
    await _converse(sam, dr)
    code, backup = sam.create_recovery()
    lost = sam.device_id
    await sam.wipe()
    # Sent after the device was lost, before the restore: it waits in the lost device's mailbox.
    waiting = await dr.send_text("sam", "While you were away")
    assert waiting.status == "sent"

    async with Client.restore(
        tmp_path / "sam-new", NEW_PASSPHRASE, backup, code, relay_url, "Sam", kdf=TEST_KDF
    ) as restored:
        # It was encrypted to the lost device's session: it never reaches the restored device (another mailbox),
        # and removing the lost device deletes it at the relay.
        assert _texts(await restored.sync()) == []
        await restored.remove_device(lost)
        assert await restored.sync() == []
        # The contact sees it stay "sent": no delivery receipt ever comes.
        await dr.sync()
        assert {m.message_id: m.status for m in dr.history("sam")}[waiting.message_id] == "sent"

        # Once the restored side writes, the conversation works both ways again.
        restored.add_contact("dr", dr.invite_code())
        await restored.send_text("dr", "I lost my phone; please resend")
        assert _texts(await dr.sync()) == ["I lost my phone; please resend"]
        await dr.send_text("sam", "Did you get my message?")
        assert _texts(await restored.sync()) == ["Did you get my message?"]


async def test_restore_refuses_bad_codes_and_backups_and_creates_nothing(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    sam = await make_client("sam")
    code, backup = sam.create_recovery()
    other_code, other_backup = sam.create_recovery()
    assert other_code != code
    assert other_backup != backup
    target = tmp_path / "restored"

    async def restore(backup_: bytes, code_: str, where: Path = target) -> Client:
        return await Client.restore(where, NEW_PASSPHRASE, backup_, code_, relay_url, "Sam", kdf=TEST_KDF)

    with pytest.raises(InvalidRecoveryCode, match="typing mistake"):
        await restore(backup, _typo(code))
    with pytest.raises(InvalidRecoveryCode, match="32 characters"):
        await restore(backup, code[:-1])
    with pytest.raises(InvalidRecoveryCode):
        await restore(backup, qr_text(b"not a recovery code"))
    with pytest.raises(WrongPassphrase, match="does not open this backup"):
        await restore(backup, other_code)
    with pytest.raises(CorruptKeyStore):
        await restore(backup[:-1], code)
    with pytest.raises(CorruptKeyStore, match="not a Confide recovery backup"):
        await restore(b"PK\x03\x04 a zip file", code)
    assert not target.exists()
    # An existing profile is never overwritten.
    with pytest.raises(ProfileError, match="already exists"):
        await restore(backup, code, tmp_path / "sam")
    with pytest.raises(ValueError, match="role"):
        Client.restore(target, NEW_PASSPHRASE, backup, code, relay_url, "Sam", "admin")
    assert not target.exists()

    # Lower case, spaces instead of dashes, and the text scanned from the QR code all work.
    loose = code.lower().replace("-", " ")
    async with (
        await restore(other_backup, other_code) as first,
        await restore(backup, loose, tmp_path / "second") as second,
        await restore(backup, qr_text(code.encode()), tmp_path / "third") as third,
    ):
        assert first.address == second.address == third.address == sam.address


async def test_change_passphrase(make_client: MakeClient, tmp_path: Path) -> None:
    dr = await make_client("dr", "therapist")
    sam = await make_client("sam")
    await _converse(sam, dr)
    address = sam.address
    keystore = tmp_path / "sam" / "keystore"
    before = keystore.read_bytes()

    # Refused while the profile is open (it re-keys the store under the open client's feet): nothing changes.
    await sam.send_text("dr", "still here")
    with pytest.raises(ProfileError, match="open in another"):
        await Client.change_passphrase(tmp_path / "sam", PASSPHRASE, NEW_PASSPHRASE)
    assert keystore.read_bytes() == before
    await sam.close()

    # A wrong old passphrase changes nothing (not even the file's bytes).
    with pytest.raises(WrongPassphrase):
        await Client.change_passphrase(tmp_path / "sam", "not it", NEW_PASSPHRASE)
    assert keystore.read_bytes() == before
    with pytest.raises(ValueError, match="empty"):
        await Client.change_passphrase(tmp_path / "sam", PASSPHRASE, "")
    assert keystore.read_bytes() == before
    with pytest.raises(ProfileError, match="no Confide profile"):
        await Client.change_passphrase(tmp_path / "nobody", PASSPHRASE, NEW_PASSPHRASE)

    await Client.change_passphrase(tmp_path / "sam", PASSPHRASE, NEW_PASSPHRASE)
    after = keystore.read_bytes()
    assert after != before
    assert kdf_params_of(after) == kdf_params_of(before) == TEST_KDF  # costs kept
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert sorted(p.name for p in keystore.parent.glob("keystore*")) == ["keystore"]

    with pytest.raises(WrongPassphrase):
        await Client.open(tmp_path / "sam", PASSPHRASE)
    async with Client.open(tmp_path / "sam", NEW_PASSPHRASE) as reopened:
        assert reopened.address == address  # the same identity: the store key is new (tests/client/test_carving.py)
        assert [m.text for m in reopened.history("dr")] == [
            "I had a hard week",
            "Thank you for telling me",
            "still here",
        ]
        await dr.send_text("sam", "good to hear")
        assert _texts(await reopened.sync()) == ["good to hear"]

    # Stronger (or other) costs on request.
    stronger = type(TEST_KDF)(time_cost=2, memory_kib=16 * 1024, parallelism=1)
    await Client.change_passphrase(tmp_path / "sam", NEW_PASSPHRASE, PASSPHRASE, kdf=stronger)
    assert kdf_params_of(keystore.read_bytes()) == stronger
    async with Client.open(tmp_path / "sam", PASSPHRASE) as reopened:
        assert reopened.address == address


async def test_integrating_guide_recovery_section_runs(tmp_path: Path, relay_url: str) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "integrating.md"
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)), str(doc), "exec"), namespace)
    old_dir, new_dir, kit = str(tmp_path / "old"), str(tmp_path / "new"), str(tmp_path / "kit.bin")
    invite = await namespace["create_profile"](old_dir, PASSPHRASE, relay_url, kdf=TEST_KDF)
    code = await namespace["make_recovery_kit"](old_dir, PASSPHRASE, kit)
    assert CODE_RE.fullmatch(code)
    assert stat.S_IMODE(Path(kit).stat().st_mode) == 0o600
    await namespace["change_passphrase"](old_dir, PASSPHRASE, NEW_PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        await namespace["change_passphrase"](old_dir, PASSPHRASE, NEW_PASSPHRASE)
    address = await namespace["restore_profile"](new_dir, NEW_PASSPHRASE, kit, code, relay_url, kdf=TEST_KDF)
    assert address == Invite.parse(invite).address.text


# -- the confide command ------------------------------------------------------------------------------
@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CONFIDE_KDF", "test")
    monkeypatch.delenv("CONFIDE_NEW_PASSPHRASE", raising=False)
    monkeypatch.delenv("CONFIDE_RECOVERY_CODE", raising=False)


def _one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _whoami(capsys: pytest.CaptureFixture[str], profile: Path) -> dict[str, str]:
    code, out, err = run(capsys, "whoami", "--profile", str(profile), "--json")
    assert code == 0, err
    result: dict[str, str] = json.loads(out)
    return result


def test_cli_recovery_passwd_and_restore(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    t, c, c2 = tmp_path / "t", tmp_path / "c", tmp_path / "c2"
    assert run(capsys, "init", "--profile", str(t), "--server", relay_thread, "--name", "Dr R")[0] == 0
    assert run(capsys, "init", "--profile", str(c), "--server", relay_thread, "--name", "Sam")[0] == 0
    assert run(capsys, "contacts", "add", "--profile", str(c), "dr", _whoami(capsys, t)["invite"])[0] == 0
    assert run(capsys, "send", "--profile", str(c), "dr", "hello")[0] == 0
    assert run(capsys, "sync", "--profile", str(t))[0] == 0
    address = _whoami(capsys, c)["address"]

    # recovery create: the code is printed once, the backup and the QR are written 0600.
    backup, png = tmp_path / "backup.cfrb", tmp_path / "code.png"
    code, out, err = run(capsys, "recovery", "create", "--profile", str(c), "--out", str(backup), "--qr", str(png))
    assert code == 0, err
    found = CODE_RE.findall(out)
    assert len(found) == 1
    assert "apart from this device" in out
    recovery_code = found[0]
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(png.stat().st_mode) == 0o600
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    first_backup = backup.read_bytes()
    # An existing file is never overwritten (its code would stop matching it).
    code, out, err = run(capsys, "recovery", "create", "--profile", str(c), "--out", str(backup))
    assert code == EXIT_OS
    assert _one_line(err)
    assert "exists" in err
    assert not CODE_RE.search(out)
    assert backup.read_bytes() == first_backup

    # passwd: a wrong old passphrase, a missing new one, then a real change.
    monkeypatch.setenv("CONFIDE_NEW_PASSPHRASE", NEW_PASSPHRASE)
    monkeypatch.setenv("CONFIDE_PASSPHRASE", "wrong")
    code, _, err = run(capsys, "passwd", "--profile", str(c))
    assert code == EXIT_PASSPHRASE
    assert _one_line(err)
    assert "passphrase" in err
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("CONFIDE_NEW_PASSPHRASE")
    code, _, err = run(capsys, "passwd", "--profile", str(c))  # no terminal to ask in
    assert code == EXIT_PROFILE
    assert _one_line(err)
    assert "CONFIDE_NEW_PASSPHRASE" in err
    monkeypatch.setenv("CONFIDE_NEW_PASSPHRASE", NEW_PASSPHRASE)
    code, out, err = run(capsys, "passwd", "--profile", str(c))
    assert code == 0, err
    assert "Passphrase changed" in out
    code, _, err = run(capsys, "whoami", "--profile", str(c))
    assert code == EXIT_PASSPHRASE
    assert _one_line(err)
    monkeypatch.setenv("CONFIDE_PASSPHRASE", NEW_PASSPHRASE)
    assert _whoami(capsys, c)["address"] == address
    assert run(capsys, "wipe", "--profile", str(c), "--yes")[0] == 0

    # restore: bad inputs create nothing and exit with their codes.
    base = ["restore", "--profile", str(c2), "--server", relay_thread, "--name", "Sam"]
    code, _, err = run(capsys, *base, "--backup", str(backup), "--code", _typo(recovery_code))
    assert code == EXIT_PASSPHRASE
    assert _one_line(err)
    assert "typing mistake" in err
    code, _, err = run(capsys, *base, "--backup", str(tmp_path / "missing"), "--code", recovery_code)
    assert code == EXIT_OS
    assert _one_line(err)
    code, _, err = run(capsys, *base, "--backup", str(png), "--code", recovery_code)
    assert code == EXIT_PASSPHRASE
    assert _one_line(err)
    assert "not a Confide recovery backup" in err
    code, _, err = run(capsys, *base, "--backup", str(backup))  # no code, no terminal to ask in
    assert code == EXIT_USAGE
    assert _one_line(err)
    assert "CONFIDE_RECOVERY_CODE" in err
    assert not c2.exists()

    # ... and the code from the environment restores the same address.
    monkeypatch.setenv("CONFIDE_RECOVERY_CODE", recovery_code)
    code, out, err = run(capsys, *base, "--backup", str(backup))
    assert code == 0, err
    assert address in out
    assert "invite code is new" in out
    assert _whoami(capsys, c2)["address"] == address

    # Writing first re-establishes the thread; the therapist sees the same contact, no identity warning.
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    dr_invite = _whoami(capsys, t)["invite"]
    monkeypatch.setenv("CONFIDE_PASSPHRASE", NEW_PASSPHRASE)
    assert run(capsys, "contacts", "add", "--profile", str(c2), "dr", dr_invite)[0] == 0
    assert run(capsys, "send", "--profile", str(c2), "dr", "restored and back")[0] == 0
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    code, out, _ = run(capsys, "sync", "--profile", str(t), "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    received = [e["message"] for e in events if e["type"] == "message_received"]
    assert [(m["peer"], m["text"]) for m in received] == [(address, "restored and back")]


def test_help_documents_recovery_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for text in ("recovery", "restore", "passwd", "CONFIDE_NEW_PASSPHRASE", "CONFIDE_RECOVERY_CODE", "recovery code"):
        assert text in out
    code, out, _ = run(capsys, "recovery", "create", "--help")
    assert code == 0
    assert "--out" in out
    assert "--qr" in out
