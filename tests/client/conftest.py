"""Fixtures for client tests: a real relay on loopback and cheap-KDF profiles."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from confide.client import Client, messaging
from confide.keys.keystore import TEST_KDF
from confide.server import RelayConfig, start_relay

PASSPHRASE = "correct horse battery staple"

MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def relay_url(tmp_path: Path) -> AsyncIterator[str]:
    # Limits off: the tests poll and send in tight loops (the limits have their own tests in tests/server).
    config = RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
    async with start_relay(config, host="127.0.0.1", port=0) as url:
        yield url


@pytest.fixture
async def make_client(tmp_path: Path, relay_url: str) -> AsyncIterator[MakeClient]:
    """Create (and at the end close) profiles ``tmp_path/<name>`` registered with the test relay."""
    opened: list[Client] = []

    async def make(name: str, role: str = "client") -> Client:
        client = await Client.create(tmp_path / name, PASSPHRASE, relay_url, name, role, kdf=TEST_KDF)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.close()


MakeDevice = Callable[..., Awaitable[Client]]
"""``await make_device(existing, "a2", name=..., origin=...)``: :func:`add_device` into ``tmp_path/<dir>``."""


@pytest.fixture
async def make_device(tmp_path: Path, relay_url: str) -> AsyncIterator[MakeDevice]:
    """Make (and at the end close) further devices of existing profiles, as :func:`add_device` does."""
    opened: list[Client] = []

    async def make(existing: Client, directory: str, **kwargs: Any) -> Client:
        from .devices_helpers import add_device

        device = await add_device(existing, tmp_path / directory, relay_url, **kwargs)
        opened.append(device)
        return device

    yield make
    for device in opened:
        await device.close()


async def introduce(a: Client, b: Client, a_name: str = "b", b_name: str = "a") -> None:
    """Each side adds the other from its invite code."""
    a.add_contact(a_name, b.invite_code())
    b.add_contact(b_name, a.invite_code())


@pytest.fixture
def relay_thread(tmp_path: Path) -> Iterator[str]:
    """A relay in its own event loop thread (for CLI tests), so that ``main()`` can run ``asyncio.run`` itself."""
    loop = asyncio.new_event_loop()
    ready: list[str] = []
    stop = asyncio.Event()

    async def serve() -> None:
        async with start_relay(RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0)) as url:
            ready.append(url)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    while not ready:
        thread.join(0.01)
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)


@pytest.fixture(autouse=True)
def prompt_receipts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library holds receipts back 1–5 s (``messaging.RECEIPT_DELAY_MIN_S``) so their timing does not link
    them to a delivery; client tests send them at once unless they set ``Messaging.receipt_delay_s`` themselves
    (``test_unlinkability`` checks the delay)."""
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MIN_S", 0.0)
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MAX_S", 0.0)


# -- the confide command, in-process ------------------------------------------------------------------
@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The passphrase and the cheap key-store setting for ``confide`` commands run with :func:`run`."""
    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CONFIDE_KDF", "test")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``confide ARGV`` in this process; returns ``(exit code, stdout, stderr)``."""
    from confide.client.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
