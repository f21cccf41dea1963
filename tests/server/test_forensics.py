"""Audit-free expiry: after ack/expiry and a sweep, no byte of the ciphertext is left on disk."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from confide.protocol.auth import sign_request
from confide.server import sweep

from .conftest import RunningRelay, make_user, run_relay, stop_relay

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
    acked, expiring, kept = (os.urandom(MARKER_LEN) for _ in range(3))
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
