"""Identity safety: TOFU pinning, safety numbers and QR payloads, identity change blocks sending."""

from __future__ import annotations

from pathlib import Path

import pytest

from confide.client import (
    Client,
    Event,
    IdentityChanged,
    MessageReceived,
    UnknownContact,
    UntrustedIdentity,
    VerificationFailed,
)
from confide.keys.keystore import TEST_KDF

from .conftest import PASSPHRASE, MakeClient, introduce


async def test_safety_numbers_match_and_verify(make_client: MakeClient) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    assert a.contact("b").trust == "unverified"
    number_a = await a.safety_number("b")
    number_b = await b.safety_number("a")
    assert number_a.digits == number_b.digits
    assert len(number_a.digits) == 60
    # Bob scans Alice's QR code.
    contact = await b.verify("a", number_a.qr_payload())
    assert contact.trust == "verified"
    carol = await make_client("carol")
    a.add_contact("c", carol.invite_code())
    assert (await a.safety_number("c")).digits != number_a.digits  # another identity, another number
    with pytest.raises(VerificationFailed):
        await a.verify("b", (await a.safety_number("c")).qr_payload())
    with pytest.raises(VerificationFailed):
        await a.verify("b", b"junk")
    assert a.contact("b").trust == "unverified"


async def test_identity_change_blocks_sending_until_accepted(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    await a.send_text("b", "before")
    await b.sync()
    await b.verify("a", (await a.safety_number("b")).qr_payload())

    # Alice loses her phone and starts over: a new identity (and so a new address and invite).
    await a.wipe()
    a2 = await Client.create(tmp_path / "alice2", PASSPHRASE, relay_url, "alice", kdf=TEST_KDF)
    try:
        a2.add_contact("b", b.invite_code())
        await a2.send_text("b", "it's me, new phone")
        events: list[Event] = []
        b.on(IdentityChanged, events.append)
        # Bob updates "a" with Alice's new invite: the contact is marked changed.
        contact = b.add_contact("a", a2.invite_code())
        assert contact.trust == "identity-changed"
        assert not contact.can_send
        assert len(events) == 1
        assert isinstance(events[0], IdentityChanged)
        # The new identity's message is still stored, flagged.
        received = [e.message for e in await b.sync() if isinstance(e, MessageReceived)]
        assert [m.text for m in received] == ["it's me, new phone"]
        assert received[0].unverified_identity
        assert b.history("a")[-1].unverified_identity
        with pytest.raises(UntrustedIdentity) as info:
            await b.send_text("a", "who is this?")
        assert "safety numbers" in str(info.value)
        # Accepting (or verifying the new safety number) unblocks.
        assert b.accept_identity("a").trust == "unverified"
        await b.send_text("a", "welcome back")
        got = [e.message.text for e in await a2.sync() if isinstance(e, MessageReceived)]
        assert got == ["welcome back"]
    finally:
        await a2.close()


async def test_verifying_a_changed_identity_accepts_it(make_client: MakeClient) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    c = await make_client("carol")
    await introduce(a, b)
    await a.send_text("b", "hi")
    await b.sync()
    b.add_contact("a", c.invite_code())  # "a" now points at someone else: a changed identity
    assert b.contact("a").trust == "identity-changed"
    assert c.contacts() == []  # carol does not know bob yet: she has no safety number with him
    with pytest.raises(UnknownContact):
        await c.safety_number("b")
    c.add_contact("b", b.invite_code())
    number_c = await c.safety_number("b")
    number_b = await b.safety_number("a")  # after the change: the number for the new identity
    assert number_b.digits == number_c.digits
    assert number_b.digits != (await a.safety_number("b")).digits  # not the number Bob had with Alice
    contact = await b.verify("a", number_c.qr_payload())
    assert contact.trust == "verified"
    assert contact.address == c.address
