"""Removing messages from this device: disappearing-message expiry and local deletion.

A deleted or expired message leaves the store in one transaction (after which the store checkpoints and
truncates its WAL, so the sealed row is in no file: :meth:`Store.delete_message`), then its attachment file is
overwritten in place and removed, and a :class:`MessageDeleted` event is emitted. Expiry runs when a profile
is opened and before every read (:meth:`Expiry.before_read`), and every read also leaves out what is past its
expiry (:func:`is_live`), so nothing past its timer is ever returned, whether or not the relay can be
reached. The timer arithmetic lives in :mod:`confide.client.timers`.
"""

from __future__ import annotations

import logging
import time

from .bus import EventBus
from .contacts import Contacts
from .errors import StorageError
from .events import MessageDeleted
from .profile import ProfilePaths
from .records import MessageRecord
from .shred import shred_file
from .store import Store

_log = logging.getLogger(__name__)


def current_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return int(time.time() * 1000)


def is_live(msg: MessageRecord, now: int) -> bool:
    """Whether ``msg`` may still be shown at ``now`` (its timer has not run out)."""
    return msg.expires_at_ms is None or msg.expires_at_ms > now


class Expiry:
    """Deletes messages (and their attachment files) on request or when their timers run out."""

    def __init__(self, store: Store, paths: ProfilePaths, contacts: Contacts, bus: EventBus) -> None:
        self._store = store
        self._paths = paths
        self._contacts = contacts
        self._bus = bus

    def remove_attachment_file(self, msg: MessageRecord) -> None:
        """Overwrite the message's downloaded attachment ciphertext in place and unlink it, if there is one."""
        if msg.attachment is not None and msg.attachment.file:
            shred_file(self._paths.attachments / msg.attachment.file)

    def delete(self, msg: MessageRecord, reason: str) -> None:
        """Delete ``msg`` here; ``reason`` is ``"deleted"`` or ``"expired"`` (it goes into the event)."""
        with self._store.transaction():
            self._store.delete_message(msg.message_id)
        self.remove_attachment_file(msg)
        self._bus.emit(MessageDeleted(self._contacts.name_of(msg.contact_id), msg.message_id.hex(), reason))

    def expire_now(self, now_ms: int | None = None) -> list[str]:
        """Delete every message whose timer has run out (and its attachment file); returns their ids.

        Raises:
            StorageError: the store could not be written (e.g. another process held it too long).
        """
        now = current_ms() if now_ms is None else now_ms
        expired = self._store.expired_messages(now)
        for m in expired:
            self.delete(m, "expired")
        return [m.message_id.hex() for m in expired]

    def before_read(self) -> None:
        """Delete what expired before a read path returns anything. A store that cannot be written right now
        (another process holds it) postpones the deletion, never the read: reads leave out what expired
        (:func:`is_live`), and the next sweep deletes it."""
        try:
            self.expire_now()
        except StorageError as exc:
            _log.info("expiry before a read postponed: %s", type(exc).__name__)
