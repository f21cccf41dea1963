"""Push: one notifier interface between "an envelope was committed" and the recipient's WebSockets.

The embedded relay uses :class:`InProcessNotifier`; a relay of several processes would put a message
broker behind the same interface. A subscription buffers envelopes for its socket; a slow socket whose
buffer overflows is told to resynchronise from the mailbox instead of growing without bound.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from .storage import StoredEnvelope

MAX_BUFFERED_PUSHES = 256
"""Envelopes buffered per socket before it must re-read its mailbox: about 18 MiB for a slow reader of
maximal envelopes, nothing for the usual small ones."""


class Subscription:
    """Envelopes pushed to one socket of one device, in commit order."""

    __slots__ = ("device_id", "event", "items", "resync")

    def __init__(self, device_id: bytes) -> None:
        self.device_id = device_id
        self.items: deque[StoredEnvelope] = deque()
        self.event = asyncio.Event()
        self.resync = False

    def push(self, envelope: StoredEnvelope) -> None:
        if self.resync:
            return
        if len(self.items) >= MAX_BUFFERED_PUSHES:
            self.items.clear()
            self.resync = True
        else:
            self.items.append(envelope)
        self.event.set()

    def __repr__(self) -> str:
        return f"Subscription({self.device_id.hex()})"


class Notifier(Protocol):
    """Fan-out of committed envelopes to the recipient device's open sockets."""

    def subscribe(self, device_id: bytes) -> Subscription:
        """Start buffering pushes for a new socket of ``device_id``."""
        ...

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop buffering for ``sub``."""
        ...

    def publish(self, device_id: bytes, envelope: StoredEnvelope) -> None:
        """An envelope for ``device_id`` was committed: hand it to every socket of that device."""
        ...

    def sockets(self, device_id: bytes) -> int:
        """Open sockets of ``device_id``."""
        ...


class InProcessNotifier:
    """:class:`Notifier` for a single relay process."""

    def __init__(self) -> None:
        self._subs: dict[bytes, set[Subscription]] = {}

    def subscribe(self, device_id: bytes) -> Subscription:
        sub = Subscription(device_id)
        self._subs.setdefault(device_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.device_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.device_id]

    def publish(self, device_id: bytes, envelope: StoredEnvelope) -> None:
        for sub in self._subs.get(device_id, ()):
            sub.push(envelope)

    def sockets(self, device_id: bytes) -> int:
        return len(self._subs.get(device_id, ()))
