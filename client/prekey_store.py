"""This device's private prekeys: generation, lookup for incoming first messages, refill and rotation.

Private prekeys live in the sealed store (not the key store blob), so churn never re-runs Argon2. Ids: signed
X25519 prekeys count from 1; one-time X25519 prekeys count from 1; ML-KEM prekeys (one-time and last
resort) share one id space, because an incoming message names a KEM prekey by id alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from confide.keys.encoding import RNG
from confide.keys.identity import IdentityKeyPair
from confide.keys.prekeys import (
    KEM_ONE_TIME_BATCH,
    OLD_SIGNED_PREKEY_GRACE_S,
    ONE_TIME_PREKEY_BATCH,
    KemPreKeyRecord,
    OneTimePreKeyRecord,
    RefillPlan,
    SignedPreKeyRecord,
)

from .errors import StorageError
from .store import PREKEY_KEM, PREKEY_ONE_TIME, PREKEY_SIGNED, Store

_NEXT_SPK = "prekeys.next_signed_id"
_NEXT_OTK = "prekeys.next_one_time_id"
_NEXT_KEM = "prekeys.next_kem_id"
_CURRENT_SPK = "prekeys.current_signed_id"
_CURRENT_KEM_LR = "prekeys.current_kem_last_resort_id"

MAX_PREKEY_ID = 0xFFFFFFFF
"""Prekey ids are u32 on the wire; at 100 ids a day the space lasts longer than any device."""


@dataclass(frozen=True, slots=True)
class PreKeyUpload:
    """Public prekeys to upload (wire forms), produced by :meth:`PreKeyStore.generate`."""

    signed_prekey: bytes | None
    kem_last_resort: bytes | None
    one_time_prekeys: list[bytes]
    kem_one_time_prekeys: list[bytes]

    @property
    def count(self) -> int:
        return (
            len(self.one_time_prekeys)
            + len(self.kem_one_time_prekeys)
            + (self.signed_prekey is not None)
            + (self.kem_last_resort is not None)
        )


class PreKeyStore:
    """Implements ``confide.protocol.PreKeyLookup`` over the sealed store, and generates new prekeys."""

    def __init__(self, store: Store, identity: IdentityKeyPair, rng: RNG) -> None:
        self._store = store
        self._identity = identity
        self._rng = rng

    # -- PreKeyLookup ---------------------------------------------------------------------------------
    def signed_prekey(self, key_id: int) -> SignedPreKeyRecord | None:
        """The private signed prekey ``key_id`` (current or within its grace period), if held."""
        raw = self._store.get_prekey(PREKEY_SIGNED, key_id)
        return None if raw is None else SignedPreKeyRecord.from_bytes(raw)

    def one_time_prekey(self, key_id: int) -> OneTimePreKeyRecord | None:
        """The private one-time prekey ``key_id``, unless it was already used."""
        raw = self._store.get_prekey(PREKEY_ONE_TIME, key_id)
        return None if raw is None else OneTimePreKeyRecord.from_bytes(raw)

    def kem_prekey(self, key_id: int) -> KemPreKeyRecord | None:
        """The private ML-KEM prekey ``key_id`` (one-time or last resort), if held."""
        raw = self._store.get_prekey(PREKEY_KEM, key_id)
        return None if raw is None else KemPreKeyRecord.from_bytes(raw)

    # -- bookkeeping ----------------------------------------------------------------------------------
    def consume(self, one_time: int | None, kem: int | None) -> None:
        """Delete private prekeys an incoming first message used (call inside the message's transaction)."""
        if one_time is not None:
            self._store.delete_prekey(PREKEY_ONE_TIME, one_time)
        if kem is not None:
            record = self.kem_prekey(kem)
            if record is not None and not record.last_resort:
                self._store.delete_prekey(PREKEY_KEM, kem)

    def current_signed_created_at(self) -> int:
        """Creation time of the current signed prekey (0 when there is none: rotate now)."""
        key_id = self._store.get_meta_int(_CURRENT_SPK, 0)
        record = self.signed_prekey(key_id) if key_id else None
        return 0 if record is None else record.created_at

    def _take_ids(self, meta_key: str, count: int) -> int:
        first = self._store.get_meta_int(meta_key, 1)
        if first + count > MAX_PREKEY_ID:
            raise StorageError("this device has used up its prekey ids; create a new profile")
        self._store.set_meta_int(meta_key, first + count)
        return first

    def generate(self, plan: RefillPlan, now: int) -> PreKeyUpload:
        """Create the private prekeys ``plan`` asks for, store them (one transaction), return public forms.

        Rotation retires (does not delete) the previous signed and last-resort keys: messages already in
        flight may still name them for :data:`~confide.keys.prekeys.OLD_SIGNED_PREKEY_GRACE_S`.
        """
        with self._store.transaction():
            spk_pub = kem_lr_pub = None
            if plan.rotate_signed:
                old_spk = self._store.get_meta_int(_CURRENT_SPK, 0)
                old_lr = self._store.get_meta_int(_CURRENT_KEM_LR, 0)
                if old_spk:
                    self._store.retire_prekey(PREKEY_SIGNED, old_spk, now)
                if old_lr:
                    self._store.retire_prekey(PREKEY_KEM, old_lr, now)
                spk = SignedPreKeyRecord.generate(self._identity, self._take_ids(_NEXT_SPK, 1), self._rng, now)
                self._store.put_prekey(PREKEY_SIGNED, spk.key_id, now, spk.to_bytes())
                lr = KemPreKeyRecord.generate(
                    self._identity, self._take_ids(_NEXT_KEM, 1), self._rng, now, last_resort=True
                )
                self._store.put_prekey(PREKEY_KEM, lr.key_id, now, lr.to_bytes())
                self._store.set_meta_int(_CURRENT_SPK, spk.key_id)
                self._store.set_meta_int(_CURRENT_KEM_LR, lr.key_id)
                spk_pub, kem_lr_pub = spk.public.to_bytes(), lr.public.to_bytes()
            otks = OneTimePreKeyRecord.generate_batch(
                self._take_ids(_NEXT_OTK, plan.one_time), plan.one_time, self._rng
            )
            for otk in otks:
                self._store.put_prekey(PREKEY_ONE_TIME, otk.key_id, now, otk.to_bytes())
            first_kem = self._take_ids(_NEXT_KEM, plan.kem_one_time)
            kems = [
                KemPreKeyRecord.generate(self._identity, first_kem + i, self._rng, now, last_resort=False)
                for i in range(plan.kem_one_time)
            ]
            for kem in kems:
                self._store.put_prekey(PREKEY_KEM, kem.key_id, now, kem.to_bytes())
            self._store.delete_retired_prekeys(PREKEY_SIGNED, now - OLD_SIGNED_PREKEY_GRACE_S)
            self._store.delete_retired_prekeys(PREKEY_KEM, now - OLD_SIGNED_PREKEY_GRACE_S)
        return PreKeyUpload(
            spk_pub, kem_lr_pub, [k.public.to_bytes() for k in otks], [k.public.to_bytes() for k in kems]
        )

    @staticmethod
    def initial_plan() -> RefillPlan:
        """What a new device publishes: a full batch of each kind plus signed and last-resort keys."""
        return RefillPlan(one_time=ONE_TIME_PREKEY_BATCH, kem_one_time=KEM_ONE_TIME_BATCH, rotate_signed=True)
