"""Several devices of one identity in the client (design issue 13): the own signed device list, contacts' lists
through the version guard, fan-out to every listed device, removal, and the attacks of a relay that replays or
forges lists and keys. Every test runs against a real relay; a hostile one is a real relay behind
:class:`HostileRelay`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
from pathlib import Path

import pytest

from confide.client import (
    MAX_DEVICES,
    Client,
    ClientError,
    Connected,
    DeviceListRefused,
    DeviceListRejected,
    DeviceRemoved,
    DevicesChanged,
    Event,
    KeySubstitution,
    MessageReceived,
    ThisDeviceRemoved,
    TooManyDevices,
)
from confide.keys.address import Address
from confide.keys.device import DeviceKeyPair
from confide.keys.identity import IdentityKeyPair, IdentityPublicKey
from confide.keys.keystore import TEST_KDF
from confide.protocol.device_list import (
    DEVICE_LIST_RENEW_S,
    DeviceChange,
    DeviceEntry,
    DeviceOrigin,
    device_ids,
    parse_device_list,
    sign_device_list,
)

from .conftest import PASSPHRASE, MakeClient, MakeDevice, introduce
from .devices_helpers import HostileRelay, add_device


def _relay_db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{tmp_path / 'relay' / 'relay.db'}?mode=ro", uri=True)


def _mailbox(tmp_path: Path, device_id: bytes) -> int:
    """Envelopes the relay holds for ``device_id`` (read from its database)."""
    with _relay_db(tmp_path) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM envelopes WHERE device_id = ?", (device_id,)).fetchone()
    return int(count)


async def _relay_list(client: Client, of: Client) -> bytes:
    raw = await client._relay.get_document(Address.parse(of.address), "devices")
    assert raw is not None
    return raw


async def test_first_device_publishes_its_list(make_client: MakeClient) -> None:
    a = await make_client("a")
    [info] = a.devices()
    assert (info.device_id, info.this_device, info.origin, info.name) == (a.device_id, True, "first", "")
    doc = parse_device_list(await _relay_list(a, a), identity=a.identity, now=info.added_at)
    assert (doc.version, device_ids(doc)) == (1, (bytes.fromhex(a.device_id),))


async def test_second_device_is_listed_and_both_receive(
    tmp_path: Path, make_client: MakeClient, relay_url: str, make_device: MakeDevice
) -> None:
    a, b = await make_client("a"), await make_client("b")
    await introduce(a, b)
    await b.send_text("a", "before")  # b pins a's identity and list (one device)
    assert [e for e in await a.sync() if isinstance(e, MessageReceived)]
    a2 = await make_device(a, "a2")
    assert a2.address == a.address
    assert a2.device_id != a.device_id
    assert [d.device_id for d in a2.devices()] == [a.device_id, a2.device_id]
    assert [d.origin for d in a.devices()] == ["first", "linked"]
    rec = b._contacts.find("a")
    seen: list[Event] = []
    b.on(DevicesChanged, seen.append)
    change = await b._devices.refresh(rec)
    assert change == DeviceChange(added=(bytes.fromhex(a2.device_id),), removed=())
    assert seen == [DevicesChanged("a", 1, 0, False)]
    await b._sessions.ensure_devices(b._contacts.find("a"))
    assert {s.peer_device_id.hex() for s in b._sessions.of(b._contacts.find("a"))} == {a.device_id, a2.device_id}
    await b.send_text("a", "to both")
    for device in (a, a2):
        got = [e.message.text for e in await device.sync() if isinstance(e, MessageReceived)]
        assert got == ["to both"]


async def test_removed_device_is_cut_off(
    tmp_path: Path, make_client: MakeClient, relay_url: str, make_device: MakeDevice
) -> None:
    a, b = await make_client("a"), await make_client("b")
    await introduce(a, b)
    a2 = await make_device(a, "a2")
    a2_id = bytes.fromhex(a2.device_id)
    await b.send_text("a", "hello")  # b's first bundle fetch: both devices listed
    assert {s.peer_device_id for s in b._sessions.of(b._contacts.find("a"))} == {bytes.fromhex(a.device_id), a2_id}
    with pytest.raises(ClientError):
        await a.remove_device(a.device_id)  # never this device
    with pytest.raises(ClientError):
        await a.remove_device("00" * 16)  # no such device
    removed: list[Event] = []
    a2.on(ThisDeviceRemoved, removed.append)
    await a.remove_device(a2.device_id)
    assert [d.device_id for d in a.devices()] == [a.device_id]
    assert _mailbox(tmp_path, a2_id) == 0  # the relay scrubbed its mailbox ("hello" was waiting there)
    with pytest.raises(DeviceRemoved):
        await a2.sync()
    assert removed == [ThisDeviceRemoved()]
    # b learns the list (from the relay here; a DEVICES content in the product) and stops at once
    change = await b._devices.refresh(b._contacts.find("a"))
    assert change == DeviceChange(added=(), removed=(a2_id,))
    assert {s.peer_device_id for s in b._sessions.of(b._contacts.find("a"))} == {bytes.fromhex(a.device_id)}
    a_identity = IdentityPublicKey.from_bytes(b._contacts.find("a").identity or b"")
    assert b._sessions.device_listed(a_identity, a2_id) is False
    assert b._sessions.device_listed(a_identity, bytes.fromhex(a.device_id)) is True
    await b._sessions.ensure_devices(b._contacts.find("a"))
    assert b._store.get_session(a_identity.signing, a2_id) is None
    await b.send_text("a", "after")
    assert [e.message.text for e in await a.sync() if isinstance(e, MessageReceived)] == ["hello", "after"]
    assert _mailbox(tmp_path, a2_id) == 0  # nothing further for the removed device


async def test_max_devices(make_client: MakeClient) -> None:
    a = await make_client("a")
    identity = a._keys.identity
    for _ in range(MAX_DEVICES - 1):
        await a._devices.add_device(DeviceKeyPair.generate(identity, os.urandom).certificate, DeviceOrigin.LINKED)
    before = await _relay_list(a, a)
    with pytest.raises(TooManyDevices, match=str(MAX_DEVICES)):
        await a._devices.add_device(DeviceKeyPair.generate(identity, os.urandom).certificate, DeviceOrigin.LINKED)
    assert await _relay_list(a, a) == before
    assert len(a.devices()) == MAX_DEVICES


async def test_rename_stays_local(make_client: MakeClient) -> None:
    a = await make_client("a")
    info = a.rename_device(a.device_id, "Office laptop")
    assert info.name == "Office laptop"
    assert a.devices()[0].name == "Office laptop"
    await a._devices.renew_if_due(now=2**40)  # a re-signed list: still no name in it
    assert b"Office laptop" not in await _relay_list(a, a)
    with pytest.raises(ClientError):
        a.rename_device("11" * 16, "x")
    with pytest.raises(ValueError, match="control"):
        a.rename_device(a.device_id, "\x1b[31m")


# -- a hostile relay -----------------------------------------------------------------------------------
async def test_relay_replaying_an_older_list_is_refused(
    tmp_path: Path, make_client: MakeClient, relay_url: str
) -> None:
    a = await make_client("a")
    hostile = HostileRelay(relay_url)
    async with hostile.running() as url:
        b = await Client.create(tmp_path / "b", PASSPHRASE, url, "b", kdf=TEST_KDF)
        a2: Client | None = None
        try:
            await introduce(a, b)
            await b.send_text("a", "one")  # b accepts list version 1 from the bundle answer
            bundle_path = f"/v1/accounts/{a.address}/bundle"
            list_path = f"/v1/documents/{a.address}/devices"
            old_bundle = hostile.answers[bundle_path]
            assert await b._devices.refresh(b._contacts.find("a")) is None  # the same list again
            old_list = hostile.answers[list_path]
            a2 = await add_device(a, tmp_path / "a2", relay_url)
            await b._devices.refresh(b._contacts.find("a"))  # version 2, two devices
            kept = b._devices.list_of(b._contacts.find("a"))
            assert kept is not None
            assert kept.version == 2
            refused: list[Event] = []
            b.on(DeviceListRefused, refused.append)
            hostile.replace[list_path] = old_list  # to hide the new device
            with pytest.raises(DeviceListRejected):
                await b._devices.refresh(b._contacts.find("a"))
            hostile.replace[bundle_path] = old_bundle
            with pytest.raises(DeviceListRejected):
                await b._sessions.ensure_devices(b._contacts.find("a"))
            assert [(type(r), getattr(r, "contact", None)) for r in refused] == [(DeviceListRefused, "a")] * 2
            after = b._devices.list_of(b._contacts.find("a"))
            assert after is not None
            assert after.digest == kept.digest
        finally:
            if a2 is not None:
                await a2.close()
            await b.close()


async def test_list_of_another_signer_or_forged_is_refused(
    tmp_path: Path, make_client: MakeClient, relay_url: str
) -> None:
    a = await make_client("a")
    hostile = HostileRelay(relay_url)
    async with hostile.running() as url:
        b = await Client.create(tmp_path / "b", PASSPHRASE, url, "b", kdf=TEST_KDF)
        try:
            await introduce(a, b)
            await b.send_text("a", "one")
            list_path = f"/v1/documents/{a.address}/devices"
            kept = b._devices.list_of(b._contacts.find("a"))
            assert kept is not None
            mallory = IdentityKeyPair.generate(os.urandom)
            mallory_device = DeviceKeyPair.generate(mallory, os.urandom)
            foreign = sign_device_list(
                mallory,
                [DeviceEntry(mallory_device.certificate, 1, DeviceOrigin.FIRST)],
                version=99,
                now=kept.issued_at,
            )
            genuine = bytearray(await _relay_list(a, a))
            genuine[-1] ^= 1  # a's list with a broken signature
            for forged in (foreign, bytes(genuine), b"\x01\x06garbage"):
                hostile.replace[list_path] = forged
                with pytest.raises(DeviceListRejected):
                    await b._devices.refresh(b._contacts.find("a"))
            after = b._devices.list_of(b._contacts.find("a"))
            assert after is not None
            assert after.digest == kept.digest
        finally:
            await b.close()


async def test_relay_adding_a_removed_device_is_key_substitution(
    tmp_path: Path, make_client: MakeClient, relay_url: str
) -> None:
    a = await make_client("a")
    a2 = await add_device(a, tmp_path / "a2", relay_url)
    hostile = HostileRelay(relay_url)
    async with hostile.running() as url:
        b = await Client.create(tmp_path / "b", PASSPHRASE, url, "b", kdf=TEST_KDF)
        try:
            await introduce(a, b)
            await b.send_text("a", "one")  # two devices
            bundle_path = f"/v1/accounts/{a.address}/bundle"
            with_a2 = json.loads(hostile.answers[bundle_path])
            await a.remove_device(a2.device_id)
            rec = b._contacts.find("a")
            await b._devices.refresh(rec)
            listed = b._devices.listed(b._contacts.find("a"))
            assert listed == {bytes.fromhex(a.device_id)}
            # the relay cannot sign a list, so it serves the current one with the removed device's old keys
            current = base64.b64encode(await _relay_list(a, a)).decode()
            hostile.replace[bundle_path] = json.dumps({**with_a2, "device_list": current}).encode()
            with b._store.transaction():
                for s in b._sessions.of(b._contacts.find("a")):
                    b._store.delete_device_sessions(s.peer_identity.signing, s.peer_device_id)
            with pytest.raises(KeySubstitution):
                await b._sessions.ensure_devices(b._contacts.find("a"))
            assert b._sessions.of(b._contacts.find("a")) == []
        finally:
            await b.close()
            await a2.close()


async def test_live_receiving_stops_when_this_device_is_removed(
    tmp_path: Path, make_client: MakeClient, relay_url: str, make_device: MakeDevice
) -> None:
    a = await make_client("a")
    a2 = await make_device(a, "a2")
    seen: list[Event] = []
    connected = asyncio.Event()
    a2.on(ThisDeviceRemoved, seen.append)
    a2.on(Connected, lambda _e: connected.set())
    a2.start()
    await asyncio.wait_for(connected.wait(), 10)
    await a.remove_device(a2.device_id)  # the relay closes its socket; reconnecting gets 410
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.1)
    assert seen == [ThisDeviceRemoved()]
    with pytest.raises(DeviceRemoved):
        await a2.sync()
    assert seen == [ThisDeviceRemoved()]  # said once


async def test_a_device_added_by_restore_is_told_to_the_others(
    tmp_path: Path, make_client: MakeClient, relay_url: str, make_device: MakeDevice
) -> None:
    a = await make_client("a")
    a2 = await make_device(a, "a2")
    seen: list[Event] = []
    a.on(DevicesChanged, seen.append)
    restored = DeviceKeyPair.generate(a._keys.identity, os.urandom)
    await a2._devices.add_device(restored.certificate, DeviceOrigin.RESTORED)  # published by another device
    assert await a._devices.ensure_own_list() is not None  # a's next list check
    assert seen == [DevicesChanged("", 1, 0, True)]
    assert [d.origin for d in a.devices()] == ["first", "linked", "restored"]


async def test_sessions_with_own_other_devices(
    tmp_path: Path, make_client: MakeClient, relay_url: str, make_device: MakeDevice
) -> None:
    a = await make_client("a")
    a2 = await make_device(a, "a2")
    a2_id = bytes.fromhex(a2.device_id)
    assert await a._sessions.ensure_own() == 1
    assert await a._sessions.ensure_own() == 0
    assert [s.peer_device_id for s in a._sessions.own()] == [a2_id]
    with a._store.transaction():
        envelopes = a._sessions.encrypt_own(b"note to self", a._account.sender_certificate(None), 60)
    assert [(e.recipient_device, e.delivery_token) for e in envelopes] == [(a2_id, a._account.token())]
    await a.remove_device(a2.device_id)
    assert a._sessions.own() == []
    assert a._store.get_session(a.identity.signing, a2_id) is None  # deleted, not only left unused
    with a._store.transaction():
        assert a._sessions.encrypt_own(b"x", a._account.sender_certificate(None), 60) == []


async def test_renewal_is_signed_once_for_all_devices(
    tmp_path: Path, make_client: MakeClient, relay_url: str, make_device: MakeDevice
) -> None:
    a = await make_client("a")
    a2 = await make_device(a, "a2")
    own = a2._devices.own_list()
    assert own is not None
    due = own.expires_at - DEVICE_LIST_RENEW_S + 1
    assert not await a._devices.renew_if_due(now=due - 2)  # not yet
    assert await a._devices.renew_if_due(now=due)
    renewed = a._devices.own_list()
    assert renewed is not None
    assert (renewed.version, device_ids(renewed)) == (own.version + 1, device_ids(own))
    assert not await a2._devices.renew_if_due(now=due)  # a2 finds a's renewal at the relay
    assert a2._devices.own_list() == renewed
