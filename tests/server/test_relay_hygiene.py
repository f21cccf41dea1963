"""What the relay writes beside its data (issue 9, point 7): its logs, its file modes, its banner.

The relay runs as a real subprocess (``python -m confide.server``) with its stdout and stderr captured, started
under a permissive umask (022) so that the modes checked are the relay's own doing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from confide.protocol.auth import sign_request

from .conftest import Api, make_user

CLIENT_ADDR = "127.0.0.2"
"""The hostile client's source address: distinct from the relay's listening address, so any trace of it in the
logs is a logged client IP (and not the relay announcing where it listens)."""

STARTUP_TIMEOUT_S = 20.0
"""How long the relay subprocess may take to answer its health check."""

HEX_ID = re.compile(rb"[0-9a-fA-F]{16,}")
"""A device id, envelope id or token hash written as hex (16+ hex digits)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def relay_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, Path]]:
    port, data, log = _free_port(), tmp_path / "data", tmp_path / "relay.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIDE_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "confide.server", "--port", str(port), "--data", str(data)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=lambda: os.umask(0o022),
        )
    try:
        yield proc, f"http://127.0.0.1:{port}", data, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _wait_up(session: aiohttp.ClientSession, base: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            async with session.get(base + "/v1/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


async def _raw(port: int, payload: bytes) -> bytes:
    """Send raw bytes from :data:`CLIENT_ADDR`; return whatever the relay answers before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(CLIENT_ADDR, 0))
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


async def test_hostile_requests_leave_no_identifier_in_logs_files_are_private_and_no_banner(
    relay_process: tuple[subprocess.Popen[bytes], str, Path, Path],
) -> None:
    """Attack: a client sends what makes aiohttp log — an over-long URL that contains an address, a bad method,
    a malformed header, invalid JSON, an address and a device id in the path — and an operator (or whoever
    reads the host's logs or backups) reads the relay's output afterwards: it must hold no address, hex id or
    client IP. Before issue 9 aiohttp's error log printed the request line with a traceback and the client's
    IP. The same reader lists the data directory: before, ``relay.db`` and ``blobs/`` were world-readable.
    And the ``Server`` header named the Python and aiohttp versions."""
    proc, base, data, log = relay_process
    port = int(base.rsplit(":", 1)[1])
    user = make_user(n_otk=0, n_kem=0)
    address, device_hex = user.address, user.device_id.hex()
    connector = aiohttp.TCPConnector(local_addr=(CLIENT_ADDR, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        await _wait_up(session, base)
        api = Api(session, base)
        status, _ = await api.register(user)
        assert status == 201
        blob = os.urandom(1000)
        headers = sign_request(
            user.device,
            "POST",
            "/v1/blobs",
            hashlib.sha256(blob).hexdigest(),
            now=int(time.time()),
            nonce=os.urandom(16),
        )
        headers["Content-Type"] = "application/octet-stream"
        async with session.post(base + "/v1/blobs", data=blob, headers=headers) as resp:
            assert resp.status == 201
            assert resp.headers.get("Server", "confide") == "confide"

        line = f"/v1/accounts/{address}/bundle"
        hostile = [
            f"GET {line}?pad={'x' * 20000} HTTP/1.1\r\nHost: relay\r\n\r\n".encode(),
            f"G\x01T {line} HTTP/1.1\r\nHost: relay\r\n\r\n".encode(),
            f"GET {line} HTTP/1.1\r\nHost: relay\r\nX-Confide-Device {device_hex}\r\n\r\n".encode(),
            f"GET {line} HTTP/9.9\r\nHost: relay\r\n\r\n".encode(),
            b"POST /v1/accounts HTTP/1.1\r\nHost: relay\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
            + address.encode(),
        ]
        answers = [await _raw(port, payload) for payload in hostile]
        for answer in answers:
            assert b"aiohttp" not in answer, answer[:300]
            assert b"Python" not in answer, answer[:300]
        for method, path, body in (
            ("POST", "/v1/accounts", f'{{"identity": "{address}", '.encode()),
            ("GET", f"/v1/accounts/{address}/bundle", b""),
            ("GET", f"/v1/blobs/{device_hex}", b""),
            ("DELETE", f"/v1/blobs/{device_hex}{device_hex}", b""),
            ("POST", "/v1/messages/ack", f'{{"ids": ["{device_hex}"'.encode()),
            ("BREW", f"/{address}", b""),
        ):
            async with session.request(
                method, base + path, data=body or None, headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()
                assert resp.status < 500
                assert resp.headers.get("Server", "confide") == "confide", resp.headers.get("Server")

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    text = log.read_bytes()
    assert address.encode() not in text, text.decode(errors="replace")
    assert b"cf1-" not in text, text.decode(errors="replace")
    assert device_hex.encode() not in text
    assert not HEX_ID.search(text), text.decode(errors="replace")
    assert CLIENT_ADDR.encode() not in text, text.decode(errors="replace")
    assert b"Traceback" not in text, text.decode(errors="replace")

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(data) == 0o700
    assert mode(data / "blobs") == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.parent.name == "blobs" for p in files)
    assert any(p.name == "relay.db" for p in files)
    for file in files:
        assert mode(file) == 0o600, (file.name, oct(mode(file)))


async def test_wal_and_shm_are_private_while_the_relay_runs(
    relay_process: tuple[subprocess.Popen[bytes], str, Path, Path],
) -> None:
    """Attack: another local user reads ``relay.db-wal`` (recent ciphertext) while the relay runs: the
    write-ahead log and shared-memory files exist only then, and must be 0600 like the database."""
    _, base, data, _ = relay_process
    async with aiohttp.ClientSession() as session:
        await _wait_up(session, base)
        user = make_user(n_otk=0, n_kem=0)
        assert (await Api(session, base).register(user))[0] == 201
    for name in ("relay.db", "relay.db-wal", "relay.db-shm"):
        path = data / name
        assert path.exists(), name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
