"""X25519 on raw keys (:mod:`confide.protocol.x25519`, libsodium) is byte for byte OpenSSL's X25519, refuses what
OpenSSL refuses, and is what the ratchet's keys now use: a state read back from bytes has the same public key."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.keys.encoding import Reader
from confide.protocol.errors import RemoteProtocolError
from confide.protocol.ratchet import RatchetState
from confide.protocol.x25519 import agree, generate, public_key

LOW_ORDER_POINTS = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    (2**255 - 20).to_bytes(32, "little"),  # p - 1
    (2**255 - 19).to_bytes(32, "little"),  # p (non-canonical 0)
    (2**255 - 18).to_bytes(32, "little"),  # p + 1 (non-canonical 1)
]
"""u-coordinates of points of order 1, 2, 4 and 8 on Curve25519 and their non-canonical encodings (RFC 7748's
all-zero output cases)."""


@settings(max_examples=200, deadline=None)
@given(scalar=st.binary(min_size=32, max_size=32), point=st.binary(min_size=32, max_size=32))
def test_libsodium_x25519_equals_openssl_for_any_bytes(scalar: bytes, point: bytes) -> None:
    """Unclamped scalars, points with the top bit set and non-canonical u: the same result or the same refusal."""
    private = X25519PrivateKey.from_private_bytes(scalar)
    assert generate(lambda n: scalar) == (scalar, private.public_key().public_bytes_raw())
    try:
        expected: bytes | None = private.exchange(X25519PublicKey.from_public_bytes(point))
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError, match="low-order"):
            agree(scalar, point)
    else:
        assert agree(scalar, point) == expected


@pytest.mark.parametrize("point", LOW_ORDER_POINTS)
def test_libsodium_x25519_refuses_low_order_points(point: bytes) -> None:
    with pytest.raises(ValueError, match="low-order"):
        agree(os.urandom(32), point)
    with pytest.raises(ValueError, match="shared key"):
        X25519PrivateKey.from_private_bytes(os.urandom(32)).exchange(X25519PublicKey.from_public_bytes(point))


@pytest.mark.parametrize(("private", "public"), [(bytes(31), bytes(32)), (bytes(32), bytes(33)), (b"", b"")])
def test_libsodium_x25519_checks_lengths(private: bytes, public: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        agree(private, public)


def test_short_ephemeral_draw_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        generate(lambda n: bytes(n - 1))


def test_public_key_checks_its_length() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        public_key(bytes(31))


@settings(max_examples=50, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32))
def test_a_ratchet_state_read_back_has_the_same_ratchet_key(seed: bytes) -> None:
    """The private ratchet key is stored raw; its public half is derived again on reading, equal to OpenSSL's."""
    state = RatchetState.init_initiator(bytes(32), bytes(32), bytes(32), public_key(b"\x09" * 32), lambda n: seed)
    assert state.dhs_pub == X25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    back = RatchetState.read_from(Reader(state.to_bytes(), RemoteProtocolError))
    assert (back.dhs, back.dhs_pub) == (state.dhs, state.dhs_pub)
    assert back.to_bytes() == state.to_bytes()


def test_init_responder_checks_key_lengths() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        RatchetState.init_responder(bytes(32), bytes(32), bytes(32), bytes(31), bytes(32))
