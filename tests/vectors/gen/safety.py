"""Section 10.4, safety numbers: ``safety_number.json``.

``confide.keys.safety`` is imported when the scenario runs: the generator skips the file (with a note) if that
module does not import."""

from __future__ import annotations

from confide.keys.identity import IdentityKeyPair

from .common import Json, flip, h, seed_of, vector
from .drbg import SeededRng


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
        {
            "identity_a": h(alice.public.to_bytes()),
            "identity_b": h(bob.public.to_bytes()),
            "scans": [{"why": w, "payload": h(p)} for w, p in scans],
        },
        {
            "result": "ok",
            "digits": number.digits,
            "display": number.display(),
            "fingerprints": [h(f) for f in number.fingerprints],
            "qr_payload": h(payload),
            "scans": [{"why": w, "scan": number.verify_scan(p).value} for w, p in scans],
        },
    )
