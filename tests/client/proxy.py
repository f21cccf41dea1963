"""A real HTTP reverse proxy on loopback in front of a real relay, for tests that cut the connection.

It forwards every request unchanged and can be told to *cut*: from then on every request's connection is
aborted without an answer, as when the relay or the network goes away. ``cut_after`` arms a cut that
happens right after a response to a matching request has been sent back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"})


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

    def cut_after(self, method: str, path: str) -> None:
        """Cut right after the next answered request ``method path``."""
        self._cut_after = (method, path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.cut:
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()  # never reaches the client: its connection is gone
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
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

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yields the proxy's base URL."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._session = aiohttp.ClientSession()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}"
        finally:
            await self._session.close()
            await runner.cleanup()
