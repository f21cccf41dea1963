"""A real HTTP reverse proxy on loopback in front of a real relay, for tests that cut or watch the connection.

It forwards every request unchanged (WebSocket upgrades included) and can be told to *cut*: from then on every
request's connection is aborted without an answer, as when the relay or the network goes away. ``cut_after``
arms a cut that happens right after a response to a matching request has been sent back.

It also *observes* what the relay (or a TLS proxy in front of it) sees of each request: ``seen`` records, for
every request, the TCP connection it came on (the client's port and a per-connection serial), whether it
carried the device-auth headers, and its ``User-Agent`` and cookies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from confide.protocol.auth import H_DEVICE, H_NONCE, H_SIGNATURE, H_TIMESTAMP

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"})
_WS_HANDSHAKE = frozenset({"upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"})
_AUTH_HEADERS = (H_DEVICE, H_SIGNATURE, H_NONCE, H_TIMESTAMP)


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it arrive."""

    method: str
    path: str
    connection: int
    """Serial of the TCP connection the request came on (1, 2, ...), in the order the proxy first saw them."""
    peer_port: int
    """The client's source port of that connection."""
    signed: bool
    """Whether it carried any of the device-auth headers (``X-Confide-Device`` etc.)."""
    user_agent: str
    cookie: str
    headers: tuple[tuple[str, str], ...] = ()
    """Every header as it arrived (names in lower case)."""


PROXY_SHUTDOWN_S = 1.0
"""How long the proxy waits for its handlers when it stops: a test's requests are long done by then (a handler
still streaming to a client that hung up must not hold the shutdown for aiohttp's default 60 s)."""

PROXY_MAX_BODY = 16 * 1024 * 1024
"""Largest request body a proxy forwards: above the relay's own largest (an 8 MiB batch)."""


@asynccontextmanager
async def serve_on_loopback(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]], max_body: int
) -> AsyncIterator[str]:
    """Serve ``handle`` for every method and path on a free loopback port; yields the base URL."""
    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=PROXY_SHUTDOWN_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class CuttingProxy:
    """Forwards to ``upstream`` until cut. ``requests`` records ``(method, path)`` of each forwarded request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.cut = False
        self.requests: list[tuple[str, str]] = []
        self.streamed_bytes = 0
        """Bytes of streamed (blob download) answers actually written to the client."""
        self._cut_after: tuple[str, str] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.seen: list[Seen] = []
        """Every request that arrived, in order (see :class:`Seen`)."""
        self._connections: dict[int, tuple[object, int]] = {}  # id(transport) -> (transport kept alive, serial)

    def _observe(self, request: web.Request) -> None:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        key = id(transport)
        if key not in self._connections:  # the transport is kept referenced, so its id is never reused
            self._connections[key] = (transport, len(self._connections) + 1)
        self.seen.append(
            Seen(
                request.method,
                request.path,
                self._connections[key][1],
                int(peer[1]) if peer else 0,
                any(h in request.headers for h in _AUTH_HEADERS),
                request.headers.get("User-Agent", ""),
                request.headers.get("Cookie", ""),
                tuple((k.lower(), v) for k, v in request.headers.items()),
            )
        )

    def cut_after(self, method: str, path: str) -> None:
        """Cut right after the next answered request ``method path``."""
        self._cut_after = (method, path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._observe(request)
        if self.cut:
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()  # never reaches the client: its connection is gone
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, {k: v for k, v in headers.items() if k.lower() not in _WS_HANDSHAKE})
        if request.method == "GET" and request.path.startswith("/v1/blobs/"):
            return await self._stream(request, headers)
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body or None, headers=headers
        ) as upstream:
            payload = await upstream.read()
            out = web.Response(
                status=upstream.status,
                body=payload,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
            )
        self.requests.append((request.method, request.path))
        if self._cut_after == (request.method, request.path):
            self._cut_after = None
            self.cut = True
        return out

    async def _stream(self, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        """Forward a download chunk by chunk, counting what the client really took before it hung up."""
        assert self._session is not None
        self.requests.append((request.method, request.path))
        async with self._session.get(self.upstream + request.path_qs, headers=headers) as upstream:
            out = web.StreamResponse(status=upstream.status)
            await out.prepare(request)
            try:
                async for chunk in upstream.content.iter_chunked(64 * 1024):
                    await out.write(chunk)
                    self.streamed_bytes += len(chunk)
            except (ConnectionError, aiohttp.ClientError):
                pass  # the client stopped reading
            return out

    async def _websocket(self, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        """Forward a WebSocket both ways until either side closes."""
        assert self._session is not None
        self.requests.append((request.method, request.path))
        try:
            upstream = await self._session.ws_connect(self.upstream + request.path_qs, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return web.Response(status=exc.status)
        down = web.WebSocketResponse()
        await down.prepare(request)

        Socket = aiohttp.ClientWebSocketResponse | web.WebSocketResponse

        async def pump(src: Socket, dst: Socket) -> None:
            async for frame in src:
                if frame.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(frame.data)
                elif frame.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(frame.data)
                else:
                    break

        async with upstream:
            tasks = [asyncio.ensure_future(pump(upstream, down)), asyncio.ensure_future(pump(down, upstream))]
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
