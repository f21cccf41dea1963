"""Keeping a :class:`~confide.client.Client` in touch with its relay (a mixin): catch-up pulls, the
WebSocket receive loop with capped exponential back-off, and periodic upkeep (expiry sweep, catch-up
pulls, prekey refill and signed-prekey rotation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import TYPE_CHECKING

import aiohttp

from confide.keys.errors import ConfideError
from confide.keys.prekeys import plan_refill

from .errors import RelayError, RelayUnreachable
from .events import Event, PrekeysLow, RelayOffline
from .prekey_store import PreKeyStore
from .receiver import Receiver
from .relay import RelayClient
from .timers import EXPIRY_SWEEP_INTERVAL_S

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


class ConnectionMixin:
    """Sync and live-connection methods of :class:`~confide.client.Client`."""

    _relay: RelayClient
    _receiver: Receiver
    _prekeys: PreKeyStore
    _closed: bool
    _subscribers: list[asyncio.Queue[Event | None]]
    catch_up_interval_s: float

    if TYPE_CHECKING:
        def _emit(self, event: Event) -> None: ...

        async def _ensure_registered(self) -> None: ...

        async def flush_outbox(self) -> list[RelayError]: ...

        def expire_now(self, now_ms: int | None = None) -> list[str]: ...

    async def sync(self) -> list[Event]:
        """Catch up: post queued envelopes, fetch and process everything the relay holds, acknowledge it,
        refill prekeys if needed and delete expired messages. Returns the events this produced.

        Raises:
            RelayUnreachable, RelayError.
        """
        await self._ensure_registered()
        collected: list[Event] = []
        q: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.append(q)
        try:
            await self.flush_outbox()
            await self._pull()
            await self.maintain_prekeys()
            self.expire_now()
        finally:
            self._subscribers.remove(q)
        while not q.empty():
            event = q.get_nowait()
            if event is not None:
                collected.append(event)
        return collected

    async def _pull(self) -> None:
        """Fetch every waiting envelope, process it, acknowledge it, then run follow-ups."""
        while True:
            batch, more = await self._relay.fetch()
            acks = []
            for raw in batch:
                envelope_id = await self._receiver.handle(raw)
                if envelope_id is not None:
                    acks.append(envelope_id)
            if acks:
                await self._relay.ack(acks)
            await self._receiver.after_batch()
            if not more or not batch:
                return

    async def maintain_prekeys(self, *, now: int | None = None) -> PrekeysLow | None:
        """Check the relay's stock of this device's prekeys and the signed prekey's age; refill and rotate
        as :func:`confide.keys.prekeys.plan_refill` decides. Returns the :class:`PrekeysLow` event emitted,
        if anything was uploaded."""
        now_s = int(time.time()) if now is None else now
        counts = await self._relay.prekey_counts()
        plan = plan_refill(one_time_left=counts.get("one_time", 0), kem_one_time_left=counts.get("kem_one_time", 0),
                           signed_created_at=self._prekeys.current_signed_created_at(), now=now_s)
        if not plan.needed:
            return None
        upload = self._prekeys.generate(plan, now_s)
        await self._relay.upload_prekeys(
            signed_prekey=upload.signed_prekey, kem_last_resort=upload.kem_last_resort,
            one_time_prekeys=upload.one_time_prekeys, kem_one_time_prekeys=upload.kem_one_time_prekeys,
        )
        event = PrekeysLow(counts.get("one_time", 0), counts.get("kem_one_time", 0), upload.count)
        self._emit(event)
        return event

    async def _listen_loop(self) -> None:
        delay = RECONNECT_BASE_S
        while not self._closed:
            try:
                await self._ensure_registered()
                with contextlib.suppress(RelayUnreachable):
                    await self.flush_outbox()
                ws = await self._relay.websocket()
                delay = RECONNECT_BASE_S
                async with ws:
                    async for frame in ws:
                        if frame.type == aiohttp.WSMsgType.BINARY:
                            envelope_id = await self._receiver.handle(frame.data)
                            if envelope_id is not None:
                                await ws.send_str(json.dumps({"ack": [envelope_id.hex()]}))
                            await self._receiver.after_batch()
                        elif frame.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                reason = "the relay closed the live connection"
            except (RelayUnreachable, RelayError, aiohttp.ClientError, OSError) as exc:
                reason = str(exc) if isinstance(exc, ConfideError) else type(exc).__name__
            if self._closed:
                return
            wait = delay * (0.5 + random.random() / 2)
            self._emit(RelayOffline(reason, round(wait, 2)))
            await asyncio.sleep(wait)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _upkeep_loop(self) -> None:
        last_prekey_check = 0.0
        last_pull = time.monotonic()
        while not self._closed:
            try:
                self.expire_now()
                if time.monotonic() - last_pull >= self.catch_up_interval_s:
                    last_pull = time.monotonic()
                    with contextlib.suppress(RelayUnreachable, RelayError):
                        await self._pull()
                if time.monotonic() - last_prekey_check > PREKEY_CHECK_INTERVAL_S:
                    last_prekey_check = time.monotonic()
                    with contextlib.suppress(RelayUnreachable, RelayError):
                        await self.maintain_prekeys()
            except ConfideError:
                _log.exception("upkeep failed")
            await asyncio.sleep(min(EXPIRY_SWEEP_INTERVAL_S, self.catch_up_interval_s))

