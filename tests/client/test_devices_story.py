"""Issue 13's story on a real relay, with real linking: Dr. Rivera's laptop and phone, and Sam's phone.

The phone is linked with ``Client.link`` / ``approve_device`` (the code, SPAKE2, the provisioning, the history),
not by a test helper. Then every message, receipt, delete and timer change must reach every current device of
both people exactly once; the phone is removed and must get nothing more, while the laptop still gets everything;
and a message from a device that the peer's kept list does not name yet (a device just linked, whose list has not
reached the peer) is not lost: it waits at the relay while the list is fetched.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from confide.client import (
    Client,
    DeviceRemoved,
    DevicesChanged,
    Event,
    MessageDeleted,
    MessageReceived,
    MessageStatus,
    MessageSynced,
    MessageUndecryptable,
    TimerChanged,
)
from confide.keys.keystore import TEST_KDF

from . import linking_harness as harness
from .conftest import PASSPHRASE, MakeClient, MakeDevice, introduce

SECRET_TEXT = "the lighthouse keeper counts to forty-one"
"""A text of the conversation that must never appear in any relay file (history transfer included)."""


def _received(events: list[Event]) -> list[str]:
    return [e.message.text for e in events if isinstance(e, MessageReceived)]


def _ids(client: Client, peer: str) -> Counter[str]:
    return Counter(m.message_id for m in client.history(peer))


def _status(client: Client, message_id: str) -> MessageStatus:
    return next(m.status for m in client.history("sam") if m.message_id == message_id)


def _mailbox(relay_dir: Path, device_id: str) -> int:
    conn = sqlite3.connect(next(relay_dir.rglob("*.db")))
    try:
        return int(
            conn.execute("SELECT count(*) FROM envelopes WHERE device_id = ?", (bytes.fromhex(device_id),)).fetchone()[
                0
            ]
        )
    finally:
        conn.close()


async def _link(laptop: Client, root: Path, relay_url: str) -> Client:
    pending = await Client.link(root, PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    _approved, phone = await asyncio.gather(laptop.approve_device(pending.code, history=True), pending.wait())
    assert pending.history_error is None
    return phone


async def test_three_devices_every_message_everywhere_once_then_a_removal(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    laptop = await make_client("rivera", "therapist")
    sam = await make_client("sam")
    await introduce(sam, laptop, "dr", "sam")
    await sam.send_text("dr", SECRET_TEXT)
    assert _received(await laptop.sync()) == [SECRET_TEXT]
    safety_before = (await sam.safety_number("dr")).digits
    told: list[Event] = []
    sam.on(DevicesChanged, told.append)

    phone = await _link(laptop, tmp_path / "rivera-phone", relay_url)
    try:
        # The history arrived whole; nothing of it, nor of the conversation, is in any relay file.
        assert [m.text for m in phone.history("sam")] == [SECRET_TEXT]
        assert harness.relay_files_hold(tmp_path / "relay", SECRET_TEXT.encode()) == []

        # Sam learns "Dr. Rivera added a device"; the safety number is per identity, so it does not change.
        await sam.sync()
        assert told == [DevicesChanged("dr", 1, 0)]
        assert (await sam.safety_number("dr")).digits == safety_before

        # Sam writes: both of Dr. Rivera's devices get it, once.
        question = await sam.send_text("dr", "Can we move Tuesday?")
        assert _received(await laptop.sync()) == ["Can we move Tuesday?"]
        assert _received(await phone.sync()) == ["Can we move Tuesday?"]

        # The phone answers: Sam gets it once, the laptop gets the sent copy (same id), not a received message.
        answer = await phone.send_text("sam", "Yes, Wednesday at 10")
        assert _received(await sam.sync()) == ["Yes, Wednesday at 10"]
        synced = [e for e in await laptop.sync() if isinstance(e, MessageSynced)]
        assert [(e.message.message_id, e.message.text) for e in synced] == [(answer.message_id, answer.text)]

        # Receipts reach every device: Sam's read receipt marks the answer read on the phone AND the laptop.
        await sam.mark_read("dr")
        await phone.sync()
        await laptop.sync()
        for device in (phone, laptop):
            assert (
                next(m for m in device.history("sam") if m.message_id == answer.message_id).status == MessageStatus.READ
            )
        # ... and the phone's receipts for Sam's question reach Sam; the laptop reading it marks it read on the phone.
        await laptop.mark_read("sam")
        await phone.sync()
        assert _status(phone, question.message_id) == MessageStatus.READ

        # A timer change from Sam reaches both devices; one from the phone reaches Sam and the laptop.
        await sam.set_timer("dr", 3600)
        for device in (laptop, phone):
            assert [e.seconds for e in await device.sync() if isinstance(e, TimerChanged)] == [3600]
        await phone.set_timer("sam", 7200)
        assert [e.seconds for e in await sam.sync() if isinstance(e, TimerChanged)] == [7200]
        await laptop.sync()
        assert laptop.contact("sam").timer_s == 7200

        # A delete for everyone from Sam reaches both; one from the laptop reaches Sam and the phone.
        assert not await sam.delete_for_everyone("dr", question.message_id)
        for device in (laptop, phone):
            assert any(isinstance(e, MessageDeleted) for e in await device.sync())
            assert question.message_id not in _ids(device, "sam")
        assert not await laptop.delete_for_everyone("sam", answer.message_id)
        await sam.sync()
        await phone.sync()
        assert answer.message_id not in _ids(sam, "dr")
        assert answer.message_id not in _ids(phone, "sam")

        # Exactly once everywhere: no id twice in any thread.
        for device, peer in ((laptop, "sam"), (phone, "sam"), (sam, "dr")):
            assert all(n == 1 for n in _ids(device, peer).values()), device

        # The phone is lost: the laptop removes it. Sam is told, and what Sam sends reaches the laptop alone.
        await laptop.remove_device(phone.device_id)
        await sam.sync()
        assert told[-1] == DevicesChanged("dr", 0, 1)
        after = await sam.send_text("dr", "Wednesday works")
        assert after.status == MessageStatus.SENT
        assert _received(await laptop.sync()) == ["Wednesday works"]
        assert _mailbox(tmp_path / "relay", phone.device_id) == 0
        with pytest.raises(DeviceRemoved):
            await phone.sync()
        assert "Wednesday works" not in [m.text for m in phone.history("sam")]
    finally:
        await phone.close()


async def test_a_message_from_a_device_the_peer_does_not_know_yet_waits_for_the_list(
    make_client: MakeClient, tmp_path: Path, relay_url: str, make_device: MakeDevice
) -> None:
    """The laptop links the phone but cannot tell Sam (the list notice is not sent); the phone writes to Sam at
    once. Sam's kept list does not name the phone: the message is not dropped but left at the relay, the list is
    fetched, and the message is read. A device that the fetched list does not name stays refused."""
    laptop = await make_client("rivera", "therapist")
    sam = await make_client("sam")
    await introduce(sam, laptop, "dr", "sam")
    await sam.send_text("dr", "hello")
    await laptop.sync()
    laptop._devices.on_own_list_changed = None  # the DEVICES notice to Sam is never sent
    phone = await make_device(laptop, "phone", name="Phone")
    await phone.sync()
    assert [c.name for c in phone.contacts()] == []  # the helper provisions no contacts: add Sam
    phone.add_contact("sam", sam.invite_code())
    await phone.send_text("sam", "from the new phone")
    events = await sam.sync()
    assert _received(events) == ["from the new phone"]
    assert not any(isinstance(e, MessageUndecryptable) for e in events)


async def test_a_file_sent_from_one_device_can_be_saved_on_the_other(
    make_client: MakeClient, tmp_path: Path, relay_url: str, make_device: MakeDevice
) -> None:
    laptop = await make_client("rivera", "therapist")
    sam = await make_client("sam")
    await introduce(sam, laptop, "dr", "sam")
    phone = await make_device(laptop, "phone", name="Phone")
    await laptop.sync()
    await phone.sync()
    await sam.sync()
    phone.add_contact("sam", sam.invite_code())
    source = tmp_path / "worksheet.txt"
    source.write_bytes(b"week 3: notice one thing you did well each day\n")
    sent = await phone.send_file("sam", source)
    synced = [e.message for e in await laptop.sync() if isinstance(e, MessageSynced)]
    assert [m.message_id for m in synced] == [sent.message_id]
    saved = await laptop.save_attachment(sent.message_id, tmp_path / "copy.txt")
    assert saved.read_bytes() == source.read_bytes()


async def test_a_contact_who_only_replied_is_told_of_a_new_device(
    make_client: MakeClient, make_device: MakeDevice
) -> None:
    """Sam wrote first, so Dr. Rivera's device never fetched Sam's keys (nor Sam's device list). Its first message
    from Sam makes it fetch the list as a baseline, so that the device Sam adds later is told: "Sam added a
    device" (a first list seen is never told)."""
    sam = await make_client("sam")
    rivera = await make_client("rivera", "therapist")
    sam.add_contact("dr", rivera.invite_code())
    await sam.send_text("dr", "hello, I found you through the directory")
    told: list[Event] = []
    rivera.on(DevicesChanged, told.append)
    assert _received(await rivera.sync()) == ["hello, I found you through the directory"]
    assert told == []
    rivera.accept_contact(rivera.contacts()[0].name)  # a message request's control contents wait for this
    await make_device(sam, "sam-phone")  # Sam's laptop lists the phone and sends the new list to Rivera
    await rivera.sync()
    assert told == [DevicesChanged(rivera.contacts()[0].name, 1, 0)]
