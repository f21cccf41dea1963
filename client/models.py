"""What the library hands to integrators: contacts and messages, as frozen dataclasses.

Plaintext fields (``text``, names) are excluded from ``repr`` so that logging an object never logs what a
person wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DIRECTION_IN = "in"
DIRECTION_OUT = "out"

KIND_TEXT = "text"
KIND_ATTACHMENT = "attachment"
KIND_TIMER = "timer"

STATUS_PENDING = "pending"
"""Outgoing, stored locally, not yet accepted by the relay (it is sent on the next sync)."""
STATUS_SENT = "sent"
STATUS_FAILED = "failed"
"""Outgoing, refused by the relay for good (e.g. the recipient's delivery token was rotated); not retried."""
STATUS_DELIVERED = "delivered"
STATUS_READ = "read"
STATUS_UNREAD = "unread"
"""Incoming, not yet marked read (its disappearing timer has not started)."""

TRUST_UNVERIFIED = "unverified"
TRUST_VERIFIED = "verified"
TRUST_CHANGED = "identity-changed"


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What is known of an attachment: its name, type and size, and whether the file is held locally."""

    name: str = field(repr=False)
    mime: str
    size: int
    downloaded: bool
    caption: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Message:
    """One entry of a thread's history.

    ``message_id`` is the hex id both sides share; ``status`` is pending/sent/failed/delivered/read for outgoing and
    unread/read for incoming messages; ``unverified_identity`` flags a message that arrived while the peer's
    identity was changed and not yet accepted.
    """

    message_id: str
    peer: str = field(repr=False)
    direction: str
    kind: str
    text: str = field(repr=False)
    sent_at_ms: int
    received_at_ms: int
    status: str
    expire_after_s: int
    expires_at_ms: int | None
    attachment: AttachmentInfo | None = None
    unverified_identity: bool = False


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as the user sees it: local name, address, trust state and thread timer."""

    name: str = field(repr=False)
    address: str
    trust: str
    timer_s: int
    fingerprint: str | None
    can_send: bool
