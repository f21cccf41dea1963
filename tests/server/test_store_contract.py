"""The RelayStore contract, proven by both implementations: the embedded ``SqliteStore`` and the networked
``PostgresStore`` run the same tests (``server/storage.py``'s docstrings are the contract).

The PostgreSQL runs get a fresh database each (``backend_services.fresh_database``) and are skipped, with the
reason, when PostgreSQL is not running. Tests named ``..._across_processes`` open two PostgresStores on two
connection pools against one database, as two relay processes do, and fail if the store's exactly-once or
quota promises hold only within one process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from confide.protocol.documents import DocumentKind
from confide.server.db import SqliteStore
from confide.server.errors import BadRequest, Conflict, DeviceRemoved, Forbidden
from confide.server.inprocess import InProcessSequence
from confide.server.limits import (
    LINK_CHANNEL_TTL_S,
    MAX_DEVICES_PER_ACCOUNT,
    MAX_KEM_ONE_TIME_STOCK,
    REMOVED_DEVICE_MEMORY_S,
)
from confide.server.storage import (
    BlobRecord,
    KeyRecord,
    NewEnvelope,
    PrekeyUpdate,
    Registration,
    RelayStore,
    SendResult,
    StoredDocument,
)

from .backend_services import fresh_database

BACKENDS = ("sqlite", "postgres")

NOW = 1_800_000_000_000
"""A fixed relay clock (unix ms) for the tests."""

DAY_MS = 86_400_000
ACCOUNT_TTL_S = 30 * 86_400
"""The unseen-account lifetime of the stores under test."""

DEVICES = int(DocumentKind.DEVICES)


@dataclass
class Stores:
    """The store under test, and (PostgreSQL only) a way to open another on the same database: a second relay
    process's store, with pools of its own, numbering mailboxes from the database's one sequence."""

    backend: str
    store: RelayStore
    another: Callable[[], Awaitable[RelayStore]] | None

    async def second(self) -> RelayStore:
        """Another process's store on the same database; skips the test on SQLite (one file, one process)."""
        if self.another is None:
            pytest.skip("one SQLite file has one relay process: nothing to share across processes")
        return await self.another()


@pytest.fixture(params=BACKENDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "relay.db", sequence=InProcessSequence(), account_ttl_s=ACCOUNT_TTL_S)
        await store.start()
        try:
            yield Stores("sqlite", store, None)
        finally:
            await store.close()
        return
    from confide.server.pg_store import PostgresStore

    async with fresh_database() as dsn:
        opened: list[PostgresStore] = []

        async def another() -> RelayStore:
            # Each "process" has its own pool; the mailbox numbers are the database's one sequence.
            s = PostgresStore(dsn, account_ttl_s=ACCOUNT_TTL_S)
            await s.start()
            opened.append(s)
            return s

        try:
            first = await another()
            yield Stores("postgres", first, another)
        finally:
            for s in opened:
                await s.close()


@pytest.fixture
def store(stores: Stores) -> RelayStore:
    return stores.store


def _id() -> bytes:
    return os.urandom(32)


def reg(
    address: bytes,
    device_id: bytes | None = None,
    *,
    identity: bytes | None = None,
    n_otk: int = 3,
    n_kem: int = 2,
    tokens: tuple[bytes, ...] | None = None,
    seen_at_ms: int = NOW,
    first_key: int = 1,
) -> Registration:
    """A registration of synthetic public bytes (the store checks no signatures: the handler did)."""
    return Registration(
        address=address,
        identity=identity or b"I" + address,
        device_id=device_id or _id(),
        device_cert=b"cert" + os.urandom(8),
        token_hashes=tokens if tokens is not None else (os.urandom(32),),
        signed_prekey=KeyRecord(1, b"spk" + os.urandom(8)),
        kem_last_resort=KeyRecord(2, b"klr" + os.urandom(8)),
        one_time=tuple(KeyRecord(first_key + i, b"otk" + os.urandom(8)) for i in range(n_otk)),
        kem_one_time=tuple(KeyRecord(100 + first_key + i, b"kem" + os.urandom(8)) for i in range(n_kem)),
        proof_stamp=10,
        proof_nonce=os.urandom(16),
        seen_at_ms=seen_at_ms,
    )


def envelope(device_id: bytes, ciphertext: bytes = b"sealed", *, expires_at_ms: int = NOW + DAY_MS) -> NewEnvelope:
    return NewEnvelope(os.urandom(16), device_id, NOW, expires_at_ms, ciphertext)


def device_list(address: bytes, version: int, data: bytes | None = None) -> StoredDocument:
    return StoredDocument(address, DEVICES, version, NOW + 365 * DAY_MS, data or b"list-%d" % version)


# -- accounts and devices ---------------------------------------------------------------------------------


async def test_register_then_reregister_replaces_keys_and_tokens(store: RelayStore) -> None:
    address = _id()
    first = reg(address)
    assert await store.register(first) is True
    assert await store.device_count(address) == 1
    record = await store.device(first.device_id)
    assert record is not None
    assert (record.address, record.identity, record.device_cert) == (address, first.identity, first.device_cert)
    assert record.replay_floor == 10
    assert await store.token_hashes(first.device_id) == first.token_hashes
    again = reg(address, first.device_id, identity=first.identity, n_otk=1, n_kem=0)
    assert await store.register(again) is False
    counts = await store.prekey_counts(first.device_id)
    assert (counts.one_time, counts.kem_one_time, counts.signed_prekey_id, counts.kem_last_resort_id) == (1, 0, 1, 2)
    assert await store.token_hashes(first.device_id) == again.token_hashes
    assert await store.token_hashes(_id()) is None
    assert await store.device(_id()) is None
    assert await store.device_count(_id()) == 0


async def test_a_device_key_under_another_identity_is_a_conflict(store: RelayStore) -> None:
    first = reg(_id())
    await store.register(first)
    with pytest.raises(Conflict):
        await store.register(reg(_id(), first.device_id))
    assert await store.device_count(first.address) == 1


async def test_a_second_device_needs_a_list_naming_it(store: RelayStore) -> None:
    address = _id()
    await store.register(reg(address))
    second = reg(address)
    with pytest.raises(Forbidden):
        await store.register(second)
    assert await store.device_count(address) == 1


async def test_note_seen_raises_the_floor_and_keeps_the_nonces_at_it(store: RelayStore) -> None:
    first = reg(_id())
    await store.register(first)
    n1, n2 = os.urandom(16), os.urandom(16)
    await store.note_seen(first.device_id, 10, n1, NOW)
    record = await store.device(first.device_id)
    assert record is not None
    assert record.replay_nonces == first.proof_nonce + n1
    await store.note_seen(first.device_id, 20, n2, NOW)
    await store.note_seen(first.device_id, 15, os.urandom(16), NOW)  # below the floor: ignored
    record = await store.device(first.device_id)
    assert record is not None
    assert (record.replay_floor, record.replay_nonces) == (20, n2)


async def test_delivery_hashes_are_the_union_of_the_account_devices(store: RelayStore) -> None:
    address = _id()
    a, b = _id(), _id()
    ta, tb = os.urandom(32), os.urandom(32)
    await store.register(reg(address, a, tokens=(ta,)))
    await store.put_device_list(device_list(address, 1), (a, b), NOW)
    await store.register(reg(address, b, identity=b"I" + address, tokens=(tb,)))
    assert set(await store.delivery_hashes(a) or ()) == {ta, tb}
    assert set(await store.delivery_hashes(b) or ()) == {ta, tb}
    assert await store.replace_tokens(b, (ta, ta)) == 1
    assert set(await store.delivery_hashes(a) or ()) == {ta}
    assert await store.delivery_hashes(_id()) is None
    with pytest.raises(BadRequest):
        await store.replace_tokens(a, tuple(os.urandom(32) for _ in range(1025)))


async def test_device_lists_remove_unlisted_devices_with_tombstones(store: RelayStore) -> None:
    address = _id()
    a, b = _id(), _id()
    await store.register(reg(address, a))
    update = await store.put_device_list(device_list(address, 1), (a, b), NOW)
    assert update.stored
    assert update.removed == ()
    await store.register(reg(address, b, identity=b"I" + address))
    await store.store_envelopes([envelope(b, b"for b")], 100)
    assert (await store.put_device_list(device_list(address, 1), (a, b), NOW)).stored is False
    with pytest.raises(Conflict):
        await store.put_device_list(device_list(address, 1, b"other bytes"), (a,), NOW)
    assert await store.device_count(address) == 2

    update = await store.put_device_list(device_list(address, 2), (a,), NOW)
    assert update.stored
    assert update.removed == (b,)
    assert await store.device(b) is None
    assert await store.fetch(b, 0, 10) == []
    assert await store.removed_at(b) == NOW
    assert await store.removed_at(a) is None
    assert (await store.prekey_counts(b)).one_time == 0
    with pytest.raises(DeviceRemoved):
        await store.register(reg(address, b, identity=b"I" + address))
    [result] = await store.store_envelopes([envelope(b)], 100)
    assert result.status == "device_removed"
    with pytest.raises(Forbidden):
        await store.register(reg(address, identity=b"I" + address))  # not listed

    await store.put_device_list(device_list(address, 3), (a, b), NOW)  # listed again: tombstone forgotten
    assert await store.removed_at(b) is None
    assert await store.register(reg(address, b, identity=b"I" + address)) is True


async def test_an_account_holds_at_most_the_maximum_devices(store: RelayStore) -> None:
    address = _id()
    ids = [_id() for _ in range(MAX_DEVICES_PER_ACCOUNT + 1)]
    await store.register(reg(address, ids[0]))
    await store.put_device_list(device_list(address, 1), tuple(ids), NOW)
    for device_id in ids[1:MAX_DEVICES_PER_ACCOUNT]:
        await store.register(reg(address, device_id, identity=b"I" + address))
    with pytest.raises(BadRequest):
        await store.register(reg(address, ids[-1], identity=b"I" + address))
    assert await store.device_count(address) == MAX_DEVICES_PER_ACCOUNT


async def test_recovery_keys_are_set_replaced_and_deleted_with_the_account(stores: Stores) -> None:
    store = stores.store
    first = reg(_id(), seen_at_ms=NOW)
    await store.register(first)
    assert await store.recovery_key(first.address) is None
    await store.set_recovery_key(first.address, b"k" * 32, NOW)
    await store.set_recovery_key(first.address, b"K" * 32, NOW)
    assert await store.recovery_key(first.address) == b"K" * 32
    await store.sweep(NOW + 1000 * ACCOUNT_TTL_S)
    assert await store.recovery_key(first.address) is None


# -- prekeys ----------------------------------------------------------------------------------------------


async def test_prekeys_are_added_capped_and_replaced(store: RelayStore) -> None:
    first = reg(_id(), n_otk=2, n_kem=1)
    await store.register(first)
    counts = await store.put_prekeys(
        first.device_id,
        PrekeyUpdate(KeyRecord(7, b"spk7"), None, (KeyRecord(50, b"o50"),), (KeyRecord(500, b"k500"),)),
    )
    assert (counts.one_time, counts.kem_one_time, counts.signed_prekey_id, counts.kem_last_resort_id) == (3, 2, 7, 2)
    too_many = tuple(KeyRecord(1000 + i, b"k") for i in range(MAX_KEM_ONE_TIME_STOCK))
    with pytest.raises(BadRequest):
        await store.put_prekeys(first.device_id, PrekeyUpdate(None, None, (), too_many))
    assert (await store.prekey_counts(first.device_id)).kem_one_time == 2  # nothing of the refused upload


async def test_take_bundles_hands_out_one_time_keys_for_consume_devices(store: RelayStore) -> None:
    assert await store.take_bundles(_id(), consume=1) is None
    address = _id()
    a, b = sorted((_id(), _id()))
    ra = reg(address, a, n_otk=1, n_kem=1)
    await store.register(ra)
    await store.put_device_list(device_list(address, 1), (a, b), NOW)
    rb = reg(address, b, identity=ra.identity)
    await store.register(rb)
    bundles = await store.take_bundles(address, consume=1)
    assert bundles is not None
    assert [p.device_id for p in bundles] == [a, b]
    assert bundles[0].one_time == ra.one_time[0].record
    assert bundles[0].kem == ra.kem_one_time[0].record
    assert bundles[1].one_time is None
    assert bundles[1].kem == rb.kem_last_resort.record
    assert bundles[0].identity == ra.identity
    assert bundles[0].signed_prekey == ra.signed_prekey.record
    again = await store.take_bundles(address, consume=2)
    assert again is not None
    assert again[0].one_time is None
    assert again[0].kem == ra.kem_last_resort.record
    assert again[1].one_time == rb.one_time[0].record


async def _take_all(stores: list[RelayStore], address: bytes, attempts: int) -> list[bytes | None]:
    async def one(i: int) -> bytes | None:
        bundles = await stores[i % len(stores)].take_bundles(address, consume=1)
        assert bundles is not None
        return bundles[0].one_time

    return list(await asyncio.gather(*(one(i) for i in range(attempts))))


async def test_each_one_time_key_is_handed_out_exactly_once_under_concurrency(store: RelayStore) -> None:
    first = reg(_id(), n_otk=20, n_kem=0)
    await store.register(first)
    taken = await _take_all([store], first.address, 40)
    keys = [k for k in taken if k is not None]
    assert sorted(keys) == sorted(k.record for k in first.one_time)
    assert (await store.prekey_counts(first.device_id)).one_time == 0


async def test_each_one_time_key_is_handed_out_exactly_once_across_processes(stores: Stores) -> None:
    other = await stores.second()
    first = reg(_id(), n_otk=60, n_kem=0)
    await stores.store.register(first)
    taken = await _take_all([stores.store, other], first.address, 100)
    keys = [k for k in taken if k is not None]
    assert len(keys) == len(set(keys)) == 60  # every key once, none twice, none lost to a skipped lock
    assert set(keys) == {k.record for k in first.one_time}


# -- mailboxes --------------------------------------------------------------------------------------------


async def test_envelopes_are_stored_once_fetched_in_order_and_acked(store: RelayStore) -> None:
    first = reg(_id())
    await store.register(first)
    d = first.device_id
    held = await store.bytes_held()
    e1, e2 = envelope(d, b"one"), envelope(d, b"two!")
    results = await store.store_envelopes([e1, e2], 10)
    assert [r.status for r in results] == ["stored", "stored"]
    assert results[0].stored is not None
    assert results[1].stored is not None
    assert results[0].stored.seq < results[1].stored.seq
    assert await store.bytes_held() == held + 7
    [dup] = await store.store_envelopes([e1], 10)
    assert (dup.status, dup.expires_at_ms) == ("duplicate", e1.expires_at_ms)
    other = reg(_id())
    await store.register(other)
    [conflict] = await store.store_envelopes([NewEnvelope(e1.envelope_id, other.device_id, NOW, NOW + 1, b"x")], 10)
    assert conflict.status == "conflict"
    fetched = await store.fetch(d, 0, 10)
    assert [(f.envelope_id, f.ciphertext) for f in fetched] == [(e1.envelope_id, b"one"), (e2.envelope_id, b"two!")]
    assert [f.envelope_id for f in await store.fetch(d, fetched[0].seq, 10)] == [e2.envelope_id]
    assert len(await store.fetch(d, 0, 1)) == 1
    assert await store.ack(other.device_id, [e1.envelope_id]) == 0  # not its mailbox
    assert await store.ack(d, [e1.envelope_id, e1.envelope_id, os.urandom(16)]) == 1
    assert [f.envelope_id for f in await store.fetch(d, 0, 10)] == [e2.envelope_id]
    assert await store.bytes_held() == held + 4
    await store.checkpoint()


async def test_a_full_mailbox_refuses_more(store: RelayStore) -> None:
    first = reg(_id())
    await store.register(first)
    results = await store.store_envelopes([envelope(first.device_id) for _ in range(4)], 3)
    assert [r.status for r in results] == ["stored", "stored", "stored", "mailbox_full"]
    await store.ack(first.device_id, [results[0].envelope_id])
    [again] = await store.store_envelopes([envelope(first.device_id)], 3)
    assert again.status == "stored"


async def test_the_mailbox_quota_holds_across_processes(stores: Stores) -> None:
    other = await stores.second()
    first = reg(_id())
    await stores.store.register(first)
    both = [stores.store, other]
    batches = await asyncio.gather(*(both[i % 2].store_envelopes([envelope(first.device_id)], 10) for i in range(30)))
    statuses = [r.status for batch in batches for r in batch]
    assert statuses.count("stored") == 10
    assert statuses.count("mailbox_full") == 20
    fetched = await other.fetch(first.device_id, 0, 100)
    assert len(fetched) == 10
    assert [f.seq for f in fetched] == sorted(f.seq for f in fetched)


async def test_two_processes_never_hand_out_one_number(stores: Stores) -> None:
    """Two processes storing at once, to shared and to separate mailboxes, in batches: every number is handed out
    once, and each mailbox's numbers follow the order its stores committed (what a socket relies on)."""
    both = [stores.store, await stores.second()]
    devices = [reg(_id()) for _ in range(3)]
    for device in devices:
        await stores.store.register(device)

    async def run(caller: int) -> list[tuple[bytes, int]]:
        got = []
        for n in range(15):
            batch = [envelope(devices[(caller + k) % 3].device_id) for k in range(n % 3 + 1)]
            for result, item in zip(await both[caller % 2].store_envelopes(batch, 1000), batch, strict=True):
                assert result.stored is not None
                got.append((item.device_id, result.stored.seq))
        return got

    results = await asyncio.gather(*(run(caller) for caller in range(6)))
    numbers = [seq for got in results for _, seq in got]
    assert len(numbers) == len(set(numbers)) == 6 * sum(n % 3 + 1 for n in range(15))
    for got in results:  # each caller's stores to one mailbox got increasing numbers, in the order it made them
        for device in devices:
            mine = [seq for d, seq in got if d == device.device_id]
            assert mine == sorted(mine)
    for device in devices:
        fetched = await both[1].fetch(device.device_id, 0, 1000)
        assert [f.seq for f in fetched] == sorted(f.seq for f in fetched)


async def test_numbers_never_come_again_after_every_envelope_is_acknowledged(stores: Stores) -> None:
    """A socket of another process may have passed any number handed out: with every envelope acknowledged (no
    stored number left to start above), a process starting afterwards still numbers above all of them."""
    first = reg(_id())
    await stores.store.register(first)
    stored = await stores.store.store_envelopes([envelope(first.device_id) for _ in range(20)], 100)
    highest = max(r.stored.seq for r in stored if r.stored is not None)
    assert await stores.store.ack(first.device_id, [r.envelope_id for r in stored]) == 20
    later = await stores.second()
    [again] = await later.store_envelopes([envelope(first.device_id)], 100)
    assert again.stored is not None
    assert again.stored.seq > highest


async def test_crosswise_batches_never_deadlock_the_requests_sharing_their_statements(stores: Stores) -> None:
    """An attacker sends, through two processes at once, pairs of batches whose envelope ids cross (id1 to A and
    id2 to B through one; id2 to C and id1 to D through the other), among honest sends that share the processes'
    statements (pg_batches). A deadlock between two statements would fail every request in them: none fails, each
    id is stored once (the other is a conflict), and every honest envelope is stored."""
    both = [stores.store, await stores.second()]
    devices = [reg(_id()) for _ in range(6)]
    for device in devices:
        await stores.store.register(device)
    a, b, c, d, honest_one, honest_two = (device.device_id for device in devices)
    honest = [honest_one, honest_two]  # a mailbox per process: the two processes' statements lock none in common

    async def attack() -> list[str]:
        # The crossing ids at both ends of a long batch: each statement inserts its first id, then is busy with
        # the filler while the other inserts its own first id, then wants the other's (without the envelope id
        # locks of 0004_one_round_trip this deadlocks every time: measured).
        one, two = os.urandom(16), os.urandom(16)
        filler = [envelope(a, b"x") for _ in range(300)]
        first = [NewEnvelope(one, a, NOW, NOW + DAY_MS, b"x"), *filler, NewEnvelope(two, b, NOW, NOW + DAY_MS, b"x")]
        filler = [envelope(c, b"x") for _ in range(300)]
        second = [NewEnvelope(two, c, NOW, NOW + DAY_MS, b"x"), *filler, NewEnvelope(one, d, NOW, NOW + DAY_MS, b"x")]
        got = await asyncio.gather(both[0].store_envelopes(first, 10_000), both[1].store_envelopes(second, 10_000))
        assert all(r.status == "stored" for r in [*got[0][1:-1], *got[1][1:-1]])
        return [r.status for r in (got[0][0], got[0][-1], got[1][0], got[1][-1])]

    def honest_send(i: int) -> Awaitable[list[SendResult]]:
        return both[i % 2].store_envelopes([envelope(honest[i % 2])], 10_000)

    # A first send per process starts a statement; the attack and the honest sends arriving meanwhile share the
    # next one.
    warm = asyncio.gather(honest_send(0), honest_send(1))
    crossing = attack()
    later = asyncio.gather(*(honest_send(i) for i in range(20)))
    first, crossed, rest = await asyncio.gather(warm, crossing, later)
    assert sorted(crossed) == ["conflict", "conflict", "stored", "stored"]
    assert all([r.status for r in batch] == ["stored"] for batch in [*first, *rest])
    assert sum([len(await both[1].fetch(h, 0, 10_000)) for h in honest]) == 22


# -- blobs, documents, links ------------------------------------------------------------------------------


async def test_blobs_are_recorded_summed_and_deleted(store: RelayStore) -> None:
    d = _id()
    held = await store.bytes_held()
    a = BlobRecord("a" * 32, d, 100, NOW + DAY_MS, "file-a")
    b = BlobRecord("b" * 32, d, 50, NOW + DAY_MS, "file-b")
    await store.add_blob(a)
    await store.add_blob(b)
    assert await store.blob(a.blob_id) == a
    assert await store.blob("c" * 32) is None
    assert await store.blob_bytes(d) == 150
    assert await store.blob_names() == {"file-a", "file-b"}
    assert await store.bytes_held() == held + 150
    assert await store.delete_blob(a.blob_id) == a
    assert await store.delete_blob(a.blob_id) is None
    assert await store.blob_bytes(d) == 50


async def test_documents_keep_only_the_newest_version(store: RelayStore) -> None:
    address = _id()
    kind = int(DocumentKind.DIRECTORY)
    top = 2**64 - 1
    v1 = StoredDocument(address, kind, 1, NOW + DAY_MS, b"v1")
    assert await store.document(address, kind) is None
    assert await store.put_document(v1) is True
    assert await store.put_document(v1) is False
    with pytest.raises(Conflict):
        await store.put_document(StoredDocument(address, kind, 1, NOW + DAY_MS, b"other"))
    big = StoredDocument(address, kind, top, NOW + DAY_MS, b"newest")
    assert await store.put_document(big) is True
    assert await store.document(address, kind) == big
    with pytest.raises(Conflict):
        await store.put_document(StoredDocument(address, kind, 2**63, NOW + DAY_MS, b"older"))
    assert await store.document(address, kind) == big


async def test_link_slots_are_write_once_and_expire(store: RelayStore) -> None:
    channel = os.urandom(32)
    assert await store.put_link(channel, 0, b"hello", NOW) is True
    assert await store.put_link(channel, 0, b"hello", NOW + 1) is False
    with pytest.raises(Conflict):
        await store.put_link(channel, 0, b"other", NOW + 1)
    assert await store.put_link(channel, 1, b"reply", NOW + 1000) is True
    assert await store.link(channel, 1, NOW + 2000) == b"reply"
    assert await store.link(channel, 2, NOW) is None
    end = NOW + 1000 * LINK_CHANNEL_TTL_S  # the whole channel lives from its first write
    assert await store.link(channel, 1, end) is None
    assert await store.put_link(channel, 0, b"a new life", end) is True  # expired counts as empty
    assert await store.link(channel, 1, end + 1) is None


# -- sweep and holdings -----------------------------------------------------------------------------------


async def test_sweep_deletes_what_expired_and_unseen_accounts(store: RelayStore) -> None:
    live, stale = reg(_id(), seen_at_ms=NOW), reg(_id(), seen_at_ms=NOW - 1000 * ACCOUNT_TTL_S)
    await store.register(live)
    await store.register(stale)
    d = live.device_id
    soon, later = envelope(d, b"soon", expires_at_ms=NOW + 10), envelope(d, b"later")
    await store.store_envelopes([soon, later, envelope(stale.device_id, b"stale")], 10)
    await store.add_blob(BlobRecord("s" * 32, d, 10, NOW + 10, "soon-file"))
    await store.add_blob(BlobRecord("t" * 32, stale.device_id, 10, NOW + DAY_MS, "stale-file"))
    await store.put_document(StoredDocument(live.address, 2, 1, NOW + 10, b"short"))
    await store.put_document(StoredDocument(stale.address, 2, 1, NOW + DAY_MS, b"stale doc"))
    await store.put_link(os.urandom(32), 0, b"link", NOW - 1000 * LINK_CHANNEL_TTL_S)
    address = _id()
    a, b = _id(), _id()
    await store.register(reg(address, a, seen_at_ms=NOW))
    await store.put_device_list(device_list(address, 1), (a, b), NOW)
    await store.register(reg(address, b, seen_at_ms=NOW))
    await store.put_device_list(device_list(address, 2), (a,), NOW - 1000 * REMOVED_DEVICE_MEMORY_S)
    assert await store.removed_at(b) is not None

    result = await store.sweep(NOW + 10)
    assert result.envelopes == 2  # soon, and the stale account's
    assert set(result.blob_paths) == {"soon-file", "stale-file"}
    assert result.documents == 1
    assert [f.envelope_id for f in await store.fetch(d, 0, 10)] == [later.envelope_id]
    assert await store.device(stale.device_id) is None
    assert await store.device_count(stale.address) == 0
    assert await store.document(stale.address, 2) is None
    assert await store.removed_at(b) is None  # tombstone forgotten
    assert await store.device(d) is not None
    assert await store.bytes_held() == len(b"later") + len(b"list-2")


async def test_received_epochs_name_the_epochs_with_waiting_envelopes_in_the_range(store: RelayStore) -> None:
    first = reg(_id())
    await store.register(first)
    hour = 3_600_000
    times = [5 * hour + 1, 5 * hour + 2, 7 * hour, 9 * hour - 1, 12 * hour]
    items = [NewEnvelope(os.urandom(16), first.device_id, t, NOW + DAY_MS, b"x") for t in times]
    await store.store_envelopes(items, 100)
    assert await store.received_epochs(hour, list(range(20))) == {5, 7, 8, 12}
    assert await store.received_epochs(hour, [4, 6, 7, 8, 11]) == {7, 8}  # 9 * hour - 1 is in epoch 8
    await store.ack(first.device_id, [items[2].envelope_id])
    assert await store.received_epochs(hour, [4, 6, 7, 8, 11]) == {8}
    assert await store.received_epochs(hour, []) == set()


async def test_holdings_list_sizes_and_times_in_order(store: RelayStore) -> None:
    first = reg(_id())
    await store.register(first)
    await store.store_envelopes([envelope(first.device_id, b"x" * 5), envelope(first.device_id, b"y" * 9)], 10)
    await store.add_blob(BlobRecord("z" * 32, first.device_id, 77, NOW + 5, "z"))
    await store.put_document(StoredDocument(first.address, 3, 1, NOW + 7, b"doc"))
    await store.put_document(StoredDocument(first.address, 2, 1, NOW + 8, b"doc2"))
    await store.put_document(StoredDocument(first.address, 3, 2, NOW + 9, b"doc v2"))
    holdings = await store.holdings()
    assert [(h.size, h.received_at_ms) for h in holdings.envelopes] == [(5, NOW), (9, NOW)]
    assert [(h.size, h.expires_at_ms) for h in holdings.blobs] == [(77, NOW + 5)]
    assert [(h.kind, h.size, h.expires_at_ms) for h in holdings.documents] == [(3, 6, NOW + 9), (2, 4, NOW + 8)]


async def test_a_closed_store_is_unavailable(stores: Stores) -> None:
    from confide.server.errors import Unavailable

    await stores.store.close()
    with pytest.raises(Unavailable):
        await stores.store.device(_id())
    await stores.store.close()  # idempotent


async def test_bytes_held_follows_every_change(stores: Stores) -> None:
    store = stores.store
    start = await store.bytes_held()
    address = _id()
    a, b = _id(), _id()
    await store.register(reg(address, a, seen_at_ms=NOW - 1000 * ACCOUNT_TTL_S))
    await store.put_device_list(device_list(address, 1, b"1" * 10), (a, b), NOW)  # 10
    await store.register(reg(address, b, seen_at_ms=NOW - 1000 * ACCOUNT_TTL_S))
    await store.store_envelopes([envelope(a, b"x" * 100), envelope(b, b"y" * 1000)], 10)  # 1110
    await store.put_document(StoredDocument(address, 3, 1, NOW + DAY_MS, b"d" * 50))  # 1160
    await store.put_document(StoredDocument(address, 3, 2, NOW + DAY_MS, b"d" * 20))  # 1130
    channel = os.urandom(32)
    await store.put_link(channel, 0, b"l" * 7, NOW - 1000 * LINK_CHANNEL_TTL_S)  # 1137
    await store.add_blob(BlobRecord("h" * 32, a, 300, NOW + DAY_MS, "h"))  # 1437
    assert await store.bytes_held() == start + 1437
    await store.put_link(channel, 0, b"n" * 3, NOW)  # the dead channel dropped: 1433
    assert await store.bytes_held() == start + 1433
    await store.put_device_list(device_list(address, 2, b"2" * 10), (a,), NOW)  # b's mailbox: 433
    assert await store.bytes_held() == start + 433
    if stores.another is not None:  # another process sees the same total
        assert await (await stores.second()).bytes_held() == start + 433
    await store.sweep(NOW)  # the account is unseen: everything of it goes; the live link stays
    assert await store.bytes_held() == start + 3


async def test_an_unreachable_database_is_unavailable() -> None:
    from confide.server.errors import Unavailable
    from confide.server.pg_store import PostgresStore

    store = PostgresStore("postgresql://confide@127.0.0.1:1/none")
    with pytest.raises(Unavailable):
        await store.start()
    with pytest.raises(Unavailable):
        await store.bytes_held()
    await store.close()


async def test_concurrent_sweeps_across_processes_delete_each_thing_once(stores: Stores) -> None:
    others = [await stores.second() for _ in range(3)]
    first = reg(_id())
    await stores.store.register(first)
    await stores.store.store_envelopes([envelope(first.device_id, expires_at_ms=NOW) for _ in range(20)], 100)
    for i in range(10):
        await stores.store.add_blob(BlobRecord(f"{i:032d}", first.device_id, 1, NOW, f"expired-{i}"))
    results = await asyncio.gather(*(s.sweep(NOW) for s in [stores.store, *others]))
    assert sum(r.envelopes for r in results) == 20
    paths = [p for r in results for p in r.blob_paths]
    assert sorted(paths) == sorted(f"expired-{i}" for i in range(10))  # each file removed by one process
    assert await stores.store.fetch(first.device_id, 0, 100) == []
