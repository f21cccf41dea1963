"""Test parties: identities, devices and private prekeys held in memory (the in-memory PreKeyLookup)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from confide.keys import (
    DeviceKeyPair,
    IdentityKeyPair,
    KemPreKeyRecord,
    OneTimePreKeyRecord,
    PreKeyBundle,
    SignedPreKeyRecord,
)
from confide.keys.encoding import RNG
from confide.keys.identity import IdentityPublicKey
from confide.protocol import SenderCertificate, Session

from ..vectors.generate import SeededRng

__all__ = ["Party", "SeededRng"]


@dataclass
class Party:
    """One device with its identity and private prekeys; implements PreKeyLookup."""

    identity: IdentityKeyPair
    device: DeviceKeyPair
    signed: dict[int, SignedPreKeyRecord] = field(default_factory=dict)
    one_time: dict[int, OneTimePreKeyRecord] = field(default_factory=dict)
    kem: dict[int, KemPreKeyRecord] = field(default_factory=dict)
    sessions: dict[tuple[bytes, bytes], Session] = field(default_factory=dict)
    token: bytes = b""

    @classmethod
    def create(cls, rng: RNG = os.urandom, *, one_time: int = 3, kem_one_time: int = 1) -> Party:
        identity = IdentityKeyPair.generate(rng)
        device = DeviceKeyPair.generate(identity, rng)
        p = cls(identity, device, token=rng(32))
        spk = SignedPreKeyRecord.generate(identity, 1, rng, 0)
        p.signed[1] = spk
        for otk in OneTimePreKeyRecord.generate_batch(100, one_time, rng):
            p.one_time[otk.key_id] = otk
        p.kem[1] = KemPreKeyRecord.generate(identity, 1, rng, 0, last_resort=True)
        for i in range(kem_one_time):
            p.kem[200 + i] = KemPreKeyRecord.generate(identity, 200 + i, rng, 0, last_resort=False)
        return p

    # PreKeyLookup
    def signed_prekey(self, key_id: int) -> SignedPreKeyRecord | None:
        return self.signed.get(key_id)

    def one_time_prekey(self, key_id: int) -> OneTimePreKeyRecord | None:
        return self.one_time.get(key_id)

    def kem_prekey(self, key_id: int) -> KemPreKeyRecord | None:
        return self.kem.get(key_id)

    def bundle(self, *, use_one_time: bool = True, use_kem_one_time: bool = True) -> PreKeyBundle:
        """A bundle as the relay would hand it out (one-time keys removed from the relay's view only)."""
        otk = min(self.one_time.values(), key=lambda k: k.key_id).public if use_one_time and self.one_time else None
        kems = [k for k in self.kem.values() if not k.last_resort]
        kem = (kems[0] if use_kem_one_time and kems else self.kem[1]).public
        raw = PreKeyBundle(self.identity.public, self.device.certificate, self.signed[1].public, otk, kem).to_bytes()
        return PreKeyBundle.from_bytes(raw)

    @property
    def cert(self) -> SenderCertificate:
        return SenderCertificate(self.identity.public, self.device.certificate, self.token)

    def find_session(self, identity: IdentityPublicKey, device_id: bytes) -> Session | None:
        return self.sessions.get((identity.signing, device_id))

    def forget_used(self, otk: int | None, kem: int | None) -> None:
        if otk is not None:
            del self.one_time[otk]
        if kem is not None:
            del self.kem[kem]
