"""Invite codes: what one person gives another so they can write to them.

To deliver to a device the relay wants its delivery token as well as its address (so a stranger who only
learns an address cannot fill a mailbox). An invite code carries both::

    "cfi1:" + lowercase base32(no padding) of ( address(20) || delivery_token(32) || checksum(4) )

with ``checksum = SHA-256("Confide-invite-v1" || address || token)[:4]`` to catch typing mistakes. The
code is a capability: share it only with the person who should be able to write to you.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from confide.keys.address import ADDRESS_LEN, Address
from confide.protocol.envelope import DELIVERY_TOKEN_LEN

from .errors import InvalidInvite

INVITE_PREFIX = "cfi1:"
_CHECKSUM_LEN = 4
_LABEL = b"Confide-invite-v1"
_RAW_LEN = ADDRESS_LEN + DELIVERY_TOKEN_LEN + _CHECKSUM_LEN


def _checksum(address: bytes, token: bytes) -> bytes:
    return hashlib.sha256(_LABEL + address + token).digest()[:_CHECKSUM_LEN]


@dataclass(frozen=True, slots=True)
class Invite:
    """An address plus the delivery token that lets the holder write to it. ``repr`` hides the token."""

    address: Address
    token: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.token) != DELIVERY_TOKEN_LEN:
            raise ValueError("a delivery token is 32 bytes")

    @property
    def code(self) -> str:
        """The text form, ``cfi1:...``."""
        raw = self.address.raw + self.token + _checksum(self.address.raw, self.token)
        return INVITE_PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=").lower()

    @classmethod
    def parse(cls, text: str) -> Invite:
        """Parse an invite code (spaces and case ignored).

        Raises:
            InvalidInvite: wrong prefix, length, alphabet or checksum.
        """
        compact = "".join(text.split()).lower()
        if not compact.startswith(INVITE_PREFIX):
            raise InvalidInvite("an invite code starts with 'cfi1:'; ask your contact to run 'confide whoami'")
        body = compact[len(INVITE_PREFIX) :].upper()
        try:
            raw = base64.b32decode(body + "=" * (-len(body) % 8))
        except ValueError as exc:
            raise InvalidInvite("an invite code uses only letters a-z and digits 2-7") from exc
        if len(raw) != _RAW_LEN:
            raise InvalidInvite("the invite code has the wrong length: copy it again in full")
        address, token, check = raw[:ADDRESS_LEN], raw[ADDRESS_LEN:-_CHECKSUM_LEN], raw[-_CHECKSUM_LEN:]
        if not hmac.compare_digest(check, _checksum(address, token)):
            raise InvalidInvite("the invite code checksum does not match: check for a typing mistake")
        return cls(Address(address), token)
