"""Sessions end to end (PQXDH + header-encrypted Double Ratchet), without and with sealed sender."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confide.keys import AddressMismatch, InvalidSignature, PreKeyBundle
from confide.keys.encoding import RNG
from confide.keys.identity import IdentityPublicKey
from confide.protocol import (
    DecryptionError,
    DuplicateMessage,
    RemoteProtocolError,
    Session,
    initiate_session,
    open_sealed,
    seal_message,
)
from confide.protocol.kdf import kdf_chain
from confide.protocol.ratchet import MAX_SKIP
from confide.protocol.session import accept_session, parse_inner

from .parties import Party, SeededRng


def start(alice: Party, bob: Party, rng: RNG = os.urandom) -> tuple[Session, Session]:
    """Alice initiates, Bob accepts her first message; returns (alice_session, bob_session)."""
    a = initiate_session(alice.identity, bob.bundle(), rng=rng)
    first = a.encrypt(b"hello", rng)
    _, header, body = parse_inner(first)
    assert header is not None
    b, pt, otk, kem = accept_session(bob.identity, header, body, alice.device.device_id, bob, rng)
    assert pt == b"hello"
    bob.forget_used(otk, kem)
    return a, b


def test_round_trip_both_directions(alice: Party, bob: Party) -> None:
    a, b = start(alice, bob)
    assert not a.established
    assert a.decrypt(b.encrypt(b"hi alice", os.urandom), os.urandom) == b"hi alice"
    assert a.established
    assert b.decrypt(a.encrypt(b"hi bob", os.urandom), os.urandom) == b"hi bob"


def test_one_time_prekeys_are_consumed_and_reported(alice: Party, bob: Party) -> None:
    before_otk, before_kem = set(bob.one_time), {k for k, v in bob.kem.items() if not v.last_resort}
    start(alice, bob)
    assert len(before_otk - set(bob.one_time)) == 1
    assert len(before_kem - {k for k, v in bob.kem.items() if not v.last_resort}) == 1


def test_last_resort_kem_and_no_one_time_key(alice: Party, bob: Party) -> None:
    a = initiate_session(alice.identity, bob.bundle(use_one_time=False, use_kem_one_time=False), rng=os.urandom)
    _, header, body = parse_inner(a.encrypt(b"x", os.urandom))
    assert header is not None
    assert header.one_time_prekey_id is None
    _b, pt, otk, kem = accept_session(bob.identity, header, body, alice.device.device_id, bob, os.urandom)
    assert (pt, otk, kem) == (b"x", None, None)  # the last-resort key is kept


def test_long_conversation_alternating_and_one_sided(alice: Party, bob: Party) -> None:
    a, b = start(alice, bob)
    pattern = [1] * 5 + [3, 1, 7, 1, 1, 20, 2, 2, 50] + [1] * 20
    for turn, count in enumerate(pattern):
        sender, receiver = (a, b) if turn % 2 == 0 else (b, a)
        for i in range(count):
            msg = f"turn {turn} message {i}".encode()
            assert receiver.decrypt(sender.encrypt(msg, os.urandom), os.urandom) == msg
    # and a long one-sided burst
    for i in range(300):
        assert b.decrypt(a.encrypt(b"%d" % i, os.urandom), os.urandom) == b"%d" % i


def test_out_of_order_and_duplicate(alice: Party, bob: Party) -> None:
    a, b = start(alice, bob)
    msgs = [a.encrypt(b"m%d" % i, os.urandom) for i in range(5)]
    assert b.decrypt(msgs[3], os.urandom) == b"m3"
    assert b.decrypt(msgs[0], os.urandom) == b"m0"
    state = b.to_bytes()
    with pytest.raises(DuplicateMessage):
        b.decrypt(msgs[0], os.urandom)
    with pytest.raises(DuplicateMessage):
        b.decrypt(msgs[3], os.urandom)
    assert b.to_bytes() == state
    assert b.decrypt(msgs[4], os.urandom) == b"m4"
    assert b.decrypt(msgs[1], os.urandom) == b"m1"


def test_gap_larger_than_max_skip_is_refused_without_state_change(alice: Party, bob: Party) -> None:
    a, b = start(alice, bob)
    for _ in range(MAX_SKIP + 1):
        a.encrypt(b"lost", os.urandom)
    far = a.encrypt(b"far", os.urandom)
    state = b.to_bytes()
    with pytest.raises(DecryptionError):
        b.decrypt(far, os.urandom)
    assert b.to_bytes() == state


def test_every_single_byte_tamper_is_rejected_and_state_unchanged(alice: Party, bob: Party) -> None:
    a, b = start(alice, bob)
    b.decrypt(a.encrypt(b"warm up", os.urandom), os.urandom)
    for make_ratchet_step in (False, True):
        if make_ratchet_step:
            a.decrypt(b.encrypt(b"turn", os.urandom), os.urandom)
        msg = a.encrypt(b"the real message", os.urandom)
        state = b.to_bytes()
        for i in range(len(msg)):
            bad = bytearray(msg)
            bad[i] ^= 0x01
            with pytest.raises(DecryptionError):
                b.decrypt(bytes(bad), os.urandom)
            assert b.to_bytes() == state, f"state changed after tamper at byte {i}"
        with pytest.raises(DecryptionError):
            b.decrypt(msg[:-1], os.urandom)
        assert b.decrypt(msg, os.urandom) == b"the real message"


# Prekey message layout: type u8 || header version u8 || initiator identity(128) || ephemeral(32) || signed
# prekey id u32 || one-time flag u8 || ... The type, version, identity (its certificate no longer verifies) and
# flag (0x81 is neither 0 nor 1) are checked by the parser; every other byte only by the cryptography.
_IDENTITY_AT = 2
_FLAG_AT = _IDENTITY_AT + 128 + 32 + 4
_PARSER_CHECKED = {0, 1, *range(_IDENTITY_AT, _IDENTITY_AT + 128), _FLAG_AT}


def test_prekey_message_tamper_rejected(alice: Party, bob: Party) -> None:
    a = initiate_session(alice.identity, bob.bundle(), rng=os.urandom)
    msg = a.encrypt(b"first", os.urandom)
    otk_before = dict(bob.one_time)
    step = 7  # the 1 KiB ML-KEM ciphertext makes every byte slow; a stride still covers every field
    for i in [*range(0, 200), *range(200, len(msg), step)]:
        bad = bytearray(msg)
        bad[i] ^= 0x80
        if i in _PARSER_CHECKED:
            with pytest.raises(RemoteProtocolError):
                parse_inner(bytes(bad))
            continue
        _kind, header, body = parse_inner(bytes(bad))
        assert header is not None
        with pytest.raises(DecryptionError):
            accept_session(bob.identity, header, body, alice.device.device_id, bob, os.urandom)
    assert bob.one_time == otk_before


def test_bundle_for_another_address_is_refused(alice: Party, bob: Party) -> None:
    with pytest.raises(AddressMismatch):
        bob.bundle().check_address(alice.identity.address)
    bob.bundle().check_address(bob.identity.address)


def test_forged_prekey_signatures_are_refused(bob: Party) -> None:
    raw = bytearray(bob.bundle().to_bytes())
    # signed prekey signature, KEM prekey signature, device certificate signature, identity certificate
    spk_sig = 1 + 128 + 96 + 4 + 32
    kem_sig = len(raw) - 64
    device_sig = 1 + 128 + 32
    identity_cert = 1 + 64
    for offset in (spk_sig, kem_sig, device_sig, identity_cert):
        forged = bytearray(raw)
        forged[offset + 5] ^= 0x40
        with pytest.raises(InvalidSignature):
            PreKeyBundle.from_bytes(bytes(forged))
    # a prekey signed by someone else (the relay substituting its own key)
    mallory = Party.create()
    swapped = PreKeyBundle(
        bob.identity.public, bob.device.certificate, mallory.signed[1].public, None, bob.kem[1].public
    ).to_bytes()
    with pytest.raises(InvalidSignature):
        PreKeyBundle.from_bytes(swapped)


def test_forward_secrecy_used_keys_are_gone(alice: Party, bob: Party) -> None:
    a, b = start(alice, bob)
    a.decrypt(b.encrypt(b"x", os.urandom), os.urandom)
    chain_key = a.ratchet.cks
    assert chain_key is not None
    next_chain, message_key = kdf_chain(chain_key)
    msg = a.encrypt(b"secret", os.urandom)
    assert b.decrypt(msg, os.urandom) == b"secret"
    for state in (a, b):
        held = state.ratchet.secrets_snapshot()
        blob = state.to_bytes()
        for used in (chain_key, message_key):
            assert used not in held
            assert used not in blob
    assert next_chain in a.ratchet.secrets_snapshot()  # the live chain key moved on
    # after a full round trip even the root key that derived this chain is gone
    root = b.ratchet.rk
    a.decrypt(b.encrypt(b"y", os.urandom), os.urandom)
    b.decrypt(a.encrypt(b"z", os.urandom), os.urandom)
    assert root not in b.ratchet.secrets_snapshot()
    assert root not in a.ratchet.secrets_snapshot()


def test_post_compromise_recovery(alice: Party, bob: Party) -> None:
    a, b = start(alice, bob)
    a.decrypt(b.encrypt(b"x", os.urandom), os.urandom)
    stolen = Session.from_bytes(b.to_bytes())  # an attacker copies Bob's state
    m1 = a.encrypt(b"still readable by the thief", os.urandom)
    assert Session.from_bytes(stolen.to_bytes()).decrypt(m1, os.urandom) == b"still readable by the thief"
    assert b.decrypt(m1, os.urandom) == b"still readable by the thief"
    # one round trip with fresh DH keys the thief never saw
    a.decrypt(b.encrypt(b"reply", os.urandom), os.urandom)
    m2 = a.encrypt(b"healed", os.urandom)
    assert b.decrypt(m2, os.urandom) == b"healed"
    with pytest.raises(DecryptionError):
        stolen.decrypt(m2, os.urandom)


def test_padding_hides_length(alice: Party, bob: Party) -> None:
    a, _ = start(alice, bob)
    sizes = {len(a.encrypt(b"x" * n, os.urandom)) for n in (0, 1, 50, 200, 255)}
    assert len(sizes) == 1


def test_session_serialisation_round_trip_with_skipped_keys(alice: Party, bob: Party) -> None:
    a, b = start(alice, bob)
    msgs = [a.encrypt(b"%d" % i, os.urandom) for i in range(4)]
    b.decrypt(msgs[3], os.urandom)
    restored = Session.from_bytes(b.to_bytes())
    assert restored.to_bytes() == b.to_bytes()
    assert [restored.decrypt(m, os.urandom) for m in msgs[:3]] == [b"0", b"1", b"2"]


def test_replayed_first_message_after_one_time_key_deleted_is_refused(alice: Party, bob: Party) -> None:
    a = initiate_session(alice.identity, bob.bundle(), rng=os.urandom)
    first = a.encrypt(b"hello", os.urandom)
    _, header, body = parse_inner(first)
    assert header is not None
    _, _, otk, kem = accept_session(bob.identity, header, body, alice.device.device_id, bob, os.urandom)
    bob.forget_used(otk, kem)
    with pytest.raises(DecryptionError):
        accept_session(bob.identity, header, body, alice.device.device_id, bob, os.urandom)


# -- random delivery orders, drops and duplicates -------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("a_send")),
        st.tuples(st.just("b_send")),
        st.tuples(st.just("to_b"), st.integers(0, 40)),
        st.tuples(st.just("to_a"), st.integers(0, 40)),
    ),
    max_size=60,
)


def _only(session: Session | None) -> Callable[[IdentityPublicKey, bytes], Session | None]:
    """A ``find_session`` that answers ``session`` for any sender."""
    return lambda _identity, _device_id: session


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=ops, seed=st.binary(min_size=8, max_size=8))
def test_random_delivery_orders_drops_and_duplicates(script: list[tuple[object, ...]], seed: bytes) -> None:
    rng = SeededRng(seed)
    alice, bob = Party.create(rng), Party.create(rng)
    a = initiate_session(alice.identity, bob.bundle(), rng=rng)
    b: Session | None = None
    sent: dict[str, list[tuple[bytes, bytes]]] = {"a": [], "b": []}
    delivered: dict[str, set[int]] = {"a": set(), "b": set()}
    for op in script:
        if op[0] == "a_send":
            pt = b"a%d" % len(sent["a"])
            sent["a"].append((seal_message(a, pt, sender_identity=alice.identity, sender=alice.cert, rng=rng), pt))
        elif op[0] == "b_send" and b is not None:
            pt = b"b%d" % len(sent["b"])
            sent["b"].append((seal_message(b, pt, sender_identity=bob.identity, sender=bob.cert, rng=rng), pt))
        elif op[0] in ("to_b", "to_a"):
            src = "a" if op[0] == "to_b" else "b"
            if not sent[src]:
                continue
            assert isinstance(op[1], int)
            idx = op[1] % len(sent[src])
            ct, pt = sent[src][idx]
            me, mine = (bob, b) if src == "a" else (alice, a)
            before = mine.to_bytes() if mine is not None else None
            first_time = idx not in delivered[src]
            try:
                opened = open_sealed(me.identity, ct, find_session=_only(mine), prekeys=me, rng=rng)
            except DecryptionError:
                assert not first_time, "a first delivery must decrypt"
                assert (mine.to_bytes() if mine is not None else None) == before, "failed decrypt changed state"
                continue
            assert first_time, "a duplicate must not decrypt twice"
            assert opened.plaintext == pt
            delivered[src].add(idx)
            if src == "a":
                b = opened.session
            else:
                a = opened.session
