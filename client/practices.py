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

Every text here is a practice's or a therapist's own words: escape it before display. The rows are read and
written by :mod:`.pinned_practices`; the values returned are in :mod:`.practice_views`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from confide.keys.address import Address
from confide.keys.identity import IdentityPublicKey
from confide.protocol.document_bodies import AvailabilityCard
from confide.protocol.document_errors import DocumentError, DocumentStale
from confide.protocol.documents import (
    CredentialStatus,
    DirectoryEntry,
    DocumentKind,
    SignedDocument,
    check_credential,
    credential_of,
    parse_document,
)
from confide.protocol.franking import FrankingPublicKey
from confide.protocol.office_hours import Availability
from confide.protocol.office_hours import availability as availability_of

from . import peer_documents as docs
from .contacts import Contacts
from .errors import ClientError, PracticeUnavailable, UnknownListing
from .local_zone import local_zone_name
from .models import Contact, ProviderInfo, ProviderStatus, Role
from .pinned_practices import KIND_NAMES, KeptDocument, PinnedPractice, PinnedPractices, pin_text, undated
from .practice_views import CrisisNotice, Listing, PracticeInfo, PracticeWarning, WarningKind
from .records import ContactRecord
from .relay import RelayClient
from .store import Store

REFRESH_INTERVAL_S = 6 * 3600
"""How often :meth:`Practices.refresh_due` (run by every ``sync``) fetches the pinned practices' documents: a
revocation is noticed within hours, while a client that syncs every minute asks the relay for three small
documents per practice only four times a day (each fetch also tells the relay someone reads them)."""
_M_REFRESHED = "practices.refreshed_at"
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


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A credential naming a contact, and the pinned practice that signed it (None: not pinned)."""

    credential: SignedDocument
    practice: PinnedPractice | None


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


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
        self._pins = PinnedPractices(store)

    def find(self, practice: str) -> PinnedPractice:
        """The pinned practice with that address or name (see :meth:`PinnedPractices.find`).

        Raises:
            UnknownPractice; StorageError.
        """
        return self._pins.find(practice)

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
        for p in self._pins.all():
            if hmac.compare_digest(p.policy_body.moderation_key.to_bytes(), wanted):
                return p.address
        return None

    def _own_practice(self, now: int) -> PinnedPractice | None:
        """The pinned practice that issued this profile's own current credential (scope ``self``), or None."""
        raw = self._store.get_doc(docs.SELF, docs.SELF_CREDENTIAL)
        if raw is None:
            return None
        credential = undated(raw, DocumentKind.CREDENTIAL)
        if credential is None:
            return None
        practice = self._pins.at(credential.signer.address.raw)
        if practice is None:
            return None
        status = self._status(credential, practice, self._identity, now)
        return practice if status in _COVERING else None

    # -- provider state ---------------------------------------------------------------------------------
    def _status(
        self, credential: SignedDocument, practice: PinnedPractice | None, identity: IdentityPublicKey, now: int
    ) -> ProviderStatus:
        if practice is None:
            therapist = credential_of(credential).therapist
            if not hmac.compare_digest(therapist.to_bytes(), identity.to_bytes()):
                return ProviderStatus.OTHER_KEY
            return ProviderStatus.UNTRUSTED_PRACTICE
        return _STATUS_OF[check_credential(credential, practice.revocation_list, identity, now)]

    def _candidates(self, rec: ContactRecord, now: int) -> Iterator[_Candidate]:
        """Every credential that claims the contact: their own (scope ``peer-credential``, any signer, possibly
        naming someone else), then the pinned practices' directory entries naming their address."""
        raw = self._store.get_doc(docs.PEER_CREDENTIAL, rec.address)
        if raw is not None:
            own = undated(raw, DocumentKind.CREDENTIAL)
            if own is not None:
                yield _Candidate(own, self._pins.at(own.signer.address.raw))
        for practice in self._pins.all():
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
        """The verdict to show: a pinned practice's credential before any other (a revocation by a trusted
        practice is not hidden behind "signed by a practice you do not trust"), then the best news."""
        best: tuple[_Candidate, ProviderStatus] | None = None

        def rank(c: _Candidate, status: ProviderStatus) -> tuple[bool, int]:
            return c.practice is not None, _RANK[status]

        for candidate in self._candidates(rec, now):
            identity = self._identity_of(rec, candidate)
            status = (
                ProviderStatus.OTHER_KEY
                if identity is None
                else self._status(candidate.credential, candidate.practice, identity, now)
            )
            if best is None or rank(candidate, status) > rank(*best):
                best = (candidate, status)
        return best

    def provider_of(self, rec: ContactRecord, *, now: int | None = None) -> ProviderInfo | None:
        """What the pinned practices say about the contact (see :class:`~confide.client.models.ProviderStatus`):
        the best verdict of every credential naming them; ``missing`` for a client-role profile that trusts a
        practice none of whose credentials names them; None when there is nothing to say.

        Raises:
            StorageError: the store is damaged.
        """
        best = self._best(rec, _now(now))
        if best is None:
            if self._role == Role.CLIENT and self._pins.any():
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

    def with_provider(self, contact: Contact, *, now: int | None = None) -> Contact:
        """``contact`` with :attr:`Contact.provider` filled in.

        Raises:
            StorageError: the store is damaged.
        """
        rec = self._store.contact_by_address(Address.parse(contact.address).raw)
        if rec is None:
            return contact
        return replace(contact, provider=self.provider_of(rec, now=_now(now)))

    # -- trusting and refreshing ------------------------------------------------------------------------
    async def _fetch(self, address: Address) -> dict[DocumentKind, bytes | None]:
        """The bytes the relay holds of each kind a practice publishes (None: it holds none).

        Raises:
            RelayUnreachable, RelayError.
        """
        kinds = list(KIND_NAMES)
        fetched = await asyncio.gather(*(self._relay.get_document(address, KIND_NAMES[k]) for k in kinds))
        return dict(zip(kinds, fetched, strict=True))

    def _admit(
        self, kept: KeptDocument | None, data: bytes | None, signer: IdentityPublicKey, kind: DocumentKind, now: int
    ) -> tuple[KeptDocument | None, WarningKind | None]:
        """What to keep of ``kind`` after the relay served ``data``: the new document when it verifies as the
        practice's and is not older than the one seen (accepted through the version guard), else what was
        kept, with the reason it was refused. Call inside the store transaction that saves the result."""
        if data is None:
            return kept, None
        try:
            document = parse_document(data, expected_signer=signer, expected_kind=kind, now=now)
        except DocumentError:
            return kept, WarningKind.INVALID
        if kept is not None and hmac.compare_digest(document.digest, kept.document.digest):
            return kept, None
        try:
            docs.accept(self._store, document)
        except DocumentStale:
            return kept, WarningKind.STALE_REFUSED
        return KeptDocument(document, now), None

    def _warn(self, pinned: PinnedPractice, kind: WarningKind, what: str = "") -> PracticeWarning:
        texts = {
            WarningKind.STALE_REFUSED: f"the relay served an older {what} than one already seen: refused, kept "
            "the newer one (the relay may be hiding a change)",
            WarningKind.INVALID: f"the relay served a {what} that does not verify as the practice's: ignored",
            WarningKind.REVOCATIONS_STALE: "its revocation list is past its expiry: a revocation since may be "
            "hidden; refresh later, and treat its credentials with caution",
            WarningKind.REVOCATIONS_MISSING: "no revocation list of it has been seen: a revocation may be hidden",
            WarningKind.UNREACHABLE: "the relay could not be asked for its documents",
        }
        return PracticeWarning(kind, pinned.name, Address(pinned.address).text, texts[kind])

    def _standing(self, pinned: PinnedPractice, now: int) -> list[PracticeWarning]:
        """The warnings about what is kept of ``pinned`` at ``now`` (and the refusals of the last refresh)."""
        found = [self._warn(pinned, WarningKind.STALE_REFUSED, what) for what in pinned.refused]
        if pinned.revocations is None:
            found.append(self._warn(pinned, WarningKind.REVOCATIONS_MISSING))
        elif now >= pinned.revocations.document.expires_at:
            found.append(self._warn(pinned, WarningKind.REVOCATIONS_STALE))
        return found

    def _update(
        self, address: Address, fetched: dict[DocumentKind, bytes | None], now: int
    ) -> tuple[PinnedPractice, list[PracticeWarning]]:
        """Pin (or update) the practice at ``address`` from what the relay served, in one transaction.

        Raises:
            PracticeUnavailable: it was not pinned and the relay holds no valid policy signed by that address.
        """
        with self._store.transaction():
            old = self._pins.at(address.raw)
            signer = old.policy.document.signer if old is not None else None
            if signer is None:
                policy_bytes = fetched[DocumentKind.POLICY]
                if policy_bytes is None:
                    raise PracticeUnavailable(
                        "the relay holds no policy for that practice address: check the address, or ask the "
                        "practice to publish ('confide practice publish') on this relay"
                    )
                try:
                    found = parse_document(
                        policy_bytes, expected_signer=None, expected_kind=DocumentKind.POLICY, now=now
                    )
                except DocumentError as exc:
                    raise PracticeUnavailable(f"the practice's policy on the relay is not valid ({exc})") from None
                if not hmac.compare_digest(found.signer.address.raw, address.raw):
                    raise PracticeUnavailable("the relay served a policy signed by someone else: not trusted")
                signer = found.signer
            refused: list[str] = []
            bad: list[tuple[WarningKind, str]] = []
            kept: dict[DocumentKind, KeptDocument | None] = {}
            for kind, name in KIND_NAMES.items():
                before = (
                    None
                    if old is None
                    else {
                        DocumentKind.POLICY: old.policy,
                        DocumentKind.DIRECTORY: old.directory,
                        DocumentKind.REVOCATIONS: old.revocations,
                    }[kind]
                )
                kept[kind], problem = self._admit(before, fetched[kind], signer, kind, now)
                if problem == WarningKind.STALE_REFUSED:
                    refused.append(name)
                elif problem is not None:
                    bad.append((problem, name))
            policy = kept[DocumentKind.POLICY]
            if policy is None:
                raise PracticeUnavailable("the practice's policy on the relay is not valid: not trusted")
            pinned = PinnedPractice(
                address.raw, policy, kept[DocumentKind.DIRECTORY], kept[DocumentKind.REVOCATIONS], tuple(refused)
            )
            self._pins.save(pinned)
        warnings = [self._warn(pinned, kind, what) for kind, what in bad]
        return pinned, warnings + self._standing(pinned, now)

    def _info(self, pinned: PinnedPractice, now: int, warnings: list[PracticeWarning] | None = None) -> PracticeInfo:
        def version(k: KeptDocument | None) -> tuple[int, int]:
            return (0, 0) if k is None else (k.document.version, k.document.expires_at)

        d, r = version(pinned.directory), version(pinned.revocations)
        return PracticeInfo(
            pinned.name,
            Address(pinned.address).text,
            pinned.policy.document.version,
            pinned.policy.document.expires_at,
            d[0],
            d[1],
            r[0],
            r[1],
            len(pinned.entries()),
            tuple(self._standing(pinned, now) if warnings is None else warnings),
        )

    async def trust(self, pin: str, *, now: int | None = None) -> PracticeInfo:
        """Pin the practice at the address ``pin`` names (see :func:`pin_text`) and fetch its policy, directory
        and revocation list at once; trusting a pinned practice again refreshes it.

        Raises:
            InvalidAddress: ``pin`` names no address.
            PracticeUnavailable: the relay holds no valid policy signed by that address (nothing is pinned).
            RelayUnreachable, RelayError.
        """
        now = _now(now)
        address = pin_text(pin)
        pinned, warnings = self._update(address, await self._fetch(address), now)
        return self._info(pinned, now, warnings)

    def forget(self, practice: str) -> None:
        """Stop trusting a practice: its documents and the versions seen of them leave the store.

        Raises:
            UnknownPractice.
        """
        self._pins.delete(self._pins.find(practice).address)

    def list(self, *, now: int | None = None) -> builtins.list[PracticeInfo]:
        """The pinned practices, oldest pin first, with their current warnings.

        Raises:
            StorageError.
        """
        now = _now(now)
        return [self._info(p, now) for p in self._pins.all()]

    async def refresh(self, *, now: int | None = None) -> builtins.list[PracticeWarning]:
        """Fetch every pinned practice's documents and every credentialed contact's availability card; keep
        only what verifies and is not older than what was seen. Returns the warnings (stale or invalid documents
        refused, revocation lists missing or past expiry).

        Raises:
            RelayUnreachable, RelayError (what was fetched before is kept); StorageError.
        """
        now = _now(now)
        warnings: builtins.list[PracticeWarning] = []
        for pinned in self._pins.all():
            address = Address(pinned.address)
            _, found = self._update(address, await self._fetch(address), now)
            warnings += found
        for rec in self._store.contacts():
            identity = self._card_signer(rec, now)
            if identity is None:
                continue
            data = await self._relay.get_document(Address(rec.address), "availability")
            if data is not None:
                self._keep_card(rec, data, identity, now)
        self._store.set_meta_int(_M_REFRESHED, now)
        return warnings

    async def refresh_due(self, *, now: int | None = None) -> builtins.list[PracticeWarning]:
        """:meth:`refresh` when the last one is :data:`REFRESH_INTERVAL_S` old (or never ran) and a practice is
        pinned or a contact is credentialed; else nothing. Raises as :meth:`refresh`."""
        now = _now(now)
        last = self._store.get_meta_int(_M_REFRESHED, 0)
        if 0 <= now - last < REFRESH_INTERVAL_S:
            return []
        if not self._pins.any() and not self._store.docs(docs.PEER_CREDENTIAL):
            return []
        return await self.refresh(now=now)

    # -- availability -----------------------------------------------------------------------------------
    def _card_signer(self, rec: ContactRecord, now: int) -> IdentityPublicKey | None:
        """Whose signature a contact's availability card must carry: their pinned identity, or (before the
        first session) the identity a credential naming their address names; None for a contact no credential
        names (no card is looked for)."""
        best = self._best(rec, now)
        if best is None:
            return None
        return self._identity_of(rec, best[0])

    def _keep_card(self, rec: ContactRecord, data: bytes, signer: IdentityPublicKey, now: int) -> bool:
        """Keep ``data`` as the contact's availability card when it is signed by ``signer``, current, and not
        older than the card seen (owned by the contact's row); a forged or older card is ignored."""
        try:
            card = parse_document(data, expected_signer=signer, expected_kind=DocumentKind.AVAILABILITY, now=now)
        except DocumentError:
            return False
        if not docs.admit(self._store, card):
            return False
        with self._store.transaction():
            docs.accept(self._store, card)
            self._store.put_doc(docs.PEER_AVAILABILITY, rec.address, data, owner=rec.contact_id)
        return True

    def _card_of(self, rec: ContactRecord, now: int) -> AvailabilityCard | None:
        """The contact's current availability card: the kept one, else the one a pinned practice's directory
        lists with their credential; None when neither is current and signed by them."""
        signer = self._card_signer(rec, now)
        if signer is None:
            return None
        raw = self._store.get_doc(docs.PEER_AVAILABILITY, rec.address)
        found: builtins.list[SignedDocument] = []
        if raw is not None:
            with contextlib.suppress(DocumentError):
                found.append(
                    parse_document(raw, expected_signer=signer, expected_kind=DocumentKind.AVAILABILITY, now=now)
                )
        for practice in self._pins.all():
            for entry in practice.entries():
                card = entry.availability
                if card is not None and card.signer == signer and card.issued_at <= now < card.expires_at:
                    found.append(card)
        if not found:
            return None
        body = max(found, key=lambda d: d.version).body
        assert isinstance(body, AvailabilityCard)
        return body

    def availability(
        self, rec: ContactRecord, *, zone: str | None = None, now: int | None = None
    ) -> Availability | None:
        """How the contact's availability card reads in this device's time zone (``zone``: another IANA zone)
        now: the line to show when writing and whether they are in office hours; None without a current card
        signed by them.

        Raises:
            StorageError.
        """
        now = _now(now)
        card = self._card_of(rec, now)
        if card is None:
            return None
        info = self.provider_of(rec, now=now)
        name = info.display_name if info is not None and info.display_name else rec.name
        return availability_of(card, therapist_name=name, client_zone=zone or local_zone_name(), now=now)

    def crisis_notice(self, rec: ContactRecord, *, now: int | None = None) -> CrisisNotice | None:
        """The crisis notice of the pinned practice whose credential names the contact (any verdict but
        ``other_key``: a person in distress should see it even when the credential lapsed), with whether the
        contact is in office hours now; None when no pinned practice names them.

        Raises:
            StorageError.
        """
        now = _now(now)
        best = self._best(rec, now)
        if best is None or best[0].practice is None or best[1] == ProviderStatus.OTHER_KEY:
            return None
        policy = best[0].practice.policy_body
        seen = self.availability(rec, now=now)
        return CrisisNotice(
            policy.practice_name,
            policy.crisis_notice,
            policy.crisis_contacts,
            seen is not None and seen.in_office_hours,
        )

    # -- directory ----------------------------------------------------------------------------------------
    def directory(self, practice: str, *, zone: str | None = None, now: int | None = None) -> builtins.list[Listing]:
        """The therapists a pinned practice's directory lists (as of the last refresh), numbered from 1, each
        credential judged against the identity it names with the practice's revocation list.

        Raises:
            UnknownPractice; StorageError.
        """
        now = _now(now)
        pinned = self._pins.find(practice)
        revocations = pinned.revocation_list
        listings = []
        for number, entry in enumerate(pinned.entries(), start=1):
            body = credential_of(entry.credential)
            status = _STATUS_OF[check_credential(entry.credential, revocations, entry.therapist, now)]
            line = None
            card = entry.availability
            if card is not None and card.issued_at <= now < card.expires_at:
                assert isinstance(card.body, AvailabilityCard)
                line = availability_of(
                    card.body, therapist_name=body.display_name, client_zone=zone or local_zone_name(), now=now
                ).line
            listings.append(
                Listing(
                    number,
                    body.credential_id.hex(),
                    Address(entry.therapist.address.raw).text,
                    body.display_name,
                    body.licence_number,
                    body.licensing_body,
                    body.jurisdiction,
                    min(body.not_after, entry.credential.expires_at),
                    status,
                    entry.delivery_token is not None,
                    line,
                )
            )
        return listings

    def start_from_directory(self, practice: str, listing: str | int, name: str, *, now: int | None = None) -> Contact:
        """Add the therapist listed as ``listing`` (its number, or its credential id in hex) in a pinned
        practice's directory as the contact ``name``, with the delivery token the directory gives, and keep
        their credential and availability card with the new contact.

        Raises:
            UnknownPractice, UnknownListing; ClientError: the directory gives no way to write to them (ask them
                for their contact card); ContactExists; ValueError: empty name; StorageError.
        """
        now = _now(now)
        pinned = self._pins.find(practice)
        entries = pinned.entries()
        entry = _pick(entries, listing)
        if entry.delivery_token is None:
            raise ClientError(
                "the directory lists this therapist without a way to write to them; ask them for their contact card"
            )
        address = Address(entry.therapist.address.raw)
        with self._store.transaction():
            contact = self._contacts.add(name, address.text, token=entry.delivery_token)
            rec = self._store.contact_by_address(address.raw)
            assert rec is not None
            self._store.put_doc(docs.PEER_CREDENTIAL, address.raw, entry.credential.to_bytes(), owner=rec.contact_id)
            card = entry.availability
            if card is not None and card.issued_at <= now < card.expires_at and docs.admit(self._store, card):
                docs.accept(self._store, card)
                self._store.put_doc(docs.PEER_AVAILABILITY, address.raw, card.to_bytes(), owner=rec.contact_id)
        return replace(contact, provider=self.provider_of(rec, now=now))


def _pick(entries: tuple[DirectoryEntry, ...], listing: str | int) -> DirectoryEntry:
    """The entry numbered ``listing`` (from 1) or whose credential id is the hex ``listing``.

    Raises:
        UnknownListing.
    """
    text = str(listing).strip().lower()
    if text.isdigit() and 1 <= int(text) <= len(entries):
        return entries[int(text) - 1]
    for entry in entries:
        if hmac.compare_digest(credential_of(entry.credential).credential_id.hex(), text):
            return entry
    raise UnknownListing("the directory lists no therapist under that number or id; see 'confide directory PRACTICE'")


__all__ = [
    "REFRESH_INTERVAL_S",
    "CrisisNotice",
    "Listing",
    "PracticeInfo",
    "PracticeWarning",
    "Practices",
    "WarningKind",
]
