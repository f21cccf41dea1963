"""Sealed sender: the relay-visible bytes name only the recipient; the recipient learns and authenticates the sender."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.protocol import (
    DecryptionError,
    Envelope,
    RemoteProtocolError,
    SenderCertificate,
    UndecryptableMessage,
    initiate_session,
    open_sealed,
    seal_message,
)
from confide.protocol.envelope import Delivery, decode_batch, encode_batch
from confide.protocol.sealed import seal, unseal

from ..keys.mutations import mutated
from .parties import Party


def _first(alice: Party, bob: Party, text: bytes = b"hello") -> bytes:
    a = initiate_session(alice.identity, bob.bundle(), rng=os.urandom)
    alice.sessions[(bob.identity.public.signing, bob.device.device_id)] = a
    return seal_message(a, text, sender_identity=alice.identity, sender=alice.cert, rng=os.urandom)


def test_round_trip_learns_sender(alice: Party, bob: Party) -> None:
    opened = open_sealed(bob.identity, _first(alice, bob), find_session=bob.find_session, prekeys=bob, rng=os.urandom)
    assert opened.plaintext == b"hello"
    assert opened.new_session
    assert opened.sender.identity == alice.identity.public
    assert opened.sender.device_id == alice.device.device_id
    assert opened.sender.reply_token == alice.token
    bob.sessions[(alice.identity.public.signing, alice.device.device_id)] = opened.session
    reply = seal_message(opened.session, b"hi", sender_identity=bob.identity, sender=bob.cert, rng=os.urandom)
    back = open_sealed(alice.identity, reply, find_session=alice.find_session, prekeys=alice, rng=os.urandom)
    assert back.plaintext == b"hi"
    assert not back.new_session


def test_relay_visible_bytes_do_not_contain_sender_identity(alice: Party, bob: Party) -> None:
    sealed = _first(alice, bob)
    env = Envelope(os.urandom(16), bob.device.device_id, bob.token, 3600, sealed).to_bytes()
    for secret in (
        alice.identity.public.signing,
        alice.identity.public.agreement,
        alice.identity.address.raw,
        alice.device.device_id,
        alice.device.certificate.public,
        alice.token,
    ):
        assert secret not in env


def test_wrong_recipient_cannot_open(alice: Party, bob: Party) -> None:
    eve = Party.create()
    with pytest.raises(DecryptionError):
        open_sealed(eve.identity, _first(alice, bob), find_session=eve.find_session, prekeys=eve, rng=os.urandom)


def test_sender_cannot_claim_another_identity(alice: Party, bob: Party) -> None:
    carol = Party.create()
    forged = SenderCertificate(carol.identity.public, carol.device.certificate, carol.token)
    sealed = seal(alice.identity, forged, bob.identity.public, b"\x01" + bytes(100), os.urandom)
    with pytest.raises(DecryptionError):
        unseal(bob.identity, sealed)


def test_every_single_byte_tamper_of_sealed_message_rejected_state_unchanged(alice: Party, bob: Party) -> None:
    opened = open_sealed(bob.identity, _first(alice, bob), find_session=bob.find_session, prekeys=bob, rng=os.urandom)
    bob.sessions[(alice.identity.public.signing, alice.device.device_id)] = opened.session
    a = alice.sessions[(bob.identity.public.signing, bob.device.device_id)]
    a.decrypt(opened.session.encrypt(b"reply", os.urandom), os.urandom)  # Alice now sends plain ratchet messages
    sealed = seal_message(a, b"tamper me", sender_identity=alice.identity, sender=alice.cert, rng=os.urandom)
    state = opened.session.to_bytes()
    for i in range(len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 0x04
        with pytest.raises(DecryptionError):
            open_sealed(bob.identity, bytes(bad), find_session=bob.find_session, prekeys=bob, rng=os.urandom)
        assert opened.session.to_bytes() == state
    assert open_sealed(bob.identity, sealed, find_session=bob.find_session, prekeys=bob, rng=os.urandom).plaintext == (
        b"tamper me"
    )


def test_envelope_parse_rejects_tampered_framing(bob: Party) -> None:
    env = Envelope(os.urandom(16), bob.device.device_id, bob.token, 60, os.urandom(300)).to_bytes()
    assert Envelope.from_bytes(env).ciphertext == env[73:]
    for bad in (b"\x02" + env[1:], env[:-1], env + b"\x00", env[:69] + b"\xff\xff\xff\xff" + env[73:], b""):
        with pytest.raises(RemoteProtocolError):
            Envelope.from_bytes(bad)


_BOB = Party.create()
_ALICE = Party.create()
_SEALED = _first(_ALICE, _BOB, b"sealed hello")
"""A valid prekey message from Alice to Bob (opening it creates a new session and changes no state)."""


def check_open(data: bytes) -> None:
    """Only the sealed original opens, to its plaintext and authenticated sender. Any other bytes fail the
    sealed layer itself: exactly DecryptionError, never an UndecryptableMessage naming a sender."""
    bob = _BOB
    if data == _SEALED:
        opened = open_sealed(bob.identity, data, find_session=bob.find_session, prekeys=bob, rng=os.urandom)
        assert opened.plaintext == b"sealed hello"
        assert opened.sender == _ALICE.cert
        return
    with pytest.raises(DecryptionError) as info:
        open_sealed(bob.identity, data, find_session=bob.find_session, prekeys=bob, rng=os.urandom)
    assert type(info.value) is DecryptionError


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_raise_decryption_error(data: bytes) -> None:
    check_open(data)


@settings(max_examples=200, deadline=None)
@given(mutated(_SEALED))
def test_mutated_sealed_message_opens_only_unchanged(data: bytes) -> None:
    check_open(data)


def _envelope_again(data: bytes) -> bytes:
    return Envelope.from_bytes(data).to_bytes()


def _delivery_again(data: bytes) -> bytes:
    return Delivery.from_bytes(data).to_bytes()


def _batch_again(data: bytes) -> bytes:
    return encode_batch([env.to_bytes() for env in decode_batch(data)])


_ENVELOPE = Envelope(bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 64)), 3600, b"sealed" * 20).to_bytes()
_DELIVERY = Delivery(bytes(range(16)), 1_700_000_000_000, 1_700_086_400_000, b"x" * 90).to_bytes()
RELAY_FORMATS: dict[str, tuple[Callable[[bytes], bytes], bytes]] = {
    "envelope": (_envelope_again, _ENVELOPE),
    "delivery": (_delivery_again, _DELIVERY),
    "batch": (_batch_again, encode_batch([_ENVELOPE, _ENVELOPE[:-3] + b"end"])),
}
"""The relay-visible encodings: parse then re-encode, and a valid example of each."""


@pytest.mark.parametrize("name", RELAY_FORMATS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_relay_formats_are_canonical_or_rejected(name: str, data: st.DataObject) -> None:
    """Whatever parses re-encodes to the same bytes; anything else is a RemoteProtocolError."""
    again, valid = RELAY_FORMATS[name]
    assert again(valid) == valid
    encoded = data.draw(st.one_of(st.binary(max_size=300), mutated(valid)))
    try:
        parsed_again = again(encoded)
    except RemoteProtocolError:
        return
    assert parsed_again == encoded


def test_sender_is_named_when_only_the_session_is_missing(alice: Party, bob: Party) -> None:
    """A device that lost its sessions (restore, reinstall) learns who wrote, so the user can ask to resend."""
    first = _first(alice, bob)
    opened = open_sealed(bob.identity, first, find_session=bob.find_session, prekeys=bob, rng=os.urandom)
    a = alice.sessions[(bob.identity.public.signing, bob.device.device_id)]
    a.decrypt(opened.session.encrypt(b"reply", os.urandom), os.urandom)
    later = seal_message(a, b"after the restore", sender_identity=alice.identity, sender=alice.cert, rng=os.urandom)
    with pytest.raises(UndecryptableMessage) as info:  # Bob's session is gone (find_session finds nothing)
        open_sealed(bob.identity, later, find_session=bob.find_session, prekeys=bob, rng=os.urandom)
    assert info.value.sender.identity == alice.identity.public
    assert isinstance(info.value, DecryptionError)
