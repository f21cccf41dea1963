"""The Desk's inbox and search on a large profile: 200 threads x 1,000 messages, through the Desk's HTTP server.

Builds a therapist profile (test Argon2 costs, registered with a relay run on loopback in this process) with
``--threads`` contacts (added with ``Client.add_contact`` from fresh identities' addresses) and ``--messages``
messages in each. The messages take a fast path: they are sealed with the profile's own store sealer and
inserted in one transaction per thread (``_insert_thread``), exactly the rows ``Store.save_message`` writes, but
without sending 200,000 messages through the relay and without ``save_message``'s ``MAX(seq)`` read per row (a
scan of the whole table: quadratic over a build of this size; its cost per message at the end is reported as
``save_message_ms``). Texts are 40-300 characters of common words; every 20th message is a file with a caption;
alternating runs of the client's and the therapist's messages; a third of the threads end with unread messages
from the client; one message in 1,000 holds the rare word searched for.

Then the profile is opened again (a fresh process state: nothing cached) and served by ``create_desk_app`` on
127.0.0.1, which starts building the in-memory index in the background (``Client.prepare_index``); an aiohttp
client logs in through the single-use link and times, over HTTP:

- ``index_build_s``: from the Desk's start until the background build is done (every message row opened once),
  and ``loop_stall_max_ms``, the longest the event loop was held meanwhile (how long a request could wait);
- ``inbox_during_build_ms`` / ``..._max_ms``: the median and slowest of three ``GET /`` made at once after the
  login, while the build goes on (each thread's line read from its newest rows back to its last message already
  read: ``Threads.summaries``), and ``build_still_running`` (1: they were indeed answered during the build);
- ``first_inbox_ms``: the first ``GET /`` after the build; ``inbox_ms`` / ``inbox_max_ms``: the median and the slowest
  of ``--repeat`` more (the inbox's first page: every thread's line);
- ``inbox_after_own_write_ms``: ``GET /`` after the Desk's own connection stored a message (as its live receiving
  does: only that row is opened); ``inbox_after_other_process_ms`` and ``..._again_ms``: after another connection
  stored one (as ``confide sync`` in a terminal would: threads compared by their rows' sealed tags in SQLite, then
  that thread's rows in Python, one row opened);
- ``search_rare_ms`` / ``search_none_ms``: median ``GET /search?q=`` for a word in 0.1% of the messages and one
  in none (a full pass: the slowest search); ``search_max_ms`` the slowest of both;
- ``rss_*_mib``: the resident set before, once the index is built, after the timed requests and after
  ``--repeat`` more inbox and search requests each (flat memory: the last two equal within a few MiB).

The machine is shared: run it on a quiet one, and read ``uptime``'s load beside the numbers.

    .venv/bin/python bench/desk.py                 # 200 x 1,000, about a minute
    .venv/bin/python bench/desk.py --quick         # 50 x 200
    .venv/bin/python bench/desk.py --keep DIR      # build the profile in DIR once, reuse it next time
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from harness import Stopwatch, add_common_flags, bench_parser, print_result, rss_mib

from confide.client import Client
from confide.client.desk import DeskConfig, create_desk_app, serve_desk
from confide.client.records import AttachmentRecord, MessageRecord
from confide.client.store import Store
from confide.keys.identity import IdentityKeyPair
from confide.keys.keystore import TEST_KDF
from confide.protocol.content import new_message_id
from confide.server import RelayConfig, start_relay

PASSPHRASE = "bench desk passphrase"
RARE_WORD = "lighthouse"
"""In one message of every 1,000: what a targeted search finds."""
ABSENT_WORD = "xylophonist"
"""In no message: the search that has to look at every one."""
PHRASES = (
    "I felt better this week but the nights are still hard and sleep comes late work was busy my sister "
    "called we talked about the plan for next session breathing exercises helped a little anxious before "
    "the meeting thank you for the worksheet can we move Thursday appointment tired again today good news"
)
WORDS = PHRASES.split()
DAY_MS = 86_400_000


def _text(rnd: random.Random, rare: bool) -> str:
    words = [rnd.choice(WORDS) for _ in range(rnd.randint(8, 55))]
    if rare:
        words.insert(rnd.randrange(len(words)), RARE_WORD)
    return " ".join(words)[:300]


def _insert_thread(store: Store, contact_id: str, count: int, first_seq: int, now_ms: int, rnd: random.Random) -> None:
    """``count`` messages of one thread, sealed and inserted as :meth:`Store.save_message` would (the fast path)."""
    rows = []
    unread_tail = rnd.randint(1, 5) if rnd.random() < 1 / 3 else 0
    direction = "in"
    for i in range(count):
        if i < count - unread_tail and rnd.random() < 0.3:
            direction = "out" if direction == "in" else "in"
        if i >= count - unread_tail:
            direction = "in"
        at = now_ms - (count - i) * (DAY_MS // 3) - rnd.randint(0, 3_600_000)
        mid = new_message_id(os.urandom)
        text = _text(rnd, rnd.random() < 0.001)
        att = None
        kind = "text"
        if i % 20 == 19:
            kind = "attachment"
            att = AttachmentRecord(
                os.urandom(16).hex(),
                os.urandom(32),
                os.urandom(32),
                48_213,
                f"worksheet-{i}.pdf",
                "application/pdf",
                text,
            )
        status = ("unread" if i >= count - unread_tail else "read") if direction == "in" else "read"
        rec = MessageRecord(mid, contact_id, direction, kind, text, at, at, status, 0, None, att)
        rid = store._message_row_id(mid)  # the fast path writes the rows save_message writes
        data = store._sealer.seal("messages", "data", rid, rec.to_json())
        rows.append((rid, first_seq + i, contact_id, None, data))
    with store.transaction():
        store._db.executemany(
            "INSERT INTO messages (id, seq, contact_id, expires_at_ms, data) VALUES (?, ?, ?, ?, ?)", rows
        )


async def build_profile(root: Path, relay_url: str, threads: int, messages: int) -> float:
    """The profile of the docstring; returns the ms one ``Store.save_message`` of a new message takes at the end."""
    rnd = random.Random(12)
    async with Client.create(root, PASSPHRASE, relay_url, "Dr Bench", "therapist", kdf=TEST_KDF) as client:
        for n in range(threads):
            address = IdentityKeyPair.generate(os.urandom).public.address.text
            client.add_contact(f"client {n:03d}", address, token=os.urandom(32))
        store = client._store  # the fast path
        now = int(time.time() * 1000)
        for n, rec in enumerate(store.contacts()):
            _insert_thread(store, rec.contact_id, messages, n * messages + 1, now, rnd)
        probe = MessageRecord(new_message_id(os.urandom), rec.contact_id, "out", "text", "probe", now, now, "sent")
        with Stopwatch() as one, store.transaction():
            store.save_message(probe)
        with store.transaction():
            store.delete_message(probe.message_id)
    return one.seconds * 1000


def _arrival(profile: Path, store_key: bytes) -> None:
    """Store one new message through another connection (as another process receiving would)."""
    other = Store(profile / "store.db", store_key, os.urandom)
    try:
        rec = other.contacts()[0]
        now = int(time.time() * 1000)
        msg = MessageRecord(
            new_message_id(os.urandom), rec.contact_id, "in", "text", "just arrived", now, now, "unread"
        )
        with other.transaction():
            other.save_message(msg)
    finally:
        other.close()


async def _timed_get(http: aiohttp.ClientSession, url: str) -> float:
    with Stopwatch() as sw:
        async with http.get(url) as resp:
            assert resp.status == 200, resp.status
            await resp.read()
    return sw.seconds * 1000


class StallMeter:
    """The longest the event loop went without running a 1 ms timer (how long the Desk could not answer)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - before)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.worst * 1000


def _new_message(store: Store) -> None:
    """Store one new message through ``store`` (the Desk's own connection: as its live receiving would)."""
    rec = store.contacts()[1]
    now = int(time.time() * 1000)
    msg = MessageRecord(new_message_id(os.urandom), rec.contact_id, "in", "text", "live arrival", now, now, "unread")
    with store.transaction():
        store.save_message(msg)


async def measure(root: Path, repeat: int) -> dict[str, float]:
    client = await Client.open(root, PASSPHRASE)
    store_key = client._keys.store_key  # for the second connection of _arrival
    config = DeskConfig(root, open_browser=False)
    app = create_desk_app(lambda p: Client.open(root, p), config, client=client)
    result: dict[str, float] = {"rss_before_mib": round(rss_mib(), 1)}
    async with serve_desk(app) as desk:
        stalls = StallMeter()
        stalls.start()
        building = client._index_task  # the Desk started building the index in the background (prepare_index)
        assert building is not None
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            with Stopwatch() as build:
                async with http.get(desk.login_url, allow_redirects=False) as resp:  # the inbox is timed below
                    assert resp.status == 303, resp.status
                during = [await _timed_get(http, desk.url + "/") for _ in range(3)]  # at once, while it builds
                result["inbox_during_build_ms"] = round(statistics.median(during), 1)
                result["inbox_during_build_max_ms"] = round(max(during), 1)
                result["build_still_running"] = float(not building.done())
                await building
            result["index_build_s"] = round(build.seconds, 2)
            result["loop_stall_max_ms"] = round(await stalls.stop(), 1)
            result["rss_index_mib"] = round(rss_mib(), 1)
            result["first_inbox_ms"] = round(await _timed_get(http, desk.url + "/"), 1)
            inbox = [await _timed_get(http, desk.url + "/") for _ in range(repeat)]
            result["inbox_ms"] = round(statistics.median(inbox), 1)
            result["inbox_max_ms"] = round(max(inbox), 1)
            _new_message(client._store)
            result["inbox_after_own_write_ms"] = round(await _timed_get(http, desk.url + "/"), 1)
            await asyncio.to_thread(_arrival, root, store_key)
            result["inbox_after_other_process_ms"] = round(await _timed_get(http, desk.url + "/"), 1)
            await asyncio.to_thread(_arrival, root, store_key)
            result["inbox_after_other_again_ms"] = round(await _timed_get(http, desk.url + "/"), 1)
            rare = [await _timed_get(http, f"{desk.url}/search?q={RARE_WORD.upper()}") for _ in range(repeat)]
            none = [await _timed_get(http, f"{desk.url}/search?q={ABSENT_WORD}") for _ in range(repeat)]
            result["search_rare_ms"] = round(statistics.median(rare), 1)
            result["search_none_ms"] = round(statistics.median(none), 1)
            result["search_max_ms"] = round(max(rare + none), 1)
            result["rss_after_mib"] = round(rss_mib(), 1)
            for _ in range(repeat):
                await _timed_get(http, desk.url + "/")
                await _timed_get(http, f"{desk.url}/search?q={ABSENT_WORD}")
            result["rss_end_mib"] = round(rss_mib(), 1)
    return result


async def run(threads: int, messages: int, repeat: int, keep: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="confide-bench-desk-") as tmp:
        profile = keep if keep is not None else Path(tmp) / "therapist"
        result: dict[str, float] = {"threads": threads, "messages_per_thread": messages}
        if not (profile / "store.db").exists():
            relay = RelayConfig(data_dir=Path(tmp) / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
            async with start_relay(relay, host="127.0.0.1", port=0) as url:
                with Stopwatch() as build:
                    save_ms = await build_profile(profile, url, threads, messages)
            result["build_s"] = round(build.seconds, 1)
            result["save_message_ms"] = round(save_ms, 2)
        result.update(await measure(profile, repeat))  # with no relay: the Desk's live task keeps retrying
    return result


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--threads", type=int, default=200, help="threads (contacts) in the profile (default 200)")
    parser.add_argument("--messages", type=int, default=1000, help="messages per thread (default 1000)")
    parser.add_argument("--repeat", type=int, default=20, help="requests per timed measurement (default 20)")
    parser.add_argument("--keep", type=Path, help="build the profile in this folder, or reuse the one there")
    add_common_flags(parser, quick_help="50 threads x 200 messages")
    args = parser.parse_args(argv)
    threads, messages = (50, 200) if args.quick else (args.threads, args.messages)
    result = asyncio.run(run(threads, messages, args.repeat, args.keep))
    print_result(result, as_json=args.json, width=24)
    return 0


if __name__ == "__main__":
    sys.exit(main())
