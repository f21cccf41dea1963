"""Linking a new device (``Client.link`` / ``Client.approve_device``) and the history it takes, on a real relay.

Each security promise is tested as the attack: a wrong code, a relay (or anyone on it) answering in the existing
device's place, and what the relay's files hold after a run (no message text).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from confide.client import (
    Client,
    ClientError,
    HistoryTransferFailed,
    LinkCodeCheckFailed,
    LinkFailed,
    MessageReceived,
    ProfileError,
    TooManyDevices,
    history_transfer,
)
from confide.client.devices import DEVICES_KIND
from confide.client.history_transfer import delete_history, receive_history, send_history
from confide.keys.address import Address
from confide.keys.keystore import TEST_KDF
from confide.protocol.content import Content, Text
from confide.protocol.device_list import MAX_DEVICES, parse_device_list
from confide.protocol.errors import InvalidLinkCode
from confide.protocol.history import HISTORY_DAYS, TRAILER_LEN, HistoryRecord, encode_record
from confide.protocol.link import ExistingDeviceLink, parse_link_code

from . import linking_harness as harness
from .conftest import PASSPHRASE, MakeClient, introduce

UNIQUE = "the blue heron landed at 7:41 on the pier"


def _texts(client: Client, peer: str) -> list[tuple[str, str, str]]:
    return [(m.message_id, m.direction, m.text) for m in client.history(peer)]


def _typo(code: str) -> str:
    """The code with its last character replaced by another valid one (same channel, another password)."""
    return code[:-1] + ("0" if code[-1] != "0" else "1")


async def _conversation(sam: Client, dr: Client) -> None:
    await introduce(sam, dr, "dr", "sam")
    await sam.send_text("dr", "I had a hard week")
    await dr.sync()
    await dr.send_text("sam", UNIQUE)
    await sam.sync()
    await sam.mark_read("dr")
    await sam.send_text("dr", "Thank you")
    await dr.sync()


async def _own_list_version(client: Client, relay_url: str) -> int | None:
    async with harness.anonymous_relay(relay_url) as relay:
        raw = await relay.get_document(harness.address_of(client), DEVICES_KIND)
    return None if raw is None else parse_device_list(raw, identity=client.identity, now=harness.now()).version


# -- the whole run ------------------------------------------------------------------------------------
async def test_link_and_approve_with_history(make_client: MakeClient, tmp_path: Path, relay_url: str) -> None:
    dr = await make_client("dr", "therapist")
    sam = await make_client("sam")
    await _conversation(sam, dr)
    before = _texts(sam, "dr")
    assert len(before) == 3
    carried: list[bytes] = []  # every link message and blob the relay hands the new device, as it hands them

    def watch(path: str, body: bytes) -> bytes:
        carried.append(body)
        return body

    watcher = harness.TamperingProxy(relay_url, watch)
    async with watcher.running() as watched:
        await _link_and_check(sam, dr, tmp_path, watched, relay_url, before)
    secrets = [UNIQUE.encode(), sam._keys.identity.private_bytes(), sam._account.token(), sam._account.token_key()]
    assert len(carried) == 4  # slots 1, 3 and 4, and the history blob
    assert [s for s in secrets if any(s in body for body in carried)] == []
    # The relay never held the history's or the link's plaintext, nor the identity key: not in its database, WAL
    # or blob files.
    for secret in secrets:
        assert harness.relay_files_hold(tmp_path / "relay", secret) == []
    # ... and the history blob was deleted once the new device was done.
    assert harness.blob_files(tmp_path / "relay") == []


async def _link_and_check(
    sam: Client, dr: Client, tmp_path: Path, url: str, relay_url: str, before: list[tuple[str, str, str]]
) -> None:
    pending = await Client.link(tmp_path / "sam-phone", PASSPHRASE, url, "Phone", kdf=TEST_KDF)
    assert pending.qr_text == "CONFIDE-LINK1:" + pending.code
    assert pending.code not in repr(pending)
    sent_progress: list[tuple[int, int]] = []
    got_progress: list[tuple[int, int]] = []
    approved, phone = await asyncio.gather(
        sam.approve_device(pending.code, history=True, progress=lambda d, t: sent_progress.append((d, t))),
        pending.wait(progress=lambda d, t: got_progress.append((d, t))),
    )
    async with phone:
        assert pending.history_error is None
        # The same identity, a new device, listed on both devices with its name.
        assert phone.address == sam.address
        assert phone.device_id != sam.device_id
        assert approved.device_id == phone.device_id
        assert approved.name == "Phone"
        assert approved.origin == "linked"
        assert [d.device_id for d in sam.devices()] == [sam.device_id, phone.device_id]
        assert [d.device_id for d in phone.devices()] == [sam.device_id, phone.device_id]
        assert [d.this_device for d in phone.devices()] == [False, True]
        assert phone.role == "client"
        assert phone.invite_code() == sam.invite_code()  # the same introduction token
        # The contacts, and the history: every message, the same ids, texts, directions and read states.
        assert [c.name for c in phone.contacts()] == ["dr"]
        assert phone.contact("dr").address == dr.address
        assert _texts(phone, "dr") == before
        assert [m.status for m in phone.history("dr")][:2] == ["delivered", "read"]
        assert phone.history_imported == 3
        assert sent_progress[-1][0] == sent_progress[-1][1]
        assert got_progress[-1][0] == got_progress[-1][1]
        assert await _own_list_version(sam, relay_url) == 2  # the first list, then the one with the phone

        # The new device works: once the contact learned the new list (sent by the approving device), what they
        # send reaches it too, and the sync from the approving device reaches it as well.
        await sam.sync()
        await dr.sync()
        await dr.send_text("sam", "see you on Tuesday")
        assert [e.message.text for e in await phone.sync() if isinstance(e, MessageReceived)] == ["see you on Tuesday"]


async def test_link_without_history_starts_empty(make_client: MakeClient, tmp_path: Path, relay_url: str) -> None:
    dr = await make_client("dr", "therapist")
    sam = await make_client("sam")
    await _conversation(sam, dr)
    pending = await Client.link(tmp_path / "sam-phone", PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    _, phone = await asyncio.gather(sam.approve_device(pending.code, history=False), pending.wait())
    async with phone:
        assert [c.name for c in phone.contacts()] == ["dr"]
        assert phone.history("dr") == []
        assert phone.history_imported == 0
    # Declined on the new device: the offered history is not taken (and the blob goes all the same).
    pending = await Client.link(tmp_path / "sam-tablet", PASSPHRASE, relay_url, "Tablet", kdf=TEST_KDF)
    _, tablet = await asyncio.gather(sam.approve_device(pending.code, history=True), pending.wait(history=False))
    async with tablet:
        assert tablet.history("dr") == []
    assert harness.blob_files(tmp_path / "relay") == []


# -- attacks and mistakes: nothing changes on either side ------------------------------------------------
async def test_wrong_code_fails_on_both_sides_and_changes_nothing(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    sam = await make_client("sam")
    await sam.sync()
    version = await _own_list_version(sam, relay_url)
    devices = sam.devices()
    target = tmp_path / "sam-phone"
    pending = await Client.link(target, PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    results = await asyncio.gather(
        sam.approve_device(_typo(pending.code), history=True), pending.wait(), return_exceptions=True
    )
    assert [type(r) for r in results] == [LinkCodeCheckFailed, LinkCodeCheckFailed]
    assert "did not match" in str(results[0])
    assert not target.exists()
    assert await _own_list_version(sam, relay_url) == version
    assert sam.devices() == devices
    # A code of another channel (its first character mistyped): no one answers; both sides time out.
    with pytest.raises(InvalidLinkCode):
        await sam.approve_device("ABCD-EFGH")


async def test_timeout_leaves_nothing(
    make_client: MakeClient, tmp_path: Path, relay_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.linking, "LINK_TIMEOUT_S", 1.0)
    sam = await make_client("sam")
    target = tmp_path / "sam-phone"
    pending = await Client.link(target, PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    with pytest.raises(LinkFailed, match="in time"):
        await pending.wait()
    assert not target.exists()
    other = "ZZZZ-ZZZZ-ZZZZ" if not pending.code.startswith("ZZZZ") else "0000-0000-0000"
    with pytest.raises(LinkFailed, match="in time"):
        await sam.approve_device(other)
    assert [d.device_id for d in sam.devices()] == [sam.device_id]


async def test_someone_answering_first_on_the_relay_fails_both_sides(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    """The relay (or anyone who learns the channel from it) writes slot 1 before the existing device, with its own
    SPAKE2 share and a guessed code: the new device refuses the confirmation, the existing device finds its slot
    taken, and nothing changes anywhere."""
    sam = await make_client("sam")
    await sam.sync()
    version = await _own_list_version(sam, relay_url)
    target = tmp_path / "sam-phone"
    pending = await Client.link(target, PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    code = parse_link_code(pending.code)
    async with harness.anonymous_relay(relay_url) as relay:
        channel = harness.channel_of(code)
        slot0 = await relay.get_link(channel, 0)
        assert slot0 is not None
        guessed = parse_link_code(_typo(pending.code))
        await relay.put_link(channel, 1, ExistingDeviceLink(guessed, rng=harness.rng()).answer(slot0))
    results = await asyncio.gather(sam.approve_device(pending.code), pending.wait(), return_exceptions=True)
    assert isinstance(results[1], LinkCodeCheckFailed)
    assert isinstance(results[0], LinkFailed)
    assert "answered this code first" in str(results[0])
    assert not target.exists()
    assert await _own_list_version(sam, relay_url) == version


async def test_altered_provisioning_creates_no_profile(make_client: MakeClient, tmp_path: Path, relay_url: str) -> None:
    """A relay that flips a bit of the sealed provisioning (slot 3): the new device refuses it and creates nothing."""
    sam = await make_client("sam")
    await sam.sync()
    version = await _own_list_version(sam, relay_url)
    target = tmp_path / "sam-phone"

    def alter(path: str, body: bytes) -> bytes:
        return harness.flip_last_byte(body) if path.endswith("/3") else body

    async with harness.TamperingProxy(relay_url, alter).running() as hostile:
        pending = await Client.link(target, PASSPHRASE, hostile, "Phone", kdf=TEST_KDF)
        results = await asyncio.gather(sam.approve_device(pending.code), pending.wait(), return_exceptions=True)
    assert isinstance(results[1], LinkFailed)
    assert "did not open" in str(results[1])
    assert not target.exists()
    # The existing device had published the list with it (the code was proven); told, it takes it off again.
    assert isinstance(results[0], LinkFailed)
    assert "taken off your devices again" in str(results[0])
    assert [d.device_id for d in sam.devices()] == [sam.device_id]
    assert await _own_list_version(sam, relay_url) == (version or 0) + 2


async def test_link_refuses_an_existing_profile_and_bad_names(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    await make_client("sam")
    with pytest.raises(ProfileError, match="already exists"):
        await Client.link(tmp_path / "sam", PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    with pytest.raises(ValueError, match="control"):
        await Client.link(tmp_path / "new", PASSPHRASE, relay_url, "two\nlines", kdf=TEST_KDF)
    with pytest.raises(ValueError, match="passphrase"):
        await Client.link(tmp_path / "new", "", relay_url, "Phone", kdf=TEST_KDF)
    assert not (tmp_path / "new").exists()


# -- history ------------------------------------------------------------------------------------------
async def test_history_refuses_a_tampered_blob(make_client: MakeClient, tmp_path: Path, relay_url: str) -> None:
    dr = await make_client("dr", "therapist")
    sam = await make_client("sam")
    await _conversation(sam, dr)

    def alter(path: str, body: bytes) -> bytes:
        return harness.flip_last_byte(body) if path.startswith("/v1/blobs/") else body

    async with harness.TamperingProxy(relay_url, alter).running() as hostile:
        pending = await Client.link(tmp_path / "sam-phone", PASSPHRASE, hostile, "Phone", kdf=TEST_KDF)
        _, phone = await asyncio.gather(sam.approve_device(pending.code), pending.wait())
        await phone.close()
    async with Client.open(tmp_path / "sam-phone", PASSPHRASE) as phone:
        assert pending.history_error is not None
        assert "integrity" in pending.history_error
        assert phone.history("dr") == []  # nothing of a blob that fails its check is stored
        assert [c.name for c in phone.contacts()] == ["dr"]  # linked all the same


def test_history_error_is_a_client_error() -> None:
    from confide.client import ClientError

    assert issubclass(HistoryTransferFailed, ClientError)
    assert issubclass(LinkCodeCheckFailed, LinkFailed)
    assert issubclass(LinkFailed, ClientError)


# -- history: what is sent, its bounds, storing it once --------------------------------------------------
async def _history_pair(make_client: MakeClient) -> tuple[Client, Client, Client]:
    """``sam`` with a thread with ``dr``, and ``other`` (another profile) who knows ``dr`` too: the history of
    ``sam`` is sent to ``other`` straight through the relay's blob store, without a link run."""
    dr = await make_client("dr", "therapist")
    sam = await make_client("sam")
    other = await make_client("other")
    await introduce(sam, dr, "dr", "sam")
    other.add_contact("dr", dr.invite_code())
    return dr, sam, other


async def _transfer(sam: Client, other: Client, progress: list[tuple[int, int]] | None = None) -> int:
    def note(done: int, total: int) -> None:
        if progress is not None:
            progress.append((done, total))

    sent = await send_history(sam._store, sam._paths.tmp, sam._relay, rng=os.urandom, progress=note)
    try:
        return await receive_history(other._store, other._paths.tmp, other._relay, sent.offer, rng=os.urandom)
    finally:
        await delete_history(sam._relay, sent)


async def test_history_is_stored_once_in_thread_order(make_client: MakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_transfer, "HISTORY_BATCH", 2)  # several batches: streamed, not all at once
    dr, sam, other = await _history_pair(make_client)
    for i in range(5):
        await sam.send_text("dr", f"note {i}")
    await dr.sync()
    await dr.send_text("sam", "reply")
    await sam.sync()
    progress: list[tuple[int, int]] = []
    assert await _transfer(sam, other, progress) == 6
    assert _texts(other, "dr") == _texts(sam, "dr")  # same ids, directions and texts, in the same order
    assert [p[0] for p in progress] == sorted(p[0] for p in progress)
    assert len({p[1] for p in progress}) >= 1
    assert len(progress) > 3  # reported batch by batch
    # The same history again stores nothing twice.
    assert await _transfer(sam, other) == 0
    assert len(other.history("dr")) == 6


async def test_history_leaves_out_disappearing_and_old_messages(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sam, other = await _history_pair(make_client)
    kept = await sam.send_text("dr", "kept")
    await sam.send_text("dr", "disappears", expire_after_s=3600)
    # A message stored long ago (before HISTORY_DAYS): the selection ends there.
    old = sam._store.message(bytes.fromhex(kept.message_id))
    assert old is not None
    old.message_id = os.urandom(16)
    old.received_at_ms -= (HISTORY_DAYS + 1) * 24 * 3600 * 1000
    with sam._store.transaction():
        sam._store.save_message(old)  # stored last, but dated before the window: nothing from there on is taken
    assert await _transfer(sam, other) == 0
    with sam._store.transaction():
        sam._store.delete_message(old.message_id)
    assert await _transfer(sam, other) == 1
    assert [m.text for m in other.history("dr")] == ["kept"]


async def test_history_stops_at_its_size_bound_keeping_the_newest(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr, sam, other = await _history_pair(make_client)
    for i in range(6):
        await sam.send_text("dr", f"message number {i}")
    content = Content(bytes(16), 0, 0, Text("message number 0")).to_bytes()
    one = len(encode_record(HistoryRecord(Address.parse(dr.address).raw, 2, 1, 0, content)))  # each is as long
    monkeypatch.setattr(history_transfer, "MAX_HISTORY_BYTES", 3 * one + TRAILER_LEN)
    assert await _transfer(sam, other) == 3
    assert [m.text for m in other.history("dr")] == [f"message number {i}" for i in (3, 4, 5)]


async def test_a_full_identity_refuses_another_device_and_the_new_one_is_told(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    sam = await make_client("sam")
    phones = []
    for i in range(MAX_DEVICES - 1):
        pending = await Client.link(tmp_path / f"sam-{i}", PASSPHRASE, relay_url, f"Device {i}", kdf=TEST_KDF)
        _, phone = await asyncio.gather(sam.approve_device(pending.code, history=False), pending.wait())
        phones.append(phone)
    assert len(sam.devices()) == MAX_DEVICES
    target = tmp_path / "sam-one-too-many"
    pending = await Client.link(target, PASSPHRASE, relay_url, "One too many", kdf=TEST_KDF)
    results = await asyncio.gather(sam.approve_device(pending.code), pending.wait(), return_exceptions=True)
    assert isinstance(results[0], TooManyDevices)
    assert isinstance(results[1], LinkFailed)
    assert "stopped" in str(results[1])
    assert not target.exists()
    assert len(sam.devices()) == MAX_DEVICES
    for phone in phones:
        await phone.close()


async def test_a_practice_profile_links_no_device(make_client: MakeClient) -> None:
    practice = await make_client("practice", "practice")
    with pytest.raises(ClientError, match="practice"):
        await practice.approve_device("ABCD-EFGH-JKMN")


async def test_a_cancelled_link_tells_the_existing_device(
    make_client: MakeClient, tmp_path: Path, relay_url: str
) -> None:
    sam = await make_client("sam")
    target = tmp_path / "sam-phone"
    pending = await Client.link(target, PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    approving = asyncio.ensure_future(sam.approve_device(pending.code))
    await pending.cancel()
    with pytest.raises(LinkFailed):
        await approving
    assert not target.exists()
    assert [d.device_id for d in sam.devices()] == [sam.device_id]
