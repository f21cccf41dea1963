"""A hostile relay: a real relay on loopback behind a reverse proxy that attacks its clients.

The proxy forwards every request to the real relay (``confide.server`` on loopback) and then tampers with what
comes back, on both channels the client reads deliveries from — the pulled pages of ``GET /v1/messages`` and the
binary frames of the ``/v1/ws`` push stream — and with the answers the client trusts for its key upkeep:

- deliveries, per recipient device (the ``X-Confide-Device`` of the pull or the WebSocket upgrade), each decided
  once, when the proxy first sees it, by a :class:`Schedule` keyed by the delivery's ordinal for that device
  (0, 1, 2, … in mailbox order): :class:`Drop` (never delivered), :class:`Hold` (withheld until a later one was
  delivered: delay and reorder), :class:`Duplicate`, :class:`Flip` (one bit, in a named :data:`Region`, once),
  :class:`Truncate` (once);
- :meth:`HostileRelay.replay`: inject a delivery recorded earlier (``genuine``) into the next page or push;
- ``GET /v1/accounts/{address}/bundle``: every answer is recorded (``bundles``) and may be replaced
  (``bundle_answer``: a stale one, another identity's);
- ``GET /v1/prekeys``: the counts may be replaced (``prekey_counts``);
- ``GET /v1/messages``: ``more`` may be a lie (``lie_more``), and a lying relay may serve the same page again
  and again (``repeat_pages``).

``faults`` counts what was done, by kind. The proxy never writes to the relay's store: what the relay holds is
exactly what honest clients sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web

from confide.protocol.auth import H_DEVICE
from confide.server import RelayConfig, start_relay

from ..client.proxy import PROXY_MAX_BODY, serve_on_loopback

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"})
_WS_HANDSHAKE = frozenset({"upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"})


# -- the layout of a delivery (protocol/envelope.py, protocol/sealed.py) -------------------------------------
DELIVERY_ID_AT = 1
"""Offset of the envelope id in a delivery (after the version byte)."""
ENVELOPE_ID_LEN = 16
DELIVERY_CIPHERTEXT_AT = 1 + 16 + 8 + 8 + 4
"""Offset of the sealed ciphertext: version, id, received_at, expires_at, its u32 length."""
SEALED_EPHEMERAL_AT = 1
"""Offsets inside the sealed ciphertext: version byte, then the 32-byte ephemeral key, then the u16-prefixed
static (sender certificate) ciphertext, then the message ciphertext (the inner ratchet message, encrypted: its
first bytes cover the ratchet header, the rest the body, the last 16 the tag)."""
RATCHET_HEADER_SPAN = 64
"""How many leading bytes of the message ciphertext the proxy calls "ratchet header" (the inner message starts
with its kind byte and the encrypted header, well over 64 bytes); the rest up to the tag is "body"."""
AEAD_TAG_LEN = 16

Region = Literal["version", "envelope_id", "timestamps", "length", "ephemeral", "sender", "header", "body", "tag"]
REGIONS: tuple[Region, ...] = (
    "version",
    "envelope_id",
    "timestamps",
    "length",
    "ephemeral",
    "sender",
    "header",
    "body",
    "tag",
)


def envelope_id(delivery: bytes) -> bytes:
    """The envelope id of a delivery's bytes (no parsing beyond the fixed offset)."""
    return delivery[DELIVERY_ID_AT : DELIVERY_ID_AT + ENVELOPE_ID_LEN]


def region_span(delivery: bytes, region: Region) -> tuple[int, int]:
    """``(start, end)`` of ``region`` in a well-formed delivery's bytes."""
    ct = DELIVERY_CIPHERTEXT_AT
    static_len = int.from_bytes(delivery[ct + 33 : ct + 35], "big")
    message_at = ct + 35 + static_len
    spans: dict[Region, tuple[int, int]] = {
        "version": (0, 1),
        "envelope_id": (DELIVERY_ID_AT, DELIVERY_ID_AT + ENVELOPE_ID_LEN),
        "timestamps": (17, 33),
        "length": (33, ct),
        "ephemeral": (ct + SEALED_EPHEMERAL_AT, ct + 33),
        "sender": (ct + 35, message_at),
        "header": (message_at, message_at + RATCHET_HEADER_SPAN),
        "body": (message_at + RATCHET_HEADER_SPAN, len(delivery) - AEAD_TAG_LEN),
        "tag": (len(delivery) - AEAD_TAG_LEN, len(delivery)),
    }
    return spans[region]


def flip_bit(delivery: bytes, region: Region, which: int) -> bytes:
    """``delivery`` with one bit flipped in ``region``; ``which`` picks the bit (taken modulo the region's bits)."""
    start, end = region_span(delivery, region)
    bit = which % ((end - start) * 8)
    out = bytearray(delivery)
    out[start + bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def truncate(delivery: bytes, keep: int, *, fix_length: bool) -> bytes:
    """The first ``keep`` bytes of ``delivery`` (a negative ``keep``: all but the last ``-keep``); ``fix_length``
    rewrites the ciphertext length to match, so the delivery still parses and the cut reaches the sealed layer."""
    keep = keep if keep >= 0 else len(delivery) + keep
    out = bytearray(delivery[:keep])
    if fix_length and keep >= DELIVERY_CIPHERTEXT_AT:
        out[33:DELIVERY_CIPHERTEXT_AT] = (keep - DELIVERY_CIPHERTEXT_AT).to_bytes(4, "big")
    return bytes(out)


# -- what to do with each delivery --------------------------------------------------------------------------
@dataclass(frozen=True)
class Drop:
    """Never deliver it (the relay keeps it; the proxy hides it from every page and push)."""


@dataclass(frozen=True)
class Hold:
    """Withhold it until delivery ``release_after`` (an ordinal) has gone out, then deliver it right after."""

    release_after: int


@dataclass(frozen=True)
class Duplicate:
    """Deliver it ``copies`` times in a row."""

    copies: int = 2


@dataclass(frozen=True)
class Flip:
    """Deliver it once with one bit flipped in ``region``; later (if the relay still holds it) unchanged."""

    region: Region
    which: int = 0


@dataclass(frozen=True)
class Truncate:
    """Deliver it once cut to ``keep`` bytes (``fix_length``: with its length field rewritten to match)."""

    keep: int
    fix_length: bool = False


Action = Drop | Hold | Duplicate | Flip | Truncate

Schedule = Callable[[int, bytes], Action | None]
"""Decides, once per delivery, what happens to it: ``(ordinal, delivery bytes) -> action`` (None: deliver)."""


@dataclass
class _Device:
    """What the proxy knows about one recipient device's deliveries."""

    ordinals: dict[bytes, int] = field(default_factory=dict)
    """Envelope id → ordinal, in the order first seen."""
    actions: dict[bytes, Action] = field(default_factory=dict)
    """Envelope id → its action, until the action is spent."""
    held: list[bytes] = field(default_factory=list)
    """Held deliveries (genuine bytes) in the order they were held."""
    released: set[int] = field(default_factory=set)
    """Ordinals that went out (genuinely, at least once)."""
    inject: list[bytes] = field(default_factory=list)
    """Deliveries to add to the next page or push (replays)."""


class HostileRelay:
    """A fault-injecting reverse proxy in front of the relay at ``upstream``. Use :meth:`running`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.schedule: Schedule | None = None
        """Decides each new delivery's fate (None: deliver everything as the relay sends it)."""
        self.victim: str | None = None
        """Only this device's deliveries (hex id) are attacked; None: every device's."""
        self.genuine: dict[str, list[bytes]] = {}
        """Device (hex id) → every delivery the relay sent it, as sent, in first-seen order."""
        self.faults: Counter[str] = Counter()
        """What the proxy did, by kind."""
        self.bundles: dict[str, list[bytes]] = {}
        """Address (as in the path) → every bundle answer the relay gave, as sent."""
        self.bundle_answer: Callable[[str, bytes], bytes] | None = None
        """Replaces a bundle answer: ``(address, the relay's answer) -> the answer sent``."""
        self.prekey_counts: dict[str, Any] | None = None
        """Sent instead of the relay's ``GET /v1/prekeys`` answer."""
        self.lie_more = False
        """Every page says ``more: true``."""
        self.repeat_pages = False
        """Every pull gets the last non-empty page served to that device again (with ``lie_more``: forever)."""
        self.push_delay_s = 0.0
        """Each pushed frame is held this long before it goes out."""
        self.last_puller = ""
        """The device (hex id) of the latest ``GET /v1/messages``: how a test learns a client's device id."""
        self.requests: Counter[str] = Counter()
        """``"METHOD /path"`` → how many the proxy forwarded (paths with an address or id collapsed)."""
        self._devices: dict[str, _Device] = {}
        self._last_page: dict[str, list[bytes]] = {}
        self._session: aiohttp.ClientSession | None = None

    # -- deliveries ---------------------------------------------------------------------------------------
    def replay(self, device: str, delivery: bytes) -> None:
        """Add ``delivery`` (e.g. from :attr:`genuine`) to ``device``'s next page or push."""
        self._devices.setdefault(device, _Device()).inject.append(delivery)

    def delivered(self, device: str) -> set[int]:
        """The ordinals of ``device``'s deliveries that went out intact at least once (what it may show)."""
        return set(self._devices[device].released) if device in self._devices else set()

    def _attacked(self, device: str) -> bool:
        return self.schedule is not None and (self.victim is None or self.victim == device)

    def _deliveries(self, device: str, batch: list[bytes]) -> list[bytes]:
        """What ``device`` gets instead of ``batch`` (the relay's page, or one pushed frame)."""
        state = self._devices.setdefault(device, _Device())
        out: list[bytes] = []
        if state.inject:
            self.faults["replay"] += len(state.inject)
            out.extend(state.inject)
            state.inject.clear()
        for raw in batch:
            eid = envelope_id(raw)
            if eid not in state.ordinals:
                state.ordinals[eid] = len(state.ordinals)
                self.genuine.setdefault(device, []).append(raw)
                action = self.schedule(state.ordinals[eid], raw) if self._attacked(device) and self.schedule else None
                if action is not None:
                    state.actions[eid] = action
                    self.faults[type(action).__name__.lower()] += 1
            out.extend(self._act(state, eid, raw))
        return out

    def _act(self, state: _Device, eid: bytes, raw: bytes) -> list[bytes]:
        action = state.actions.get(eid)
        ordinal = state.ordinals[eid]
        if isinstance(action, Drop):
            return []
        if isinstance(action, Hold):
            if action.release_after not in state.released:
                if raw not in state.held:
                    state.held.append(raw)
                return []
            del state.actions[eid]
            with suppress(ValueError):
                state.held.remove(raw)
            return self._out(state, ordinal, [raw])
        if action is not None:
            del state.actions[eid]  # a flip, a cut or a copy happens once; a redelivery is genuine
        if isinstance(action, Duplicate):
            return self._out(state, ordinal, [raw] * action.copies)
        if isinstance(action, Flip):
            return [flip_bit(raw, action.region, action.which)]
        if isinstance(action, Truncate):
            return [truncate(raw, action.keep, fix_length=action.fix_length)]
        return self._out(state, ordinal, [raw])

    def _out(self, state: _Device, ordinal: int, out: list[bytes]) -> list[bytes]:
        """``out`` goes out as delivery ``ordinal``; held deliveries waiting for it follow."""
        state.released.add(ordinal)
        for held in list(state.held):
            action = state.actions.get(envelope_id(held))
            if isinstance(action, Hold) and action.release_after == ordinal:
                out.extend(self._act(state, envelope_id(held), held))
        return out

    # -- the proxy ------------------------------------------------------------------------------------------
    @staticmethod
    def _route(request: web.Request) -> str:
        path = request.path
        if path.startswith("/v1/accounts/") and path.endswith("/bundle"):
            path = "/v1/accounts/{address}/bundle"
        elif path.startswith("/v1/blobs/"):
            path = "/v1/blobs/{id}"
        return f"{request.method} {path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        route = self._route(request)
        self.requests[route] += 1
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        device = request.headers.get(H_DEVICE, "")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, {k: v for k, v in headers.items() if k.lower() not in _WS_HANDSHAKE})
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body or None, headers=headers
        ) as upstream:
            status, payload = upstream.status, await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        if status == 200:
            payload = self._rewrite(route, request.path, device, payload)
        return web.Response(status=status, body=payload, headers=out_headers)

    def _rewrite(self, route: str, path: str, device: str, payload: bytes) -> bytes:
        """The relay's successful answer ``payload`` to ``route``, as the hostile relay sends it."""
        if route == "GET /v1/messages":
            self.last_puller = device
            obj = json.loads(payload)
            page = [base64.b64decode(m) for m in obj["messages"]]
            if self.repeat_pages and not page and self._last_page.get(device):
                page = self._last_page[device]
                self.faults["repeated_page"] += 1
            else:
                page = self._deliveries(device, page)
            if page:
                self._last_page[device] = page
            if self.lie_more and not obj["more"]:
                self.faults["lie_more"] += 1
            more = True if self.lie_more else bool(obj["more"])
            return json.dumps({"messages": [base64.b64encode(m).decode() for m in page], "more": more}).encode()
        if route == "GET /v1/accounts/{address}/bundle":
            address = path.split("/")[3]
            self.bundles.setdefault(address, []).append(payload)
            if self.bundle_answer is not None:
                self.faults["bundle"] += 1
                return self.bundle_answer(address, payload)
        if route == "GET /v1/prekeys" and self.prekey_counts is not None:
            self.faults["prekey_count"] += 1
            return json.dumps(self.prekey_counts).encode()
        return payload

    async def _websocket(self, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        """Forward a WebSocket both ways until either side closes, attacking the pushed deliveries."""
        assert self._session is not None
        device = request.headers.get(H_DEVICE, "")
        try:
            upstream = await self._session.ws_connect(self.upstream + request.path_qs, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return web.Response(status=exc.status)
        down = web.WebSocketResponse()
        await down.prepare(request)

        async def push() -> None:
            async for frame in upstream:
                if frame.type != aiohttp.WSMsgType.BINARY:
                    break
                if self.push_delay_s:
                    self.faults["push_delay"] += 1
                    await asyncio.sleep(self.push_delay_s)
                for raw in self._deliveries(device, [frame.data]):
                    await down.send_bytes(raw)

        async def acks() -> None:
            async for frame in down:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                await upstream.send_str(frame.data)

        async with upstream:
            tasks = [asyncio.ensure_future(push()), asyncio.ensure_future(acks())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with suppress(ConnectionError, RuntimeError):
            await down.close()
        return down

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yields the proxy's base URL."""
        self._session = aiohttp.ClientSession()
        try:
            async with serve_on_loopback(self.handle, PROXY_MAX_BODY) as url:
                yield url
        finally:
            await self._session.close()


@asynccontextmanager
async def hostile_relay(data_dir: Path) -> AsyncIterator[tuple[HostileRelay, str]]:
    """A real relay on ``data_dir`` (rate limits off: the tests send in tight loops) behind a :class:`HostileRelay`
    on loopback: yields ``(proxy, its URL)``."""
    config = RelayConfig(data_dir=data_dir, rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
    async with start_relay(config, host="127.0.0.1", port=0) as upstream:
        proxy = HostileRelay(upstream)
        async with proxy.running() as url:
            yield proxy, url
