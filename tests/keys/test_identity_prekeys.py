"""The key foundation: addresses, identities, devices, prekeys, bundles and the refill policy."""

from __future__ import annotations

import random

import pytest

from confide.keys import (
    Address,
    AddressMismatch,
    DeviceCertificate,
    DeviceKeyPair,
    IdentityKeyPair,
    IdentityPublicKey,
    InvalidAddress,
    InvalidSignature,
    KemPreKeyPublic,
    KemPreKeyRecord,
    MalformedKey,
    OneTimePreKeyPublic,
    OneTimePreKeyRecord,
    PreKeyBundle,
    SignedPreKeyPublic,
    SignedPreKeyRecord,
    plan_refill,
)
from confide.keys.prekeys import (
    KEM_ONE_TIME_BATCH,
    KEM_PREKEY_LEN,
    ONE_TIME_PREKEY_BATCH,
    REFILL_THRESHOLD,
    SIGNED_PREKEY_LEN,
    SIGNED_PREKEY_ROTATION_S,
)

NOW = 1_700_000_000
RNG = random.Random(11).randbytes
ALICE = IdentityKeyPair.generate(RNG)
BOB = IdentityKeyPair.generate(RNG)
DEVICE = DeviceKeyPair.generate(ALICE, RNG)
SPK = SignedPreKeyRecord.generate(ALICE, 7, RNG, NOW)
KEM = KemPreKeyRecord.generate(ALICE, 8, RNG, NOW, last_resort=True)
OTKS = OneTimePreKeyRecord.generate_batch(100, 3, RNG)


def bundle_bytes(with_otk: bool = True) -> bytes:
    bundle = PreKeyBundle(
        ALICE.public, DEVICE.certificate, SPK.public, OTKS[0].public if with_otk else None, KEM.public
    )
    return bundle.to_bytes()


# Offsets of each signature inside a bundle with a one-time prekey.
_ID_CERT = 1 + 64
_DEV_SIG = 1 + 128 + 32
_SPK_SIG = 1 + 128 + 96 + 4 + 32
_KEM_SIG = 1 + 128 + 96 + SIGNED_PREKEY_LEN + 1 + 36 + 4 + 1 + 1184


# --- addresses -------------------------------------------------------------------------------------


def test_address_text_round_trip_and_leniency() -> None:
    address = ALICE.address
    text = address.text
    assert text.startswith("cf1-")
    assert Address.parse(text) == address
    assert Address.parse(text.upper()) == address
    assert Address.parse(text.replace("-", " ")) == address
    assert Address.parse(" " + text.replace("-", "") + "\n") == address
    assert repr(address) == f"Address({text!r})"
    assert address == Address.from_identity_signing_key(ALICE.public.signing)
    assert address != BOB.address


def test_address_typos_are_caught() -> None:
    text = ALICE.address.text
    body_start = len("cf1-")
    for i in range(body_start, len(text)):
        if text[i] == "-":
            continue
        replacement = "a" if text[i] != "a" else "b"
        typo = text[:i] + replacement + text[i + 1 :]
        with pytest.raises(InvalidAddress, match="checksum"):
            Address.parse(typo)


@pytest.mark.parametrize(
    "bad", ["", "cf2-aaaa", "cf1-", "cf1-" + "a" * 39, "cf1-" + "a" * 41, "cf1-" + "1" * 40, "hello"]
)
def test_address_malformed(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        Address.parse(bad)


def test_address_raw_length_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="20 bytes"):
        Address(b"\x00" * 19)


# --- identities and devices ------------------------------------------------------------------------


def test_identity_round_trips() -> None:
    assert IdentityPublicKey.from_bytes(ALICE.public.to_bytes()) == ALICE.public
    restored = IdentityKeyPair.from_private_bytes(ALICE.private_bytes())
    assert restored.public == ALICE.public
    assert ALICE.public.fingerprint() != BOB.public.fingerprint()
    signature = ALICE.sign(b"hello")
    ALICE.public.verify(signature, b"hello", "test message")
    with pytest.raises(InvalidSignature):
        BOB.public.verify(signature, b"hello", "test message")


def test_identity_reprs_hide_private_keys() -> None:
    text = repr(ALICE) + repr(ALICE.public) + repr(DEVICE)
    assert ALICE.private_bytes()[:32].hex() not in text
    assert ALICE.private_bytes()[32:].hex() not in text
    assert DEVICE.private_bytes().hex() not in text
    assert ALICE.address.text in repr(ALICE)


def test_identity_malformed_lengths() -> None:
    public = ALICE.public.to_bytes()
    for bad in (b"", public[:-1], public + b"\x00"):
        with pytest.raises(MalformedKey):
            IdentityPublicKey.from_bytes(bad)
    for n in (0, 63, 65):
        with pytest.raises(MalformedKey):
            IdentityKeyPair.from_private_bytes(b"\x01" * n)


def test_identity_certificate_forgery_refused() -> None:
    data = bytearray(ALICE.public.to_bytes())
    data[64] ^= 1
    with pytest.raises(InvalidSignature):
        IdentityPublicKey.from_bytes(bytes(data))
    # Bob's agreement key under Alice's signing key and certificate.
    mixed = ALICE.public.signing + BOB.public.agreement + ALICE.public.certificate
    with pytest.raises(InvalidSignature):
        IdentityPublicKey.from_bytes(mixed)


def test_device_certificate() -> None:
    cert = DeviceCertificate.from_bytes(DEVICE.certificate.to_bytes(), ALICE.public)
    assert cert == DEVICE.certificate
    assert cert.device_id == DEVICE.device_id
    assert len(DEVICE.device_id) == 16
    with pytest.raises(InvalidSignature):
        DeviceCertificate.from_bytes(DEVICE.certificate.to_bytes(), BOB.public)
    with pytest.raises(MalformedKey):
        DeviceCertificate.from_bytes(DEVICE.certificate.to_bytes()[:-1], ALICE.public)
    restored = DeviceKeyPair.from_private_bytes(DEVICE.private_bytes(), ALICE)
    assert restored.certificate == DEVICE.certificate
    with pytest.raises(MalformedKey):
        DeviceKeyPair.from_private_bytes(b"\x00" * 31, ALICE)


# --- prekeys and bundles ---------------------------------------------------------------------------


def test_bundle_round_trip_with_and_without_one_time_prekey() -> None:
    for with_otk in (True, False):
        data = bundle_bytes(with_otk)
        bundle = PreKeyBundle.from_bytes(data)
        assert bundle.to_bytes() == data
        assert bundle.identity == ALICE.public
        assert bundle.device == DEVICE.certificate
        assert bundle.signed_prekey.key_id == 7
        assert bundle.kem_prekey.key_id == 8
        assert bundle.kem_prekey.last_resort
        assert (bundle.one_time_prekey is not None) == with_otk
        bundle.check_address(ALICE.address)


def test_bundle_for_another_address_is_refused() -> None:
    bundle = PreKeyBundle.from_bytes(bundle_bytes())
    with pytest.raises(AddressMismatch):
        bundle.check_address(BOB.address)


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("identity certificate", _ID_CERT),
        ("device", _DEV_SIG),
        ("signed prekey", _SPK_SIG),
        ("kem", _KEM_SIG),
    ],
)
def test_bundle_signature_forgery_refused(name: str, offset: int) -> None:
    data = bundle_bytes()
    for i in (offset, offset + 31, offset + 32, offset + 63):
        forged = bytearray(data)
        forged[i] ^= 0x01
        with pytest.raises(InvalidSignature):
            PreKeyBundle.from_bytes(bytes(forged))


def test_bundle_signed_key_swap_refused() -> None:
    data = bytearray(bundle_bytes())
    data[1 + 128 + 96 + 4] ^= 1  # the signed prekey's public key, not its signature
    with pytest.raises(InvalidSignature):
        PreKeyBundle.from_bytes(bytes(data))
    # Bob's keys re-signed by Bob but presented under Alice's identity.
    bob_spk = SignedPreKeyRecord.generate(BOB, 7, RNG, NOW)
    spliced = bundle_bytes().replace(SPK.public.to_bytes(), bob_spk.public.to_bytes())
    with pytest.raises(InvalidSignature):
        PreKeyBundle.from_bytes(spliced)


def test_bundle_malformed() -> None:
    data = bundle_bytes()
    for n in (0, 1, 100, len(data) - 1):
        with pytest.raises(MalformedKey):
            PreKeyBundle.from_bytes(data[:n])
    with pytest.raises(MalformedKey):
        PreKeyBundle.from_bytes(data + b"\x00")
    with pytest.raises(MalformedKey, match="version"):
        PreKeyBundle.from_bytes(b"\x02" + data[1:])
    flag_at = 1 + 128 + 96 + SIGNED_PREKEY_LEN
    with pytest.raises(MalformedKey):
        PreKeyBundle.from_bytes(data[:flag_at] + b"\x02" + data[flag_at + 1 :])


def test_prekey_publics_parse_and_refuse() -> None:
    assert SignedPreKeyPublic.parse(SPK.public.to_bytes(), ALICE.public).public == SPK.public.public
    with pytest.raises(InvalidSignature):
        SignedPreKeyPublic.parse(SPK.public.to_bytes(), BOB.public)
    with pytest.raises(MalformedKey):
        SignedPreKeyPublic.parse(SPK.public.to_bytes()[:-1], ALICE.public)
    kem = KemPreKeyPublic.parse(KEM.public.to_bytes(), ALICE.public)
    assert kem.public == KEM.public.public
    assert len(kem.to_bytes()) == KEM_PREKEY_LEN
    bad_flags = bytearray(KEM.public.to_bytes())
    bad_flags[4] = 0x02
    with pytest.raises(MalformedKey, match="flags"):
        KemPreKeyPublic.parse(bytes(bad_flags), ALICE.public)
    # Turning a one-time KEM key into a last-resort one breaks its signature.
    one_time = KemPreKeyRecord.generate(ALICE, 9, RNG, NOW, last_resort=False)
    promoted = bytearray(one_time.public.to_bytes())
    promoted[4] = 0x01
    with pytest.raises(InvalidSignature):
        KemPreKeyPublic.parse(bytes(promoted), ALICE.public)
    assert OneTimePreKeyPublic.parse(OTKS[1].public.to_bytes()).key_id == 101
    with pytest.raises(MalformedKey):
        OneTimePreKeyPublic.parse(b"\x00" * 35)


def test_prekey_records_round_trip() -> None:
    spk = SignedPreKeyRecord.from_bytes(SPK.to_bytes())
    assert (spk.key_id, spk.created_at, spk.public.to_bytes()) == (7, NOW, SPK.public.to_bytes())
    assert spk.to_bytes() == SPK.to_bytes()
    kem = KemPreKeyRecord.from_bytes(KEM.to_bytes())
    assert (kem.key_id, kem.last_resort, kem.created_at) == (8, True, NOW)
    assert kem.public.to_bytes() == KEM.public.to_bytes()
    assert kem.to_bytes() == KEM.to_bytes()
    for otk in OTKS:
        restored = OneTimePreKeyRecord.from_bytes(otk.to_bytes())
        assert restored.public.to_bytes() == otk.public.to_bytes()
    assert [o.key_id for o in OTKS] == [100, 101, 102]
    for record_type, data in (
        (SignedPreKeyRecord, SPK.to_bytes()),
        (KemPreKeyRecord, KEM.to_bytes()),
        (OneTimePreKeyRecord, OTKS[0].to_bytes()),
    ):
        with pytest.raises(MalformedKey):
            record_type.from_bytes(data[:-1])
        with pytest.raises(MalformedKey):
            record_type.from_bytes(data + b"\x00")


def test_prekey_record_reprs_hide_private_keys() -> None:
    text = repr(SPK) + repr(KEM) + repr(OTKS[0])
    assert SPK.private.private_bytes_raw().hex() not in text
    assert KEM.seed.hex() not in text
    assert OTKS[0].private.private_bytes_raw().hex() not in text


def test_kem_prekey_encapsulation_works_end_to_end() -> None:
    shared, ciphertext = KEM.public.key.encapsulate()
    assert KEM.private.decapsulate(ciphertext) == shared


# --- refill policy ---------------------------------------------------------------------------------


def test_plan_refill_nothing_needed() -> None:
    plan = plan_refill(
        one_time_left=ONE_TIME_PREKEY_BATCH,
        kem_one_time_left=KEM_ONE_TIME_BATCH,
        signed_created_at=NOW,
        now=NOW,
    )
    assert not plan.needed
    assert (plan.one_time, plan.kem_one_time, plan.rotate_signed) == (0, 0, False)


def test_plan_refill_tops_up_and_rotates() -> None:
    plan = plan_refill(
        one_time_left=REFILL_THRESHOLD - 1,
        kem_one_time_left=0,
        signed_created_at=NOW - SIGNED_PREKEY_ROTATION_S,
        now=NOW,
    )
    assert plan.needed
    assert plan.one_time == ONE_TIME_PREKEY_BATCH - (REFILL_THRESHOLD - 1)
    assert plan.kem_one_time == KEM_ONE_TIME_BATCH
    assert plan.rotate_signed


def test_plan_refill_thresholds() -> None:
    at_threshold = plan_refill(
        one_time_left=REFILL_THRESHOLD, kem_one_time_left=KEM_ONE_TIME_BATCH, signed_created_at=NOW, now=NOW
    )
    assert at_threshold.one_time == 0
    young = plan_refill(
        one_time_left=ONE_TIME_PREKEY_BATCH,
        kem_one_time_left=KEM_ONE_TIME_BATCH,
        signed_created_at=NOW - SIGNED_PREKEY_ROTATION_S + 1,
        now=NOW,
    )
    assert not young.rotate_signed
    assert not young.needed
