"""The bodies of signed practice documents that hold no other document: credential, revocation list,
availability card, practice policy and device list (the directory, which holds credentials and cards, is in
:mod:`confide.protocol.documents`). Layouts (all integers big-endian; ``varN`` = N-bit length, then bytes)::

    credential    = therapist(128) || credential_id(16) || not_before u64 || not_after u64
                    || display_name var8 || licence_number var8 || licensing_body var8 || jurisdiction var8
    revocations   = count u16 || (credential_id(16) || revoked_at u64) * count      ids strictly ascending
    availability  = time_zone var8 || reply_within_s u32 || count u8 || (day u8 || start u16 || end u16) * count
                    || has_away u8 || [away_from u64 || away_until u64 || note var16]
    policy        = practice_name var8 || crisis_notice var16 || count u8 || (label var8 || number var8) * count
                    || moderation_key(32)
    devices       = count u8 (1..MAX_DEVICES) || (device_cert(96) || added_at u64 || origin u8) * count
                    device ids distinct; each certificate verified against the signer in receiving-rule step 3

Every body is canonical (one byte string per value). Building a value outside the rules raises
``ValueError`` (texts are normalised to NFC first); :meth:`from_bytes` refuses anything else with
:class:`DocumentError`. Texts follow :mod:`confide.protocol.document_text`.
"""

from __future__ import annotations

import enum
import itertools
import string
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from confide.keys.device import DEVICE_CERT_LEN, DeviceCertificate
from confide.keys.encoding import Reader, Writer
from confide.keys.errors import InvalidSignature, MalformedKey
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityPublicKey, ed25519_public

from . import document_text as text
from .document_errors import DocumentError, DocumentSignatureError
from .errors import MalformedFranking
from .franking import FrankingPublicKey
from .franking_group import POINT_LEN

CREDENTIAL_ID_LEN = 16
"""128 random bits: credential ids never collide by chance, so a revocation list can name one."""
MAX_TIMESTAMP = 253_370_764_800
"""Latest time a document may name (9999-01-01 00:00 UTC, unix seconds): every date stays inside Python's
``datetime`` range even a week later, so computing office hours or showing a date can never overflow."""
MAX_DISPLAY_NAME_BYTES = 128
"""A therapist's or practice's name with titles and post-nominals (``Dr. Ana María Rivera-Castillo, PsyD,
LMFT`` is 41 bytes) fits three times over; it is shown on one line of a list."""
MAX_LICENCE_NUMBER_BYTES = 64
"""Licence numbers are short registry identifiers (a US state board's ``PSY 12345``, the UK HCPC's
``PYL12345``); 64 leaves room for prefixes without letting the field carry prose."""
MAX_LICENSING_BODY_BYTES = 128
"""The name of a board or register (``California Board of Behavioral Sciences`` is 39 bytes)."""
MAX_JURISDICTION_BYTES = 64
"""A state, province or country (``US-CA``, ``England and Wales``, ``Nordrhein-Westfalen``)."""
MAX_REVOCATIONS = 4096
"""Credential ids in one revocation list (96 KiB at most). A practice drops an id once its credential is past
``not_after`` (an expired credential is refused anyway), so the list only holds revoked credentials still
inside their validity: thousands cover a large practice for years."""
MAX_TIME_ZONE_BYTES = 64
"""An IANA time zone name: the longest today is 32 characters (``America/Argentina/ComodRivadavia``)."""
MAX_OFFICE_HOURS = 28
"""Weekly office-hour blocks on a card: four a day (a split day with breaks), seven days a week."""
MINUTES_PER_DAY = 24 * 60
"""Office hours are minutes after local midnight: a block ends at most at the next midnight (1440)."""
MAX_REPLY_S = 30 * 24 * 3600
"""Longest promised reply time: 30 days. A longer promise is not a working arrangement, and the bound keeps
display arithmetic small."""
MAX_AWAY_S = 366 * 24 * 3600
"""Longest out-of-office period on one card: a year (sabbatical, parental leave). Longer is not an absence
but a therapist who no longer practises, which the practice says by removing them from its directory."""
MAX_AWAY_NOTE_BYTES = 1024
"""An out-of-office note: a paragraph or two (who covers, whom to write to), readable before writing."""
MAX_CRISIS_NOTICE_BYTES = 2048
"""The crisis notice: a few short paragraphs a person in distress can read on a phone before writing; the
numbers go in their own entries."""
MAX_CRISIS_CONTACTS = 16
"""Crisis entries: a national line, a text line, emergency services and local alternatives for a few
jurisdictions a practice serves."""
MAX_CRISIS_LABEL_BYTES = 64
"""A crisis entry's label (``988 Suicide & Crisis Lifeline``), one short line."""
MAX_CRISIS_NUMBER_BYTES = 64
"""A crisis entry's number as the practice writes it: a phone number with country code and extension, or
an instruction such as ``Text HOME to 741741``."""
MODERATION_KEY_LEN = POINT_LEN
"""The practice's moderation (judge) key in a policy: a franking public key, one group element (SPEC 13.2)."""
MAX_DEVICES = 6
"""Devices of one identity (SPEC 12, DEVICES): an office laptop, a home computer, a phone and a tablet, plus room
to link a replacement before removing the lost one. Each message is sealed once per device of both sides (the
peer's and the sender's own others), so 6 + 5 envelopes bound the fan-out of one message; a list is at most
6 x 105 bytes."""
DEVICE_ENTRY_LEN = DEVICE_CERT_LEN + 8 + 1
"""One entry of a device list: the certificate, ``added_at`` and ``origin`` (105 bytes)."""

_ZONE_ALPHABET = frozenset(string.ascii_letters + string.digits + "_+-/")
"""The characters of IANA time zone names (``America/Port-au-Prince``, ``Etc/GMT+5``)."""
_U64_MAX = 2**64 - 1


class Weekday(enum.IntEnum):
    """The ``day`` of an office-hours block, as :meth:`datetime.date.weekday` numbers it."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


def check_int(what: str, value: int, low: int, high: int) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``value`` is an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"the {what} must be an int")
    if not low <= value <= high:
        raise ValueError(f"the {what} must be between {low} and {high}")


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def time_zone(name: str) -> ZoneInfo:
    """Load an IANA time zone by name, refusing anything that is not one (paths, odd characters).

    Raises:
        ValueError: not a known IANA time zone name of at most :data:`MAX_TIME_ZONE_BYTES` characters.
    """
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_TIME_ZONE_BYTES or not set(name) <= _ZONE_ALPHABET:
        raise ValueError("not an IANA time zone name")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True, slots=True)
class Credential:
    """A practice's statement that ``therapist`` is licensed: the body of a CREDENTIAL document.

    Valid from ``not_before`` (inclusive) to ``not_after`` (exclusive), unix seconds. ``credential_id`` (16
    random bytes) is what a revocation list names.
    """

    therapist: IdentityPublicKey
    credential_id: bytes
    display_name: str
    licence_number: str
    licensing_body: str
    jurisdiction: str
    not_before: int
    not_after: int

    def __post_init__(self) -> None:
        if not isinstance(self.therapist, IdentityPublicKey):
            raise TypeError("the therapist must be an IdentityPublicKey")
        if not isinstance(self.credential_id, bytes) or len(self.credential_id) != CREDENTIAL_ID_LEN:
            raise ValueError(f"a credential id is {CREDENTIAL_ID_LEN} bytes")
        _set(self, "display_name", text.normalise("display name", self.display_name, MAX_DISPLAY_NAME_BYTES))
        licence = text.normalise("licence number", self.licence_number, MAX_LICENCE_NUMBER_BYTES)
        _set(self, "licence_number", licence)
        body = text.normalise("licensing body", self.licensing_body, MAX_LICENSING_BODY_BYTES)
        _set(self, "licensing_body", body)
        _set(self, "jurisdiction", text.normalise("jurisdiction", self.jurisdiction, MAX_JURISDICTION_BYTES))
        check_int("not_before", self.not_before, 0, MAX_TIMESTAMP - 1)
        check_int("not_after", self.not_after, self.not_before + 1, MAX_TIMESTAMP)

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .raw(self.therapist.to_bytes())
            .raw(self.credential_id)
            .u64(self.not_before)
            .u64(self.not_after)
            .var8(self.display_name.encode())
            .var8(self.licence_number.encode())
            .var8(self.licensing_body.encode())
            .var8(self.jurisdiction.encode())
            .bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Credential:
        """Parse a credential body (the therapist's identity certificate is verified).

        Raises:
            DocumentError: malformed, a text rule broken, a limit exceeded or ``not_after <= not_before``.
            DocumentSignatureError: the therapist's public identity is not self-consistent.
        """
        r = Reader(data, DocumentError)
        therapist = identity_from(r.raw(IDENTITY_PUBLIC_LEN))
        credential_id, not_before, not_after = r.raw(CREDENTIAL_ID_LEN), r.u64(), r.u64()
        name = text.decode("display name", r.var8(MAX_DISPLAY_NAME_BYTES), MAX_DISPLAY_NAME_BYTES)
        licence = text.decode("licence number", r.var8(MAX_LICENCE_NUMBER_BYTES), MAX_LICENCE_NUMBER_BYTES)
        board = text.decode("licensing body", r.var8(MAX_LICENSING_BODY_BYTES), MAX_LICENSING_BODY_BYTES)
        place = text.decode("jurisdiction", r.var8(MAX_JURISDICTION_BYTES), MAX_JURISDICTION_BYTES)
        r.end()
        try:
            return cls(therapist, credential_id, name, licence, board, place, not_before, not_after)
        except ValueError as exc:
            raise DocumentError(f"invalid credential: {exc}") from None


def identity_from(data: bytes) -> IdentityPublicKey:
    """A public identity inside a document.

    Raises:
        DocumentError: wrong length.
        DocumentSignatureError: its agreement key is not certified by its signing key.
    """
    try:
        return IdentityPublicKey.from_bytes(data)
    except MalformedKey:
        raise DocumentError("a public identity in the document is malformed") from None
    except InvalidSignature:
        raise DocumentSignatureError("a public identity in the document is not self-consistent") from None


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revoked credential and when the practice revoked it (unix seconds; informational)."""

    credential_id: bytes
    revoked_at: int

    def __post_init__(self) -> None:
        if not isinstance(self.credential_id, bytes) or len(self.credential_id) != CREDENTIAL_ID_LEN:
            raise ValueError(f"a credential id is {CREDENTIAL_ID_LEN} bytes")
        check_int("revoked_at", self.revoked_at, 0, MAX_TIMESTAMP)


@dataclass(frozen=True, slots=True)
class RevocationList:
    """The body of a REVOCATIONS document: revoked credential ids, strictly ascending (so unique)."""

    revoked: tuple[Revocation, ...]

    def __post_init__(self) -> None:
        _set(self, "revoked", tuple(self.revoked))
        if len(self.revoked) > MAX_REVOCATIONS:
            raise ValueError(f"a revocation list names at most {MAX_REVOCATIONS} credentials")
        ids = [r.credential_id for r in self.revoked]
        if any(a >= b for a, b in itertools.pairwise(ids)):
            raise ValueError("revoked credential ids must be sorted and unique")

    @classmethod
    def of(cls, revoked: dict[bytes, int]) -> RevocationList:
        """A list from ``{credential_id: revoked_at}`` (sorted for you)."""
        return cls(tuple(Revocation(cid, at) for cid, at in sorted(revoked.items())))

    def revoked_at(self, credential_id: bytes) -> int | None:
        """When ``credential_id`` was revoked, or ``None`` if it is not on the list."""
        for entry in self.revoked:
            if entry.credential_id == credential_id:
                return entry.revoked_at
        return None

    def to_bytes(self) -> bytes:
        w = Writer().u16(len(self.revoked))
        for entry in self.revoked:
            w.raw(entry.credential_id).u64(entry.revoked_at)
        return w.bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> RevocationList:
        """Parse a revocation list body.

        Raises:
            DocumentError: malformed, more than :data:`MAX_REVOCATIONS` ids, or ids not strictly ascending.
        """
        r = Reader(data, DocumentError)
        count = r.u16()
        if count > MAX_REVOCATIONS:
            raise DocumentError("the revocation list is longer than allowed")
        entries = []
        for _ in range(count):
            credential_id, revoked_at = r.raw(CREDENTIAL_ID_LEN), r.u64()
            entries.append((credential_id, revoked_at))
        r.end()
        try:
            return cls(tuple(Revocation(cid, at) for cid, at in entries))
        except ValueError as exc:
            raise DocumentError(f"invalid revocation list: {exc}") from None


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """One weekly block in the therapist's own time zone: ``day`` (a :class:`Weekday`, 0 = Monday), from
    ``start`` to ``end`` minutes after local midnight (``start < end <= 1440``)."""

    day: int
    start: int
    end: int

    def __post_init__(self) -> None:
        check_int("day", self.day, 0, 6)
        _set(self, "day", Weekday(self.day))
        check_int("start", self.start, 0, MINUTES_PER_DAY - 1)
        check_int("end", self.end, self.start + 1, MINUTES_PER_DAY)


@dataclass(frozen=True, slots=True)
class AwayNote:
    """Out of office from ``starts_at`` (inclusive) to ``ends_at`` (exclusive), unix seconds, with a note
    (a paragraph; may be empty)."""

    starts_at: int
    ends_at: int
    note: str = ""

    def __post_init__(self) -> None:
        check_int("away start", self.starts_at, 0, MAX_TIMESTAMP - 1)
        check_int("away end", self.ends_at, self.starts_at + 1, min(MAX_TIMESTAMP, self.starts_at + MAX_AWAY_S))
        _set(self, "note", text.normalise("away note", self.note, MAX_AWAY_NOTE_BYTES, paragraph=True, empty=True))


@dataclass(frozen=True, slots=True)
class AvailabilityCard:
    """The body of an AVAILABILITY document, signed by the therapist: office hours in an IANA ``time_zone``,
    sorted by day then start and not overlapping; the usual reply time; an optional out-of-office period."""

    time_zone: str
    hours: tuple[OfficeHours, ...]
    reply_within_s: int
    away: AwayNote | None = None

    def __post_init__(self) -> None:
        time_zone(self.time_zone)
        _set(self, "hours", tuple(self.hours))
        if len(self.hours) > MAX_OFFICE_HOURS:
            raise ValueError(f"a card lists at most {MAX_OFFICE_HOURS} office-hour blocks")
        for a, b in itertools.pairwise(self.hours):
            if (a.day, a.start) >= (b.day, b.start) or (a.day == b.day and a.end > b.start):
                raise ValueError("office hours must be sorted by day and start, and must not overlap")
        check_int("reply time", self.reply_within_s, 1, MAX_REPLY_S)
        if self.away is not None and not isinstance(self.away, AwayNote):
            raise TypeError("away must be an AwayNote or None")

    @property
    def zone(self) -> ZoneInfo:
        """The card's time zone, loaded."""
        return time_zone(self.time_zone)

    def to_bytes(self) -> bytes:
        w = Writer().var8(self.time_zone.encode()).u32(self.reply_within_s).u8(len(self.hours))
        for block in self.hours:
            w.u8(block.day).u16(block.start).u16(block.end)
        if self.away is None:
            return w.u8(0).bytes()
        return w.u8(1).u64(self.away.starts_at).u64(self.away.ends_at).var16(self.away.note.encode()).bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> AvailabilityCard:
        """Parse an availability card body.

        Raises:
            DocumentError: malformed, an unknown time zone, office hours out of order or overlapping, a text
                rule broken or a limit exceeded.
        """
        r = Reader(data, DocumentError)
        zone = r.var8(MAX_TIME_ZONE_BYTES)
        reply, count = r.u32(), r.u8()
        if count > MAX_OFFICE_HOURS:
            raise DocumentError("the card lists more office hours than allowed")
        blocks = [(r.u8(), r.u16(), r.u16()) for _ in range(count)]
        flag = r.u8()
        away_raw: tuple[int, int, str] | None = None
        if flag == 1:
            starts, ends = r.u64(), r.u64()
            note = text.decode(
                "away note", r.var16(MAX_AWAY_NOTE_BYTES), MAX_AWAY_NOTE_BYTES, paragraph=True, empty=True
            )
            away_raw = (starts, ends, note)
        elif flag != 0:
            raise DocumentError("the away flag is neither 0 nor 1")
        r.end()
        try:
            name = zone.decode("ascii")
            hours = tuple(OfficeHours(d, s, e) for d, s, e in blocks)
            away = AwayNote(*away_raw) if away_raw is not None else None
            return cls(name, hours, reply, away)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DocumentError(f"invalid availability card: {exc}") from None


@dataclass(frozen=True, slots=True)
class CrisisContact:
    """One line of the crisis notice: a label and a number, as the practice writes them."""

    label: str
    number: str

    def __post_init__(self) -> None:
        _set(self, "label", text.normalise("crisis label", self.label, MAX_CRISIS_LABEL_BYTES))
        _set(self, "number", text.normalise("crisis number", self.number, MAX_CRISIS_NUMBER_BYTES))


@dataclass(frozen=True, slots=True)
class PracticePolicy:
    """The body of a POLICY document: the practice's name and its crisis notice (text and numbers the
    practice supplies; Confide hard-codes none), shown when a thread starts and outside office hours, and the
    practice's ``moderation_key``: the franking public key of its judge (SPEC 13.2), for which its clients
    frank messages and to which they report them. ``moderation_key`` is keyword-only (it follows the contacts
    on the wire)."""

    practice_name: str
    crisis_notice: str
    crisis_contacts: tuple[CrisisContact, ...] = ()
    moderation_key: FrankingPublicKey = field(kw_only=True)

    def __post_init__(self) -> None:
        _set(self, "practice_name", text.normalise("practice name", self.practice_name, MAX_DISPLAY_NAME_BYTES))
        notice = text.normalise("crisis notice", self.crisis_notice, MAX_CRISIS_NOTICE_BYTES, paragraph=True)
        _set(self, "crisis_notice", notice)
        _set(self, "crisis_contacts", tuple(self.crisis_contacts))
        if len(self.crisis_contacts) > MAX_CRISIS_CONTACTS:
            raise ValueError(f"a policy lists at most {MAX_CRISIS_CONTACTS} crisis contacts")
        if not isinstance(self.moderation_key, FrankingPublicKey):
            raise TypeError("the moderation key must be a FrankingPublicKey")

    def to_bytes(self) -> bytes:
        w = Writer().var8(self.practice_name.encode()).var16(self.crisis_notice.encode())
        w.u8(len(self.crisis_contacts))
        for contact in self.crisis_contacts:
            w.var8(contact.label.encode()).var8(contact.number.encode())
        return w.raw(self.moderation_key.to_bytes()).bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> PracticePolicy:
        """Parse a practice policy body.

        Raises:
            DocumentError: malformed, a text rule broken, a limit exceeded, or a moderation key that is not a
                valid franking public key (a canonical point of the prime-order group).
        """
        r = Reader(data, DocumentError)
        name = text.decode("practice name", r.var8(MAX_DISPLAY_NAME_BYTES), MAX_DISPLAY_NAME_BYTES)
        notice = text.decode("crisis notice", r.var16(MAX_CRISIS_NOTICE_BYTES), MAX_CRISIS_NOTICE_BYTES, paragraph=True)
        count = r.u8()
        if count > MAX_CRISIS_CONTACTS:
            raise DocumentError("the policy lists more crisis contacts than allowed")
        contacts = []
        for _ in range(count):
            label = text.decode("crisis label", r.var8(MAX_CRISIS_LABEL_BYTES), MAX_CRISIS_LABEL_BYTES)
            number = text.decode("crisis number", r.var8(MAX_CRISIS_NUMBER_BYTES), MAX_CRISIS_NUMBER_BYTES)
            contacts.append((label, number))
        key_bytes = r.raw(MODERATION_KEY_LEN)
        r.end()
        try:
            key = FrankingPublicKey.from_bytes(key_bytes)
        except MalformedFranking:
            raise DocumentError("the policy's moderation key is not a valid franking public key") from None
        try:
            return cls(
                name, notice, tuple(CrisisContact(label, number) for label, number in contacts), moderation_key=key
            )
        except ValueError as exc:
            raise DocumentError(f"invalid policy: {exc}") from None


class DeviceOrigin(enum.IntEnum):
    """How a device came into an identity's device list (the ``origin`` byte of an entry)."""

    FIRST = 1
    """The device the identity was created on."""
    LINKED = 2
    """Linked by an existing device (``confide devices approve``)."""
    RESTORED = 3
    """A restore from the recovery backup: the owner's other devices say so, in case it was not them."""


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """One device of an identity: its ``certificate`` (SPEC 1), when it was added (unix seconds) and how
    (:class:`DeviceOrigin`). Building one does not verify the certificate: the list's signer is not known
    here; :func:`~confide.protocol.documents.parse_document` verifies it against the signer."""

    certificate: DeviceCertificate
    added_at: int
    origin: DeviceOrigin

    def __post_init__(self) -> None:
        if not isinstance(self.certificate, DeviceCertificate):
            raise TypeError("a device entry holds a DeviceCertificate")
        check_int("added_at", self.added_at, 0, MAX_TIMESTAMP)
        check_int("origin", self.origin, min(DeviceOrigin), max(DeviceOrigin))
        _set(self, "origin", DeviceOrigin(self.origin))

    @property
    def device_id(self) -> bytes:
        """The device's 16-byte id (from its certificate)."""
        return self.certificate.device_id


def unverified_certificate(data: bytes) -> DeviceCertificate:
    """A 96-byte device certificate, split and loaded but not verified (its signer is checked later).

    Raises:
        DocumentError: not 96 bytes, or a public key that does not load.
    """
    if len(data) != DEVICE_CERT_LEN:
        raise DocumentError(f"a device certificate is {DEVICE_CERT_LEN} bytes")
    public, signature = bytes(data[:32]), bytes(data[32:])
    try:
        return DeviceCertificate(public, signature, ed25519_public(public))
    except MalformedKey:  # pragma: no cover - any 32 bytes load today
        raise DocumentError("a device public key in the list is malformed") from None


@dataclass(frozen=True, slots=True)
class DeviceList:
    """The body of a DEVICES document, signed by the identity it lists devices of: 1 to :data:`MAX_DEVICES`
    entries in the order they were added, no device twice. Device names are never in it."""

    entries: tuple[DeviceEntry, ...]

    def __post_init__(self) -> None:
        _set(self, "entries", tuple(self.entries))
        if not 1 <= len(self.entries) <= MAX_DEVICES:
            raise ValueError(f"a device list names 1 to {MAX_DEVICES} devices")
        if not all(isinstance(e, DeviceEntry) for e in self.entries):
            raise TypeError("a device list holds DeviceEntry values")
        if len({e.device_id for e in self.entries}) != len(self.entries):
            raise ValueError("a device list names each device once")

    @property
    def device_ids(self) -> tuple[bytes, ...]:
        """The listed devices' ids, in list order."""
        return tuple(e.device_id for e in self.entries)

    def to_bytes(self) -> bytes:
        w = Writer().u8(len(self.entries))
        for entry in self.entries:
            w.raw(entry.certificate.to_bytes()).u64(entry.added_at).u8(entry.origin)
        return w.bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceList:
        """Parse a device list body; the certificates are not verified here (receiving-rule step 3 does).

        Raises:
            DocumentError: malformed, no device or more than :data:`MAX_DEVICES`, an unknown origin, an
                ``added_at`` past :data:`MAX_TIMESTAMP`, or a device listed twice.
        """
        r = Reader(data, DocumentError)
        count = r.u8()
        if not 1 <= count <= MAX_DEVICES:
            raise DocumentError(f"a device list names 1 to {MAX_DEVICES} devices")
        raw = [(unverified_certificate(r.raw(DEVICE_CERT_LEN)), r.u64(), r.u8()) for _ in range(count)]
        r.end()
        try:
            return cls(tuple(DeviceEntry(cert, at, DeviceOrigin(origin)) for cert, at, origin in raw))
        except ValueError as exc:
            raise DocumentError(f"invalid device list: {exc}") from None
