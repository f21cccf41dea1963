#!/usr/bin/env python3
"""Generate Confide's test vectors: one JSON file per scenario, all randomness from a seeded DRBG.

Run from the repository root with the project's venv::

    .venv/bin/python tests/vectors/generate.py [--out DIR] [--regenerate-kem]

Every file has the shape ``{"scenario", "description", "rng", "rng_note", "seed", "inputs", "expected"}``;
bytes are lowercase hex. ``expected.result`` is ``"ok"`` or ``"error"`` (then ``expected.error`` names the
:class:`~confide.keys.errors.ConfideError` subclass). Files holding several cases give each case its own
``result``/``error``. Every value drawn from the DRBG is also written out as an input, so another
implementation can check itself without implementing the DRBG or our order of draws.

All files are byte-for-byte reproducible except ``pqxdh_first_message.json``: ML-KEM encapsulation in
``cryptography`` takes no RNG, so the initiator's KEM ciphertext is fresh on every run. That file is written
only when it is missing (or with ``--regenerate-kem``); ``pqxdh_tampered.json`` is derived deterministically
from whichever ``pqxdh_first_message.json`` is in the output folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from confide.keys.address import Address
from confide.keys.device import DeviceKeyPair
from confide.keys.encoding import RNG
from confide.keys.errors import ConfideError, InvalidAddress, InvalidSignature
from confide.keys.identity import IdentityKeyPair
from confide.keys.prekeys import KemPreKeyRecord, OneTimePreKeyRecord, PreKeyBundle, SignedPreKeyRecord
from confide.protocol.auth import AuthProof, sign_request
from confide.protocol.envelope import Delivery, Envelope, decode_batch, delivery_token_hash, encode_batch
from confide.protocol.errors import AuthError, DecryptionError, RemoteProtocolError
from confide.protocol.kdf import LABEL_AD
from confide.protocol.padding import bucket_for, pad, unpad
from confide.protocol.pqxdh import respond
from confide.protocol.ratchet import RatchetState
from confide.protocol.sealed import SenderCertificate, seal, unseal
from confide.protocol.session import accept_session, initiate_session, parse_inner

Json = dict[str, Any]

RNG_ALGORITHM = "SHAKE-256(seed || u64be counter), n bytes per call"
"""The DRBG, as written into every file (see :class:`SeededRng`)."""
RNG_NOTE = (
    "call k (k = 1, 2, ...) returns the first n bytes of SHAKE-256(seed || k as 8 bytes big-endian); "
    "the counter grows by one per call whatever n is"
)
NOW = 1_700_000_000
"""Fixed 'current time' (unix seconds, 2023-11-14) for prekey creation and request signing."""
DEFAULT_OUT = Path(__file__).resolve().parent
KEM_FILE = "pqxdh_first_message.json"
"""The one file that is not reproducible (ML-KEM encapsulation takes no RNG)."""
KEM_DERIVED_FILE = "pqxdh_tampered.json"
"""Reproducible given the :data:`KEM_FILE` in the same folder."""
FLIP_MASK = 0x01
"""Every 'flipped byte' in these vectors is XORed with this mask."""


class SeededRng:
    """Deterministic byte source for tests and vectors: SHAKE-256(seed || counter) blocks.

    The one definition: ``tests/protocol/parties.py`` imports it from here (this script still runs standalone).
    """

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)


class RecordingRng:
    """Wraps an RNG and remembers what it handed out, so the vectors can list every draw."""

    def __init__(self, inner: RNG) -> None:
        self._inner = inner
        self.outputs: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = self._inner(n)
        self.outputs.append(out)
        return out

    def take(self) -> list[str]:
        """The draws since the last :meth:`take`, as hex, and forget them."""
        out = [o.hex() for o in self.outputs]
        self.outputs.clear()
        return out


def h(data: bytes) -> str:
    return data.hex()


def flip(data: bytes, offset: int) -> bytes:
    """``data`` with the byte at ``offset`` (negative counts from the end) XORed with :data:`FLIP_MASK`."""
    out = bytearray(data)
    out[offset] ^= FLIP_MASK
    return bytes(out)


def attempt(fn: Callable[..., Any], *args: Any) -> tuple[Json, Any]:
    """Call ``fn(*args)``: ``({"result": "ok"}, value)`` or ``({"result": "error", "error": name}, None)``.

    ``name`` is the exact class name of the :class:`ConfideError` raised; anything else propagates.
    """
    try:
        value = fn(*args)
    except ConfideError as exc:
        return {"result": "error", "error": type(exc).__name__}, None
    return {"result": "ok"}, value


def outcome(fn: Callable[..., Any], *args: Any) -> Json:
    """The result part of :func:`attempt`."""
    return attempt(fn, *args)[0]


def expect_error(error: type[ConfideError], fn: Callable[..., Any], *args: Any) -> Json:
    """Like :func:`outcome`, but stop the generator unless ``fn(*args)`` raises exactly ``error``."""
    got = outcome(fn, *args)
    if got != {"result": "error", "error": error.__name__}:
        raise AssertionError(f"expected {error.__name__}, got {got}")
    return got


def vector(name: str, description: str, seed: bytes, inputs: Json, expected: Json) -> Json:
    return {
        "scenario": name,
        "description": description,
        "rng": RNG_ALGORITHM,
        "rng_note": RNG_NOTE,
        "seed": h(seed),
        "inputs": inputs,
        "expected": expected,
    }


def seed_of(name: str) -> bytes:
    """Each scenario's seed: the ASCII bytes of ``confide-vectors/<name>``."""
    return f"confide-vectors/{name}".encode()


# -- keys ------------------------------------------------------------------------------------------------


def address() -> Json:
    seed = seed_of("address")
    rng = SeededRng(seed)
    valid = []
    for _ in range(3):
        signing_seed = rng(32)
        public = Ed25519PrivateKey.from_private_bytes(signing_seed).public_key().public_bytes_raw()
        addr = Address.from_identity_signing_key(public)
        assert Address.parse(addr.text) == addr
        valid.append({"signing_seed": h(signing_seed), "signing_public": h(public), "address": h(addr.raw),
                      "text": addr.text})
    text = valid[0]["text"]
    variants = [text.upper(), text.replace("-", " "), text.replace("-", ""), "  " + text + "\n"]
    for v in variants:
        assert Address.parse(v).text == text
    body = text[4:]
    last = body[-1]
    other = "a" if last != "a" else "b"
    invalid = [
        ("wrong prefix", "cf2-" + body),
        ("no prefix", body),
        ("one character short", text[:-1]),
        ("one character too many", text + "a"),
        ("letter outside the base32 alphabet (1)", text[:-1] + "1"),
        ("checksum mismatch (last character changed)", text[:-1] + other),
        ("address part changed (first character after cf1-)", "cf1-" + ("b" if body[0] != "b" else "c") + body[1:]),
        ("empty", ""),
    ]
    return vector(
        "address",
        "Account addresses. For each signing key: address = SHA-256('Confide-address-v1' || signing_public)[:20] "
        "and its text form. 'accepted_variants' must all parse to the first address; every 'invalid' text must "
        "be refused with InvalidAddress. signing_seed is the Ed25519 seed whose public key is signing_public.",
        seed,
        {"signing_keys": [{"signing_seed": v["signing_seed"], "signing_public": v["signing_public"]} for v in valid],
         "accepted_variants": variants,
         "invalid": [{"why": why, "text": t} for why, t in invalid]},
        {
            "result": "ok",
            "addresses": [{"address": v["address"], "text": v["text"]} for v in valid],
            "accepted_variants_address": valid[0]["address"],
            "invalid": [{"why": why, **expect_error(InvalidAddress, Address.parse, t)}
                        for why, t in invalid],
        },
    )


class _Responder:
    """A device's full private key set, generated from an RNG in a fixed, documented order."""

    ORDER = (
        "IdentityKeyPair.generate: rng(32) Ed25519 seed, rng(32) X25519 private",
        "DeviceKeyPair.generate: rng(32) Ed25519 seed",
        "SignedPreKeyRecord.generate(id=1, now): rng(32) X25519 private",
        "OneTimePreKeyRecord.generate_batch(first_id=100, count=2): rng(32) each",
        "KemPreKeyRecord.generate(id=1, last_resort=True): rng(64) ML-KEM-768 seed (d || z)",
        "KemPreKeyRecord.generate(id=200, last_resort=False): rng(64) ML-KEM-768 seed (d || z)",
    )

    def __init__(self, rng: RNG) -> None:
        self.identity = IdentityKeyPair.generate(rng)
        self.device = DeviceKeyPair.generate(self.identity, rng)
        self.signed = SignedPreKeyRecord.generate(self.identity, 1, rng, NOW)
        self.one_time = OneTimePreKeyRecord.generate_batch(100, 2, rng)
        self.kem_last_resort = KemPreKeyRecord.generate(self.identity, 1, rng, NOW, last_resort=True)
        self.kem_one_time = KemPreKeyRecord.generate(self.identity, 200, rng, NOW, last_resort=False)

    def bundle(self, *, with_one_time: bool) -> bytes:
        if with_one_time:
            return PreKeyBundle(self.identity.public, self.device.certificate, self.signed.public,
                                self.one_time[0].public, self.kem_one_time.public).to_bytes()
        return PreKeyBundle(self.identity.public, self.device.certificate, self.signed.public, None,
                            self.kem_last_resort.public).to_bytes()


def identity_and_bundle() -> Json:
    seed = seed_of("identity_and_bundle")
    rng = RecordingRng(SeededRng(seed))
    r = _Responder(rng)
    bundle = r.bundle(with_one_time=True)
    bundle_plain = r.bundle(with_one_time=False)
    for b in (bundle, bundle_plain):
        assert PreKeyBundle.from_bytes(b).to_bytes() == b

    def kem_json(k: KemPreKeyRecord) -> Json:
        return {"key_id": k.key_id, "last_resort": k.last_resort, "seed": h(k.seed), "record": h(k.to_bytes()),
                "public": h(k.public.to_bytes())}

    return vector(
        "identity_and_bundle",
        "Key generation from the seeded DRBG in the order of inputs.generation (Ed25519 signing is deterministic, "
        "so every certificate and signature is reproducible). Check: the private forms load to the listed public "
        "forms; 'bundle' (with one-time prekey 100 and one-time KEM prekey 200) and 'bundle_without_one_time' "
        "(last-resort KEM prekey 1) parse, verify and re-encode byte for byte, and match the address.",
        seed,
        {"now": NOW, "generation": list(_Responder.ORDER), "rng_outputs": rng.take()},
        {
            "result": "ok",
            "identity_private": h(r.identity.private_bytes()),
            "identity_public": h(r.identity.public.to_bytes()),
            "address": h(r.identity.address.raw),
            "address_text": r.identity.address.text,
            "device_private": h(r.device.private_bytes()),
            "device_certificate": h(r.device.certificate.to_bytes()),
            "device_id": h(r.device.device_id),
            "signed_prekey": {"key_id": r.signed.key_id, "created_at": NOW, "record": h(r.signed.to_bytes()),
                              "public": h(r.signed.public.to_bytes())},
            "one_time_prekeys": [{"key_id": k.key_id, "record": h(k.to_bytes()), "public": h(k.public.to_bytes())}
                                 for k in r.one_time],
            "kem_prekeys": [kem_json(r.kem_last_resort), kem_json(r.kem_one_time)],
            "bundle": h(bundle),
            "bundle_without_one_time": h(bundle_plain),
        },
    )


def bundle_forged_signature() -> Json:
    seed = seed_of("bundle_forged_signature")
    r = _Responder(SeededRng(seed))
    bundle = r.bundle(with_one_time=True)
    spk_at = 1 + 128 + 96
    kem_at = spk_at + 100 + 1 + 36
    places = [
        ("identity agreement key (certified by the identity certificate)", 1 + 32),
        ("identity certificate", 1 + 64),
        ("device certificate signature", 1 + 128 + 32 + 10),
        ("signed prekey public key", spk_at + 4),
        ("signed prekey signature", spk_at + 36 + 63),
        ("KEM prekey id (covered by its signature)", kem_at + 3),
        ("KEM prekey public key", kem_at + 5 + 500),
        ("KEM prekey signature (last byte of the bundle)", len(bundle) - 1),
    ]
    cases = []
    for why, offset in places:
        forged = flip(bundle, offset)
        cases.append({"why": why, "offset": offset, "bundle": h(forged),
                      **expect_error(InvalidSignature, PreKeyBundle.from_bytes, forged)})
    return vector(
        "bundle_forged_signature",
        "A valid bundle (keys generated as in identity_and_bundle, from this file's seed) and copies with one byte "
        f"XORed with 0x{FLIP_MASK:02x} at 'offset' in a signed field. Parsing each forged bundle must fail with "
        "InvalidSignature; the original parses.",
        seed,
        {"bundle": h(bundle), "cases": [{k: c[k] for k in ("why", "offset", "bundle")} for c in cases]},
        {"result": "error", "error": "InvalidSignature", "original": outcome(PreKeyBundle.from_bytes, bundle),
         "cases": [{k: c[k] for k in ("why", "result", "error")} for c in cases]},
    )


# -- PQXDH -----------------------------------------------------------------------------------------------

_PQXDH_PLAINTEXT = b"Hello, I would like to book a first session. Is Tuesday possible?"


def _pqxdh_parties() -> tuple[_Responder, IdentityKeyPair, DeviceKeyPair, bytes]:
    rng = SeededRng(seed_of("pqxdh_first_message"))
    responder = _Responder(rng)
    initiator = IdentityKeyPair.generate(rng)
    initiator_device = DeviceKeyPair.generate(initiator, rng)
    return responder, initiator, initiator_device, rng(32)


_PQXDH_ORDER = [
    *(f"responder {step}" for step in _Responder.ORDER),
    "initiator IdentityKeyPair.generate: rng(32), rng(32)",
    "initiator DeviceKeyPair.generate: rng(32)",
    "initiator session_rng_seed: rng(32)",
]


def _pqxdh_inputs(responder: _Responder, initiator: IdentityKeyPair, initiator_device: DeviceKeyPair) -> Json:
    return {
        "now": NOW,
        "draw_order": _PQXDH_ORDER,
        "responder": {
            "identity_private": h(responder.identity.private_bytes()),
            "identity_public": h(responder.identity.public.to_bytes()),
            "signed_prekey_record": h(responder.signed.to_bytes()),
            "one_time_prekey_record": h(responder.one_time[0].to_bytes()),
            "kem_prekey_record": h(responder.kem_one_time.to_bytes()),
            "bundle": h(responder.bundle(with_one_time=True)),
        },
        "initiator": {
            "identity_public": h(initiator.public.to_bytes()),
            "device_id": h(initiator_device.device_id),
        },
    }


def pqxdh_first_message() -> Json:
    """Not reproducible: the KEM ciphertext comes from OpenSSL's RNG."""
    responder, initiator, initiator_device, session_seed = _pqxdh_parties()
    rng = RecordingRng(SeededRng(session_seed))
    bundle = PreKeyBundle.from_bytes(responder.bundle(with_one_time=True))
    session = initiate_session(initiator, bundle, rng=rng)
    inner = session.encrypt(_PQXDH_PLAINTEXT, rng)
    kind, header, _body = parse_inner(inner)
    assert kind == 2 and header is not None
    agreement = respond(responder.identity, header, responder.signed, responder.one_time[0], responder.kem_one_time)
    inputs = _pqxdh_inputs(responder, initiator, initiator_device)
    inputs["initiator"]["session_rng_seed"] = h(session_seed)
    inputs["initiator"]["session_rng_outputs"] = rng.take()
    inputs["inner_message"] = h(inner)
    return vector(
        "pqxdh_first_message",
        "PQXDH first message, checked on the responder side. NOT byte-for-byte reproducible: ML-KEM-768 "
        "encapsulation in 'cryptography' takes no RNG, so the initiator's KEM ciphertext (and hence the inner "
        "message) is fresh whenever this file is regenerated (generate.py --regenerate-kem). The responder side "
        "is deterministic: parse inner_message (0x02 || prekey header || ratchet message), run PQXDH as "
        "responder with the private records named by the header's ids, which must give root_key, header_key_a "
        "and next_header_key_b; then init the responder ratchet (ratchet key = the signed prekey) and decrypt "
        "the ratchet message with AD = associated_data || prekey header, unpad, and get 'plaintext'. The used "
        "one-time prekey ids are returned for deletion. session_rng_outputs lists the initiator's draws "
        "(ephemeral key, ratchet key, header nonce) for reference only.",
        seed_of("pqxdh_first_message"),
        inputs,
        {
            "result": "ok",
            "plaintext": h(_PQXDH_PLAINTEXT),
            "signed_prekey_id": header.signed_prekey_id,
            "used_one_time_prekey_id": header.one_time_prekey_id,
            "used_kem_prekey_id": header.kem_prekey_id,
            "ephemeral_public": h(header.ephemeral),
            "associated_data": h(agreement.associated_data),
            "root_key": h(agreement.root_key),
            "header_key_a": h(agreement.header_key_a),
            "next_header_key_b": h(agreement.next_header_key_b),
        },
    )


class _Lookup:
    def __init__(self, responder: _Responder) -> None:
        self._r = responder

    def signed_prekey(self, key_id: int) -> SignedPreKeyRecord | None:
        return self._r.signed if key_id == self._r.signed.key_id else None

    def one_time_prekey(self, key_id: int) -> OneTimePreKeyRecord | None:
        return self._r.one_time[0] if key_id == self._r.one_time[0].key_id else None

    def kem_prekey(self, key_id: int) -> KemPreKeyRecord | None:
        return self._r.kem_one_time if key_id == self._r.kem_one_time.key_id else None


def _accept(responder: _Responder, inner: bytes, device_id: bytes) -> bytes:
    kind, header, body = parse_inner(inner)
    assert kind == 2 and header is not None
    _session, plaintext, _otk, _kem = accept_session(
        responder.identity, header, body, device_id, _Lookup(responder), SeededRng(b"any responder rng")
    )
    return plaintext


def pqxdh_tampered(first: Json) -> Json:
    """Deterministic given the first-message vector ``first``."""
    responder, initiator, initiator_device, _ = _pqxdh_parties()
    inner = bytes.fromhex(first["inputs"]["inner_message"])
    device_id = initiator_device.device_id
    assert _accept(responder, inner, device_id) == _PQXDH_PLAINTEXT
    header_len = 1 + 128 + 32 + 4 + 1 + 4 + 4 + 1088
    places = [
        ("initiator ephemeral key", 1 + 1 + 128 + 5),
        ("signed prekey id (names a prekey the responder does not have)", 1 + 1 + 128 + 32 + 3),
        ("last byte of the KEM ciphertext (implicit rejection gives another shared secret)", header_len),
        ("encrypted ratchet header", 1 + header_len + 20),
        ("ratchet message body (Poly1305 tag, last byte)", len(inner) - 1),
    ]
    cases = []
    for why, offset in places:
        bad = flip(inner, offset)
        cases.append({"why": why, "offset": offset, "inner_message": h(bad),
                      **expect_error(DecryptionError, _accept, responder, bad, device_id)})
    inputs = _pqxdh_inputs(responder, initiator, initiator_device)
    inputs["original_inner_message"] = first["inputs"]["inner_message"]
    inputs["cases"] = [{k: c[k] for k in ("why", "offset", "inner_message")} for c in cases]
    return vector(
        "pqxdh_tampered",
        "Copies of the inner message of pqxdh_first_message.json (same keys) with one byte XORed with "
        f"0x{FLIP_MASK:02x} at 'offset'. Each must still parse, then fail to open as a new session with "
        "DecryptionError (and create no session). Derived deterministically from the pqxdh_first_message.json "
        "next to it, which is itself not reproducible (ML-KEM encapsulation takes no RNG).",
        seed_of("pqxdh_first_message"),
        inputs,
        {"result": "error", "error": "DecryptionError",
         "cases": [{k: c[k] for k in ("why", "result", "error")} for c in cases]},
    )


# -- Double Ratchet --------------------------------------------------------------------------------------

_Step = tuple[str, str, str, bytes | None, Callable[[bytes], bytes] | None, str]
"""(party, action, message label, plaintext for encrypt, tamper for decrypt, tamper description)."""


def _send(party: str, label: str, text: str) -> _Step:
    return (party, "encrypt", label, text.encode(), None, "")


def _recv(party: str, label: str, tamper: Callable[[bytes], bytes] | None = None, why: str = "") -> _Step:
    return (party, "decrypt", label, None, tamper, why)


def _ratchet(name: str, description: str, script: list[_Step], expected_top: Json) -> Json:
    seed = seed_of(name)
    master = SeededRng(seed)
    root, hka, nhkb, responder_ratchet = master(32), master(32), master(32), master(32)
    ad = LABEL_AD + master(256)
    seeds = {"initiator": master(32), "responder": master(32)}
    rngs = {p: RecordingRng(SeededRng(s)) for p, s in seeds.items()}
    responder_key = X25519PrivateKey.from_private_bytes(responder_ratchet)
    responder_pub = responder_key.public_key().public_bytes_raw()
    states = {
        "initiator": RatchetState.init_initiator(root, hka, nhkb, responder_pub, rngs["initiator"]),
        "responder": RatchetState.init_responder(root, hka, nhkb, responder_key),
    }
    init_draws = rngs["initiator"].take()
    sent: dict[str, bytes] = {}
    plain: dict[str, bytes] = {}
    steps: list[Json] = []
    for party, action, label, plaintext, tamper, why in script:
        state, rng = states[party], rngs[party]
        if action == "encrypt":
            assert plaintext is not None
            ct = state.encrypt(plaintext, ad, rng)
            sent[label], plain[label] = ct, plaintext
            steps.append({"party": party, "action": action, "message": label, "plaintext": h(plaintext),
                          "ciphertext": h(ct), "rng_outputs": rng.take(), "result": "ok"})
            continue
        ct = sent[label] if tamper is None else tamper(sent[label])
        before = state.to_bytes()
        result, opened = attempt(state.decrypt, ct, ad, rng)
        step: Json = {"party": party, "action": action, "message": label}
        if why:
            step["tamper"] = why
        step["ciphertext"] = h(ct)
        if result["result"] == "ok":
            assert opened == plain[label], "decrypted text differs"
            step["plaintext"] = h(opened)
        else:
            assert state.to_bytes() == before, "a failed decrypt changed the state"
        step["rng_outputs"] = rng.take()
        step.update(result)
        steps.append(step)
    errors = [{"error": s["error"]} for s in steps if s["result"] == "error"]
    if expected_top["result"] == "error":
        assert errors and all(e["error"] == expected_top["error"] for e in errors), errors
    else:
        assert not errors, errors
    return vector(
        name,
        description + " Setup: root_key, header_key_a (HKs of the initiator = HKr of the responder), "
        "next_header_key_b and the responder's ratchet private key are given; the initiator runs "
        "RatchetState.init_initiator (drawing its ratchet key: initiator_init_rng_outputs), the responder "
        "init_responder. Each party has its own DRBG (initiator_rng_seed / responder_rng_seed, same algorithm as "
        "'rng'); encrypt draws a 12-byte header nonce, a decrypt that turns the DH ratchet draws a 32-byte new "
        "ratchet key (even if the message then fails to open). Play the steps in order: an encrypt must produce "
        "'ciphertext' byte for byte; a decrypt of 'ciphertext' must give 'plaintext' or raise 'error' and leave "
        "the state unchanged. 'rng_outputs' lists each step's draws. Message wire form: "
        "nonce(12) || enc_header(56) || body; AD = associated_data.",
        seed,
        {
            "root_key": h(root), "header_key_a": h(hka), "next_header_key_b": h(nhkb),
            "responder_ratchet_private": h(responder_ratchet), "responder_ratchet_public": h(responder_pub),
            "associated_data": h(ad),
            "initiator_rng_seed": h(seeds["initiator"]), "responder_rng_seed": h(seeds["responder"]),
            "initiator_init_rng_outputs": init_draws,
            "steps": steps,
        },
        expected_top,
    )


def ratchet_conversation() -> Json:
    a, b = "initiator", "responder"
    script = [
        _send(a, "a0", "Hi, this is my first message."),
        _send(a, "a1", "I have been feeling anxious this week."),
        _send(a, "a2", "Mostly at night — é, ü, 日本語 also work."),
        _recv(b, "a0"),
        _recv(b, "a2"),
        _send(b, "b0", "Thank you for writing. Let's talk about it on Tuesday."),
        _send(b, "b1", "Until then, try the breathing exercise."),
        _recv(a, "b1"),
        _recv(a, "b0"),
        _recv(b, "a1"),
        _send(a, "a3", "Tuesday works for me."),
        _recv(b, "a3"),
        _send(b, "b2", "Great, see you then."),
        _send(b, "b3", ""),
        _recv(a, "b3"),
        _recv(a, "b2"),
        _send(a, "a4", "Thanks!"),
        _recv(b, "a4"),
    ]
    return _ratchet(
        "ratchet_conversation",
        "A Double Ratchet (header encryption) conversation both ways: out-of-order delivery within a chain "
        "(a2 before a1; b1 before b0; b3 before b2), a late message from a previous chain (a1 after the "
        "responder has replied), four DH ratchet turns, an empty plaintext. All steps succeed.",
        script,
        {"result": "ok"},
    )


def ratchet_tampered() -> Json:
    a, b = "initiator", "responder"
    script = [
        _send(a, "a0", "Please keep this between us."),
        _recv(b, "a0", lambda m: flip(m, -1), "last byte (Poly1305 tag of the body) flipped"),
        _recv(b, "a0", lambda m: flip(m, 12 + 5), "byte 17 (inside the encrypted header) flipped"),
        _recv(b, "a0", lambda m: flip(m, 70), "byte 70 (first byte of the body ciphertext) flipped"),
        _recv(b, "a0", lambda m: m[:83], "truncated to 83 bytes (shorter than header + tag)"),
        _recv(b, "a0"),
        _send(b, "b0", "Of course."),
        _recv(a, "b0", lambda m: flip(m, 0), "byte 0 (header nonce) flipped"),
        _recv(a, "b0"),
    ]
    return _ratchet(
        "ratchet_tampered",
        "Tampered ratchet messages: each must fail with DecryptionError and leave the state exactly as it was, "
        "so the untampered message still opens afterwards.",
        script,
        {"result": "error", "error": "DecryptionError"},
    )


def ratchet_duplicate() -> Json:
    a, b = "initiator", "responder"
    script = [
        _send(a, "a0", "First."),
        _send(a, "a1", "Second."),
        _recv(b, "a0"),
        _recv(b, "a0"),
        _recv(b, "a1"),
        _send(b, "b0", "Reply."),
        _recv(a, "b0"),
        _send(a, "a2", "After your reply."),
        _recv(b, "a2"),
        _recv(b, "a1"),
        _recv(a, "b0"),
    ]
    return _ratchet(
        "ratchet_duplicate",
        "Replayed ratchet messages: a second delivery of a message already decrypted must fail with "
        "DuplicateMessage (a subclass of DecryptionError: safe to acknowledge and drop), whether its chain is "
        "current or already replaced by a DH ratchet turn, and leave the state unchanged.",
        script,
        {"result": "error", "error": "DuplicateMessage"},
    )


# -- sealed sender ---------------------------------------------------------------------------------------

_SEALED_ORDER = [
    "sender IdentityKeyPair.generate: rng(32), rng(32)",
    "sender DeviceKeyPair.generate: rng(32)",
    "sender reply token: rng(32)",
    "recipient IdentityKeyPair.generate: rng(32), rng(32)",
    "inner message: 0x01 || rng(120)",
    "seal: rng(32) ephemeral X25519 private",
]


def _sealed_parts(seed: bytes) -> tuple[IdentityKeyPair, DeviceKeyPair, bytes, IdentityKeyPair, bytes, bytes, bytes]:
    rng = SeededRng(seed)
    sender = IdentityKeyPair.generate(rng)
    device = DeviceKeyPair.generate(sender, rng)
    token = rng(32)
    recipient = IdentityKeyPair.generate(rng)
    inner = b"\x01" + rng(120)
    rec = RecordingRng(rng)
    cert = SenderCertificate(sender.public, device.certificate, token)
    sealed = seal(sender, cert, recipient.public, inner, rec)
    (ephemeral,) = rec.outputs
    return sender, device, token, recipient, inner, sealed, ephemeral


def sealed_sender() -> Json:
    seed = seed_of("sealed_sender")
    sender, device, token, recipient, inner, sealed, ephemeral = _sealed_parts(seed)
    cert = SenderCertificate(sender.public, device.certificate, token)
    got_cert, got_inner = unseal(recipient, sealed)
    assert got_cert.to_bytes() == cert.to_bytes() and got_inner == inner
    return vector(
        "sealed_sender",
        "Sealed sender. Seal: given the sender's identity, device and reply token, the recipient's public "
        "identity, the inner message and the ephemeral X25519 private key (the one rng draw of seal), seal() "
        "must give 'sealed' byte for byte. Open: the recipient's private identity opens 'sealed' to "
        "sender_certificate (version || identity || device certificate || reply token) and 'inner'.",
        seed,
        {
            "draw_order": _SEALED_ORDER,
            "sender_identity_private": h(sender.private_bytes()),
            "sender_device_private": h(device.private_bytes()),
            "reply_token": h(token),
            "recipient_identity_private": h(recipient.private_bytes()),
            "recipient_identity_public": h(recipient.public.to_bytes()),
            "inner": h(inner),
            "ephemeral_private": h(ephemeral),
        },
        {"result": "ok", "sender_certificate": h(cert.to_bytes()), "sealed": h(sealed)},
    )


def sealed_wrong_recipient() -> Json:
    seed = seed_of("sealed_wrong_recipient")
    _sender, _device, _token, recipient, _inner, sealed, _e = _sealed_parts(seed)
    other = IdentityKeyPair.generate(SeededRng(seed + b"/other"))
    cases_in = [
        ("another identity tries to open it", other, sealed),
        ("the right recipient, version byte changed", recipient, flip(sealed, 0)),
        ("the right recipient, ephemeral key changed", recipient, flip(sealed, 5)),
        ("the right recipient, sender certificate ciphertext changed", recipient, flip(sealed, 1 + 32 + 2 + 40)),
        ("the right recipient, message ciphertext changed", recipient, flip(sealed, -1)),
        ("the right recipient, truncated inside the certificate", recipient, sealed[:60]),
    ]
    assert unseal(recipient, sealed)[1] == _inner
    return vector(
        "sealed_wrong_recipient",
        "Sealed-sender messages that must not open: sealed to one identity and opened by another, or changed "
        "in transit. Each must fail with DecryptionError (one opaque error whatever the cause). 'sealed' "
        "itself opens for recipient_identity_private.",
        seed,
        {
            "draw_order": [*_SEALED_ORDER, "other identity: IdentityKeyPair.generate from a second DRBG seeded "
                           "with seed || '/other' (ASCII)"],
            "recipient_identity_private": h(recipient.private_bytes()),
            "other_identity_private": h(other.private_bytes()),
            "sealed": h(sealed),
            "cases": [{"why": why, "opener": "other" if who is other else "recipient", "sealed": h(s)}
                      for why, who, s in cases_in],
        },
        {"result": "error", "error": "DecryptionError",
         "cases": [{"why": why, **expect_error(DecryptionError, unseal, who, s)}
                   for why, who, s in cases_in]},
    )


# -- padding, envelopes, auth ----------------------------------------------------------------------------


def padding() -> Json:
    seed = seed_of("padding")
    rng = SeededRng(seed)
    lengths = [0, 1, 100, 255, 256, 257, 511, 1000, 4095, 4096, 32767, 65534, 65535, 65536, 100000]
    sizes = []
    for n in lengths:
        res, size = attempt(bucket_for, n)
        sizes.append({"length": n, **({"padded_size": size} if size is not None else {}), **res})
        if size is None:
            assert res["error"] == "LocalProtocolError"
    example = rng(10)
    padded = pad(example)
    bad_unpad = [
        ("not a bucket size (300 bytes)", padded + bytes(44)),
        ("below the smallest bucket", padded[:128]),
        ("no 0x80 marker (all zeros)", bytes(256)),
        ("marker replaced by 0x01", example + b"\x01" + bytes(245)),
    ]
    return vector(
        "padding",
        "Plaintext padding: append 0x80 then zeros up to the smallest power-of-two bucket >= length + 1, from "
        "256 to 65536 bytes. 'sizes' maps plaintext lengths to padded sizes; lengths above 65535 must be "
        "refused with LocalProtocolError. 'example' pads to 'padded' and back. Each 'bad_unpad' must fail with "
        "DecryptionError.",
        seed,
        {"lengths": lengths, "example": h(example), "bad_unpad": [{"why": w, "padded": h(p)} for w, p in bad_unpad]},
        {"result": "ok", "sizes": sizes, "padded": h(padded),
         "bad_unpad": [{"why": w, **expect_error(DecryptionError, unpad, p)}
                       for w, p in bad_unpad]},
    )


def envelope() -> Json:
    seed = seed_of("envelope")
    rng = SeededRng(seed)
    env = Envelope(rng(16), rng(16), rng(32), 7 * 24 * 3600, rng(200))
    env2 = Envelope(rng(16), rng(16), rng(32), 3600, rng(40))
    delivery = Delivery(rng(16), 1_700_000_000_123, 1_700_604_800_123, rng(100))
    env_bytes, delivery_bytes = env.to_bytes(), delivery.to_bytes()
    batch = encode_batch([env_bytes, env2.to_bytes()])
    assert Envelope.from_bytes(env_bytes) == env and Delivery.from_bytes(delivery_bytes) == delivery
    assert decode_batch(batch) == [env, env2]
    too_long = env_bytes[:69] + (72 * 1024 + 1).to_bytes(4, "big") + env_bytes[73:]
    malformed = [
        ("envelope", "unknown version 2", b"\x02" + env_bytes[1:]),
        ("envelope", "truncated (last byte missing)", env_bytes[:-1]),
        ("envelope", "trailing byte", env_bytes + b"\x00"),
        ("envelope", "ciphertext length above MAX_SEALED_LEN (73729)", too_long),
        ("envelope", "empty", b""),
        ("delivery", "unknown version 0", b"\x00" + delivery_bytes[1:]),
        ("delivery", "truncated", delivery_bytes[:30]),
        ("batch", "zero envelopes", b"\x00\x00"),
        ("batch", "count says 3, holds 2", b"\x00\x03" + batch[2:]),
        ("batch", "trailing byte", batch + b"\x00"),
    ]
    parsers: dict[str, Callable[[bytes], object]] = {
        "envelope": Envelope.from_bytes, "delivery": Delivery.from_bytes, "batch": decode_batch,
    }

    def env_json(e: Envelope) -> Json:
        return {"envelope_id": h(e.envelope_id), "recipient_device": h(e.recipient_device),
                "delivery_token": h(e.delivery_token), "lifetime_s": e.lifetime_s, "ciphertext": h(e.ciphertext)}

    return vector(
        "envelope",
        "Outer envelope (client to relay), delivery (relay to device) and batch encodings: the fields encode to "
        "the expected bytes and parse back. delivery_token_hash = SHA-256('Confide-delivery-token-v1' || "
        "token). Every 'malformed' input must be refused by its parser ('kind') with RemoteProtocolError.",
        seed,
        {
            "envelope": env_json(env),
            "envelope2": env_json(env2),
            "delivery": {"envelope_id": h(delivery.envelope_id), "received_at_ms": delivery.received_at_ms,
                         "expires_at_ms": delivery.expires_at_ms, "ciphertext": h(delivery.ciphertext)},
            "malformed": [{"kind": k, "why": w, "data": h(d)} for k, w, d in malformed],
        },
        {
            "result": "ok",
            "envelope": h(env_bytes),
            "envelope2": h(env2.to_bytes()),
            "delivery": h(delivery_bytes),
            "batch": h(batch),
            "delivery_token_hash": h(delivery_token_hash(env.delivery_token)),
            "malformed": [{"why": w, **expect_error(RemoteProtocolError, parsers[k], d)}
                          for k, w, d in malformed],
        },
    )


def device_auth() -> Json:
    seed = seed_of("device_auth")
    rng = SeededRng(seed)
    identity = IdentityKeyPair.generate(rng)
    device = DeviceKeyPair.generate(identity, rng)
    requests = [
        ("POST", "/v1/messages", b'{"example": "request body"}', rng(16)),
        ("GET", "/v1/messages?after=0&limit=50", b"", rng(16)),
    ]
    out_requests = []
    for method, path, body, nonce in requests:
        body_hash = hashlib.sha256(body).hexdigest()
        headers = sign_request(device, method, path, body_hash, now=NOW, nonce=nonce)
        proof = AuthProof.from_headers(headers)
        proof.check_time(NOW)
        proof.verify(device.certificate.public_key, method, path)
        canonical = "\n".join(("Confide-auth-v1", method, path, str(NOW), nonce.hex(), body_hash))
        device.certificate.public_key.verify(proof.signature, canonical.encode())
        out_requests.append((method, path, body, nonce, body_hash, canonical, headers))
    method, path, _body, _nonce, _bh, _c, headers = out_requests[0]
    pub = device.certificate.public_key
    bad_sig = dict(headers, **{"X-Confide-Signature": headers["X-Confide-Signature"][:-2] + "AA"})
    missing = {k: v for k, v in headers.items() if k != "X-Confide-Nonce"}
    short_nonce = dict(headers, **{"X-Confide-Nonce": headers["X-Confide-Nonce"][:-2]})
    failures: list[tuple[str, Json, str, str, int]] = [
        ("verified for another path", headers, method, "/v1/keys", NOW),
        ("verified for another method", headers, "PUT", path, NOW),
        ("signature changed", bad_sig, method, path, NOW),
        ("timestamp 301 s behind the relay clock", headers, method, path, NOW + 301),
        ("timestamp 301 s ahead of the relay clock", headers, method, path, NOW - 301),
        ("nonce header missing", missing, method, path, NOW),
        ("nonce of 15 bytes", short_nonce, method, path, NOW),
    ]

    def check(hdrs: Json, m: str, p: str, now: int) -> None:
        proof = AuthProof.from_headers(hdrs)
        proof.check_time(now)
        proof.verify(pub, m, p)

    return vector(
        "device_auth",
        "Device authentication: each request is signed with the device's Ed25519 key (deterministic) over "
        "canonical = 'Confide-auth-v1\\n' METHOD '\\n' PATH?QUERY '\\n' TIMESTAMP '\\n' NONCE_HEX '\\n' "
        "SHA256_HEX(body); the headers carry the device id, timestamp, nonce, body hash and the base64url "
        "signature without padding. Each 'failures' case (headers, method, path as verified, relay clock) "
        "must be refused with AuthError; the replay window is 300 s either way.",
        seed,
        {
            "identity_private": h(identity.private_bytes()),
            "device_private": h(device.private_bytes()),
            "device_public": h(device.certificate.public),
            "timestamp": NOW,
            "requests": [{"method": m, "path": p, "body": h(b), "nonce": h(n)} for m, p, b, n, *_ in out_requests],
            "failures": [{"why": w, "headers": hd, "method": m, "path": p, "relay_now": t}
                         for w, hd, m, p, t in failures],
        },
        {
            "result": "ok",
            "requests": [{"content_sha256": bh, "canonical": c, "headers": hd}
                         for _m, _p, _b, _n, bh, c, hd in out_requests],
            "failures": [{"why": w, **expect_error(AuthError, check, hd, m, p, t)}
                         for w, hd, m, p, t in failures],
        },
    )


# -- optional modules ------------------------------------------------------------------------------------


def content() -> Json:
    from confide.protocol import content as c

    seed = seed_of("content")
    rng = SeededRng(seed)
    values: list[tuple[Json, c.Content]] = []

    def add(kind: str, body_json: Json, body: c.Body, sent: int, expire: int) -> None:
        mid = rng(16)
        values.append(({"message_id": h(mid), "sent_at_ms": sent, "expire_after_s": expire, "type": kind,
                        "body": body_json}, c.Content(mid, sent, expire, body)))

    text = "I slept better this week. Merci — 谢谢 🙂"
    add("text", {"text": text}, c.Text(text), 1_700_000_000_000, 0)
    add("text", {"text": ""}, c.Text(""), 0, c.MAX_TIMER_S)
    key, digest = rng(32), rng(32)
    add("attachment", {"blob_id": "Zm9vYmFyYmF6cXV4LWJsb2ItaWQtMDAwMDAwMDAwMDA", "key": h(key), "digest": h(digest),
                       "size": 123456, "name": "worksheet.pdf", "mime": "application/pdf",
                       "caption": "The worksheet we discussed"},
        c.AttachmentPointer("Zm9vYmFyYmF6cXV4LWJsb2ItaWQtMDAwMDAwMDAwMDA", key, digest, 123456, "worksheet.pdf",
                            "application/pdf", "The worksheet we discussed"),
        1_700_000_100_000, 86400)
    ids = (rng(16), rng(16), rng(16))
    add("receipt", {"kind": "read", "message_ids": [h(i) for i in ids]}, c.Receipt(c.ReceiptKind.READ, ids),
        1_700_000_200_000, 0)
    add("receipt", {"kind": "delivered", "message_ids": [h(ids[0])]},
        c.Receipt(c.ReceiptKind.DELIVERED, ids[:1]), 1_700_000_200_001, 0)
    add("timer", {"seconds": 604800}, c.TimerChange(604800), 1_700_000_300_000, 0)
    add("timer", {"seconds": 0}, c.TimerChange(0), 1_700_000_300_001, 0)
    target = rng(16)
    add("delete", {"target_id": h(target)}, c.Delete(target), 1_700_000_400_000, 0)
    encoded = [v.to_bytes() for _j, v in values]
    for data, (_j, v) in zip(encoded, values, strict=True):
        assert c.Content.from_bytes(data) == v
    text_bytes, timer_bytes, receipt_bytes = encoded[0], encoded[5], encoded[3]
    hdr = 1 + 1 + 16 + 8 + 4
    malformed = [
        ("unknown version 2", b"\x02" + text_bytes[1:]),
        ("unknown type 9", text_bytes[:1] + b"\x09" + text_bytes[2:]),
        ("trailing byte", text_bytes + b"\x00"),
        ("truncated", text_bytes[:-1]),
        ("text is not UTF-8", text_bytes[:hdr] + b"\x00\x00\x00\x02\xc3\x28"),
        ("expire_after_s above one year", text_bytes[:hdr - 4] + (c.MAX_TIMER_S + 1).to_bytes(4, "big")
         + text_bytes[hdr:]),
        ("timer above one year", timer_bytes[:hdr] + (c.MAX_TIMER_S + 1).to_bytes(4, "big")),
        ("receipt of zero messages", receipt_bytes[:hdr + 1] + b"\x00\x00"),
        ("receipt naming a message twice", receipt_bytes[:hdr + 1] + b"\x00\x02" + ids[0] + ids[0]),
        ("unknown receipt kind 3", receipt_bytes[:hdr] + b"\x03" + receipt_bytes[hdr + 1:]),
        ("empty", b""),
    ]
    return vector(
        "content",
        "Message content encoding (canonical: one byte string per value). Each value in inputs.values encodes "
        "to the bytes at the same index of expected.encoded and parses back to an equal value. Each "
        "'malformed' input must be refused with RemoteProtocolError.",
        seed,
        {"values": [j for j, _v in values], "malformed": [{"why": w, "data": h(d)} for w, d in malformed]},
        {"result": "ok", "encoded": [h(e) for e in encoded],
         "malformed": [{"why": w, **expect_error(RemoteProtocolError, c.Content.from_bytes, d)}
                       for w, d in malformed]},
    )


def keystore() -> Json:
    from confide.keys import keystore as ks
    from confide.keys.secret_keys import SecretKeys

    seed = seed_of("keystore")
    rng = SeededRng(seed)
    keys = SecretKeys.generate(rng)
    payload = keys.to_bytes()
    passphrase = "correct horse battery staple ﬁve"
    equivalent = "correct horse battery staple five"
    params = ks.TEST_KDF
    rec = RecordingRng(rng)
    blob = ks.seal_keys(keys, passphrase, params=params, rng=rec)
    salt, nonce = rec.outputs
    key = hash_secret_raw(equivalent.encode(), salt, params.time_cost, params.memory_kib, params.parallelism,
                          32, Type.ID)
    assert ks.open_keys(blob, equivalent).to_bytes() == payload
    costly = blob[:10] + (ks.MAX_KDF.memory_kib + 1).to_bytes(4, "big") + blob[14:]
    cases = [
        ("the passphrase as sealed", passphrase, blob),
        ("an NFKC-equivalent spelling of it", equivalent, blob),
        ("wrong passphrase", "correct horse battery staple", blob),
        ("salt changed (the header is authenticated)", passphrase, flip(blob, 4 + 1 + 1 + 12)),
        ("ciphertext changed", passphrase, flip(blob, -1)),
        ("bad magic", passphrase, b"CFKX" + blob[4:]),
        ("unknown version 2", passphrase, blob[:4] + b"\x02" + blob[5:]),
        ("truncated", passphrase, blob[:-1]),
        ("trailing byte", passphrase, blob + b"\x00"),
        ("memory cost above MAX_KDF (checked before Argon2 runs)", passphrase, costly),
    ]
    results = []
    for why, pw, b in cases:
        res, opened = attempt(ks.unseal, b, pw)
        if opened is not None:
            assert opened == payload
        results.append({"why": why, **res})
    return vector(
        "keystore",
        "Passphrase-sealed key store. Seal: Argon2id(UTF-8(NFKC(passphrase)), salt, time_cost, memory_kib, "
        "parallelism, 32 bytes) -> key; blob = header(50) || ChaCha20-Poly1305(key, nonce, payload, aad=header). "
        "With the given salt and nonce (seal's two rng draws, in that order) sealing must give 'blob' byte for "
        "byte; 'key' is the Argon2id output. The payload is SecretKeys (version || identity private || device "
        "private || store key). Each case opens 'blob' (as changed) with a passphrase: ok (giving the payload) "
        "or the listed error. The Argon2 costs here are deliberately cheap test costs.",
        seed,
        {
            "payload": h(payload),
            "passphrase": passphrase,
            "passphrase_nfkc_utf8": h(equivalent.encode()),
            "kdf": {"time_cost": params.time_cost, "memory_kib": params.memory_kib,
                    "parallelism": params.parallelism},
            "salt": h(salt),
            "nonce": h(nonce),
            "cases": [{"why": w, "passphrase": pw, "blob": h(b)} for w, pw, b in cases],
        },
        {"result": "ok", "key": h(key), "blob": h(blob), "address_text": keys.identity.address.text,
         "cases": results},
    )


def safety_number() -> Json:
    from confide.keys import safety as sn

    seed = seed_of("safety_number")
    rng = SeededRng(seed)
    alice, bob = IdentityKeyPair.generate(rng), IdentityKeyPair.generate(rng)
    number = sn.compute_safety_number(alice.public, bob.public)
    assert sn.compute_safety_number(bob.public, alice.public) == number
    payload = number.qr_payload()
    scans = [
        ("the other side's own payload", payload),
        ("one fingerprint byte changed", flip(payload, 40)),
        ("version 2", b"\x02" + payload[1:]),
        ("one byte short", payload[:-1]),
        ("empty", b""),
    ]
    return vector(
        "safety_number",
        "Safety number of two identities (iterated SHA-512, 5200 iterations per party). Both orders of the "
        "identities give the same 60 digits and QR payload (version || lower fingerprint || higher "
        "fingerprint). Each scanned payload compares to the listed result (match, mismatch, wrong_version, "
        "malformed); scanning never raises.",
        seed,
        {"identity_a": h(alice.public.to_bytes()), "identity_b": h(bob.public.to_bytes()),
         "scans": [{"why": w, "payload": h(p)} for w, p in scans]},
        {"result": "ok", "digits": number.digits, "display": number.display(),
         "fingerprints": [h(f) for f in number.fingerprints], "qr_payload": h(payload),
         "scans": [{"why": w, "scan": number.verify_scan(p).value} for w, p in scans]},
    )


# -- driver ----------------------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[], Json]] = {
    "address.json": address,
    "identity_and_bundle.json": identity_and_bundle,
    "bundle_forged_signature.json": bundle_forged_signature,
    "ratchet_conversation.json": ratchet_conversation,
    "ratchet_tampered.json": ratchet_tampered,
    "ratchet_duplicate.json": ratchet_duplicate,
    "sealed_sender.json": sealed_sender,
    "sealed_wrong_recipient.json": sealed_wrong_recipient,
    "padding.json": padding,
    "envelope.json": envelope,
    "device_auth.json": device_auth,
    "content.json": content,
    "keystore.json": keystore,
    "safety_number.json": safety_number,
}
"""Reproducible scenarios, by file name."""
OPTIONAL = frozenset({"content.json", "keystore.json", "safety_number.json"})
"""Scenarios of modules written in parallel: skipped (with a note) if their module does not import."""


def dump(vector_json: Json) -> str:
    """The canonical text of a vector file (stable key order, two-space indent, final newline)."""
    return json.dumps(vector_json, indent=2, ensure_ascii=True) + "\n"


def generate(out: Path, *, regenerate_kem: bool = False, log: Callable[[str], None] = print) -> list[Path]:
    """Write every vector file into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in SCENARIOS.items():
        try:
            data = make()
        except ImportError as exc:
            if name not in OPTIONAL:
                raise
            log(f"skipped {name}: {exc}")
            continue
        path = out / name
        path.write_text(dump(data), encoding="utf-8")
        written.append(path)
    kem_path = out / KEM_FILE
    if regenerate_kem or not kem_path.exists():
        kem_path.write_text(dump(pqxdh_first_message()), encoding="utf-8")
        written.append(kem_path)
    else:
        log(f"kept {KEM_FILE} (not reproducible; use --regenerate-kem to replace it)")
    first = json.loads(kem_path.read_text(encoding="utf-8"))
    if not isinstance(first, dict) or first.get("scenario") != "pqxdh_first_message":
        raise SystemExit(f"{kem_path} is not a PQXDH vector; rerun with --regenerate-kem to replace it")
    derived = out / KEM_DERIVED_FILE
    derived.write_text(dump(pqxdh_tampered(first)), encoding="utf-8")
    written.append(derived)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate Confide's test vectors.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: tests/vectors/)")
    parser.add_argument("--regenerate-kem", action="store_true",
                        help=f"also replace {KEM_FILE}, which cannot be reproduced byte for byte")
    args = parser.parse_args(argv)
    for path in generate(args.out, regenerate_kem=args.regenerate_kem):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
