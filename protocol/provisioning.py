"""What an existing device hands a new one when linking it (SPEC section 15.4): keys, tokens, device list and
contacts, and the offer of a history transfer. Canonical encodings, parsed completely before anyone uses them.

Provisioning (integers big-endian)::

    0x01 || identity_private(64) || token_key(32) || intro_token(32) || role u8
         || device_list var32 || count u16 || contact var16 * count

``identity_private`` is the identity's private form (SPEC section 1; every device of an identity holds it,
decision 1 of issue 13), ``token_key`` derives the per-contact delivery tokens, ``intro_token`` is the
introduction token the identity gives out, ``role`` 1 client or 2 therapist, ``device_list`` the signed
DEVICES document (SPEC section 12) that lists the new device, and each ``contact`` a CONTACT body (content
type 12, SPEC section 8), kept opaque here: the client parses it.

History offer::

    0x00                                                                      none: start empty
    0x01 || blob_id var16 || key(32) || digest(32) || size u64 || messages u32   an attachment blob (SPEC 9)

Both travel only inside the link exchange's AEAD (:mod:`confide.protocol.link`).
"""

from __future__ import annotations

import enum
import string
from dataclasses import dataclass, field

from confide.keys.encoding import Reader, Writer

from .attachment import ATTACHMENT_KEY_LEN, DIGEST_LEN
from .errors import RemoteProtocolError
from .history import MAX_HISTORY_BYTES, MAX_HISTORY_MESSAGES, TRAILER_LEN

PROVISIONING_VERSION = 1
IDENTITY_PRIVATE_LEN = 64
"""``ed25519_seed(32) || x25519_private(32)`` (SPEC section 1)."""
TOKEN_KEY_LEN = 32
"""HMAC-SHA-256 key of the per-contact delivery tokens."""
TOKEN_LEN = 32
"""A delivery token (SPEC section 6)."""
MAX_DEVICE_LIST_LEN = 1024
"""A signed DEVICES document is at most 853 bytes (header 158, six entries of 105 and their count, signature
64); 1 KiB leaves room for a later header field without letting provisioning carry an arbitrary blob."""
CONTACT_FIXED_LEN = 20 + 128 + 1 + 1 + 4 + 1 + 1
"""A CONTACT body without its name and tokens: peer, identity, flags, name length, timer and the two flags."""
MAX_CONTACT_NAME_BYTES = 128
"""A contact's local name (SPEC section 8, type 12: 1..128 UTF-8 bytes)."""
MIN_CONTACT_LEN = CONTACT_FIXED_LEN + 1
"""The shortest CONTACT body (157 bytes): a one-byte name, no tokens."""
MAX_CONTACT_LEN = CONTACT_FIXED_LEN + MAX_CONTACT_NAME_BYTES + 2 * TOKEN_LEN
"""The longest CONTACT body (348 bytes): a 128-byte name and both tokens."""
MAX_CONTACTS = 1024
"""Contacts carried to a new device. A full-time therapist sees 25 to 40 clients a week; 1,024 covers such a
caseload with years of former clients and colleagues, while bounding what a new device must parse."""
MAX_PROVISIONING_LEN = (
    1
    + IDENTITY_PRIVATE_LEN
    + TOKEN_KEY_LEN
    + TOKEN_LEN
    + 1
    + 4
    + MAX_DEVICE_LIST_LEN
    + 2
    + MAX_CONTACTS * (2 + MAX_CONTACT_LEN)
)
"""The longest provisioning (359,560 bytes): :data:`MAX_CONTACTS` contacts of the longest kind. It fits, with
the link message's version byte and AEAD tag, in the relay's 512 KiB ``MAX_LINK_MESSAGE``."""
MAX_BLOB_ID_BYTES = 128
"""As a content's attachment pointer (SPEC section 8): the relay's ids are 43 characters."""
MAX_HISTORY_OFFER_LEN = 1 + 2 + MAX_BLOB_ID_BYTES + ATTACHMENT_KEY_LEN + DIGEST_LEN + 8 + 4
"""The longest history offer (207 bytes)."""

_BLOB_ID_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
_OFFER_NONE = 0x00
_OFFER_BLOB = 0x01


class ProvisionedRole(enum.IntEnum):
    """The identity's role, as the client's ``Role`` (``"client"`` / ``"therapist"``)."""

    CLIENT = 1
    THERAPIST = 2


@dataclass(frozen=True, slots=True)
class Provisioning:
    """Everything a new device needs to act as the identity. Secrets never print.

    Raises (construction):
        ValueError: a field has the wrong length, ``role`` is unknown, or a limit is exceeded.
    """

    identity_private: bytes = field(repr=False)
    token_key: bytes = field(repr=False)
    intro_token: bytes = field(repr=False)
    role: int
    device_list: bytes = field(repr=False)
    contacts: tuple[bytes, ...] = field(repr=False)

    def __post_init__(self) -> None:
        for name, value, length in (
            ("identity_private", self.identity_private, IDENTITY_PRIVATE_LEN),
            ("token_key", self.token_key, TOKEN_KEY_LEN),
            ("intro_token", self.intro_token, TOKEN_LEN),
        ):
            if not isinstance(value, bytes) or len(value) != length:
                raise ValueError(f"{name} must be {length} bytes")
        if self.role not in {r.value for r in ProvisionedRole}:
            raise ValueError("role must be 1 (client) or 2 (therapist)")
        if not isinstance(self.device_list, bytes) or not 1 <= len(self.device_list) <= MAX_DEVICE_LIST_LEN:
            raise ValueError(f"the device list must be 1..{MAX_DEVICE_LIST_LEN} bytes")
        if not isinstance(self.contacts, tuple) or len(self.contacts) > MAX_CONTACTS:
            raise ValueError(f"at most {MAX_CONTACTS} contacts")
        for contact in self.contacts:
            if not isinstance(contact, bytes) or not MIN_CONTACT_LEN <= len(contact) <= MAX_CONTACT_LEN:
                raise ValueError(f"a contact snapshot is {MIN_CONTACT_LEN}..{MAX_CONTACT_LEN} bytes")

    def to_bytes(self) -> bytes:
        """The canonical encoding (module docstring); at most :data:`MAX_PROVISIONING_LEN` bytes."""
        w = Writer().u8(PROVISIONING_VERSION).raw(self.identity_private).raw(self.token_key)
        w.raw(self.intro_token).u8(self.role).var32(self.device_list).u16(len(self.contacts))
        for contact in self.contacts:
            w.var16(contact)
        return w.bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Provisioning:
        """Parse a provisioning.

        Raises:
            RemoteProtocolError: too long, unknown version or role, a length out of its bounds, truncated or
                trailing bytes.
        """
        if len(data) > MAX_PROVISIONING_LEN:
            raise RemoteProtocolError("the provisioning is longer than allowed")
        r = Reader(data, RemoteProtocolError)
        if r.u8() != PROVISIONING_VERSION:
            raise RemoteProtocolError("unknown provisioning version")
        identity_private = r.raw(IDENTITY_PRIVATE_LEN)
        token_key, intro_token, role = r.raw(TOKEN_KEY_LEN), r.raw(TOKEN_LEN), r.u8()
        device_list = r.var32(MAX_DEVICE_LIST_LEN)
        count = r.u16()
        if count > MAX_CONTACTS:
            raise RemoteProtocolError("the provisioning holds too many contacts")
        contacts = tuple(r.var16(MAX_CONTACT_LEN) for _ in range(count))
        r.end()
        try:
            return cls(identity_private, token_key, intro_token, role, device_list, contacts)
        except ValueError as exc:
            raise RemoteProtocolError(f"malformed provisioning: {exc}") from exc


@dataclass(frozen=True, slots=True)
class HistoryOffer:
    """Where the recent history waits: an attachment blob (SPEC section 9) of ``size`` plaintext bytes holding
    ``messages`` records (:mod:`confide.protocol.history`). The key does not print.

    Raises (construction):
        ValueError: a field has the wrong length or is out of its bounds.
    """

    blob_id: str
    key: bytes = field(repr=False)
    digest: bytes
    size: int
    messages: int

    def __post_init__(self) -> None:
        raw_id = self.blob_id.encode("ascii", "replace") if isinstance(self.blob_id, str) else b""
        if not 1 <= len(raw_id) <= MAX_BLOB_ID_BYTES or not _BLOB_ID_ALPHABET.issuperset(self.blob_id):
            raise ValueError(f"a blob id is 1..{MAX_BLOB_ID_BYTES} characters of base64url")
        if not isinstance(self.key, bytes) or len(self.key) != ATTACHMENT_KEY_LEN:
            raise ValueError(f"the key must be {ATTACHMENT_KEY_LEN} bytes")
        if not isinstance(self.digest, bytes) or len(self.digest) != DIGEST_LEN:
            raise ValueError(f"the digest must be {DIGEST_LEN} bytes")
        if not TRAILER_LEN <= self.size <= MAX_HISTORY_BYTES:
            raise ValueError(f"a history stream is {TRAILER_LEN}..{MAX_HISTORY_BYTES} bytes")
        if not 0 <= self.messages <= MAX_HISTORY_MESSAGES:
            raise ValueError(f"a history holds at most {MAX_HISTORY_MESSAGES} messages")

    @staticmethod
    def encode(offer: HistoryOffer | None) -> bytes:
        """The canonical encoding of an offer, or of none (``0x00``: the new device starts empty)."""
        if offer is None:
            return bytes((_OFFER_NONE,))
        w = Writer().u8(_OFFER_BLOB).var16(offer.blob_id.encode("ascii")).raw(offer.key).raw(offer.digest)
        return w.u64(offer.size).u32(offer.messages).bytes()

    @staticmethod
    def decode(data: bytes) -> HistoryOffer | None:
        """Parse an offer; None for ``0x00`` (no history).

        Raises:
            RemoteProtocolError: unknown kind, a field out of its bounds, truncated or trailing bytes.
        """
        if len(data) > MAX_HISTORY_OFFER_LEN:
            raise RemoteProtocolError("the history offer is longer than allowed")
        r = Reader(data, RemoteProtocolError)
        kind = r.u8()
        if kind == _OFFER_NONE:
            r.end()
            return None
        if kind != _OFFER_BLOB:
            raise RemoteProtocolError("unknown history offer kind")
        raw_id = r.var16(MAX_BLOB_ID_BYTES)
        key, digest, size, messages = r.raw(ATTACHMENT_KEY_LEN), r.raw(DIGEST_LEN), r.u64(), r.u32()
        r.end()
        try:
            return HistoryOffer(raw_id.decode("ascii"), key, digest, size, messages)
        except (UnicodeDecodeError, ValueError) as exc:
            raise RemoteProtocolError(f"malformed history offer: {exc}") from exc


__all__ = [
    "MAX_CONTACTS",
    "MAX_CONTACT_LEN",
    "MAX_DEVICE_LIST_LEN",
    "MAX_HISTORY_OFFER_LEN",
    "MAX_PROVISIONING_LEN",
    "HistoryOffer",
    "ProvisionedRole",
    "Provisioning",
]
