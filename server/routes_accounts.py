"""Accounts and keys: registration, prekey bundles, prekey refills, delivery tokens (docs/relay-api.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from aiohttp import web

from confide.keys import (
    Address,
    DeviceCertificate,
    IdentityPublicKey,
    KemPreKeyPublic,
    MalformedKey,
    OneTimePreKeyPublic,
    SignedPreKeyPublic,
)
from confide.keys.prekeys import BUNDLE_VERSION, KEM_PREKEY_LEN, ONE_TIME_PREKEY_LEN, SIGNED_PREKEY_LEN
from confide.protocol.auth import work_ok
from confide.protocol.documents import DocumentKind
from confide.protocol.envelope import DELIVERY_TOKEN_LEN

from .bodies import (
    b64_field,
    b64_list_field,
    optional_b64_field,
    parse_json_object,
    read_limited,
    require_content_type,
)
from .errors import Malformed, NotFound, Unauthorized, WorkRequired
from .limits import (
    MAX_JSON_BODY,
    MAX_KEM_ONE_TIME_UPLOAD,
    MAX_ONE_TIME_UPLOAD,
    MAX_TOKEN_HASHES,
    ONE_TIME_KEYS_PER_DEVICE_FETCH,
    WORK_CHALLENGE_TTL_S,
)
from .room import ensure_room
from .state import RELAY, Relay
from .storage import BundleParts, KeyRecord, PrekeyCounts, PrekeyUpdate, Registration

_IDENTITY_LEN = 128
_DEVICE_CERT_LEN = 96

_PREKEY_FIELDS = frozenset({"signed_prekey", "kem_last_resort", "one_time_prekeys", "kem_one_time_prekeys"})
_REGISTRATION_FIELDS = _PREKEY_FIELDS | {"identity", "device", "delivery_token_hashes", "work_challenge", "work_nonce"}
_CHALLENGE_LEN = 8 + 16
"""A challenge: its expiry (u64 unix seconds) and 16 bytes of HMAC-SHA256 over it under the relay's key."""
_WORK_NONCE_MAX = 16
_TOKEN_FIELDS = frozenset({"token_hashes"})

routes = web.RouteTableDef()


def _signed_prekey(data: bytes, identity: IdentityPublicKey) -> KeyRecord:
    spk = SignedPreKeyPublic.parse(data, identity)
    return KeyRecord(spk.key_id, spk.to_bytes())


def _kem_prekey(data: bytes, identity: IdentityPublicKey, *, last_resort: bool) -> KeyRecord:
    kem = KemPreKeyPublic.parse(data, identity)
    if kem.last_resort != last_resort:
        kind = "a last-resort" if last_resort else "a one-time"
        raise MalformedKey(f"expected {kind} ML-KEM prekey (check the last-resort flag)")
    return KeyRecord(kem.key_id, kem.to_bytes())


def _one_time(data: bytes) -> KeyRecord:
    otk = OneTimePreKeyPublic.parse(data)
    return KeyRecord(otk.key_id, otk.to_bytes())


def _token_hashes(obj: dict[str, Any], name: str) -> tuple[bytes, ...]:
    hashes = b64_list_field(obj, name, MAX_TOKEN_HASHES, DELIVERY_TOKEN_LEN)
    if any(len(h) != DELIVERY_TOKEN_LEN for h in hashes):
        raise Malformed("each delivery token hash is 32 bytes (SHA-256 of the labelled token)")
    return tuple(hashes)


def _prekey_update(o: dict[str, Any], identity: IdentityPublicKey, *, required: bool) -> PrekeyUpdate:
    if required:
        spk: bytes | None = b64_field(o, "signed_prekey", SIGNED_PREKEY_LEN)
        klr: bytes | None = b64_field(o, "kem_last_resort", KEM_PREKEY_LEN)
    else:
        spk = optional_b64_field(o, "signed_prekey", SIGNED_PREKEY_LEN)
        klr = optional_b64_field(o, "kem_last_resort", KEM_PREKEY_LEN)
    otks = b64_list_field(o, "one_time_prekeys", MAX_ONE_TIME_UPLOAD, ONE_TIME_PREKEY_LEN, required=False)
    kems = b64_list_field(o, "kem_one_time_prekeys", MAX_KEM_ONE_TIME_UPLOAD, KEM_PREKEY_LEN, required=False)
    return PrekeyUpdate(
        None if spk is None else _signed_prekey(spk, identity),
        None if klr is None else _kem_prekey(klr, identity, last_resort=True),
        tuple(_one_time(k) for k in otks),
        tuple(_kem_prekey(k, identity, last_resort=False) for k in kems),
    )


def _counts_json(c: PrekeyCounts) -> dict[str, int]:
    return {
        "one_time": c.one_time,
        "kem_one_time": c.kem_one_time,
        "signed_prekey_id": c.signed_prekey_id,
        "kem_last_resort_id": c.kem_last_resort_id,
    }


def _challenge_mac(relay: Relay, expires: bytes) -> bytes:
    return hmac.new(relay.work_secret, b"confide-work-challenge" + expires, hashlib.sha256).digest()[:16]


@routes.get("/v1/accounts/challenge")
async def challenge(request: web.Request) -> web.Response:
    """A fresh registration challenge and the work the relay asks (leading zero bits); nothing is stored."""
    relay: Relay = request.app[RELAY]
    expires = int(relay.clock()) + WORK_CHALLENGE_TTL_S
    raw = expires.to_bytes(8, "big") + _challenge_mac(relay, expires.to_bytes(8, "big"))
    bits = relay.config.registration_work_bits
    return web.json_response({"challenge": base64.b64encode(raw).decode(), "bits": bits, "expires_at": expires})


def _check_work(relay: Relay, obj: dict[str, Any], device_id: bytes) -> None:
    """Raise :class:`WorkRequired` unless the registration carries valid work (when the relay asks for any)."""
    bits = relay.config.registration_work_bits
    if bits == 0:
        return
    if "work_challenge" not in obj or "work_nonce" not in obj:
        raise WorkRequired(f"registration needs proof of work: GET /v1/accounts/challenge, then {bits} bits")
    raw = b64_field(obj, "work_challenge", _CHALLENGE_LEN)
    nonce = b64_field(obj, "work_nonce", _WORK_NONCE_MAX)
    if len(raw) != _CHALLENGE_LEN or not hmac.compare_digest(raw[8:], _challenge_mac(relay, raw[:8])):
        raise WorkRequired("this registration challenge was not issued by this relay; fetch a new one")
    if int.from_bytes(raw[:8], "big") < relay.clock():
        raise WorkRequired("this registration challenge expired; fetch a new one and redo the work")
    if not work_ok(raw, device_id, nonce, bits):
        raise WorkRequired(f"the registration work does not have {bits} leading zero bits; redo it")


@routes.post("/v1/accounts")
async def register(request: web.Request) -> web.Response:
    """Register an identity and a device (idempotent); the proof must be signed by that device. An address with a
    signed device list registers only the devices it names; one without registers its first device only; a
    device a list removed gets 410 ``device_removed`` (the store decides, atomically with the write)."""
    relay = request.app[RELAY]
    proof = relay.auth.parse(request)
    require_content_type(request, "application/json")
    body = await read_limited(request, MAX_JSON_BODY)
    obj = parse_json_object(body, _REGISTRATION_FIELDS)
    identity = IdentityPublicKey.from_bytes(b64_field(obj, "identity", _IDENTITY_LEN))
    device = DeviceCertificate.from_bytes(b64_field(obj, "device", _DEVICE_CERT_LEN), identity)
    if not hmac.compare_digest(proof.device_id, device.device_id):
        raise Unauthorized("sign the registration with the key of the device being registered")
    _check_work(relay, obj, device.device_id)
    known = await relay.store.device(device.device_id)
    floor, floor_nonces = (0, b"") if known is None else (known.replay_floor, known.replay_nonces)
    await relay.auth.verify(request, proof, device.public_key, body, floor, floor_nonces)
    await ensure_room(relay, len(body))
    tokens = _token_hashes(obj, "delivery_token_hashes")
    keys = _prekey_update(obj, identity, required=True)
    assert keys.signed_prekey is not None
    assert keys.kem_last_resort is not None
    reg = Registration(
        identity.address.raw,
        identity.to_bytes(),
        device.device_id,
        device.to_bytes(),
        tokens,
        keys.signed_prekey,
        keys.kem_last_resort,
        keys.one_time,
        keys.kem_one_time,
        proof.timestamp,
        proof.nonce,
        relay.now_ms(),
    )
    created = await relay.store.register(reg)
    return web.json_response(
        {"address": identity.address.text, "device_id": device.device_id.hex()}, status=201 if created else 200
    )


def _bundle_bytes(p: BundleParts) -> bytes:
    otk = b"\x00" if p.one_time is None else b"\x01" + p.one_time
    return bytes((BUNDLE_VERSION,)) + p.identity + p.device_cert + p.signed_prekey + otk + p.kem


@routes.get("/v1/accounts/{address}/bundle")
async def bundle(request: web.Request) -> web.Response:
    """Hand out a prekey bundle per device of the address (only the devices its signed device list names, when it
    has one, with that list's bytes); one-time keys at most once, within budget."""
    relay: Relay = request.app[RELAY]
    now = relay.clock()
    await relay.bundle_limiter.take(request.remote or "", now)
    address = Address.parse(request.match_info["address"])
    devices = await relay.store.device_count(address.raw)
    if devices == 0:
        raise NotFound("no account has this address on this relay; check the address")
    # Pay for every one-time key the fetch may hand out (both kinds, every device) before taking any, in one
    # atomic step: concurrent fetches from any number of addresses never hand out more than the budget.
    paid = await relay.bundle_budget.try_spend(address.raw, now, ONE_TIME_KEYS_PER_DEVICE_FETCH * devices)
    parts = await relay.store.take_bundles(address.raw, consume=devices if paid else 0)
    if not parts:
        raise NotFound("no account has this address on this relay; check the address")
    answer: dict[str, object] = {
        "address": address.text,
        "devices": [
            {"device_id": p.device_id.hex(), "bundle": base64.b64encode(_bundle_bytes(p)).decode()} for p in parts
        ],
    }
    listed = await relay.store.document(address.raw, int(DocumentKind.DEVICES))
    if listed is not None and listed.expires_at_ms > relay.now_ms():
        answer["device_list"] = base64.b64encode(listed.data).decode()
    return web.json_response(answer)


@routes.get("/v1/prekeys")
async def prekey_counts(request: web.Request) -> web.Response:
    """Counts of the calling device's prekeys on the relay."""
    relay = request.app[RELAY]
    device = await relay.auth.authenticate(request, await read_limited(request, 0))
    return web.json_response(_counts_json(await relay.store.prekey_counts(device.device_id)))


@routes.put("/v1/prekeys")
async def put_prekeys(request: web.Request) -> web.Response:
    """Refill one-time prekeys and/or rotate the signed and last-resort prekeys."""
    relay = request.app[RELAY]
    require_content_type(request, "application/json")
    body = await read_limited(request, MAX_JSON_BODY)
    device = await relay.auth.authenticate(request, body)
    identity = IdentityPublicKey.from_bytes(device.identity)
    update = _prekey_update(parse_json_object(body, _PREKEY_FIELDS), identity, required=False)
    return web.json_response(_counts_json(await relay.store.put_prekeys(device.device_id, update)))


@routes.put("/v1/delivery-tokens")
async def put_delivery_tokens(request: web.Request) -> web.Response:
    """Replace the calling device's delivery-token hashes."""
    relay = request.app[RELAY]
    require_content_type(request, "application/json")
    body = await read_limited(request, MAX_JSON_BODY)
    device = await relay.auth.authenticate(request, body)
    hashes = _token_hashes(parse_json_object(body, _TOKEN_FIELDS), "token_hashes")
    return web.json_response({"count": await relay.store.replace_tokens(device.device_id, hashes)})


_RECOVERY_FIELDS = frozenset({"key"})
_RECOVERY_KEY_LEN = 32
"""An Ed25519 public key (the recovery authority's, keys/recovery.py ``recovery_authority``)."""


@routes.put("/v1/recovery-key")
async def put_recovery_key(request: web.Request) -> web.Response:
    """Register (or replace) the calling identity's recovery authority key: a device list signed with it is kept
    from a device not registered yet (a restore from the recovery backup, SPEC 15.7)."""
    relay = request.app[RELAY]
    require_content_type(request, "application/json")
    body = await read_limited(request, MAX_JSON_BODY)
    device = await relay.auth.authenticate(request, body)
    key = b64_field(parse_json_object(body, _RECOVERY_FIELDS), "key", _RECOVERY_KEY_LEN)
    if len(key) != _RECOVERY_KEY_LEN:
        raise Malformed("the recovery key is 32 bytes (an Ed25519 public key)")
    await relay.store.set_recovery_key(device.address, key, relay.now_ms())
    return web.json_response({"address": Address(device.address).text})
