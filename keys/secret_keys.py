"""The secrets a profile's key store holds: the identity, this device's key and the local store key.

Canonical form (``SECRET_KEYS_LEN`` = 129 bytes)::

    version u8 (= 1) || identity_private(64) || device_private(32) || store_key(32)

``identity_private`` is :meth:`IdentityKeyPair.private_bytes` (Ed25519 seed || X25519 private) and
``device_private`` is the device's Ed25519 seed; the device certificate is recomputed on load (Ed25519 is
deterministic, so it is byte-identical). This form is only ever written inside a sealed blob
(:mod:`confide.keys.keystore`, :mod:`confide.keys.recovery`).
"""

from __future__ import annotations

import hmac

from .device import DeviceCertificate, DeviceKeyPair
from .encoding import RNG, Reader, Writer
from .errors import CorruptKeyStore, InvalidSignature, MalformedKey
from .identity import IDENTITY_PRIVATE_LEN, IdentityKeyPair

SECRET_KEYS_VERSION = 1
"""Version byte of the canonical form; a new layout gets a new number, old ones stay readable."""
STORE_KEY_LEN = 32
"""256-bit key for the local SQLite store: the AEAD key size of ChaCha20-Poly1305 / AES-256-GCM."""
DEVICE_PRIVATE_LEN = 32
SECRET_KEYS_LEN = 1 + IDENTITY_PRIVATE_LEN + DEVICE_PRIVATE_LEN + STORE_KEY_LEN
"""Exact length of the canonical form; anything else is corrupt."""


class SecretKeys:
    """What the passphrase-sealed key store holds. ``repr`` shows only the address, never key material."""

    __slots__ = ("device", "identity", "store_key")

    def __init__(self, identity: IdentityKeyPair, device: DeviceKeyPair, store_key: bytes) -> None:
        """Bundle the secrets.

        Raises:
            ValueError: ``store_key`` is not 32 bytes, or ``device`` is not certified by ``identity``.
        """
        if len(store_key) != STORE_KEY_LEN:
            raise ValueError("the store key is 32 bytes")
        try:
            DeviceCertificate.from_bytes(device.certificate.to_bytes(), identity.public)
        except InvalidSignature as exc:
            raise ValueError("the device key is not certified by this identity") from exc
        self.identity = identity
        self.device = device
        self.store_key = bytes(store_key)

    @classmethod
    def generate(cls, rng: RNG) -> SecretKeys:
        """Create a new identity, device key and store key from ``rng`` (``os.urandom`` in production)."""
        identity = IdentityKeyPair.generate(rng)
        device = DeviceKeyPair.generate(identity, rng)
        return cls(identity, device, rng(STORE_KEY_LEN))

    def to_bytes(self) -> bytes:
        """The versioned canonical form (secret: seal it, never store or log it as is)."""
        return (
            Writer()
            .u8(SECRET_KEYS_VERSION)
            .raw(self.identity.private_bytes())
            .raw(self.device.private_bytes())
            .raw(self.store_key)
            .bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SecretKeys:
        """Parse the canonical form.

        Raises:
            CorruptKeyStore: wrong length, unknown version or unloadable key material.
        """
        r = Reader(data, CorruptKeyStore)
        if r.u8() != SECRET_KEYS_VERSION:
            raise CorruptKeyStore("the key store holds keys of an unknown format version; update Confide to open it")
        identity_raw = r.raw(IDENTITY_PRIVATE_LEN)
        device_raw = r.raw(DEVICE_PRIVATE_LEN)
        store_key = r.raw(STORE_KEY_LEN)
        r.end()
        try:
            identity = IdentityKeyPair.from_private_bytes(identity_raw)
            device = DeviceKeyPair.from_private_bytes(device_raw, identity)
        except (MalformedKey, ValueError) as exc:  # pragma: no cover - any bytes of the right length load
            raise CorruptKeyStore("the key store holds damaged keys; use your recovery code") from exc
        return cls(identity, device, store_key)

    @property
    def address_text(self) -> str:
        """The account address, for display."""
        return self.identity.address.text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKeys):
            return NotImplemented
        return hmac.compare_digest(self.to_bytes(), other.to_bytes())

    def __hash__(self) -> int:
        return hash(self.identity.public.signing)

    def __repr__(self) -> str:
        return f"SecretKeys({self.identity.address.text})"
