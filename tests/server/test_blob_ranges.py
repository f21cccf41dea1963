"""Ranged downloads of an attachment (a resumed download): 206 with exactly the bytes asked for, 416 with a JSON
error and ``Content-Range`` for a range past the end, and anything else — malformed ranges, other units,
several ranges, conditional headers — the whole attachment with 200, never an empty-bodied 4xx or a 5xx."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confide.server.errors import RangeNotSatisfiable
from confide.server.ranges import MAX_RANGE_HEADER_LEN, ByteRange, byte_range

from .conftest import RunningRelay
from .test_blobs import _registered, _upload

SIZE = 100_000


async def _blob(relay: RunningRelay) -> tuple[str, bytes]:
    user = await _registered(relay.api)
    data = os.urandom(SIZE)
    status, body = await _upload(relay.api, user, data)
    assert status == 201
    blob_id = body["blob_id"]
    assert isinstance(blob_id, str)
    return blob_id, data


async def _get(relay: RunningRelay, blob_id: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    async with relay.api.session.get(f"{relay.api.base}/v1/blobs/{blob_id}", headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=1000-", 1000, SIZE),
        ("bytes=-17", SIZE - 17, SIZE),
        ("bytes=-200000", 0, SIZE),
        ("bytes=99990-200000", 99990, SIZE),
        ("bytes=5-5", 5, 6),
    ],
)
async def test_a_satisfiable_range_is_206_with_exactly_those_bytes(
    relay: RunningRelay, header: str, start: int, end: int
) -> None:
    blob_id, data = await _blob(relay)
    status, headers, body = await _get(relay, blob_id, {"Range": header})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert body == data[start:end]


@pytest.mark.parametrize("header", ["bytes=100000-", "bytes=200000-300000", "bytes=-0"])
async def test_a_range_past_the_end_is_416_with_a_json_error_and_the_size(relay: RunningRelay, header: str) -> None:
    blob_id, _ = await _blob(relay)
    async with relay.api.session.get(f"{relay.api.base}/v1/blobs/{blob_id}", headers={"Range": header}) as resp:
        assert resp.status == 416
        assert resp.headers["Content-Range"] == f"bytes */{SIZE}"
        assert (await resp.json())["error"] == "range_not_satisfiable"


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=abc"},
        {"Range": "bytes=5-2"},
        {"Range": "bits=0-1"},
        {"Range": "bytes=0-1,5-9"},
        {"Range": "bytes=" + "9" * 400},
        {"Range": "bytes=-"},
        {"Range": "bytes=0-9", "If-Range": '"not-the-etag"'},
        {"If-Match": '"nothing"'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": "Wed, 21 Oct 2099 07:28:00 GMT"},
        {"If-Unmodified-Since": "Wed, 21 Oct 1970 07:28:00 GMT"},
        {"Accept-Encoding": "gzip, br"},
    ],
)
async def test_other_headers_get_the_whole_attachment(relay: RunningRelay, headers: dict[str, str]) -> None:
    """Malformed or unsupported ranges are ignored (RFC 9110 §14.2); conditionals never empty the answer. A
    valid range with an If-Range still gets its bytes: a blob never changes under its id."""
    blob_id, data = await _blob(relay)
    status, answer, body = await _get(relay, blob_id, headers)
    if "If-Range" in headers:
        assert (status, body) == (206, data[:10])
    else:
        assert (status, body) == (200, data)
        assert "Content-Range" not in answer


async def test_a_resumed_download_joins_to_the_original(relay: RunningRelay) -> None:
    """What a client does after a cut: take the first part, then ask for the rest from where it stopped."""
    blob_id, data = await _blob(relay)
    _, _, first = await _get(relay, blob_id, {"Range": "bytes=0-40000"})
    status, _, rest = await _get(relay, blob_id, {"Range": f"bytes={len(first)}-"})
    assert status == 206
    assert first + rest == data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.one_of(st.text(max_size=80), st.from_regex(r"bytes=\d{0,21}-\d{0,21}", fullmatch=True)),
    size=st.integers(0, 10**12),
)
def test_byte_range_is_within_the_blob_or_a_typed_refusal(header: str, size: int) -> None:
    refusal: RangeNotSatisfiable | None = None
    chosen: ByteRange | None = None
    try:
        chosen = byte_range(header, size)
    except RangeNotSatisfiable as exc:
        refusal = exc
    if refusal is not None:
        assert (refusal.status, refusal.headers) == (416, {"Content-Range": f"bytes */{size}"})
        return
    if chosen is not None:
        assert isinstance(chosen, ByteRange)
        assert 0 <= chosen.start < chosen.end <= size
        assert byte_range(chosen.header, size) == chosen  # the canonical header means the same bytes


def test_an_over_long_header_is_not_parsed() -> None:
    assert byte_range("bytes=0-" + "0" * MAX_RANGE_HEADER_LEN, 10) is None
