"""An abuse report: what a recipient hands to the practice's moderation key (SPEC 13.5).

Layout (version 1)::

    0x01 || sender franking key (32) || recipient franking key (32) || u32be len || message (len) || franking (353)

The parser checks length, version, the message bound and every key and signature field before any
cryptography; :meth:`Report.review` then runs :func:`~confide.protocol.franking.judge`. A report is only as
convincing as the judge's secret key: to anyone else it is bytes anybody could have made (``forge``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import franking_group as grp
from .errors import MalformedFranking
from .franking import (
    FRANKING_LEN,
    MAX_FRANKED_MESSAGE,
    Franking,
    FrankingKeyPair,
    FrankingPublicKey,
    judge,
)

REPORT_VERSION = 1
"""The first byte of an abuse report."""
_LEN_LEN = 4
_HEAD_LEN = 1 + 2 * grp.POINT_LEN + _LEN_LEN
REPORT_MIN_LEN = _HEAD_LEN + FRANKING_LEN
"""422 bytes: a report of the empty message."""
MAX_REPORT_LEN = REPORT_MIN_LEN + MAX_FRANKED_MESSAGE
"""65,957 bytes: a report of the longest message that can be franked; a parser refuses anything longer before
reading it further (a report comes from a peer, or from a file a user was handed)."""


@dataclass(frozen=True)
class Report:
    """A recipient's report of one message: who sent it (franking key), to whom, the exact bytes, the signature.

    Raises:
        MalformedFranking: (on construction) ``message`` is longer than :data:`MAX_FRANKED_MESSAGE` or not bytes.
    """

    sender: FrankingPublicKey
    recipient: FrankingPublicKey
    message: bytes = field(repr=False)
    franking: Franking = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.message, bytes) or len(self.message) > MAX_FRANKED_MESSAGE:
            raise MalformedFranking(f"a reported message is bytes, at most {MAX_FRANKED_MESSAGE}")
        if not isinstance(self.sender, FrankingPublicKey) or not isinstance(self.recipient, FrankingPublicKey):
            raise TypeError("a report names franking public keys")
        if not isinstance(self.franking, Franking):
            raise TypeError("a report carries a Franking")

    @classmethod
    def from_bytes(cls, data: bytes) -> Report:
        """Parse a report strictly: total length bounds, version, both keys, message length, signature.

        Raises:
            MalformedFranking: too short or too long, unknown version, a key that is not a valid group element,
                a message length over :data:`MAX_FRANKED_MESSAGE` or not matching the bytes present, or a
                malformed signature.
        """
        data = bytes(data)
        if not REPORT_MIN_LEN <= len(data) <= MAX_REPORT_LEN:
            raise MalformedFranking(f"a report is {REPORT_MIN_LEN} to {MAX_REPORT_LEN} bytes, not {len(data)}")
        if data[0] != REPORT_VERSION:
            raise MalformedFranking(f"unknown report version {data[0]}")
        p = grp.POINT_LEN
        sender = FrankingPublicKey.from_bytes(data[1 : 1 + p])
        recipient = FrankingPublicKey.from_bytes(data[1 + p : 1 + 2 * p])
        length = int.from_bytes(data[1 + 2 * p : _HEAD_LEN], "big")
        if length > MAX_FRANKED_MESSAGE:
            raise MalformedFranking(f"a reported message is at most {MAX_FRANKED_MESSAGE} bytes")
        if len(data) != REPORT_MIN_LEN + length:
            raise MalformedFranking("a report's length does not match its message length")
        message = data[_HEAD_LEN : _HEAD_LEN + length]
        franking = Franking.from_bytes(data[_HEAD_LEN + length :])
        return cls(sender, recipient, message, franking)

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                bytes([REPORT_VERSION]),
                self.sender.to_bytes(),
                self.recipient.to_bytes(),
                len(self.message).to_bytes(_LEN_LEN, "big"),
                self.message,
                self.franking.to_bytes(),
            )
        )

    def review(self, judge_key: FrankingKeyPair) -> bool:
        """The moderator's verdict: whether ``sender`` really sent exactly ``message`` to ``recipient``.

        Only the holder of ``judge_key`` (the practice's moderation key the message was franked for) can reach
        it; ``False`` for altered text, another sender or recipient, another judge, or a report the recipient
        built alone. Never raises.
        """
        return judge(judge_key, self.sender, self.recipient, self.message, self.franking)

    def __repr__(self) -> str:
        return (
            f"Report(sender={self.sender.fingerprint()}, recipient={self.recipient.fingerprint()}, "
            f"{len(self.message)} bytes)"
        )
