"""Helpers for the linking tests: a relay client of no account, a proxy that alters what the relay sends back (a
hostile relay, as the new device sees it), and reading the relay's own files the way a forensic look would."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from confide.client import Client, linking
from confide.client.relay import RelayClient
from confide.keys.address import Address
from confide.keys.device import DeviceKeyPair
from confide.keys.encoding import RNG
from confide.keys.identity import IdentityKeyPair
from confide.protocol.link import channel_of

from .proxy import CuttingProxy

__all__ = [
    "TamperingProxy",
    "address_of",
    "anonymous_relay",
    "blob_files",
    "channel_of",
    "flip_last_byte",
    "linking",
    "now",
    "relay_files_hold",
    "rng",
]


def rng() -> RNG:
    return os.urandom


def now() -> int:
    return int(time.time())


def address_of(client: Client) -> Address:
    return Address.parse(client.address)


@asynccontextmanager
async def anonymous_relay(url: str) -> AsyncIterator[RelayClient]:
    """A relay client of nobody (its device key is thrown away): for unsigned requests only."""
    device = DeviceKeyPair.generate(IdentityKeyPair.generate(os.urandom), os.urandom)
    async with RelayClient(url, device) as relay:
        yield relay


def relay_files_hold(relay_dir: Path, needle: bytes) -> list[Path]:
    """Every file of the relay's data folder (database, WAL, blob files) whose bytes contain ``needle``."""
    return [p for p in sorted(relay_dir.rglob("*")) if p.is_file() and needle in p.read_bytes()]


def blob_files(relay_dir: Path) -> list[Path]:
    """The blob files the relay holds."""
    folder = relay_dir / "blobs"
    return [p for p in sorted(folder.iterdir()) if p.is_file()] if folder.is_dir() else []


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes((data[-1] ^ 1,)) if data else data


class TamperingProxy(CuttingProxy):
    """Forwards to the relay, but passes what ``alter(path, body)`` makes of each answer to ``GET /v1/links/...``
    and ``GET /v1/blobs/...``: a relay that changes what it carries, as the device behind the proxy sees it."""

    def __init__(self, upstream: str, alter: Callable[[str, bytes], bytes]) -> None:
        super().__init__(upstream)
        self._alter = alter

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET" or not request.path.startswith(("/v1/links/", "/v1/blobs/")):
            return await super().handle(request)
        assert self._session is not None
        async with self._session.get(self.upstream + request.path_qs) as upstream:
            body = await upstream.read()
            status = upstream.status
        if status == 200:
            body = self._alter(request.path, body)
        return web.Response(status=status, body=body, content_type="application/octet-stream")
