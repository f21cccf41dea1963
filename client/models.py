"""What the library hands to integrators: contacts and messages as frozen dataclasses, and the closed value
sets they use as ``StrEnum``\\ s.

Each enum member *is* its string (``MessageStatus.SENT == "sent"``), so stored values, JSON and comparisons
with plain strings keep working. Plaintext fields (``text``, names) are excluded from ``repr`` so that
logging an object never logs what a person wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Direction(StrEnum):
    """Which way a message went."""

    IN = "in"
    OUT = "out"


class MessageKind(StrEnum):
    """What a thread entry is."""

    TEXT = "text"
    ATTACHMENT = "attachment"
    TIMER = "timer"
    """The thread's disappearing timer was changed (by either side)."""


class MessageStatus(StrEnum):
    """Where a message stands. Outgoing: pending → sent → delivered → read, or failed. Incoming: unread → read."""

    PENDING = "pending"
    """Outgoing, stored locally and queued (see :meth:`Client.queued`); sent on the next sync or flush."""
    SENT = "sent"
    """Outgoing, accepted by the relay."""
    FAILED = "failed"
    """Outgoing, refused by the relay for good (e.g. the recipient's delivery token was rotated); not retried.
    :attr:`Message.failure` says why."""
    DELIVERED = "delivered"
    """Outgoing, the peer's device confirmed it stored the message."""
    READ = "read"
    """Outgoing: the peer read it. Incoming: this person read it (its disappearing timer has started)."""
    UNREAD = "unread"
    """Incoming, not yet marked read (its disappearing timer has not started)."""


class Trust(StrEnum):
    """How far a contact's identity is trusted."""

    UNVERIFIED = "unverified"
    """Pinned on first use; safety numbers not compared yet."""
    VERIFIED = "verified"
    """Safety numbers compared (in person, on a call, or by scanning)."""
    CHANGED = "identity-changed"
    """A different identity appeared under this contact: sending is blocked until it is verified or accepted."""


class Role(StrEnum):
    """The kinds of profile. The role is local information (shown in ``whoami``), never sent."""

    CLIENT = "client"
    THERAPIST = "therapist"
    PRACTICE = "practice"
    """A practice's own profile (``confide practice init``): it signs credentials, directories, revocation lists
    and its policy, and reviews abuse reports with its moderation key."""


ROLES: tuple[str, ...] = (Role.CLIENT, Role.THERAPIST)
"""The role names a person picks for their profile, for argument parsers (a practice profile is made by
``confide practice init``)."""


class ProviderStatus(StrEnum):
    """Whether a contact is a verified provider of a practice this profile trusts (:attr:`Contact.provider`),
    from the most to the least serious warning; only ``verified`` is good news."""

    OTHER_KEY = "other_key"
    """The credential shown for this contact was issued to another identity key: this is not that therapist."""
    REVOKED = "revoked"
    """The practice revoked the credential."""
    EXPIRED = "expired"
    """The credential (or the document carrying it) is past its validity."""
    NOT_YET_VALID = "not_yet_valid"
    """The credential's validity has not started."""
    UNTRUSTED_PRACTICE = "untrusted_practice"
    """A credential signed by a practice this profile has not pinned: it proves nothing here."""
    MISSING = "missing"
    """No credential from any practice this profile trusts names this contact."""
    REVOCATIONS_STALE = "revocations_stale"
    """Otherwise valid, but the practice's revocation list is missing or past its expiry, so a revocation may be
    hidden (a relay serving an old list); refresh, and treat with caution until it is current."""
    VERIFIED = "verified"
    """A current credential from a trusted practice, issued to exactly this contact's identity key."""


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What a trusted practice says about a contact (:attr:`Contact.provider`).

    ``status`` is the verdict; the credential's details (empty strings and zeros when ``status`` is ``missing``)
    are ``display_name``, ``licence_number``, ``licensing_body``, ``jurisdiction``, ``not_before`` and
    ``not_after`` (unix seconds); ``practice_name`` and ``practice_address`` name the practice that signed it
    (from its signed policy; empty when unknown). Every text is the practice's own words: escape before display.
    """

    status: ProviderStatus
    practice_name: str = field(default="", repr=False)
    practice_address: str = field(default="", repr=False)
    display_name: str = field(default="", repr=False)
    licence_number: str = field(default="", repr=False)
    licensing_body: str = field(default="", repr=False)
    jurisdiction: str = field(default="", repr=False)
    not_before: int = 0
    not_after: int = 0

    @property
    def verified(self) -> bool:
        """Only a ``verified`` status is good news."""
        return self.status == ProviderStatus.VERIFIED


OUTGOING_RANK: dict[MessageStatus, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}
"""Order of the outgoing statuses a receipt may move a message along (never backwards)."""


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

    ``message_id`` is the hex id both sides share; ``status`` is a :class:`MessageStatus`;
    ``unverified_identity`` flags a message that arrived while the peer's identity was changed and not yet
    accepted; ``failure`` is the relay's reason when ``status`` is ``failed`` (else empty). ``filed_by_peer``:
    the peer told us they filed this message into their record of you (:class:`MessageFiled`); ``filed_here``:
    you filed it into your record of the peer (:meth:`Client.file`). ``reportable``: a received message franked
    for the moderation key of a practice you trust, whose franking held (:meth:`Client.report`).
    """

    message_id: str
    peer: str = field(repr=False)
    direction: Direction
    kind: MessageKind
    text: str = field(repr=False)
    sent_at_ms: int
    received_at_ms: int
    status: MessageStatus
    expire_after_s: int
    expires_at_ms: int | None
    attachment: AttachmentInfo | None = None
    unverified_identity: bool = False
    failure: str = ""
    filed_by_peer: bool = False
    filed_here: bool = False
    reportable: bool = False


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """One message filed into a contact's record (:meth:`Client.file`): a copy kept on this device outside the
    thread, which no disappearing timer, delete-for-everyone or thread deletion removes.

    ``peer`` is the contact's name when it was filed, ``address`` their address; ``direction``, ``kind``,
    ``text`` (the caption of a file) and ``sent_at_ms`` are the message's; ``filed_at_ms`` is when it was
    filed; ``attachment`` describes a filed file (``downloaded`` is always True: its bytes are in the record,
    encrypted under the record's own key; :meth:`Client.save_record_file` writes them out). ``kept_after_delete``:
    the sender deleted it for everyone afterwards; the record copy stayed (and they were told).
    """

    message_id: str
    peer: str = field(repr=False)
    address: str = field(repr=False)
    direction: Direction
    kind: MessageKind
    text: str = field(repr=False)
    sent_at_ms: int
    filed_at_ms: int
    attachment: AttachmentInfo | None = None
    kept_after_delete: bool = False


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as the user sees it: local name, address, trust state and thread timer."""

    name: str = field(repr=False)
    address: str
    trust: Trust
    timer_s: int
    fingerprint: str | None
    can_send: bool
    request: bool = False
    """A stranger wrote first and the user has not accepted them yet (:meth:`Client.accept_contact`, a reply,
    a rename or their invite accept it): until then no delivery or read receipts tell them this device is
    active."""
    blocked: bool = False
    """Blocked (:meth:`Client.block`): the relay refuses their delivery token, and whatever still reaches this
    device from them is dropped unread; :meth:`Client.unblock` restores delivery."""
    provider: ProviderInfo | None = None
    """Whether they are a verified provider of a practice this profile trusts (:class:`ProviderInfo`); None when
    there is nothing to say (this profile trusts no practice and holds no credential for them)."""


@dataclass(frozen=True, slots=True)
class QueuedItem:
    """One envelope waiting in the outbox (see :meth:`Client.queued`).

    ``message_id`` names the thread entry it carries (``None`` for receipts, deletions and other control
    messages); ``peer`` is the contact's local name (empty if the contact is gone); ``kind`` is ``"message"``
    or ``"control"``; ``queued_at_ms`` is when it was encrypted and queued.
    """

    message_id: str | None
    peer: str = field(repr=False)
    kind: str
    queued_at_ms: int


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """One thread as an inbox shows it (:meth:`Client.threads`).

    ``contact`` is the contact (with :attr:`Contact.provider`); ``last_activity_ms`` is when the thread's newest
    message was stored on this device (sent from it, or received), None for a thread with no message;
    ``last_message`` is that message (its text is the preview; None without one); ``unread`` counts the
    received messages not yet marked read (:meth:`Client.mark_read`); ``waiting_since_ms`` is when the oldest
    unread text or file that came after your last text or file to them was received: they have been waiting
    for your reply since then (None when nothing is waiting). Times are this device's clock, never the sender's.
    """

    contact: Contact = field(repr=False)
    last_activity_ms: int | None
    last_message: Message | None = field(repr=False)
    unread: int
    waiting_since_ms: int | None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device of this identity, as :meth:`Client.devices` lists them (:mod:`confide.client.devices`).

    ``device_id`` is hex (what ``confide devices remove`` takes); ``name`` the local name given to it ("" when
    none; never published); ``this_device`` whether it is the device asking; ``added_at`` unix seconds;
    ``origin`` ``"first"``, ``"linked"`` or ``"restored"`` (a restore from the recovery backup)."""

    device_id: str
    name: str = field(repr=False)
    this_device: bool
    added_at: int
    origin: str
