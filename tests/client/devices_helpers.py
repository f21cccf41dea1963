"""Test helpers for several devices of one identity, and a hostile relay in front of a real one.

:func:`add_device` makes a second device of an existing profile the way linking ends (the identity's list names
the new device, then the new device registers), without the link exchange: the existing device signs a list with a
fresh device key through ``Devices.add_device``, and a new profile is set up with the identity, that device key and
a new store key. :class:`HostileRelay` forwards everything to a real relay, except the answers a test tells it to
replace: what a relay that keeps old answers, or forges new ones, can send.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

from confide.client import Client
from confide.keys.device import DeviceKeyPair
from confide.keys.keystore import TEST_KDF
from confide.keys.secret_keys import STORE_KEY_LEN, SecretKeys
from confide.protocol.device_list import DeviceOrigin

from .conftest import PASSPHRASE
from .proxy import PROXY_MAX_BODY, serve_on_loopback

_DROP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"})


async def add_device(
    existing: Client,
    root: Path,
    relay_url: str,
    *,
    name: str = "second device",
    origin: DeviceOrigin = DeviceOrigin.LINKED,
) -> Client:
    """A new device of ``existing``'s identity, with its profile in ``root``: listed by ``existing`` first
    (a new signed list, published), then registered. Close it at the end of the test."""
    identity = existing._keys.identity
    device = DeviceKeyPair.generate(identity, os.urandom)
    await existing._devices.add_device(device.certificate, origin)
    keys = SecretKeys(identity, device, os.urandom(STORE_KEY_LEN))
    return await Client._set_up(root, keys, PASSPHRASE, relay_url, name, existing.role, kdf=TEST_KDF, rng=os.urandom)


class HostileRelay:
    """A relay in the middle: forwards to ``upstream`` and records each GET answer by path; a path in
    :attr:`replace` is answered with the bytes there instead (a replayed or forged answer)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.answers: dict[str, bytes] = {}
        """The last real answer to each GET path (as the relay sent it)."""
        self.replace: dict[str, bytes] = {}
        """GET path -> the body to answer with instead of the relay's (status 200)."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and path in self.replace:
            return web.Response(body=self.replace[path], content_type="application/json")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        body = await request.read()
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=body or None, headers=headers
            ) as upstream,
        ):
            data = await upstream.read()
            if request.method == "GET" and upstream.status == 200:
                self.answers[path] = data
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP}
            return web.Response(status=upstream.status, body=data, headers=out)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yields the URL to give a client."""
        async with serve_on_loopback(self.handle, PROXY_MAX_BODY) as url:
            yield url
