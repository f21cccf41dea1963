"""Per-client limits behind a reverse proxy, per device and per recipient (issue 9, point 4).

The proxy tests run a real nginx on loopback (Debian's ``nginx-light``; ``.ci/run`` installs it), started by the
test with its own configuration in ``tmp_path``: no daemon, its own prefix, a free loopback port, ``proxy_pass``
to the relay and ``X-Forwarded-For $proxy_add_x_forwarded_for``, as docs/operating.md shows. Clients connect from
different loopback source addresses (127.0.0.2, 127.0.0.3, ...), which Linux routes to the loopback interface.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from confide.protocol.envelope import delivery_token_hash
from confide.server import RelayConfig

from .conftest import b64, make_user, relay_config, run_relay, stop_relay

CLIENT_A, CLIENT_B, CLIENT_C = "127.0.0.2", "127.0.0.3", "127.0.0.4"
"""Source addresses of distinct clients (the relay and nginx listen on 127.0.0.1)."""

TEST_RATE_PER_S = 0.5
"""A per-address rate slow enough that no bucket refills noticeably during a test."""

TEST_BURST = 10.0
"""Requests an address may make at once in these tests before it is limited."""

HAMMER = 30
"""Requests the hammering client sends: three times the burst."""

NGINX_START_TIMEOUT_S = 10.0

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{relay_port};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""
"""The test's nginx: the same proxy settings as docs/operating.md, without TLS (loopback only)."""


def _nginx() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no nginx binary was found; .ci/run installs nginx-light")
        pytest.skip("no nginx binary (apt-get install nginx-light); CI installs it and runs this test")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _nginx_proxy(tmp_path: Path, relay_port: int) -> Iterator[str]:
    """Run nginx in front of the relay on ``relay_port``; yield the proxy's base URL."""
    binary = _nginx()
    prefix = tmp_path / f"nginx-{relay_port}"
    prefix.mkdir()
    port = _free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, relay_port=relay_port))
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + NGINX_START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    pytest.fail(f"nginx did not start: {err}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _limited_config(tmp_path: Path, **overrides: object) -> RelayConfig:
    return relay_config(tmp_path, rate_per_s=TEST_RATE_PER_S, rate_burst=TEST_BURST, **overrides)


@contextlib.asynccontextmanager
async def _client(source: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from ``source`` (a loopback address)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0))) as session:
        yield session


async def _statuses(
    session: aiohttp.ClientSession, url: str, n: int, headers: dict[str, str] | None = None
) -> list[int]:
    out = []
    for _ in range(n):
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            out.append(resp.status)
    return out


async def test_behind_trusted_proxy_one_hammering_client_is_limited_alone(tmp_path: Path) -> None:
    """Attack: behind a TLS proxy every request comes from the proxy's address, so one client that hammers the
    relay empties the one per-IP bucket and locks everyone out. With ``--trusted-proxy`` naming the proxy the
    relay counts the address in ``X-Forwarded-For``: the hammering client (who also forges its own
    ``X-Forwarded-For`` entries, which nginx keeps to the left of the real address) is limited, the other is not.
    Before issue 9 the relay had no trusted-proxy setting and the second client was refused too."""
    relay = await run_relay(_limited_config(tmp_path, trusted_proxies=("127.0.0.1/32",)))
    try:
        relay_port = int(relay.api.base.rsplit(":", 1)[1])
        with _nginx_proxy(tmp_path, relay_port) as proxy:
            health = proxy + "/v1/health"
            async with _client(CLIENT_A) as a, _client(CLIENT_B) as b:
                forged = [{"X-Forwarded-For": f"203.0.113.{i % 250}"} for i in range(HAMMER)]
                hammer = [await _statuses(a, health, 1, forged[i]) for i in range(HAMMER)]
                assert [s for [s] in hammer].count(429) >= HAMMER - TEST_BURST - 2
                assert await _statuses(b, health, 5) == [200] * 5
    finally:
        await stop_relay(relay)


async def test_without_trusted_proxy_clients_behind_a_proxy_share_one_bucket(tmp_path: Path) -> None:
    """The documented default: without ``--trusted-proxy`` the relay ignores ``X-Forwarded-For`` and counts the
    proxy's own address, so behind a proxy all clients share one bucket (what the setting is for)."""
    relay = await run_relay(_limited_config(tmp_path))
    try:
        relay_port = int(relay.api.base.rsplit(":", 1)[1])
        with _nginx_proxy(tmp_path, relay_port) as proxy:
            async with _client(CLIENT_A) as a, _client(CLIENT_B) as b:
                assert 429 in await _statuses(a, proxy + "/v1/health", HAMMER)
                assert (await _statuses(b, proxy + "/v1/health", 1)) == [429]
    finally:
        await stop_relay(relay)


async def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    """Attack: a client that reaches the relay directly (not through the proxy) sends a fresh forged
    ``X-Forwarded-For`` with every request, hoping for a fresh bucket each time. The header is read only from a
    trusted proxy's connection, so the client is limited by its real address, and another client is not."""
    relay = await run_relay(_limited_config(tmp_path, trusted_proxies=("127.0.0.1/32",)))
    try:
        health = relay.api.base + "/v1/health"
        async with _client(CLIENT_C) as c, _client(CLIENT_B) as b:
            statuses = [
                (await _statuses(c, health, 1, {"X-Forwarded-For": f"198.51.100.{i}, 127.0.0.1"}))[0]
                for i in range(HAMMER)
            ]
            assert statuses.count(429) >= HAMMER - TEST_BURST - 2
            assert await _statuses(b, health, 3) == [200] * 3
    finally:
        await stop_relay(relay)


async def test_a_hammering_device_is_limited_per_device(tmp_path: Path) -> None:
    """Attack: one registered device, behind the same address as everyone else (a practice's NAT, a proxy),
    sends signed requests as fast as it can. Its own bucket empties (429), while another device from the same
    address still pulls. Before issue 9 signed requests were limited only per address."""
    relay = await run_relay(relay_config(tmp_path, device_rate_per_s=TEST_RATE_PER_S))
    try:
        api = relay.api
        mallory, alice = make_user(n_otk=0, n_kem=0), make_user(n_otk=0, n_kem=0)
        assert (await api.register(mallory))[0] == 201
        assert (await api.register(alice))[0] == 201
        statuses = [(await api.pull(mallory))[0] for _ in range(HAMMER * 10)]
        assert 429 in statuses
        assert (await api.pull(alice))[0] == 200
    finally:
        await stop_relay(relay)


async def test_sealed_sends_are_limited_per_recipient_and_per_token(tmp_path: Path) -> None:
    """Attack: one contact floods a recipient with sealed envelopes (no signature, so no device limit), and a
    stranger sends envelopes with made-up tokens to use up the recipient's rate. The contact's token is limited
    (429); the stranger's refused envelopes (403) spend nothing of the recipient's; another contact's envelopes
    still arrive. Before issue 9 sealed sends were limited only per address."""
    relay = await run_relay(
        relay_config(tmp_path, recipient_rate_per_s=TEST_RATE_PER_S * 4, token_rate_per_s=TEST_RATE_PER_S)
    )
    try:
        api = relay.api
        bob = make_user(n_otk=0, n_kem=0)
        assert (await api.register(bob))[0] == 201
        flood = [(await api.send(bob.envelope(os.urandom(64))))[0] for _ in range(HAMMER)]
        assert 429 in flood
        stranger = [(await api.send(bob.envelope(os.urandom(64), token=os.urandom(32))))[0] for _ in range(HAMMER)]
        assert set(stranger) == {403}
        # Another contact: a second token of bob's device, its own bucket, and the recipient's rate not used up.
        other = os.urandom(32)
        status, _ = await api.call(
            "PUT",
            "/v1/delivery-tokens",
            device=bob.device,
            json_body={"token_hashes": [b64(delivery_token_hash(t)) for t in (bob.token, other)]},
        )
        assert status == 200
        assert (await api.send(bob.envelope(b"hello", token=other)))[0] == 201
        assert (await api.send(bob.envelope(b"again", token=bob.token)))[0] == 429
    finally:
        await stop_relay(relay)
