"""The recovery code's QR has its own prefix (``CONFIDE-RC1:``), never the safety-number one.

The attack it answers: the recovery QR used ``CONFIDE-SN1:``, the safety-number prefix, so a scanner (or a
person) could take a recovery code for a safety number and show or send it to someone, and ``verify`` said
only "another safety-number version". Restore must still accept the QR codes already printed that way.
"""

from __future__ import annotations

import os

import pytest

from confide.keys.errors import InvalidRecoveryCode, QRPayloadError
from confide.keys.qr import QR_TEXT_PREFIX, parse_qr_text, qr_text
from confide.keys.recovery import (
    RECOVERY_QR_PREFIX,
    create_recovery,
    is_recovery_qr_text,
    recovery_code_from_qr,
    recovery_qr_text,
    restore_recovery,
)
from confide.keys.secret_keys import SecretKeys


@pytest.fixture(scope="module")
def kit() -> tuple[SecretKeys, str, bytes]:
    keys = SecretKeys.generate(os.urandom)
    code, backup = create_recovery(keys, rng=os.urandom)
    return keys, code, backup


def test_the_recovery_qr_has_its_own_prefix(kit: tuple[SecretKeys, str, bytes]) -> None:
    _keys, code, _backup = kit
    text = recovery_qr_text(code)
    assert RECOVERY_QR_PREFIX == "CONFIDE-RC1:"
    assert text == RECOVERY_QR_PREFIX + code
    assert not text.startswith(QR_TEXT_PREFIX)
    with pytest.raises(QRPayloadError):  # a safety-number scan never reads it as a safety number
        parse_qr_text(text)
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")  # QR alphanumeric mode


@pytest.mark.parametrize("form", ["new", "new lower case", "old SN1 wrapping"])
def test_restore_reads_new_and_old_recovery_qr_codes(kit: tuple[SecretKeys, str, bytes], form: str) -> None:
    keys, code, backup = kit
    scanned = {
        "new": recovery_qr_text(code),
        "new lower case": "  " + recovery_qr_text(code).lower() + "\n",
        "old SN1 wrapping": qr_text(code.encode("ascii")),  # what recovery create --qr wrote before
    }[form]
    assert recovery_code_from_qr(scanned) == code
    assert restore_recovery(backup, recovery_code_from_qr(scanned)).to_bytes() == keys.to_bytes()


def test_what_counts_as_a_recovery_code(kit: tuple[SecretKeys, str, bytes]) -> None:
    _keys, code, _backup = kit
    assert is_recovery_qr_text(recovery_qr_text(code))
    assert is_recovery_qr_text(qr_text(code.encode("ascii")))
    assert is_recovery_qr_text(code)
    assert is_recovery_qr_text(code.replace("-", " ").lower())
    assert not is_recovery_qr_text(qr_text(bytes(65)))  # a safety-number payload
    assert not is_recovery_qr_text("CONFIDE-SN1:GARBAGE")
    assert not is_recovery_qr_text("x" * 10_000)
    with pytest.raises(InvalidRecoveryCode):
        recovery_code_from_qr(qr_text(bytes(65)))
    with pytest.raises(InvalidRecoveryCode):
        recovery_code_from_qr(RECOVERY_QR_PREFIX + "0000-0000")
