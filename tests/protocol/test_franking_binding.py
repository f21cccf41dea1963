"""Franking key bindings (SPEC 13.8): derivation, round trips, malformed bindings, and the attacks a binding
must stop (another identity's key, altered bytes, a signature made for another purpose)."""

from __future__ import annotations

import pytest

from confide.keys.identity import IdentityKeyPair
from confide.protocol.errors import FrankingBindingError, MalformedFranking
from confide.protocol.franking import FrankingKeyPair
from confide.protocol.franking_binding import (
    FRANKING_BINDING_LABEL,
    FRANKING_BINDING_LEN,
    FrankingBinding,
    bind_franking_key,
    binding_message,
    franking_key_of,
)

from ..vectors.generate import SeededRng

RNG = SeededRng(b"tests/protocol/test_franking_binding")
ALICE, BOB = IdentityKeyPair.generate(RNG), IdentityKeyPair.generate(RNG)
ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")


def test_the_franking_key_is_derived_from_the_identity() -> None:
    key = franking_key_of(ALICE)
    assert key.private_bytes() == FrankingKeyPair.derive(ALICE.private_bytes()).private_bytes()
    restored = IdentityKeyPair.from_private_bytes(ALICE.private_bytes())
    assert franking_key_of(restored).public == key.public
    assert franking_key_of(BOB).public != key.public


def test_bind_round_trip_and_verify() -> None:
    binding = FrankingBinding.bind(ALICE)
    assert binding == bind_franking_key(ALICE)  # Ed25519 is deterministic
    data = binding.to_bytes()
    assert len(data) == FRANKING_BINDING_LEN == 96
    assert data[:32] == franking_key_of(ALICE).public.to_bytes()
    parsed = FrankingBinding.from_bytes(data)
    assert parsed == binding
    parsed.verify(ALICE.public)
    assert parsed.holds_for(ALICE.public)


def test_the_signature_covers_label_identity_and_key() -> None:
    binding = FrankingBinding.bind(ALICE)
    message = binding_message(ALICE.public, binding.key)
    assert message == FRANKING_BINDING_LABEL + ALICE.public.to_bytes() + binding.key.to_bytes()
    ALICE.public.verify(binding.signature, message, "test")


def test_a_binding_does_not_verify_for_another_identity() -> None:
    with pytest.raises(FrankingBindingError):
        FrankingBinding.bind(ALICE).verify(BOB.public)
    assert not FrankingBinding.bind(ALICE).holds_for(BOB.public)


def test_alice_cannot_claim_bobs_key_with_bobs_signature() -> None:
    """Bob's signature over his own key does not bind it to Alice."""
    bobs = FrankingBinding.bind(BOB)
    with pytest.raises(FrankingBindingError):
        FrankingBinding(bobs.key, bobs.signature).verify(ALICE.public)


def test_a_swapped_key_under_a_valid_signature_is_refused() -> None:
    forged = FrankingBinding(franking_key_of(BOB).public, FrankingBinding.bind(ALICE).signature)
    with pytest.raises(FrankingBindingError):
        forged.verify(ALICE.public)


def test_a_signature_for_another_label_is_refused() -> None:
    key = franking_key_of(ALICE).public
    unlabelled = ALICE.sign(ALICE.public.to_bytes() + key.to_bytes())
    with pytest.raises(FrankingBindingError):
        FrankingBinding(key, unlabelled).verify(ALICE.public)


@pytest.mark.parametrize("offset", [0, 31, 32, 63, 95])
def test_every_flipped_byte_is_refused(offset: int) -> None:
    data = bytearray(FrankingBinding.bind(ALICE).to_bytes())
    data[offset] ^= 1
    try:
        parsed = FrankingBinding.from_bytes(bytes(data))
    except MalformedFranking:  # a flipped key byte may leave the group: refused at parse
        assert offset < 32
        return
    with pytest.raises(FrankingBindingError):
        parsed.verify(ALICE.public)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(95),
        bytes(97),
        b"\x01" + bytes(31) + bytes(64),
        ORDER_8 + bytes(64),
        b"\xff" * 31 + b"\x7f" + bytes(64),
    ],
    ids=["empty", "95 bytes", "97 bytes", "identity point", "order 8", "not canonical"],
)
def test_malformed_bindings_raise_exactly_malformed_franking(data: bytes) -> None:
    with pytest.raises(MalformedFranking) as info:
        FrankingBinding.from_bytes(data)
    assert type(info.value) is MalformedFranking


def test_binding_errors_are_malformed_franking() -> None:
    assert issubclass(FrankingBindingError, MalformedFranking)


def test_constructing_with_a_bad_signature_length_is_a_programmer_error() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        FrankingBinding(franking_key_of(ALICE).public, bytes(63))
    with pytest.raises(TypeError):
        FrankingBinding(b"\x00" * 32, bytes(64))  # type: ignore[arg-type]


def test_repr_shows_no_signature() -> None:
    binding = FrankingBinding.bind(ALICE)
    assert binding.signature.hex() not in repr(binding)
    assert binding.key.fingerprint() in repr(binding)
