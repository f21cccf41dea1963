"""``create_app(config)``: the one app factory (CLI and tests), and ``start_relay`` for loopback use."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from aiohttp import WSCloseCode, web

from .auth import Authenticator
from .backends import backend_for
from .config import RelayConfig
from .limits import CLIENT_MAX_SIZE
from .logs import quiet_aiohttp, server_header
from .middleware import errors_and_limits
from .routes_accounts import routes as account_routes
from .routes_blobs import routes as blob_routes
from .routes_documents import routes as document_routes
from .routes_links import routes as link_routes
from .routes_messages import routes as message_routes
from .routes_misc import routes as misc_routes
from .routes_ws import routes as ws_routes
from .state import RELAY, Backend, Relay
from .sweeper import run_sweeper


def create_app(
    config: RelayConfig, *, clock: Callable[[], float] = time.time, backend: Backend | None = None
) -> web.Application:
    """Build the relay application on ``backend`` (default: :func:`~confide.server.backends.backend_for`
    ``config``: SQLite, or PostgreSQL and NATS when ``config.db_url`` is set). Every part of the backend starts on
    startup, storage first, and closes on cleanup in reverse order (storage last: pending writes are committed and
    the write-ahead log truncated).

    ``clock`` (unix seconds) is for tests that move time; production uses ``time.time``.
    """
    app = web.Application(middlewares=[errors_and_limits], client_max_size=CLIENT_MAX_SIZE)
    parts = backend_for(config) if backend is None else backend
    auth = Authenticator(parts.store, parts.replay, clock, parts.device_limiter)
    app[RELAY] = Relay(config=config, clock=clock, backend=parts, auth=auth)
    for table in (account_routes, message_routes, ws_routes, blob_routes, document_routes, link_routes, misc_routes):
        app.add_routes(table)
    quiet_aiohttp()
    app.on_response_prepare.append(server_header)
    app.cleanup_ctx.append(_backend_ctx)
    app.on_shutdown.append(_close_sockets)
    return app


class _Service(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...


async def _backend_ctx(app: web.Application) -> AsyncIterator[None]:
    relay = app[RELAY]
    parts = relay.backend
    async with contextlib.AsyncExitStack() as running:
        await parts.store.start()
        running.push_async_callback(parts.store.close)
        await parts.blobs.start(await parts.store.blob_names())
        running.push_async_callback(parts.blobs.close)
        services: tuple[_Service, ...] = (
            parts.notifier,
            parts.replay,
            parts.limiter,
            parts.bundle_limiter,
            parts.bundle_budget,
            parts.device_limiter,
            parts.recipient_limiter,
            parts.token_limiter,
            parts.token_bytes,
            parts.address_bytes,
            parts.upload_bytes,
            relay.reservations,
        )
        for service in services:
            await service.start()
            running.push_async_callback(service.close)
        sweeper = asyncio.get_running_loop().create_task(
            run_sweeper(parts.store, parts.blobs, relay.config.sweep_interval_s, relay.clock), name="confide-sweeper"
        )
        running.push_async_callback(_cancel, sweeper)
        yield


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_sockets(app: web.Application) -> None:
    for ws in list(app[RELAY].sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"relay shutting down")


@contextlib.asynccontextmanager
async def start_relay(config: RelayConfig, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run a relay on ``host:port`` (0 = any free port) for the duration of the block; yield its base URL.

    No access log is written (it would record client IPs and device ids).
    """
    runner = web.AppRunner(create_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        await runner.cleanup()
