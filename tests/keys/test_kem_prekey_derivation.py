"""A new ML-KEM prekey derives its key from its seed once (a prekey refill makes dozens of them)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

from confide.keys import IdentityKeyPair, KemPreKeyRecord
from confide.keys import prekeys as prekeys_module


class _CountingMLKEM:
    """Stands in for ``MLKEM768PrivateKey`` inside ``confide.keys.prekeys`` and counts seed derivations."""

    derivations = 0

    @classmethod
    def from_seed_bytes(cls, seed: bytes) -> MLKEM768PrivateKey:
        cls.derivations += 1
        return MLKEM768PrivateKey.from_seed_bytes(seed)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[_CountingMLKEM]:
    _CountingMLKEM.derivations = 0
    monkeypatch.setattr(prekeys_module, "MLKEM768PrivateKey", _CountingMLKEM)
    return _CountingMLKEM


@pytest.mark.parametrize("last_resort", [True, False])
def test_generate_derives_the_key_once(counting: type[_CountingMLKEM], last_resort: bool) -> None:
    identity = IdentityKeyPair.generate(os.urandom)
    record = KemPreKeyRecord.generate(identity, 7, os.urandom, 1_000, last_resort=last_resort)
    assert counting.derivations == 1
    # the one derivation is the key the record holds and signs: it verifies, decapsulates, and reloads the same
    assert record.public.public == MLKEM768PrivateKey.from_seed_bytes(record.seed).public_key().public_bytes_raw()
    flags = 1 if last_resort else 0
    identity.public.verify(
        record.public.signature,
        b"Confide-kem-prekey-v1" + (7).to_bytes(4, "big") + bytes((flags,)) + record.public.public,
        "KEM prekey",
    )
    secret, ciphertext = record.public.key.encapsulate()
    assert record.private.decapsulate(ciphertext) == secret
    again = KemPreKeyRecord.from_bytes(record.to_bytes())
    assert counting.derivations == 2  # loading a stored record derives it (once) too
    assert (again.public.public, again.public.signature) == (record.public.public, record.public.signature)


def test_a_batch_derives_each_key_once(counting: type[_CountingMLKEM]) -> None:
    identity = IdentityKeyPair.generate(os.urandom)
    for key_id in range(10):
        KemPreKeyRecord.generate(identity, key_id, os.urandom, 0, last_resort=False)
    assert counting.derivations == 10
