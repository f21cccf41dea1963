"""Check the committed test vectors (tests/vectors/*.json) against the implementation, and that the generator
reproduces them.

Each file is checked from its own inputs through the public APIs, the way another implementation would use
it; the generator is imported only to test that it reproduces the committed files byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.keys.address import Address
from confide.keys.device import DeviceKeyPair
from confide.keys.errors import ConfideError
from confide.keys.identity import IdentityKeyPair, IdentityPublicKey
from confide.keys.prekeys import KemPreKeyRecord, OneTimePreKeyRecord, PreKeyBundle, SignedPreKeyRecord
from confide.protocol import errors as protocol_errors
from confide.protocol.attachment import AttachmentDecryptor, AttachmentEncryptor, expected_blob_size, padded_size
from confide.protocol.auth import AuthProof, sign_request
from confide.protocol.envelope import (
    MAX_ENVELOPE_LEN,
    Delivery,
    Envelope,
    decode_batch,
    delivery_token_hash,
    encode_batch,
)
from confide.protocol.padding import bucket_for, pad, unpad
from confide.protocol.pqxdh import respond
from confide.protocol.ratchet import RatchetState
from confide.protocol.sealed import SenderCertificate, seal, unseal
from confide.protocol.session import MSG_PREKEY, accept_session, parse_inner

from .protocol.test_documents_vectors import check_documents
from .test_vectors_devices import check_devices
from .test_vectors_franking import check_franking
from .test_vectors_link import check_link
from .test_vectors_practice import check_contact_card, check_franking_binding, check_report_file
from .vectors.generate import RecordingRng

Json = dict[str, Any]

VECTORS = Path(__file__).resolve().parent / "vectors"
GENERATOR = VECTORS / "generate.py"
RNG_ALGORITHM = "SHAKE-256(seed || u64be counter), n bytes per call"
KEM_FILE = "pqxdh_first_message.json"
REQUIRED = {
    "address",
    "identity_and_bundle",
    "bundle_forged_signature",
    "pqxdh_first_message",
    "pqxdh_tampered",
    "ratchet_conversation",
    "ratchet_tampered",
    "ratchet_duplicate",
    "ratchet_limits",
    "sealed_sender",
    "sealed_wrong_recipient",
    "padding",
    "envelope",
    "device_auth",
    "content",
    "keystore",
    "safety_number",
    "attachment",
    "recovery",
    "qr_text",
    "ed25519",
    "documents",
    "franking",
    "franking_binding",
    "report_file",
    "contact_card",
    "devices",
    "link",
}
"""Every scenario of protocol/SPEC.md section 11: each must be present, and each has a check."""
FILES = sorted(VECTORS.glob("*.json"))


# -- helpers -----------------------------------------------------------------------------------------------


class SeededRng:
    """The vectors' DRBG, written again from its description: call k gives SHAKE-256(seed || u64be k)[:n]."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)


class ScriptedRng:
    """Hands out exactly the listed outputs, in order, and fails on any other request."""

    def __init__(self, outputs: list[bytes]) -> None:
        self._outputs = list(outputs)

    def __call__(self, n: int) -> bytes:
        assert self._outputs, "the implementation drew more randomness than the vector lists"
        out = self._outputs.pop(0)
        assert len(out) == n, "the implementation drew a different number of bytes than the vector lists"
        return out

    def done(self) -> None:
        assert not self._outputs, "the implementation drew less randomness than the vector lists"


def b(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def run(expected: Json, fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)``; it must succeed (returning its value) or raise exactly ``expected["error"]``."""
    if expected["result"] == "ok":
        return fn(*args)
    assert expected["result"] == "error"
    with pytest.raises(ConfideError) as info:
        fn(*args)
    assert type(info.value).__name__ == expected["error"]
    return None


def load(path: Path) -> Json:
    data: Json = json.loads(path.read_text(encoding="utf-8"))
    return data


# -- keys ------------------------------------------------------------------------------------------------


def check_address(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    rng = SeededRng(b(d["seed"]))
    for key, want in zip(inp["signing_keys"], exp["addresses"], strict=True):
        assert rng(32) == b(key["signing_seed"])
        public = Ed25519PrivateKey.from_private_bytes(b(key["signing_seed"])).public_key().public_bytes_raw()
        assert public == b(key["signing_public"])
        addr = Address.from_identity_signing_key(public)
        assert addr.raw == b(want["address"])
        assert addr.text == want["text"]
        assert Address.parse(want["text"]) == addr
    for text in inp["accepted_variants"]:
        assert Address.parse(text).raw == b(exp["accepted_variants_address"])
    for case, want in zip(inp["invalid"], exp["invalid"], strict=True):
        assert want == {"why": case["why"], "result": "error", "error": "InvalidAddress"}
        run(want, Address.parse, case["text"])


def _responder(
    rng: Callable[[int], bytes], now: int
) -> tuple[IdentityKeyPair, DeviceKeyPair, SignedPreKeyRecord, list[OneTimePreKeyRecord], list[KemPreKeyRecord]]:
    identity = IdentityKeyPair.generate(rng)
    device = DeviceKeyPair.generate(identity, rng)
    signed = SignedPreKeyRecord.generate(identity, 1, rng, now)
    one_time = OneTimePreKeyRecord.generate_batch(100, 2, rng)
    kems = [
        KemPreKeyRecord.generate(identity, 1, rng, now, last_resort=True),
        KemPreKeyRecord.generate(identity, 200, rng, now, last_resort=False),
    ]
    return identity, device, signed, one_time, kems


def check_identity_and_bundle(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    rng = RecordingRng(SeededRng(b(d["seed"])))
    identity, device, signed, one_time, kems = _responder(rng, inp["now"])
    assert rng.take() == inp["rng_outputs"]
    # generated from the seed
    assert identity.private_bytes() == b(exp["identity_private"])
    assert identity.public.to_bytes() == b(exp["identity_public"])
    assert device.certificate.to_bytes() == b(exp["device_certificate"])
    assert signed.to_bytes() == b(exp["signed_prekey"]["record"])
    assert [k.to_bytes() for k in one_time] == [b(k["record"]) for k in exp["one_time_prekeys"]]
    assert [k.to_bytes() for k in kems] == [b(k["record"]) for k in exp["kem_prekeys"]]
    # loaded from the private forms
    identity = IdentityKeyPair.from_private_bytes(b(exp["identity_private"]))
    assert identity.public.to_bytes() == b(exp["identity_public"])
    assert identity.address.raw == b(exp["address"])
    assert identity.address.text == exp["address_text"]
    device = DeviceKeyPair.from_private_bytes(b(exp["device_private"]), identity)
    assert device.certificate.to_bytes() == b(exp["device_certificate"])
    assert device.device_id == b(exp["device_id"])
    spk = SignedPreKeyRecord.from_bytes(b(exp["signed_prekey"]["record"]))
    assert (spk.key_id, spk.created_at) == (exp["signed_prekey"]["key_id"], exp["signed_prekey"]["created_at"])
    assert spk.public.to_bytes() == b(exp["signed_prekey"]["public"])
    for k in exp["one_time_prekeys"]:
        otk = OneTimePreKeyRecord.from_bytes(b(k["record"]))
        assert otk.key_id == k["key_id"]
        assert otk.public.to_bytes() == b(k["public"])
    for k in exp["kem_prekeys"]:
        kem = KemPreKeyRecord.from_bytes(b(k["record"]))
        assert (kem.key_id, kem.last_resort, kem.seed) == (k["key_id"], k["last_resort"], b(k["seed"]))
        assert kem.public.to_bytes() == b(k["public"])
    # the private record layouts of SPEC section 1, byte by byte (not through the parsers)
    signing = Ed25519PrivateKey.from_private_bytes(b(exp["identity_private"])[:32]).public_key()
    record = b(exp["signed_prekey"]["record"])
    assert len(record) == 4 + 32 + 64 + 8
    assert int.from_bytes(record[:4], "big") == exp["signed_prekey"]["key_id"]
    assert int.from_bytes(record[-8:], "big") == exp["signed_prekey"]["created_at"] == inp["now"]
    for k in exp["kem_prekeys"]:
        record = b(k["record"])
        key_id, flags, seed, signature = record[:4], record[4:5], record[5:69], record[69:133]
        assert len(record) == 4 + 1 + 64 + 64 + 8
        assert (int.from_bytes(key_id, "big"), flags[0], seed) == (k["key_id"], int(k["last_resort"]), b(k["seed"]))
        assert int.from_bytes(record[133:], "big") == inp["now"]  # created_at, not signed
        mlkem_public = MLKEM768PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw()  # seed = d || z
        assert b(k["public"]) == key_id + flags + mlkem_public + signature
        signing.verify(signature, b"Confide-kem-prekey-v1" + key_id + flags + mlkem_public)
    # bundles
    address = Address.parse(exp["address_text"])
    for field, otk_id, kem_id in (("bundle", 100, 200), ("bundle_without_one_time", None, 1)):
        raw = b(exp[field])
        bundle = PreKeyBundle.from_bytes(raw)
        assert bundle.to_bytes() == raw
        bundle.check_address(address)
        assert bundle.identity.to_bytes() == b(exp["identity_public"])
        assert bundle.device.to_bytes() == b(exp["device_certificate"])
        assert bundle.signed_prekey.to_bytes() == b(exp["signed_prekey"]["public"])
        assert (None if bundle.one_time_prekey is None else bundle.one_time_prekey.key_id) == otk_id
        assert bundle.kem_prekey.key_id == kem_id


def check_bundle_forged_signature(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    original = b(inp["bundle"])
    identity, device, signed, one_time, kems = _responder(SeededRng(b(d["seed"])), 0)
    regenerated = PreKeyBundle(identity.public, device.certificate, signed.public, one_time[0].public, kems[1].public)
    assert regenerated.to_bytes() == original
    assert exp["original"] == {"result": "ok"}
    PreKeyBundle.from_bytes(original)
    assert (exp["result"], exp["error"]) == ("error", "InvalidSignature")
    for case, want in zip(inp["cases"], exp["cases"], strict=True):
        forged = b(case["bundle"])
        assert len(forged) == len(original)
        assert [i for i in range(len(forged)) if forged[i] != original[i]] == [case["offset"]]
        assert want["error"] == "InvalidSignature"
        run(want, PreKeyBundle.from_bytes, forged)


# -- PQXDH -----------------------------------------------------------------------------------------------


class _Lookup:
    def __init__(self, responder: Json) -> None:
        self.signed = SignedPreKeyRecord.from_bytes(b(responder["signed_prekey_record"]))
        self.one_time = OneTimePreKeyRecord.from_bytes(b(responder["one_time_prekey_record"]))
        self.kem = KemPreKeyRecord.from_bytes(b(responder["kem_prekey_record"]))

    def signed_prekey(self, key_id: int) -> SignedPreKeyRecord | None:
        return self.signed if key_id == self.signed.key_id else None

    def one_time_prekey(self, key_id: int) -> OneTimePreKeyRecord | None:
        return self.one_time if key_id == self.one_time.key_id else None

    def kem_prekey(self, key_id: int) -> KemPreKeyRecord | None:
        return self.kem if key_id == self.kem.key_id else None


def _open_first(inp: Json, inner: bytes) -> tuple[bytes, int | None, int | None]:
    local = IdentityKeyPair.from_private_bytes(b(inp["responder"]["identity_private"]))
    kind, header, body = parse_inner(inner)
    assert kind == MSG_PREKEY
    assert header is not None
    _session, plaintext, otk, kem = accept_session(
        local, header, body, b(inp["initiator"]["device_id"]), _Lookup(inp["responder"]), SeededRng(b"responder")
    )
    return plaintext, otk, kem


def _check_pqxdh_responder(d: Json) -> tuple[IdentityKeyPair, Callable[[int], bytes]]:
    """Check the responder's records and the initiator's keys against the draws; return the responder's identity
    and the DRBG, positioned after the initiator's device key."""
    inp = d["inputs"]
    rng = SeededRng(b(d["seed"]))  # the draw order of inputs.draw_order
    identity, _device, signed, one_time, kems = _responder(rng, inp["now"])
    assert identity.private_bytes() == b(inp["responder"]["identity_private"])
    assert signed.to_bytes() == b(inp["responder"]["signed_prekey_record"])
    assert one_time[0].to_bytes() == b(inp["responder"]["one_time_prekey_record"])
    assert kems[1].to_bytes() == b(inp["responder"]["kem_prekey_record"])
    initiator = IdentityKeyPair.generate(rng)
    assert initiator.public.to_bytes() == b(inp["initiator"]["identity_public"])
    assert DeviceKeyPair.generate(initiator, rng).device_id == b(inp["initiator"]["device_id"])
    local = IdentityKeyPair.from_private_bytes(b(inp["responder"]["identity_private"]))
    assert local.public.to_bytes() == b(inp["responder"]["identity_public"])
    bundle = PreKeyBundle.from_bytes(b(inp["responder"]["bundle"]))
    lookup = _Lookup(inp["responder"])
    assert bundle.identity == local.public
    assert bundle.signed_prekey.to_bytes() == lookup.signed.public.to_bytes()
    assert bundle.one_time_prekey is not None
    assert bundle.one_time_prekey.to_bytes() == lookup.one_time.public.to_bytes()
    assert bundle.kem_prekey.to_bytes() == lookup.kem.public.to_bytes()
    return local, rng


def check_pqxdh_first_message(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    local, rng = _check_pqxdh_responder(d)
    assert rng(32) == b(inp["initiator"]["session_rng_seed"])  # the next draw after the initiator's device key
    inner = b(inp["inner_message"])
    kind, header, body = parse_inner(inner)
    assert kind == MSG_PREKEY
    assert header is not None
    # the initiator's draws: ephemeral key, ratchet key, header nonce (the KEM ciphertext came from OpenSSL)
    session_rng = SeededRng(b(inp["initiator"]["session_rng_seed"]))
    draws = [session_rng(32), session_rng(32), session_rng(12)]
    assert [x.hex() for x in draws] == inp["initiator"]["session_rng_outputs"]
    assert X25519PrivateKey.from_private_bytes(draws[0]).public_key().public_bytes_raw() == header.ephemeral
    assert body[:12] == draws[2]
    assert header.initiator.to_bytes() == b(inp["initiator"]["identity_public"])
    assert header.ephemeral == b(exp["ephemeral_public"])
    assert header.signed_prekey_id == exp["signed_prekey_id"]
    lookup = _Lookup(inp["responder"])
    # the intermediate values, from the primitives and the private records' raw bytes
    mid = exp["intermediate"]
    responder_private = b(inp["responder"]["identity_private"])
    spk = X25519PrivateKey.from_private_bytes(b(inp["responder"]["signed_prekey_record"])[4:36])
    opk = X25519PrivateKey.from_private_bytes(b(inp["responder"]["one_time_prekey_record"])[4:36])
    ik_b = X25519PrivateKey.from_private_bytes(responder_private[32:64])
    ik_a = X25519PublicKey.from_public_bytes(header.initiator.to_bytes()[32:64])
    ek_a = X25519PublicKey.from_public_bytes(header.ephemeral)
    dhs = [spk.exchange(ik_a), ik_b.exchange(ek_a), spk.exchange(ek_a), opk.exchange(ek_a)]
    assert [x.hex() for x in dhs] == [mid["dh1"], mid["dh2"], mid["dh3"], mid["dh4"]]
    kem_seed = b(inp["responder"]["kem_prekey_record"])[5 : 5 + 64]  # id u32 || last_resort u8 || seed(64) ...
    ss = MLKEM768PrivateKey.from_seed_bytes(kem_seed).decapsulate(header.kem_ciphertext)
    assert ss == b(mid["kem_shared_secret"])
    ikm = b"\xff" * 32 + b"".join(dhs) + ss
    sk = HKDF(hashes.SHA256(), 32, salt=bytes(32), info=b"Confide_PQXDH_X25519_SHA-256_ML-KEM-768_v1").derive(ikm)
    assert sk == b(mid["sk"])
    init = HKDF(hashes.SHA256(), 96, salt=None, info=b"Confide-ratchet-init-v1").derive(sk)
    assert init == b(exp["root_key"]) + b(exp["header_key_a"]) + b(exp["next_header_key_b"])
    agreement = respond(local, header, lookup.signed, lookup.one_time, lookup.kem)
    assert agreement.root_key == b(exp["root_key"])
    assert agreement.header_key_a == b(exp["header_key_a"])
    assert agreement.next_header_key_b == b(exp["next_header_key_b"])
    assert agreement.associated_data == b(exp["associated_data"])
    assert exp["result"] == "ok"
    plaintext, otk, kem = _open_first(inp, inner)
    assert plaintext == b(exp["plaintext"])
    assert (otk, kem) == (exp["used_one_time_prekey_id"], exp["used_kem_prekey_id"])


def check_pqxdh_tampered(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    _check_pqxdh_responder(d)
    assert "session_rng_seed" not in inp["initiator"]  # the initiator's session is the first-message file's
    original = b(inp["original_inner_message"])
    # Derived from the first-message vector next to it (the generator always writes both).
    first = load(folder / KEM_FILE)
    assert first["inputs"]["inner_message"] == inp["original_inner_message"]
    assert first["inputs"]["responder"] == inp["responder"]
    assert _open_first(inp, original)[0]  # the untampered message opens
    assert (exp["result"], exp["error"]) == ("error", "DecryptionError")
    for case, want in zip(inp["cases"], exp["cases"], strict=True):
        bad = b(case["inner_message"])
        assert [i for i in range(len(bad)) if bad[i] != original[i]] == [case["offset"]]
        parse_inner(bad)  # still well formed: the failure must come from the cryptography
        assert want["error"] == "DecryptionError"
        run(want, _open_first, inp, bad)


# -- Double Ratchet --------------------------------------------------------------------------------------


def check_ratchet(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    master = SeededRng(b(d["seed"]))
    for name in ("root_key", "header_key_a", "next_header_key_b", "responder_ratchet_private"):
        assert master(32) == b(inp[name])
    ad = b(inp["associated_data"])
    assert ad == b"Confide-AD-v1" + master(256)
    assert master(32) == b(inp["initiator_rng_seed"])
    assert master(32) == b(inp["responder_rng_seed"])
    rngs = {
        "initiator": RecordingRng(SeededRng(b(inp["initiator_rng_seed"]))),
        "responder": RecordingRng(SeededRng(b(inp["responder_rng_seed"]))),
    }
    root, hka, nhkb = b(inp["root_key"]), b(inp["header_key_a"]), b(inp["next_header_key_b"])
    responder_key = X25519PrivateKey.from_private_bytes(b(inp["responder_ratchet_private"]))
    assert responder_key.public_key().public_bytes_raw() == b(inp["responder_ratchet_public"])
    states = {
        "initiator": RatchetState.init_initiator(
            root, hka, nhkb, b(inp["responder_ratchet_public"]), rngs["initiator"]
        ),
        "responder": RatchetState.init_responder(
            root, hka, nhkb, b(inp["responder_ratchet_private"]), b(inp["responder_ratchet_public"])
        ),
    }
    assert rngs["initiator"].take() == inp["initiator_init_rng_outputs"]
    errors = set()
    for step in inp["steps"]:
        state, rng = states[step["party"]], rngs[step["party"]]
        if step["action"] == "encrypt_dropped":  # encrypted, never delivered: checked through a hash
            sent = b"".join(state.encrypt(b(step["plaintext"]), ad, rng) for _ in range(step["count"]))
            assert hashlib.sha256(sent).hexdigest() == step["ciphertexts_sha256"]
        elif step["action"] == "encrypt":  # the sending side, re-run: byte for byte
            assert step["result"] == "ok"
            assert state.encrypt(b(step["plaintext"]), ad, rng) == b(step["ciphertext"]), step["message"]
        else:  # the receiving side, replayed from the recorded ciphertext
            assert step["action"] == "decrypt"
            before = state.to_bytes()
            got = run(step, state.decrypt, b(step["ciphertext"]), ad, rng)
            if step["result"] == "ok":
                assert got == b(step["plaintext"]), step["message"]
            else:
                errors.add(step["error"])
                assert state.to_bytes() == before, "a failed decrypt changed the state"
        assert rng.take() == step["rng_outputs"], step["message"]
    if exp["result"] == "ok":
        assert not errors
    else:  # every failing step raises the top-level error or a subclass of it, and the top-level one occurs
        top = getattr(protocol_errors, exp["error"])
        assert all(issubclass(getattr(protocol_errors, e), top) for e in errors), errors
        assert exp["error"] in errors


# -- sealed sender ---------------------------------------------------------------------------------------


def _sealed_draws(seed: bytes) -> dict[str, bytes]:
    """The sealed-sender inputs in the vectors' draw order."""
    rng = SeededRng(seed)
    out = {
        "sender_identity_private": rng(32) + rng(32),
        "sender_device_private": rng(32),
        "reply_token": rng(32),
        "recipient_identity_private": rng(32) + rng(32),
        "inner": b"\x01" + rng(120),
        "ephemeral_private": rng(32),
    }
    return out


def check_sealed_sender(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    for name, value in _sealed_draws(b(d["seed"])).items():
        assert b(inp[name]) == value, name
    sender = IdentityKeyPair.from_private_bytes(b(inp["sender_identity_private"]))
    device = DeviceKeyPair.from_private_bytes(b(inp["sender_device_private"]), sender)
    cert = SenderCertificate(sender.public, device.certificate, b(inp["reply_token"]))
    assert cert.to_bytes() == b(exp["sender_certificate"])
    recipient = IdentityKeyPair.from_private_bytes(b(inp["recipient_identity_private"]))
    assert recipient.public.to_bytes() == b(inp["recipient_identity_public"])
    scripted = ScriptedRng([b(inp["ephemeral_private"])])
    assert seal(sender, cert, recipient.public, b(inp["inner"]), scripted) == b(exp["sealed"])
    scripted.done()
    got_cert, inner = unseal(recipient, b(exp["sealed"]))
    assert got_cert.to_bytes() == b(exp["sender_certificate"])
    assert inner == b(inp["inner"])


def check_sealed_wrong_recipient(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    openers = {
        "recipient": IdentityKeyPair.from_private_bytes(b(inp["recipient_identity_private"])),
        "other": IdentityKeyPair.from_private_bytes(b(inp["other_identity_private"])),
    }
    draws = _sealed_draws(b(d["seed"]))
    assert openers["recipient"].private_bytes() == draws["recipient_identity_private"]
    other = IdentityKeyPair.generate(SeededRng(b(d["seed"]) + b"/other"))
    assert other.private_bytes() == openers["other"].private_bytes()
    sender = IdentityKeyPair.from_private_bytes(draws["sender_identity_private"])
    device = DeviceKeyPair.from_private_bytes(draws["sender_device_private"], sender)
    cert = SenderCertificate(sender.public, device.certificate, draws["reply_token"])
    sealed = seal(sender, cert, openers["recipient"].public, draws["inner"], ScriptedRng([draws["ephemeral_private"]]))
    assert sealed == b(inp["sealed"])
    assert unseal(openers["recipient"], sealed)[1] == draws["inner"]
    assert _seal_from_primitives(cert.to_bytes(), openers["recipient"].public, draws) == sealed
    assert (exp["result"], exp["error"]) == ("error", "DecryptionError")
    for case, want in zip(inp["cases"], exp["cases"], strict=True):
        assert want["error"] == "DecryptionError"
        run(want, unseal, openers[case["opener"]], b(case["sealed"]))
    # the bad-certificate cases, sealed again from the primitives around the forged certificate
    forged_cases = inp["cases"][-len(inp["forgeries"]) :]
    for forgery, case in zip(inp["forgeries"], forged_cases, strict=True):
        assert case["why"].endswith(forgery["why"])
        forged = bytearray(cert.to_bytes())
        if forgery["edit"] == "flip":
            forged[forgery["offset"]] ^= 0x01
        elif forgery["edit"] == "append":
            forged.append(0)
        else:
            assert forgery["edit"] == "truncate"
            del forged[-forgery["offset"] :]
        resealed = _seal_from_primitives(bytes(forged), openers["recipient"].public, draws)
        assert resealed == b(case["sealed"])


def _seal_from_primitives(certificate: bytes, recipient: IdentityPublicKey, draws: dict[str, bytes]) -> bytes:
    """SPEC section 5, step by step, for any certificate bytes."""
    e = X25519PrivateKey.from_private_bytes(draws["ephemeral_private"])
    e_pub = e.public_key().public_bytes_raw()
    ik_b = X25519PublicKey.from_public_bytes(recipient.to_bytes()[32:64])
    info = b"Confide-sealed-static-v1" + recipient.to_bytes()[32:64] + e_pub
    keys = HKDF(hashes.SHA256(), 64, salt=bytes(32), info=info).derive(e.exchange(ik_b))
    static_ct = ChaCha20Poly1305(keys[32:]).encrypt(bytes(12), certificate, e_pub)
    s2 = X25519PrivateKey.from_private_bytes(draws["sender_identity_private"][32:]).exchange(ik_b)
    k_msg = HKDF(hashes.SHA256(), 32, salt=keys[:32], info=b"Confide-sealed-message-v1" + static_ct).derive(s2)
    message_ct = ChaCha20Poly1305(k_msg).encrypt(bytes(12), draws["inner"], e_pub)
    return b"\x01" + e_pub + len(static_ct).to_bytes(2, "big") + static_ct + message_ct


# -- padding, envelopes, auth ----------------------------------------------------------------------------


def _padded(case: Json) -> bytes:
    return b(case["padded"]) if "padded" in case else b(case["padded_prefix"]) + bytes(case["zero_bytes"])


def check_padding(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    assert [s["length"] for s in exp["sizes"]] == inp["lengths"]
    for case in exp["sizes"]:
        size = run(case, bucket_for, case["length"])
        if case["result"] == "ok":
            assert size == case["padded_size"]
            assert len(pad(bytes(case["length"]))) == size
        else:
            assert case["error"] == "LocalProtocolError"
            run(case, pad, bytes(case["length"]))
    example = b(inp["example"])
    assert pad(example) == b(exp["padded"])
    assert unpad(b(exp["padded"])) == example
    for case, want in zip(inp["bad_unpad"], exp["bad_unpad"], strict=True):
        assert want["error"] == "DecryptionError"
        run(want, unpad, _padded(case))
    for case, want in zip(inp["good_unpad"], exp["good_unpad"], strict=True):
        padded = _padded(case)
        assert 256 <= len(padded) <= 65536
        assert len(padded) & (len(padded) - 1) == 0
        assert run(want, unpad, padded) == b(want["plaintext"])


def _envelope(e: Json) -> Envelope:
    return Envelope(
        b(e["envelope_id"]), b(e["recipient_device"]), b(e["delivery_token"]), e["lifetime_s"], b(e["ciphertext"])
    )


def check_envelope(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    env, env2 = _envelope(inp["envelope"]), _envelope(inp["envelope2"])
    assert env.to_bytes() == b(exp["envelope"])
    assert env2.to_bytes() == b(exp["envelope2"])
    assert Envelope.from_bytes(b(exp["envelope"])) == env
    di = inp["delivery"]
    delivery = Delivery(b(di["envelope_id"]), di["received_at_ms"], di["expires_at_ms"], b(di["ciphertext"]))
    assert delivery.to_bytes() == b(exp["delivery"])
    assert Delivery.from_bytes(b(exp["delivery"])) == delivery
    assert encode_batch([env.to_bytes(), env2.to_bytes()]) == b(exp["batch"])
    assert decode_batch(b(exp["batch"])) == [env, env2]
    assert delivery_token_hash(env.delivery_token) == b(exp["delivery_token_hash"])
    # MAX_ENVELOPE_LEN (SPEC section 6): the 73 fixed bytes and a sealed message of MAX_SEALED_LEN = 73,728
    largest = Envelope(env.envelope_id, env.recipient_device, env.delivery_token, env.lifetime_s, bytes(73_728))
    assert len(largest.to_bytes()) == 73 + 73_728 == MAX_ENVELOPE_LEN
    assert Envelope.from_bytes(largest.to_bytes()) == largest
    parsers: dict[str, Callable[[bytes], object]] = {
        "envelope": Envelope.from_bytes,
        "delivery": Delivery.from_bytes,
        "batch": decode_batch,
    }
    for case, want in zip(inp["malformed"], exp["malformed"], strict=True):
        assert want["error"] == "RemoteProtocolError"
        run(want, parsers[case["kind"]], b(case["data"]))


def check_device_auth(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    identity = IdentityKeyPair.from_private_bytes(b(inp["identity_private"]))
    device = DeviceKeyPair.from_private_bytes(b(inp["device_private"]), identity)
    assert device.certificate.public == b(inp["device_public"])
    public = device.certificate.public_key
    now = inp["timestamp"]
    for req, want in zip(inp["requests"], exp["requests"], strict=True):
        body_hash = hashlib.sha256(b(req["body"])).hexdigest()
        assert body_hash == want["content_sha256"]
        headers = sign_request(device, req["method"], req["path"], body_hash, now=now, nonce=b(req["nonce"]))
        assert headers == want["headers"]
        assert want["canonical"] == "\n".join(
            ("Confide-auth-v1", req["method"], req["path"], str(now), req["nonce"], body_hash)
        )
        proof = AuthProof.from_headers(headers)
        public.verify(proof.signature, want["canonical"].encode())
        proof.check_time(now)
        proof.verify(public, req["method"], req["path"])

    def check(headers: dict[str, str], method: str, path: str, relay_now: int) -> None:
        proof = AuthProof.from_headers(headers)
        proof.check_time(relay_now)
        proof.verify(public, method, path)

    for case, want in zip(inp["failures"], exp["failures"], strict=True):
        assert want["error"] == "AuthError"
        run(want, check, case["headers"], case["method"], case["path"], case["relay_now"])


# -- optional modules ------------------------------------------------------------------------------------


def check_content(d: Json, folder: Path) -> None:
    from confide.protocol import content as c

    inp, exp = d["inputs"], d["expected"]

    def build(v: Json) -> c.Content:
        body = v["body"]
        made: c.Body
        if v["type"] == "text":
            made = c.Text(body["text"])
        elif v["type"] == "attachment":
            made = c.AttachmentPointer(
                body["blob_id"],
                b(body["key"]),
                b(body["digest"]),
                body["size"],
                body["name"],
                body["mime"],
                body["caption"],
            )
        elif v["type"] == "receipt":
            made = c.Receipt(c.ReceiptKind[body["kind"].upper()], tuple(b(m) for m in body["message_ids"]))
        elif v["type"] == "timer":
            made = c.TimerChange(body["seconds"])
        elif v["type"] == "reset":
            made = c.ResetRequest(body["failed"])
        elif v["type"] == "filed":
            made = c.Filed(c.FiledKind[body["kind"].upper()], b(body["target_id"]))
        else:
            assert v["type"] == "delete"
            made = c.Delete(b(body["target_id"]))
        return c.Content(b(v["message_id"]), v["sent_at_ms"], v["expire_after_s"], made)

    for value, encoded in zip(inp["values"], exp["encoded"], strict=True):
        content = build(value)
        assert content.to_bytes() == b(encoded)
        assert c.Content.from_bytes(b(encoded)) == content
    for case, want in zip(inp["malformed"], exp["malformed"], strict=True):
        assert want["error"] == "RemoteProtocolError"
        run(want, c.Content.from_bytes, b(case["data"]))


def check_keystore(d: Json, folder: Path) -> None:
    from confide.keys import keystore as ks
    from confide.keys.secret_keys import SecretKeys

    inp, exp = d["inputs"], d["expected"]
    keys = SecretKeys.from_bytes(b(inp["payload"]))
    rng = SeededRng(b(d["seed"]))
    # the draw order, from the DRBG alone: four 32-byte draws make the payload, then salt and nonce
    assert b"\x01" + b"".join(rng(32) for _ in range(4)) == b(inp["payload"])
    assert (rng(16), rng(12)) == (b(inp["salt"]), b(inp["nonce"]))
    assert SecretKeys.generate(SeededRng(b(d["seed"]))).to_bytes() == b(inp["payload"])
    assert keys.identity.address.text == exp["address_text"]
    params = ks.KdfParams(**inp["kdf"])
    assert params.memory_kib <= 64 * 1024, "vectors must use cheap Argon2 costs"
    nfkc = unicodedata.normalize("NFKC", inp["passphrase"]).encode()
    assert nfkc == b(inp["passphrase_nfkc_utf8"])
    key = hash_secret_raw(nfkc, b(inp["salt"]), params.time_cost, params.memory_kib, params.parallelism, 32, Type.ID)
    assert key == b(exp["key"])
    scripted = ScriptedRng([b(inp["salt"]), b(inp["nonce"])])
    assert ks.seal_keys(keys, inp["passphrase"], params=params, rng=scripted) == b(exp["blob"])
    scripted.done()
    assert ks.kdf_params_of(b(exp["blob"])) == params
    for case, want in zip(inp["cases"], exp["cases"], strict=True):
        opened = run(want, ks.unseal, b(case["blob"]), case["passphrase"])
        if want["result"] == "ok":
            assert opened == b(inp["payload"])


def check_safety_number(d: Json, folder: Path) -> None:
    from confide.keys.safety import compute_safety_number

    inp, exp = d["inputs"], d["expected"]
    rng = SeededRng(b(d["seed"]))
    assert IdentityKeyPair.generate(rng).public.to_bytes() == b(inp["identity_a"])
    assert IdentityKeyPair.generate(rng).public.to_bytes() == b(inp["identity_b"])
    a = IdentityPublicKey.from_bytes(b(inp["identity_a"]))
    c = IdentityPublicKey.from_bytes(b(inp["identity_b"]))
    for number in (compute_safety_number(a, c), compute_safety_number(c, a)):
        assert number.digits == exp["digits"]
        assert number.display() == exp["display"]
        assert [f.hex() for f in number.fingerprints] == exp["fingerprints"]
        assert number.qr_payload() == b(exp["qr_payload"])
    for case, want in zip(inp["scans"], exp["scans"], strict=True):
        assert number.verify_scan(b(case["payload"])).value == want["scan"]


# -- attachments, recovery, QR texts, Ed25519 ----------------------------------------------------------------


def _pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def _padme(size: int) -> int:
    """SPEC section 9: max(65536, Padmé(size))."""
    if size <= 65536:
        return 65536
    e = size.bit_length() - 1
    low = e - e.bit_length()
    return -(-size // (1 << low)) * (1 << low)


def _attachment_blob(key: bytes, size: int) -> tuple[bytes, Json]:
    """Encrypt pattern(size) under ``key`` from the primitives, as SPEC section 9 says; return the blob and the
    values the vector lists for it."""
    chunk_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"Confide-attachment-v1").derive(key)
    header = b"\x01" + (65536).to_bytes(4, "big")
    ad = header + size.to_bytes(8, "big")
    padded = _pattern(size) + bytes(_padme(size) - size)
    pieces = [padded[i : i + 65536] for i in range(0, len(padded), 65536)]
    blob, chunks = header, []
    for i, piece in enumerate(pieces):
        nonce = i.to_bytes(11, "big") + (b"\x01" if i == len(pieces) - 1 else b"\x00")
        sealed = ChaCha20Poly1305(chunk_key).encrypt(nonce, piece, ad)
        chunks.append(
            {
                "offset": len(blob),
                "sealed_len": len(sealed),
                "nonce": nonce.hex(),
                "sealed_head": sealed[:32].hex(),
                "tag": sealed[-16:].hex(),
                "sealed_sha256": hashlib.sha256(sealed).hexdigest(),
            }
        )
        blob += sealed
    listed = {
        "chunk_key": chunk_key.hex(),
        "header": header.hex(),
        "associated_data": ad.hex(),
        "padded_size": len(padded),
        "blob_size": len(blob),
        "chunks": chunks,
        "digest": hashlib.sha256(blob).hexdigest(),
    }
    return blob, listed


def _edit_blob(blob: bytes, key: bytes, size: int, listed: Json, edits: list[Json]) -> bytes:
    out = bytearray(blob)
    aead = ChaCha20Poly1305(b(listed["chunk_key"]))
    for e in edits:
        if e["op"] == "truncate":
            del out[e["length"] :]
        elif e["op"] == "append":
            out += b(e["data"])
        elif e["op"] == "flip":
            out[e["offset"]] ^= 0x01
        elif e["op"] == "swap":
            x, y, n = e["a"], e["b"], e["length"]
            out[x : x + n], out[y : y + n] = out[y : y + n], out[x : x + n]
        elif e["op"] == "copy":
            n = e["length"]
            out[e["target"] : e["target"] + n] = out[e["source"] : e["source"] + n]
        else:
            assert e["op"] == "reseal"
            chunk = listed["chunks"][e["chunk"]]
            at, n = chunk["offset"], chunk["sealed_len"]
            ad = b(listed["associated_data"])
            plain = bytearray(aead.decrypt(b(chunk["nonce"]), bytes(out[at : at + n]), ad))
            if e["set_plaintext"] is not None:
                plain[e["set_plaintext"]["offset"]] = e["set_plaintext"]["value"]
            nonce = e["chunk"].to_bytes(11, "big") + (b"\x01" if e["final"] else b"\x00")
            out[at : at + n] = aead.encrypt(nonce, bytes(plain), ad)
    return bytes(out)


def _open_attachment(key: bytes, size: int, digest: bytes, blob: bytes, step: int) -> bytes:
    dec = AttachmentDecryptor(key, size, digest)
    out = b"".join(dec.update(blob[i : i + step]) for i in range(0, len(blob), step))
    return out + dec.finalize()


def check_attachment(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    rng = SeededRng(b(d["seed"]))
    assert [rng(32).hex(), rng(32).hex()] == inp["rng_outputs"] == [inp["small"]["key"], inp["multi"]["key"]]
    blobs = {}
    for which in ("small", "multi"):
        key, size = b(inp[which]["key"]), inp[which]["size"]
        blob, listed = _attachment_blob(key, size)
        assert listed == exp[which], which
        enc = AttachmentEncryptor(key, size)
        assert enc.header() + enc.update(_pattern(size)) + enc.finalize() == blob
        assert enc.digest == b(listed["digest"])
        for step in (len(blob), 65557, 1000):  # whole, about a chunk at a time, small pieces
            assert _open_attachment(key, size, b(listed["digest"]), blob, step) == _pattern(size)
        blobs[which] = (key, size, blob, listed)
    for row, size in zip(exp["padme"], inp["padme_sizes"], strict=True):
        assert row["size"] == size
        assert row["padded_size"] == _padme(size) == padded_size(size)
        assert row["chunks"] == -(-row["padded_size"] // 65536)
        assert row["blob_size"] == 5 + row["padded_size"] + 16 * row["chunks"] == expected_blob_size(size)
    assert exp["result"] == "ok"
    for case, want in zip(inp["cases"], exp["cases"], strict=True):
        key, size, blob, listed = blobs[case["blob"]]
        bad = _edit_blob(blob, key, size, listed, case["edits"])
        assert want["error"] == "DecryptionError"
        for step in (len(bad) or 1, 4096):
            run(want, _open_attachment, key, case["size"], b(case["digest"]), bad, step)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _crockford(data: bytes) -> str:
    bits = "".join(f"{x:08b}" for x in data)
    assert len(bits) % 5 == 0
    return "".join(_CROCKFORD[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))


def check_recovery(d: Json, folder: Path) -> None:
    from confide.keys.recovery import restore_recovery
    from confide.keys.secret_keys import SecretKeys

    inp, exp = d["inputs"], d["expected"]
    rng = SeededRng(b(d["seed"]))
    draws = [rng(n).hex() for n in (32, 32, 32, 32, 16, 32, 12, 16, 32, 12)]
    assert draws == inp["rng_outputs"]
    assert b"".join(b(x) for x in draws[:4]) == b(inp["payload"])[1:]
    assert draws[4:7] == [inp["secret"], inp["salt"], inp["nonce"]]
    secret, salt, nonce, payload = b(inp["secret"]), b(inp["salt"]), b(inp["nonce"]), b(inp["payload"])
    SecretKeys.from_bytes(payload)
    checksum = hashlib.sha256(b"Confide-recovery-code-checksum-v1" + secret).digest()[:4]
    assert checksum == b(exp["checksum"])
    text = _crockford(secret + checksum)
    assert exp["code"] == "-".join(text[i : i + 4] for i in range(0, 32, 4))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"Confide-recovery-backup-v1").derive(secret)
    assert key == b(exp["key"])
    header = b"CFRB\x01" + salt + nonce + len(payload).to_bytes(4, "big")
    assert header == b(exp["header"])
    assert header + ChaCha20Poly1305(key).encrypt(nonce, payload, header) == b(exp["backup"])
    backup = b(exp["backup"])
    for case, want in zip(inp["codes"], exp["codes"], strict=True):
        opened = run(want, restore_recovery, backup, case["code"])
        if want["result"] == "ok":
            assert opened.to_bytes() == payload
    for case, want in zip(inp["backups"], exp["backups"], strict=True):
        blob = b(case["backup"]) if "backup" in case else b(case["backup_prefix"]) + bytes(case["zero_bytes"])
        assert want["result"] == "error"
        run(want, restore_recovery, blob, exp["code"])


def check_qr_text(d: Json, folder: Path) -> None:
    from confide.keys.qr import parse_qr_text, qr_text
    from confide.keys.recovery import create_recovery, recovery_code_from_qr, recovery_qr_text
    from confide.keys.secret_keys import SecretKeys

    inp, exp = d["inputs"], d["expected"]
    rng = SeededRng(b(d["seed"]))
    draws = [rng(n).hex() for n in (64, 32, 32, 32, 32, 16, 32, 12)]
    assert draws == inp["rng_outputs"]
    payload = b(inp["payload"])
    assert payload == b"\x01" + b(draws[0])
    keys = SecretKeys.from_bytes(b"\x01" + b"".join(b(x) for x in draws[1:5]))
    assert create_recovery(keys, rng=ScriptedRng([b(x) for x in draws[5:]]))[0] == inp["code"]
    text = "CONFIDE-SN1:" + base64.b32encode(payload).decode("ascii").rstrip("=")
    assert text == exp["qr_text"] == qr_text(payload)
    assert exp["recovery_qr_text"] == "CONFIDE-RC1:" + inp["code"] == recovery_qr_text(inp["code"])
    for case, want in zip(inp["scans"], exp["scans"], strict=True):
        got = run(want, parse_qr_text, case["text"])
        if want["result"] == "ok":
            assert got == b(want["payload"])
        else:
            assert want["error"] == "QRPayloadError"
    for case, want in zip(inp["recovery_scans"], exp["recovery_scans"], strict=True):
        got = run(want, recovery_code_from_qr, case["text"])
        if want["result"] == "ok":
            assert got == want["code"] == inp["code"]
        else:
            assert want["error"] == "InvalidRecoveryCode"


def check_ed25519(d: Json, folder: Path) -> None:
    from confide.keys.identity import ed25519_public, verify_signature

    inp, exp = d["inputs"], d["expected"]
    assert SeededRng(b(d["seed"]))(32).hex() == inp["private_seed"] == inp["rng_outputs"][0]
    private = Ed25519PrivateKey.from_private_bytes(b(inp["private_seed"]))
    assert private.public_key().public_bytes_raw() == b(exp["public"])
    order = 2**252 + 27742317777372353535851937790883648493
    for case, want in zip(inp["cases"], exp["cases"], strict=True):
        public, signature, message = b(case["public"]), b(case["signature"]), b(case["message"])
        k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % order
        assert k % 8 == want["k_mod_8"]
        run(want, verify_signature, ed25519_public(public), signature, message, "vector")
        if want["result"] == "error":
            assert want["error"] == "InvalidSignature"


CHECKS: dict[str, Callable[[Json, Path], None]] = {
    "address": check_address,
    "identity_and_bundle": check_identity_and_bundle,
    "bundle_forged_signature": check_bundle_forged_signature,
    "pqxdh_first_message": check_pqxdh_first_message,
    "pqxdh_tampered": check_pqxdh_tampered,
    "ratchet_conversation": check_ratchet,
    "ratchet_tampered": check_ratchet,
    "ratchet_duplicate": check_ratchet,
    "ratchet_limits": check_ratchet,
    "sealed_sender": check_sealed_sender,
    "sealed_wrong_recipient": check_sealed_wrong_recipient,
    "padding": check_padding,
    "envelope": check_envelope,
    "device_auth": check_device_auth,
    "content": check_content,
    "keystore": check_keystore,
    "safety_number": check_safety_number,
    "attachment": check_attachment,
    "recovery": check_recovery,
    "qr_text": check_qr_text,
    "ed25519": check_ed25519,
    "documents": check_documents,
    "franking": check_franking,
    "franking_binding": check_franking_binding,
    "report_file": check_report_file,
    "contact_card": check_contact_card,
    "devices": check_devices,
    "link": check_link,
}


def check_file(path: Path) -> None:
    d = load(path)
    assert d["scenario"] == path.stem
    assert d["rng"] == RNG_ALGORITHM
    assert set(d) == {"scenario", "description", "rng", "rng_note", "seed", "inputs", "expected"}
    assert d["expected"]["result"] in ("ok", "error")
    if d["expected"]["result"] == "error":
        assert isinstance(d["expected"]["error"], str)
    CHECKS[d["scenario"]](d, path.parent)


# -- tests -----------------------------------------------------------------------------------------------


def test_every_required_scenario_is_present() -> None:
    assert {p.stem for p in FILES} == REQUIRED
    assert set(CHECKS) == REQUIRED


def test_the_spec_lists_every_vector_file() -> None:
    """protocol/SPEC.md section 11's table names exactly the files there are, so none goes undocumented."""
    spec = (VECTORS.parents[1] / "protocol" / "SPEC.md").read_text(encoding="utf-8")
    section = spec[spec.index("## 11. Test vectors") :]
    listed = set(re.findall(r"^\| `([a-z0-9_]+)\.json` \|", section, flags=re.MULTILINE))
    assert listed == REQUIRED


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vector(path: Path) -> None:
    check_file(path)


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("confide_vectors_generate", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_vectors(generator: ModuleType, tmp_path: Path) -> None:
    # Keep the committed KEM vector (it cannot be reproduced); everything else must come out identical.
    shutil.copy(VECTORS / KEM_FILE, tmp_path / KEM_FILE)
    generator.generate(tmp_path, log=lambda _msg: None)
    produced = {p.name for p in tmp_path.glob("*.json")}
    assert produced == {p.name for p in FILES}, "stale or missing vector files: run tests/vectors/generate.py"
    for path in FILES:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), f"{path.name} differs from the generator"


def test_generator_fresh_kem_vectors_verify(generator: ModuleType, tmp_path: Path) -> None:
    # Into an empty folder: a fresh (non-reproducible) first message, and the tampered file derived from it.
    generator.generate(tmp_path, log=lambda _msg: None)
    fresh, committed = load(tmp_path / KEM_FILE), load(VECTORS / KEM_FILE)
    for name in (KEM_FILE, "pqxdh_tampered.json"):
        check_file(tmp_path / name)
    assert fresh["inputs"]["responder"] == committed["inputs"]["responder"]
    assert fresh["expected"]["plaintext"] == committed["expected"]["plaintext"]


def test_generator_regenerate_kem_replaces_the_kem_vector(generator: ModuleType, tmp_path: Path) -> None:
    (tmp_path / KEM_FILE).write_text("{}", encoding="utf-8")
    with pytest.raises(SystemExit, match="regenerate-kem"):  # kept as is, so nothing can be derived from it
        generator.generate(tmp_path, log=lambda _msg: None)
    assert load(tmp_path / KEM_FILE) == {}
    assert generator.main(["--out", str(tmp_path), "--regenerate-kem"]) == 0
    check_file(tmp_path / KEM_FILE)
    check_file(tmp_path / "pqxdh_tampered.json")
