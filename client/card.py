"""A therapist's own side of the practice layer: their credential, their availability card, their contact card,
and adding someone else's contact card.

============================  ===============================================================================
``import_credential``         the signed credential a practice issued (``confide practice issue``), kept in
                              scope ``self`` (:mod:`.peer_documents`) once it names this profile's identity
``set_availability``          signs an availability card with this profile's identity, publishes it on the
                              relay under the own address, and keeps it once the relay accepted it
``contact_card``              invite + franking key binding + own credential + availability card, signed
``add_from_card``             a contact from someone's card: their address and token (as from an invite), and
                              their credential, availability card and franking binding, owned by the contact
============================  ===============================================================================

Everything a card or a file brings is parsed and verified before anything is stored, and stored in one
transaction. An availability card never goes back to an older version (:func:`.peer_documents.accept`).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from confide.keys.identity import IdentityKeyPair, IdentityPublicKey
from confide.protocol.contact_card import (
    CARD_TEXT_PREFIX,
    CARD_TEXT_WHITESPACE,
    ContactCard,
    ContactCardError,
    parse_card_text,
    parse_contact_card,
)
from confide.protocol.document_bodies import AvailabilityCard, AwayNote, OfficeHours
from confide.protocol.document_errors import DocumentError
from confide.protocol.documents import (
    MAX_CLOCK_SKEW_S,
    DocumentKind,
    SignedDocument,
    _decode_document,
    check_credential,
    credential_of,
    parse_document,
)
from confide.protocol.office_hours import reply_time_text

from .account import Account
from .contacts import Contacts
from .errors import CredentialError
from .hours import hours_text
from .invite import Invite
from .peer_documents import (
    PEER_AVAILABILITY,
    PEER_CREDENTIAL,
    PEER_FRANKING,
    SELF,
    SELF_AVAILABILITY,
    SELF_CREDENTIAL,
    accept,
    admit,
)
from .practice_views import AvailabilityInfo, AwayInfo, CredentialInfo
from .records import ContactRecord
from .relay import RelayClient
from .store import Store

AVAILABILITY_LIFETIME_S = 90 * 24 * 3600
"""How long a published availability card is valid: a season. Office hours change with school terms, holidays
and caseloads; a card nobody re-signed for three months may promise hours its therapist no longer keeps, so it
expires (the relay drops it, clients ignore it) rather than mislead. ``confide availability set`` with no
options re-signs the current card for another season."""

AVAILABILITY_RENEW_BEFORE_S = 14 * 24 * 3600
"""``sync()`` re-signs the own availability card (same hours, reply time and away period, a higher version) once it
has less than two weeks left: a therapist who keeps the app running never has their card lapse unnoticed, while
a card nobody runs Confide for still expires within a season. Two weeks leave many syncs to succeed in."""

AVAILABILITY_KIND = "availability"
"""The kind name of an availability card in the relay's document paths (SPEC section 12)."""

KEEP_AWAY: object = object()
"""The default of ``away`` in :meth:`Cards.update_availability`: keep the current card's away period."""


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def credential_info(document: SignedDocument, holder: IdentityPublicKey, now: int) -> CredentialInfo:
    """What ``document`` (a verified credential) says, dated at ``now`` for the identity ``holder``."""
    body = credential_of(document)
    return CredentialInfo(
        document.signer.address.text,
        body.display_name,
        body.licence_number,
        body.licensing_body,
        body.jurisdiction,
        body.not_before,
        body.not_after,
        document.expires_at,
        check_credential(document, None, holder, now),
    )


def availability_info(document: SignedDocument) -> AvailabilityInfo:
    """What the availability card ``document`` says, as typed (hours ``"mon 09:00-17:00"``, reply time in words).

    Raises:
        ValueError: ``document`` is not an availability card (a programmer mistake).
    """
    card = document.body
    if not isinstance(card, AvailabilityCard):
        raise ValueError("not an availability card")
    away = None if card.away is None else AwayInfo(card.away.starts_at, card.away.ends_at, card.away.note)
    return AvailabilityInfo(
        document.version,
        document.issued_at,
        document.expires_at,
        card.time_zone,
        tuple(hours_text(card.hours)),
        card.reply_within_s,
        reply_time_text(card.reply_within_s),
        away,
    )


@dataclass(frozen=True, slots=True)
class CardAdded:
    """What :meth:`Cards.add_from_card` stored: the ``contact`` row, the card's ``credential`` (None when the
    card had none), whether its availability card was kept (``availability``: ``"stored"``, ``"kept_newer"``
    when a newer card from them was already held, ``"expired"`` when it was past its expiry, ``"none"``)."""

    contact: ContactRecord
    credential: CredentialInfo | None
    availability: str


def _card_bytes(card: bytes | str) -> bytes:
    """The card's bytes from its binary form or its ``CONFIDE-CARD1:`` text (as a str, or as a file's bytes).

    Raises:
        ContactCardError: a text that is not a card's.
    """
    if isinstance(card, str):
        return parse_card_text(card)
    stripped = card.strip(CARD_TEXT_WHITESPACE.encode())
    if stripped[: len(CARD_TEXT_PREFIX)].upper() == CARD_TEXT_PREFIX.encode():
        try:
            return parse_card_text(card.decode("ascii"))
        except UnicodeDecodeError:
            raise ContactCardError("this is not a Confide contact card") from None
    return card


def _stored(raw: bytes, kind: DocumentKind | None) -> SignedDocument | None:
    """A document this profile stored (verified when it was stored), read back without dating it, or None
    when the row cannot be read as one."""
    try:
        return _decode_document(raw, kind)
    except DocumentError:
        return None


def _dated(document: SignedDocument, now: int) -> bool:
    """Whether ``document`` is inside its own dates at ``now`` (with the usual clock skew)."""
    return now < document.expires_at and document.issued_at <= now + MAX_CLOCK_SKEW_S


class Cards:
    """This profile's credential and availability card, its contact card, and contacts added from cards."""

    def __init__(
        self, store: Store, identity: IdentityKeyPair, relay: RelayClient, account: Account, contacts: Contacts
    ) -> None:
        self._store = store
        self._identity = identity
        self._relay = relay
        self._account = account
        self._contacts = contacts

    # -- the own credential ----------------------------------------------------------------------------
    def import_credential(self, data: bytes, *, now: int | None = None) -> CredentialInfo:
        """Keep the credential document ``data`` (from the practice's ``confide practice issue``) as this
        profile's own, replacing any earlier one. It goes into every contact card from now on.

        Raises:
            DocumentError (and its subclasses): not a signed credential, a signature that does not verify, or
                a document past its expiry. CredentialError: it names another identity than this profile's.
                Nothing is stored then.
        """
        moment = _now(now)
        document = parse_document(bytes(data), expected_signer=None, expected_kind=DocumentKind.CREDENTIAL, now=moment)
        therapist = credential_of(document).therapist
        if not hmac.compare_digest(therapist.to_bytes(), self._identity.public.to_bytes()):
            raise CredentialError(
                "this credential was issued to another identity, not to this profile: ask the practice to issue "
                "it from your own contact card ('confide card export')"
            )
        with self._store.transaction():
            self._store.put_doc(SELF, SELF_CREDENTIAL, document.to_bytes())
        return credential_info(document, self._identity.public, moment)

    def _own(self, key: bytes, kind: DocumentKind, now: int) -> SignedDocument | None:
        """The own document stored under ``key``, verified and dated, or None (none, or past its expiry)."""
        raw = self._store.get_doc(SELF, key)
        if raw is None:
            return None
        try:
            return parse_document(raw, expected_signer=None, expected_kind=kind, now=now)
        except DocumentError:
            return None

    def credential(self, *, now: int | None = None) -> CredentialInfo | None:
        """This profile's credential, or None when none was imported (or it is past the document's expiry)."""
        moment = _now(now)
        document = self._own(SELF_CREDENTIAL, DocumentKind.CREDENTIAL, moment)
        return None if document is None else credential_info(document, self._identity.public, moment)

    def issuer_address(self) -> str | None:
        """The address of the practice that issued this profile's credential (None without one)."""
        raw = self._store.get_doc(SELF, SELF_CREDENTIAL)
        document = None if raw is None else _stored(raw, DocumentKind.CREDENTIAL)
        return None if document is None else document.signer.address.text

    # -- the own availability card ----------------------------------------------------------------------
    def availability(self, *, now: int | None = None) -> AvailabilityInfo | None:
        """This profile's current availability card (as published), or None (none set, or expired)."""
        document = self._own(SELF_AVAILABILITY, DocumentKind.AVAILABILITY, _now(now))
        return None if document is None else availability_info(document)

    async def _published_version(self, now: int) -> int:
        """The version of the availability card the relay holds for this profile (0: none, or unreadable), so a
        restored profile, whose store starts empty, still publishes a newer version.

        Raises:
            RelayUnreachable, RelayError.
        """
        raw = await self._relay.get_document(self._identity.address, AVAILABILITY_KIND)
        if raw is None:
            return 0
        try:
            document = parse_document(
                raw, expected_signer=self._identity.public, expected_kind=DocumentKind.AVAILABILITY, now=now
            )
        except DocumentError:
            return 0
        return document.version

    async def set_availability(
        self,
        time_zone: str,
        hours: tuple[OfficeHours, ...],
        reply_within_s: int,
        away: AwayNote | None = None,
        *,
        now: int | None = None,
    ) -> AvailabilityInfo:
        """Sign a new availability card (version one above the last, valid for :data:`AVAILABILITY_LIFETIME_S`),
        publish it on the relay under this profile's address and keep it once the relay accepted it.

        Raises:
            ValueError: an unknown time zone, hours out of order or overlapping, a reply time out of range.
            RelayUnreachable, RelayError: the relay could not take it; nothing was kept (the card before
                stays this profile's).
        """
        moment = _now(now)
        body = AvailabilityCard(time_zone, tuple(hours), reply_within_s, away)
        raw = self._store.get_doc(SELF, SELF_AVAILABILITY)
        held = None if raw is None else _stored(raw, DocumentKind.AVAILABILITY)
        local = 0 if held is None else held.version
        version = max(local, await self._published_version(moment)) + 1
        document = SignedDocument.sign(
            self._identity, body, version=version, issued_at=moment, expires_at=moment + AVAILABILITY_LIFETIME_S
        )
        await self._relay.put_document(self._identity.address, document.to_bytes())
        with self._store.transaction():
            self._store.put_doc(SELF, SELF_AVAILABILITY, document.to_bytes())
        return availability_info(document)

    async def update_availability(
        self,
        *,
        time_zone: str | None = None,
        hours: tuple[OfficeHours, ...] | None = None,
        reply_within_s: int | None = None,
        away: object = KEEP_AWAY,
        away_note: str | None = None,
        now: int | None = None,
    ) -> AvailabilityInfo:
        """:meth:`set_availability` keeping what is not given from the current card: the one-command update
        (``away``: an :class:`AwayNote`, None to clear it, or left out to keep it; ``away_note`` with ``away``
        left out: the kept away period with this note instead).

        Raises:
            ValueError: a field is missing and there is no current card to keep it from, or as
                :meth:`set_availability`. RelayUnreachable, RelayError.
        """
        moment = _now(now)
        current = self._own(SELF_AVAILABILITY, DocumentKind.AVAILABILITY, moment)
        old = current.body if current is not None and isinstance(current.body, AvailabilityCard) else None
        zone = time_zone if time_zone is not None else old.time_zone if old is not None else None
        blocks = hours if hours is not None else old.hours if old is not None else None
        reply = reply_within_s if reply_within_s is not None else old.reply_within_s if old is not None else None
        if zone is None or blocks is None or reply is None:
            raise ValueError("there is no availability card yet: give --tz, --hours and --reply")
        if away is KEEP_AWAY:
            new_away = old.away if old is not None else None
            if away_note is not None:
                if new_away is None:
                    raise ValueError("a note goes with an away period (--away FROM UNTIL); there is none to keep")
                new_away = AwayNote(new_away.starts_at, new_away.ends_at, away_note)
        elif away is None or isinstance(away, AwayNote):
            new_away = away
        else:
            raise TypeError("away must be an AwayNote or None")
        return await self.set_availability(zone, blocks, reply, new_away, now=moment)

    async def renew_due(self, *, now: int | None = None) -> AvailabilityInfo | None:
        """Re-sign and publish the own availability card, unchanged but for its version and dates, when it has
        less than :data:`AVAILABILITY_RENEW_BEFORE_S` left; returns the renewed card, or None (no card, already
        expired, or not due). An away period already over is dropped on the way.

        Raises:
            RelayUnreachable, RelayError: not published; the card held stays (the next sync tries again).
        """
        moment = _now(now)
        current = self._own(SELF_AVAILABILITY, DocumentKind.AVAILABILITY, moment)
        if current is None or current.expires_at - moment > AVAILABILITY_RENEW_BEFORE_S:
            return None
        card = current.body
        assert isinstance(card, AvailabilityCard)
        away = card.away if card.away is not None and card.away.ends_at > moment else None
        return await self.set_availability(card.time_zone, card.hours, card.reply_within_s, away, now=moment)

    # -- contact cards ----------------------------------------------------------------------------------
    def contact_card(self, *, now: int | None = None) -> bytes:
        """This profile's contact card, signed: its invite (address and introduction token), its franking key
        binding, and its credential and availability card when they are current. It is a capability (whoever
        holds it can write here): give it only to those who should.

        Raises:
            ProfileError: the profile has no delivery token (not created completely).
        """
        moment = _now(now)
        card = ContactCard.sign(
            self._identity,
            self._account.token(),
            credential=self._own(SELF_CREDENTIAL, DocumentKind.CREDENTIAL, moment),
            availability=self._own(SELF_AVAILABILITY, DocumentKind.AVAILABILITY, moment),
            issued_at=moment,
        )
        return card.to_bytes()

    def add_from_card(self, name: str, card: bytes | str, *, now: int | None = None) -> CardAdded:
        """Add (or update) the contact ``name`` from a contact card (its bytes, or its ``CONFIDE-CARD1:`` text
        as a str or a file's bytes), as :meth:`.Contacts.add` does from an invite; then keep what the card
        carries, owned by the contact: their credential (as signed; whether its practice is trusted is decided
        when it is shown), their availability card (unless a newer one from them is already held, or it is
        past its expiry), and their franking key binding. All in one transaction, after the whole card
        verified.

        Raises:
            ContactCardError: not a card, damaged, altered or forged (e.g. an availability card signed by
                someone else); nothing is stored.
            ContactExists: the card's address belongs to another contact. ValueError: empty name.
        """
        moment = _now(now)
        parsed = parse_contact_card(_card_bytes(card), now=moment)
        address, token = parsed.invite
        key = address.raw
        kept = "none"
        with self._store.transaction():
            added = self._contacts.add(name, Invite(address, token).code)
            rec = self._contacts.find(added.name)
            if rec.identity is None and hmac.compare_digest(rec.address, key):
                rec.identity = parsed.identity.to_bytes()  # the card is signed by it; its address is its hash
                self._store.save_contact(rec)
            owner = rec.contact_id
            self._store.put_doc(PEER_FRANKING, key, parsed.binding.to_bytes(), owner=owner)
            if parsed.credential is not None:
                self._keep_credential(key, parsed.credential, owner)
            if parsed.availability is not None:
                if not _dated(parsed.availability, moment):
                    kept = "expired"
                elif not admit(self._store, parsed.availability):
                    kept = "kept_newer"
                else:
                    accept(self._store, parsed.availability)
                    self._store.put_doc(PEER_AVAILABILITY, key, parsed.availability.to_bytes(), owner=owner)
                    kept = "stored"
        info = None if parsed.credential is None else credential_info(parsed.credential, parsed.identity, moment)
        return CardAdded(rec, info, kept)

    def _keep_credential(self, key: bytes, document: SignedDocument, owner: str) -> None:
        """Keep ``document`` as the contact's credential unless the one held is from the same practice with a
        higher version (an older card added after a newer one)."""
        held = self._store.get_doc(PEER_CREDENTIAL, key)
        old = None if held is None else _stored(held, DocumentKind.CREDENTIAL)
        if old is not None and old.signer == document.signer and old.version > document.version:
            return
        self._store.put_doc(PEER_CREDENTIAL, key, document.to_bytes(), owner=owner)

    def peer_credential(
        self, address: bytes, identity: IdentityPublicKey, *, now: int | None = None
    ) -> CredentialInfo | None:
        """The credential held for the contact at ``address`` whose identity is ``identity`` (from their card),
        dated at ``now`` (``other_key`` when it names another identity), or None."""
        raw = self._store.get_doc(PEER_CREDENTIAL, address)
        if raw is None:
            return None
        document = _stored(raw, DocumentKind.CREDENTIAL)
        if document is None:
            return None
        return credential_info(document, identity, _now(now))


__all__ = [
    "AVAILABILITY_LIFETIME_S",
    "AVAILABILITY_RENEW_BEFORE_S",
    "KEEP_AWAY",
    "CardAdded",
    "Cards",
    "availability_info",
    "credential_info",
]
