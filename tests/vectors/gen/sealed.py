"""Section 5, sealed sender: ``sealed_sender.json`` and ``sealed_wrong_recipient.json``."""

from __future__ import annotations

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
        },
        {
            "result": "error",
            "error": "DecryptionError",
            "cases": [{"why": why, **expect_error(DecryptionError, unseal, who, s)} for why, who, s in cases_in],
        },
    )
