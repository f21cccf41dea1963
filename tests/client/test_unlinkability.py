"""Sealed sender is not undone by the connection (SECURITY.md question 4).

The attack: an observer at the relay (here a real HTTP proxy on loopback in front of a real relay, as a TLS
proxy would be) notes for every request the TCP connection it came on and whether it carried a device's
signature. If an unsigned request (a sealed send or receipt, a bundle fetch, a blob download) ever arrived on a
connection that also carried a signed one, the observer knows which device sent that sealed message, fetched
that bundle or downloaded that file; if two unsigned requests shared a connection, it can link them to each
other. A whole conversation — registration, first messages, a file, delivery and read receipts, live receiving
over the WebSocket — must give it neither.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

from confide.client import INSECURE_TEST_KDF, Client, MessageReceived, MessageStatus, ReceiptReceived
from confide.client.transport import USER_AGENT

from .conftest import PASSPHRASE, introduce
from .proxy import CuttingProxy, Seen

COLLECT_TIMEOUT_S = 10.0
"""Longest wait for an expected event over the live connection."""
_ANONYMOUS_HEADERS = frozenset(
    {"host", "user-agent", "accept", "accept-encoding", "connection", "content-type", "content-length"}
)
"""The only headers an unsigned request may carry: their values are the same for every client (or the body's)."""


def _links(seen: list[Seen]) -> tuple[list[int], list[int]]:
    """(connections that carried both a signed and an unsigned request, connections with two unsigned ones)."""
    by_conn: dict[int, list[Seen]] = defaultdict(list)
    for s in seen:
        by_conn[s.connection].append(s)
    mixed = [c for c, reqs in by_conn.items() if len({r.signed for r in reqs}) > 1]
    shared = [c for c, reqs in by_conn.items() if sum(not r.signed for r in reqs) > 1]
    return mixed, shared


def _ports_mixed(seen: list[Seen]) -> list[int]:
    """Client ports seen with both signed and unsigned requests (the same check by peer port)."""
    by_port: dict[int, set[bool]] = defaultdict(set)
    for s in seen:
        by_port[s.peer_port].add(s.signed)
    return [p for p, kinds in by_port.items() if len(kinds) > 1]


async def test_no_connection_links_a_signed_request_to_a_sealed_one(tmp_path: Path, relay_url: str) -> None:
    proxy = CuttingProxy(relay_url)
    async with proxy.running() as url:
        a = await Client.create(tmp_path / "alice", PASSPHRASE, url, "alice", "client", kdf=INSECURE_TEST_KDF)
        b = await Client.create(tmp_path / "bob", PASSPHRASE, url, "bob", "therapist", kdf=INSECURE_TEST_KDF)
        for c in (a, b):  # receipts go out from a timer, in the background, as in an app
            c._messaging.receipt_delay_s = (0.05, 0.2)
        try:
            await introduce(a, b)
            await a.send_text("b", "hello, is this the right place?")  # bundle fetch + sealed send
            await a.send_text("b", "second")
            got = await b.sync()  # signed pull and ack; delivery receipts (sealed) after their delay
            assert [e.message.text for e in got if isinstance(e, MessageReceived)] == [
                "hello, is this the right place?",
                "second",
            ]
            await b.send_text("a", "yes, welcome")
            doc = tmp_path / "intake.txt"
            doc.write_bytes(b"intake form " * 5000)
            await b.send_file("a", doc, caption="please fill in")  # signed upload + sealed pointer
            got = await a.sync()  # blob download (unsigned) and receipts both ways
            assert any(isinstance(e, ReceiptReceived) for e in got)
            assert await a.mark_read("b") == 2  # read receipts, sent by the timer
            await asyncio.sleep(0.4)
            # Live receiving: the signed WebSocket, and sealed receipts sent while it is open.
            events = b.events()

            async def writer() -> None:
                await asyncio.sleep(0.3)
                await a.send_text("b", "live")

            task = asyncio.create_task(writer())
            async with asyncio.timeout(COLLECT_TIMEOUT_S):
                async for event in events:
                    if isinstance(event, MessageReceived):
                        break
            await task
            await asyncio.sleep(0.3)  # b's delivery receipt goes out in the background
            await events.aclose()
            got = await a.sync()
            assert any(isinstance(e, ReceiptReceived) for e in got)
            sent = [m for m in a.history("b") if m.text == "live"]
            assert [m.status for m in sent] == [MessageStatus.DELIVERED]
        finally:
            await a.close()
            await b.close()

    seen = proxy.seen
    # The conversation exercised every kind of request on both channels.
    assert any(s.signed and s.path == "/v1/ws" for s in seen)
    assert any(s.signed and s.method == "POST" and s.path.startswith("/v1/blobs") for s in seen)
    assert any(not s.signed and s.method == "POST" and s.path == "/v1/messages" for s in seen)
    assert any(not s.signed and s.method == "GET" and s.path.endswith("/bundle") for s in seen)
    assert any(not s.signed and s.method == "GET" and s.path.startswith("/v1/blobs/") for s in seen)
    mixed, shared = _links(seen)
    assert mixed == [], "a connection carried both a signed and an unsigned request"
    assert shared == [], "two unsigned requests came on one connection"
    assert _ports_mixed(seen) == []
    # Nothing else tells the requests apart: one constant User-Agent on both channels, no cookies.
    assert {s.user_agent for s in seen} == {USER_AGENT}
    assert {s.cookie for s in seen} == {""}
    # An unsigned request carries only headers every client sends alike (no version, no installed codecs).
    for s in seen:
        if not s.signed:
            names = {k for k, _ in s.headers}
            assert names <= _ANONYMOUS_HEADERS, (s.method, s.path, names - _ANONYMOUS_HEADERS)
            assert dict(s.headers)["accept-encoding"] == "identity"


async def test_delivery_receipts_are_delayed_and_batched(tmp_path: Path, relay_url: str) -> None:
    """The receipt for a delivery does not follow it at once, and one receipt covers several messages."""
    proxy = CuttingProxy(relay_url)
    async with proxy.running() as url:
        a = await Client.create(tmp_path / "alice", PASSPHRASE, url, "alice", "client", kdf=INSECURE_TEST_KDF)
        b = await Client.create(tmp_path / "bob", PASSPHRASE, url, "bob", "therapist", kdf=INSECURE_TEST_KDF)
        try:
            await introduce(a, b)
            for text in ("one", "two", "three"):
                await a.send_text("b", text)
            b._messaging.receipt_delay_s = (0.5, 0.8)
            start = len(proxy.seen)
            begun = time.monotonic()
            await b.sync()
            took = time.monotonic() - begun
            after = proxy.seen[start:]
            sends = [s for s in after if s.method == "POST" and s.path == "/v1/messages"]
            assert len(sends) == 1, "the three deliveries are confirmed by one receipt envelope"
            assert took >= 0.5, "the receipt waited its random delay"
            receipts = [e for e in await a.sync() if isinstance(e, ReceiptReceived)]
            assert [len(r.message_ids) for r in receipts] == [3]
        finally:
            await a.close()
            await b.close()
