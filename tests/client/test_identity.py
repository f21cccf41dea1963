"""Identity safety: TOFU pinning, safety numbers and QR payloads, identity change blocks sending."""

from __future__ import annotations

import pytest

from confide.client import Client, IdentityChanged, MessageReceived, UntrustedIdentity, VerificationFailed
from confide.keys.keystore import TEST_KDF

from .conftest import PASSPHRASE, MakeClient, introduce


async def test_safety_numbers_match_and_verify(make_client: MakeClient) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    assert a.contact("b").trust == "unverified"
    number_a = await a.safety_number("b")
    number_b = await b.safety_number("a")
    assert number_a.digits == number_b.digits and len(number_a.digits) == 60
    # Bob scans Alice's QR code.
    contact = await b.verify("a", number_a.qr_payload())
    assert contact.trust == "verified"
    carol = await make_client("carol")
    a.add_contact("c", carol.invite_code())
    with pytest.raises(VerificationFailed):
        await a.verify("b", (await a.safety_number("c")).qr_payload())
    with pytest.raises(VerificationFailed):
        await a.verify("b", b"junk")
    assert a.contact("b").trust == "unverified"


async def test_identity_change_blocks_sending_until_accepted(make_client: MakeClient, tmp_path, relay_url) -> None:
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
        events = []
        b.on(IdentityChanged, events.append)
        # Bob updates "a" with Alice's new invite: the contact is marked changed.
        contact = b.add_contact("a", a2.invite_code())
        assert contact.trust == "identity-changed" and not contact.can_send
        assert events and isinstance(events[0], IdentityChanged)
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
    number = await c.safety_number(b.address) if c.contacts() else None
    assert number is None  # carol does not know bob yet
    c.add_contact("b", b.invite_code())
    payload = (await c.safety_number("b")).qr_payload()
    contact = await b.verify("a", payload)
    assert contact.trust == "verified" and contact.address == c.address
