"""Linking a device (SPEC 15): the code, SPAKE2 (RFC 9382) and the six-slot exchange.

Each security promise is tested as the attack that would break it: a wrong code, a relay that plays one device
or both, swaps a share or replays a slot from another run, or serves points outside the prime-order group; in
every case the run fails with the typed error on the side that can tell, and no key comes out of it.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_core_ed25519_is_valid_point

from confide.protocol import DecryptionError, LocalProtocolError, RemoteProtocolError
from confide.protocol import franking_group as grp
from confide.protocol import link as lk
from confide.protocol.content import MAX_CONTACT_NAME_BYTES, ContactSnapshot, Content
from confide.protocol.errors import InvalidLinkCode, LinkCodeMismatch
from confide.protocol.link import (
    ExistingDeviceLink,
    LinkCode,
    LinkOutcome,
    NewDeviceLink,
    channel_of,
    new_link_code,
    parse_link_code,
)
from confide.protocol.provisioning import (
    MAX_CONTACT_LEN,
    MAX_CONTACTS,
    MAX_PROVISIONING_LEN,
    MIN_CONTACT_LEN,
    HistoryOffer,
    Provisioning,
)
from confide.protocol.spake2 import M, N, Role, Spake2, password_scalar
from tests.vectors.gen.drbg import SeededRng

MAX_LINK_MESSAGE = 512 * 1024
"""The relay's limit on one slot (issue 13, decision 4)."""
DEVICE_PUBLIC = bytes(range(32))
PROVISIONING = Provisioning(
    identity_private=bytes(range(64)),
    token_key=b"\x11" * 32,
    intro_token=b"\x22" * 32,
    role=2,
    device_list=b"\x01" * 853,
    contacts=(b"\x33" * MIN_CONTACT_LEN, b"\x44" * MAX_CONTACT_LEN),
)
OFFER = HistoryOffer(blob_id="A" * 43, key=b"\x55" * 32, digest=b"\x66" * 32, size=123_456, messages=42)


def code(seed: bytes = b"link-test/code") -> LinkCode:
    return new_link_code(SeededRng(seed))


def pair(
    c: LinkCode | None = None, typed: LinkCode | None = None, seed: bytes = b"link-test"
) -> tuple[NewDeviceLink, ExistingDeviceLink]:
    c = c or code()
    return (
        NewDeviceLink(c, rng=SeededRng(seed + b"/new")),
        ExistingDeviceLink(typed or c, rng=SeededRng(seed + b"/existing")),
    )


def typo(c: LinkCode, position: int) -> LinkCode:
    """The code with its ``position``-th character (0..11) replaced by the next one of the alphabet."""
    chars = list(c.text.replace("-", ""))
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars[position] = alphabet[(alphabet.index(chars[position]) + 1) % 32]
    return parse_link_code("".join(chars))


def confirmed() -> tuple[NewDeviceLink, ExistingDeviceLink]:
    n, e = pair()
    n.receive_existing(e.answer(n.start()))
    assert e.open_request(n.request(DEVICE_PUBLIC, "Phone")) == lk.DeviceRequest(DEVICE_PUBLIC, "Phone")
    return n, e


# --- SPAKE2 parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("point", "label", "hashes"), [(M, "M", 21), (N, "N", 7)])
def test_m_and_n_are_rfc_9382s_nothing_up_my_sleeve_points(point: bytes, label: str, hashes: int) -> None:
    # RFC 9382 appendix: SHA-256 of the seed, hashed again until it decodes to a point of the prime-order group.
    candidate = hashlib.sha256(f"edwards25519 point generation seed ({label})".encode()).digest()
    for _ in range(hashes - 1):
        assert not crypto_core_ed25519_is_valid_point(candidate)
        candidate = hashlib.sha256(candidate).digest()
    assert candidate == point
    assert grp.is_point(point)


def test_both_parties_of_spake2_derive_the_same_keys() -> None:
    w = password_scalar(b"\x07" * 64)
    a = Spake2(Role.A, w, id_a=b"A", id_b=b"B", aad=b"", rng=SeededRng(b"spake/a"))
    b = Spake2(Role.B, w, id_a=b"A", id_b=b"B", aad=b"", rng=SeededRng(b"spake/b"))
    ka, kb = a.finish(b.share), b.finish(a.share)
    assert ka == kb
    assert len(ka.ke) == 16
    assert ka.confirm_a != ka.confirm_b


def test_spake2_takes_one_share_per_run() -> None:
    w = password_scalar(b"\x07" * 64)
    a = Spake2(Role.A, w, id_a=b"A", id_b=b"B", aad=b"", rng=SeededRng(b"spake/a"))
    b = Spake2(Role.B, w, id_a=b"A", id_b=b"B", aad=b"", rng=SeededRng(b"spake/b"))
    a.finish(b.share)
    with pytest.raises(LocalProtocolError):
        a.finish(b.share)


def test_spake2_secrets_do_not_print() -> None:
    w = password_scalar(b"\x07" * 64)
    a = Spake2(Role.A, w, id_a=b"A", id_b=b"B", aad=b"", rng=SeededRng(b"spake/a"))
    b = Spake2(Role.B, w, id_a=b"A", id_b=b"B", aad=b"", rng=SeededRng(b"spake/b"))
    keys = a.finish(b.share)
    assert keys.ke.hex() not in repr(keys)
    assert w.hex() not in repr(a)


# --- the full exchange -----------------------------------------------------------------------------------


def test_a_full_exchange_hands_over_the_provisioning_and_the_history_offer() -> None:
    n, e = pair()
    slot1 = e.answer(n.start())
    n.receive_existing(slot1)
    request = e.open_request(n.request(DEVICE_PUBLIC, "Dr. Rivera's phone"))
    assert request == lk.DeviceRequest(DEVICE_PUBLIC, "Dr. Rivera's phone")
    assert n.open_provisioning(e.provisioning(PROVISIONING)) == PROVISIONING
    assert n.open_history_offer(e.history_offer(OFFER)) == OFFER
    assert e.open_done(n.done(LinkOutcome.WITHOUT_HISTORY)) is LinkOutcome.WITHOUT_HISTORY


def test_start_empty_is_an_offer_of_none() -> None:
    n, e = confirmed()
    n.open_provisioning(e.provisioning(PROVISIONING))
    assert n.open_history_offer(e.history_offer(None)) is None
    assert e.open_done(n.done()) is LinkOutcome.COMPLETE


def test_slot_lengths_are_those_of_the_spec() -> None:
    n, e = pair()
    slot0 = n.start()
    slot1 = e.answer(slot0)
    n.receive_existing(slot1)
    slot2 = n.request(DEVICE_PUBLIC, "Phone")
    e.open_request(slot2)
    assert (len(slot0), len(slot1), len(slot2)) == (33, 65, 1 + 32 + 32 + 1 + 5 + 16)
    assert len(e.provisioning(PROVISIONING)) == 1 + len(PROVISIONING.to_bytes()) + 16
    assert all(s[0] == 0x01 for s in (slot0, slot1, slot2))


def test_the_largest_provisioning_fits_one_relay_slot() -> None:
    assert lk.MAX_SLOT3_LEN == 1 + MAX_PROVISIONING_LEN + 16
    assert lk.MAX_SLOT3_LEN <= MAX_LINK_MESSAGE
    biggest = Provisioning(
        bytes(64), bytes(32), bytes(32), 1, b"\x01" * 1024, (b"\x02" * MAX_CONTACT_LEN,) * MAX_CONTACTS
    )
    assert len(biggest.to_bytes()) == MAX_PROVISIONING_LEN
    n, e = confirmed()
    assert n.open_provisioning(e.provisioning(biggest)) == biggest


# --- wrong code ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", range(4, 12))
def test_a_one_character_typo_in_the_password_fails_on_both_sides(position: int) -> None:
    c = code()
    n, e = pair(c, typo(c, position))
    slot1 = e.answer(n.start())
    with pytest.raises(LinkCodeMismatch):
        n.receive_existing(slot1)
    with pytest.raises(LinkCodeMismatch):
        e.open_request(n.abort())
    # No key came out on either side: every later step is refused.
    with pytest.raises(LocalProtocolError):
        n.request(DEVICE_PUBLIC, "Phone")
    with pytest.raises(LocalProtocolError):
        e.provisioning(PROVISIONING)


@pytest.mark.parametrize("position", range(4))
def test_a_typo_in_the_first_group_names_another_channel(position: int) -> None:
    c = code()
    assert channel_of(typo(c, position)) != channel_of(c)
    assert lk.password_of(typo(c, position)) == lk.password_of(c)


def test_abort_follows_a_failed_confirmation_only() -> None:
    n, e = pair()
    n.receive_existing(e.answer(n.start()))
    with pytest.raises(LocalProtocolError):
        n.abort()


# --- a relay in the middle -------------------------------------------------------------------------------


def test_a_relay_playing_the_existing_device_with_a_guess_is_caught_by_the_new_device() -> None:
    n, _ = pair()
    relay = ExistingDeviceLink(typo(code(), 11), rng=SeededRng(b"relay"))
    with pytest.raises(LinkCodeMismatch):
        n.receive_existing(relay.answer(n.start()))


def test_a_relay_playing_the_new_device_with_a_guess_is_caught_by_the_existing_device() -> None:
    _, e = pair()
    relay = NewDeviceLink(typo(code(), 11), rng=SeededRng(b"relay"))
    slot1 = e.answer(relay.start())
    with pytest.raises(LinkCodeMismatch):
        relay.receive_existing(slot1)
    with pytest.raises(LinkCodeMismatch):
        e.open_request(relay.abort())
    with pytest.raises(LocalProtocolError):
        e.provisioning(PROVISIONING)


def test_a_relay_substituting_pa_is_caught() -> None:
    n, e = pair()
    n.start()
    other = NewDeviceLink(code(), rng=SeededRng(b"other run"))  # even with the right code: another x
    slot1 = e.answer(other.start())
    with pytest.raises(LinkCodeMismatch):
        n.receive_existing(slot1)


def test_a_relay_substituting_pb_is_caught() -> None:
    n, e = pair()
    slot0 = n.start()
    slot1 = e.answer(slot0)
    forged_share = grp.base_mul(grp.random_scalar(SeededRng(b"relay share")))
    with pytest.raises(LinkCodeMismatch):
        n.receive_existing(slot1[:1] + forged_share + slot1[33:])


def test_a_slot_1_replayed_from_another_run_with_the_same_code_is_caught() -> None:
    c = code()
    earlier_n, earlier_e = pair(c, seed=b"earlier run")
    replayed = earlier_e.answer(earlier_n.start())
    n, _ = pair(c, seed=b"this run")
    n.start()
    with pytest.raises(LinkCodeMismatch):
        n.receive_existing(replayed)


def test_a_slot_2_replayed_from_another_run_is_caught() -> None:
    c = code()
    earlier_n, earlier_e = pair(c, seed=b"earlier run")
    earlier_n.receive_existing(earlier_e.answer(earlier_n.start()))
    replayed = earlier_n.request(DEVICE_PUBLIC, "Thief's laptop")
    n, e = pair(c, seed=b"this run")
    e.answer(n.start())
    with pytest.raises(LinkCodeMismatch):
        e.open_request(replayed)


def test_slots_3_and_4_swapped_by_the_relay_do_not_open() -> None:
    n, e = confirmed()
    slot3, slot4 = e.provisioning(PROVISIONING), e.history_offer(OFFER)
    with pytest.raises(DecryptionError):
        n.open_provisioning(slot4)
    assert n.open_provisioning(slot3) == PROVISIONING  # the failure changed nothing
    with pytest.raises(RemoteProtocolError):  # longer than any offer: refused before any crypto
        n.open_history_offer(slot3)
    with pytest.raises(DecryptionError):  # the right length for slot 4, sealed for slot 3
        n.open_history_offer(b"\x01" + lk._seal(e._k_e2n, 0, 3, HistoryOffer.encode(OFFER)))
    assert n.open_history_offer(slot4) == OFFER


def test_an_altered_provisioning_does_not_open_and_changes_nothing() -> None:
    n, e = confirmed()
    slot3 = e.provisioning(PROVISIONING)
    for offset in (1, 100, -1):
        altered = bytearray(slot3)
        altered[offset] ^= 0x01
        with pytest.raises(DecryptionError):
            n.open_provisioning(bytes(altered))
    assert n.open_provisioning(slot3) == PROVISIONING


def test_an_altered_request_does_not_open() -> None:
    n, e = pair()
    n.receive_existing(e.answer(n.start()))
    slot2 = bytearray(n.request(DEVICE_PUBLIC, "Phone"))
    slot2[-1] ^= 0x01
    with pytest.raises(DecryptionError):
        e.open_request(bytes(slot2))


# --- points outside the group, malformed slots -----------------------------------------------------------

_VALID = grp.base_mul(grp.random_scalar(SeededRng(b"link-test/valid")))
_ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
BAD_POINTS = {
    "identity": b"\x01" + bytes(31),
    "order 2": bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    "order 8": _ORDER_8,
    "torsion component": grp.add(_VALID, _ORDER_8),
    "not canonical (y >= p)": b"\xff" * 31 + b"\x7f",
    "not canonical (y = p + 1)": bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    "zero": bytes(32),
}


@pytest.mark.parametrize("name", sorted(BAD_POINTS))
def test_the_existing_device_refuses_a_pa_outside_the_group_and_ends_the_run(name: str) -> None:
    _, e = pair()
    with pytest.raises(RemoteProtocolError):
        e.answer(b"\x01" + BAD_POINTS[name])
    with pytest.raises(LocalProtocolError):
        e.answer(b"\x01" + _VALID)


@pytest.mark.parametrize("name", sorted(BAD_POINTS))
def test_the_new_device_refuses_a_pb_outside_the_group_and_ends_the_run(name: str) -> None:
    n, e = pair()
    slot1 = e.answer(n.start())
    with pytest.raises(RemoteProtocolError):
        n.receive_existing(slot1[:1] + BAD_POINTS[name] + slot1[33:])
    with pytest.raises(LocalProtocolError):
        n.receive_existing(slot1)


def test_a_share_that_cancels_the_blinding_is_refused() -> None:
    # pA = w·M makes B's K the identity: only someone who knows w can send it; refused, never used.
    c = code()
    _, e = pair(c)
    with pytest.raises(RemoteProtocolError):
        e.answer(b"\x01" + grp.mul(lk.password_of(c), M))


@pytest.mark.parametrize(
    ("slot", "data"),
    [
        ("0 empty", b""),
        ("0 version 2", b"\x02" + _VALID),
        ("0 short", b"\x01" + _VALID[:31]),
        ("0 long", b"\x01" + _VALID + b"\x00"),
    ],
)
def test_a_malformed_slot_0_is_refused(slot: str, data: bytes) -> None:
    _, e = pair()
    with pytest.raises(RemoteProtocolError):
        e.answer(data)


def test_malformed_later_slots_are_refused_before_any_crypto() -> None:
    n, e = pair()
    slot1 = e.answer(n.start())
    with pytest.raises(RemoteProtocolError):
        n.receive_existing(b"\x02" + slot1[1:])
    n, e = pair()
    slot1 = e.answer(n.start())
    with pytest.raises(RemoteProtocolError):
        n.receive_existing(slot1 + b"\x00")
    n, e = pair()
    n.receive_existing(e.answer(n.start()))
    slot2 = n.request(DEVICE_PUBLIC, "Phone")
    with pytest.raises(RemoteProtocolError):
        e.open_request(b"\x02" + slot2[1:])
    n, e = confirmed()
    slot3 = e.provisioning(PROVISIONING)
    with pytest.raises(RemoteProtocolError):
        n.open_provisioning(b"\x02" + slot3[1:])
    with pytest.raises(RemoteProtocolError):
        n.open_provisioning(b"\x01")
    assert n.open_provisioning(slot3) == PROVISIONING
    slot4 = e.history_offer(None)
    with pytest.raises(RemoteProtocolError):
        n.open_history_offer(slot4 + b"\x00" * 300)
    assert n.open_history_offer(slot4) is None
    slot5 = n.done()
    with pytest.raises(RemoteProtocolError):
        e.open_done(slot5[:-1])
    assert e.open_done(slot5) is LinkOutcome.COMPLETE


def _slot2_with(n: NewDeviceLink, request: bytes) -> bytes:
    """An honest new device's slot 2 around an arbitrary request (the new device holds the key, so it can)."""
    keys = n._keys
    assert keys is not None
    return b"\x01" + keys[0] + lk._seal(n._k_n2e, 0, 2, request)


@pytest.mark.parametrize(
    "name",
    ["", " ", "a\nb", "a\u0000b", "a\u202egpj.exe", "a\u2028b", "x" * 65, "\u00e9" * 33],
    ids=["empty", "space", "newline", "nul", "bidi", "line separator", "65 bytes", "66 bytes of two-byte"],
)
def test_a_device_name_that_is_not_one_short_line_is_refused_on_both_sides(name: str) -> None:
    n, e = pair()
    n.receive_existing(e.answer(n.start()))
    with pytest.raises(ValueError, match="device name"):
        n.request(DEVICE_PUBLIC, name)
    raw = name.encode()
    if len(raw) > 0xFF:
        raw = raw[:0xFF]
    with pytest.raises(RemoteProtocolError):
        e.open_request(_slot2_with(n, DEVICE_PUBLIC + bytes((len(raw),)) + raw))


def test_a_name_of_64_bytes_in_any_script_is_accepted() -> None:
    n, e = pair()
    n.receive_existing(e.answer(n.start()))
    name = "\u0645\u0643\u062a\u0628" * 8  # Arabic, 64 bytes
    assert e.open_request(n.request(DEVICE_PUBLIC, name)).name == name


def test_a_request_with_trailing_bytes_or_an_empty_one_is_refused() -> None:
    n, e = pair()
    n.receive_existing(e.answer(n.start()))
    with pytest.raises(RemoteProtocolError):
        e.open_request(_slot2_with(n, DEVICE_PUBLIC + b"\x05Phone\x00"))


def test_an_unknown_outcome_is_refused() -> None:
    n, e = confirmed()
    n.open_provisioning(e.provisioning(PROVISIONING))
    n.open_history_offer(e.history_offer(None))
    n.done()
    forged = b"\x01" + lk._seal(n._k_n2e, 1, 5, b"\x03")
    with pytest.raises(RemoteProtocolError):
        e.open_done(forged)


# --- order -----------------------------------------------------------------------------------------------


def test_each_step_runs_once_and_in_order() -> None:
    n, e = pair()
    with pytest.raises(LocalProtocolError):
        n.request(DEVICE_PUBLIC, "Phone")
    with pytest.raises(LocalProtocolError):
        e.provisioning(PROVISIONING)
    slot0 = n.start()
    with pytest.raises(LocalProtocolError):
        n.start()
    slot1 = e.answer(slot0)
    with pytest.raises(LocalProtocolError):
        e.answer(slot0)
    with pytest.raises(LocalProtocolError):
        n.open_provisioning(b"\x01" + bytes(40))
    n.receive_existing(slot1)
    with pytest.raises(LocalProtocolError):
        n.receive_existing(slot1)
    slot2 = n.request(DEVICE_PUBLIC, "Phone")
    with pytest.raises(LocalProtocolError):
        e.history_offer(None)
    e.open_request(slot2)
    with pytest.raises(LocalProtocolError):
        e.open_request(slot2)
    slot3 = e.provisioning(PROVISIONING)
    with pytest.raises(LocalProtocolError):
        e.provisioning(PROVISIONING)
    slot4 = e.history_offer(None)
    with pytest.raises(LocalProtocolError):
        n.done()
    n.open_provisioning(slot3)
    with pytest.raises(LocalProtocolError):
        n.open_provisioning(slot3)
    n.open_history_offer(slot4)
    slot5 = n.done()
    with pytest.raises(LocalProtocolError):
        n.done()
    e.open_done(slot5)
    with pytest.raises(LocalProtocolError):
        e.open_done(slot5)


# --- the code --------------------------------------------------------------------------------------------


def test_a_code_is_twelve_crockford_characters_in_three_groups() -> None:
    c = LinkCode(b"\x0f\xff\xff", b"\x00\x00\x00\x00\x01")
    assert c.text == "ZZZZ-0000-0001"
    assert c.qr_text == "CONFIDE-LINK1:ZZZZ-0000-0001"
    assert channel_of(c) == hashlib.sha256(b"Confide-link-channel-v1" + b"\x0f\xff\xff").hexdigest()


def test_the_code_is_drawn_from_the_top_60_bits_of_eight_random_bytes() -> None:
    c = new_link_code(lambda n: b"\xff" * 7 + b"\xf0" if n == 8 else b"")
    assert c == LinkCode(b"\x0f\xff\xff", b"\xff" * 5)


def test_the_password_does_not_print() -> None:
    c = code()
    assert c.password_bits.hex() not in repr(c)
    assert c.text not in repr(c)


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(value=st.integers(0, 2**60 - 1), lower=st.booleans(), spaced=st.booleans())
def test_every_code_reads_back_from_its_text_and_qr_text(value: int, lower: bool, spaced: bool) -> None:
    c = lk._code_of(value)
    text = c.text.lower() if lower else c.text
    if spaced:
        text = " " + text.replace("-", " \t") + "\n"
    assert parse_link_code(text) == c
    assert parse_link_code(c.qr_text) == c
    assert parse_link_code(" " + c.qr_text.lower() + "\r\n") == c
    assert parse_link_code(c.text.replace("0", "O").replace("1", "l")) == c


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(text=st.text(max_size=80))
def test_any_text_parses_to_a_code_that_prints_as_the_text_normalised_or_is_refused(text: str) -> None:
    try:
        c = parse_link_code(text)
    except InvalidLinkCode:
        return
    body = text.strip(" \t\r\n")
    if body.upper().startswith("CONFIDE-LINK1:"):
        body = body[len("CONFIDE-LINK1:") :]
    normal = body.translate(str.maketrans("", "", " \t\r\n-")).upper().translate(str.maketrans("OIL", "011"))
    assert c.text.replace("-", "") == normal


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ZZZZ-0000-000",
        "ZZZZ-0000-00001",
        "ZZZZ-0000-000U",
        "ZZZZ-0000-000*",
        "ZZZZ\u00a00000-0001",
        "ZZZZ-0000-000\u0131",
        "CONFIDE-SN1:ZZZZ-0000-0001",
        "CONFIDE-RC1:ZZZZ-0000-0001",
        "Z" * 65,
    ],
    ids=["empty", "11", "13", "U", "star", "no-break space", "dotless i", "safety-number QR", "recovery QR", "65"],
)
def test_a_malformed_code_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(InvalidLinkCode) as caught:
        parse_link_code(text)
    assert "link code" in str(caught.value)


# --- provisioning and offer formats ----------------------------------------------------------------------


def test_provisioning_round_trips_and_hides_its_secrets() -> None:
    data = PROVISIONING.to_bytes()
    assert Provisioning.from_bytes(data) == PROVISIONING
    assert len(data) == 1 + 64 + 32 + 32 + 1 + 4 + 853 + 2 + 2 + MIN_CONTACT_LEN + 2 + MAX_CONTACT_LEN
    shown = repr(PROVISIONING)
    for secret in (PROVISIONING.identity_private, PROVISIONING.token_key, PROVISIONING.intro_token):
        assert secret.hex() not in shown
        assert str(secret) not in shown


def _edit(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: b"\x02" + d[1:],
        lambda d: _edit(d, 129, b"\x03"),
        lambda d: _edit(d, 129, b"\x00"),
        lambda d: d + b"\x00",
        lambda d: d[:-1],
        lambda d: b"",
        lambda d: _edit(d, 130, (1025).to_bytes(4, "big")),
        lambda d: _edit(d, 134 + 853, (MAX_CONTACTS + 1).to_bytes(2, "big")),
        lambda d: _edit(d, 134 + 853 + 2, (MIN_CONTACT_LEN - 1).to_bytes(2, "big")),
    ],
    ids=[
        "version 2",
        "role 3",
        "role 0",
        "trailing",
        "truncated",
        "empty",
        "device list 1025",
        "1025 contacts",
        "contact too short",
    ],
)
def test_a_malformed_provisioning_is_refused(edit: object) -> None:
    assert callable(edit)
    with pytest.raises(RemoteProtocolError):
        Provisioning.from_bytes(edit(PROVISIONING.to_bytes()))


def test_history_offer_round_trips() -> None:
    assert HistoryOffer.decode(HistoryOffer.encode(OFFER)) == OFFER
    assert HistoryOffer.encode(None) == b"\x00"
    assert HistoryOffer.decode(b"\x00") is None
    assert OFFER.key.hex() not in repr(OFFER)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00",
        b"\x02",
        HistoryOffer.encode(OFFER)[:-1],
        HistoryOffer.encode(OFFER) + b"\x00",
        b"\x01\x00\x01/" + HistoryOffer.encode(OFFER)[46:],
        _edit(HistoryOffer.encode(OFFER), 3 + 43 + 64, (64 * 1024 * 1024 + 1).to_bytes(8, "big")),
    ],
    ids=["empty", "none with trailing", "kind 2", "truncated", "trailing", "slash in blob id", "size over 64 MiB"],
)
def test_a_malformed_history_offer_is_refused(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        HistoryOffer.decode(data)


def test_the_contact_bounds_are_those_of_the_contact_content() -> None:
    def body(name: str, token: bytes | None) -> bytes:
        snapshot = ContactSnapshot(bytes(20), bytes(128), True, False, False, name, 0, token, token)
        return Content(bytes(16), 0, 0, snapshot).to_bytes()[30:]  # the content header is 30 bytes

    assert len(body("x", None)) == MIN_CONTACT_LEN
    assert len(body("x" * MAX_CONTACT_NAME_BYTES, b"\x01" * 32)) == MAX_CONTACT_LEN
    shortest = Provisioning(bytes(64), bytes(32), bytes(32), 1, b"\x01", (body("x", None),))
    assert Provisioning.from_bytes(shortest.to_bytes()) == shortest
