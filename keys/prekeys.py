"""Prekeys: signed X25519 prekeys, signed ML-KEM-768 prekeys, one-time X25519 prekeys, and bundles.

Public wire forms (all integers big-endian):

* signed prekey:   ``id u32 || public(32) || sig(64)``; ``sig`` over ``"Confide-signed-prekey-v1" || id || public``
* KEM prekey:      ``id u32 || flags u8 || public(1184) || sig(64)``; ``sig`` over
  ``"Confide-kem-prekey-v1" || id || flags || public``; flag bit 0 = last resort (reusable)
* one-time prekey: ``id u32 || public(32)``
* bundle:          ``0x01 || identity(128) || device_cert(96) || signed || has_otk u8 || [otk] || kem``

Every signature is checked when a bundle is parsed; :meth:`PreKeyBundle.check_address` binds the bundle to
the address it was requested for. The refill and rotation policy lives here too, so every client follows
the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .address import Address
from .device import DEVICE_CERT_LEN, DeviceCertificate
from .encoding import RNG, Reader, Writer
from .errors import AddressMismatch, MalformedKey
from .identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey, x25519_public

BUNDLE_VERSION = 1
KEM_PUBLIC_LEN = 1184
KEM_CIPHERTEXT_LEN = 1088
KEM_SEED_LEN = 64
SIGNED_PREKEY_LEN = 4 + 32 + 64
ONE_TIME_PREKEY_LEN = 4 + 32
KEM_PREKEY_LEN = 4 + 1 + KEM_PUBLIC_LEN + 64
KEM_FLAG_LAST_RESORT = 0x01

ONE_TIME_PREKEY_BATCH = 100
"""One-time X25519 prekeys uploaded per refill: a therapist's week of new contacts, at 3.6 KiB."""
KEM_ONE_TIME_BATCH = 40
"""One-time ML-KEM prekeys per refill (topped up to this): 1.2 KiB each, so fewer than X25519 keys, but twice
:data:`KEM_REFILL_THRESHOLD` so a refill is worth its request."""
REFILL_THRESHOLD = 20
"""Refill X25519 one-time keys when fewer than this remain on the relay. The relay's default budget hands out
30 one-time keys per address per hour counting both kinds (at most 15 of each kind), and the client checks
its counts hourly: a stock of at least 20 after a check cannot be emptied before the next one."""
KEM_REFILL_THRESHOLD = 20
"""Refill ML-KEM one-time keys when fewer than this remain: as :data:`REFILL_THRESHOLD`, above the 15 of a kind
the relay's default budget lets anyone take per hour, so ordinary fetches never drain them between checks."""
MAX_HELD_ONE_TIME_PREKEYS = ONE_TIME_PREKEY_BATCH + 24 * 15
"""Private one-time X25519 prekeys a device keeps (460, 36 bytes each before sealing): one batch still on the relay
plus a day of keys handed out at the relay's default budget (15 of a kind an hour) whose first messages have not
arrived yet. A relay that lies about its counts makes every check upload a batch; past this bound the client
deletes its oldest unused keys, so its store stays bounded. An honest relay keeps at most one batch, the highest
ids (it hands out the lowest first), so pruning the lowest never drops a key it still publishes."""
MAX_HELD_KEM_ONE_TIME_PREKEYS = KEM_ONE_TIME_BATCH + 24 * 15
"""Private one-time ML-KEM prekeys a device keeps (400, each stored as its 64-byte seed and signature, 141 bytes
before sealing; the 2.4 KiB private key is derived when used): one batch on the relay plus a day of keys handed out
at the relay's default budget, as :data:`MAX_HELD_ONE_TIME_PREKEYS`. The last-resort key is not counted and never
deleted by this bound."""
SIGNED_PREKEY_ROTATION_S = 7 * 24 * 3600
"""Rotate the signed and last-resort prekeys weekly, as Signal does: bounds how long one leaked key helps."""
OLD_SIGNED_PREKEY_GRACE_S = 30 * 24 * 3600
"""Keep a rotated-out signed prekey this long for first messages still in flight (the relay lifetime cap)."""

_SPK_LABEL = b"Confide-signed-prekey-v1"
_KEM_LABEL = b"Confide-kem-prekey-v1"


def _spk_message(key_id: int, public: bytes) -> bytes:
    return _SPK_LABEL + key_id.to_bytes(4, "big") + public


def _kem_message(key_id: int, flags: int, public: bytes) -> bytes:
    return _KEM_LABEL + key_id.to_bytes(4, "big") + bytes((flags,)) + public


@dataclass(frozen=True, slots=True, eq=False)
class SignedPreKeyPublic:
    key_id: int
    public: bytes
    signature: bytes
    key: X25519PublicKey = field(repr=False)

    def to_bytes(self) -> bytes:
        return Writer().u32(self.key_id).raw(self.public).raw(self.signature).bytes()

    @classmethod
    def parse(cls, data: bytes, identity: IdentityPublicKey) -> SignedPreKeyPublic:
        """Parse and verify. Raises :class:`MalformedKey` or :class:`InvalidSignature`."""
        r = Reader(data, MalformedKey)
        key_id, public, sig = r.u32(), r.raw(32), r.raw(64)
        r.end()
        identity.verify(sig, _spk_message(key_id, public), "signed prekey")
        return cls(key_id, public, sig, x25519_public(public))


@dataclass(frozen=True, slots=True, eq=False)
class KemPreKeyPublic:
    key_id: int
    last_resort: bool
    public: bytes
    signature: bytes
    key: MLKEM768PublicKey = field(repr=False)

    def to_bytes(self) -> bytes:
        flags = KEM_FLAG_LAST_RESORT if self.last_resort else 0
        return Writer().u32(self.key_id).u8(flags).raw(self.public).raw(self.signature).bytes()

    @classmethod
    def parse(cls, data: bytes, identity: IdentityPublicKey) -> KemPreKeyPublic:
        """Parse and verify. Raises :class:`MalformedKey` or :class:`InvalidSignature`."""
        r = Reader(data, MalformedKey)
        key_id, flags, public, sig = r.u32(), r.u8(), r.raw(KEM_PUBLIC_LEN), r.raw(64)
        r.end()
        if flags & ~KEM_FLAG_LAST_RESORT:
            raise MalformedKey("unknown KEM prekey flags")
        identity.verify(sig, _kem_message(key_id, flags, public), "ML-KEM prekey")
        try:
            key = MLKEM768PublicKey.from_public_bytes(public)
        except ValueError as exc:
            raise MalformedKey("not an ML-KEM-768 public key") from exc
        return cls(key_id, bool(flags & KEM_FLAG_LAST_RESORT), public, sig, key)


@dataclass(frozen=True, slots=True, eq=False)
class OneTimePreKeyPublic:
    key_id: int
    public: bytes
    key: X25519PublicKey = field(repr=False)

    def to_bytes(self) -> bytes:
        return Writer().u32(self.key_id).raw(self.public).bytes()

    @classmethod
    def parse(cls, data: bytes) -> OneTimePreKeyPublic:
        """Parse. Raises :class:`MalformedKey`."""
        r = Reader(data, MalformedKey)
        key_id, public = r.u32(), r.raw(32)
        r.end()
        return cls(key_id, public, x25519_public(public))


@dataclass(frozen=True, slots=True, eq=False)
class PreKeyBundle:
    """Everything an initiator needs to start a session with one device, all signatures verified."""

    identity: IdentityPublicKey
    device: DeviceCertificate
    signed_prekey: SignedPreKeyPublic
    one_time_prekey: OneTimePreKeyPublic | None
    kem_prekey: KemPreKeyPublic

    def to_bytes(self) -> bytes:
        w = Writer().u8(BUNDLE_VERSION).raw(self.identity.to_bytes()).raw(self.device.to_bytes())
        w.raw(self.signed_prekey.to_bytes())
        if self.one_time_prekey is None:
            w.u8(0)
        else:
            w.u8(1).raw(self.one_time_prekey.to_bytes())
        return w.raw(self.kem_prekey.to_bytes()).bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> PreKeyBundle:
        """Parse a bundle and verify every signature in it.

        Raises:
            MalformedKey: wrong version, length or field.
            InvalidSignature: a prekey or device is not signed by the bundle's identity.
        """
        r = Reader(data, MalformedKey)
        if r.u8() != BUNDLE_VERSION:
            raise MalformedKey("unknown prekey bundle version")
        identity = IdentityPublicKey.from_bytes(r.raw(IDENTITY_PUBLIC_LEN))
        device = DeviceCertificate.from_bytes(r.raw(DEVICE_CERT_LEN), identity)
        spk = SignedPreKeyPublic.parse(r.raw(SIGNED_PREKEY_LEN), identity)
        has_otk = r.u8()
        if has_otk not in (0, 1):
            raise MalformedKey("bad one-time prekey flag")
        otk = OneTimePreKeyPublic.parse(r.raw(ONE_TIME_PREKEY_LEN)) if has_otk else None
        kem = KemPreKeyPublic.parse(r.raw(KEM_PREKEY_LEN), identity)
        r.end()
        return cls(identity, device, spk, otk, kem)

    def check_address(self, expected: Address) -> None:
        """Raise :class:`AddressMismatch` unless the bundle's identity has address ``expected``."""
        if self.identity.address != expected:
            raise AddressMismatch(
                f"the relay returned keys that do not belong to {expected.text}; refusing to use them"
            )


class SignedPreKeyRecord:
    """A private signed X25519 prekey with its creation time (seconds)."""

    __slots__ = ("created_at", "key_id", "private", "public")

    def __init__(self, key_id: int, private: X25519PrivateKey, signature: bytes, created_at: int) -> None:
        self.key_id = key_id
        self.private = private
        self.created_at = created_at
        pub = private.public_key()
        self.public = SignedPreKeyPublic(key_id, pub.public_bytes_raw(), signature, pub)

    @classmethod
    def generate(cls, identity: IdentityKeyPair, key_id: int, rng: RNG, now: int) -> SignedPreKeyRecord:
        private = X25519PrivateKey.from_private_bytes(rng(32))
        sig = identity.sign(_spk_message(key_id, private.public_key().public_bytes_raw()))
        return cls(key_id, private, sig, now)

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .u32(self.key_id)
            .raw(self.private.private_bytes_raw())
            .raw(self.public.signature)
            .u64(self.created_at)
            .bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedPreKeyRecord:
        """Parse the stored form. Raises :class:`MalformedKey` on a wrong length."""
        r = Reader(data, MalformedKey)
        key_id, priv, sig, created = r.u32(), r.raw(32), r.raw(64), r.u64()
        r.end()
        return cls(key_id, X25519PrivateKey.from_private_bytes(priv), sig, created)

    def __repr__(self) -> str:
        return f"SignedPreKeyRecord(id={self.key_id})"


class KemPreKeyRecord:
    """A private ML-KEM-768 prekey (kept as its 64-byte seed), one-time or last resort."""

    __slots__ = ("created_at", "key_id", "last_resort", "private", "public", "seed")

    def __init__(
        self,
        key_id: int,
        seed: bytes,
        last_resort: bool,
        signature: bytes,
        created_at: int,
        private: MLKEM768PrivateKey | None = None,
    ) -> None:
        """``private``: the key already derived from ``seed`` (by :meth:`generate`), so it is derived once."""
        self.key_id = key_id
        self.seed = seed
        self.last_resort = last_resort
        self.created_at = created_at
        self.private = MLKEM768PrivateKey.from_seed_bytes(seed) if private is None else private
        pub = self.private.public_key()
        self.public = KemPreKeyPublic(key_id, last_resort, pub.public_bytes_raw(), signature, pub)

    @classmethod
    def generate(
        cls, identity: IdentityKeyPair, key_id: int, rng: RNG, now: int, *, last_resort: bool
    ) -> KemPreKeyRecord:
        """A new KEM prekey from ``rng``'s 64-byte seed, signed by ``identity``; the key is derived once."""
        seed = rng(KEM_SEED_LEN)
        private = MLKEM768PrivateKey.from_seed_bytes(seed)
        flags = KEM_FLAG_LAST_RESORT if last_resort else 0
        signature = identity.sign(_kem_message(key_id, flags, private.public_key().public_bytes_raw()))
        return cls(key_id, seed, last_resort, signature, now, private)

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .u32(self.key_id)
            .u8(1 if self.last_resort else 0)
            .raw(self.seed)
            .raw(self.public.signature)
            .u64(self.created_at)
            .bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> KemPreKeyRecord:
        """Parse the stored form. Raises :class:`MalformedKey` on a wrong length or a last-resort flag not 0 or 1."""
        r = Reader(data, MalformedKey)
        key_id, lr, seed, sig, created = r.u32(), r.u8(), r.raw(KEM_SEED_LEN), r.raw(64), r.u64()
        r.end()
        if lr not in (0, 1):
            raise MalformedKey("bad last-resort flag in a stored ML-KEM prekey")
        return cls(key_id, seed, bool(lr), sig, created)

    def __repr__(self) -> str:
        return f"KemPreKeyRecord(id={self.key_id}, last_resort={self.last_resort})"


class OneTimePreKeyRecord:
    """A private one-time X25519 prekey."""

    __slots__ = ("key_id", "private", "public")

    def __init__(self, key_id: int, private: X25519PrivateKey) -> None:
        self.key_id = key_id
        self.private = private
        pub = private.public_key()
        self.public = OneTimePreKeyPublic(key_id, pub.public_bytes_raw(), pub)

    @classmethod
    def generate_batch(cls, first_id: int, count: int, rng: RNG) -> list[OneTimePreKeyRecord]:
        return [cls(first_id + i, X25519PrivateKey.from_private_bytes(rng(32))) for i in range(count)]

    def to_bytes(self) -> bytes:
        return Writer().u32(self.key_id).raw(self.private.private_bytes_raw()).bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> OneTimePreKeyRecord:
        """Parse the stored form. Raises :class:`MalformedKey` on a wrong length."""
        r = Reader(data, MalformedKey)
        key_id, priv = r.u32(), r.raw(32)
        r.end()
        return cls(key_id, X25519PrivateKey.from_private_bytes(priv))

    def __repr__(self) -> str:
        return f"OneTimePreKeyRecord(id={self.key_id})"


@dataclass(frozen=True, slots=True)
class RefillPlan:
    """What a client must upload: counts of new one-time keys and whether to rotate signed keys."""

    one_time: int
    kem_one_time: int
    rotate_signed: bool

    @property
    def needed(self) -> bool:
        return bool(self.one_time or self.kem_one_time or self.rotate_signed)


def plan_refill(*, one_time_left: int, kem_one_time_left: int, signed_created_at: int, now: int) -> RefillPlan:
    """Decide what to upload from the relay's counts and the signed prekey's age."""
    return RefillPlan(
        one_time=ONE_TIME_PREKEY_BATCH - one_time_left if one_time_left < REFILL_THRESHOLD else 0,
        kem_one_time=KEM_ONE_TIME_BATCH - kem_one_time_left if kem_one_time_left < KEM_REFILL_THRESHOLD else 0,
        rotate_signed=now - signed_created_at >= SIGNED_PREKEY_ROTATION_S,
    )
