"""This device's private prekeys: generation, lookup for incoming first messages, refill and rotation.

Private prekeys live in the sealed store (not the key store blob), so churn never re-runs Argon2. Ids: signed
X25519 prekeys count from 1; one-time X25519 prekeys count from 1; ML-KEM prekeys (one-time and last
resort) share one id space, because an incoming message names a KEM prekey by id alone.

The private one-time keys held are bounded (:data:`~confide.keys.prekeys.MAX_HELD_ONE_TIME_PREKEYS`,
:data:`~confide.keys.prekeys.MAX_HELD_KEM_ONE_TIME_PREKEYS`): a relay that answers "none left" to every count
check would otherwise make them pile up for ever, one batch per check (see :meth:`PreKeyStore.generate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from confide.keys.encoding import RNG
from confide.keys.identity import IdentityKeyPair
from confide.keys.prekeys import (
    KEM_ONE_TIME_BATCH,
    MAX_HELD_KEM_ONE_TIME_PREKEYS,
    MAX_HELD_ONE_TIME_PREKEYS,
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
_STOCK_STALE = "prekeys.relay_stock_stale"

MAX_PREKEY_ID = 0xFFFFFFFF
"""Prekey ids are u32 on the wire; at 100 ids a day the space lasts longer than any device."""


@dataclass(frozen=True, slots=True)
class PreKeyUpload:
    """Public prekeys to upload (wire forms), produced by :meth:`PreKeyStore.generate`."""

    signed_prekey: bytes | None
    kem_last_resort: bytes | None
    one_time_prekeys: list[bytes]
    kem_one_time_prekeys: list[bytes]
    pruned: int = 0
    """Older unused private one-time keys deleted to stay within the bound: the relay's stock is stale."""

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

    def current_public(self) -> tuple[bytes, bytes]:
        """Wire forms of the current signed prekey and last-resort ML-KEM prekey (for a re-registration).

        Raises:
            StorageError: this profile has no current signed or last-resort prekey (it was not created completely).
        """
        spk = self.signed_prekey(self._store.get_meta_int(_CURRENT_SPK, 0))
        lr = self.kem_prekey(self._store.get_meta_int(_CURRENT_KEM_LR, 0))
        if spk is None or lr is None:
            raise StorageError("this profile has no current signed prekey; it was not created completely")
        return spk.public.to_bytes(), lr.public.to_bytes()

    def relay_stock_stale(self) -> bool:
        """True when one-time keys were pruned since the relay's stock was last replaced (by a registration):
        the relay may still hand out public halves of keys this device no longer holds."""
        return bool(self._store.get_meta_int(_STOCK_STALE, 0))

    def relay_stock_replaced(self) -> None:
        """Record that a registration replaced the relay's one-time keys with ones this device holds."""
        self._store.set_meta_int(_STOCK_STALE, 0)

    def _prune(self, kind: str, ids: list[int], bound: int) -> int:
        """Delete the lowest of ``ids`` (unused one-time keys of ``kind``) beyond ``bound``; never a last-resort
        key. Returns how many were deleted."""
        excess = len(ids) - bound
        doomed: list[int] = []
        for key_id in ids:
            if len(doomed) >= excess:
                break
            if kind == PREKEY_KEM:
                record = self.kem_prekey(key_id)
                if record is not None and record.last_resort:  # a last-resort key is not one-time: not counted
                    excess -= 1
                    continue
            doomed.append(key_id)
        if doomed:
            self._store.purge_prekeys(kind, doomed)
        return len(doomed)

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

        Bound: in the same transaction, when more than
        :data:`~confide.keys.prekeys.MAX_HELD_ONE_TIME_PREKEYS` one-time X25519 or
        :data:`~confide.keys.prekeys.MAX_HELD_KEM_ONE_TIME_PREKEYS` one-time ML-KEM keys would be held, the oldest
        unused ones (lowest ids) are deleted, and the store is scrubbed when the transaction commits (their
        sealed bytes leave the database, WAL and every other file). The current signed and last-resort keys
        and retired keys within their grace period are never touched; ``pruned`` in the result says how many
        went, and the relay's stock is marked stale (:meth:`relay_stock_stale`).

        The relay appends uploads (``PUT /v1/prekeys`` adds to the device's one-time keys, up to its stock
        limit, and hands out the lowest id first), so after a prune it may still publish keys this device
        dropped; :class:`~confide.client.account.Account` then re-registers, which replaces the relay's
        one-time keys. A first message that already names a pruned key (its sender fetched the bundle
        before) does not decrypt: the prekey lookup finds nothing, session set-up raises
        :class:`~confide.protocol.errors.DecryptionError` ("prekey already used"), the client reports
        ``MessageUndecryptable`` and resets the session with the sender, who sends again; nothing else changes.

        Raises:
            ValueError: ``plan`` asks for more one-time keys of a kind than the bound.
            StorageError: the prekey ids are used up, or the store cannot be written (nothing was stored).
        """
        if plan.one_time > MAX_HELD_ONE_TIME_PREKEYS or plan.kem_one_time > MAX_HELD_KEM_ONE_TIME_PREKEYS:
            raise ValueError("a refill plan may not ask for more one-time prekeys than a device holds")
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
            pruned = self._prune(
                PREKEY_ONE_TIME, self._store.live_prekey_ids(PREKEY_ONE_TIME), MAX_HELD_ONE_TIME_PREKEYS
            )
            current_lr = self._store.get_meta_int(_CURRENT_KEM_LR, 0)
            kem_ids = [k for k in self._store.live_prekey_ids(PREKEY_KEM) if k != current_lr]
            pruned += self._prune(PREKEY_KEM, kem_ids, MAX_HELD_KEM_ONE_TIME_PREKEYS)
            if pruned:
                self._store.set_meta_int(_STOCK_STALE, 1)
        return PreKeyUpload(
            spk_pub, kem_lr_pub, [k.public.to_bytes() for k in otks], [k.public.to_bytes() for k in kems], pruned
        )

    @staticmethod
    def initial_plan() -> RefillPlan:
        """What a new device publishes: a full batch of each kind plus signed and last-resort keys."""
        return RefillPlan(one_time=ONE_TIME_PREKEY_BATCH, kem_one_time=KEM_ONE_TIME_BATCH, rotate_signed=True)
