"""Device keys: each device of an account has its own Ed25519 key, certified by the identity.

``device_id = SHA-256("Confide-device-id-v1" || device_public)[:16]`` and the certificate is
``Ed25519-Sign(identity_signing, "Confide-device-v1" || device_public)``. The relay authenticates requests
with the device key; mailboxes and sessions belong to devices, so linking a second device needs no
migration of the core.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .encoding import RNG
from .errors import MalformedKey
from .identity import IdentityKeyPair, IdentityPublicKey, ed25519_public

DEVICE_ID_LEN = 16
DEVICE_CERT_LEN = 32 + 64
_ID_LABEL = b"Confide-device-id-v1"
_CERT_LABEL = b"Confide-device-v1"


def device_id_of(device_public: bytes) -> bytes:
    """The 16-byte device id of a device public key."""
    return hashlib.sha256(_ID_LABEL + device_public).digest()[:DEVICE_ID_LEN]


@dataclass(frozen=True, slots=True, eq=False)
class DeviceCertificate:
    """A device public key certified by an identity: ``device_public(32) || signature(64)``."""

    public: bytes
    signature: bytes
    public_key: Ed25519PublicKey = field(repr=False)

    @classmethod
    def from_bytes(cls, data: bytes, identity: IdentityPublicKey) -> DeviceCertificate:
        """Parse and verify against ``identity``.

        Raises:
            MalformedKey: wrong length.
            InvalidSignature: not certified by ``identity``.
        """
        if len(data) != DEVICE_CERT_LEN:
            raise MalformedKey("a device certificate is 96 bytes")
        public, signature = bytes(data[:32]), bytes(data[32:])
        identity.verify(signature, _CERT_LABEL + public, "device certificate")
        return cls(public, signature, ed25519_public(public))

    @classmethod
    def issue(cls, identity: IdentityKeyPair, device_public: bytes) -> DeviceCertificate:
        """Certify another device's public key with ``identity`` (linking a device: its private key never leaves
        it, SPEC 15).

        Raises:
            MalformedKey: ``device_public`` is not a 32-byte Ed25519 public key.
        """
        public_key = ed25519_public(device_public)
        return cls(bytes(device_public), identity.sign(_CERT_LABEL + device_public), public_key)

    def to_bytes(self) -> bytes:
        return self.public + self.signature

    @property
    def device_id(self) -> bytes:
        return device_id_of(self.public)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeviceCertificate) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.public)


class DeviceKeyPair:
    """A device's private signing key; ``repr`` shows only the device id."""

    __slots__ = ("_private", "certificate")

    def __init__(self, private: Ed25519PrivateKey, identity: IdentityKeyPair) -> None:
        self._private = private
        public_key = private.public_key()
        public = public_key.public_bytes_raw()
        self.certificate = DeviceCertificate(public, identity.sign(_CERT_LABEL + public), public_key)

    @classmethod
    def generate(cls, identity: IdentityKeyPair, rng: RNG) -> DeviceKeyPair:
        return cls(Ed25519PrivateKey.from_private_bytes(rng(32)), identity)

    @classmethod
    def from_private_bytes(cls, data: bytes, identity: IdentityKeyPair) -> DeviceKeyPair:
        """Load the 32-byte seed. Raises :class:`MalformedKey` on a wrong length."""
        if len(data) != 32:
            raise MalformedKey("a device private key is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(data), identity)

    def private_bytes(self) -> bytes:
        """The 32-byte private seed. Seal it before storing."""
        return self._private.private_bytes_raw()

    @property
    def device_id(self) -> bytes:
        return self.certificate.device_id

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature by the device key (request authentication)."""
        return self._private.sign(message)

    def __repr__(self) -> str:
        return f"DeviceKeyPair({self.device_id.hex()})"
