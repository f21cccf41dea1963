"""Trusting practices, and what they say about contacts: provider state, directory, availability, crisis notice.

A **pinned practice** is an address this profile trusts (:meth:`Practices.trust`): an address is a hash of an
identity key and every signed document names its signer, so a document whose signer has the pinned address
is that practice's. For each pinned practice the store keeps (scope ``practice``, key the address) the newest
policy, directory and revocation list accepted, each with the time it was accepted. A document replaces the
one kept only through :func:`~confide.client.peer_documents.accept`: a relay that serves an older directory or
revocation list (to hide a change) is refused and reported as a :class:`PracticeWarning`; nothing changes.

What this profile learns about a contact, in order of trust:

- :meth:`Practices.provider_of` (``Contact.provider``): the best verdict of every credential naming the
  contact's address, from the contact's own credential (scope ``peer-credential``, from their contact card or
  a directory) and from the directories of pinned practices, judged by
  :func:`~confide.protocol.documents.check_credential` against the contact's pinned identity.
- :meth:`Practices.judge_for`: the moderation key a message to the contact is franked for (design: "Judge for
  a thread"), and :meth:`Practices.practice_of_judge` for a received one.
- :meth:`Practices.availability` and :meth:`Practices.crisis_notice`: what to show when writing.

Every text here is a practice's or a therapist's own words: escape it before display.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from confide.keys.address import Address
from confide.keys.errors import InvalidAddress
from confide.keys.identity import IdentityPublicKey
from confide.protocol.document_bodies import CrisisContact, PracticePolicy
from confide.protocol.document_errors import DocumentError, DocumentExpired
from confide.protocol.documents import (
    CredentialStatus,
    Directory,
    DirectoryEntry,
    DocumentKind,
    SignedDocument,
    check_credential,
    credential_of,
    parse_document,
)
from confide.protocol.franking import FrankingPublicKey

from . import peer_documents as docs
from .contacts import Contacts
from .errors import StorageError, UnknownPractice
from .models import Contact, ProviderInfo, ProviderStatus, Role
from .records import ContactRecord
from .relay import RelayClient
from .store import Store

REFRESH_INTERVAL_S = 6 * 3600
"""How often :meth:`Practices.refresh_due` (run by every ``sync``) fetches the pinned practices' documents: a
revocation is noticed within hours, while a client that syncs every minute asks the relay for three small
documents per practice only four times a day (each fetch also tells the relay someone reads them)."""
MAX_PIN_FILE_BYTES = 4096
"""A pin file holds one address or the text of its QR code (a few dozen characters); a longer file is not a
pin, and is not read further."""
_M_REFRESHED = "practices.refreshed_at"
_KIND_NAMES: dict[DocumentKind, str] = {
    DocumentKind.POLICY: "policy",
    DocumentKind.DIRECTORY: "directory",
    DocumentKind.REVOCATIONS: "revocations",
}
"""The kinds a pinned practice publishes, by the name the relay serves them under."""
_STATUS_OF: dict[CredentialStatus, ProviderStatus] = {
    CredentialStatus.OTHER_KEY: ProviderStatus.OTHER_KEY,
    CredentialStatus.REVOKED: ProviderStatus.REVOKED,
    CredentialStatus.EXPIRED: ProviderStatus.EXPIRED,
    CredentialStatus.NOT_YET_VALID: ProviderStatus.NOT_YET_VALID,
    CredentialStatus.REVOCATIONS_STALE: ProviderStatus.REVOCATIONS_STALE,
    CredentialStatus.VALID: ProviderStatus.VERIFIED,
}
_RANK = {status: rank for rank, status in enumerate(ProviderStatus)}
"""Later members of :class:`ProviderStatus` are better news: the best verdict of several credentials wins."""
_COVERING = (ProviderStatus.VERIFIED, ProviderStatus.REVOCATIONS_STALE)
"""The verdicts under which a practice's credential covers a contact (its judge franks, its notice shows)."""


class WarningKind(StrEnum):
    """What went wrong with a pinned practice's documents."""

    STALE_REFUSED = "stale_refused"
    """The relay served an older version than one already accepted (a replay hiding a change): refused."""
    INVALID = "invalid"
    """The relay served a document that does not verify as the practice's: ignored."""
    REVOCATIONS_STALE = "revocations_stale"
    """The practice's revocation list is past its expiry: a revocation since may be hidden."""
    REVOCATIONS_MISSING = "revocations_missing"
    """No revocation list of the practice was ever seen: a revocation may be hidden."""
    UNREACHABLE = "unreachable"
    """The relay could not be asked; what was kept is used meanwhile."""


@dataclass(frozen=True, slots=True)
class PracticeWarning:
    """One warning about a pinned practice: its ``kind``, the practice's name (its own words: escape) and
    address, and a plain sentence ``text`` (which quotes no peer-supplied text)."""

    kind: WarningKind
    practice_name: str = field(repr=False)
    practice_address: str = field(repr=False)
    text: str


@dataclass(frozen=True, slots=True)
class PracticeInfo:
    """A pinned practice as kept on this device: its name (from its signed policy: escape before display),
    address, and the version and expiry (unix seconds; 0 when none was seen) of its policy, directory and
    revocation list, the number of therapists its directory lists, and the current warnings."""

    name: str = field(repr=False)
    address: str
    policy_version: int
    policy_expires_at: int
    directory_version: int
    directory_expires_at: int
    revocations_version: int
    revocations_expires_at: int
    listed: int
    warnings: tuple[PracticeWarning, ...] = ()


@dataclass(frozen=True, slots=True)
class Listing:
    """One therapist of a practice's directory, numbered from 1 in the practice's order: their credential's
    details (their own words, via the practice: escape), ``status`` (the credential judged against the identity
    it names), whether the directory gives a way to write to them (``can_write``), their availability line
    (None without a current card) and their address."""

    number: int
    credential_id: str
    address: str = field(repr=False)
    display_name: str = field(repr=False)
    licence_number: str = field(repr=False)
    licensing_body: str = field(repr=False)
    jurisdiction: str = field(repr=False)
    not_after: int
    status: ProviderStatus
    can_write: bool
    availability: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CrisisNotice:
    """The crisis notice of the practice that vouches for a contact (:meth:`Practices.crisis_notice`): shown
    on the first message of a thread and whenever the therapist is not in office hours (``in_office_hours``
    False, also when no availability card is known). Every text is the practice's: escape before display."""

    practice_name: str = field(repr=False)
    text: str = field(repr=False)
    contacts: tuple[CrisisContact, ...] = field(repr=False)
    in_office_hours: bool


@dataclass(frozen=True, slots=True)
class _Kept:
    """A document kept for a pinned practice, parsed again from its bytes as of when it was accepted."""

    document: SignedDocument
    accepted_at: int


@dataclass(frozen=True, slots=True)
class _Pinned:
    """A pinned practice as stored: its address and the documents kept (the policy is always there)."""

    address: bytes
    policy: _Kept
    directory: _Kept | None
    revocations: _Kept | None
    refused: tuple[str, ...] = ()
    """The kinds the last refresh refused as stale (reported by :meth:`Practices.list` until a newer one)."""

    @property
    def policy_body(self) -> PracticePolicy:
        body = self.policy.document.body
        assert isinstance(body, PracticePolicy)
        return body

    @property
    def name(self) -> str:
        return self.policy_body.practice_name

    def entries(self) -> tuple[DirectoryEntry, ...]:
        if self.directory is None:
            return ()
        body = self.directory.document.body
        assert isinstance(body, Directory)
        return body.entries


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A credential naming a contact, and the pinned practice that signed it (None: not pinned)."""

    credential: SignedDocument
    practice: _Pinned | None


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def pin_text(pin: str) -> Address:
    """The address a pin names: the address text, the text of its QR code (anything up to a last ``:``, then
    the address), or the path of a file holding either.

    Raises:
        InvalidAddress: neither an address nor a readable file holding one.
    """
    text = pin.strip()
    path = Path(text)
    if text and not text.lower().startswith("cf1-") and path.is_file():
        try:
            with path.open("rb") as f:
                data = f.read(MAX_PIN_FILE_BYTES + 1)
        except OSError as exc:
            raise InvalidAddress(f"cannot read the pin file: {exc.strerror or 'unreadable'}") from None
        if len(data) > MAX_PIN_FILE_BYTES:
            raise InvalidAddress("that file is too long to hold a practice's address")
        try:
            text = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InvalidAddress("that file does not hold a practice's address") from None
    if ":" in text:
        text = text.rsplit(":", 1)[1]
    return Address.parse(text)


class Practices:
    """The practices one profile trusts, and what they say about its contacts."""

    def __init__(
        self, store: Store, relay: RelayClient, contacts: Contacts, identity: IdentityPublicKey, role: Role
    ) -> None:
        self._store = store
        self._relay = relay
        self._contacts = contacts
        self._identity = identity
        self._role = role
        self._parsed: dict[bytes, SignedDocument] = {}

    # -- stored documents ---------------------------------------------------------------------------
    def _parse_kept(self, data: bytes, signer: IdentityPublicKey | None, kind: DocumentKind, at: int) -> SignedDocument:
        """A kept document parsed again as of ``at`` (it verified then; its dates are judged by the caller).

        Raises:
            StorageError: it no longer parses (the store is damaged).
        """
        cached = self._parsed.get(data)
        if cached is None:
            try:
                cached = parse_document(data, expected_signer=signer, expected_kind=kind, now=at)
            except DocumentError as exc:
                raise StorageError("a stored practice document is damaged; trust the practice again") from exc
            self._parsed[data] = cached
        return cached

    def _load(self, address: bytes, raw: bytes) -> _Pinned:
        try:
            obj = json.loads(raw)
            kept: dict[str, _Kept | None] = {}
            signer: IdentityPublicKey | None = None
            for kind in (DocumentKind.POLICY, DocumentKind.DIRECTORY, DocumentKind.REVOCATIONS):
                item = obj[_KIND_NAMES[kind]]
                if item is None:
                    kept[_KIND_NAMES[kind]] = None
                    continue
                at, data = int(item[0]), bytes.fromhex(item[1])
                document = self._parse_kept(data, signer, kind, at)
                signer = signer or document.signer
                kept[_KIND_NAMES[kind]] = _Kept(document, at)
            refused = tuple(str(k) for k in obj.get("refused", []))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise StorageError("a stored practice is damaged; trust the practice again") from exc
        policy = kept["policy"]
        if policy is None or policy.document.signer.address.raw != address:
            raise StorageError("a stored practice is damaged; trust the practice again")
        return _Pinned(address, policy, kept["directory"], kept["revocations"], refused)

    def _save(self, pinned: _Pinned) -> None:
        def item(k: _Kept | None) -> list[object] | None:
            return None if k is None else [k.accepted_at, k.document.to_bytes().hex()]

        value = {
            "policy": item(pinned.policy),
            "directory": item(pinned.directory),
            "revocations": item(pinned.revocations),
            "refused": list(pinned.refused),
        }
        self._store.put_doc(docs.PRACTICE, pinned.address, json.dumps(value).encode())

    def _pinned(self) -> list[_Pinned]:
        return [self._load(key, raw) for key, raw in self._store.docs(docs.PRACTICE)]

    def _pinned_at(self, address: bytes) -> _Pinned | None:
        raw = self._store.get_doc(docs.PRACTICE, address)
        return None if raw is None else self._load(address, raw)

    def find(self, practice: str) -> _Pinned:
        """The pinned practice with that address or name (exact, then a unique case-insensitive match).

        Raises:
            UnknownPractice: none matches.
        """
        pinned = self._pinned()
        try:
            address = pin_text(practice).raw
        except InvalidAddress:
            pass
        else:
            for p in pinned:
                if p.address == address:
                    return p
        for p in pinned:
            if p.name == practice:
                return p
        folded = [p for p in pinned if p.name.casefold() == practice.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        raise UnknownPractice("this profile trusts no practice of that name or address; see 'confide practices list'")

    # -- judges -------------------------------------------------------------------------------------
    def judge_for(self, contact_address: bytes, *, now: int | None = None) -> FrankingPublicKey | None:
        """The moderation key a message to the contact at ``contact_address`` is franked for: that of the
        pinned practice whose credential covers the contact (verified, or valid with a stale revocation list),
        else, for a profile holding its own credential from a pinned practice, that practice's; None when no
        pinned practice stands behind the thread (messages go unfranked).

        Raises:
            StorageError: the store is damaged.
        """
        now = _now(now)
        rec = self._store.contact_by_address(contact_address)
        if rec is not None:
            best = self._best(rec, now)
            if best is not None and best[1] in _COVERING and best[0].practice is not None:
                return best[0].practice.policy_body.moderation_key
        own = self._own_practice(now)
        return None if own is None else own.policy_body.moderation_key

    def practice_of_judge(self, judge: FrankingPublicKey) -> bytes | None:
        """The address of the pinned practice whose current policy has ``judge`` as its moderation key, or None
        (a FRANKED message for another judge cannot be reported here).

        Raises:
            StorageError: the store is damaged.
        """
        wanted = judge.to_bytes()
        for p in self._pinned():
            if hmac.compare_digest(p.policy_body.moderation_key.to_bytes(), wanted):
                return p.address
        return None

    def _own_practice(self, now: int) -> _Pinned | None:
        """The pinned practice that issued this profile's own current credential (scope ``self``), or None."""
        raw = self._store.get_doc(docs.SELF, docs.SELF_CREDENTIAL)
        if raw is None:
            return None
        try:
            credential = parse_document(raw, expected_signer=None, expected_kind=DocumentKind.CREDENTIAL, now=now)
        except DocumentError:
            return None
        practice = self._pinned_at(credential.signer.address.raw)
        if practice is None:
            return None
        status = self._status(credential, practice, self._identity, now)
        return practice if status in _COVERING else None

    # -- provider state ---------------------------------------------------------------------------------
    @staticmethod
    def _revocations(practice: _Pinned) -> SignedDocument | None:
        return None if practice.revocations is None else practice.revocations.document

    def _status(
        self, credential: SignedDocument, practice: _Pinned | None, identity: IdentityPublicKey, now: int
    ) -> ProviderStatus:
        if practice is None:
            therapist = credential_of(credential).therapist
            if not hmac.compare_digest(therapist.to_bytes(), identity.to_bytes()):
                return ProviderStatus.OTHER_KEY
            return ProviderStatus.UNTRUSTED_PRACTICE
        return _STATUS_OF[check_credential(credential, self._revocations(practice), identity, now)]

    def _candidates(self, rec: ContactRecord, now: int) -> Iterator[_Candidate]:
        """Every credential that claims the contact: their own (scope ``peer-credential``, any signer, possibly
        naming someone else), then the pinned practices' directory entries naming their address."""
        raw = self._store.get_doc(docs.PEER_CREDENTIAL, rec.address)
        if raw is not None:
            try:
                own = parse_document(raw, expected_signer=None, expected_kind=DocumentKind.CREDENTIAL, now=now)
            except DocumentExpired:
                own = None
            except DocumentError:
                own = None
            if own is not None:
                yield _Candidate(own, self._pinned_at(own.signer.address.raw))
        for practice in self._pinned():
            for entry in practice.entries():
                if entry.therapist.address.raw == rec.address:
                    yield _Candidate(entry.credential, practice)

    def _identity_of(self, rec: ContactRecord, candidate: _Candidate) -> IdentityPublicKey | None:
        """The identity the contact is pinned to; before the first session, the one their address is a hash of
        when the credential names it (None: the credential names another address)."""
        if rec.identity is not None:
            return IdentityPublicKey.from_bytes(rec.identity)
        therapist = credential_of(candidate.credential).therapist
        return therapist if therapist.address.raw == rec.address else None

    def _best(self, rec: ContactRecord, now: int) -> tuple[_Candidate, ProviderStatus] | None:
        best: tuple[_Candidate, ProviderStatus] | None = None
        for candidate in self._candidates(rec, now):
            identity = self._identity_of(rec, candidate)
            status = (
                ProviderStatus.OTHER_KEY
                if identity is None
                else self._status(candidate.credential, candidate.practice, identity, now)
            )
            if best is None or _RANK[status] > _RANK[best[1]]:
                best = (candidate, status)
        return best

    def provider_of(self, rec: ContactRecord, *, now: int) -> ProviderInfo | None:
        """What the pinned practices say about the contact (see :class:`~confide.client.models.ProviderStatus`):
        the best verdict of every credential naming them; ``missing`` for a client-role profile that trusts a
        practice none of whose credentials names them; None when there is nothing to say.

        Raises:
            StorageError: the store is damaged.
        """
        best = self._best(rec, now)
        if best is None:
            if self._role == Role.CLIENT and self._store.docs(docs.PRACTICE):
                return ProviderInfo(ProviderStatus.MISSING)
            return None
        candidate, status = best
        body = credential_of(candidate.credential)
        practice = candidate.practice
        return ProviderInfo(
            status,
            practice.name if practice is not None else "",
            Address(candidate.credential.signer.address.raw).text,
            body.display_name,
            body.licence_number,
            body.licensing_body,
            body.jurisdiction,
            body.not_before,
            min(body.not_after, candidate.credential.expires_at),
        )

    def with_provider(self, contact: Contact, *, now: int) -> Contact:
        """``contact`` with :attr:`Contact.provider` filled in.

        Raises:
            StorageError: the store is damaged.
        """
        rec = self._store.contact_by_address(Address.parse(contact.address).raw)
        if rec is None:
            return contact
        return replace(contact, provider=self.provider_of(rec, now=now))
