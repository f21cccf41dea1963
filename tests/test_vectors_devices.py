"""Check ``devices.json`` (SPEC 12 kind 6, the signed device list; SPEC 8 types 10 to 12) from its own inputs, the
way another implementation would: the keys from the listed draws, the list's layout sliced by hand and its
signatures (the document's and every certificate's) verified with ``cryptography``'s Ed25519, then the formats
run through the public API. :func:`check_devices` has the shape of ``tests/test_vectors.py``'s ``CHECKS``
entries.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.keys.device import DeviceKeyPair
from confide.keys.errors import ConfideError
from confide.keys.identity import IdentityKeyPair
from confide.keys.recovery import recovery_authority
from confide.protocol import content as c
from confide.protocol.auth import check_recovery_publish
from confide.protocol.device_list import (
    DEVICE_LIST_LIFETIME_S,
    DeviceEntry,
    DeviceOrigin,
    device_ids,
    diff_devices,
    parse_device_list,
    sign_device_list,
)
from confide.protocol.documents import VersionGuard
from confide.protocol.errors import AuthError

Json = dict[str, Any]
DEVICES_LABEL = b"Confide-document-devices-v1"
CERT_LABEL = b"Confide-device-v1"
DEVICE_ID_LABEL = b"Confide-device-id-v1"
HEADER_LEN = 1 + 1 + 128 + 8 + 8 + 8 + 4


def _b(value: str) -> bytes:
    return bytes.fromhex(value)


def _run(want: Json, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn`` succeeds (its value) or raises exactly the class ``want`` names."""
    if want["result"] == "ok":
        return fn(*args, **kwargs)
    with pytest.raises(ConfideError) as info:
        fn(*args, **kwargs)
    assert type(info.value).__name__ == want["error"], (want["why"], type(info.value))
    return None


def _by_hand(document: bytes, signer: IdentityKeyPair, entries: list[Json], publics: list[bytes]) -> None:
    """The layout of SPEC 12 kind 6, sliced without the library; every signature checked with Ed25519."""
    assert document[0] == 1
    assert document[1] == 6
    assert document[2:130] == signer.public.to_bytes()
    body_len = int.from_bytes(document[154:158], "big")
    body = document[HEADER_LEN : HEADER_LEN + body_len]
    assert len(document) == HEADER_LEN + body_len + 64
    signing = Ed25519PublicKey.from_public_bytes(document[2:34])
    signing.verify(document[-64:], DEVICES_LABEL + document[:-64])
    assert body[0] == len(entries)
    for i, entry in enumerate(entries):
        raw = body[1 + 105 * i : 1 + 105 * (i + 1)]
        assert raw[:32] == publics[i] == _b(entry["device"])
        signing.verify(raw[32:96], CERT_LABEL + raw[:32])
        assert int.from_bytes(raw[96:104], "big") == entry["added_at"]
        assert raw[104] == DeviceOrigin[entry["origin"].upper()]


def _content(v: Json) -> c.Content:
    body = v["body"]
    made: c.Body
    if v["type"] == "sync":
        made = c.SentSync(_b(body["peer"]), c.Content.from_bytes(_b(body["inner"])))
    elif v["type"] == "devices":
        made = c.DeviceListNotice(_b(body["document"]))
    else:
        assert v["type"] == "contact"
        token, inbound = body["token"], body["inbound_token"]
        made = c.ContactSnapshot(
            _b(body["peer"]),
            _b(body["identity"]),
            body["verified"],
            body["blocked"],
            body["request"],
            body["name"],
            body["timer_s"],
            None if token is None else _b(token),
            None if inbound is None else _b(inbound),
        )
    return c.Content(_b(v["message_id"]), v["sent_at_ms"], v["expire_after_s"], made)


def _contact_by_hand(encoded: bytes, body: Json) -> None:
    """SPEC 8 type 12, sliced without the library."""
    assert encoded[1] == 12
    rest = encoded[30:]
    assert rest[:20] == _b(body["peer"])
    assert rest[20:148] == _b(body["identity"])
    assert rest[148] == body["verified"] | body["blocked"] << 1 | body["request"] << 2
    name = body["name"].encode()
    assert rest[149] == len(name)
    assert rest[150 : 150 + len(name)] == name
    at = 150 + len(name)
    assert int.from_bytes(rest[at : at + 4], "big") == body["timer_s"]


def _check_recovery(inp: Json, exp: Json) -> None:
    """SPEC 10.3 / 15.7: the recovery authority from the code's secret (HKDF, then Ed25519), and the header."""
    secret = _b(inp["secret"])
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"Confide-recovery-auth-v1").derive(secret)
    assert seed.hex() == exp["authority_seed"]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert key.public_key().public_bytes_raw().hex() == exp["authority_public"]
    assert recovery_authority(inp["code"]).private_bytes_raw() == seed  # the code names that secret
    document = _b(inp["document"])
    signature = base64.urlsafe_b64decode(exp["header"] + "==")
    assert len(exp["header"]) == 86
    key.public_key().verify(signature, b"Confide-recovery-publish-v1" + hashlib.sha256(document).digest())
    check_recovery_publish(key.public_key().public_bytes_raw(), exp["header"], document)
    with pytest.raises(AuthError):
        check_recovery_publish(key.public_key().public_bytes_raw(), exp["header"], document + b"\x00")


def check_devices(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    draws = [_b(x) for x in inp["rng_outputs"]]
    assert len(draws) == len(inp["draw_order"])
    ids = {name: IdentityKeyPair.from_private_bytes(_b(k)) for name, k in inp["identities"].items()}
    rivera = ids["rivera"]
    devices = [DeviceKeyPair.from_private_bytes(_b(k), rivera) for k in inp["rivera_devices"]]
    assert [k.private_bytes() for k in ids.values()] == [draws[0] + draws[1], draws[2] + draws[3]]
    assert [dev.private_bytes() for dev in devices] == draws[6:13]
    publics = [
        Ed25519PrivateKey.from_private_bytes(dev.private_bytes()).public_key().public_bytes_raw() for dev in devices
    ]
    other_device = DeviceKeyPair.from_private_bytes(_b(inp["other_device"]), ids["other"])
    assert other_device.private_bytes() == draws[13]

    _check_recovery(inp["recovery"], exp["recovery"])
    for value, want in zip(inp["lists"], exp["lists"], strict=True):
        signer = ids[value["signer"]]
        entries = [
            DeviceEntry(devices[i].certificate, e["added_at"], DeviceOrigin[e["origin"].upper()])
            for i, e in zip(value["devices"], value["entries"], strict=True)
        ]
        data = sign_device_list(signer, entries, version=value["version"], now=value["now"])
        assert data == _b(want["document"]), value["why"]
        _by_hand(data, signer, value["entries"], [publics[i] for i in value["devices"]])
        doc = parse_device_list(data, identity=signer.public, now=inp["now"])
        assert doc.to_bytes() == data
        assert doc.expires_at == value["now"] + DEVICE_LIST_LIFETIME_S == want["expires_at"]
        by_hand_ids = [hashlib.sha256(DEVICE_ID_LABEL + publics[i]).digest()[:16].hex() for i in value["devices"]]
        assert [i.hex() for i in device_ids(doc)] == want["device_ids"] == by_hand_ids

    for case, want in zip(inp["malformed_lists"], exp["malformed_lists"], strict=True):
        signer = case["expected_signer"]
        identity = None if signer is None else ids[signer].public
        _run(want, parse_device_list, _b(case["document"]), identity=identity, now=case["now"])

    seen = parse_device_list(_b(inp["seen"]["document"]), identity=rivera.public, now=inp["now"])
    guard = VersionGuard.of(seen)
    assert (guard.version, guard.digest.hex()) == (inp["seen"]["version"], inp["seen"]["digest"])
    for case, want in zip(inp["replacements"], exp["replacements"], strict=True):
        doc = parse_device_list(_b(case["document"]), identity=rivera.public, now=inp["now"])
        _run(want, guard.advance, doc)
        change = diff_devices(seen, doc)
        assert [i.hex() for i in change.added] == want["added"]
        assert [i.hex() for i in change.removed] == want["removed"]

    for value, want in zip(inp["contents"], exp["contents"], strict=True):
        content = _content(value)
        encoded = _b(want["encoded"])
        assert content.to_bytes() == encoded, value["why"]
        assert c.Content.from_bytes(encoded) == content
        if value["type"] == "sync":
            inner = _b(value["body"]["inner"])
            assert encoded[1] == 10
            assert encoded[2:30] == inner[2:30]
            assert encoded[30:50] == _b(value["body"]["peer"])
            assert encoded[50:54] == len(inner).to_bytes(4, "big")
            assert encoded[54:] == inner
        elif value["type"] == "devices":
            document = _b(value["body"]["document"])
            assert encoded[1] == 11
            assert encoded[30:] == len(document).to_bytes(4, "big") + document
        else:
            _contact_by_hand(encoded, value["body"])
    for case, want in zip(inp["malformed_contents"], exp["malformed_contents"], strict=True):
        assert want["error"] == "RemoteProtocolError"
        _run(want, c.Content.from_bytes, _b(case["data"]))
