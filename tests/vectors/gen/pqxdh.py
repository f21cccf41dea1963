"""Section 2, PQXDH: ``pqxdh_first_message.json`` (not reproducible: ML-KEM encapsulation takes no RNG) and
``pqxdh_tampered.json`` (derived deterministically from the first-message file beside it)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.keys.device import DeviceKeyPair
from confide.keys.identity import IdentityKeyPair
from confide.keys.prekeys import KemPreKeyRecord, OneTimePreKeyRecord, PreKeyBundle, SignedPreKeyRecord
from confide.protocol.errors import DecryptionError
from confide.protocol.pqxdh import PreKeyHeader, respond
from confide.protocol.session import accept_session, initiate_session, parse_inner

from .common import FLIP_MASK, NOW, Json, expect_error, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng
from .identity import Responder

_PQXDH_PLAINTEXT = b"Hello, I would like to book a first session. Is Tuesday possible?"


def _pqxdh_parties() -> tuple[Responder, IdentityKeyPair, DeviceKeyPair, bytes]:
    rng = SeededRng(seed_of("pqxdh_first_message"))
    responder = Responder(rng)
    initiator = IdentityKeyPair.generate(rng)
    initiator_device = DeviceKeyPair.generate(initiator, rng)
    return responder, initiator, initiator_device, rng(32)


_PQXDH_ORDER = [
    *(f"responder {step}" for step in Responder.ORDER),
    "initiator IdentityKeyPair.generate: rng(32), rng(32)",
    "initiator DeviceKeyPair.generate: rng(32)",
    "initiator session_rng_seed: rng(32)",
]


def _pqxdh_inputs(responder: Responder, initiator: IdentityKeyPair, initiator_device: DeviceKeyPair) -> Json:
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


def intermediates(responder: Responder, header: PreKeyHeader) -> Json:
    """SPEC section 2's values on the responder side, from the primitives: each DH output, the ML-KEM shared
    secret and SK (for an implementer to find where it goes wrong)."""
    ek = X25519PublicKey.from_public_bytes(header.ephemeral)
    dh1 = responder.signed.private.exchange(header.initiator.agreement_key)
    dh2 = responder.identity.agreement_private.exchange(ek)
    dh3 = responder.signed.private.exchange(ek)
    dh4 = responder.one_time[0].private.exchange(ek)
    ss = responder.kem_one_time.private.decapsulate(header.kem_ciphertext)
    ikm = b"\xff" * 32 + dh1 + dh2 + dh3 + dh4 + ss
    sk = HKDF(hashes.SHA256(), 32, salt=bytes(32), info=b"Confide_PQXDH_X25519_SHA-256_ML-KEM-768_v1").derive(ikm)
    init = HKDF(hashes.SHA256(), 96, salt=None, info=b"Confide-ratchet-init-v1").derive(sk)
    return {
        "dh1": h(dh1),
        "dh2": h(dh2),
        "dh3": h(dh3),
        "dh4": h(dh4),
        "kem_shared_secret": h(ss),
        "sk": h(sk),
        "ratchet_init": h(init),
    }


def pqxdh_first_message() -> Json:
    """Not reproducible: the KEM ciphertext comes from OpenSSL's RNG."""
    responder, initiator, initiator_device, session_seed = _pqxdh_parties()
    rng = RecordingRng(SeededRng(session_seed))
    bundle = PreKeyBundle.from_bytes(responder.bundle(with_one_time=True))
    session = initiate_session(initiator, bundle, rng=rng)
    inner = session.encrypt(_PQXDH_PLAINTEXT, rng)
    kind, header, _body = parse_inner(inner)
    assert kind == 2
    assert header is not None
    agreement = respond(responder.identity, header, responder.signed, responder.one_time[0], responder.kem_one_time)
    steps = intermediates(responder, header)
    assert steps.pop("ratchet_init") == h(agreement.root_key + agreement.header_key_a + agreement.next_header_key_b)
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
        "(ephemeral key, ratchet key, header nonce) for reference only. For debugging, 'intermediate' gives "
        "each X25519 output (DH1 = X25519(SPK_B, IK_A), DH2 = X25519(IK_B, EK_A), DH3 = X25519(SPK_B, EK_A), "
        "DH4 = X25519(OPK_B, EK_A)), the ML-KEM-768 shared secret (decapsulated with the KEM prekey's seed "
        "d || z) and SK = HKDF(salt=0^32, ikm=0xFF^32 || DH1 || DH2 || DH3 || DH4 || SS, "
        "info='Confide_PQXDH_X25519_SHA-256_ML-KEM-768_v1', L=32); root_key || header_key_a || "
        "next_header_key_b = HKDF(salt=none, ikm=SK, info='Confide-ratchet-init-v1', L=96).",
        seed_of("pqxdh_first_message"),
        inputs,
        {
            "result": "ok",
            "plaintext": h(_PQXDH_PLAINTEXT),
            "signed_prekey_id": header.signed_prekey_id,
            "used_one_time_prekey_id": header.one_time_prekey_id,
            "used_kem_prekey_id": header.kem_prekey_id,
            "ephemeral_public": h(header.ephemeral),
            "intermediate": steps,
            "associated_data": h(agreement.associated_data),
            "root_key": h(agreement.root_key),
            "header_key_a": h(agreement.header_key_a),
            "next_header_key_b": h(agreement.next_header_key_b),
        },
    )


class _Lookup:
    def __init__(self, responder: Responder) -> None:
        self._r = responder

    def signed_prekey(self, key_id: int) -> SignedPreKeyRecord | None:
        return self._r.signed if key_id == self._r.signed.key_id else None

    def one_time_prekey(self, key_id: int) -> OneTimePreKeyRecord | None:
        return self._r.one_time[0] if key_id == self._r.one_time[0].key_id else None

    def kem_prekey(self, key_id: int) -> KemPreKeyRecord | None:
        return self._r.kem_one_time if key_id == self._r.kem_one_time.key_id else None


def _accept(responder: Responder, inner: bytes, device_id: bytes) -> bytes:
    kind, header, body = parse_inner(inner)
    assert kind == 2
    assert header is not None
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
        ("one-time prekey id (names one the responder does not hold: already used)", 1 + 1 + 128 + 32 + 4 + 1 + 3),
        ("KEM prekey id (names a KEM prekey the responder does not have)", 1 + 1 + 128 + 32 + 4 + 1 + 4 + 3),
        ("last byte of the KEM ciphertext (implicit rejection gives another shared secret)", header_len),
        ("encrypted ratchet header", 1 + header_len + 20),
        ("ratchet message body (Poly1305 tag, last byte)", len(inner) - 1),
    ]
    cases = []
    for why, offset in places:
        bad = flip(inner, offset)
        cases.append(
            {
                "why": why,
                "offset": offset,
                "inner_message": h(bad),
                **expect_error(DecryptionError, _accept, responder, bad, device_id),
            }
        )
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
        {
            "result": "error",
            "error": "DecryptionError",
            "cases": [{k: c[k] for k in ("why", "result", "error")} for c in cases],
        },
    )
