"""Recovery codes and backups: round trip, wrong code, typos caught by the checksum, damaged backups."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.keys import (
    RNG,
    ConfideError,
    CorruptKeyStore,
    InvalidRecoveryCode,
    SecretKeys,
    WrongPassphrase,
    create_recovery,
    restore_recovery,
)
from confide.keys.recovery import BACKUP_HEADER_LEN, BACKUP_MAGIC, RECOVERY_SECRET_LEN

KEYS = SecretKeys.generate(random.Random(1).randbytes)
CODE, BACKUP = create_recovery(KEYS, rng=random.Random(2).randbytes)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_round_trip() -> None:
    restored = restore_recovery(BACKUP, CODE)
    assert restored == KEYS
    assert restored.identity.address == KEYS.identity.address
    assert restored.store_key == KEYS.store_key
    assert KEYS.to_bytes() not in BACKUP and BACKUP.startswith(BACKUP_MAGIC)


def test_code_shape_and_entropy() -> None:
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}", CODE)
    assert RECOVERY_SECRET_LEN * 8 >= 128
    codes = {create_recovery(KEYS, rng=random.Random(seed).randbytes)[0] for seed in range(20)}
    assert len(codes) == 20


def test_typing_leniency() -> None:
    sloppy = CODE.lower().replace("-", " ")
    assert restore_recovery(BACKUP, sloppy) == KEYS
    assert restore_recovery(BACKUP, CODE.replace("-", "")) == KEYS
    if "0" in CODE:
        assert restore_recovery(BACKUP, CODE.replace("0", "O")) == KEYS
    if "1" in CODE:
        assert restore_recovery(BACKUP, CODE.replace("1", "l")) == KEYS


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


def test_every_single_byte_tamper_of_the_backup_is_refused() -> None:
    for i in range(len(BACKUP)):
        tampered = bytearray(BACKUP)
        tampered[i] ^= 0x01
        with pytest.raises((WrongPassphrase, CorruptKeyStore)):
            restore_recovery(bytes(tampered), CODE)


def test_truncated_or_extended_backup() -> None:
    for n in range(len(BACKUP)):
        with pytest.raises(CorruptKeyStore):
            restore_recovery(BACKUP[:n], CODE)
    with pytest.raises(CorruptKeyStore):
        restore_recovery(BACKUP + b"\x00", CODE)
    with pytest.raises(CorruptKeyStore, match="version"):
        restore_recovery(BACKUP[:4] + b"\x02" + BACKUP[5:], CODE)
    assert len(BACKUP) == BACKUP_HEADER_LEN + len(KEYS.to_bytes()) + 16


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_backup_bytes_raise_only_confide_errors(data: bytes) -> None:
    with pytest.raises(ConfideError):
        restore_recovery(data, CODE)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_code_text_raises_only_confide_errors(text: str) -> None:
    try:
        restore_recovery(BACKUP, text)
    except ConfideError:
        pass


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
