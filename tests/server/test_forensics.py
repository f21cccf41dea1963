"""Audit-free expiry: after ack/expiry and a sweep, no byte of the ciphertext is left on disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from confide.protocol.auth import sign_request
from confide.server import sweep
from confide.server.config import DEFAULT_SWEEP_INTERVAL_S

from .conftest import RunningRelay, make_user, relay_config, run_relay, stop_relay

MARKER_LEN = 4096


def _disk_bytes(data_dir: Path) -> bytes:
    """Every byte the relay keeps: database, WAL, shared memory index and every blob file."""
    parts = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            parts.append(path.read_bytes())
    return b"\n".join(parts)


def _traces(marker: bytes, disk: bytes) -> int:
    """How many aligned 16-byte blocks of ``marker`` appear on disk. Any surviving 32-byte slice of the
    marker contains a whole aligned 16-byte block, so zero here means no 32-byte slice survived."""
    return sum(1 for i in range(0, len(marker) - 15, 16) if marker[i : i + 16] in disk)


async def test_acked_expired_and_deleted_bytes_leave_no_trace(relay: RunningRelay) -> None:
    api, data_dir = relay.api, relay.config.data_dir
    bob = make_user(n_otk=0, n_kem=0)
    await api.register(bob)
    acked, expiring, kept = (b"\x01" + os.urandom(MARKER_LEN - 1) for _ in range(3))  # 0xC5 marks sealed rows
    blob_marker, blob_kept = os.urandom(MARKER_LEN * 4), os.urandom(MARKER_LEN)

    acked_env = bob.envelope(acked)
    assert (await api.send(acked_env))[0] == 201
    assert (await api.send(bob.envelope(expiring, lifetime_s=5)))[0] == 201
    assert (await api.send(bob.envelope(kept)))[0] == 201

    for data, path in ((blob_marker, "/v1/blobs?lifetime=5"), (blob_kept, "/v1/blobs")):
        headers = sign_request(
            bob.device, "POST", path, hashlib.sha256(data).hexdigest(), now=int(time.time()), nonce=os.urandom(16)
        )
        headers["Content-Type"] = "application/octet-stream"
        async with api.session.post(api.base + path, data=data, headers=headers) as resp:
            assert resp.status == 201

    # The search works: before deletion every marker is on disk (database, WAL or blob folder).
    disk = _disk_bytes(data_dir)
    assert all(_traces(m, disk) > 0 for m in (acked, expiring, kept, blob_marker, blob_kept))

    assert (await api.ack(bob, [acked_env.envelope_id]))[1] == {"deleted": 1}
    await sweep(relay.relay.store, relay.relay.blobs, int(time.time() * 1000) + 60_000)

    disk = _disk_bytes(data_dir)
    assert _traces(acked, disk) == 0
    assert _traces(expiring, disk) == 0
    assert _traces(blob_marker, disk) == 0
    assert _traces(kept, disk) > 0
    assert _traces(blob_kept, disk) > 0

    # And after a clean shutdown and restart, still nothing.
    await stop_relay(relay)
    disk = _disk_bytes(data_dir)
    assert _traces(acked, disk) == 0
    assert _traces(expiring, disk) == 0
    assert _traces(blob_marker, disk) == 0
    restarted = await run_relay(relay.config)
    try:
        _, body = await restarted.api.pull(bob)
        assert len(body["messages"]) == 1
    finally:
        await stop_relay(restarted)


SCRUB_DEADLINE_S = 2.0
"""Issue 9 point 6: acknowledged, deleted or expired ciphertext must be gone from every relay file this soon."""


async def _upload(api: Any, user: Any, data: bytes, path: str) -> str:
    headers = sign_request(
        user.device, "POST", path, hashlib.sha256(data).hexdigest(), now=int(time.time()), nonce=os.urandom(16)
    )
    headers["Content-Type"] = "application/octet-stream"
    async with api.session.post(api.base + path, data=data, headers=headers) as resp:
        assert resp.status == 201
        return str((await resp.json())["blob_id"])


async def _keep_sending(api: Any, user: Any, stop: asyncio.Event) -> int:
    """Continuous load: envelopes one after another (each a commit that grows the WAL) until ``stop``."""
    sent = 0
    while not stop.is_set():
        assert (await api.send(user.envelope(os.urandom(512))))[0] == 201
        sent += 1
    return sent


@pytest.mark.parametrize("load", [False, True], ids=["idle", "under_load"])
async def test_deleted_ciphertext_leaves_every_file_within_two_seconds(tmp_path: Path, load: bool) -> None:
    """Attack: a forensic reader of the relay's disk (a seized or imaged server) two seconds after an envelope
    was acknowledged, an envelope expired and a blob was deleted, with no sweep run by hand and, in one case, a
    sender keeping the relay busy all along. Before issue 9 the acknowledged envelope stayed in ``relay.db-wal``
    until the next sweep (60 s), the expired one until that sweep, and a deleted blob's file was only unlinked."""
    config = relay_config(tmp_path, sweep_interval_s=DEFAULT_SWEEP_INTERVAL_S)
    relay = await run_relay(config)
    stop = asyncio.Event()
    try:
        api, data_dir = relay.api, config.data_dir
        bob, carol = make_user(n_otk=0, n_kem=0), make_user(n_otk=0, n_kem=0)
        await api.register(bob)
        await api.register(carol)
        loader = asyncio.create_task(_keep_sending(api, carol, stop)) if load else None
        acked, expiring, kept = (os.urandom(MARKER_LEN) for _ in range(3))
        blob_marker = os.urandom(MARKER_LEN * 4)
        acked_env = bob.envelope(acked)
        assert (await api.send(acked_env))[0] == 201
        assert (await api.send(bob.envelope(expiring, lifetime_s=1)))[0] == 201
        assert (await api.send(bob.envelope(kept)))[0] == 201
        blob_id = await _upload(api, bob, blob_marker, "/v1/blobs")
        blob_fd = os.open(config.blob_dir / blob_id, os.O_RDONLY)  # held, as a reader with an open file would
        try:
            disk = _disk_bytes(data_dir)
            assert all(_traces(m, disk) > 0 for m in (acked, expiring, kept, blob_marker))

            assert (await api.ack(bob, [acked_env.envelope_id]))[1] == {"deleted": 1}
            status, _ = await api.call("DELETE", f"/v1/blobs/{blob_id}", device=bob.device)
            assert status == 204
            await asyncio.sleep(SCRUB_DEADLINE_S)
            # The expired envelope: 1 s lifetime, so 2 s after its expiry as well by the second look below.
            disk = _disk_bytes(data_dir)
            assert _traces(acked, disk) == 0, "acknowledged ciphertext still on disk"
            assert _traces(blob_marker, disk) == 0, "deleted blob still on disk"
            assert _traces(blob_marker, os.pread(blob_fd, len(blob_marker), 0)) == 0, "blob blocks not overwritten"
            await asyncio.sleep(1.0)
            disk = _disk_bytes(data_dir)
            assert _traces(expiring, disk) == 0, "expired ciphertext still on disk"
            assert _traces(kept, disk) > 0
        finally:
            os.close(blob_fd)
        if loader is not None:
            stop.set()
            assert await loader > 0
    finally:
        stop.set()
        await stop_relay(relay)
