"""Removing messages from this device: disappearing-message expiry and local deletion.

A deleted or expired message leaves the store in one transaction, then its attachment file is removed and a
:class:`MessageDeleted` event is emitted. The timer arithmetic lives in :mod:`confide.client.timers`.
"""

from __future__ import annotations

import contextlib
import logging
import time

from .bus import EventBus
from .contacts import Contacts
from .errors import StorageError
from .events import MessageDeleted
from .profile import ProfilePaths
from .records import MessageRecord
from .store import Store

_log = logging.getLogger(__name__)


class Expiry:
    """Deletes messages (and their attachment files) on request or when their timers run out."""

    def __init__(self, store: Store, paths: ProfilePaths, contacts: Contacts, bus: EventBus) -> None:
        self._store = store
        self._paths = paths
        self._contacts = contacts
        self._bus = bus

    def remove_attachment_file(self, msg: MessageRecord) -> None:
        """Unlink the message's downloaded attachment ciphertext, if any."""
        if msg.attachment is not None and msg.attachment.file:
            with contextlib.suppress(OSError):
                (self._paths.attachments / msg.attachment.file).unlink()

    def delete(self, msg: MessageRecord, reason: str) -> None:
        """Delete ``msg`` here; ``reason`` is ``"deleted"`` or ``"expired"`` (it goes into the event)."""
        with self._store.transaction():
            self._store.delete_message(msg.message_id)
        self.remove_attachment_file(msg)
        self._bus.emit(MessageDeleted(self._contacts.name_of(msg.contact_id), msg.message_id.hex(), reason))

    def expire_now(self, now_ms: int | None = None) -> list[str]:
        """Delete every message whose timer has run out (and its attachment file); returns their ids."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        expired = self._store.expired_messages(now)
        for m in expired:
            self.delete(m, "expired")
        if expired:
            try:
                self._store.checkpoint()
            except (StorageError, OSError) as exc:  # another reader holds the WAL; the next sweep retries
                _log.info("checkpoint after expiry postponed: %s", type(exc).__name__)
        return [m.message_id.hex() for m in expired]
