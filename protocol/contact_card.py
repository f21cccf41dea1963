"""Contact cards: what a person hands someone so they can write to them, signed by their identity (SPEC 14).

A card carries everything a client needs to start a thread and to know whom it is writing to: the identity,
the delivery token (so the card is also an invite), the franking key binding (SPEC 13.8), and optionally the
holder's signed credential (a therapist's, issued by a practice) and signed availability card (SPEC 12)::

    card      = version u8 (=1) || identity(128) || delivery_token(32) || franking_binding(96)
                || has_credential u8 || [credential var16] || has_availability u8 || [availability var16]
                || issued_at u64 || signature(64)
    signature = Ed25519(identity.signing, "Confide-contact-card-v1" || every byte before the signature)

Its text form, for a QR code or a message, is ``"CONFIDE-CARD1:" || BASE32(card)`` (RFC 4648, upper case,
no padding): all in the QR alphanumeric set. :func:`parse_contact_card` parses everything first, then
verifies the identity, the card's signature, the binding and the nested documents' signatures, and raises
only :class:`ContactCardError` or another :class:`~confide.protocol.document_errors.DocumentError`. It does
not date the nested documents or check who issued the credential: the client shows a credential's status
(:func:`~confide.protocol.documents.check_credential`: another key, expired, ...) and ignores an expired
availability card. Sans-I/O: callers pass ``now``. A card is a capability (its token lets anyone write to
its holder): no ``repr`` shows the token or the signature.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field

from confide.keys.address import Address
from confide.keys.encoding import Reader, Writer
from confide.keys.errors import InvalidSignature
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey

from .document_bodies import MAX_TIMESTAMP, check_int, identity_from
from .document_errors import DocumentError, DocumentSignatureError
from .documents import (
    MAX_CARD_LEN,
    MAX_CLOCK_SKEW_S,
    MAX_CREDENTIAL_LEN,
    SIGNATURE_LEN,
    DocumentKind,
    SignedDocument,
    _decode_document,
    _verify,
)
from .envelope import DELIVERY_TOKEN_LEN
from .errors import FrankingBindingError, MalformedFranking
from .franking_binding import FRANKING_BINDING_LEN, FrankingBinding

CONTACT_CARD_VERSION = 1
"""The first byte of a contact card."""
CONTACT_CARD_LABEL = b"Confide-contact-card-v1"
"""Domain separation of the card's signature: it never verifies as a document or any other signature."""
MAX_CARD_BYTES = (
    1 + IDENTITY_PUBLIC_LEN + DELIVERY_TOKEN_LEN + FRANKING_BINDING_LEN
    + 1 + 2 + MAX_CREDENTIAL_LEN
    + 1 + 2 + MAX_CARD_LEN
    + 8 + SIGNATURE_LEN
)  # fmt: skip
"""2,580 bytes: a card holding the longest credential (770) and availability card (1,475) there can be.
Longer input is refused unread. (A card near this bound makes a text of 4,142 characters, more than a QR code
holds at level M; typical cards, about 1 KiB, fit.)"""
CARD_TEXT_PREFIX = "CONFIDE-CARD1:"
"""Marks a Confide contact card's text form (text wrapping version 1)."""
CARD_TEXT_WHITESPACE = " \t\n\r"
"""What a pasted or scanned card text may have around it (as ``keys/qr.py``): ASCII space, tab, LF, CR."""
MAX_CARD_TEXT_LEN = len(CARD_TEXT_PREFIX) + (MAX_CARD_BYTES * 8 + 4) // 5
"""4,142 characters: the text of the longest card; a longer text is refused before it is decoded."""
_HEAD_LEN = 1 + IDENTITY_PUBLIC_LEN + DELIVERY_TOKEN_LEN + FRANKING_BINDING_LEN


class ContactCardError(DocumentError):
    """A contact card is malformed (version, length, field, presence flag, text form), or its signature, its
    franking key binding or a nested document's signature does not verify, or its availability card is
    signed by someone other than the card's identity: show nothing of it and ask for the card again."""


@dataclass(frozen=True, slots=True)
class ContactCard:
    """A signed contact card: the holder's ``identity`` and ``delivery_token`` (together an invite), the
    ``binding`` of their franking key, optionally their ``credential`` (a CREDENTIAL document, signed by a
    practice; it may name another identity, which the client reports as ``other_key``) and ``availability``
    (an AVAILABILITY document the holder signed), when it was ``issued_at`` (unix seconds) and the
    ``signature``. Obtain one from :meth:`sign` or :func:`parse_contact_card` (only that verifies).

    Raises:
        TypeError, ValueError: (on construction) a field of the wrong type, kind, length or range, or an
            availability card signed by another identity.
    """

    identity: IdentityPublicKey
    delivery_token: bytes = field(repr=False)
    binding: FrankingBinding
    credential: SignedDocument | None
    availability: SignedDocument | None
    issued_at: int
    signature: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.identity, IdentityPublicKey) or not isinstance(self.binding, FrankingBinding):
            raise TypeError("a contact card holds an IdentityPublicKey and a FrankingBinding")
        if not isinstance(self.delivery_token, bytes) or len(self.delivery_token) != DELIVERY_TOKEN_LEN:
            raise ValueError(f"a delivery token is {DELIVERY_TOKEN_LEN} bytes")
        if self.credential is not None and (
            not isinstance(self.credential, SignedDocument) or self.credential.kind != DocumentKind.CREDENTIAL
        ):
            raise ValueError("a contact card's credential is a credential document")
        if self.availability is not None:
            if not isinstance(self.availability, SignedDocument) or self.availability.kind != DocumentKind.AVAILABILITY:
                raise ValueError("a contact card's availability is an availability document")
            if self.availability.signer != self.identity:
                raise ValueError("a contact card's availability card is signed by the card's identity")
        check_int("issued_at", self.issued_at, 0, MAX_TIMESTAMP)
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_LEN:
            raise ValueError(f"a signature is {SIGNATURE_LEN} bytes")

    @classmethod
    def sign(
        cls,
        identity_pair: IdentityKeyPair,
        delivery_token: bytes,
        *,
        credential: SignedDocument | None,
        availability: SignedDocument | None,
        issued_at: int,
    ) -> ContactCard:
        """The card of ``identity_pair``, with its franking key binding, signed (deterministically).

        Raises:
            TypeError, ValueError: a field outside its rules (see the class), e.g. an availability card signed
                by someone else.
        """
        binding = FrankingBinding.bind(identity_pair)
        fields = (identity_pair.public, delivery_token, binding, credential, availability, issued_at)
        unsigned = cls(*fields, bytes(SIGNATURE_LEN))
        return cls(*fields, identity_pair.sign(unsigned.signed_message()))

    def _prefix(self) -> bytes:
        w = Writer().u8(CONTACT_CARD_VERSION).raw(self.identity.to_bytes()).raw(self.delivery_token)
        w.raw(self.binding.to_bytes())
        for document in (self.credential, self.availability):
            if document is None:
                w.u8(0)
            else:
                w.u8(1).var16(document.to_bytes())
        return w.u64(self.issued_at).bytes()

    def signed_message(self) -> bytes:
        """What the signature covers: the label, then every byte of the card before the signature."""
        return CONTACT_CARD_LABEL + self._prefix()

    def to_bytes(self) -> bytes:
        return self._prefix() + self.signature

    @property
    def address(self) -> Address:
        """The holder's address (from the identity)."""
        return self.identity.address

    @property
    def invite(self) -> tuple[Address, bytes]:
        """What an invite holds: the address and the delivery token that lets the card's reader write to it."""
        return self.identity.address, self.delivery_token

    def __repr__(self) -> str:
        extras = [name for name in ("credential", "availability") if getattr(self, name) is not None]
        return f"ContactCard({self.address.text}, issued_at={self.issued_at}, with={extras})"


def _flagged(r: Reader, limit: int) -> bytes | None:
    flag = r.u8()
    if flag == 0:
        return None
    if flag != 1:
        raise ContactCardError("a contact card's presence flag is neither 0 nor 1")
    return r.var16(limit)


def _nested(data: bytes | None, kind: DocumentKind) -> SignedDocument | None:
    if data is None:
        return None
    try:
        return _decode_document(data, kind)
    except DocumentSignatureError:
        raise ContactCardError(f"the card's {kind.name.lower()} holds an identity that is not consistent") from None
    except DocumentError:
        raise ContactCardError(f"the card's {kind.name.lower()} document is malformed") from None


def parse_contact_card(data: bytes, *, now: int) -> ContactCard:
    """Parse and verify a contact card received from anyone (a QR code, a message, a file).

    In order: the length (at most :data:`MAX_CARD_BYTES`), the version, every field (the identity's own
    certificate, the binding's key, the presence flags, the nested documents of the expected kinds), then the
    card's signature, the franking key binding, the nested documents' signatures (each by its own signer), that
    the availability card's signer is the card's identity, and that ``issued_at`` is at most
    ``now + MAX_CLOCK_SKEW_S``. Nested documents are not dated (the client shows an expired credential and
    ignores an expired availability card) and the credential may name another identity (the client's
    ``other_key``).

    Raises:
        ContactCardError: malformed or too long, an identity that is not self-consistent, a signature,
            binding or nested signature that does not verify, an availability card signed by someone else, or
            a card issued in the future.
    """
    if not isinstance(data, bytes):
        raise TypeError("a contact card is bytes")
    if len(data) > MAX_CARD_BYTES:
        raise ContactCardError("the contact card is longer than any valid card")
    r = Reader(data, ContactCardError)
    if r.u8() != CONTACT_CARD_VERSION:
        raise ContactCardError("unknown contact card version: the sender may need to update Confide")
    identity_bytes, token = r.raw(IDENTITY_PUBLIC_LEN), r.raw(DELIVERY_TOKEN_LEN)
    binding_bytes = r.raw(FRANKING_BINDING_LEN)
    credential_bytes = _flagged(r, MAX_CREDENTIAL_LEN)
    availability_bytes = _flagged(r, MAX_CARD_LEN)
    issued_at, signature = r.u64(), r.raw(SIGNATURE_LEN)
    r.end()
    try:
        identity = identity_from(identity_bytes)
        binding = FrankingBinding.from_bytes(binding_bytes)
    except (DocumentError, MalformedFranking):
        raise ContactCardError("the contact card's identity or franking key is malformed") from None
    credential = _nested(credential_bytes, DocumentKind.CREDENTIAL)
    availability = _nested(availability_bytes, DocumentKind.AVAILABILITY)
    try:
        card = ContactCard(identity, token, binding, credential, availability, issued_at, signature)
    except ValueError as exc:
        raise ContactCardError(f"invalid contact card: {exc}") from None
    try:
        identity.verify(signature, card.signed_message(), "contact card")
        binding.verify(identity)
        for document in (credential, availability):
            if document is not None:
                _verify(document)
    except (InvalidSignature, FrankingBindingError, DocumentSignatureError):
        raise ContactCardError("the contact card's signatures do not verify: it was altered or forged") from None
    if issued_at > now + MAX_CLOCK_SKEW_S:
        raise ContactCardError("the contact card is issued in the future: check the clock")
    return card


def card_text(card_bytes: bytes) -> str:
    """The text form of a card's bytes: ``CONFIDE-CARD1:`` then base32 (upper case, no padding).

    Raises:
        ValueError: empty or longer than :data:`MAX_CARD_BYTES` (a programmer mistake).
    """
    if not 0 < len(card_bytes) <= MAX_CARD_BYTES:
        raise ValueError(f"a contact card is 1 to {MAX_CARD_BYTES} bytes")
    return CARD_TEXT_PREFIX + base64.b32encode(bytes(card_bytes)).decode("ascii").rstrip("=")


def parse_card_text(text: str) -> bytes:
    """The card bytes inside a card's text form (surrounding :data:`CARD_TEXT_WHITESPACE` and ASCII letter
    case are ignored; any non-ASCII character makes it invalid). The bytes still go through
    :func:`parse_contact_card`.

    Raises:
        ContactCardError: too long, not a Confide contact card, or not canonical base32.
    """
    if not isinstance(text, str) or len(text) > MAX_CARD_TEXT_LEN + 64:
        raise ContactCardError("this is not a Confide contact card")
    normalized = text.strip(CARD_TEXT_WHITESPACE)
    if not normalized.isascii():  # upper() would map some non-ASCII letters to ASCII ones ("ß" -> "SS")
        raise ContactCardError("this is not a Confide contact card")
    normalized = normalized.upper()
    if not normalized.startswith(CARD_TEXT_PREFIX) or len(normalized) > MAX_CARD_TEXT_LEN:
        raise ContactCardError("this is not a Confide contact card")
    body = normalized[len(CARD_TEXT_PREFIX) :]
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raise ContactCardError("this contact card is damaged; ask for it again") from None
    if not raw or not hmac.compare_digest(card_text(raw), normalized):
        raise ContactCardError("this contact card is damaged; ask for it again")
    return raw


__all__ = [
    "CARD_TEXT_PREFIX",
    "CONTACT_CARD_LABEL",
    "CONTACT_CARD_VERSION",
    "MAX_CARD_BYTES",
    "ContactCard",
    "ContactCardError",
    "card_text",
    "parse_card_text",
    "parse_contact_card",
]
