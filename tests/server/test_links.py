"""The device-link rendezvous on a real relay (docs/relay-api.md "Devices"): write-once slots, nothing before it is
written, a channel gone (and its bytes scrubbed) ten minutes after its first write, every malformed request a
JSON 4xx and never a 500, the size, channel and rate limits."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from confide.server import create_app, sweep
from confide.server.limits import LINK_CHANNEL_TTL_S, LINK_SLOTS, MAX_LINK_CHANNELS, MAX_LINK_MESSAGE

from .conftest import Api, RunningRelay, relay_config, stop_relay
from .test_documents import SCRUB_DEADLINE_S, _until
from .test_forensics import MARKER_LEN, _disk_bytes, _traces

OCTET = "application/octet-stream"
START = 1_800_000_000.0
"""The injected clock's start (unix seconds)."""


class Clock:
    """A relay clock the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def linked(tmp_path: Path, clock: Clock) -> AsyncIterator[RunningRelay]:
    """A relay on the moved clock (links need no registered device: nothing here is signed)."""
    config = relay_config(tmp_path)
    app = create_app(config, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    running = RunningRelay(server, app, Api(aiohttp.ClientSession(), str(server.make_url("")).rstrip("/")), config)
    try:
        yield running
    finally:
        await stop_relay(running)


def _channel() -> str:
    return hashlib.sha256(b"Confide-link-channel-v1" + os.urandom(3)).hexdigest()


async def _put(api: Api, channel: str, slot: object, data: bytes) -> tuple[int, object]:
    return await api.call("PUT", f"/v1/links/{channel}/{slot}", body=data, content_type=OCTET)


async def _get(api: Api, channel: str, slot: object) -> tuple[int, object]:
    return await api.call("GET", f"/v1/links/{channel}/{slot}")


def _error(answer: object) -> str:
    assert isinstance(answer, dict)
    assert set(answer) == {"error", "message"}
    code = answer["error"]
    assert isinstance(code, str)
    return code


async def test_a_slot_is_written_once_and_read_by_anyone(linked: RunningRelay) -> None:
    api, channel = linked.api, _channel()
    status, answer = await _get(api, channel, 0)
    assert (status, _error(answer)) == (404, "not_found")
    assert await _put(api, channel, 0, b"pA") == (201, {"slot": 0})
    assert await _get(api, channel, 0) == (200, b"pA")
    assert await _put(api, channel, 0, b"pA") == (200, {"slot": 0})
    status, answer = await _put(api, channel, 0, b"pX")
    assert (status, _error(answer)) == (409, "conflict")
    assert await _get(api, channel, 0) == (200, b"pA")
    for slot in range(1, LINK_SLOTS):
        assert await _put(api, channel, slot, bytes([slot])) == (201, {"slot": slot})
    assert [await _get(api, channel, slot) for slot in range(LINK_SLOTS)] == [(200, b"pA")] + [
        (200, bytes([slot])) for slot in range(1, LINK_SLOTS)
    ]
    # Another channel is another place.
    status, answer = await _get(api, _channel(), 0)
    assert (status, _error(answer)) == (404, "not_found")


async def test_a_channel_expires_ten_minutes_after_its_first_write_and_leaves_no_trace(
    linked: RunningRelay, clock: Clock
) -> None:
    api, channel = linked.api, _channel()
    first, later = os.urandom(MARKER_LEN), os.urandom(MARKER_LEN)
    assert (await _put(api, channel, 0, first))[0] == 201
    clock.now += LINK_CHANNEL_TTL_S - 1
    assert (await _put(api, channel, 1, later))[0] == 201  # a later write does not extend the channel
    assert await _get(api, channel, 1) == (200, later)
    data_dir = linked.config.data_dir
    assert _traces(first, _disk_bytes(data_dir)) > 0  # the search works
    clock.now += 1
    for slot in (0, 1):
        status, answer = await _get(api, channel, slot)
        assert (status, _error(answer)) == (404, "not_found")
    relay = linked.relay
    await sweep(relay.store, relay.blobs, relay.now_ms())
    gone = await _until(
        lambda: _traces(first, _disk_bytes(data_dir)) == 0 and _traces(later, _disk_bytes(data_dir)) == 0,
        SCRUB_DEADLINE_S,
    )
    assert gone, "an expired link channel's bytes are still on disk"
    assert await relay.store.bytes_held() == 0
    # The channel may be used afresh (a new ten minutes).
    assert await _put(api, channel, 0, b"again") == (201, {"slot": 0})


async def test_an_expired_channel_not_yet_swept_starts_afresh(linked: RunningRelay, clock: Clock) -> None:
    api, channel = linked.api, _channel()
    assert (await _put(api, channel, 0, b"old"))[0] == 201
    clock.now += LINK_CHANNEL_TTL_S
    assert await _put(api, channel, 0, b"new") == (201, {"slot": 0})
    assert await _get(api, channel, 0) == (200, b"new")


async def test_size_limits(linked: RunningRelay) -> None:
    api, channel = linked.api, _channel()
    assert (await _put(api, channel, 0, os.urandom(MAX_LINK_MESSAGE)))[0] == 201
    status, answer = await _put(api, channel, 1, os.urandom(MAX_LINK_MESSAGE + 1))
    assert (status, _error(answer)) == (413, "too_large")
    status, answer = await api.call("PUT", f"/v1/links/{channel}/2", content_type=OCTET)
    assert (status, _error(answer)) == (400, "malformed")
    status, answer = await _get(api, channel, 1)
    assert (status, _error(answer)) == (404, "not_found")


@pytest.mark.parametrize(
    ("channel", "slot"),
    [
        ("A" * 64, "0"),  # capitals
        ("a" * 63, "0"),  # short
        ("a" * 65, "0"),  # long
        ("g" * 64, "0"),  # not hex
        ("a" * 62 + "%20", "0"),  # a space
        ("a" * 64, "8"),
        ("a" * 64, "-1"),
        ("a" * 64, "01"),
        ("a" * 64, "+1"),
        ("a" * 64, "x"),
        ("a" * 64, "0" * 40),
    ],
)
async def test_a_bad_channel_or_slot_is_400_json(linked: RunningRelay, channel: str, slot: str) -> None:
    for method in ("PUT", "GET"):
        body = b"m" if method == "PUT" else b""
        status, answer = await linked.api.call(
            method, f"/v1/links/{channel}/{slot}", body=body, content_type=OCTET if body else None
        )
        assert (status, _error(answer)) == (400, "malformed"), (method, channel, slot)


async def test_other_requests_are_refused_as_json(linked: RunningRelay) -> None:
    api, channel = linked.api, _channel()
    status, answer = await api.call("PUT", f"/v1/links/{channel}/0", body=b"{}", content_type="application/json")
    assert (status, _error(answer)) == (415, "unsupported_media_type")
    status, answer = await api.call("GET", f"/v1/links/{channel}/0?x=1")
    assert (status, _error(answer)) == (400, "malformed")
    status, answer = await api.call("POST", f"/v1/links/{channel}/0", body=b"m", content_type=OCTET)
    assert (status, _error(answer)) == (405, "method_not_allowed")


async def test_live_channels_are_bounded(linked: RunningRelay, clock: Clock) -> None:
    api = linked.api
    channels = [_channel() for _ in range(MAX_LINK_CHANNELS)]
    for channel in channels:
        assert (await _put(api, channel, 0, b"m"))[0] == 201
    status, answer = await _put(api, _channel(), 0, b"m")
    assert (status, _error(answer)) == (507, "insufficient_storage")
    assert (await _put(api, channels[0], 1, b"m"))[0] == 201  # a live channel goes on
    clock.now += LINK_CHANNEL_TTL_S
    assert (await _put(api, _channel(), 0, b"m"))[0] == 201  # once they expire, new ones open


async def test_links_are_rate_limited_per_client_address(tmp_path: Path) -> None:
    config = relay_config(tmp_path, rate_per_s=1, rate_burst=3)
    app = create_app(config)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    running = RunningRelay(server, app, Api(aiohttp.ClientSession(), str(server.make_url("")).rstrip("/")), config)
    try:
        channel = _channel()
        statuses = [(await _get(running.api, channel, 0))[0] for _ in range(10)]
        assert statuses[:3] == [404, 404, 404]
        assert 429 in statuses
        status, answer = await _put(running.api, channel, 0, b"m")
        assert (status, _error(answer)) == (429, "rate_limited")
    finally:
        await stop_relay(running)


async def test_nothing_logs_a_channel(linked: RunningRelay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = _channel()
    await _put(linked.api, channel, 0, b"m")
    await _get(linked.api, channel, 0)
    await _put(linked.api, channel, 0, b"other")
    await _get(linked.api, channel, 9)
    assert all(channel not in record.getMessage() for record in caplog.records)
    assert channel not in caplog.text
