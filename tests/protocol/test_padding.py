"""Message padding (SPEC 4): buckets, the sender's minimum bucket for franked threads, and strict unpadding."""

from __future__ import annotations

import os

import pytest

from confide.protocol.errors import DecryptionError, LocalProtocolError
from confide.protocol.padding import (
    FRANKED_THREAD_BUCKET,
    MAX_PADDED,
    MAX_PLAINTEXT,
    MIN_BUCKET,
    bucket_for,
    pad,
    unpad,
)


@pytest.mark.parametrize(
    ("length", "min_bucket", "bucket"),
    [
        (0, MIN_BUCKET, 256),
        (255, MIN_BUCKET, 256),
        (256, MIN_BUCKET, 512),
        (0, FRANKED_THREAD_BUCKET, 1024),
        (1023, FRANKED_THREAD_BUCKET, 1024),
        (1024, FRANKED_THREAD_BUCKET, 2048),
        (MAX_PLAINTEXT, FRANKED_THREAD_BUCKET, MAX_PADDED),
    ],
)
def test_buckets(length: int, min_bucket: int, bucket: int) -> None:
    assert bucket_for(length, min_bucket) == bucket
    data = os.urandom(length)
    padded = pad(data, min_bucket)
    assert len(padded) == bucket
    assert unpad(padded) == data


def test_a_larger_bucket_unpads_like_the_smallest() -> None:
    """A receiver accepts any bucket (SPEC 4), so a sender's minimum is its own business."""
    assert unpad(pad(b"ok", FRANKED_THREAD_BUCKET)) == unpad(pad(b"ok")) == b"ok"


@pytest.mark.parametrize("bad", [0, 128, 300, 1000, MAX_PADDED * 2])
def test_a_minimum_bucket_must_be_a_bucket(bad: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        pad(b"x", bad)


def test_too_long_and_bad_padding_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        pad(bytes(MAX_PLAINTEXT + 1), FRANKED_THREAD_BUCKET)
    with pytest.raises(DecryptionError):
        unpad(bytes(1024))
    with pytest.raises(DecryptionError):
        unpad(pad(b"x")[:-1])
