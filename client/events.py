"""Typed events a :class:`~confide.client.Client` emits, consumed with ``async for event in client.events()``.

Each is a frozen dataclass. ``peer`` is the local contact name; message text is only in
:class:`MessageReceived` (and its ``repr`` hides it, so logging an event never logs plaintext).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import Message, MessageStatus


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A text or attachment message arrived and was stored (its plaintext is in ``message``)."""

    peer: str = field(repr=False)
    message: Message


@dataclass(frozen=True, slots=True)
class MessageSynced:
    """A message sent to ``peer`` from another of this identity's devices was copied here (sent-message sync):
    ``message`` is stored as outgoing, ``sent``, in their thread. Show it as if sent here; do not notify."""

    peer: str = field(repr=False)
    message: Message


@dataclass(frozen=True, slots=True)
class ReceiptReceived:
    """The peer's device confirmed delivery (``kind == "delivered"``) or reading (``"read"``)."""

    peer: str = field(repr=False)
    kind: MessageStatus
    message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TimerChanged:
    """A thread's disappearing timer changed; ``by_peer`` is False when this side changed it."""

    peer: str = field(repr=False)
    seconds: int
    by_peer: bool


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    """A message left the local store: ``reason`` is ``"expired"`` or ``"deleted"`` (delete-for-everyone)."""

    peer: str = field(repr=False)
    message_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class MessageFiled:
    """The peer filed a message of your thread into their record of you (a therapist's clinical record): a copy
    stays on their device whatever timers or deletions do to the thread. The message now has
    ``filed_by_peer`` set; show it as "filed in your record by PEER"."""

    peer: str = field(repr=False)
    message_id: str


@dataclass(frozen=True, slots=True)
class FiledCopyKept:
    """You deleted a message for everyone that the peer had filed into their record: their thread copy is gone,
    but a filed copy remains in their record (they told us so, answering the deletion)."""

    peer: str = field(repr=False)
    message_id: str


@dataclass(frozen=True, slots=True)
class IdentityChanged:
    """A contact's identity key differs from the pinned one: sending is blocked until it is accepted
    (:meth:`Client.accept_identity`) or re-verified (:meth:`Client.verify`)."""

    peer: str = field(repr=False)
    old_fingerprint: str
    new_fingerprint: str


@dataclass(frozen=True, slots=True)
class PrekeysLow:
    """The relay held few one-time prekeys (or the signed prekey was due); the client refilled them."""

    one_time_left: int
    kem_one_time_left: int
    uploaded: int


@dataclass(frozen=True, slots=True)
class RelayOffline:
    """The relay could not be reached; the client retries after ``retry_in_s`` seconds.

    (The event counterpart of the :class:`~confide.client.errors.RelayUnreachable` error.)"""

    reason: str
    retry_in_s: float


@dataclass(frozen=True, slots=True)
class MessageUndecryptable:
    """A message from ``peer`` arrived but could not be decrypted, and was dropped.

    The sender is authenticated, but they wrote on a session this device no longer holds (after a restore or a
    reinstall). Ask them to send it again; writing to them first starts a fresh session they adopt.
    """

    peer: str = field(repr=False)
    reason: str = ""
    """Why, when it is not that: ``"from a device no longer on the sender's list"`` (a removed device, refused
    whatever it holds)."""


@dataclass(frozen=True, slots=True)
class SessionReset:
    """The session with ``peer`` was reset so that no message is silently lost (SPEC §8, reset rules).

    ``by_peer`` False: messages from ``peer`` could not be decrypted here (``failed`` of them; each was also
    reported by :class:`MessageUndecryptable`); a fresh session was started and the peer was asked to resend
    what this device has not confirmed. ``by_peer`` True: the peer could not decrypt ``failed`` of our messages;
    the ones it had not confirmed were sent again on the new session (``resent``: their message ids).
    """

    peer: str = field(repr=False)
    by_peer: bool
    failed: int
    resent: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Connected:
    """The live connection to the relay is up and the mailbox has been caught up: every envelope the relay
    held when the connection opened has been processed (and its events emitted). ``backlog`` counts them.

    Emitted each time the connection is (re)established; a test or a UI waits for it instead of sleeping.
    """

    backlog: int


@dataclass(frozen=True, slots=True)
class ProfileWiped:
    """The profile was wiped (by a panic wipe in this or another process) while this client had it open. It is
    the last event: the client has stopped its background work and closed its store, and ``events()`` ends."""


@dataclass(frozen=True, slots=True)
class DevicesChanged:
    """A contact's signed device list changed ("Dr. Rivera added a device"): ``added`` and ``removed`` devices.
    ``restored``: a device was added by a restore from the recovery backup. For this profile's own identity
    ``contact`` is empty: then an added device you did not link or restore means someone else holds your
    identity (remove it, and make a new recovery code). Never emitted for the first list seen of a contact.
    Safety numbers do not change: they are per identity."""

    contact: str = field(repr=False)
    added: int
    removed: int
    restored: bool = False


@dataclass(frozen=True, slots=True)
class DeviceListRefused:
    """A device list for ``contact`` (empty: this identity) was refused and nothing changed: older than one
    already accepted, the same version with other bytes, signed by another identity, or malformed (``reason``).
    The relay, or whoever sent it, may be trying to bring back a removed device or hide a new one."""

    contact: str = field(repr=False)
    reason: str


@dataclass(frozen=True, slots=True)
class ThisDeviceRemoved:
    """This device was removed from its identity's device list (from another device): the relay closed its
    mailbox and refuses it. Live receiving stopped; every operation that needs the relay raises
    :class:`~confide.client.errors.DeviceRemoved`. Wipe this profile, or link the device again."""


Event = (
    MessageReceived
    | MessageSynced
    | ReceiptReceived
    | TimerChanged
    | MessageDeleted
    | MessageFiled
    | FiledCopyKept
    | IdentityChanged
    | PrekeysLow
    | RelayOffline
    | MessageUndecryptable
    | SessionReset
    | Connected
    | ProfileWiped
    | DevicesChanged
    | DeviceListRefused
    | ThisDeviceRemoved
)
"""Any event a client emits."""
