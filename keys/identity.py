"""Identity keys: an Ed25519 signing key plus an X25519 agreement key certified by it.

The public identity is 128 bytes: ``signing_public(32) || agreement_public(32) || certificate(64)`` where
the certificate is ``Ed25519-Sign(signing, "Confide-identity-agreement-v1" || agreement_public)``.
Parsing verifies the certificate, so a parsed :class:`IdentityPublicKey` is always self-consistent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .address import Address
from .encoding import RNG
from .errors import InvalidSignature, MalformedKey

IDENTITY_PUBLIC_LEN = 128
IDENTITY_PRIVATE_LEN = 64

VERIFIED_IDENTITY_CACHE_SIZE = 1024
"""Public identities remembered after their certificate verified, by their exact 128 bytes. A client re-reads a
peer's identity from its session, contact and thread records on every message (five parses per message sent and
received, each an Ed25519 verification of ≈ 60-120 µs); the same bytes verify the same way every time. 1,024
covers a therapist's whole caseload with their devices, at ≈ 0.5 KiB each; a miss only costs time."""
_CERT_LABEL = b"Confide-identity-agreement-v1"


def verify_signature(public: Ed25519PublicKey, signature: bytes, message: bytes, what: str) -> None:
    """Verify an Ed25519 signature.

    Raises:
        InvalidSignature: naming ``what`` did not verify.
    """
    try:
        public.verify(signature, message)
    except _CryptoInvalidSignature as exc:
        raise InvalidSignature(f"the signature on the {what} does not verify") from exc


def x25519_public(raw: bytes) -> X25519PublicKey:
    """Load a raw X25519 public key. Raises :class:`MalformedKey` on a wrong length."""
    if len(raw) != 32:
        raise MalformedKey("an X25519 public key is 32 bytes")
    return X25519PublicKey.from_public_bytes(raw)


def x25519_private(raw: bytes) -> X25519PrivateKey:
    """Load a raw X25519 private key. Raises :class:`MalformedKey` on a wrong length."""
    if len(raw) != 32:
        raise MalformedKey("an X25519 private key is 32 bytes")
    return X25519PrivateKey.from_private_bytes(raw)


def ed25519_public(raw: bytes) -> Ed25519PublicKey:
    """Load a raw Ed25519 public key. Raises :class:`MalformedKey` on a wrong length or encoding."""
    if len(raw) != 32:
        raise MalformedKey("an Ed25519 public key is 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:  # pragma: no cover - any 32 bytes load today
        raise MalformedKey("not an Ed25519 public key") from exc


@dataclass(frozen=True, slots=True, eq=False)
class IdentityPublicKey:
    """A certified public identity; loaded key objects are kept for speed."""

    signing: bytes
    agreement: bytes
    certificate: bytes
    signing_key: Ed25519PublicKey = field(repr=False, compare=False)
    agreement_key: X25519PublicKey = field(repr=False, compare=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> IdentityPublicKey:
        """Parse and verify a 128-byte public identity.

        Raises:
            MalformedKey: wrong length.
            InvalidSignature: the agreement key is not certified by the signing key.
        """
        if len(data) != IDENTITY_PUBLIC_LEN:
            raise MalformedKey("a public identity is 128 bytes")
        return _verified_identity(bytes(data))

    def to_bytes(self) -> bytes:
        return self.signing + self.agreement + self.certificate

    @property
    def address(self) -> Address:
        return Address.from_identity_signing_key(self.signing)

    def fingerprint(self) -> str:
        """A short hex fingerprint for logs and reprs (not a security check: use safety numbers)."""
        return hashlib.sha256(self.signing).hexdigest()[:16]

    def verify(self, signature: bytes, message: bytes, what: str) -> None:
        """Verify a signature made by this identity. Raises :class:`InvalidSignature`."""
        verify_signature(self.signing_key, signature, message, what)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdentityPublicKey) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.signing)

    def __repr__(self) -> str:
        return f"IdentityPublicKey({self.address.text})"


@lru_cache(maxsize=VERIFIED_IDENTITY_CACHE_SIZE)
def _verified_identity(data: bytes) -> IdentityPublicKey:
    """Parse and verify exactly these 128 bytes, remembered for bytes that verified (a failure raises, and
    :func:`functools.lru_cache` never remembers a call that raised). The result is immutable and public."""
    signing, agreement, cert = data[:32], data[32:64], data[64:]
    signing_key = ed25519_public(signing)
    verify_signature(signing_key, cert, _CERT_LABEL + agreement, "identity agreement key")
    return IdentityPublicKey(signing, agreement, cert, signing_key, x25519_public(agreement))


class IdentityKeyPair:
    """A private identity. ``repr`` shows only the address; the private halves never print."""

    __slots__ = ("_agreement", "_signing", "public")

    def __init__(self, signing: Ed25519PrivateKey, agreement: X25519PrivateKey) -> None:
        self._signing = signing
        self._agreement = agreement
        agreement_pub = agreement.public_key().public_bytes_raw()
        signing_pub = signing.public_key()
        cert = signing.sign(_CERT_LABEL + agreement_pub)
        self.public = IdentityPublicKey(
            signing_pub.public_bytes_raw(), agreement_pub, cert, signing_pub, agreement.public_key()
        )

    @classmethod
    def generate(cls, rng: RNG) -> IdentityKeyPair:
        """Create a new identity from ``rng`` (``os.urandom`` in production)."""
        return cls(Ed25519PrivateKey.from_private_bytes(rng(32)), X25519PrivateKey.from_private_bytes(rng(32)))

    @classmethod
    def from_private_bytes(cls, data: bytes) -> IdentityKeyPair:
        """Load the 64-byte private form. Raises :class:`MalformedKey` on a wrong length."""
        if len(data) != IDENTITY_PRIVATE_LEN:
            raise MalformedKey("a private identity is 64 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(data[:32]), x25519_private(data[32:]))

    def private_bytes(self) -> bytes:
        """The 64-byte private form: ``signing_seed(32) || agreement_private(32)``. Seal it before storing."""
        return self._signing.private_bytes_raw() + self._agreement.private_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature by the identity key (certifies agreement key, devices and prekeys)."""
        return self._signing.sign(message)

    def agree(self, peer: X25519PublicKey) -> bytes:
        """X25519 of the identity agreement key with ``peer``."""
        return self._agreement.exchange(peer)

    @property
    def agreement_private(self) -> X25519PrivateKey:
        return self._agreement

    @property
    def address(self) -> Address:
        return self.public.address

    def __repr__(self) -> str:
        return f"IdentityKeyPair({self.address.text})"
