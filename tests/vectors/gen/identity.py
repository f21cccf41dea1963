"""Section 1, keys and identities: ``address.json``, ``identity_and_bundle.json``, ``bundle_forged_signature.json``.

:class:`Responder` (a device's full private key set in a documented draw order) is shared with the PQXDH
scenarios."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide.keys.address import Address
from confide.keys.device import DeviceKeyPair
from confide.keys.encoding import RNG
from confide.keys.errors import InvalidAddress, InvalidSignature
from confide.keys.identity import IdentityKeyPair
from confide.keys.prekeys import KemPreKeyRecord, OneTimePreKeyRecord, PreKeyBundle, SignedPreKeyRecord

from .common import FLIP_MASK, NOW, Json, expect_error, flip, h, outcome, seed_of, vector
from .drbg import RecordingRng, SeededRng


def address() -> Json:
    seed = seed_of("address")
    rng = SeededRng(seed)
    valid = []
    for _ in range(3):
        signing_seed = rng(32)
        public = Ed25519PrivateKey.from_private_bytes(signing_seed).public_key().public_bytes_raw()
        addr = Address.from_identity_signing_key(public)
        assert Address.parse(addr.text) == addr
        valid.append(
            {"signing_seed": h(signing_seed), "signing_public": h(public), "address": h(addr.raw), "text": addr.text}
        )
    text = valid[0]["text"]
    variants = [
        text.upper(),
        text.replace("-", " "),
        text.replace("-", ""),
        "  " + text + "\n",
        text[:24] + "\r\n\t" + text[24:],
        "-" + text.replace("-", "--") + "-",
        text[:4].upper() + text[4:],
    ]
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
        (
            "a no-break space (U+00A0) between groups: only ASCII space, tab, CR, LF and '-' are dropped",
            text[:9] + "\u00a0" + text[9:],
        ),
        ("an ideographic space (U+3000)", text[:9] + "\u3000" + text[9:]),
        ("a vertical tab (U+000B) between groups", text[:9] + "\u000b" + text[9:]),
        ("an underscore between groups", text[:9] + "_" + text[9:]),
        ("the Kelvin sign (U+212A, lower case 'k') for a 'k'", _kelvin([v["text"] for v in valid])),
        ("base32 padding '=' in place of the last 6 characters", text[:-6] + "======"),
    ]
    return vector(
        "address",
        "Account addresses. For each signing key: address = SHA-256('Confide-address-v1' || signing_public)[:20] "
        "and its text form. 'accepted_variants' must all parse to the first address (parsing drops ASCII space, "
        "tab, CR, LF and '-' and nothing else, and ignores the case of ASCII letters); every 'invalid' text "
        "must be refused with InvalidAddress (any other character, non-ASCII included). signing_seed is the "
        "Ed25519 seed whose public key is signing_public.",
        seed,
        {
            "signing_keys": [{"signing_seed": v["signing_seed"], "signing_public": v["signing_public"]} for v in valid],
            "accepted_variants": variants,
            "invalid": [{"why": why, "text": t} for why, t in invalid],
        },
        {
            "result": "ok",
            "addresses": [{"address": v["address"], "text": v["text"]} for v in valid],
            "accepted_variants_address": valid[0]["address"],
            "invalid": [{"why": why, **expect_error(InvalidAddress, Address.parse, t)} for why, t in invalid],
        },
    )


def _kelvin(texts: list[str]) -> str:
    """The first of ``texts`` holding a 'k', that 'k' written as the Kelvin sign (whose lower case is 'k')."""
    text = next(t for t in texts if "k" in t[4:])
    i = text.index("k", 4)
    return text[:i] + "\u212a" + text[i + 1 :]


class Responder:
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
            return PreKeyBundle(
                self.identity.public,
                self.device.certificate,
                self.signed.public,
                self.one_time[0].public,
                self.kem_one_time.public,
            ).to_bytes()
        return PreKeyBundle(
            self.identity.public, self.device.certificate, self.signed.public, None, self.kem_last_resort.public
        ).to_bytes()


def identity_and_bundle() -> Json:
    seed = seed_of("identity_and_bundle")
    rng = RecordingRng(SeededRng(seed))
    r = Responder(rng)
    bundle = r.bundle(with_one_time=True)
    bundle_plain = r.bundle(with_one_time=False)
    for b in (bundle, bundle_plain):
        assert PreKeyBundle.from_bytes(b).to_bytes() == b

    def kem_json(k: KemPreKeyRecord) -> Json:
        return {
            "key_id": k.key_id,
            "last_resort": k.last_resort,
            "seed": h(k.seed),
            "record": h(k.to_bytes()),
            "public": h(k.public.to_bytes()),
        }

    return vector(
        "identity_and_bundle",
        "Key generation from the seeded DRBG in the order of inputs.generation (Ed25519 signing is deterministic, "
        "so every certificate and signature is reproducible). Check: the private forms load to the listed public "
        "forms; 'bundle' (with one-time prekey 100 and one-time KEM prekey 200) and 'bundle_without_one_time' "
        "(last-resort KEM prekey 1) parse, verify and re-encode byte for byte, and match the address.",
        seed,
        {"now": NOW, "generation": list(Responder.ORDER), "rng_outputs": rng.take()},
        {
            "result": "ok",
            "identity_private": h(r.identity.private_bytes()),
            "identity_public": h(r.identity.public.to_bytes()),
            "address": h(r.identity.address.raw),
            "address_text": r.identity.address.text,
            "device_private": h(r.device.private_bytes()),
            "device_certificate": h(r.device.certificate.to_bytes()),
            "device_id": h(r.device.device_id),
            "signed_prekey": {
                "key_id": r.signed.key_id,
                "created_at": NOW,
                "record": h(r.signed.to_bytes()),
                "public": h(r.signed.public.to_bytes()),
            },
            "one_time_prekeys": [
                {"key_id": k.key_id, "record": h(k.to_bytes()), "public": h(k.public.to_bytes())} for k in r.one_time
            ],
            "kem_prekeys": [kem_json(r.kem_last_resort), kem_json(r.kem_one_time)],
            "bundle": h(bundle),
            "bundle_without_one_time": h(bundle_plain),
        },
    )


def bundle_forged_signature() -> Json:
    seed = seed_of("bundle_forged_signature")
    r = Responder(SeededRng(seed))
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
        cases.append(
            {
                "why": why,
                "offset": offset,
                "bundle": h(forged),
                **expect_error(InvalidSignature, PreKeyBundle.from_bytes, forged),
            }
        )
    return vector(
        "bundle_forged_signature",
        "A valid bundle (keys generated as in identity_and_bundle, from this file's seed) and copies with one byte "
        f"XORed with 0x{FLIP_MASK:02x} at 'offset' in a signed field. Parsing each forged bundle must fail with "
        "InvalidSignature; the original parses.",
        seed,
        {"bundle": h(bundle), "cases": [{k: c[k] for k in ("why", "offset", "bundle")} for c in cases]},
        {
            "result": "error",
            "error": "InvalidSignature",
            "original": outcome(PreKeyBundle.from_bytes, bundle),
            "cases": [{k: c[k] for k in ("why", "result", "error")} for c in cases],
        },
    )
