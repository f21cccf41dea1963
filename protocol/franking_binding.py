"""A person's franking key, tied to their identity by the identity's signature (SPEC 13.8).

A person's franking key pair is derived from their identity's private bytes (SPEC 13.2), so it needs no
storage of its own. Its public half is useless to a judge unless the judge can tie it to an address: the
**binding** is the franking public key signed by the identity's Ed25519 key::

    binding   = franking_key(32) || signature(64)                                  (96 bytes)
    signature = Ed25519(identity.signing, "Confide-franking-key-v1" || identity public (128) || franking_key)

The identity's whole public form is signed (not only its signing key), so a binding names one identity. The
binding travels in a contact card (SPEC 14), in every FRANKED content (SPEC 8) and in a report file (SPEC
13.9). Parsing checks the length and that the key is a valid group element; :meth:`FrankingBinding.verify`
checks the signature. Sans-I/O; a binding is public, but no ``repr`` shows its signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confide.keys.errors import InvalidSignature
from confide.keys.identity import IdentityKeyPair, IdentityPublicKey

from .errors import FrankingBindingError, MalformedFranking
from .franking import FrankingKeyPair, FrankingPublicKey
from .franking_group import POINT_LEN

FRANKING_BINDING_LABEL = b"Confide-franking-key-v1"
"""Domain separation of the binding's signature: it never verifies as any other Confide signature."""
FRANKING_BINDING_SIGNATURE_LEN = 64
"""An Ed25519 signature."""
FRANKING_BINDING_LEN = POINT_LEN + FRANKING_BINDING_SIGNATURE_LEN
"""96 bytes: the franking public key, then the identity's signature over it."""


def franking_key_of(identity: IdentityKeyPair) -> FrankingKeyPair:
    """The franking key pair of ``identity``: derived from its 64 private bytes (SPEC 13.2), so a restored
    identity franks and verifies with the same key."""
    return FrankingKeyPair.derive(identity.private_bytes())


def binding_message(identity: IdentityPublicKey, key: FrankingPublicKey) -> bytes:
    """What the binding's signature covers: the label, the identity's 128 public bytes, the franking key."""
    return FRANKING_BINDING_LABEL + identity.to_bytes() + key.to_bytes()


@dataclass(frozen=True)
class FrankingBinding:
    """A franking public key and the signature of the identity it belongs to. Obtain one from :meth:`bind`
    or :meth:`from_bytes`; a parsed binding is not verified until :meth:`verify` says so.

    Raises:
        TypeError, ValueError: (on construction) not a :class:`FrankingPublicKey`, or a signature that is not
            64 bytes (a programmer mistake).
    """

    key: FrankingPublicKey
    signature: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, FrankingPublicKey):
            raise TypeError("a franking binding holds a FrankingPublicKey")
        if not isinstance(self.signature, bytes) or len(self.signature) != FRANKING_BINDING_SIGNATURE_LEN:
            raise ValueError(f"a franking binding's signature is {FRANKING_BINDING_SIGNATURE_LEN} bytes")

    @classmethod
    def bind(cls, identity: IdentityKeyPair) -> FrankingBinding:
        """The binding of ``identity``'s own franking key (Ed25519 is deterministic: always the same bytes)."""
        key = franking_key_of(identity).public
        return cls(key, identity.sign(binding_message(identity.public, key)))

    @classmethod
    def from_bytes(cls, data: bytes) -> FrankingBinding:
        """Parse a binding: the length, then the key. The signature is not checked (see :meth:`verify`).

        Raises:
            MalformedFranking: not :data:`FRANKING_BINDING_LEN` bytes, or a key that is not a valid group element.
        """
        if not isinstance(data, bytes | bytearray | memoryview) or len(data) != FRANKING_BINDING_LEN:
            raise MalformedFranking(f"a franking key binding is {FRANKING_BINDING_LEN} bytes")
        data = bytes(data)
        return cls(FrankingPublicKey.from_bytes(data[:POINT_LEN]), data[POINT_LEN:])

    def to_bytes(self) -> bytes:
        return self.key.to_bytes() + self.signature

    def verify(self, identity: IdentityPublicKey) -> None:
        """Check that ``identity`` signed this franking key.

        Raises:
            FrankingBindingError: the signature does not verify for ``identity`` (another identity's binding,
                or altered bytes).
        """
        try:
            identity.verify(self.signature, binding_message(identity, self.key), "franking key binding")
        except InvalidSignature:
            raise FrankingBindingError("the franking key is not bound to this identity") from None

    def holds_for(self, identity: IdentityPublicKey) -> bool:
        """Whether :meth:`verify` passes for ``identity``. Never raises."""
        try:
            self.verify(identity)
        except FrankingBindingError:
            return False
        return True

    def __repr__(self) -> str:
        return f"FrankingBinding(key={self.key.fingerprint()})"


def bind_franking_key(identity: IdentityKeyPair) -> FrankingBinding:
    """The binding of ``identity``'s franking key (same as :meth:`FrankingBinding.bind`)."""
    return FrankingBinding.bind(identity)


__all__ = [
    "FRANKING_BINDING_LABEL",
    "FRANKING_BINDING_LEN",
    "FrankingBinding",
    "bind_franking_key",
    "binding_message",
    "franking_key_of",
]
