"""``create_app(config)``: the one app factory (CLI and tests), and ``start_relay`` for loopback use."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import WSCloseCode, web

from .auth import Authenticator
from .blobs import BlobFiles
from .config import RelayConfig
from .db import SqliteStore
from .middleware import errors_and_limits
from .notifier import InProcessNotifier
from .ratelimit import HourlyBudget, TokenBucketLimiter
from .routes_accounts import routes as account_routes
from .routes_blobs import routes as blob_routes
from .routes_messages import routes as message_routes
from .routes_misc import routes as misc_routes
from .routes_ws import routes as ws_routes
from .state import RELAY, Relay
from .sweeper import run_sweeper

CLIENT_MAX_SIZE = 1024 * 1024
"""aiohttp's own cap for ``request.read()``; handlers read bodies themselves with their tighter limits, and
blob uploads stream (their cap is ``max_blob_bytes``)."""


def create_app(config: RelayConfig, *, clock: Callable[[], float] = time.time) -> web.Application:
    """Build the relay application. Storage opens on startup and is checkpointed and closed on cleanup.

    ``clock`` (unix seconds) is for tests that move time; production uses ``time.time``.
    """
    app = web.Application(middlewares=[errors_and_limits], client_max_size=CLIENT_MAX_SIZE)
    store = SqliteStore(config.db_path, sync_full=config.sync_full)
    relay = Relay(
        config=config,
        clock=clock,
        store=store,
        blobs=BlobFiles(config.blob_dir),
        auth=Authenticator(store, clock),
        notifier=InProcessNotifier(),
        limiter=TokenBucketLimiter(config.rate_per_s, config.rate_burst),
        bundle_limiter=TokenBucketLimiter(config.bundle_rate_per_min / 60.0, config.bundle_rate_per_min / 2),
        bundle_budget=HourlyBudget(config.bundle_budget_per_hour),
    )
    app[RELAY] = relay
    for table in (account_routes, message_routes, ws_routes, blob_routes, misc_routes):
        app.add_routes(table)
    app.cleanup_ctx.append(_storage_ctx)
    app.on_shutdown.append(_close_sockets)
    return app


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    relay = app[RELAY]
    relay.config.data_dir.mkdir(parents=True, exist_ok=True)
    store = relay.store
    assert isinstance(store, SqliteStore)
    await store.start()
    relay.blobs.start(await store.blob_paths())
    sweeper = asyncio.get_running_loop().create_task(
        run_sweeper(store, relay.blobs, relay.config.sweep_interval_s, relay.clock), name="confide-sweeper"
    )
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await store.close()


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
