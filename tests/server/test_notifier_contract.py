"""The :class:`~confide.server.notifier.Notifier` contract, against the in-process notifier and the NATS one.

Each test gets two notifiers standing for two relay processes (the in-process notifier is one process, so both
are the same object): what one publishes must reach a socket subscribed through the other. The NATS cases need
a NATS server (``.ci/run`` starts it); without one they are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

import nats
import pytest
from nats.aio.msg import Msg

from confide.server.inprocess import InProcessNotifier
from confide.server.limits import MAX_BUFFERED_PUSHES
from confide.server.nats_notifier import (
    SUBJECT_PREFIX,
    BusError,
    NatsNotifier,
    decode_envelope,
    encode_envelope,
)
from confide.server.notifier import Notifier, Subscription
from confide.server.storage import StoredEnvelope

from .backend_services import require_nats

WAIT_S = 2.0
"""Longest wait for a push to arrive: loopback NATS takes well under a millisecond."""

CONFIRM_ROUNDS = 300
"""New subscriptions checked for a first push: a subscription confirmed too early missed it about once in a
hundred (nats-py's flush overtaking the queued SUB), so 300 rounds catch that regression almost surely."""

Pair = tuple[Notifier, Notifier]


def _envelope(seq: int, size: int = 100) -> StoredEnvelope:
    return StoredEnvelope(seq, os.urandom(16), 1_700_000_000_000 + seq, 1_800_000_000_000, os.urandom(size))


def _device() -> bytes:
    return os.urandom(16)


async def _next(sub: Subscription) -> None:
    await asyncio.wait_for(sub.event.wait(), WAIT_S)
    sub.event.clear()


async def _until(done: Callable[[], bool]) -> None:
    """Poll ``done`` (every 10 ms, at most :data:`WAIT_S`): for what arrives in several pushes."""
    for _ in range(int(WAIT_S * 100)):
        if done():
            return
        await asyncio.sleep(0.01)


async def _quiet(sub: Subscription, wait_s: float = 0.2) -> bool:
    """True when nothing arrives for ``sub`` within ``wait_s``."""
    try:
        await asyncio.wait_for(sub.event.wait(), wait_s)
    except TimeoutError:
        return True
    return False


@pytest.fixture(params=["inprocess", "nats"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    if request.param == "inprocess":
        one = InProcessNotifier()
        await one.start()
        yield one, one
        await one.close()
        return
    url = await require_nats()
    a, b = NatsNotifier(url), NatsNotifier(url)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_a_publish_reaches_every_socket_of_the_device_in_order(pair: Pair) -> None:
    a, b = pair
    device = _device()
    here, there = await a.subscribe(device), await b.subscribe(device)
    sent = [_envelope(i) for i in range(1, 6)]
    for e in sent:
        await a.publish(device, e)
    for sub in (here, there):
        await _until(lambda s=sub: len(s.items) >= len(sent))  # type: ignore[misc]
        assert list(sub.items) == sent
        assert not sub.resync


async def test_another_device_hears_nothing(pair: Pair) -> None:
    a, b = pair
    device, other = _device(), _device()
    sub = await b.subscribe(other)
    await a.publish(device, _envelope(1))
    assert await _quiet(sub)
    assert not sub.items


async def test_sockets_counts_this_process_and_unsubscribe_forgets(pair: Pair) -> None:
    a, b = pair
    device = _device()
    s1, s2 = await b.subscribe(device), await b.subscribe(device)
    assert b.sockets(device) == 2
    await b.unsubscribe(s1)
    assert b.sockets(device) == 1
    await b.unsubscribe(s2)
    await b.unsubscribe(s2)  # unknown is fine
    assert b.sockets(device) == 0
    await a.publish(device, _envelope(1))
    assert await _quiet(s2)
    assert not s2.items


async def test_disconnect_closes_every_socket_of_the_device_everywhere(pair: Pair) -> None:
    a, b = pair
    device, bystander = _device(), _device()
    here, there, other = await a.subscribe(device), await b.subscribe(device), await b.subscribe(bystander)
    await a.disconnect(device)
    for sub in (here, there):
        await _next(sub)
        assert sub.closing
    assert not other.closing
    await a.publish(device, _envelope(1))  # nothing more is pushed to a closing socket
    await asyncio.sleep(0.1)
    assert not here.items
    assert not there.items


async def test_a_slow_socket_is_told_to_resync_instead_of_buffering_without_bound(pair: Pair) -> None:
    a, b = pair
    device = _device()
    sub = await b.subscribe(device)
    for i in range(1, MAX_BUFFERED_PUSHES + 2):
        await a.publish(device, _envelope(i, size=10))
    await _until(lambda: sub.resync)
    assert sub.resync
    assert len(sub.items) <= MAX_BUFFERED_PUSHES


async def test_close_is_idempotent_and_start_again_is_harmless(pair: Pair) -> None:
    a, _ = pair
    await a.start()
    await a.close()
    await a.close()


# -- NATS only ---------------------------------------------------------------------------------------------


@pytest.fixture
async def nats_pair() -> AsyncIterator[tuple[NatsNotifier, NatsNotifier, str]]:
    url = await require_nats()
    a, b = NatsNotifier(url), NatsNotifier(url)
    await a.start()
    await b.start()
    try:
        yield a, b, url
    finally:
        await a.close()
        await b.close()


def test_the_bus_form_round_trips_and_rejects_what_is_not_an_envelope() -> None:
    e = _envelope(2**63, size=0)
    assert decode_envelope(encode_envelope(e)) == e
    data = encode_envelope(_envelope(7))
    assert decode_envelope(data[: 1 + 24 + 15]) is None
    assert decode_envelope(b"\x02" + data[1:]) is None
    assert decode_envelope(b"") is None
    with pytest.raises(ValueError, match="64 bits"):
        encode_envelope(StoredEnvelope(2**64, os.urandom(16), 0, 0, b""))
    with pytest.raises(ValueError, match="length"):
        encode_envelope(StoredEnvelope(1, os.urandom(15), 0, 0, b""))


async def test_the_bus_carries_the_device_id_and_the_envelope_nothing_else(
    nats_pair: tuple[NatsNotifier, NatsNotifier, str],
) -> None:
    """What an eavesdropper on the NATS server sees: the subject names the recipient device by its id (what the
    relay routes by already), the message is exactly the stored envelope's bus form; no address, token or name."""
    a, _, url = nats_pair
    spy = await nats.connect(url)
    seen: list[tuple[str, bytes]] = []

    async def record(msg: Msg) -> None:
        seen.append((msg.subject, msg.data))

    try:
        await spy.subscribe(SUBJECT_PREFIX + ".>", cb=record)
        await spy.flush()
        device, e = _device(), _envelope(3)
        await a.publish(device, e)
        await a.disconnect(device)
        await _until(lambda: len(seen) >= 2)
    finally:
        await spy.close()
    subject = f"{SUBJECT_PREFIX}.{device.hex()}"
    assert seen == [(subject, encode_envelope(e)), (subject, b"\x03")]


async def test_a_forged_message_on_the_bus_only_wakes_the_socket_to_reread(
    nats_pair: tuple[NatsNotifier, NatsNotifier, str],
) -> None:
    """Attack: something that can publish on the bus sends garbage on a device's subject. The socket is never
    handed it as an envelope; it only re-reads its mailbox (the database decides what is delivered)."""
    _, b, url = nats_pair
    device = _device()
    sub = await b.subscribe(device)
    forger = await nats.connect(url)
    try:
        await forger.publish(f"{SUBJECT_PREFIX}.{device.hex()}", b"\x01short")
        await forger.flush()
    finally:
        await forger.close()
    await _next(sub)
    assert sub.resync
    assert not sub.items


async def test_a_subscription_made_is_confirmed_before_subscribe_returns(
    nats_pair: tuple[NatsNotifier, NatsNotifier, str],
) -> None:
    """A socket subscribes before its backlog is read: an envelope published by another process right after
    ``subscribe`` returns must reach it (or the socket would miss it until its next resync)."""
    a, b, _ = nats_pair
    for _ in range(CONFIRM_ROUNDS):
        device = _device()
        sub = await b.subscribe(device)
        e = _envelope(1)
        await a.publish(device, e)
        await _next(sub)
        assert list(sub.items) == [e]
        await b.unsubscribe(sub)


async def test_the_last_socket_leaving_drops_the_subject(nats_pair: tuple[NatsNotifier, NatsNotifier, str]) -> None:
    a, b, _ = nats_pair
    device = _device()
    sub = await b.subscribe(device)
    await b.unsubscribe(sub)
    again = await b.subscribe(_device())
    await a.publish(device, _envelope(1))
    assert await _quiet(again)
    assert not sub.items


async def test_publish_before_start_is_a_programming_error() -> None:
    notifier = NatsNotifier("nats://127.0.0.1:4222")
    with pytest.raises(RuntimeError, match="before start"):
        await notifier.publish(_device(), _envelope(1))
    with pytest.raises(RuntimeError, match="before start"):
        await notifier.subscribe(_device())


async def test_an_unreachable_bus_refuses_to_start_in_one_sentence() -> None:
    notifier = NatsNotifier("nats://127.0.0.1:9", connect_timeout_s=0.5)  # discard port: nothing listens
    with pytest.raises(BusError, match=r"NATS bus at 127\.0\.0\.1:9 did not answer"):
        await notifier.start()


@pytest.mark.parametrize("url", ["http://127.0.0.1:4222", "nats://", "127.0.0.1:4222"])
def test_a_bus_url_that_is_not_nats_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="nats://"):
        NatsNotifier(url)


def test_a_subject_prefix_with_wildcards_is_refused() -> None:
    with pytest.raises(ValueError, match="wildcards"):
        NatsNotifier("nats://127.0.0.1:4222", subject_prefix="confide.*")


async def test_a_push_overtaken_on_the_bus_makes_the_socket_reread_instead_of_being_skipped(
    nats_pair: tuple[NatsNotifier, NatsNotifier, str],
) -> None:
    """Two processes commit numbers 3 and 5 for one mailbox in that order, but 5's push reaches the socket's
    process first. The socket sends in number order and would skip 3; it is told to re-read its mailbox instead."""
    a, b, _ = nats_pair
    device = _device()
    sub = await b.subscribe(device)
    later, earlier = _envelope(5), _envelope(3)
    await a.publish(device, later)
    await _next(sub)
    assert list(sub.items) == [later]
    await a.publish(device, earlier)
    await _until(lambda: sub.resync)
    assert sub.resync
