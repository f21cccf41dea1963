"""Recovery codes and backups: round trip, wrong code, typos caught by the checksum, damaged backups."""

from __future__ import annotations

import random
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.keys import (
    RNG,
    CorruptKeyStore,
    InvalidRecoveryCode,
    KeyStoreError,
    SecretKeys,
    WrongPassphrase,
    create_recovery,
    restore_recovery,
)
from confide.keys.recovery import (
    BACKUP_HEADER_LEN,
    BACKUP_MAGIC,
    BACKUP_MAX_PAYLOAD_LEN,
    BACKUP_VERSION,
    RECOVERY_CODE_CHARS,
    RECOVERY_SECRET_LEN,
)

from .mutations import mutated, mutated_text

KEYS = SecretKeys.generate(random.Random(1).randbytes)
CODE, BACKUP = create_recovery(KEYS, rng=random.Random(2).randbytes)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_round_trip() -> None:
    restored = restore_recovery(BACKUP, CODE)
    assert restored == KEYS
    assert restored.identity.address == KEYS.identity.address
    assert restored.store_key == KEYS.store_key
    assert KEYS.to_bytes() not in BACKUP
    assert BACKUP.startswith(BACKUP_MAGIC)


def test_code_shape_and_entropy() -> None:
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}", CODE)
    assert RECOVERY_SECRET_LEN * 8 >= 128
    codes = {create_recovery(KEYS, rng=random.Random(seed).randbytes)[0] for seed in range(20)}
    assert len(codes) == 20


def test_typing_leniency() -> None:
    sloppy = CODE.lower().replace("-", " ")
    assert restore_recovery(BACKUP, sloppy) == KEYS
    assert restore_recovery(BACKUP, CODE.replace("-", "")) == KEYS


def test_lookalike_letters_read_as_digits() -> None:
    assert "0" in VECTOR_CODE
    assert "1" in VECTOR_CODE
    for zero, one in (("O", "I"), ("o", "l"), ("O", "L")):
        typed = VECTOR_CODE.replace("0", zero).replace("1", one)
        assert restore_recovery(VECTOR_BACKUP, typed) == VECTOR_KEYS


def test_code_of_another_backup_is_a_wrong_code() -> None:
    other_code, _ = create_recovery(KEYS, rng=random.Random(3).randbytes)
    with pytest.raises(WrongPassphrase):
        restore_recovery(BACKUP, other_code)


def test_every_single_character_typo_is_caught_by_the_checksum() -> None:
    compact = CODE.replace("-", "")
    for i, ch in enumerate(compact):
        wrong = _ALPHABET[(_ALPHABET.index(ch) + 1) % len(_ALPHABET)]
        typo = compact[:i] + wrong + compact[i + 1 :]
        with pytest.raises(InvalidRecoveryCode, match="typing mistake"):
            restore_recovery(BACKUP, typo)


def test_swapped_neighbours_are_caught() -> None:
    compact = CODE.replace("-", "")
    for i in range(len(compact) - 1):
        if compact[i] == compact[i + 1]:
            continue
        swapped = compact[:i] + compact[i + 1] + compact[i] + compact[i + 2 :]
        with pytest.raises(InvalidRecoveryCode):
            restore_recovery(BACKUP, swapped)


@pytest.mark.parametrize(
    "bad",
    ["", "hello", CODE[:-1], CODE + "X", CODE[:-1] + "U", CODE[:-1] + "!", "A" * 10_000],
)
def test_malformed_codes(bad: str) -> None:
    with pytest.raises(InvalidRecoveryCode):
        restore_recovery(BACKUP, bad)


def test_typo_is_reported_before_looking_at_the_backup() -> None:
    with pytest.raises(InvalidRecoveryCode):
        restore_recovery(b"garbage", CODE[:-1] + ("0" if CODE[-1] != "0" else "1"))


def expected_restore_error(backup: bytes) -> type[KeyStoreError]:
    """The error :func:`restore_recovery` must raise, with the right code, for ``backup`` when it is not the
    original, from the documented layout: a structural fault is :class:`CorruptKeyStore`; anything else fails
    authentication (the whole header is associated data) as :class:`WrongPassphrase`."""
    if len(backup) < BACKUP_HEADER_LEN or backup[:4] != BACKUP_MAGIC or backup[4] != BACKUP_VERSION:
        return CorruptKeyStore
    (payload_len,) = struct.unpack(">I", backup[BACKUP_HEADER_LEN - 4 : BACKUP_HEADER_LEN])
    if payload_len > BACKUP_MAX_PAYLOAD_LEN or len(backup) != BACKUP_HEADER_LEN + payload_len + 16:
        return CorruptKeyStore
    return WrongPassphrase


def test_every_single_byte_tamper_of_the_backup_is_refused() -> None:
    seen: set[type[KeyStoreError]] = set()
    for i in range(len(BACKUP)):
        tampered = bytearray(BACKUP)
        tampered[i] ^= 0x01
        expected = expected_restore_error(bytes(tampered))
        seen.add(expected)
        with pytest.raises(expected):
            restore_recovery(bytes(tampered), CODE)
    assert seen == {CorruptKeyStore, WrongPassphrase}


def test_truncated_or_extended_backup() -> None:
    for n in range(len(BACKUP)):
        with pytest.raises(CorruptKeyStore):
            restore_recovery(BACKUP[:n], CODE)
    with pytest.raises(CorruptKeyStore):
        restore_recovery(BACKUP + b"\x00", CODE)
    with pytest.raises(CorruptKeyStore, match="version"):
        restore_recovery(BACKUP[:4] + b"\x02" + BACKUP[5:], CODE)
    assert len(BACKUP) == BACKUP_HEADER_LEN + len(KEYS.to_bytes()) + 16


def check_restore_backup(backup: bytes) -> None:
    """Only the original backup opens (to its keys); anything else raises exactly its documented error."""
    if backup == BACKUP:
        assert restore_recovery(backup, CODE) == KEYS
        return
    with pytest.raises(expected_restore_error(backup)):
        restore_recovery(backup, CODE)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_backup_bytes_raise_the_documented_error(data: bytes) -> None:
    check_restore_backup(data)


@settings(max_examples=300, deadline=None)
@given(mutated(BACKUP))
def test_mutated_backup_opens_only_unchanged(data: bytes) -> None:
    check_restore_backup(data)


def _compact(code: str) -> str:
    """A typed code as the documented leniency reads it: whitespace and dashes dropped, upper case, O/I/L as
    0/1/1."""
    return "".join(code.split()).replace("-", "").upper().translate(str.maketrans("OIL", "011"))


def check_restore_code(text: str) -> None:
    """A text opens the backup exactly when it is a lenient spelling of its code, and gives its keys; any other
    text is refused as a malformed code (its checksum catches it) before the backup is looked at. Texts longer
    than four times a code are refused unread."""
    if _compact(text) == CODE.replace("-", "") and len(text) <= 4 * RECOVERY_CODE_CHARS:
        assert restore_recovery(BACKUP, text) == KEYS
        return
    with pytest.raises(InvalidRecoveryCode):
        restore_recovery(BACKUP, text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_code_text_is_refused_as_malformed(text: str) -> None:
    check_restore_code(text)


_TYPED_ALPHABET = _ALPHABET + _ALPHABET.lower() + "OILUoilu- !\n"


@settings(max_examples=300, deadline=None)
@given(mutated_text(CODE, _TYPED_ALPHABET))
def test_mistyped_code_opens_only_when_equivalent(text: str) -> None:
    check_restore_code(text)


def _counter_rng(start: int) -> RNG:
    state = [start]

    def rng(n: int) -> bytes:
        out = bytes((state[0] + i) % 256 for i in range(n))
        state[0] += n
        return out

    return rng


VECTOR_KEYS = SecretKeys.from_bytes(b"\x01" + bytes(range(128)))
VECTOR_CODE = "000G-40R4-0M30-E209-185G-R38E-1Z20-HTKJ"
VECTOR_BACKUP = bytes.fromhex(
    "4346524201101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b"
    "000000816b36181dc052ceb526882592070d8ae1acb2ddef5f03e2a4cc7f5cca777f7b653b60323678a49fc7537a891b8e"
    "36afc9ff3065d206f53c42cc4a73374938e4ea82eedef15b13883e26e6c0db1458ebc76b84d317158ffc1bc20ad36f4add"
    "a153a16754d6c06a8b4e98f17c4c40360e11907db14e078c7f61a2b2d4ba6a1db56fa0a9076126d508b10a08c4080724e2"
    "a6a9"
)


def test_fixed_vector() -> None:
    """Locks the format: secret 00..0f, salt 10..2f, nonce 30..3b (see SPEC)."""
    assert create_recovery(VECTOR_KEYS, rng=_counter_rng(0)) == (VECTOR_CODE, VECTOR_BACKUP)
    assert restore_recovery(VECTOR_BACKUP, VECTOR_CODE) == VECTOR_KEYS
