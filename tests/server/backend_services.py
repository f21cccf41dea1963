"""The networked backend's services for tests: a fresh PostgreSQL database per test, and NATS.

Both may be absent (a laptop, a CI image without them): each fixture then skips its test with one sentence that
names the service, the address tried and how to start it, so ``make test`` says which backend tests it skipped
and why. ``.ci/run`` starts both when they are installed but stopped.

Use the fixtures by importing them into a test module (``from .backend_services import nats_url, pg_dsn``) or
call :func:`fresh_database` / :func:`require_nats` where a fixture does not fit (a test starting subprocesses).
Each test gets its own database (``confide_test_`` + 8 random bytes in hex), dropped at the end, so xdist
workers and tests never share state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_ADMIN_DSN = os.environ.get("CONFIDE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
"""A database on the test server where a role that may create databases connects (trust auth on CI); the
environment variable ``CONFIDE_TEST_PG`` overrides it."""

NATS_URL = os.environ.get("CONFIDE_TEST_NATS", "nats://127.0.0.1:4222")
"""The NATS server of the tests; ``CONFIDE_TEST_NATS`` overrides it."""

CONNECT_TIMEOUT_S = 2.0
"""How long a service may take to answer before its tests are skipped: loopback answers in milliseconds, and a
stopped service refuses at once; two seconds never skips a service that is merely busy."""

DATABASE_PREFIX = "confide_test_"

_down: dict[str, str] = {}
"""Services found unreachable by this test process, with the skip reason: later tests skip at once."""


def _where(url: str) -> str:
    """``host:port`` of ``url`` (never its user or password) for a skip reason."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def pg_skip_reason(exc: BaseException) -> str:
    return (
        f"PostgreSQL is not running at {_where(PG_ADMIN_DSN)}: {type(exc).__name__} "
        "(.ci/run starts it; set CONFIDE_TEST_PG to use another server)"
    )


def nats_skip_reason(exc: BaseException) -> str:
    return (
        f"NATS is not running at {_where(NATS_URL)}: {type(exc).__name__} "
        "(.ci/run starts it; set CONFIDE_TEST_NATS to use another server)"
    )


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new empty database for the block; yields its DSN and drops it (with any connection left) after.

    Skips the calling test when PostgreSQL does not answer within :data:`CONNECT_TIMEOUT_S`."""
    import asyncpg  # only the networked backend's tests need it

    if PG_ADMIN_DSN in _down:
        pytest.skip(_down[PG_ADMIN_DSN])
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        _down[PG_ADMIN_DSN] = pg_skip_reason(exc)
        pytest.skip(_down[PG_ADMIN_DSN])
    name = DATABASE_PREFIX + secrets.token_hex(8)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(PG_ADMIN_DSN, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def require_nats() -> str:
    """:data:`NATS_URL` once a NATS server there answered a round trip; else the calling test is skipped."""
    import nats.errors  # only the networked backend's tests need it
    from nats.aio.client import Client

    async def quiet(_: Exception) -> None:
        """nats-py logs every failed attempt with a traceback; the skip reason says it once."""

    if NATS_URL in _down:
        pytest.skip(_down[NATS_URL])
    parts = urlsplit(NATS_URL)
    try:  # a plain TCP connection first: refused at once, where nats-py would retry until the deadline
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 4222), CONNECT_TIMEOUT_S
        )
        writer.close()
    except (OSError, TimeoutError) as exc:
        _down[NATS_URL] = nats_skip_reason(exc)
        pytest.skip(_down[NATS_URL])
    nc = Client()
    try:
        # nats-py retries an unreachable server without end whatever its options say: the deadline bounds it.
        await asyncio.wait_for(nc.connect(NATS_URL, connect_timeout=1, error_cb=quiet), CONNECT_TIMEOUT_S)
        await asyncio.wait_for(nc.flush(), CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        with contextlib.suppress(nats.errors.Error, OSError):
            await nc.close()
        pytest.skip(nats_skip_reason(exc))
    await nc.close()
    return NATS_URL


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """The DSN of a fresh PostgreSQL database for this test (dropped after it); skips when PostgreSQL is down."""
    async with fresh_database() as dsn:
        yield dsn


@pytest.fixture
async def nats_url() -> str:
    """The URL of a running NATS server; skips when NATS is down. Tests keep apart by their devices' subjects
    (random device ids), so they may share the server."""
    return await require_nats()
