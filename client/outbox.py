"""The outbox: sealed envelopes waiting to be posted to the relay, in order.

Sending commits the new session state, the message row and the envelope here in one transaction; posting
happens after. A relay that is down or busy leaves envelopes queued for the next flush; a final refusal
drops the envelope and marks its message ``failed`` with the relay's reason. Queued envelopes are sealed at
rest like every other row; each knows the thread (contact id) and message it carries so that
:meth:`Outbox.queued` can show what is waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from confide.keys.encoding import Reader, Writer
from confide.protocol.envelope import Envelope

from .errors import RelayError, StorageError
from .models import MessageStatus, QueuedItem
from .relay import DEVICE_REMOVED, RelayClient
from .store import Store

_log = logging.getLogger(__name__)

TRANSIENT_RELAY_STATUSES = frozenset({429, 503, 507})
"""Relay refusals that pass (rate limit, full mailbox, relay busy, relay out of storage or disk): the envelope
stays queued and is retried on the next flush, like an unreachable relay. A relay whose disk filled up takes
messages again once space returns, so a 507 must not turn a message into ``failed`` for good. Any other
refusal is final for that envelope."""


class Outbox:
    """Queues envelopes in the store and posts them in order, one flush at a time."""

    def __init__(self, store: Store, relay: RelayClient) -> None:
        self._store = store
        self._relay = relay
        self._lock = asyncio.Lock()
        self.on_device_removed: Callable[[set[str]], Awaitable[None]] | None = None
        """Called after a flush with the contact ids one of whose devices the relay said was removed (410
        ``device_removed``): the client fetches their device lists again and stops encrypting to those devices."""

    def add(self, contact_id: str, message_id: bytes | None, envelope: Envelope) -> None:
        """Queue ``envelope`` (call inside the transaction that stored the session state it came from)."""
        item = Writer().var8(message_id or b"").raw(envelope.to_bytes()).bytes()
        self._store.add_outbox(item, contact_id, int(time.time() * 1000))

    def drop(self, contact_id: str, message_ids: set[bytes]) -> int:
        """Remove the queued envelopes of these messages in the thread ``contact_id`` (they were sealed on a
        session the peer no longer has and are being sent again); returns how many. Call inside a transaction."""
        dropped = 0
        for entry in self._store.outbox():
            if entry.contact_id != contact_id:
                continue
            mid = Reader(entry.data, StorageError).var8()
            if mid in message_ids:
                self._store.delete_outbox(entry.oid)
                dropped += 1
        return dropped

    def queued(self, names: dict[str, str]) -> list[QueuedItem]:
        """What is waiting, oldest first; ``names`` maps contact ids to local names."""
        out = []
        for entry in self._store.outbox():
            mid = Reader(entry.data, StorageError).var8()
            out.append(
                QueuedItem(
                    mid.hex() if mid else None,
                    names.get(entry.contact_id or "", ""),
                    "message" if mid else "control",
                    entry.queued_at_ms or 0,
                )
            )
        return out

    async def flush(self) -> list[RelayError]:
        """Post queued envelopes in order; returns the relay's refusals.

        A transient refusal (:data:`TRANSIENT_RELAY_STATUSES`: 429 rate limit or full mailbox, 503 busy, 507 out of
        storage) stops the flush and keeps that envelope and the rest queued; any other refusal drops the envelope.
        A message goes to several devices, one envelope each: it is ``sent`` once the relay took one of them, and
        ``failed`` (with the relay's reason) only when none of its envelopes was taken. An envelope to a device its
        owner removed (410 ``device_removed``) is dropped without failing the message for the other devices, and
        the contact is handed to :attr:`on_device_removed` after the flush, so that its list is fetched again.

        Raises:
            RelayUnreachable: the relay is down; what is left stays queued.
        """
        refusals: list[RelayError] = []
        removed_for: set[str] = set()
        async with self._lock:
            entries = self._store.outbox()
            left: dict[bytes, int] = {}
            for entry in entries:
                mid = Reader(entry.data, StorageError).var8()
                left[mid] = left.get(mid, 0) + 1
            failures: dict[bytes, str] = {}
            for entry in entries:
                r = Reader(entry.data, StorageError)
                mid, env = r.var8(), r.rest()
                taken = True
                try:
                    await self._relay.post_envelope(env)
                except RelayError as exc:
                    refusals.append(exc)
                    _log.warning("relay refused an envelope: %s", exc.code)
                    if exc.status in TRANSIENT_RELAY_STATUSES:
                        break  # keep it (and everything after it, in order) queued for the next flush
                    taken = False
                    failures[mid] = exc.relay_message
                    if exc.status == HTTPStatus.GONE and exc.code == DEVICE_REMOVED and entry.contact_id is not None:
                        removed_for.add(entry.contact_id)
                left[mid] -= 1
                with self._store.transaction():
                    self._store.delete_outbox(entry.oid)
                    msg = self._store.message(mid) if mid else None
                    if msg is not None and msg.status == MessageStatus.PENDING and (taken or left[mid] == 0):
                        msg.status = MessageStatus.SENT if taken else MessageStatus.FAILED
                        msg.failure = "" if taken else failures.get(mid, "")
                        self._store.save_message(msg)
        hook = self.on_device_removed
        if hook is not None and removed_for:
            await hook(removed_for)
        return refusals
