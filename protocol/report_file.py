"""A report file: what a user hands the practice to report a message (SPEC 13.9).

An abuse report (SPEC 13.5) names franking keys; a practice acts on people. The report file adds who they
are: both identities with the bindings of their franking keys (SPEC 13.8), the judge key the message was
franked for, and when the user reported it::

    report_file = version u8 (=1) || judge_key(32) || sender_identity(128) || sender_binding(96)
                  || recipient_identity(128) || recipient_binding(96) || reported_at u64 || report var32

:func:`parse_report_file` checks the length bounds first, then every field (keys, identities, bindings, the
report), and raises only :class:`~confide.protocol.errors.MalformedFranking`. :meth:`ReportFile.review` is
the practice's verdict with its moderation key; it never raises. A report file proves something only to the
holder of the judge key (SPEC 13.7): to anyone else it is bytes anyone could have made.
"""

from __future__ import annotations

from dataclasses import dataclass

from confide.keys.address import Address
from confide.keys.errors import InvalidSignature, MalformedKey
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey

from .content import Content, Franked
from .document_bodies import MAX_TIMESTAMP
from .errors import MalformedFranking, RemoteProtocolError
from .franking import FrankingKeyPair, FrankingPublicKey
from .franking_binding import FRANKING_BINDING_LEN, FrankingBinding, franking_key_of
from .franking_group import POINT_LEN
from .franking_report import MAX_REPORT_LEN, REPORT_MIN_LEN, Report

REPORT_FILE_VERSION = 1
"""The first byte of a report file."""
_HEAD_LEN = 1 + POINT_LEN + 2 * (IDENTITY_PUBLIC_LEN + FRANKING_BINDING_LEN) + 8 + 4
REPORT_FILE_MIN_LEN = _HEAD_LEN + REPORT_MIN_LEN
"""915 bytes: a report file around a report of the empty message."""
MAX_REPORT_FILE_LEN = _HEAD_LEN + MAX_REPORT_LEN
"""66,450 bytes: a report file around the longest report (SPEC 13.5). A parser refuses anything longer before
reading further: the file comes from a user, who may have been handed it by anyone."""


@dataclass(frozen=True, slots=True)
class ReportVerdict:
    """What the practice learns from a report file with its moderation key.

    ``judge_matches``: the file names this judge key. ``sender_bound`` / ``recipient_bound``: the binding
    verifies for the named identity and its key is the one the report names. ``franking_holds``: Judge accepts
    the report (SPEC 13.4). ``content``: the reported message parsed (``None`` if it is not a content). Only
    when :attr:`authentic` may the practice conclude that ``sender_address`` sent exactly ``content`` to
    ``recipient_address``.
    """

    judge_matches: bool
    sender_bound: bool
    recipient_bound: bool
    franking_holds: bool
    sender_address: Address
    recipient_address: Address
    content: Content | None

    @property
    def authentic(self) -> bool:
        """All four checks hold."""
        return self.judge_matches and self.sender_bound and self.recipient_bound and self.franking_holds


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A report of one message with the identities behind its franking keys (see the module docstring).

    Raises:
        TypeError, ValueError: (on construction) a field of the wrong type or a ``reported_at`` out of range.
    """

    judge: FrankingPublicKey
    sender: IdentityPublicKey
    sender_binding: FrankingBinding
    recipient: IdentityPublicKey
    recipient_binding: FrankingBinding
    reported_at: int
    report: Report

    def __post_init__(self) -> None:
        if not isinstance(self.judge, FrankingPublicKey) or not isinstance(self.report, Report):
            raise TypeError("a report file holds a FrankingPublicKey judge and a Report")
        if not isinstance(self.sender, IdentityPublicKey) or not isinstance(self.recipient, IdentityPublicKey):
            raise TypeError("a report file names IdentityPublicKeys")
        bindings = (self.sender_binding, self.recipient_binding)
        if not all(isinstance(binding, FrankingBinding) for binding in bindings):
            raise TypeError("a report file holds FrankingBindings")
        if isinstance(self.reported_at, bool) or not isinstance(self.reported_at, int):
            raise TypeError("reported_at must be an int")
        if not 0 <= self.reported_at <= MAX_TIMESTAMP:
            raise ValueError(f"reported_at must be between 0 and {MAX_TIMESTAMP}")

    @classmethod
    def of_franked(
        cls, content: Content, *, sender: IdentityPublicKey, recipient: IdentityKeyPair, reported_at: int
    ) -> ReportFile:
        """The report file a recipient makes of a FRANKED ``content`` received from ``sender``.

        Raises:
            ValueError: ``content`` is not FRANKED, or ``reported_at`` is out of range (programmer mistakes).
        """
        body = content.body
        if not isinstance(body, Franked):
            raise ValueError("only a franked content can be reported")
        own = franking_key_of(recipient).public
        report = Report(body.binding.key, own, body.inner, body.franking)
        return cls(
            body.judge, sender, body.binding, recipient.public, FrankingBinding.bind(recipient), reported_at, report
        )

    def to_bytes(self) -> bytes:
        report = self.report.to_bytes()
        return b"".join(
            (
                bytes([REPORT_FILE_VERSION]),
                self.judge.to_bytes(),
                self.sender.to_bytes(),
                self.sender_binding.to_bytes(),
                self.recipient.to_bytes(),
                self.recipient_binding.to_bytes(),
                self.reported_at.to_bytes(8, "big"),
                len(report).to_bytes(4, "big"),
                report,
            )
        )

    def review(self, judge: FrankingKeyPair) -> ReportVerdict:
        """The practice's verdict with its moderation key ``judge`` (see :class:`ReportVerdict`). Never raises."""
        report = self.report
        sender_bound = self.sender_binding.holds_for(self.sender) and self.sender_binding.key == report.sender
        recipient_bound = (
            self.recipient_binding.holds_for(self.recipient) and self.recipient_binding.key == report.recipient
        )
        try:
            content: Content | None = Content.from_bytes(report.message)
        except RemoteProtocolError:
            content = None
        return ReportVerdict(
            judge_matches=judge.public == self.judge,
            sender_bound=sender_bound,
            recipient_bound=recipient_bound,
            franking_holds=report.review(judge),
            sender_address=self.sender.address,
            recipient_address=self.recipient.address,
            content=content,
        )

    def __repr__(self) -> str:
        return f"ReportFile(sender={self.sender.address.text}, recipient={self.recipient.address.text})"


def _identity(data: bytes) -> IdentityPublicKey:
    try:
        return IdentityPublicKey.from_bytes(data)
    except (MalformedKey, InvalidSignature):
        raise MalformedFranking("an identity in the report file is not a valid public identity") from None


def parse_report_file(data: bytes) -> ReportFile:
    """Parse a report file strictly: length bounds, version, judge key, identities (their certificates),
    bindings (their keys), the time, the report's length and the report itself. No signature is checked here
    (see :meth:`ReportFile.review`).

    Raises:
        MalformedFranking: too short or too long, unknown version, a key that is not a valid group element,
            an identity that is not self-consistent, a ``reported_at`` out of range, a report length that does
            not match the bytes present, or a malformed report.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedFranking("a report file is bytes")
    data = bytes(data)
    if not REPORT_FILE_MIN_LEN <= len(data) <= MAX_REPORT_FILE_LEN:
        raise MalformedFranking(f"a report file is {REPORT_FILE_MIN_LEN} to {MAX_REPORT_FILE_LEN} bytes")
    if data[0] != REPORT_FILE_VERSION:
        raise MalformedFranking(f"unknown report file version {data[0]}")
    at = 1
    fields = []
    for length in (
        POINT_LEN,
        IDENTITY_PUBLIC_LEN,
        FRANKING_BINDING_LEN,
        IDENTITY_PUBLIC_LEN,
        FRANKING_BINDING_LEN,
        8,
        4,
    ):
        fields.append(data[at : at + length])
        at += length
    judge_raw, sender_raw, sender_binding, recipient_raw, recipient_binding, reported_raw, length_raw = fields
    if int.from_bytes(length_raw, "big") != len(data) - _HEAD_LEN:
        raise MalformedFranking("a report file's length does not match its report's length")
    reported_at = int.from_bytes(reported_raw, "big")
    if reported_at > MAX_TIMESTAMP:
        raise MalformedFranking("a report file's time is out of range")
    return ReportFile(
        FrankingPublicKey.from_bytes(judge_raw),
        _identity(sender_raw),
        FrankingBinding.from_bytes(sender_binding),
        _identity(recipient_raw),
        FrankingBinding.from_bytes(recipient_binding),
        reported_at,
        Report.from_bytes(data[_HEAD_LEN:]),
    )


__all__ = [
    "MAX_REPORT_FILE_LEN",
    "REPORT_FILE_MIN_LEN",
    "REPORT_FILE_VERSION",
    "ReportFile",
    "ReportVerdict",
    "parse_report_file",
]
