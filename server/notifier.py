"""Push: one notifier interface between "an envelope was committed" and the recipient's WebSockets.

The embedded relay uses :class:`~confide.server.inprocess.InProcessNotifier`; a relay of several processes
would put a message broker behind the same interface, so that an envelope committed by one process reaches a
socket held by another. A subscription buffers envelopes for its socket; a slow socket whose buffer overflows
is told to resynchronise from the mailbox instead of growing without bound.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from .limits import MAX_BUFFERED_PUSHES
from .storage import StoredEnvelope


class Subscription:
    """Envelopes pushed to one socket of one device, in commit order."""

    __slots__ = ("closing", "device_id", "event", "items", "resync")

    def __init__(self, device_id: bytes) -> None:
        self.device_id = device_id
        self.items: deque[StoredEnvelope] = deque()
        self.event = asyncio.Event()
        self.resync = False
        self.closing = False
        """Set by :meth:`close`: the device was removed; its socket closes with ``device_removed``."""

    def close(self) -> None:
        """Ask the socket to close: its device was removed from its account (nothing more is pushed)."""
        self.closing = True
        self.items.clear()
        self.event.set()

    def push(self, envelope: StoredEnvelope) -> None:
        """Buffer ``envelope`` and wake the socket; past :data:`MAX_BUFFERED_PUSHES`, ask it to resync."""
        if self.resync or self.closing:
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

    async def start(self) -> None:
        """Connect or allocate; called once by each app using the notifier before it serves (idempotent)."""
        ...

    async def subscribe(self, device_id: bytes) -> Subscription:
        """Start buffering pushes for a new socket of ``device_id`` (before its backlog is read)."""
        ...

    async def unsubscribe(self, sub: Subscription) -> None:
        """Stop buffering for ``sub`` (unknown is fine)."""
        ...

    async def publish(self, device_id: bytes, envelope: StoredEnvelope) -> None:
        """An envelope for ``device_id`` was committed: hand it to every socket of that device."""
        ...

    async def disconnect(self, device_id: bytes) -> None:
        """``device_id`` was removed from its account: close every socket of it (in every relay process), each
        with the close reason ``device_removed``."""
        ...

    def sockets(self, device_id: bytes) -> int:
        """Open sockets of ``device_id`` subscribed through this notifier (this relay process's)."""
        ...

    async def close(self) -> None:
        """Release what :meth:`start` took (idempotent)."""
        ...
