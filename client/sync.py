"""Keeping a profile in touch with its relay: ``sync()`` (catch up once), and the background work of a
long-running client — the WebSocket receive loop with capped exponential back-off, catch-up pulls, the
expiry sweep and prekey upkeep.

**Every stored message is reported exactly once.** The inbox marks each new incoming message "unreported"
in the transaction that stores it. A message is reported when ``sync()`` returns it, when ``events()``
yields it, or when a hook receives it; only then is the mark cleared. So if ``sync()`` fails halfway (for
example the relay goes away after the backlog was stored and acknowledged), the next ``sync()`` — in this
process or another — returns what the failed one stored, and so does the live loop when it starts (its
``events()`` readers and hooks are handed it before anything newer).

An application may read ``events()`` and call ``sync()`` at the same time (a live view and a "refresh"): a
message stored meanwhile reaches both the reader's queue and the ``sync()`` that stored it, so the two agree
here on who hands it over: ``sync()`` leaves out what a reader already yielded, and a reader skips what a
``sync()`` already returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import aiohttp

from .account import Account
from .attachments import Attachments
from .bus import EventBus
from .contacts import Contacts
from .errors import ClientError, DeviceRemoved, ProfileWipedError, RelayError, RelayUnreachable, StorageError
from .events import Connected, Event, MessageReceived, RelayOffline, ThisDeviceRemoved
from .expiry import Expiry, current_ms, is_live
from .inbox import Inbox
from .messaging import Messaging
from .outbox import Outbox
from .relay import RelayClient, connection_failure
from .store import Store
from .timers import EXPIRY_SWEEP_INTERVAL_S
from .views import public_message

_log = logging.getLogger(__name__)

RECONNECT_BASE_S = 1.0
"""First wait before reconnecting to the relay after the live connection drops."""
RECONNECT_MAX_S = 60.0
"""Cap of the exponential back-off: a relay back after an outage is noticed within a minute, and a
thousand clients of a dead relay make about one connection attempt each per minute."""
CATCH_UP_INTERVAL_S = 30.0
"""While connected, also pull the mailbox this often (one small signed GET): anything a push missed is
picked up within half a minute, whatever happened to the socket."""
PREKEY_CHECK_INTERVAL_S = 3600.0
"""How often a long-running client re-checks its prekey stock and signed-prekey age."""
RECENT_REPORTS = 20_000
"""Message ids remembered as handed over by ``sync()`` and by ``events()`` readers, so that the other does not
hand them over again. Only messages one ``sync()`` stores while a reader is open are contested, and one
``sync()`` drains at most a mailbox (the relay's default quota is 10,000 envelopes); twice that is ample, and
bounds the memory (about 2 MB) a long-running client spends on it."""


class _Recent:
    """The last :data:`RECENT_REPORTS` message ids added, oldest forgotten first."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, message_id: str) -> None:
        self._ids[message_id] = None
        if len(self._ids) > RECENT_REPORTS:
            self._ids.popitem(last=False)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids


class Sync:
    """Catch-up and live receiving for one profile. Owns the background tasks it starts."""

    def __init__(
        self,
        store: Store,
        relay: RelayClient,
        inbox: Inbox,
        outbox: Outbox,
        account: Account,
        messaging: Messaging,
        attachments: Attachments,
        expiry: Expiry,
        contacts: Contacts,
        bus: EventBus,
    ) -> None:
        self._store = store
        self._relay = relay
        self._inbox = inbox
        self._outbox = outbox
        self._account = account
        self._messaging = messaging
        self._attachments = attachments
        self._expiry = expiry
        self._contacts = contacts
        self._bus = bus
        self._loops: list[asyncio.Task[None]] = []
        self._closed = False
        self.auto_download = True
        self.refresh_lists: Callable[[set[str]], Awaitable[None]] | None = None
        """Fetches the device lists of these contacts (``"self"``: this identity's) again; set by the client."""
        """Download received attachments as they arrive (False: fetch them on demand)."""
        self.catch_up_interval_s = CATCH_UP_INTERVAL_S
        """Seconds between catch-up pulls while the live connection is open."""
        self.before_flush: Callable[[], Awaitable[None]] | None = None
        """Run before the outbox is posted (the client sets it to ``PendingUploads.flush``)."""
        self.devices_upkeep: Callable[[], Awaitable[None]] | None = None
        """This identity's device list and own-device sessions, after registration (the client sets it)."""
        self._removed = False  # ThisDeviceRemoved was emitted
        self.wiped: Callable[[], bool] = lambda: False
        """Whether the profile was wiped by another process (checked before each delivery is handled)."""
        self._returned = _Recent()  # messages sync() returned
        self._yielded = _Recent()  # messages an events() reader yielded

    def _check_profile(self) -> None:
        """Raises :class:`ProfileWipedError` once the profile was wiped: nothing arriving after a panic wipe is
        decrypted, stored or shown."""
        if self.wiped():
            raise ProfileWipedError("this profile was wiped; stopped")

    # -- reporting ------------------------------------------------------------------------------------
    def reported(self, events: list[Event]) -> None:
        """The application was handed these events: clear the "unreported" marks of their messages."""
        ids = [bytes.fromhex(e.message.message_id) for e in events if isinstance(e, MessageReceived)]
        if ids:
            with self._store.transaction():
                self._store.clear_unreported(ids)

    def take_for_reader(self, event: MessageReceived) -> bool:
        """An ``events()`` reader is about to yield ``event``: False if a ``sync()`` already returned its message
        (the reader skips it); else it counts as reported and True."""
        message_id = event.message.message_id
        if message_id in self._returned:
            return False
        self._yielded.add(message_id)
        self.reported([event])
        return True

    def _unreported(self, skip: set[str]) -> list[Event]:
        """Stored messages nobody was told of (e.g. by a ``sync()`` that failed), except ``skip``."""
        out: list[Event] = []
        names: dict[str, str] = {}
        now = current_ms()
        for m in self._store.unreported_messages():
            if m.message_id.hex() in skip or not is_live(m, now):  # past its expiry: never returned
                continue
            if m.contact_id not in names:
                names[m.contact_id] = self._contacts.name_of(m.contact_id)
            name = names[m.contact_id]
            out.append(MessageReceived(name, public_message(m, name)))
        return out

    # -- catching up ----------------------------------------------------------------------------------
    async def sync(self) -> list[Event]:
        """Post queued envelopes, fetch and process everything the relay holds, acknowledge it, refill
        prekeys if needed and delete expired messages. Returns the events this produced, preceded by any
        stored message an earlier, failed ``sync()`` could not report.

        Raises:
            RelayUnreachable, RelayError; StorageError (nothing unstored was acknowledged).
            DeviceRemoved: this device was removed from its identity's list (:class:`ThisDeviceRemoved` is
                emitted once).
        """
        try:
            return await self._sync_once()
        except DeviceRemoved:
            self._device_removed()
            raise

    async def _sync_once(self) -> list[Event]:
        await self._account.ensure_registered()
        if self.devices_upkeep is not None:
            await self.devices_upkeep()
        q = self._bus.subscribe()
        try:
            if self.before_flush is not None:
                await self.before_flush()  # files kept while the relay was down (confide.client.uploads)
            await self._outbox.flush()
            await self.pull()
            await self._account.maintain_prekeys()
            await self._messaging.receipts_sent()  # after their random delay (messaging.RECEIPT_DELAY_MIN_S)
            self._expiry.expire_now()
        finally:
            self._bus.unsubscribe(q)
        collected: list[Event] = []
        while not q.empty():
            event = q.get_nowait()
            if event is not None:
                collected.append(event)
        seen = {e.message.message_id for e in collected if isinstance(e, MessageReceived)}
        events = [
            e
            for e in self._unreported(seen) + collected
            if not (isinstance(e, MessageReceived) and e.message.message_id in self._yielded)
        ]
        for e in events:
            if isinstance(e, MessageReceived):
                self._returned.add(e.message.message_id)
        self.reported(events)
        return events

    def _device_removed(self) -> None:
        """The relay says this device was removed from its identity's list: say so once."""
        if not self._removed:
            self._removed = True
            self._bus.emit(ThisDeviceRemoved())

    async def pull(self) -> int:
        """Fetch every waiting envelope, process it, acknowledge what was processed, then run follow-ups;
        returns how many envelopes were processed. Stops at a page that brings nothing new, whatever the
        relay says of ``more`` (so a relay cannot hold it in a loop).

        Raises:
            RelayUnreachable, RelayError; StorageError after acknowledging what was stored before the fault.
        """
        total = 0
        handled: set[bytes] = set()
        refetched = False
        while True:
            batch, more = await self._relay.fetch()
            acks: list[bytes] = []
            progress = False
            try:
                for raw in batch:
                    self._check_profile()
                    envelope_id = self._inbox.handle(raw)
                    if envelope_id is not None:
                        acks.append(envelope_id)
                        progress |= envelope_id not in handled
                        handled.add(envelope_id)
            finally:
                if acks:
                    await self._relay.ack(acks)
            total += len(batch)
            relisted = await self.after_batch()
            # A page that brought no envelope not already handled in this pull ends it: an honest relay deleted
            # what was acknowledged, so only a broken or hostile one says "more" and serves the same again. A page
            # whose messages waited for a device list (fetched now) is read once more: they may be readable now.
            if relisted and not refetched:
                refetched = True
                continue
            if not more or not progress:
                return total

    async def after_batch(self) -> bool:
        """Send the receipts owed (those of what was just stored, and any a crashed or closed run left in the
        store; after a random delay, batched) and download attachments for what was just stored. Failures are
        logged: the messages themselves are safe; receipts stay owed until queued, attachments can be fetched
        later. Returns whether device lists were fetched for messages left at the relay (read them again)."""
        owed = self._inbox.take_follow_ups()
        if (owed.lists or owed.baselines) and self.refresh_lists is not None:
            await self.refresh_lists(owed.lists | owed.baselines)
        if owed.prekeys_used:  # someone started a session: check the relay's one-time prekey stock
            try:
                await self._account.maintain_prekeys()
            except ClientError as exc:
                _log.info("prekey check failed: %s", type(exc).__name__)
        try:
            await self._messaging.schedule_receipts()
        except ClientError as exc:
            _log.info("receipts not sent: %s", type(exc).__name__)
        for contact_id, device_ids in owed.resets.items():  # SPEC §8: no message is silently lost
            try:
                await self._messaging.reset_session(contact_id, device_ids)
            except ClientError as exc:
                _log.info("session reset not started: %s", type(exc).__name__)
        for contact_id, failed in owed.resends.items():
            try:
                await self._messaging.resend_after_reset(contact_id, failed)
            except ClientError as exc:
                _log.info("resend after a reset failed: %s", type(exc).__name__)
        try:  # SPEC §8: deletes for everyone of messages filed here are answered (owed in the store)
            await self._messaging.send_kept_owed()
        except ClientError as exc:
            _log.info("kept notices not sent: %s", type(exc).__name__)
        if self.auto_download:
            for message_id in owed.downloads:
                with contextlib.suppress(ClientError):
                    await self._attachments.download(message_id)
        return bool(owed.lists)

    # -- a long-running client ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the live loop and the upkeep loop (idempotent; nothing after :meth:`close`)."""
        if self._loops or self._closed:
            return
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._listen_loop(), name="confide-live"),
            loop.create_task(self._upkeep_loop(), name="confide-upkeep"),
        ]

    async def close(self) -> None:
        """Stop the background loops (idempotent)."""
        self._closed = True
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        if loops:
            await asyncio.gather(*loops, return_exceptions=True)

    async def _listen_loop(self) -> None:
        # What a sync() stored and could not return (it failed after storing) goes to the readers first, in thread
        # order: an application that reads only events() after such a sync() would otherwise never be handed it.
        for event in self._unreported(set()):
            self._bus.emit(event)
        delay = RECONNECT_BASE_S
        while not self._closed:
            try:
                await self._account.ensure_registered()
                with contextlib.suppress(RelayUnreachable):
                    if self.before_flush is not None:
                        await self.before_flush()
                    await self._outbox.flush()
                ws = await self._relay.websocket()
                delay = RECONNECT_BASE_S
                async with ws:
                    backlog = await self.pull()  # what arrived while offline (push covers the rest)
                    self._bus.emit(Connected(backlog))
                    async for frame in ws:
                        if frame.type == aiohttp.WSMsgType.BINARY:
                            self._check_profile()
                            envelope_id = self._inbox.handle(frame.data)
                            if envelope_id is not None:
                                await ws.send_str(json.dumps({"ack": [envelope_id.hex()]}))
                            if await self.after_batch():  # it waited for a device list: read it again now
                                await self.pull()
                        elif frame.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                reason = "the relay closed the live connection"
            except (RelayUnreachable, RelayError) as exc:
                reason = str(exc)
            except (aiohttp.ClientError, OSError) as exc:
                reason = f"the live connection failed: {connection_failure(exc)}"
            except DeviceRemoved:  # the relay closed this device's mailbox for good: stop receiving
                self._device_removed()
                return
            except StorageError as exc:  # e.g. another process holds the store: retry after the back-off
                _log.warning("receiving paused: %s", type(exc).__name__)
                reason = "the local store could not be written; retrying"
            if self._closed:
                return
            wait = delay * (0.5 + random.random() / 2)  # jitter, not a secret
            self._bus.emit(RelayOffline(reason, round(wait, 2)))
            await asyncio.sleep(wait)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _upkeep_loop(self) -> None:
        last_prekey_check = 0.0
        last_pull = time.monotonic()
        while not self._closed:
            try:
                self._expiry.expire_now()
                if time.monotonic() - last_pull >= self.catch_up_interval_s:
                    last_pull = time.monotonic()
                    with contextlib.suppress(RelayUnreachable, RelayError):
                        await self.pull()
                if time.monotonic() - last_prekey_check > PREKEY_CHECK_INTERVAL_S:
                    last_prekey_check = time.monotonic()
                    with contextlib.suppress(RelayUnreachable, RelayError):
                        await self._account.maintain_prekeys()
                    if self.devices_upkeep is not None:
                        await self.devices_upkeep()
            except DeviceRemoved:
                self._device_removed()
                return
            except ClientError as exc:
                _log.warning("upkeep failed: %s", type(exc).__name__)
            await asyncio.sleep(min(EXPIRY_SWEEP_INTERVAL_S, self.catch_up_interval_s))
