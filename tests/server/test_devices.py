"""Several devices of one identity on a real relay (issue 13, relay side; docs/relay-api.md "Devices"): the signed
device list decides which devices may register and which get bundles; a newer list removes the devices it drops
(rows, keys, tokens and mailbox gone, the mailbox's bytes from every relay file too), which are then told
``410 device_removed`` on every request, send, WebSocket and re-registration; refused lists change nothing;
delivery tokens work across the devices of an address."""

from __future__ import annotations

import base64
import os
import sqlite3
import struct
import time
from pathlib import Path

import aiohttp
import pytest

from confide.keys import DeviceKeyPair, IdentityKeyPair, KemPreKeyRecord, OneTimePreKeyRecord, SignedPreKeyRecord
from confide.keys.recovery import create_recovery, recovery_authority
from confide.keys.secret_keys import SecretKeys
from confide.protocol.auth import sign_recovery_publish
from confide.protocol.device_list import sign_device_list
from confide.protocol.document_bodies import MAX_DEVICES, DeviceEntry, DeviceOrigin
from confide.protocol.documents import DOCUMENT_FORMAT, SIGNATURE_LABELS, DocumentKind
from confide.protocol.envelope import delivery_token_hash, encode_batch
from confide.server import sweep
from confide.server.db import APPROVE_FIRST
from confide.server.errors import DEVICE_REMOVED_MESSAGE
from confide.server.limits import REMOVED_DEVICE_MEMORY_S
from confide.server.routes_ws import WS_DEVICE_REMOVED
from confide.server.storage import NewEnvelope

from .conftest import Api, RunningRelay, User, b64, make_user, relay_config, run_relay, stop_relay
from .memory_backend import MemoryBackend
from .test_documents import _until
from .test_forensics import MARKER_LEN, _disk_bytes, _traces

OCTET = "application/octet-stream"
DAY = 86400
SCRUB_DEADLINE_S = 2.0
"""As tests/server/test_forensics.py: deleted bytes must leave every relay file this soon."""

REMOVED = {"error": "device_removed", "message": DEVICE_REMOVED_MESSAGE}
APPROVE = {"error": "forbidden", "message": APPROVE_FIRST}


def _device_of(user: User) -> User:
    """Another device of ``user``'s identity, with its own keys and delivery token."""
    identity, now = user.identity, int(time.time())
    return User(
        identity,
        DeviceKeyPair.generate(identity, os.urandom),
        SignedPreKeyRecord.generate(identity, 1, os.urandom, now),
        KemPreKeyRecord.generate(identity, 1, os.urandom, now, last_resort=True),
        OneTimePreKeyRecord.generate_batch(1, 2, os.urandom),
        [KemPreKeyRecord.generate(identity, 100, os.urandom, now, last_resort=False)],
    )


def _forge(identity: IdentityKeyPair, body: bytes, *, version: int, now: int | None = None) -> bytes:
    """A DEVICES document over any body bytes, really signed by ``identity`` (so only the body can be wrong)."""
    issued = int(time.time()) - 60 if now is None else now
    prefix = (
        struct.pack(">BB", DOCUMENT_FORMAT, DocumentKind.DEVICES)
        + identity.public.to_bytes()
        + struct.pack(">QQQI", version, issued, issued + 90 * DAY, len(body))
        + body
    )
    return prefix + identity.sign(SIGNATURE_LABELS[DocumentKind.DEVICES] + prefix)


def _body(*devices: DeviceKeyPair) -> bytes:
    at = int(time.time()) - DAY
    entries = b"".join(d.certificate.to_bytes() + struct.pack(">QB", at, DeviceOrigin.LINKED) for d in devices)
    return bytes((len(devices),)) + entries


def _list(identity: IdentityKeyPair, *devices: User, version: int) -> bytes:
    # Built as the protocol's own DeviceEntry values (not forged): the relay must take the real thing.
    entries = [DeviceEntry(u.device.certificate, int(time.time()) - DAY, DeviceOrigin.LINKED) for u in devices]
    assert all(u.identity is identity for u in devices)
    return sign_device_list(identity, entries, version=version, now=int(time.time()) - 60)


async def _publish(api: Api, user: User, data: bytes, *, signed: bool = True) -> tuple[int, object]:
    """Publish under ``user``'s address, the request signed by ``user``'s device (a device list must be)."""
    device = user.device if signed else None
    return await api.call("PUT", f"/v1/documents/{user.address}", device=device, body=data, content_type=OCTET)


async def _linked(api: Api, n: int = 2) -> list[User]:
    """An identity with ``n`` registered devices: the first registers alone, then a list names them all."""
    first = make_user(n_otk=2, n_kem=1)
    assert (await api.register(first))[0] == 201
    devices = [first, *(_device_of(first) for _ in range(n - 1))]
    assert (await _publish(api, first, _list(first.identity, *devices, version=1)))[0] == 201
    for device in devices[1:]:
        assert (await api.register(device))[0] == 201
    return devices


def _rows(relay: RunningRelay, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(relay.config.db_path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# -- registration follows the list -----------------------------------------------------------------------------


async def test_a_second_device_needs_a_list_naming_it(relay: RunningRelay) -> None:
    api = relay.api
    first = make_user()
    second = _device_of(first)
    assert (await api.register(first))[0] == 201
    assert await api.register(second) == (403, APPROVE)
    assert _rows(relay, "SELECT count(*) FROM devices") == [(1,)]
    assert (await _publish(api, first, _list(first.identity, first, second, version=1)))[0] == 201
    assert (await api.register(second))[0] == 201
    assert (await api.register(first))[0] == 200  # a listed device re-registers as before


async def test_a_device_the_list_does_not_name_cannot_register(relay: RunningRelay) -> None:
    api = relay.api
    first, second = await _linked(api)
    stranger_device = _device_of(first)
    assert await api.register(stranger_device) == (403, APPROVE)
    status, bundle = await api.call("GET", f"/v1/accounts/{first.address}/bundle")
    assert status == 200
    assert isinstance(bundle, dict)
    assert sorted(d["device_id"] for d in bundle["devices"]) == sorted(u.device_id.hex() for u in (first, second))


# -- bundles carry the list ------------------------------------------------------------------------------------


async def test_a_bundle_carries_the_list_and_only_listed_devices(relay: RunningRelay) -> None:
    api = relay.api
    alone = make_user()
    assert (await api.register(alone))[0] == 201
    status, bundle = await api.call("GET", f"/v1/accounts/{alone.address}/bundle")
    assert status == 200
    assert isinstance(bundle, dict)
    assert "device_list" not in bundle

    first, second = await _linked(api)
    current = _list(first.identity, first, second, version=2)
    assert (await _publish(api, first, current))[0] == 201
    status, bundle = await api.call("GET", f"/v1/accounts/{first.address}/bundle")
    assert status == 200
    assert isinstance(bundle, dict)
    assert base64.b64decode(bundle["device_list"]) == current
    assert sorted(d["device_id"] for d in bundle["devices"]) == sorted(u.device_id.hex() for u in (first, second))
    status, served = await api.call("GET", f"/v1/documents/{first.address}/devices")
    assert (status, served) == (200, current)


# -- removal ---------------------------------------------------------------------------------------------------


async def test_a_newer_list_removes_a_device_everywhere(relay: RunningRelay) -> None:
    api, data_dir = relay.api, relay.config.data_dir
    first, lost = await _linked(api)
    waiting = os.urandom(MARKER_LEN)
    assert (await api.send(lost.envelope(waiting)))[0] == 201
    ws = await api.ws(lost)
    pushed = await ws.receive(timeout=5)
    assert pushed.type == aiohttp.WSMsgType.BINARY
    assert _traces(waiting, _disk_bytes(data_dir)) > 0  # the search works

    current = _list(first.identity, first, version=2)
    assert (await _publish(api, first, current))[0] == 201

    # Its socket is closed with the reason, at once.
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert (closing.data, closing.extra) == (WS_DEVICE_REMOVED, "device_removed")
    await ws.close()

    # Everything of it is gone from the database ...
    for table in ("devices", "delivery_tokens", "signed_prekeys", "kem_last_resort", "one_time_prekeys"):
        assert _rows(relay, f"SELECT count(*) FROM {table} WHERE device_id = ?", lost.device_id) == [(0,)], table
    assert _rows(relay, "SELECT count(*) FROM envelopes") == [(0,)]
    assert _rows(relay, "SELECT address FROM removed_devices WHERE device_id = ?", lost.device_id) == [
        (first.identity.public.address.raw,)
    ]
    # ... and its mailbox's bytes from every relay file.
    gone = await _until(lambda: _traces(waiting, _disk_bytes(data_dir)) == 0, SCRUB_DEADLINE_S)
    assert gone, "the removed device's mailbox is still on disk"

    # It is told, on every door.
    assert await api.pull(lost) == (410, REMOVED)
    assert await api.call("GET", "/v1/prekeys", device=lost.device) == (410, REMOVED)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.ws(lost)
    assert refused.value.status == 410
    assert await api.register(lost) == (410, REMOVED)
    status, answer = await api.send(lost.envelope(b"after"))
    assert status == 410
    assert isinstance(answer, dict)
    assert answer["error"] == "device_removed"
    batch = encode_batch([lost.envelope(b"one").to_bytes(), first.envelope(b"two").to_bytes()])
    status, results = await api.call("POST", "/v1/messages/batch", body=batch, content_type=OCTET)
    assert status == 200
    assert isinstance(results, dict)
    assert [r["status"] for r in results["results"]] == ["device_removed", "stored"]

    # The remaining device works, and its bundle names it alone.
    assert (await api.pull(first))[0] == 200
    status, bundle = await api.call("GET", f"/v1/accounts/{first.address}/bundle")
    assert status == 200
    assert isinstance(bundle, dict)
    assert [d["device_id"] for d in bundle["devices"]] == [first.device_id.hex()]
    assert base64.b64decode(bundle["device_list"]) == current


async def test_a_device_listed_again_registers_again(relay: RunningRelay) -> None:
    api = relay.api
    first, second = await _linked(api)
    assert (await _publish(api, first, _list(first.identity, first, version=2)))[0] == 201
    assert await api.register(second) == (410, REMOVED)
    assert (await _publish(api, first, _list(first.identity, first, second, version=3)))[0] == 201
    assert (await api.register(second))[0] == 201
    assert (await api.pull(second))[0] == 200
    assert _rows(relay, "SELECT count(*) FROM removed_devices") == [(0,)]


async def test_a_removed_device_is_remembered_400_days_and_still_needs_a_list(tmp_path: Path) -> None:
    # Accounts live longer than the tombstone here, so the first device's account outlives it.
    relay = await run_relay(relay_config(tmp_path, account_ttl_s=2 * REMOVED_DEVICE_MEMORY_S))
    try:
        await _forgotten_after_400_days(relay)
    finally:
        await stop_relay(relay)


async def _forgotten_after_400_days(relay: RunningRelay) -> None:
    api = relay.api
    first, second = await _linked(api)
    assert (await _publish(api, first, _list(first.identity, first, version=2)))[0] == 201
    store = relay.relay.store
    removed_at = await store.removed_at(second.device_id)
    assert removed_at is not None
    await sweep(store, relay.relay.blobs, removed_at + 1000 * REMOVED_DEVICE_MEMORY_S - 1)
    assert await store.removed_at(second.device_id) == removed_at
    await sweep(store, relay.relay.blobs, removed_at + 1000 * REMOVED_DEVICE_MEMORY_S)
    assert await store.removed_at(second.device_id) is None
    # Forgotten: a plain 401 now (the relay no longer knows it), and the list still keeps it out.
    status, answer = await api.pull(second)
    assert status == 401
    assert isinstance(answer, dict)
    assert answer["error"] == "unauthorized"
    assert await api.register(second) == (403, APPROVE)


# -- refused lists change nothing -------------------------------------------------------------------------------


async def test_refused_lists_change_nothing(relay: RunningRelay) -> None:
    api = relay.api
    first, second = await _linked(api)
    assert (await _publish(api, first, _list(first.identity, first, second, version=5)))[0] == 201
    only_first = [first]

    # An older version (the relay holds 5).
    status, answer = await _publish(api, first, _list(first.identity, *only_first, version=4))
    assert status == 409
    assert isinstance(answer, dict)
    assert answer["error"] == "conflict"
    # A broken signature.
    good = bytearray(_list(first.identity, *only_first, version=6))
    good[-1] ^= 1
    status, answer = await _publish(api, first, bytes(good))
    assert status == 400
    assert isinstance(answer, dict)
    assert answer["error"] == "malformed"
    # Signed by another identity, published under this address.
    other = make_user()
    assert (await api.register(other))[0] == 201
    status, answer = await _publish(api, first, _list(other.identity, other, version=6))
    assert status == 403
    assert isinstance(answer, dict)
    assert answer["error"] == "forbidden"
    # Signed by this identity, naming a device certified by another.
    status, answer = await _publish(api, first, _forge(first.identity, _body(first.device, other.device), version=6))
    assert status == 400
    assert isinstance(answer, dict)
    assert answer["error"] == "malformed"
    # More than MAX_DEVICES devices, really signed.
    seven = [first.device, *(DeviceKeyPair.generate(first.identity, os.urandom) for _ in range(MAX_DEVICES))]
    status, answer = await _publish(api, first, _forge(first.identity, _body(*seven), version=6))
    assert status == 400
    assert isinstance(answer, dict)
    assert answer["error"] == "malformed"

    # Nothing changed: both devices work, the held list is version 5.
    assert (await api.pull(second))[0] == 200
    assert (await api.pull(first))[0] == 200
    assert _rows(relay, "SELECT count(*) FROM removed_devices") == [(0,)]
    assert _rows(relay, "SELECT count(*) FROM devices") == [(3,)]


async def test_a_list_of_max_devices_is_taken(relay: RunningRelay) -> None:
    devices = await _linked(relay.api, MAX_DEVICES)
    assert _rows(relay, "SELECT count(*) FROM listed_devices") == [(MAX_DEVICES,)]
    assert all([(await relay.api.pull(d))[0] == 200 for d in devices])


# -- delivery tokens: the union of the address's devices ---------------------------------------------------------


async def test_a_token_registered_by_one_device_reaches_every_device(relay: RunningRelay) -> None:
    api = relay.api
    first, second = await _linked(api)
    blocked = os.urandom(32)
    # The first device holds its own token and one for a contact it is about to block.
    hashes = [base64.b64encode(delivery_token_hash(t)).decode() for t in (first.token, blocked)]
    assert (await api.call("PUT", "/v1/delivery-tokens", device=first.device, json_body={"token_hashes": hashes}))[
        0
    ] == 200

    assert (await api.send(second.envelope(b"a", token=first.token)))[0] == 201
    assert (await api.send(first.envelope(b"b", token=second.token)))[0] == 201
    assert (await api.send(second.envelope(b"c", token=blocked)))[0] == 201

    # Blocked: no device registers the token any more, so every device refuses it.
    only_own = [base64.b64encode(delivery_token_hash(first.token)).decode()]
    assert (await api.call("PUT", "/v1/delivery-tokens", device=first.device, json_body={"token_hashes": only_own}))[
        0
    ] == 200
    for device in (first, second):
        status, answer = await api.send(device.envelope(b"d", token=blocked))
        assert status == 403, device
        assert isinstance(answer, dict)
        assert answer["error"] == "forbidden"
    # A token of another identity's device never reaches these.
    other = make_user()
    assert (await api.register(other))[0] == 201
    assert (await api.send(first.envelope(b"e", token=other.token)))[0] == 403


async def test_an_envelope_checked_before_the_removal_is_not_stored_after_it(relay: RunningRelay) -> None:
    # The handler checked the token before the list was committed; the store's own check keeps it out.
    api, store = relay.api, relay.relay.store
    first, lost = await _linked(api)
    assert (await _publish(api, first, _list(first.identity, first, version=2)))[0] == 201
    now = relay.relay.now_ms()
    late = NewEnvelope(os.urandom(16), lost.device_id, now, now + 60_000, b"late")
    kept = NewEnvelope(os.urandom(16), first.device_id, now, now + 60_000, b"kept")
    results = await store.store_envelopes([late, kept], relay.config.mailbox_quota)
    assert [r.status for r in results] == ["device_removed", "stored"]
    assert _rows(relay, "SELECT device_id FROM envelopes") == [(first.device_id,)]


async def test_removal_and_links_go_through_the_interfaces_alone(tmp_path: Path) -> None:
    # On the test implementations of every interface: the handlers use the store and the notifier's seams only.
    parts = MemoryBackend()
    relay = await run_relay(relay_config(tmp_path), backend=parts.backend())
    try:
        api = relay.api
        first, lost = await _linked(api)
        ws = await api.ws(lost)
        assert (await _publish(api, first, _list(first.identity, first, version=2)))[0] == 201
        assert parts.notifier.disconnected == [lost.device_id]
        closing = await ws.receive(timeout=5)
        assert (closing.type, closing.data, closing.extra) == (aiohttp.WSMsgType.CLOSE, 4410, "device_removed")
        await ws.close()
        assert await api.pull(lost) == (410, REMOVED)
        assert lost.device_id in parts.store.removed
        channel = "ab" * 32
        assert await api.call("PUT", f"/v1/links/{channel}/3", body=b"m", content_type=OCTET) == (201, {"slot": 3})
        assert await api.call("GET", f"/v1/links/{channel}/3") == (200, b"m")
        assert parts.store.links[(bytes.fromhex(channel), 3)][1] == b"m"
    finally:
        await stop_relay(relay)


# -- who may publish a device list (SPEC 15.7) --------------------------------------------------------------------


def _listed(relay: RunningRelay, address: bytes) -> list[tuple[object, ...]]:
    return _rows(relay, "SELECT device_id FROM listed_devices WHERE address = ? ORDER BY device_id", address)


async def test_holding_the_identity_key_is_not_enough_to_publish_a_list(relay: RunningRelay) -> None:
    """A thief with a removed device holds the identity key: a list it signs (re-listing itself) is refused
    unsigned (401), signed by its removed device (410), or signed by a device of another identity (403); the
    relay's list stays the owner's."""
    api = relay.api
    first, stolen = await _linked(api)
    assert (await _publish(api, first, _list(first.identity, first, version=2)))[0] == 201  # the owner removes it
    before = _listed(relay, first.identity.public.address.raw)
    comeback = _list(first.identity, first, stolen, version=3)
    status, answer = await _publish(api, first, comeback, signed=False)
    assert status == 401
    assert isinstance(answer, dict)
    assert answer["error"] == "unauthorized"
    assert await api.call(
        "PUT", f"/v1/documents/{first.address}", device=stolen.device, body=comeback, content_type=OCTET
    ) == (410, REMOVED)
    stranger = make_user()
    assert (await api.register(stranger))[0] == 201
    status, answer = await api.call(
        "PUT", f"/v1/documents/{first.address}", device=stranger.device, body=comeback, content_type=OCTET
    )
    assert status == 403
    assert isinstance(answer, dict)
    assert answer["error"] == "forbidden"
    assert _listed(relay, first.identity.public.address.raw) == before
    assert (await api.register(stolen)) == (410, REMOVED)


async def test_the_recovery_authority_lists_a_device_the_relay_does_not_know(relay: RunningRelay) -> None:
    """A restore: the new device is unknown to the relay, so it signs the list that adds it with the recovery
    authority, whose public key a listed device registered. Without that key registered, or with another code's
    signature, or over other bytes, nothing is published."""
    api = relay.api
    first = make_user()
    assert (await api.register(first))[0] == 201
    assert (await _publish(api, first, _list(first.identity, first, version=1)))[0] == 201
    restored = _device_of(first)
    adding = _list(first.identity, first, restored, version=2)
    path = f"/v1/documents/{first.address}"
    code, _backup = create_recovery(_secret_keys(first), rng=os.urandom)
    authority = recovery_authority(code)
    signed = sign_recovery_publish(authority, adding)
    status, answer = await api.call("PUT", path, body=adding, content_type=OCTET, headers=signed)
    assert status == 403
    assert isinstance(answer, dict)
    assert "no recovery key" in answer["message"]
    key = authority.public_key().public_bytes_raw()
    status, _ = await api.call("PUT", "/v1/recovery-key", device=first.device, json_body={"key": b64(key)})
    assert status == 200
    other_code, _ = create_recovery(_secret_keys(first), rng=os.urandom)
    wrong = sign_recovery_publish(recovery_authority(other_code), adding)
    status, answer = await api.call("PUT", path, body=adding, content_type=OCTET, headers=wrong)
    assert status == 401
    assert isinstance(answer, dict)
    assert answer["error"] == "unauthorized"
    elsewhere = sign_recovery_publish(authority, _list(first.identity, first, restored, version=9))
    status, _ = await api.call("PUT", path, body=adding, content_type=OCTET, headers=elsewhere)
    assert status == 401
    assert (await api.register(restored)) == (403, APPROVE)
    assert (await api.call("PUT", path, body=adding, content_type=OCTET, headers=signed))[0] == 201
    assert (await api.register(restored))[0] == 201
    status, _ = await api.call("PUT", "/v1/recovery-key", body=b'{"key": "AAAA"}', content_type="application/json")
    assert status == 401  # registering a recovery key takes a signed request by a device of the identity


def _secret_keys(user: User) -> SecretKeys:
    return SecretKeys(user.identity, user.device, os.urandom(32))
