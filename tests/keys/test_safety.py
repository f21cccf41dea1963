"""Safety numbers: symmetric, 60 digits, sensitive to either key, QR payload scanning never raises."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.keys import (
    SAFETY_NUMBER_ITERATIONS,
    IdentityKeyPair,
    IdentityPublicKey,
    InvalidSignature,
    ScanResult,
    compute_safety_number,
)

from .mutations import mutated


def identity(seed: int) -> IdentityPublicKey:
    return IdentityKeyPair.generate(random.Random(seed).randbytes).public


ALICE, BOB, MALLORY = identity(1), identity(2), identity(3)
ALICE_BOB = compute_safety_number(ALICE, BOB)


def test_symmetric_and_sixty_digits() -> None:
    ab = compute_safety_number(ALICE, BOB)
    ba = compute_safety_number(BOB, ALICE)
    assert ab == ba
    assert ab.digits == ba.digits
    assert ab.qr_payload() == ba.qr_payload()
    assert len(ab.digits) == 60
    assert ab.digits.isdigit()


def test_display_is_twelve_groups_on_three_lines() -> None:
    lines = compute_safety_number(ALICE, BOB).display().split("\n")
    assert len(lines) == 3
    for line in lines:
        groups = line.split(" ")
        assert len(groups) == 4
        assert all(len(g) == 5 for g in groups)
        assert all(g.isdigit() for g in groups)
    assert "".join(lines).replace(" ", "") == compute_safety_number(ALICE, BOB).digits


def test_changing_either_key_changes_the_number() -> None:
    base = compute_safety_number(ALICE, BOB)
    assert compute_safety_number(MALLORY, BOB).digits != base.digits
    assert compute_safety_number(ALICE, MALLORY).digits != base.digits
    # Each half belongs to one party: swapping Bob for Mallory keeps Alice's 30 digits.
    alice_digits = _reference_half(ALICE)[1]
    base_halves = {base.digits[i : i + 30] for i in (0, 30)}
    other_halves = {compute_safety_number(ALICE, MALLORY).digits[i : i + 30] for i in (0, 30)}
    assert base_halves & other_halves == {alice_digits}


def test_agreement_key_change_with_same_signing_key_is_covered_by_certificate() -> None:
    # The number covers the signing key; a different agreement key needs a new certificate by that key,
    # which only the owner can make, so a swapped agreement key alone does not parse.
    forged = bytearray(ALICE.to_bytes())
    forged[40] ^= 1
    with pytest.raises(InvalidSignature):
        IdentityPublicKey.from_bytes(bytes(forged))


def _reference_half(pub: IdentityPublicKey) -> tuple[bytes, str]:
    """Independent re-implementation of the documented algorithm."""
    h = hashlib.sha512(b"\x00\x01" + pub.signing + pub.address.raw).digest()
    for _ in range(SAFETY_NUMBER_ITERATIONS - 1):
        h = hashlib.sha512(h + pub.signing).digest()
    digits = "".join(f"{int.from_bytes(h[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))
    return h[:32], digits


def test_matches_the_documented_algorithm() -> None:
    (fa, da), (fb, db) = sorted([_reference_half(ALICE), _reference_half(BOB)])
    sn = compute_safety_number(ALICE, BOB)
    assert sn.digits == da + db
    assert sn.qr_payload() == b"\x01" + fa + fb


def test_fixed_vector() -> None:
    a = IdentityKeyPair.from_private_bytes(bytes(range(64))).public
    b = IdentityKeyPair.from_private_bytes(bytes(range(64, 128))).public
    sn = compute_safety_number(a, b)
    assert sn.digits == "698242601935848933475229360283849705540704104550743019692085"
    assert sn.qr_payload().hex() == (
        "0125eff793e083451fc623065a4a80c8f0c4fa5da3b676d3fd451b8816007b9c19"
        "fe20cfd68adc4ce92ecf91fa2ff228e3effdaa8214b67d9834eb92a3547545ee"
    )


def test_verify_scan() -> None:
    mine = compute_safety_number(ALICE, BOB)
    theirs = compute_safety_number(BOB, ALICE)
    assert mine.verify_scan(theirs.qr_payload()) is ScanResult.MATCH
    attacked = compute_safety_number(BOB, MALLORY)  # Bob sees Mallory's key in place of Alice's
    assert mine.verify_scan(attacked.qr_payload()) is ScanResult.MISMATCH
    payload = mine.qr_payload()
    flipped = payload[:-1] + bytes((payload[-1] ^ 1,))
    assert mine.verify_scan(flipped) is ScanResult.MISMATCH
    assert mine.verify_scan(b"\x02" + payload[1:]) is ScanResult.WRONG_VERSION
    assert mine.verify_scan(b"") is ScanResult.MALFORMED
    assert mine.verify_scan(payload[:-1]) is ScanResult.MALFORMED
    assert mine.verify_scan(payload + b"\x00") is ScanResult.MALFORMED


def test_repr_is_short() -> None:
    text = repr(compute_safety_number(ALICE, BOB))
    assert "fingerprints" not in text


def expected_scan(data: bytes) -> ScanResult:
    """The documented result of scanning ``data`` against ALICE_BOB: empty is malformed, another version byte is
    wrong_version, another length is malformed, other bytes of the right shape are a mismatch."""
    if data == ALICE_BOB.qr_payload():
        return ScanResult.MATCH
    if not data:
        return ScanResult.MALFORMED
    if data[0] != ALICE_BOB.qr_payload()[0]:
        return ScanResult.WRONG_VERSION
    if len(data) != len(ALICE_BOB.qr_payload()):
        return ScanResult.MALFORMED
    return ScanResult.MISMATCH


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=200), mutated(ALICE_BOB.qr_payload())))
def test_verify_scan_gives_the_documented_result_and_never_raises(data: bytes) -> None:
    assert ALICE_BOB.verify_scan(data) is expected_scan(data)
