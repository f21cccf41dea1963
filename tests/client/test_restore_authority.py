"""Who may add a restored device to an identity's list (SPEC 15.7), through the library on a real relay.

The relay takes a device list only from a registered device of the identity, or with the identity's recovery
authority (derived from the recovery code, its public half registered when the code was made). So a restore works
even after the device the backup was made on was removed (a phone replaced since), while a thief who holds the
identity key on a removed device can list nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from confide.client import Client, DeviceRemoved, RelayError
from confide.keys.keystore import TEST_KDF
from confide.protocol.device_list import DeviceEntry, DeviceOrigin, sign_device_list

from .conftest import MakeClient, MakeDevice

NEW_PASSPHRASE = "another passphrase for the restored device"


async def test_a_registered_code_restores_after_its_device_was_removed(
    make_client: MakeClient, tmp_path: Path, relay_url: str, make_device: MakeDevice
) -> None:
    laptop = await make_client("laptop")
    await laptop.sync()
    code, backup = laptop.create_recovery()
    assert await laptop.register_recovery_key(code)
    phone = await make_device(laptop, "phone")
    await phone.sync()
    await phone.remove_device(laptop.device_id)  # the laptop is replaced by the phone
    with pytest.raises(DeviceRemoved):
        await laptop.sync()
    async with Client.restore(
        tmp_path / "restored", NEW_PASSPHRASE, backup, code, relay_url, "Sam", kdf=TEST_KDF
    ) as restored:
        assert [(d.origin, d.this_device) for d in restored.devices()] == [("linked", False), ("restored", True)]
        await restored.sync()  # registered: the relay takes its signed requests


async def test_an_unregistered_code_whose_device_was_removed_creates_nothing(
    make_client: MakeClient, tmp_path: Path, relay_url: str, make_device: MakeDevice
) -> None:
    laptop = await make_client("laptop")
    await laptop.sync()
    code, backup = laptop.create_recovery()  # never registered at the relay
    phone = await make_device(laptop, "phone")
    await phone.sync()
    await phone.remove_device(laptop.device_id)
    before = [d.device_id for d in phone.devices()]
    with pytest.raises(DeviceRemoved, match="nothing can vouch"):
        await Client.restore(tmp_path / "restored", NEW_PASSPHRASE, backup, code, relay_url, "Sam", kdf=TEST_KDF)
    assert not (tmp_path / "restored").exists()
    await phone.sync()
    assert [d.device_id for d in phone.devices()] == before


async def test_a_removed_device_holding_the_identity_key_cannot_list_itself_again(
    make_client: MakeClient, tmp_path: Path, relay_url: str, make_device: MakeDevice
) -> None:
    """The thief's move: sign (with the identity key it holds) a newer list naming the stolen device, and publish
    it from that device, or unsigned. The relay refuses both and the owner's list stays."""
    laptop = await make_client("laptop")
    await laptop.sync()
    stolen = await make_device(laptop, "stolen")
    await laptop.remove_device(stolen.device_id)
    own = laptop._devices.own_list()
    assert own is not None
    entries = [
        DeviceEntry(laptop._keys.device.certificate, 0, DeviceOrigin.FIRST),
        DeviceEntry(stolen._keys.device.certificate, 0, DeviceOrigin.LINKED),
    ]
    comeback = sign_device_list(stolen._keys.identity, entries, version=own.version + 1, now=_now())
    with pytest.raises(DeviceRemoved):
        await stolen._relay.put_device_list(stolen._keys.identity.address, comeback)
    with pytest.raises(RelayError, match="401"):
        await stolen._relay.put_document(stolen._keys.identity.address, comeback)
    with pytest.raises(DeviceRemoved):
        await stolen.sync()
    await laptop.sync()
    assert [d.device_id for d in laptop.devices()] == [laptop.device_id]


def _now() -> int:
    return int(time.time())
