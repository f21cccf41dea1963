"""Unit tests of the client's small parts: invite codes, durations, sealed values and blind indexes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from confide.client import InvalidInvite, Invite, StorageError, format_duration, parse_duration
from confide.client.sealing import Sealer
from confide.client.store import Store
from confide.keys.address import Address


def test_invite_round_trip_and_typos() -> None:
    invite = Invite(Address(os.urandom(20)), os.urandom(32))
    assert Invite.parse(invite.code) == invite
    assert Invite.parse(invite.code.upper().replace(":", ": ")) == invite
    assert invite.code not in repr(invite)
    assert invite.token.hex() not in repr(invite)
    typo = invite.code[:-3] + ("a" if invite.code[-3] != "a" else "b") + invite.code[-2:]
    for bad in (typo, invite.code[:-4], "cf1-abcd", "cfi1:0189", ""):
        with pytest.raises(InvalidInvite):
            Invite.parse(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("30s", 30),
        ("10m", 600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("off", 0),
        (" 1H ", 3600),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects() -> None:
    for bad in ("soon", "1y", "-5", "1h-"):
        with pytest.raises(ValueError, match="is not a duration"):
            parse_duration(bad)
    with pytest.raises(ValueError, match="at most one year"):
        parse_duration("400d")
    assert format_duration(5400) == "1h30m"
    assert format_duration(0) == "off"


def test_sealed_values_are_bound_to_their_row_and_key() -> None:
    sealer = Sealer(os.urandom(32), os.urandom)
    sealed = sealer.seal("messages", "data", "row-1", b"secret")
    assert b"secret" not in sealed
    assert sealer.open("messages", "data", "row-1", sealed) == b"secret"
    for table, column, row in (("messages", "data", "row-2"), ("contacts", "data", "row-1")):
        with pytest.raises(StorageError):
            sealer.open(table, column, row, sealed)
    with pytest.raises(StorageError):
        Sealer(os.urandom(32), os.urandom).open("messages", "data", "row-1", sealed)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(StorageError):
        sealer.open("messages", "data", "row-1", bytes(tampered))
    assert sealer.index("x", b"v") == sealer.index("x", b"v") != sealer.index("y", b"v")


def test_store_transaction_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", os.urandom(32), os.urandom)

    def write_then_fail() -> None:
        with store.transaction():
            store.set_meta("k", b"v")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert store.get_meta("k") is None
    with store.transaction():
        store.set_meta("k", b"v")
    assert store.get_meta("k") == b"v"
    store.close()
