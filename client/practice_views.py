"""What the library hands out about the practice layer, as frozen values:

- what a profile sees of the practices it trusts (:mod:`.practices`): a practice and its warnings, a therapist
  of its directory, a crisis notice;
- a therapist's own side (:mod:`.card`): a credential as held, the own availability card;
- a practice's own side (:mod:`.practice`): its summary (policy, issued credentials, publications) and the
  review of a report file.

Every text in them is a practice's, a therapist's or a reporting client's own words: escape before display (the
CLI's ``render`` does); ``repr`` shows none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from confide.protocol.document_bodies import CrisisContact
from confide.protocol.documents import CredentialStatus, DocumentKind
from confide.protocol.franking import FrankingPublicKey

from .models import ProviderStatus


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


# -- a therapist's own side ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """A credential as this profile holds it (its own, or a contact's from their card).

    ``practice_address`` is the address of the practice that signed it (verified: the signature holds);
    ``display_name``, ``licence_number``, ``licensing_body`` and ``jurisdiction`` are the practice's words
    (escape before display); ``not_before``/``not_after`` its validity and ``expires_at`` the document's
    expiry (unix seconds); ``status`` is :func:`~confide.protocol.documents.check_credential` without a
    revocation list: ``other_key``, ``expired``, ``not_yet_valid``, or ``revocations_stale`` for one that is
    in its dates (whether the practice revoked it is known only from its list: see ``confide practices``).
    """

    practice_address: str
    display_name: str = field(repr=False)
    licence_number: str = field(repr=False)
    licensing_body: str = field(repr=False)
    jurisdiction: str = field(repr=False)
    not_before: int
    not_after: int
    expires_at: int
    status: CredentialStatus


@dataclass(frozen=True, slots=True)
class AwayInfo:
    """An away period of an availability card: from ``starts_at`` until ``ends_at`` (unix seconds), with the
    therapist's ``note`` (may be empty; their words: escape)."""

    starts_at: int
    ends_at: int
    note: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AvailabilityInfo:
    """This profile's availability card as published: its ``version``, ``issued_at`` and ``expires_at`` (unix
    seconds), the IANA ``time_zone``, the office ``hours`` as typed (``"mon 09:00-17:00"``, one per day, in that
    zone), the reply time in seconds (``reply_within_s``) and in words (``reply_within``: ``"one day"``), and the
    ``away`` period (None: not away)."""

    version: int
    issued_at: int
    expires_at: int
    time_zone: str
    hours: tuple[str, ...]
    reply_within_s: int
    reply_within: str
    away: AwayInfo | None = None


# -- a practice's own side ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """One live credential the practice issued: its id, its signed ``document``, its holder's address and the
    credential's fields, whether it is ``listed`` in the directory (with the holder's ``delivery_token`` and
    signed ``availability`` card from their contact card), and when it was revoked (``None``: it was not).
    ``repr`` shows no token."""

    credential_id: bytes
    document: bytes = field(repr=False)
    therapist: str
    display_name: str
    licence_number: str
    licensing_body: str
    jurisdiction: str
    not_before: int
    not_after: int
    listed: bool
    delivery_token: bytes | None = field(default=None, repr=False)
    availability: bytes | None = field(default=None, repr=False)
    revoked_at: int | None = None

    @property
    def id_text(self) -> str:
        """The credential id as people copy it (32 hex digits), for ``confide practice revoke``."""
        return self.credential_id.hex()


@dataclass(frozen=True, slots=True)
class Published:
    """The last publication of one kind the relay accepted: its version and when it expires (unix seconds)."""

    kind: DocumentKind
    version: int
    expires_at: int

    @property
    def kind_text(self) -> str:
        """The kind as the relay's document paths and ``confide practice show`` name it: ``revocations``,
        ``directory`` or ``policy``."""
        return self.kind.name.lower()


@dataclass(frozen=True, slots=True)
class PolicyFields:
    """What the practice wrote for its policy (the moderation key is added when it is signed)."""

    practice_name: str
    crisis_notice: str
    crisis_contacts: tuple[CrisisContact, ...]


@dataclass(frozen=True, slots=True)
class PracticeSummary:
    """What ``confide practice show`` shows: the address clients pin, the moderation key, the policy (``None``
    until set), every live credential, and the last publication of each kind."""

    address: str
    moderation_key: FrankingPublicKey
    policy: PolicyFields | None
    credentials: tuple[IssuedCredential, ...]
    published: tuple[Published, ...]


REPORT_CHECKS = (
    ("judge_matches", "it was franked for another moderation key than this practice's"),
    ("sender_bound", "the sender's franking key is not bound to the named sender"),
    ("recipient_bound", "the recipient's franking key is not bound to the named recipient"),
    ("franking_holds", "the franking does not hold: the message was altered or the report forged"),
)
"""The four checks of a report's review, in order, each with what its failure means (SPEC 13.9)."""


@dataclass(frozen=True, slots=True)
class ReportCheck:
    """One check of a report's review: its ``name`` (a :class:`ReportReview` field), whether it ``holds``, and
    the ``reason`` a failure gives (a plain sentence that quotes nothing from the report)."""

    name: str
    holds: bool
    reason: str


@dataclass(frozen=True, slots=True)
class ReportedMessage:
    """The message a report file holds, as the reporter's client read it: ``kind`` ``"text"`` (its ``text``),
    ``"file"`` (its ``name``, ``mime``, ``size`` and ``caption``) or ``"other"`` (neither). Every text is the
    sender's (or, when the report is not authentic, anyone's): escape before display."""

    kind: Literal["text", "file", "other"]
    text: str = field(default="", repr=False)
    name: str = field(default="", repr=False)
    mime: str = field(default="", repr=False)
    size: int = 0
    caption: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ReportReview:
    """A practice's verdict on a report file (:meth:`~confide.client.practice.PracticeAdmin.review`).

    ``judge_matches``: the file names this practice's moderation key. ``sender_bound`` / ``recipient_bound``:
    each party's franking key is bound to the identity named. ``franking_holds``: the franking verifies with
    the moderation key. Only when :attr:`authentic` (all four) does it prove that ``sender_address`` sent
    exactly ``message`` (None: not a readable message) to ``recipient_address``. ``sender_credential`` /
    ``recipient_credential``: the display name on this practice's newest live credential held by that address
    (None: it holds none; the practice's words: escape)."""

    judge_matches: bool
    sender_bound: bool
    recipient_bound: bool
    franking_holds: bool
    sender_address: str
    recipient_address: str
    sender_credential: str | None = field(repr=False)
    recipient_credential: str | None = field(repr=False)
    message: ReportedMessage | None = field(repr=False)

    @property
    def authentic(self) -> bool:
        """All four checks hold."""
        return self.judge_matches and self.sender_bound and self.recipient_bound and self.franking_holds

    @property
    def checks(self) -> tuple[ReportCheck, ...]:
        """The four checks in :data:`REPORT_CHECKS`' order, each with its outcome and failure reason."""
        outcome = {
            "judge_matches": self.judge_matches,
            "sender_bound": self.sender_bound,
            "recipient_bound": self.recipient_bound,
            "franking_holds": self.franking_holds,
        }
        return tuple(ReportCheck(name, outcome[name], reason) for name, reason in REPORT_CHECKS)


__all__ = [
    "REPORT_CHECKS",
    "AvailabilityInfo",
    "AwayInfo",
    "CredentialInfo",
    "CrisisNotice",
    "IssuedCredential",
    "Listing",
    "PolicyFields",
    "PracticeInfo",
    "PracticeSummary",
    "PracticeWarning",
    "Published",
    "ReportCheck",
    "ReportReview",
    "ReportedMessage",
    "WarningKind",
]
