"""Sealed sender's remembered static-static agreements live only as long as the client that made them."""

from __future__ import annotations

from confide.client import MessageReceived
from confide.protocol.static_agreement import STATIC_AGREEMENTS, forget_static_agreements

from .conftest import MakeClient, introduce


def _pairs() -> set[tuple[bytes, bytes]]:
    return set(STATIC_AGREEMENTS._entries)


async def test_close_drops_the_identitys_static_agreements(make_client: MakeClient) -> None:
    forget_static_agreements()
    a, b = await make_client("a"), await make_client("b")
    await introduce(a, b)
    await a.send_text("b", "hello")
    [received] = [e.message for e in await b.sync() if isinstance(e, MessageReceived)]
    assert received.text == "hello"
    a_key, b_key = a.identity.agreement, b.identity.agreement
    assert _pairs() == {(a_key, b_key), (b_key, a_key)}  # a sealed to b; b opened it
    await a.close()
    assert _pairs() == {(b_key, a_key)}
    await b.close()
    assert _pairs() == set()
