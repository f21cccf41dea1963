"""Account addresses: a readable, checksummed text form of a hash of the identity signing key.

``address = SHA-256("Confide-address-v1" || identity_signing_public)[:20]``; the text form is ``cf1-`` then
the lowercase RFC 4648 base32 of ``address || checksum`` (25 bytes, 40 characters) in groups of four, where
``checksum = SHA-256("Confide-address-checksum-v1" || address)[:5]``. A relay cannot substitute keys for an
address: the address commits to the identity key, and the identity key certifies everything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from .errors import InvalidAddress

ADDRESS_LEN = 20
"""160 bits: collision-resistant far beyond any realistic number of accounts, short enough to read aloud."""

_CHECKSUM_LEN = 5
_PREFIX = "cf1"
_LABEL = b"Confide-address-v1"
_CHECK_LABEL = b"Confide-address-checksum-v1"
_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")
SEPARATORS = " \t\n\r-"
"""What :meth:`Address.parse` drops before decoding: ASCII space, tab, CR and LF (an address pasted from a
message wrapped over lines) and the group dashes. Nothing else is dropped: any other character, including
non-ASCII spaces and letters whose lower case is ASCII (the Kelvin sign), makes the text invalid, so every
implementation accepts exactly the same texts (protocol/SPEC.md section 1)."""
_DROP = str.maketrans("", "", SEPARATORS)


def _checksum(raw: bytes) -> bytes:
    return hashlib.sha256(_CHECK_LABEL + raw).digest()[:_CHECKSUM_LEN]


@dataclass(frozen=True, slots=True)
class Address:
    """The 20-byte account address derived from an identity signing key."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != ADDRESS_LEN:
            raise ValueError("an address is 20 bytes")

    @classmethod
    def from_identity_signing_key(cls, signing_public: bytes) -> Address:
        """Derive the address of an identity signing public key (32 bytes, Ed25519)."""
        return cls(hashlib.sha256(_LABEL + signing_public).digest()[:ADDRESS_LEN])

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse the text form: the characters of :data:`SEPARATORS` are dropped, ASCII letters may be in either
        case.

        Raises:
            InvalidAddress: wrong prefix, length, alphabet (any non-ASCII character) or checksum.
        """
        compact = text.translate(_DROP)
        if not compact.isascii():
            raise InvalidAddress("a Confide address uses only letters a-z and digits 2-7")
        compact = compact.lower()
        if not compact.startswith(_PREFIX):
            raise InvalidAddress("a Confide address starts with 'cf1-'")
        body = compact[len(_PREFIX) :]
        if len(body) != 40:
            raise InvalidAddress("a Confide address has 40 characters after 'cf1-'")
        if not _BASE32.issuperset(body):
            raise InvalidAddress("a Confide address uses only letters a-z and digits 2-7")
        try:
            decoded = base64.b32decode(body.upper())
        except ValueError as exc:
            raise InvalidAddress("a Confide address uses only letters a-z and digits 2-7") from exc
        raw, check = decoded[:ADDRESS_LEN], decoded[ADDRESS_LEN:]
        if not hmac.compare_digest(check, _checksum(raw)):
            raise InvalidAddress("the address checksum does not match: check for a typing mistake")
        return cls(raw)

    @property
    def text(self) -> str:
        """The canonical text form, e.g. ``cf1-abcd-efgh-...``."""
        body = base64.b32encode(self.raw + _checksum(self.raw)).decode("ascii").lower()
        return _PREFIX + "-" + "-".join(body[i : i + 4] for i in range(0, len(body), 4))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Address({self.text!r})"
