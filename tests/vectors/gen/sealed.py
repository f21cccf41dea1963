"""Section 5, sealed sender: ``sealed_sender.json`` and ``sealed_wrong_recipient.json``."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.keys.device import DeviceKeyPair
from confide.keys.identity import IdentityKeyPair
from confide.protocol.errors import DecryptionError
from confide.protocol.sealed import SenderCertificate, seal, unseal

from .common import Json, expect_error, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng

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
    assert got_cert.to_bytes() == cert.to_bytes()
    assert got_inner == inner
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


def seal_raw(sender: IdentityKeyPair, certificate: bytes, recipient: IdentityKeyPair, inner: bytes, e: bytes) -> bytes:
    """SPEC section 5's seal from the primitives, for any certificate bytes (a forged one included)."""
    eph = X25519PrivateKey.from_private_bytes(e)
    e_pub = eph.public_key().public_bytes_raw()
    agreement = recipient.public.to_bytes()[32:64]
    s1 = eph.exchange(recipient.public.agreement_key)
    keys = HKDF(hashes.SHA256(), 64, salt=bytes(32), info=b"Confide-sealed-static-v1" + agreement + e_pub).derive(s1)
    static_ct = ChaCha20Poly1305(keys[32:]).encrypt(bytes(12), certificate, e_pub)
    s2 = sender.agree(recipient.public.agreement_key)
    k_msg = HKDF(hashes.SHA256(), 32, salt=keys[:32], info=b"Confide-sealed-message-v1" + static_ct).derive(s2)
    message_ct = ChaCha20Poly1305(k_msg).encrypt(bytes(12), inner, e_pub)
    return b"\x01" + e_pub + len(static_ct).to_bytes(2, "big") + static_ct + message_ct


CERTIFICATE_FORGERIES = [
    ("the identity's agreement-key certificate (a byte of its signature) forged", "flip", 1 + 64 + 10),
    ("the device certificate (a byte of its signature) forged", "flip", 1 + 128 + 32 + 10),
    ("the device public key changed (its certificate no longer verifies)", "flip", 1 + 128 + 5),
    ("certificate version 2", "flip", 0),
    ("one trailing byte after the certificate (static_ct 274 bytes)", "append", 0),
    ("certificate one byte short (static_ct 272 bytes)", "truncate", 1),
]
"""Sealed correctly (every AEAD opens) around a certificate that must be refused: (why, edit, offset)."""


def forge(certificate: bytes, edit: str, offset: int) -> bytes:
    if edit == "flip":
        return flip(certificate, offset)
    if edit == "append":
        return certificate + b"\x00"
    assert edit == "truncate"
    return certificate[:-offset]


def sealed_wrong_recipient() -> Json:
    seed = seed_of("sealed_wrong_recipient")
    sender, device, token, recipient, inner, sealed, ephemeral = _sealed_parts(seed)
    certificate = SenderCertificate(sender.public, device.certificate, token).to_bytes()
    assert seal_raw(sender, certificate, recipient, inner, ephemeral) == sealed
    other = IdentityKeyPair.generate(SeededRng(seed + b"/other"))
    cases_in = [
        ("another identity tries to open it", other, sealed),
        ("the right recipient, version byte changed", recipient, flip(sealed, 0)),
        ("the right recipient, ephemeral key changed", recipient, flip(sealed, 5)),
        ("the right recipient, sender certificate ciphertext changed", recipient, flip(sealed, 1 + 32 + 2 + 40)),
        ("the right recipient, message ciphertext changed", recipient, flip(sealed, -1)),
        ("the right recipient, truncated inside the certificate", recipient, sealed[:60]),
        *(
            (
                f"sealed for the right recipient around a bad certificate: {why}",
                recipient,
                seal_raw(sender, forge(certificate, edit, offset), recipient, inner, ephemeral),
            )
            for why, edit, offset in CERTIFICATE_FORGERIES
        ),
    ]
    assert unseal(recipient, sealed)[1] == inner
    return vector(
        "sealed_wrong_recipient",
        "Sealed-sender messages that must not open: sealed to one identity and opened by another, or changed "
        "in transit. Each must fail with DecryptionError (one opaque error whatever the cause). 'sealed' "
        "itself opens for recipient_identity_private. The 'bad certificate' cases are sealed correctly (with "
        "sealed_sender.json's sender, recipient, inner message and ephemeral key) around a sender certificate "
        "changed as 'forgery' says (flip = XOR 0x01 at offset in the certificate; append one 0x00; truncate "
        "the last byte): the opener must verify both signatures of the certificate (the identity's over its "
        "agreement key, and the device certificate's) and require exactly 257 certificate bytes (static_ct "
        "of 273).",
        seed,
        {
            "draw_order": [
                *_SEALED_ORDER,
                "other identity: IdentityKeyPair.generate from a second DRBG seeded with seed || '/other' (ASCII)",
            ],
            "recipient_identity_private": h(recipient.private_bytes()),
            "other_identity_private": h(other.private_bytes()),
            "sealed": h(sealed),
            "cases": [
                {"why": why, "opener": "other" if who is other else "recipient", "sealed": h(s)}
                for why, who, s in cases_in
            ],
            "forgeries": [{"why": why, "edit": edit, "offset": offset} for why, edit, offset in CERTIFICATE_FORGERIES],
        },
        {
            "result": "error",
            "error": "DecryptionError",
            "cases": [{"why": why, **expect_error(DecryptionError, unseal, who, s)} for why, who, s in cases_in],
        },
    )
