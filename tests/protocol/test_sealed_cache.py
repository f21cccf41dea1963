"""Sealed sender's speed-ups change no byte and weaken nothing: the remembered static-static agreement and the
fresh ephemeral agreement of every message (libsodium's X25519 itself: ``test_x25519.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from confide.keys.identity import IdentityKeyPair, IdentityPublicKey
from confide.protocol import DecryptionError
from confide.protocol.sealed import seal, unseal
from confide.protocol.static_agreement import (
    STATIC_AGREEMENT_CACHE_SIZE,
    STATIC_AGREEMENTS,
    StaticAgreements,
    forget_static_agreements,
)

from .parties import Party, SeededRng
from .test_x25519 import LOW_ORDER_POINTS


@pytest.fixture(autouse=True)
def _cold_cache() -> Iterator[None]:
    forget_static_agreements()
    yield
    forget_static_agreements()


def _with_low_order_agreement(owner: IdentityKeyPair, point: bytes) -> IdentityPublicKey:
    """A public identity whose (self-certified) agreement key is ``point``: what a hostile peer can publish."""
    cert = owner.sign(b"Confide-identity-agreement-v1" + point)
    return IdentityPublicKey.from_bytes(owner.public.signing + point + cert)


def _agreement_calls(monkeypatch: pytest.MonkeyPatch, identities: set[bytes]) -> list[bytes]:
    """Record every identity-key agreement whose peer is one of ``identities`` (the static-static ones)."""
    calls: list[bytes] = []
    real = IdentityKeyPair.agree

    def counting(self: IdentityKeyPair, peer: X25519PublicKey) -> bytes:
        if peer.public_bytes_raw() in identities:
            calls.append(self.public.agreement)
        return real(self, peer)

    monkeypatch.setattr(IdentityKeyPair, "agree", counting)
    return calls


def test_outputs_are_byte_identical_with_a_cold_and_a_warm_cache(alice: Party, bob: Party) -> None:
    inner = b"\x01" + bytes(200)
    cold = seal(alice.identity, alice.cert, bob.identity.public, inner, SeededRng(b"same draws"))
    assert len(STATIC_AGREEMENTS) == 1
    warm = seal(alice.identity, alice.cert, bob.identity.public, inner, SeededRng(b"same draws"))
    assert warm == cold
    forget_static_agreements()
    assert unseal(bob.identity, warm) == (alice.cert, inner)  # Bob, cold, derives the same s2
    assert unseal(bob.identity, warm) == (alice.cert, inner)  # and warm


def test_static_agreement_computed_once_per_pair_and_ephemeral_every_message(
    monkeypatch: pytest.MonkeyPatch, alice: Party, bob: Party
) -> None:
    calls = _agreement_calls(monkeypatch, {alice.identity.public.agreement, bob.identity.public.agreement})
    ephemerals = set()
    for i in range(5):
        sealed = seal(alice.identity, alice.cert, bob.identity.public, b"m%d" % i, os.urandom)
        ephemerals.add(sealed[1:33])
        assert unseal(bob.identity, sealed) == (alice.cert, b"m%d" % i)
    assert calls == [alice.identity.public.agreement, bob.identity.public.agreement]
    assert len(ephemerals) == 5


def test_every_message_draws_a_fresh_ephemeral_key(alice: Party, bob: Party) -> None:
    draws: list[bytes] = []

    def rng(n: int) -> bytes:
        draws.append(os.urandom(n))
        return draws[-1]

    first = seal(alice.identity, alice.cert, bob.identity.public, b"one", rng)
    second = seal(alice.identity, alice.cert, bob.identity.public, b"one", rng)
    assert [len(d) for d in draws] == [32, 32]
    for sealed, drawn in ((first, draws[0]), (second, draws[1])):
        assert sealed[1:33] == X25519PrivateKey.from_private_bytes(drawn).public_key().public_bytes_raw()
    assert first[33:] != second[33:]


def test_cache_is_keyed_by_both_identities(alice: Party, bob: Party) -> None:
    """Two local identities in one process talking to one peer: each uses its own agreement."""
    bob2 = Party.create()
    to_bob = seal(alice.identity, alice.cert, bob.identity.public, b"to bob", os.urandom)
    to_bob2 = seal(alice.identity, alice.cert, bob2.identity.public, b"to bob2", os.urandom)
    assert unseal(bob.identity, to_bob) == (alice.cert, b"to bob")
    assert unseal(bob2.identity, to_bob2) == (alice.cert, b"to bob2")
    from_bob = seal(bob.identity, bob.cert, alice.identity.public, b"from bob", os.urandom)
    from_bob2 = seal(bob2.identity, bob2.cert, alice.identity.public, b"from bob2", os.urandom)
    assert unseal(alice.identity, from_bob) == (bob.cert, b"from bob")
    assert unseal(alice.identity, from_bob2) == (bob2.cert, b"from bob2")
    assert len(STATIC_AGREEMENTS) == 4  # (alice, bob), (alice, bob2), (bob, alice), (bob2, alice)


def test_a_warm_cache_does_not_let_a_sender_claim_another_identity(alice: Party, bob: Party) -> None:
    """Alice and Carol both wrote to Bob before (both pairs remembered); Alice still cannot pass as Carol."""
    carol = Party.create()
    assert unseal(bob.identity, seal(alice.identity, alice.cert, bob.identity.public, b"a", os.urandom))[1] == b"a"
    assert unseal(bob.identity, seal(carol.identity, carol.cert, bob.identity.public, b"c", os.urandom))[1] == b"c"
    forged = seal(alice.identity, carol.cert, bob.identity.public, b"I am Carol", os.urandom)
    with pytest.raises(DecryptionError):
        unseal(bob.identity, forged)


def test_a_changed_peer_identity_is_never_answered_from_the_cache(alice: Party, bob: Party) -> None:
    """Bob's new identity (same person, new keys) gets its own agreement; Bob's old identity cannot open it."""
    seal(alice.identity, alice.cert, bob.identity.public, b"old", os.urandom)
    new_bob = Party.create()
    sealed = seal(alice.identity, alice.cert, new_bob.identity.public, b"new", os.urandom)
    assert unseal(new_bob.identity, sealed) == (alice.cert, b"new")
    with pytest.raises(DecryptionError):
        unseal(bob.identity, sealed)


def test_bounded_least_recently_used_first() -> None:
    local = IdentityKeyPair.generate(os.urandom)
    peers = [IdentityKeyPair.generate(os.urandom).public for _ in range(3)]
    cache = StaticAgreements(size=2)
    first = cache.agree(local, peers[0])
    cache.agree(local, peers[1])
    assert cache.agree(local, peers[0]) == first  # peers[0] is now the most recently used
    cache.agree(local, peers[2])  # evicts peers[1]
    assert len(cache) == 2
    assert [key[1] for key in cache._entries] == [peers[0].agreement, peers[2].agreement]
    assert 1 <= STATIC_AGREEMENT_CACHE_SIZE <= 4096
    with pytest.raises(ValueError, match="at least one entry"):
        StaticAgreements(size=0)


def test_values_are_the_agreements_themselves() -> None:
    local, peer = IdentityKeyPair.generate(os.urandom), IdentityKeyPair.generate(os.urandom)
    cache = StaticAgreements()
    expected = local.agreement_private.exchange(peer.public.agreement_key)
    assert cache.agree(local, peer.public) == expected
    assert cache.agree(local, peer.public) == expected
    assert cache.agree(peer, local.public) == expected


@pytest.mark.parametrize("point", LOW_ORDER_POINTS)
def test_low_order_peer_identity_fails_and_is_not_remembered(alice: Party, bob: Party, point: bytes) -> None:
    mallory = _with_low_order_agreement(IdentityKeyPair.generate(os.urandom), point)
    with pytest.raises(ValueError, match="low-order"):
        seal(alice.identity, alice.cert, mallory, b"x", os.urandom)
    with pytest.raises(ValueError, match="shared key"):
        STATIC_AGREEMENTS.agree(alice.identity, mallory)
    assert len(STATIC_AGREEMENTS) == 0


def test_forget_drops_one_identity_or_all(alice: Party, bob: Party) -> None:
    carol = Party.create()
    for sender, recipient in ((alice, bob), (alice, carol), (bob, carol)):
        seal(sender.identity, sender.cert, recipient.identity.public, b"x", os.urandom)
    assert len(STATIC_AGREEMENTS) == 3
    forget_static_agreements(alice.identity.public)
    assert [key[0] for key in STATIC_AGREEMENTS._entries] == [bob.identity.public.agreement]
    forget_static_agreements()
    assert len(STATIC_AGREEMENTS) == 0


def test_repr_shows_no_key_material(alice: Party, bob: Party) -> None:
    shared = STATIC_AGREEMENTS.agree(alice.identity, bob.identity.public)
    text = repr(STATIC_AGREEMENTS)
    assert text == "StaticAgreements(1 entries)"
    for secret in (shared, alice.identity.public.agreement, bob.identity.public.agreement):
        assert secret.hex() not in text


def test_low_order_ephemeral_in_a_sealed_message_is_a_decryption_error(alice: Party, bob: Party) -> None:
    sealed = seal(alice.identity, alice.cert, bob.identity.public, b"x", os.urandom)
    for point in LOW_ORDER_POINTS:
        with pytest.raises(DecryptionError):
            unseal(bob.identity, sealed[:1] + point + sealed[33:])
