"""A relay that lies about its prekey counts cannot make a device's private one-time prekeys pile up (issue 10).

The relay is real (``confide.server`` on loopback) behind the hostile proxy of :mod:`tests.reliability.hostile`,
which answers "none left" to every ``GET /v1/prekeys``, so each check uploads a batch of each kind. The device
keeps at most ``MAX_HELD_ONE_TIME_PREKEYS`` X25519 and ``MAX_HELD_KEM_ONE_TIME_PREKEYS`` ML-KEM one-time keys,
deletes the oldest unused ones so that no file of the profile keeps them, and replaces the relay's stock (a
re-registration), so a new peer still starts a session the normal way; a first message naming a pruned key is
reported, the session is reset and the message arrives on the resend.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from confide.client import Client, Event, MessageReceived, MessageUndecryptable, PrekeysLow, SessionReset
from confide.keys.keystore import TEST_KDF
from confide.keys.prekeys import (
    KEM_ONE_TIME_BATCH,
    MAX_HELD_KEM_ONE_TIME_PREKEYS,
    MAX_HELD_ONE_TIME_PREKEYS,
    ONE_TIME_PREKEY_BATCH,
    SIGNED_PREKEY_ROTATION_S,
    PreKeyBundle,
)

from ..reliability.hostile import HostileRelay, hostile_relay
from .conftest import PASSPHRASE

CHECKS = 12
"""Count checks answered "none left": enough to pass both bounds (X25519 from the 4th, ML-KEM from the 10th)."""
LIE = {"one_time": 0, "kem_one_time": 0, "signed_prekey_id": 1, "kem_last_resort_id": 1}
BLOCK = 16
"""The search looks for every 16-byte block of a pruned key's sealed row, and for its private bytes: a copy of any
of them is a leak."""

MakeClient = Callable[[str], Awaitable[Client]]
Rows = dict[tuple[str, int], tuple[int | None, bytes]]


@pytest.fixture
async def liar(tmp_path: Path) -> AsyncIterator[tuple[HostileRelay, str]]:
    """A real relay (limits off) behind the hostile proxy: ``(proxy, its URL)``."""
    async with hostile_relay(tmp_path / "relay") as pair:
        yield pair


@pytest.fixture
async def make(tmp_path: Path, liar: tuple[HostileRelay, str]) -> AsyncIterator[MakeClient]:
    """Profiles ``tmp_path/<name>`` registered through the proxy (closed at the end)."""
    opened: list[Client] = []

    async def create(name: str) -> Client:
        client = await Client.create(tmp_path / name, PASSPHRASE, liar[1], name, kdf=TEST_KDF)
        opened.append(client)
        return client

    yield create
    for client in opened:
        await client.close()


def _rows(profile: Path) -> Rows:
    """Every private prekey row, read straight from the file (as a thief would): ``(kind, id) -> (retired_at,
    sealed data)``."""
    con = sqlite3.connect(profile / "store.db")
    try:
        return {
            (k, i): (r, bytes(d)) for k, i, r, d in con.execute("SELECT kind, key_id, retired_at, data FROM prekeys")
        }
    finally:
        con.close()


def _one_time(client: Client, rows: Rows) -> tuple[set[int], set[int]]:
    """The ids of the unused one-time X25519 and one-time ML-KEM keys among ``rows``."""
    prekeys = client._account._prekeys
    otk = {i for (kind, i), (retired, _) in rows.items() if kind == "one_time" and retired is None}
    kem = set()
    for (kind, i), (retired, _) in rows.items():
        record = prekeys.kem_prekey(i) if kind == "kem" and retired is None else None
        if record is not None and not record.last_resort:
            kem.add(i)
    return otk, kem


def _secrets(client: Client, rows: Rows) -> dict[tuple[str, int], bytes]:
    """The private key bytes (X25519 scalar, ML-KEM seed) of the one-time keys among ``rows``."""
    prekeys = client._account._prekeys
    otk, kem = _one_time(client, rows)
    out = {}
    for i in otk:
        record = prekeys.one_time_prekey(i)
        assert record is not None
        out["one_time", i] = record.private.private_bytes_raw()
    for i in kem:
        kem_record = prekeys.kem_prekey(i)
        assert kem_record is not None
        out["kem", i] = kem_record.seed
    return out


def _blocks(data: bytes) -> set[bytes]:
    return {data[i : i + BLOCK] for i in range(0, len(data) - BLOCK + 1, BLOCK)}


def _bundle_keys(answer: bytes) -> tuple[int, int]:
    """``(one-time X25519 id, ML-KEM id)`` of the single device in a bundle answer."""
    (device,) = json.loads(answer)["devices"]
    bundle = PreKeyBundle.from_bytes(base64.b64decode(device["bundle"]))
    assert bundle.one_time_prekey is not None
    return bundle.one_time_prekey.key_id, bundle.kem_prekey.key_id


def _texts(events: list[Event]) -> list[str]:
    return [e.message.text for e in events if isinstance(e, MessageReceived)]


async def _refill_under_lies(
    bob: Client, relay: HostileRelay, profile: Path, secrets: dict[tuple[str, int], bytes] | None = None
) -> tuple[Rows, list[tuple[int, int]]]:
    """Run :data:`CHECKS` lying count checks (the first one also rotates the signed keys); returns every prekey row
    seen along the way and the ``(X25519, ML-KEM)`` one-time counts held after each check. ``secrets`` collects
    the private bytes of every one-time key seen."""
    seen = _rows(profile)
    if secrets is not None:
        secrets.update(_secrets(bob, seen))
    held: list[tuple[int, int]] = []
    relay.prekey_counts = LIE
    later = int(time.time()) + SIGNED_PREKEY_ROTATION_S
    for i in range(CHECKS):
        rotated = 2 if i == 0 else 0
        assert await bob.maintain_prekeys(now=later) == PrekeysLow(
            0, 0, ONE_TIME_PREKEY_BATCH + KEM_ONE_TIME_BATCH + rotated
        )
        rows = _rows(profile)
        seen.update(rows)
        if secrets is not None:
            secrets.update(_secrets(bob, rows))
        otk, kem = _one_time(bob, rows)
        held.append((len(otk), len(kem)))
    relay.prekey_counts = None
    return seen, held


async def test_lying_counts_keep_the_private_one_time_keys_at_the_bound(
    liar: tuple[HostileRelay, str], make: MakeClient, tmp_path: Path
) -> None:
    relay = liar[0]
    bob = await make("bob")
    before = _rows(tmp_path / "bob")
    puts, posts = relay.requests["PUT /v1/prekeys"], relay.requests["POST /v1/accounts"]
    seen, held = await _refill_under_lies(bob, relay, tmp_path / "bob")
    assert held == [
        (
            min(ONE_TIME_PREKEY_BATCH * (n + 2), MAX_HELD_ONE_TIME_PREKEYS),
            min(KEM_ONE_TIME_BATCH * (n + 2), MAX_HELD_KEM_ONE_TIME_PREKEYS),
        )
        for n in range(CHECKS)
    ]
    # The newest keys are the ones kept.
    otk_ever = {i for (kind, i) in seen if kind == "one_time"}
    kem_pruned = {i for (kind, i) in seen if kind == "kem"} - {
        i for (kind, i) in _rows(tmp_path / "bob") if kind == "kem"
    }
    otk_now, kem_now = _one_time(bob, _rows(tmp_path / "bob"))
    assert otk_now == set(sorted(otk_ever)[-MAX_HELD_ONE_TIME_PREKEYS:])
    assert len(kem_pruned) == KEM_ONE_TIME_BATCH * (CHECKS + 1) - MAX_HELD_KEM_ONE_TIME_PREKEYS
    assert max(kem_pruned) < min(kem_now)  # every pruned ML-KEM key is older than every kept one
    # Never pruned: the signed and last-resort keys retired by the rotation (within their grace period), and
    # the current ones.
    final = _rows(tmp_path / "bob")
    assert before[("signed", 1)][1] == final[("signed", 1)][1]
    assert before[("kem", 1)][1] == final[("kem", 1)][1]
    assert final[("signed", 1)][0] is not None
    assert final[("kem", 1)][0] is not None
    assert ("signed", 2) in final
    assert sum(1 for (kind, _), (retired, _) in final.items() if kind == "kem" and retired is None) == (
        MAX_HELD_KEM_ONE_TIME_PREKEYS + 1  # the current last-resort key
    )
    # Three ordinary refills; from the fourth on each pruned, so each replaced the relay's stock.
    assert relay.requests["PUT /v1/prekeys"] - puts == 3
    assert relay.requests["POST /v1/accounts"] - posts == CHECKS - 3


async def test_pruned_private_keys_leave_every_file_of_the_profile(
    liar: tuple[HostileRelay, str], make: MakeClient, tmp_path: Path
) -> None:
    relay = liar[0]
    bob = await make("bob")
    profile = tmp_path / "bob"
    private: dict[tuple[str, int], bytes] = {}
    seen, _ = await _refill_under_lies(bob, relay, profile, private)
    final = _rows(profile)
    pruned = set(seen) - set(final)
    assert pruned <= set(private)
    generated_otk = ONE_TIME_PREKEY_BATCH * (CHECKS + 1)
    generated_kem = KEM_ONE_TIME_BATCH * (CHECKS + 1)
    assert len(pruned) == (generated_otk - MAX_HELD_ONE_TIME_PREKEYS) + (generated_kem - MAX_HELD_KEM_ONE_TIME_PREKEYS)
    blocks = set().union(*(_blocks(seen[key][1]) for key in pruned)) | {private[key] for key in pruned}
    kept = set().union(*(_blocks(data) for _, data in final.values()))
    assert not blocks & kept
    for when in ("open", "closed"):
        if when == "closed":
            await bob.close()
        files = [p for p in profile.rglob("*") if p.is_file()]
        assert any(p.name == "store.db" for p in files)
        for path in files:
            raw = path.read_bytes()
            found = sum(1 for b in blocks if b in raw)
            assert found == 0, f"{found} pieces of pruned private prekeys survive in {path.name} ({when})"


async def test_after_pruning_a_new_peer_starts_normally_and_a_first_message_on_a_pruned_key_is_resent(
    liar: tuple[HostileRelay, str], make: MakeClient, tmp_path: Path
) -> None:
    relay = liar[0]
    bob, alice, carol = await make("bob"), await make("alice"), await make("carol")
    for peer, name in ((alice, "alice"), (carol, "carol")):
        peer.add_contact("bob", bob.invite_code())
        bob.add_contact(name, peer.invite_code())
    await carol.start_thread("bob")  # Carol takes Bob's oldest keys now and writes only after the refills
    (carol_answer,) = relay.bundles[bob.address]
    carol_otk, carol_kem = _bundle_keys(carol_answer)
    await _refill_under_lies(bob, relay, tmp_path / "bob")
    prekeys = bob._account._prekeys
    assert prekeys.one_time_prekey(carol_otk) is None  # pruned
    assert prekeys.kem_prekey(carol_kem) is None

    assert (await alice.send_text("bob", "hello from alice")).status == "sent"
    alice_otk, alice_kem = _bundle_keys(relay.bundles[bob.address][1])
    assert prekeys.one_time_prekey(alice_otk) is not None  # the replaced stock: keys Bob holds
    assert prekeys.kem_prekey(alice_kem) is not None
    sent = await carol.send_text("bob", "hello from carol")
    assert sent.status == "sent"

    events = await bob.sync()
    assert _texts(events) == ["hello from alice"]
    assert [e for e in events if not isinstance(e, MessageReceived)] == [
        MessageUndecryptable("carol"),
        SessionReset("carol", False, 1),
    ]
    assert prekeys.one_time_prekey(alice_otk) is None  # used by Alice's first message, so deleted
    assert await carol.sync() == [SessionReset("bob", True, 1, (sent.message_id,))]
    assert _texts(await bob.sync()) == ["hello from carol"]
    assert await bob.sync() == []
    assert [m.text for m in bob.history("alice")] == ["hello from alice"]
    assert [m.text for m in bob.history("carol")] == ["hello from carol"]
    assert (await bob.send_text("alice", "and back")).status == "sent"
    assert _texts(await alice.sync()) == ["and back"]


async def test_a_used_one_time_prekey_leaves_every_file_while_the_profile_is_open(
    liar: tuple[HostileRelay, str], make: MakeClient, tmp_path: Path
) -> None:
    """Forward secrecy of a first message: the one-time keys (X25519 and ML-KEM) it used are deleted in the
    transaction that stores it and scrubbed from the WAL when that commits, not only at the next close."""
    bob, alice = await make("bob"), await make("alice")
    profile = tmp_path / "bob"
    before = _rows(profile)
    private = _secrets(bob, before)
    alice.add_contact("bob", bob.invite_code())
    await alice.send_text("bob", "hello")
    assert _texts(await bob.sync()) == ["hello"]
    used = set(before) - set(_rows(profile))
    assert {kind for kind, _ in used} == {"one_time", "kem"}  # one of each, named by the first message
    needles = set().union(*(_blocks(before[key][1]) for key in used)) | {private[key] for key in used}
    for path in (p for p in profile.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        found = sum(1 for n in needles if n in raw)
        assert found == 0, f"{found} pieces of used one-time prekeys survive in {path.name} while open"
