"""The event bus of one client: subscribers (``Client.events``, ``Client.sync``), hooks (``Client.on``),
and the tasks that asynchronous hooks run in.

The bus owns the tasks it spawns and forgets each one when it finishes, so a long-running client does not
accumulate them; it owns no other background work (the live connection belongs to
:class:`~confide.client.sync.Sync`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .events import Event

_log = logging.getLogger(__name__)

Hook = Callable[[Event], Awaitable[None] | None]
"""A callback for :meth:`Client.on`: called with each event of its type (may be ``async``)."""

Subscription = asyncio.Queue[Event | None]
"""What :meth:`EventBus.subscribe` returns: events in order; ``None`` once the bus is closed."""


class EventBus:
    """Fans events out to subscribers and hooks. ``on_handed`` is told of every event a hook or an
    ``events()`` reader received (the inbox uses it to know which stored messages were reported)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._hooks: list[tuple[type, Hook]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.on_handed: Callable[[Event], None] = lambda event: None

    @property
    def hook_tasks(self) -> int:
        """Hook tasks still running (finished ones are forgotten)."""
        return len(self._tasks)

    def subscribe(self) -> Subscription:
        """A new queue that receives every event emitted from now on."""
        q: Subscription = asyncio.Queue()
        if self._closed:
            q.put_nowait(None)
        else:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: Subscription) -> None:
        """Stop delivering to ``q`` (idempotent)."""
        if q in self._subscribers:
            self._subscribers.remove(q)

    def add_hook(self, event_type: type, callback: Hook) -> None:
        """Call ``callback(event)`` for every event of ``event_type``."""
        self._hooks.append((event_type, callback))

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber and matching hook. A hook's exception is logged (by type
        only) and never reaches the code that emitted the event."""
        for q in self._subscribers:
            q.put_nowait(event)
        handed = False
        for event_type, callback in self._hooks:
            if not isinstance(event, event_type):
                continue
            handed = True
            try:
                result = callback(event)
            except Exception as exc:  # a hook's bug must not break message processing
                _log.warning("event hook failed: %s", type(exc).__name__)
                continue
            if asyncio.iscoroutine(result):
                self._spawn(result)
        if handed:
            self.on_handed(event)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception as exc:
                _log.warning("event hook failed: %s", type(exc).__name__)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel running hook tasks and end every subscription (idempotent)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for q in self._subscribers:
            q.put_nowait(None)
        self._subscribers.clear()
