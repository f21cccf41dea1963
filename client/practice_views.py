"""What a profile sees of the practices it trusts (:mod:`.practices`): a practice and its warnings, a therapist
of its directory, a crisis notice. Frozen values; every text in them is a practice's or a therapist's own words:
escape before display (the CLI's ``render`` does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from confide.protocol.document_bodies import CrisisContact

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


__all__ = ["CrisisNotice", "Listing", "PracticeInfo", "PracticeWarning", "WarningKind"]
