"""Signed practice documents: credentials, revocation lists, directories, availability cards, policies, and
device lists.

A practice (or a therapist, for their own availability card; anyone, for their own device list) signs public
documents with its identity key.
Every document is one canonical byte string (all integers big-endian)::

    document  = format u8 (=1) || kind u8 || signer(128) || version u64 || issued_at u64 || expires_at u64
                || body var32 || signature(64)
    signature = Ed25519(signer.signing, label(kind) || every byte before the signature)

with ``label(kind)`` one of :data:`SIGNATURE_LABELS` (``b"Confide-document-credential-v1"``, ...), so a
signature made for one kind never verifies as another. ``version`` grows with each publication of one
(signer, kind); a client never goes back to an older one (:class:`VersionGuard`). The bodies are in
:mod:`confide.protocol.document_bodies`, except the directory's, here because it holds whole signed
credentials and cards::

    directory = count u16 || entry * count
    entry     = credential var16 || has_token u8 || [delivery_token(32)] || has_card u8 || [card var16]

:func:`parse_document` parses everything (lengths, version, kind, fields, texts, nested documents), then
verifies the signer's identity, the signature and the nested documents' signatures, then the times, and
raises only :class:`~confide.protocol.document_errors.DocumentError` and its subclasses. Sans-I/O: callers
pass ``now``; public documents hold nothing secret, but no ``repr`` shows a signature.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from confide.keys.device import DeviceCertificate
from confide.keys.encoding import Reader, Writer
from confide.keys.errors import InvalidSignature
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey

from .document_bodies import (
    CREDENTIAL_ID_LEN,
    DEVICE_ENTRY_LEN,
    MAX_AWAY_NOTE_BYTES,
    MAX_CRISIS_CONTACTS,
    MAX_CRISIS_LABEL_BYTES,
    MAX_CRISIS_NOTICE_BYTES,
    MAX_CRISIS_NUMBER_BYTES,
    MAX_DEVICES,
    MAX_DISPLAY_NAME_BYTES,
    MAX_JURISDICTION_BYTES,
    MAX_LICENCE_NUMBER_BYTES,
    MAX_LICENSING_BODY_BYTES,
    MAX_OFFICE_HOURS,
    MAX_REVOCATIONS,
    MAX_TIME_ZONE_BYTES,
    MAX_TIMESTAMP,
    MODERATION_KEY_LEN,
    AvailabilityCard,
    Credential,
    DeviceList,
    PracticePolicy,
    RevocationList,
    check_int,
    identity_from,
)
from .document_errors import (
    DocumentError,
    DocumentExpired,
    DocumentNotYetValid,
    DocumentSignatureError,
    DocumentStale,
)
from .envelope import DELIVERY_TOKEN_LEN

DOCUMENT_FORMAT = 1
SIGNATURE_LEN = 64
HEADER_LEN = 1 + 1 + IDENTITY_PUBLIC_LEN + 8 + 8 + 8 + 4
"""Everything before the body: format, kind, signer, version, issued_at, expires_at, body length."""
DIGEST_LEN = 32

MAX_CLOCK_SKEW_S = 300
"""How far in the future ``issued_at`` may be: a device clock a few minutes off must not refuse a document
published a moment ago (the relay's request window, SPEC section 7, allows the same)."""
MAX_DOCUMENT_LIFETIME_S = 400 * 24 * 3600
"""Longest ``expires_at - issued_at``: a licence year with a month of grace. Every document is re-signed at
least yearly, so a practice that loses its key or closes stops vouching within a year."""
MAX_REVOCATIONS_LIFETIME_S = 31 * 24 * 3600
"""Longest lifetime of a revocation list: a month. A relay that hides a newer list can serve an old one only
until it expires; then every client warns (:attr:`CredentialStatus.REVOCATIONS_STALE`). Practices re-publish
it (unchanged or not) at least monthly."""
MAX_DIRECTORY_ENTRIES = 100
"""Therapists in one directory: a large group practice. Each entry holds a whole credential and card (at
most 2,283 bytes), so a directory stays under 224 KiB, inside one relay request."""

_MAX_BODY = {
    "credential": IDENTITY_PUBLIC_LEN
    + CREDENTIAL_ID_LEN
    + 8
    + 8
    + 4
    + MAX_DISPLAY_NAME_BYTES
    + MAX_LICENCE_NUMBER_BYTES
    + MAX_LICENSING_BODY_BYTES
    + MAX_JURISDICTION_BYTES,
    "revocations": 2 + MAX_REVOCATIONS * (CREDENTIAL_ID_LEN + 8),
    "availability": 1 + MAX_TIME_ZONE_BYTES + 4 + 1 + MAX_OFFICE_HOURS * 5 + 1 + 8 + 8 + 2 + MAX_AWAY_NOTE_BYTES,
    "policy": 1
    + MAX_DISPLAY_NAME_BYTES
    + 2
    + MAX_CRISIS_NOTICE_BYTES
    + 1
    + MAX_CRISIS_CONTACTS * (2 + MAX_CRISIS_LABEL_BYTES + MAX_CRISIS_NUMBER_BYTES)
    + MODERATION_KEY_LEN,
    "devices": 1 + MAX_DEVICES * DEVICE_ENTRY_LEN,
}
MAX_CREDENTIAL_LEN = HEADER_LEN + _MAX_BODY["credential"] + SIGNATURE_LEN
"""The longest credential document (770 bytes)."""
MAX_CARD_LEN = HEADER_LEN + _MAX_BODY["availability"] + SIGNATURE_LEN
"""The longest availability card document (1,475 bytes)."""
MAX_DEVICES_DOCUMENT_LEN = HEADER_LEN + _MAX_BODY["devices"] + SIGNATURE_LEN
"""The longest device list document (853 bytes: six devices)."""
_MAX_ENTRY = 2 + MAX_CREDENTIAL_LEN + 1 + DELIVERY_TOKEN_LEN + 1 + 2 + MAX_CARD_LEN
MAX_DOCUMENT_LEN = HEADER_LEN + 2 + MAX_DIRECTORY_ENTRIES * _MAX_ENTRY + SIGNATURE_LEN
"""The longest document of any kind: a full directory (228,524 bytes). Longer input is refused unread."""


class DocumentKind(enum.IntEnum):
    """The ``kind`` byte of a document."""

    CREDENTIAL = 1
    REVOCATIONS = 2
    DIRECTORY = 3
    AVAILABILITY = 4
    POLICY = 5
    DEVICES = 6


SIGNATURE_LABELS: dict[DocumentKind, bytes] = {
    DocumentKind.CREDENTIAL: b"Confide-document-credential-v1",
    DocumentKind.REVOCATIONS: b"Confide-document-revocations-v1",
    DocumentKind.DIRECTORY: b"Confide-document-directory-v1",
    DocumentKind.AVAILABILITY: b"Confide-document-availability-v1",
    DocumentKind.POLICY: b"Confide-document-policy-v1",
    DocumentKind.DEVICES: b"Confide-document-devices-v1",
}
"""The domain-separation label each kind's signature covers first."""


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A listed therapist: their signed ``credential`` (signed by the directory's signer), optionally the
    ``delivery_token`` that lets anyone write to them (the credential's address plus this token is their
    invite; without it, the client needs an invite from elsewhere), and optionally their signed
    ``availability`` card (signed by the therapist the credential names)."""

    credential: SignedDocument
    delivery_token: bytes | None = field(default=None, repr=False)
    availability: SignedDocument | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.credential, SignedDocument) or not isinstance(self.credential.body, Credential):
            raise ValueError("a directory entry holds a credential document")
        if self.delivery_token is not None and (
            not isinstance(self.delivery_token, bytes) or len(self.delivery_token) != DELIVERY_TOKEN_LEN
        ):
            raise ValueError(f"a delivery token is {DELIVERY_TOKEN_LEN} bytes")
        if self.availability is not None:
            if not isinstance(self.availability, SignedDocument) or self.availability.kind != DocumentKind.AVAILABILITY:
                raise ValueError("a directory entry's card is an availability document")
            if self.availability.signer != self.credential.body.therapist:
                raise ValueError("an availability card is signed by the therapist its credential names")

    @property
    def therapist(self) -> IdentityPublicKey:
        """The listed therapist's identity (from the credential)."""
        assert isinstance(self.credential.body, Credential)
        return self.credential.body.therapist


@dataclass(frozen=True, slots=True)
class Directory:
    """The body of a DIRECTORY document: the practice's listed therapists, in the practice's order; no two
    entries name the same therapist or credential id."""

    entries: tuple[DirectoryEntry, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        if len(self.entries) > MAX_DIRECTORY_ENTRIES:
            raise ValueError(f"a directory lists at most {MAX_DIRECTORY_ENTRIES} therapists")
        therapists = {e.therapist.signing for e in self.entries}
        ids = {credential_of(e.credential).credential_id for e in self.entries}
        if len(therapists) != len(self.entries) or len(ids) != len(self.entries):
            raise ValueError("a directory names each therapist and credential once")

    def to_bytes(self) -> bytes:
        w = Writer().u16(len(self.entries))
        for entry in self.entries:
            w.var16(entry.credential.to_bytes())
            if entry.delivery_token is None:
                w.u8(0)
            else:
                w.u8(1).raw(entry.delivery_token)
            if entry.availability is None:
                w.u8(0)
            else:
                w.u8(1).var16(entry.availability.to_bytes())
        return w.bytes()


def _flagged(r: Reader, read: Callable[[], bytes]) -> bytes | None:
    """A ``u8`` presence flag (0 or 1), then the field if present."""
    flag = r.u8()
    if flag == 0:
        return None
    if flag != 1:
        raise DocumentError("a presence flag is neither 0 nor 1")
    return read()


def _decode_directory(data: bytes) -> Directory:
    """Parse a directory body and its nested documents, without verifying their signatures (the
    caller, :func:`parse_document`, verifies them after the directory's own). Raises
    :class:`DocumentError` or :class:`DocumentSignatureError` (a nested identity)."""
    r = Reader(data, DocumentError)
    count = r.u16()
    if count > MAX_DIRECTORY_ENTRIES:
        raise DocumentError("the directory lists more therapists than allowed")
    raw = []
    for _ in range(count):
        credential = _decode_document(r.var16(MAX_CREDENTIAL_LEN), DocumentKind.CREDENTIAL)
        token = _flagged(r, lambda: r.raw(DELIVERY_TOKEN_LEN))
        card_bytes = _flagged(r, lambda: r.var16(MAX_CARD_LEN))
        card = _decode_document(card_bytes, DocumentKind.AVAILABILITY) if card_bytes is not None else None
        raw.append((credential, token, card))
    r.end()
    try:
        return Directory(tuple(DirectoryEntry(c, t, a) for c, t, a in raw))
    except ValueError as exc:
        raise DocumentError(f"invalid directory: {exc}") from None


Body = Credential | RevocationList | Directory | AvailabilityCard | PracticePolicy | DeviceList
"""What a document can hold."""

_KIND_OF: dict[type, DocumentKind] = {
    Credential: DocumentKind.CREDENTIAL,
    RevocationList: DocumentKind.REVOCATIONS,
    Directory: DocumentKind.DIRECTORY,
    AvailabilityCard: DocumentKind.AVAILABILITY,
    PracticePolicy: DocumentKind.POLICY,
    DeviceList: DocumentKind.DEVICES,
}


def _body_from_bytes(kind: DocumentKind, data: bytes) -> Body:
    if kind == DocumentKind.CREDENTIAL:
        return Credential.from_bytes(data)
    if kind == DocumentKind.REVOCATIONS:
        return RevocationList.from_bytes(data)
    if kind == DocumentKind.DIRECTORY:
        return _decode_directory(data)
    if kind == DocumentKind.AVAILABILITY:
        return AvailabilityCard.from_bytes(data)
    if kind == DocumentKind.DEVICES:
        return DeviceList.from_bytes(data)
    return PracticePolicy.from_bytes(data)


@dataclass(frozen=True, slots=True)
class SignedDocument:
    """One signed document: who signed it, its version, when it was issued and when it expires (unix
    seconds), its body, and the signature. Obtain one from :meth:`sign` or :func:`parse_document`; a value
    built directly is not verified (only :func:`parse_document` verifies)."""

    signer: IdentityPublicKey
    version: int
    issued_at: int
    expires_at: int
    body: Body
    signature: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.signer, IdentityPublicKey):
            raise TypeError("the signer must be an IdentityPublicKey")
        if type(self.body) not in _KIND_OF:
            raise TypeError(
                "the body must be a Credential, RevocationList, Directory, AvailabilityCard, PracticePolicy or "
                "DeviceList"
            )
        check_int("version", self.version, 0, 2**64 - 1)
        check_int("issued_at", self.issued_at, 0, MAX_TIMESTAMP - 1)
        lifetime = MAX_REVOCATIONS_LIFETIME_S if self.kind == DocumentKind.REVOCATIONS else MAX_DOCUMENT_LIFETIME_S
        check_int("expires_at", self.expires_at, self.issued_at + 1, min(MAX_TIMESTAMP, self.issued_at + lifetime))
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_LEN:
            raise ValueError(f"a signature is {SIGNATURE_LEN} bytes")
        if isinstance(self.body, Directory):
            for entry in self.body.entries:
                if entry.credential.signer != self.signer:
                    raise ValueError("a directory lists only credentials its own signer issued")

    @property
    def kind(self) -> DocumentKind:
        """The document's kind, from its body."""
        return _KIND_OF[type(self.body)]

    @classmethod
    def sign(
        cls, identity: IdentityKeyPair, body: Body, *, version: int, issued_at: int, expires_at: int
    ) -> SignedDocument:
        """Sign ``body`` with ``identity`` (Ed25519 is deterministic: the same inputs give the same bytes).

        Raises:
            TypeError, ValueError: a field outside its range (a lifetime longer than allowed, an expiry not
                after the issue time, a directory listing another signer's credential).
        """
        unsigned = cls(identity.public, version, issued_at, expires_at, body, bytes(SIGNATURE_LEN))
        return cls(identity.public, version, issued_at, expires_at, body, identity.sign(unsigned.signed_message()))

    def _prefix(self) -> bytes:
        return (
            Writer()
            .u8(DOCUMENT_FORMAT)
            .u8(self.kind)
            .raw(self.signer.to_bytes())
            .u64(self.version)
            .u64(self.issued_at)
            .u64(self.expires_at)
            .var32(self.body.to_bytes())
            .bytes()
        )

    def signed_message(self) -> bytes:
        """What the signature covers: the kind's label, then every byte of the document before it."""
        return SIGNATURE_LABELS[self.kind] + self._prefix()

    def to_bytes(self) -> bytes:
        return self._prefix() + self.signature

    @property
    def digest(self) -> bytes:
        """SHA-256 of the document's bytes (what :class:`VersionGuard` remembers)."""
        return hashlib.sha256(self.to_bytes()).digest()


def credential_of(document: SignedDocument) -> Credential:
    """The :class:`Credential` a CREDENTIAL document holds.

    Raises:
        ValueError: ``document`` is another kind (a programmer mistake).
    """
    if not isinstance(document.body, Credential):
        raise ValueError("not a credential document")
    return document.body


def _decode_document(data: bytes, expected_kind: DocumentKind | None) -> SignedDocument:
    """Parse a document's bytes, without verifying its signature. Raises :class:`DocumentError` or
    :class:`DocumentSignatureError` (an identity in it is not self-consistent)."""
    if len(data) > MAX_DOCUMENT_LEN:
        raise DocumentError("the document is longer than allowed")
    r = Reader(data, DocumentError)
    if r.u8() != DOCUMENT_FORMAT:
        raise DocumentError("unknown document format version")
    try:
        kind = DocumentKind(r.u8())
    except ValueError:
        raise DocumentError("unknown document kind") from None
    if expected_kind is not None and kind != expected_kind:
        raise DocumentError(f"expected a {expected_kind.name.lower()} document, got a {kind.name.lower()}")
    signer_bytes = r.raw(IDENTITY_PUBLIC_LEN)
    version, issued_at, expires_at = r.u64(), r.u64(), r.u64()
    body_bytes = r.var32(MAX_DOCUMENT_LEN)
    signature = r.raw(SIGNATURE_LEN)
    r.end()
    signer = identity_from(signer_bytes)
    body = _body_from_bytes(kind, body_bytes)
    try:
        return SignedDocument(signer, version, issued_at, expires_at, body, signature)
    except ValueError as exc:
        raise DocumentError(f"invalid document: {exc}") from None


def _verify(document: SignedDocument) -> None:
    """Verify the document's signature, then those of the documents it holds. Raises
    :class:`DocumentSignatureError`."""
    try:
        document.signer.verify(document.signature, document.signed_message(), "document")
    except InvalidSignature:
        raise DocumentSignatureError(f"the {document.kind.name.lower()} document's signature does not verify") from None
    if isinstance(document.body, Directory):
        for entry in document.body.entries:
            _verify(entry.credential)
            if entry.availability is not None:
                _verify(entry.availability)
    if isinstance(document.body, DeviceList):
        for device in document.body.entries:
            try:
                DeviceCertificate.from_bytes(device.certificate.to_bytes(), document.signer)
            except InvalidSignature:
                raise DocumentSignatureError("a device in the list is not certified by the list's signer") from None


def parse_document(
    data: bytes, *, expected_signer: IdentityPublicKey | None, expected_kind: DocumentKind | None, now: int
) -> SignedDocument:
    """Parse and verify a signed document received from anyone (the relay, a file, a QR code).

    In order: length and format version, kind (must be ``expected_kind`` unless that is ``None``, as for a
    relay that stores any kind), every field and nested document, the signer's identity (must be
    ``expected_signer`` unless ``None``), the signature, the nested documents' signatures (a device list's
    certificates, each against the signer), then the times:
    ``now < expires_at`` and ``issued_at <= now + MAX_CLOCK_SKEW_S``. Nested documents (a directory's
    credentials and cards) are verified but not dated here: :func:`check_credential` dates a credential.

    Raises:
        DocumentError: malformed, or not the expected kind.
        DocumentSignatureError: not signed by ``expected_signer``, a signature that does not verify (also a
            nested one or a listed device's certificate, or one made for another kind), or an identity in it
            that is not self-consistent.
        DocumentExpired: ``now >= expires_at``.
        DocumentNotYetValid: issued more than :data:`MAX_CLOCK_SKEW_S` after ``now``.
    """
    if not isinstance(data, bytes):
        raise TypeError("a document is bytes")
    document = _decode_document(data, expected_kind)
    if expected_signer is not None and not hmac.compare_digest(document.signer.to_bytes(), expected_signer.to_bytes()):
        raise DocumentSignatureError("the document is not signed by the expected identity")
    _verify(document)
    if now >= document.expires_at:
        raise DocumentExpired(f"the {document.kind.name.lower()} document has expired")
    if document.issued_at > now + MAX_CLOCK_SKEW_S:
        raise DocumentNotYetValid(f"the {document.kind.name.lower()} document is issued in the future")
    return document


def sign_document(identity: IdentityKeyPair, body: Body, *, version: int, issued_at: int, expires_at: int) -> bytes:
    """The bytes of ``body`` signed by ``identity`` (see :meth:`SignedDocument.sign`).

    Raises:
        TypeError, ValueError: a field outside its range.
    """
    return SignedDocument.sign(identity, body, version=version, issued_at=issued_at, expires_at=expires_at).to_bytes()


@dataclass(frozen=True, slots=True)
class VersionGuard:
    """What a client last accepted for one (signer, kind): the signer's address, the kind, the version and
    the SHA-256 of the bytes. Pure: the client stores these four fields and asks before replacing.

    A document may replace the one seen only if its version is higher, or equal with identical bytes (the
    same document fetched again). Anything else is stale: a relay serving an old directory or revocation
    list to hide a change is refused.
    """

    signer: bytes
    kind: DocumentKind
    version: int
    digest: bytes

    @classmethod
    def of(cls, document: SignedDocument) -> VersionGuard:
        """The guard remembering ``document``."""
        return cls(document.signer.address.raw, document.kind, document.version, document.digest)

    def admits(self, document: SignedDocument) -> bool:
        """Whether ``document`` may replace what was seen.

        Raises:
            ValueError: ``document`` has another signer or kind (a programmer mistake: guards are per pair).
        """
        if document.signer.address.raw != self.signer or document.kind != self.kind:
            raise ValueError("this guard is for another signer or kind")
        if document.version != self.version:
            return document.version > self.version
        return hmac.compare_digest(document.digest, self.digest)

    def advance(self, document: SignedDocument) -> VersionGuard:
        """The guard after accepting ``document``.

        Raises:
            DocumentStale: an older version, or the same version with other bytes.
            ValueError: another signer or kind.
        """
        if not self.admits(document):
            raise DocumentStale(
                f"{document.kind.name.lower()} version {document.version} does not replace version {self.version}"
            )
        return VersionGuard.of(document)


class CredentialStatus(enum.StrEnum):
    """What a client can say about a therapist's credential, from the most to the least serious."""

    OTHER_KEY = "other_key"
    """The credential names another identity: this contact is not the therapist it describes."""
    REVOKED = "revoked"
    """The practice revoked it."""
    EXPIRED = "expired"
    """Past ``not_after``, or the credential document itself is past its expiry."""
    NOT_YET_VALID = "not_yet_valid"
    """Before ``not_before``."""
    REVOCATIONS_STALE = "revocations_stale"
    """Otherwise valid, but the revocation list is missing or past its expiry: it cannot be known whether it
    was revoked since (a relay may be serving an old list)."""
    VALID = "valid"
    """Issued by the practice to this identity, in its validity period, not on a current revocation list."""


def check_credential(
    credential: SignedDocument,
    revocations: SignedDocument | None,
    therapist_identity: IdentityPublicKey,
    now: int,
) -> CredentialStatus:
    """The status of ``credential`` for a contact whose identity is ``therapist_identity``, at ``now``.

    Both documents must come from :func:`parse_document` (or a parsed directory) with the practice as the
    expected signer; ``revocations`` is the newest revocation list seen (``None``: none yet). The first
    status that applies, in the order of :class:`CredentialStatus`, is returned.

    Raises:
        ValueError: ``credential`` is not a credential, ``revocations`` not a revocation list, or the two
            have different signers (programmer mistakes).
    """
    body = credential_of(credential)
    revoked: RevocationList | None = None
    if revocations is not None:
        if not isinstance(revocations.body, RevocationList):
            raise ValueError("not a revocation list")
        if revocations.signer != credential.signer:
            raise ValueError("the revocation list and the credential have different signers")
        revoked = revocations.body
    if not hmac.compare_digest(body.therapist.to_bytes(), therapist_identity.to_bytes()):
        return CredentialStatus.OTHER_KEY
    if revoked is not None and revoked.revoked_at(body.credential_id) is not None:
        return CredentialStatus.REVOKED
    if now >= body.not_after or now >= credential.expires_at:
        return CredentialStatus.EXPIRED
    if now < body.not_before:
        return CredentialStatus.NOT_YET_VALID
    if revocations is None or now >= revocations.expires_at:
        return CredentialStatus.REVOCATIONS_STALE
    return CredentialStatus.VALID
