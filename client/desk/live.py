"""Live updates: one event stream of the running :class:`~confide.client.Client` fanned out to every open page
as server-sent events (``GET /events``).

An event names only what changed (``message`` or ``update``) and which thread (the contact's address); the page
then re-fetches the server-rendered fragment it shows. The one exception is the desktop notification's text,
which goes out only when the person opted in (``Client.notify_text``); by default a page only learns
"New message".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from confide.client import (
    Client,
    ConfideError,
    Event,
    FiledCopyKept,
    IdentityChanged,
    MessageDeleted,
    MessageFiled,
    MessageReceived,
    MessageSynced,
    ProfileWiped,
    ReceiptReceived,
    SessionReset,
    ThisDeviceRemoved,
    TimerChanged,
)

from .session import desk_client

KEEPALIVE_S = 15.0
"""Seconds between comment lines on an idle stream, so a proxy or the browser does not drop it as dead."""

QUEUE_LIMIT = 256
"""Events held for one page that is not reading: past this the page is told to reload instead (a stalled tab
cannot make the Desk hold unbounded memory)."""

NOTIFY_PREVIEW_CHARS = 120
"""Characters of a message in an opted-in desktop notification: a notification shows about two lines."""


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """What one page is told: ``kind`` (``message``: a new message arrived; ``update``: something in a thread
    changed; ``progress``: a file this Desk sends is on its way; ``reload``: re-fetch everything), the thread's
    contact ``address`` (empty: profile-wide), and the notification's ``text`` (empty unless the person opted in
    to seeing message text in notifications)."""

    kind: str
    address: str = field(default="", repr=False)
    text: str = field(default="", repr=False)
    percent: int | None = None
    """For ``progress``: how far a file being sent from this Desk is encrypted and uploaded to the relay."""

    def encode(self) -> bytes:
        """The event in the server-sent events wire format."""
        fields: dict[str, object] = {"thread": self.address, "text": self.text}
        if self.percent is not None:
            fields["percent"] = self.percent
        data = json.dumps(fields, ensure_ascii=True)
        return f"event: {self.kind}\ndata: {data}\n\n".encode("ascii")


def _address(client: Client, peer: str) -> str:
    try:
        return client.contact(peer).address
    except ConfideError:
        return ""


def live_event(client: Client, event: Event, *, notify_text: bool) -> LiveEvent | None:
    """What the pages are told about one library event; None for events no page shows."""
    if isinstance(event, MessageReceived):
        text = ""
        if notify_text:
            m = event.message
            text = (m.attachment.name if m.attachment is not None and not m.text else m.text)[:NOTIFY_PREVIEW_CHARS]
        return LiveEvent("message", _address(client, event.peer), text)
    if isinstance(
        event,
        ReceiptReceived
        | TimerChanged
        | MessageDeleted
        | MessageFiled
        | FiledCopyKept
        | IdentityChanged
        | SessionReset
        | MessageSynced,  # sent from another of this person's devices: shown in its thread at once
    ):
        return LiveEvent("update", _address(client, event.peer))
    if isinstance(event, ProfileWiped | ThisDeviceRemoved):  # every page shows what is left to do
        return LiveEvent("reload")
    return None


class LiveHub:
    """Fans one client's events out to the open pages. The hub follows whichever client the Desk currently runs
    (a new one after an unlock) and stops following when that client is closed."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[LiveEvent | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._client: Client | None = None

    def subscribe(self) -> asyncio.Queue[LiveEvent | None]:
        """A queue of the events for one page (None: the stream ends)."""
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LiveEvent | None]) -> None:
        """Forget a page's queue."""
        self._queues.discard(queue)

    def publish(self, event: LiveEvent) -> None:
        """Hand ``event`` to every page; a page whose queue is full is told to reload instead."""
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(LiveEvent("reload"))

    def progress(self, address: str) -> Callable[[int, int], None]:
        """A ``send_file`` progress callback that tells the pages showing ``address``'s thread how far it is
        (an event each time the whole percentage moves)."""
        last = -1

        def report(done: int, total: int) -> None:
            nonlocal last
            percent = 100 if total <= 0 else min(100, done * 100 // total)
            if percent != last:
                last = percent
                self.publish(LiveEvent("progress", address, percent=percent))

        return report

    def follow(self, client: Client) -> None:
        """Follow ``client``'s events (idempotent; a different client replaces the one followed)."""
        if self._client is client and self._task is not None and not self._task.done():
            return
        if self._task is not None:
            self._task.cancel()
        self._client = client
        self._task = asyncio.get_running_loop().create_task(self._pump(client))

    async def _pump(self, client: Client) -> None:
        async for event in client.events():
            try:
                live = live_event(client, event, notify_text=client.notify_text)
            except ConfideError:  # the store failed or the client closed meanwhile: the next event retries
                live = LiveEvent("reload")
            if live is not None:
                self.publish(live)
        self.publish(LiveEvent("reload"))  # the client was closed (locked or wiped): every page shows it

    async def close(self) -> None:
        """Stop following and end every page's stream."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)


LIVE_HUB = web.AppKey("confide_desk_live_hub", LiveHub)
"""The application's :class:`LiveHub`."""


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /events``: the server-sent events stream of one page, open until the page goes or the Desk stops.
    A locked Desk answers with the redirect to the locked page (the script then reloads)."""
    client = desk_client(request)
    hub = request.app[LIVE_HUB]
    hub.follow(client)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    queue = hub.subscribe()
    try:
        await response.prepare(request)
        await response.write(b": live\n\n")
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                break
            await response.write(event.encode())
    except ConnectionResetError:
        pass
    finally:
        hub.unsubscribe(queue)
    return response


async def close_hub(app: web.Application) -> None:
    """``on_shutdown``: end every stream so the server can stop."""
    await app[LIVE_HUB].close()
