"""A hostile relay attacks two clients (issue 10): it drops, delays, reorders, duplicates and replays deliveries,
flips bits and truncates them, serves stale and substituted prekey bundles, and lies about prekey counts and
pagination. The relay is real (``confide.server`` on loopback); the attacks come from the proxy in
:mod:`tests.reliability.hostile`; the clients run through the public ``confide.client`` API.

Every test asserts what the application sees: the exact events, the exact thread, the exact typed error. Across
all of them: no forged or replayed message is ever shown, nothing is shown twice, and no exception reaches the
event loop unhandled (the ``loop_errors`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from confide.client import (
    INSECURE_TEST_KDF,
    Client,
    Connected,
    Event,
    MessageReceived,
    MessageUndecryptable,
    PrekeysLow,
    RelayError,
    SessionReset,
    messaging,
)
from confide.client.cli.exits import EXIT_RELAY, EXIT_UNTRUSTED
from confide.keys.prekeys import KEM_ONE_TIME_BATCH, ONE_TIME_PREKEY_BATCH
from confide.protocol.errors import KeySubstitution

from .hostile import (
    DELIVERY_CIPHERTEXT_AT,
    REGIONS,
    Action,
    Drop,
    Duplicate,
    Flip,
    Hold,
    HostileRelay,
    Truncate,
    hostile_relay,
)

PASSPHRASE = "correct horse battery staple"

MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture(autouse=True)
def prompt_receipts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Receipts go out at once (as in tests/client), so a sync's follow-ups finish inside it."""
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MIN_S", 0.0)
    monkeypatch.setattr(messaging, "RECEIPT_DELAY_MAX_S", 0.0)


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Every exception that reached the event loop unhandled during the test; the test fails if there is one."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    loop.set_exception_handler(previous)
    assert errors == []


@pytest.fixture
async def hostile(tmp_path: Path, loop_errors: list[dict[str, Any]]) -> AsyncIterator[tuple[HostileRelay, str]]:
    """A real relay (limits off: the tests send in tight loops) behind the hostile proxy: ``(proxy, its URL)``."""
    async with hostile_relay(tmp_path / "relay") as pair:
        yield pair


@pytest.fixture
async def make_client(tmp_path: Path, hostile: tuple[HostileRelay, str]) -> AsyncIterator[MakeClient]:
    """Profiles ``tmp_path/<name>`` registered through the hostile relay (closed at the end)."""
    opened: list[Client] = []

    async def make(name: str) -> Client:
        client = await Client.create(tmp_path / name, PASSPHRASE, hostile[1], name, "client", kdf=INSECURE_TEST_KDF)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.close()


async def pair(make_client: MakeClient, relay: HostileRelay) -> tuple[Client, Client]:
    """Alice and Bob, introduced; Bob's device is the relay's victim."""
    alice, bob = await make_client("alice"), await make_client("bob")
    alice.add_contact("bob", bob.invite_code())
    bob.add_contact("alice", alice.invite_code())
    assert await bob.sync() == []
    relay.victim = relay.last_puller
    return alice, bob


def texts(events: list[Event]) -> list[str]:
    """The texts of the messages among ``events``, in order."""
    return [e.message.text for e in events if isinstance(e, MessageReceived)]


def thread(client: Client, peer: str) -> list[str]:
    """The texts of ``peer``'s thread (incoming and outgoing), oldest first."""
    return [m.text for m in client.history(peer)]


def plan(actions: dict[int, Action]) -> Callable[[int, bytes], Action | None]:
    """A schedule acting on the deliveries with these ordinals."""
    return lambda ordinal, _raw: actions.get(ordinal)


async def send(alice: Client, n: int, prefix: str = "m") -> list[str]:
    """Alice sends ``n`` texts to Bob; returns them."""
    sent = [f"{prefix}{i}" for i in range(n)]
    for text in sent:
        assert (await alice.send_text("bob", text)).status == "sent"
    return sent


# -- drop, delay, reorder, duplicate ------------------------------------------------------------------------
async def test_dropped_message_never_arrives_and_later_ones_decrypt(
    hostile: tuple[HostileRelay, str], make_client: MakeClient
) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    relay.schedule = plan({1: Drop(), 3: Drop()})
    sent = await send(alice, 6)
    assert texts(await bob.sync()) == ["m0", "m2", "m4", "m5"]
    assert texts(await bob.sync()) == []
    assert (await alice.send_text("bob", "after")).status == "sent"
    assert texts(await bob.sync()) == ["after"]
    assert thread(bob, "alice") == [*(t for t in sent if t not in ("m1", "m3")), "after"]
    assert relay.faults == {"drop": 2}


async def test_delayed_and_reordered_messages_all_decrypt_once(
    hostile: tuple[HostileRelay, str], make_client: MakeClient
) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    # 0 waits for 5, 1 for 3, 4 for 6: Bob gets 2, 3, 1, 5, 0, 6, 4 -- all within one pull.
    relay.schedule = plan({0: Hold(5), 1: Hold(3), 4: Hold(6)})
    sent = await send(alice, 7)
    assert texts(await bob.sync()) == ["m2", "m3", "m1", "m5", "m0", "m6", "m4"]
    assert texts(await bob.sync()) == []
    assert sorted(thread(bob, "alice")) == sent
    assert relay.faults == {"hold": 3}


async def test_delay_across_syncs_still_decrypts(hostile: tuple[HostileRelay, str], make_client: MakeClient) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    relay.schedule = plan({0: Hold(3)})
    await send(alice, 2)
    assert texts(await bob.sync()) == ["m1"]  # m0 held back by the relay
    assert (await alice.send_text("bob", "m2")).status == "sent"
    assert texts(await bob.sync()) == ["m2"]
    assert (await alice.send_text("bob", "m3")).status == "sent"
    assert texts(await bob.sync()) == ["m3", "m0"]
    assert sorted(thread(bob, "alice")) == ["m0", "m1", "m2", "m3"]


async def test_duplicated_delivery_is_shown_once(hostile: tuple[HostileRelay, str], make_client: MakeClient) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    relay.schedule = plan({0: Duplicate(3), 2: Duplicate(2)})
    sent = await send(alice, 3)
    assert texts(await bob.sync()) == sent
    assert texts(await bob.sync()) == []
    assert thread(bob, "alice") == sent
    assert relay.faults == {"duplicate": 2}


# -- replay ----------------------------------------------------------------------------------------------------
async def test_replayed_envelopes_after_ack_are_never_shown_again(
    hostile: tuple[HostileRelay, str], make_client: MakeClient, tmp_path: Path
) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    sent = await send(alice, 3)
    assert texts(await bob.sync()) == sent  # stored, acknowledged, deleted by the relay
    assert (await bob.send_text("alice", "reply")).status == "sent"
    assert texts(await alice.sync()) == ["reply"]
    await send(alice, 2, prefix="n")
    assert texts(await bob.sync()) == ["n0", "n1"]
    old = relay.genuine[relay.victim or ""]
    assert len(old) == 6  # Alice's five texts and her delivery receipt for "reply"
    # The same bytes again (the prekey messages of the first session, later ones), and with a fresh envelope id.
    for raw in old:
        relay.replay(relay.victim or "", raw)
        relay.replay(relay.victim or "", raw[:1] + bytes(16) + raw[17:])
    assert await bob.sync() == []
    # After a restart of the client too: the replay guard is in the store, not in memory.
    await bob.close()
    async with Client.open(tmp_path / "bob", PASSPHRASE) as again:
        for raw in old:
            relay.replay(relay.victim or "", raw)
            relay.replay(relay.victim or "", raw[:1] + bytes([0xFF] * 16) + raw[17:])
        assert await again.sync() == []
        assert thread(again, "alice") == ["m0", "m1", "m2", "reply", "n0", "n1"]
        assert (await alice.send_text("bob", "still works")).status == "sent"
        assert texts(await again.sync()) == ["still works"]
    assert relay.faults == {"replay": 24}


# -- tampering ---------------------------------------------------------------------------------------------------
UNPARSEABLE = ("version", "length")
"""Regions where a flipped bit makes the delivery unparseable: not acknowledged, so the relay delivers it again."""
RELABELLED = ("envelope_id", "timestamps")
"""Regions the relay may set anyway: a flip there relabels an authentic message (shown once). A flip anywhere in
the sealed layer (ephemeral key, sender certificate, ratchet header, body, tag) destroys the message."""


@pytest.mark.parametrize("which", [0, 77])
async def test_flipped_bit_anywhere_is_rejected_without_state_change(
    hostile: tuple[HostileRelay, str], make_client: MakeClient, which: int
) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    # Delivery 2k is flipped in REGIONS[k]; each odd one is genuine and must still decrypt.
    relay.schedule = plan({2 * k: Flip(region, which) for k, region in enumerate(REGIONS)})
    sent = await send(alice, 2 * len(REGIONS) + 1)
    flipped = {sent[2 * k]: region for k, region in enumerate(REGIONS)}
    # First pull: the genuine ones and the relabelled ones; an unparseable one is not acknowledged and comes
    # again, intact, in the second pull (after later messages: its key was skipped and kept).
    assert texts(await bob.sync()) == [t for t in sent if flipped.get(t) in (None, *RELABELLED)]
    assert texts(await bob.sync()) == [t for t in sent if flipped.get(t) in UNPARSEABLE]
    assert texts(await bob.sync()) == []
    assert relay.faults == {"flip": len(REGIONS)}
    assert (await alice.send_text("bob", "next")).status == "sent"
    assert texts(await bob.sync()) == ["next"]


@pytest.mark.parametrize(
    ("cut", "shown"),
    [
        (Truncate(10), True),  # unparseable: not acknowledged, delivered again intact
        (Truncate(DELIVERY_CIPHERTEXT_AT - 1), True),
        (Truncate(DELIVERY_CIPHERTEXT_AT, fix_length=True), False),  # parses, the sealed layer is gone
        (Truncate(200, fix_length=True), False),
        (Truncate(-16, fix_length=True), False),  # the tag cut off
    ],
)
async def test_truncated_delivery(
    hostile: tuple[HostileRelay, str], make_client: MakeClient, cut: Truncate, shown: bool
) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    relay.schedule = plan({1: cut})
    await send(alice, 3)
    got = texts(await bob.sync()) + texts(await bob.sync())
    assert sorted(got) == (["m0", "m1", "m2"] if shown else ["m0", "m2"])
    assert (await alice.send_text("bob", "next")).status == "sent"
    assert texts(await bob.sync()) == ["next"]


# -- prekey bundles ----------------------------------------------------------------------------------------------
def _swap_device_id(bob: bytes, mallory: bytes) -> bytes:
    """Bob's bundle, labelled with Mallory's device id."""
    answer, other = json.loads(bob), json.loads(mallory)
    answer["devices"][0]["device_id"] = other["devices"][0]["device_id"]
    return json.dumps(answer).encode()


def _add_device(bob: bytes, mallory: bytes) -> bytes:
    """Bob's bundle, plus Mallory's device as a second device of Bob's."""
    answer, other = json.loads(bob), json.loads(mallory)
    answer["devices"].append(other["devices"][0])
    return json.dumps(answer).encode()


def _mallory(bob: bytes, mallory: bytes) -> bytes:
    """Mallory's whole answer under Bob's address."""
    return mallory


@pytest.mark.parametrize("substitute", [_mallory, _swap_device_id, _add_device])
async def test_substituted_bundle_is_refused_and_no_session_starts(
    hostile: tuple[HostileRelay, str], make_client: MakeClient, substitute: Callable[[bytes, bytes], bytes]
) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    mallory = await make_client("mallory")
    alice.add_contact("mallory", mallory.invite_code())
    await alice.start_thread("mallory")  # the relay records Mallory's bundle answer
    (mallory_answer,) = relay.bundles[mallory.address]
    relay.bundle_answer = lambda _address, answer: substitute(answer, mallory_answer)
    with pytest.raises(KeySubstitution):  # an identity error, not a generic protocol one
        await alice.send_text("bob", "for bob only")
    with pytest.raises(KeySubstitution):
        await alice.start_thread("bob")
    assert thread(alice, "bob") == []
    assert alice.queued() == []
    assert alice.contact("bob").fingerprint is None  # nothing pinned: the substitute left no trace
    assert texts(await mallory.sync()) == []
    relay.bundle_answer = None
    assert (await alice.send_text("bob", "for bob only")).status == "sent"
    assert texts(await bob.sync()) == ["for bob only"]
    assert texts(await mallory.sync()) == []
    assert relay.faults == {"bundle": 2}


@pytest.mark.parametrize("pinned", [True, False])
async def test_stale_bundle_costs_one_round_trip_and_no_message(
    hostile: tuple[HostileRelay, str], make_client: MakeClient, pinned: bool
) -> None:
    """The relay hands Carol the bundle it already gave Alice (its one-time prekeys are used up). Bob cannot
    decrypt Carol's first message, says so, resets the session; Carol resends; Bob sees it exactly once, whether
    or not he had pinned Carol's identity (her address commits to it; sealed sender authenticated it)."""
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    carol = await make_client("carol")
    carol.add_contact("bob", bob.invite_code())
    bob.add_contact("carol", carol.invite_code())
    if pinned:
        await bob.start_thread("carol")  # Bob has pinned Carol's identity already
    await send(alice, 1)
    assert texts(await bob.sync()) == ["m0"]
    (stale,) = relay.bundles[bob.address]
    relay.bundle_answer = lambda _address, _answer: stale
    sent = await carol.send_text("bob", "hello from carol")
    assert sent.status == "sent"
    relay.bundle_answer = None
    assert await bob.sync() == [MessageUndecryptable("carol"), SessionReset("carol", False, 1)]
    assert await carol.sync() == [SessionReset("bob", True, 1, (sent.message_id,))]
    assert texts(await bob.sync()) == ["hello from carol"]
    assert await bob.sync() == []
    assert thread(bob, "carol") == ["hello from carol"]
    assert relay.faults == {"bundle": 1}


# -- lies about counts and pages ------------------------------------------------------------------------------
async def test_prekey_count_of_zero_refills_one_batch_per_check(
    hostile: tuple[HostileRelay, str], make_client: MakeClient
) -> None:
    relay = hostile[0]
    _alice, bob = await pair(make_client, relay)
    relay.prekey_counts = {"one_time": 0, "kem_one_time": 0, "signed_prekey_id": 1, "kem_last_resort_id": 1}
    before = relay.requests["PUT /v1/prekeys"]
    for _ in range(3):
        assert await bob.maintain_prekeys() == PrekeysLow(0, 0, ONE_TIME_PREKEY_BATCH + KEM_ONE_TIME_BATCH)
    assert relay.requests["PUT /v1/prekeys"] - before == 3


async def test_prekey_count_huge_uploads_nothing(hostile: tuple[HostileRelay, str], make_client: MakeClient) -> None:
    relay = hostile[0]
    _alice, bob = await pair(make_client, relay)
    relay.prekey_counts = {"one_time": 10**30, "kem_one_time": 10**30, "signed_prekey_id": 1, "kem_last_resort_id": 1}
    before = relay.requests["PUT /v1/prekeys"]
    assert await bob.maintain_prekeys() is None
    assert relay.requests["PUT /v1/prekeys"] == before


@pytest.mark.parametrize("count", [-1, -5_000, -(10**12)])
async def test_negative_prekey_count_is_refused(
    hostile: tuple[HostileRelay, str], make_client: MakeClient, count: int
) -> None:
    """A relay claiming a negative stock must not make the client generate ``batch - count`` keys."""
    relay = hostile[0]
    _alice, bob = await pair(make_client, relay)
    relay.prekey_counts = {"one_time": count, "kem_one_time": 0, "signed_prekey_id": 1, "kem_last_resort_id": 1}
    before = relay.requests["PUT /v1/prekeys"]
    started = time.monotonic()
    with pytest.raises(RelayError) as caught:
        await bob.maintain_prekeys()
    assert (caught.value.status, caught.value.code) == (200, "malformed")
    assert time.monotonic() - started < 5.0
    assert relay.requests["PUT /v1/prekeys"] == before


async def test_endless_more_does_not_hold_sync(hostile: tuple[HostileRelay, str], make_client: MakeClient) -> None:
    """The relay says ``more`` on every page and serves the last page again and again: sync() still returns,
    after one page that brought nothing new, and shows each message once."""
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    relay.lie_more = relay.repeat_pages = True
    sent = await send(alice, 3)
    before = relay.requests["GET /v1/messages"]
    assert texts(await asyncio.wait_for(bob.sync(), 20)) == sent
    assert relay.requests["GET /v1/messages"] - before == 2
    assert texts(await asyncio.wait_for(bob.sync(), 20)) == []
    assert thread(bob, "alice") == sent


# -- the push stream ---------------------------------------------------------------------------------------------
async def _until(events: list[Event], done: Callable[[list[Event]], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done(events):
        assert time.monotonic() < deadline, f"gave up waiting; saw {events}"
        await asyncio.sleep(0.05)


async def test_push_stream_attacks(hostile: tuple[HostileRelay, str], make_client: MakeClient) -> None:
    """The same attacks on the WebSocket push stream of a live client, with catch-up pulls every 0.3 s: a
    duplicate, a flipped header, a hold, an unparseable cut (not acknowledged: the next catch-up pull fetches it
    intact), a drop and a delay of every frame."""
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    relay.schedule = plan({0: Duplicate(2), 1: Flip("header", 5), 2: Hold(4), 3: Truncate(10), 5: Drop()})
    relay.push_delay_s = 0.05
    bob.catch_up_interval_s = 0.3
    seen: list[Event] = []

    async def listen() -> None:
        async for event in bob.events():
            seen.append(event)

    listener = asyncio.create_task(listen())
    await _until(seen, lambda s: any(isinstance(e, Connected) for e in s), 10)
    await send(alice, 7)
    await _until(seen, lambda s: len(texts(s)) >= 5, 15)
    await asyncio.sleep(1.0)  # three more catch-up pulls: nothing else may appear
    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)
    # A catch-up pull and a push can race for the same envelope, so the flip may reach one copy while the other
    # goes out intact: m1 is shown if the intact copy was handled first (else its id was already burnt). Every
    # other message is shown exactly once, the dropped one never.
    delivered = relay.delivered(relay.victim or "")
    assert {0, 2, 3, 4, 6} <= delivered <= {0, 1, 2, 3, 4, 6}
    shown = texts(seen)
    assert len(shown) == len(set(shown))
    assert {"m0", "m2", "m3", "m4", "m6"} <= set(shown) <= {f"m{i}" for i in delivered}
    assert [e for e in seen if not isinstance(e, MessageReceived | Connected)] == []
    assert sorted(thread(bob, "alice")) == sorted(shown)
    assert relay.faults["duplicate"] == relay.faults["flip"] == relay.faults["hold"] == 1
    assert relay.faults["truncate"] == relay.faults["drop"] == 1
    assert relay.requests["GET /v1/ws"] == 1


async def test_old_envelope_replayed_under_a_fresh_id_many_ratchet_steps_later(
    hostile: tuple[HostileRelay, str], make_client: MakeClient
) -> None:
    relay = hostile[0]
    alice, bob = await pair(make_client, relay)
    for i in range(6):  # six round trips: six ratchet steps each way
        assert (await alice.send_text("bob", f"a{i}")).status == "sent"
        assert texts(await bob.sync()) == [f"a{i}"]
        assert (await bob.send_text("alice", f"b{i}")).status == "sent"
        assert texts(await alice.sync()) == [f"b{i}"]
    assert texts(await bob.sync()) == []  # Alice's last delivery receipt
    genuine = relay.genuine[relay.victim or ""]
    assert len(genuine) == 12  # six texts, six receipts
    for i, old in enumerate(genuine):
        relay.replay(relay.victim or "", old[:1] + bytes([0xA0 + i] * 16) + old[17:])
    assert await bob.sync() == []
    assert thread(bob, "alice") == [x for i in range(6) for x in (f"a{i}", f"b{i}")]
    assert relay.faults == {"replay": 12}


# -- the confide command ------------------------------------------------------------------------------------------
@pytest.fixture
def hostile_thread(tmp_path: Path) -> Iterator[tuple[HostileRelay, str]]:
    """The relay and the hostile proxy in their own event loop thread, so that ``confide`` commands can run
    ``asyncio.run`` themselves: ``(proxy, its URL)``."""
    loop = asyncio.new_event_loop()
    ready: list[tuple[HostileRelay, str]] = []
    stop = asyncio.Event()

    async def serve() -> None:
        async with hostile_relay(tmp_path / "relay") as pair:
            ready.append(pair)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    while not ready:
        thread.join(0.01)
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)


EXCEPTION_NAME = re.compile(r"Traceback|\b[A-Z][A-Za-z]*(Error|Exception|Mismatch)\b|\bconfide\.\w+")
"""What must never reach a terminal: a traceback, an exception class name, a module path."""


def test_cli_output_under_attack_names_no_exception(
    hostile_thread: tuple[HostileRelay, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.client.conftest import run

    monkeypatch.setenv("CONFIDE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CONFIDE_KDF", "test")
    relay, url = hostile_thread
    profiles = {name: str(tmp_path / name) for name in ("alice", "bob", "carol", "mallory")}
    outputs: list[str] = []

    def confide(*argv: str) -> tuple[int, str]:
        code, out, err = run(capsys, *argv)
        outputs.append(out + err)
        return code, out

    invites = {}
    for name, profile in profiles.items():
        assert confide("init", "--profile", profile, "--server", url, "--name", name)[0] == 0
        code, out = confide("whoami", "--profile", profile, "--json")
        invites[name] = json.loads(out)["invite"]
    assert confide("contacts", "add", "--profile", profiles["alice"], "bob", invites["bob"])[0] == 0
    assert confide("contacts", "add", "--profile", profiles["bob"], "alice", invites["alice"])[0] == 0
    assert confide("contacts", "add", "--profile", profiles["carol"], "bob", invites["bob"])[0] == 0
    assert confide("contacts", "add", "--profile", profiles["carol"], "mallory", invites["mallory"])[0] == 0
    assert confide("sync", "--profile", profiles["bob"])[0] == 0
    relay.victim = relay.last_puller
    relay.schedule = plan({0: Flip("header"), 1: Truncate(10), 2: Duplicate(3), 3: Drop(), 4: Flip("envelope_id")})
    for i in range(6):
        assert confide("send", "--profile", profiles["alice"], "bob", f"m{i}")[0] == 0
    assert confide("sync", "--profile", profiles["bob"])[0] == 0
    assert confide("sync", "--profile", profiles["bob"])[0] == 0
    code, out = confide("read", "--profile", profiles["bob"], "alice", "--json")
    assert code == 0
    assert sorted(m["text"] for m in json.loads(out)["messages"]) == ["m1", "m2", "m4", "m5"]
    # Carol is handed Mallory's keys for Bob.
    assert confide("send", "--profile", profiles["carol"], "mallory", "hi")[0] == 0  # the relay records the bundle
    (mallory_answer,) = relay.bundles[
        json.loads(confide("whoami", "--profile", profiles["mallory"], "--json")[1])["address"]
    ]
    relay.bundle_answer = lambda _address, _answer: mallory_answer
    assert confide("send", "--profile", profiles["carol"], "bob", "hello")[0] == EXIT_UNTRUSTED  # an identity error
    relay.bundle_answer = None
    # Bob's relay claims a negative prekey stock.
    relay.prekey_counts = {"one_time": -5000, "kem_one_time": 0}
    assert confide("sync", "--profile", profiles["bob"])[0] == EXIT_RELAY
    relay.prekey_counts = None
    assert [o for o in outputs if EXCEPTION_NAME.search(o)] == []
