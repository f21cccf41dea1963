"""A full disk under the relay's data directory and under a client's profile: clean refusals, nothing stored
damaged, and everything works again once space returns.

The disk is real: a tmpfs of a few MiB (:func:`~tests.reliability.crashkit.small_filesystem`) filled with a
filler file until the kernel answers ``ENOSPC``. Mounting needs root; these tests are skipped, with the reason
printed, only where the machine cannot mount a tmpfs (never in CI, which runs as root in a container that
can). The relay runs as its own process (``python -m confide.server``) with its free-disk reserve set to 0,
so the writes really reach the full disk instead of being refused earlier by the reserve check.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from confide.client import (
    AttachmentError,
    Client,
    Event,
    MessageReceived,
    MessageStatus,
    StorageError,
    messaging,
)
from confide.client.cli import EXIT_PROFILE
from confide.keys.keystore import TEST_KDF
from confide.protocol.envelope import Delivery
from confide.server import RelayConfig, start_relay
from confide.server.diskgauge import DISK_READ_INTERVAL_S

from ..server.conftest import Api, User, make_user
from .crashkit import fill, mount_problem, small_filesystem

PASSPHRASE = "correct horse battery staple"
FS_MIB = 8
"""Size of the relay's file system: room for the database, its WAL and a few hundred KiB of envelopes, small
enough to fill in a fraction of a second."""
RELAY_START_S = 30.0
"""Longest wait for the relay process to listen (imports and opening the database take about a second)."""
ENVELOPE_BYTES = 4096
"""Ciphertext size of each test envelope."""
KEPT = 20
"""Envelopes stored before the disk fills; each must come back intact."""
SETTLE_S = 0.5
"""Wait after a first fill for the relay's WAL scrub (coalesced to 100 ms after a deletion) to free what it
frees, so that a second fill leaves the disk truly full."""
REFILLS = 10
"""Times the disk is filled again while something (the relay's scrub) still frees space."""
UPLOAD_PIECE = 1024 * 1024
"""The test upload is two pieces of this size; the disk is filled between them."""
ROOM_FOR_A_MESSAGE = 512 * 1024
"""Free space left on the profile's disk in the attachment test: room for the store's writes of one message,
not for a 2 MiB attachment."""
REFUSALS_IN_A_ROW = 20
"""Sends refused one after the other before the test takes the relay to be full (and checks the rest)."""
MAX_SENDS = 400
"""More sends than 256 KiB of free space could ever take (each envelope is 4 KiB)."""
REFUSED = {507: "insufficient_storage", 503: "unavailable"}
"""The only answers a write may get on a full disk, with their JSON error codes."""

_MOUNT_PROBLEM = mount_problem()
needs_mount = pytest.mark.skipif(
    _MOUNT_PROBLEM is not None, reason=f"a real full disk needs a small tmpfs: {_MOUNT_PROBLEM}"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RelayProcess:
    """``python -m confide.server`` on a data directory, started and stopped by the test."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        big = str(1 << 40)
        argv = [sys.executable, "-m", "confide.server", "--port", str(self.port), "--data", str(self.data)]
        argv += ["--disk-reserve-bytes", "0", "--registration-work", "0", "--mailbox-quota", "100000"]
        argv += ["--rate", "0", "--bundle-rate", "0", "--device-rate", "0", "--recipient-rate", "0"]
        argv += ["--token-rate", "0", "--token-bytes-per-day", big, "--address-bytes-per-day", big]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    async def ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + RELAY_START_S
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.proc is not None
                assert self.proc.poll() is None, "the relay exited"
                try:
                    async with session.get(self.url + "/v1/accounts/challenge") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, "the relay did not start"
                await asyncio.sleep(0.1)

    def stop(self) -> str:
        """SIGTERM (a clean shutdown), which must end with exit code 0, no traceback and no request answered 500
        (logged as "relay handler failed"); returns what the relay wrote to stderr."""
        assert self.proc is not None
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        _, raw = proc.communicate(timeout=RELAY_START_S)
        err = raw.decode(errors="replace")
        assert "Traceback" not in err, err
        assert "handler failed" not in err, err
        assert proc.returncode == 0, err
        return err

    def kill(self) -> None:
        """End the process if it still runs (cleanup after a failed test)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.communicate()
            self.proc = None


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with small_filesystem(tmp_path / "fs", FS_MIB) as fs:
        yield fs


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, "")


def _refusal(status: int, body: Any) -> bool:
    """A clean refusal: 507 or 503 with the JSON body ``{"error": code, "message": text}``."""
    return status in REFUSED and isinstance(body, dict) and body.get("error") == REFUSED[status] and "message" in body


def _ciphertext() -> bytes:
    """A test envelope's ciphertext: random after the version byte every client ciphertext starts with (a row that
    starts with 0xC5 is taken for one sealed at rest, see server/at_rest.py)."""
    return b"\x01" + os.urandom(ENVELOPE_BYTES - 1)


async def _pull_all(api: Api, user: User) -> dict[bytes, bytes]:
    """Every envelope waiting for ``user`` (id → ciphertext), not acknowledged."""
    status, body = await api.pull(user, limit=500)
    assert status == 200, body
    assert body["more"] is False
    out: dict[bytes, bytes] = {}
    for item in body["messages"]:
        d = Delivery.from_bytes(base64.b64decode(item))
        out[d.envelope_id] = d.ciphertext
    return out


@needs_mount
@pytest.mark.parametrize("leave", [0, 256 * 1024], ids=["full", "nearly-full"])
async def test_relay_on_a_full_disk(leave: int, small_fs: Path, api: Api) -> None:
    """With the disk full to the last byte (the relay's own free-space check refuses first) or with 256 KiB left
    (SQLite itself runs into ``ENOSPC`` while writing its log): sends, uploads and registrations get 507/503
    with a JSON body (never 500); what was stored stays fetchable (a GET is answered even though its replay
    floor cannot be stored) and intact; after the filler is deleted the relay accepts again; after a restart
    the database passes ``PRAGMA integrity_check`` and holds everything it accepted."""
    relay = RelayProcess(small_fs / "relay")
    relay.start()
    try:
        await relay.ready()
        api.base = relay.url
        alice, bob = make_user(), make_user()
        for user in (alice, bob):
            status, body = await api.register(user)
            assert status == 201, body
        kept: dict[bytes, bytes] = {}
        for _ in range(KEPT):
            env = bob.envelope(_ciphertext())
            status, body = await api.send(env)
            assert status == 201, body
            kept[env.envelope_id] = env.ciphertext
        filler = small_fs / "filler"
        fill(filler, leave)

        answers: list[tuple[int, Any]] = []
        accepted: dict[bytes, bytes] = {}
        refused_in_a_row = 0
        while refused_in_a_row < REFUSALS_IN_A_ROW:  # until the relay clearly holds no more
            assert len(answers) < MAX_SENDS, "the relay kept accepting on a full disk"
            env = bob.envelope(_ciphertext())
            status, body = await api.send(env)
            answers.append((status, body))
            refused_in_a_row = 0 if status == 201 else refused_in_a_row + 1
            if status == 201:
                accepted[env.envelope_id] = env.ciphertext
        assert [a for a in answers if a[0] != 201 and not _refusal(*a)] == []
        assert any(_refusal(*a) for a in answers), "the disk is full: some send must have been refused"
        upload = os.urandom(256 * 1024)
        status, body = await api.call(
            "POST", "/v1/blobs?lifetime=600", device=alice.device, body=upload, content_type="application/octet-stream"
        )
        assert _refusal(status, body), (status, body)
        late = make_user()
        status, body = await api.register(late)
        assert _refusal(status, body), (status, body)

        assert await _pull_all(api, bob) == kept | accepted  # still fetchable, byte for byte
        relay.stop()  # a clean stop although its last checkpoint cannot grow the database file
        relay.start()  # and a start on the full disk
        await relay.ready()
        assert await _pull_all(api, bob) == kept | accepted

        filler.unlink()  # space returns; the relay reads the free space again after DISK_READ_INTERVAL_S
        await asyncio.sleep(DISK_READ_INTERVAL_S * 2)
        env = bob.envelope(_ciphertext())
        status, body = await api.send(env)
        assert status == 201, body
        accepted[env.envelope_id] = env.ciphertext
        status, body = await api.call(
            "POST", "/v1/blobs?lifetime=600", device=alice.device, body=upload, content_type="application/octet-stream"
        )
        assert status == 201, body
        blob_id = body["blob_id"]
        status, body = await api.register(late)
        assert status == 201, body
        relay.stop()
        print(f"sends on the full disk: {Counter(a[0] for a in answers)}")
    finally:
        relay.kill()

    db = small_fs / "relay" / "relay.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    relay.start()
    try:
        await relay.ready()
        assert await _pull_all(api, bob) == kept | accepted
        status, body = await api.call("GET", f"/v1/blobs/{blob_id}")
        assert (status, body) == (200, upload)
        relay.stop()
    finally:
        relay.kill()


@pytest.fixture
async def relay_url(tmp_path: Path) -> AsyncIterator[str]:
    """A relay on the ordinary disk, in this process (only the client's disk fills in the client test)."""
    config = RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
    async with start_relay(config) as url:
        yield url


async def _cli(profile: Path, *argv: str, stdin: bytes = b"") -> tuple[int, str]:
    """``confide ARGV --profile PROFILE`` in its own process; returns (exit code, stderr)."""
    env = dict(os.environ, CONFIDE_PASSPHRASE=PASSPHRASE)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "confide.client.cli",
        *argv,
        "--profile",
        str(profile),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(stdin), RELAY_START_S)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@needs_mount
async def test_client_profile_on_a_full_disk(
    small_fs: Path, tmp_path: Path, relay_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice's profile lives on a disk that fills up. Sending and receiving raise :class:`StorageError` and keep
    nothing (the relay keeps her mail: nothing is acknowledged); the CLI says so in one line with the exit code
    of its table; once space returns the waiting messages arrive exactly once, sending works, and her store
    passes ``PRAGMA integrity_check``."""
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MIN_S", 0.0)
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MAX_S", 0.0)
    a = await Client.create(small_fs / "alice", PASSPHRASE, relay_url, "alice", "client", kdf=TEST_KDF)
    b = await Client.create(tmp_path / "bob", PASSPHRASE, relay_url, "bob", "therapist", kdf=TEST_KDF)
    try:
        a.add_contact("b", b.invite_code())
        b.add_contact("a", a.invite_code())
        await a.send_text("b", "hello")
        assert _texts(await b.sync()) == ["hello"]
        await b.send_text("a", "m1")
        await b.send_text("a", "m2")
        before = _thread(a)
        filler = small_fs / "filler"
        fill(filler)

        with pytest.raises(StorageError, match="the disk holding the profile is full"):
            await a.send_text("b", "s1")
        with pytest.raises(StorageError, match="the disk holding the profile is full"):
            await a.sync()
        assert _thread(a) == before
        assert a.queued() == []
        code, err = await _cli(small_fs / "alice", "sync")
        assert code == EXIT_PROFILE
        assert len(err.splitlines()) == 1
        assert "Traceback" not in err
        assert "the disk holding the profile is full" in err
        assert "restore" not in err  # nothing is damaged: the profile must not be thrown away
        print(f"confide sync on a full disk: exit {code}: {err.strip()}")
        code, err = await _cli(small_fs / "alice", "send", "b", "-", stdin=b"s2")
        assert code == EXIT_PROFILE
        assert len(err.splitlines()) == 1
        assert "the disk holding the profile is full" in err

        filler.unlink()  # space returns
        assert _texts(await a.sync()) == ["m1", "m2"]
        assert _texts(await a.sync()) == []
        assert (await a.send_text("b", "s3")).status == MessageStatus.SENT
        assert _texts(await b.sync()) == ["s3"]
        assert _thread(a) == [*before, ("in", "m1"), ("in", "m2"), ("out", "s3")]
    finally:
        await a.close()
        await b.close()
    with sqlite3.connect(small_fs / "alice" / "store.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _texts(events: list[Event]) -> list[str]:
    return [e.message.text for e in events if isinstance(e, MessageReceived)]


def _thread(c: Client) -> list[tuple[str, str]]:
    return [(str(m.direction), m.text) for m in c.history("b")]


@needs_mount
async def test_client_keeps_what_a_full_relay_refuses(
    small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay's disk is full: a message sent meanwhile answers 507 and stays queued (``pending``), not
    ``failed``; once space returns, the next sync posts it and the peer gets it exactly once."""
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MIN_S", 0.0)
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MAX_S", 0.0)
    relay = RelayProcess(small_fs / "relay")
    relay.start()
    try:
        await relay.ready()
        a = await Client.create(tmp_path / "alice", PASSPHRASE, relay.url, "alice", "client", kdf=TEST_KDF)
        b = await Client.create(tmp_path / "bob", PASSPHRASE, relay.url, "bob", "therapist", kdf=TEST_KDF)
        try:
            a.add_contact("b", b.invite_code())
            b.add_contact("a", a.invite_code())
            await a.send_text("b", "hello")
            assert _texts(await b.sync()) == ["hello"]
            filler = small_fs / "filler"
            # Bob's ack makes the relay scrub its WAL (truncate it), which frees space, and under load that can
            # come late: fill again until the disk has stayed full for two settle periods in a row.
            fill(filler)
            full_for = 0
            for _ in range(REFILLS):
                await asyncio.sleep(SETTLE_S)
                if shutil.disk_usage(small_fs).free == 0:
                    full_for += 1
                    if full_for == 2:
                        break
                else:
                    full_for = 0
                    fill(filler)
            assert shutil.disk_usage(small_fs).free == 0, "the disk would not stay full"
            await asyncio.sleep(DISK_READ_INTERVAL_S * 2)  # the relay has seen the full disk: it answers 507
            sent = await a.send_text("b", "while full")
            assert sent.status == MessageStatus.PENDING
            assert [q.message_id for q in a.queued()] == [sent.message_id]
            filler.unlink()
            await asyncio.sleep(DISK_READ_INTERVAL_S * 2)
            await a.sync()
            assert a.queued() == []
            assert _texts(await b.sync()) == ["while full"]
            assert _texts(await b.sync()) == []
        finally:
            await a.close()
            await b.close()
        relay.stop()
    finally:
        relay.kill()


@needs_mount
async def test_disk_filling_during_an_upload(small_fs: Path, api: Api) -> None:
    """Another program fills the disk while an attachment streams in (after the relay's free-space check let it
    start): the upload is answered 507 with a JSON body, not 500; its partial file is gone; once space returns
    the same upload succeeds."""
    relay = RelayProcess(small_fs / "relay")
    relay.start()
    try:
        await relay.ready()
        api.base = relay.url
        alice = make_user()
        status, body = await api.register(alice)
        assert status == 201, body
        data = os.urandom(2 * UPLOAD_PIECE)
        path = "/v1/blobs?lifetime=600"
        filler = small_fs / "filler"

        async def upload(fill_midway: bool) -> tuple[int, Any]:
            headers = api.sign(alice.device, "POST", path, data)
            headers |= {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}

            async def pieces() -> AsyncIterator[bytes]:
                yield data[:UPLOAD_PIECE]
                if fill_midway:
                    await asyncio.sleep(SETTLE_S)  # the relay has written the first piece
                    fill(filler)
                yield data[UPLOAD_PIECE:]

            async with api.session.post(relay.url + path, data=pieces(), headers=headers) as resp:
                return resp.status, await resp.json(content_type=None)

        status, body = await upload(fill_midway=True)
        assert _refusal(status, body), (status, body)
        assert status == 507
        assert list((small_fs / "relay" / "blobs").iterdir()) == []  # the partial upload was deleted
        filler.unlink()
        await asyncio.sleep(DISK_READ_INTERVAL_S * 2)
        status, body = await upload(fill_midway=False)
        assert status == 201, body
        status, got = await api.call("GET", f"/v1/blobs/{body['blob_id']}")
        assert (status, got) == (200, data)
        relay.stop()
    finally:
        relay.kill()


@needs_mount
async def test_attachment_on_a_nearly_full_profile(
    small_fs: Path, tmp_path: Path, relay_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice's disk has room for the message but not for its 2 MiB attachment: ``sync()`` still returns the
    message (the automatic download fails quietly), fetching it raises :class:`AttachmentError` saying the disk
    is full and leaves no partial file; once space returns it downloads and decrypts to the very bytes sent."""
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MIN_S", 0.0)
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MAX_S", 0.0)
    a = await Client.create(small_fs / "alice", PASSPHRASE, relay_url, "alice", "client", kdf=TEST_KDF)
    b = await Client.create(tmp_path / "bob", PASSPHRASE, relay_url, "bob", "therapist", kdf=TEST_KDF)
    try:
        a.add_contact("b", b.invite_code())
        b.add_contact("a", a.invite_code())
        await a.send_text("b", "hello")
        assert _texts(await b.sync()) == ["hello"]
        document = tmp_path / "notes.bin"
        document.write_bytes(os.urandom(2 * UPLOAD_PIECE))
        await b.send_file("a", document, caption="notes")
        filler = small_fs / "filler"
        fill(filler, leave=ROOM_FOR_A_MESSAGE)
        [got] = [e.message for e in await a.sync() if isinstance(e, MessageReceived)]
        assert (got.text, got.attachment is not None) == ("notes", True)
        assert got.attachment is not None
        assert got.attachment.downloaded is False
        with pytest.raises(AttachmentError, match="the disk holding the profile is full"):
            await a.download_attachment(got.message_id)
        assert list((small_fs / "alice" / "tmp").iterdir()) == []  # no partial download left
        assert list((small_fs / "alice" / "attachments").iterdir()) == []
        filler.unlink()
        fetched = await a.download_attachment(got.message_id)
        assert fetched.attachment is not None
        assert fetched.attachment.downloaded is True
        saved = await a.save_attachment(got.message_id, tmp_path / "saved.bin")
        assert saved.read_bytes() == document.read_bytes()
    finally:
        await a.close()
        await b.close()
