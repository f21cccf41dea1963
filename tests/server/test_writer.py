"""The group-commit writer keeps committing while the slow part of a scrub runs in a worker thread.

Before this, the whole checkpoint (copy the log into the database, flush both, truncate) ran on the event
loop between two transactions: under a steady stream of acknowledgements it stopped every request for about
20 ms four times a second, and the delivery latency's tail doubled. These tests fail if the fold runs on the
loop again, or if the truncation no longer waits for the fold.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from confide.server.writer import GroupCommitWriter

FOLD_S = 0.3
"""How long the test's fold blocks its worker thread: far longer than a commit, so overlap is unmistakable."""


def _conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (v INTEGER)")
    return conn


async def test_commits_go_on_while_the_fold_runs_and_the_scrub_waits_for_it() -> None:
    loop_thread = threading.get_ident()
    events: list[tuple[str, float]] = []
    fold_threads: list[int] = []

    def fold() -> None:
        fold_threads.append(threading.get_ident())
        events.append(("fold start", time.monotonic()))
        time.sleep(FOLD_S)
        events.append(("fold end", time.monotonic()))

    def scrub() -> bool:
        events.append(("scrub", time.monotonic()))
        return True

    writer = GroupCommitWriter(_conn(), lambda: None, scrub, scrub_interval_s=0.0, fold=fold)
    writer.start()
    try:
        await writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        writer.request_scrub()
        await asyncio.sleep(0.05)  # the fold has started in its thread
        started = time.monotonic()
        for i in range(20):

            def insert(c: sqlite3.Connection, i: int = i) -> None:
                c.execute("INSERT INTO t VALUES (?)", (i,))

            await writer.submit(insert)
        committing = time.monotonic() - started
        for _ in range(100):
            if any(name == "scrub" for name, _ in events):
                break
            await asyncio.sleep(0.02)
    finally:
        await writer.stop()

    assert fold_threads, "the fold never ran"
    assert fold_threads[0] != loop_thread, "the fold ran on the event loop"
    assert committing < FOLD_S / 3, f"commits waited for the fold ({committing * 1000:.0f} ms)"
    names = [name for name, _ in events]
    assert names == ["fold start", "fold end", "scrub"], names
    assert events[2][1] >= events[1][1]


async def test_stop_waits_for_a_running_fold_then_scrubs() -> None:
    done = threading.Event()
    scrubbed: list[bool] = []

    def fold() -> None:
        time.sleep(0.1)
        done.set()

    def scrub() -> bool:
        scrubbed.append(done.is_set())
        return True

    writer = GroupCommitWriter(_conn(), lambda: None, scrub, scrub_interval_s=0.0, fold=fold)
    writer.start()
    writer.request_scrub()
    await asyncio.sleep(0.01)
    await writer.stop()
    assert scrubbed == [True]


async def test_a_failed_fold_still_ends_in_the_scrub() -> None:
    scrubbed: list[float] = []

    def fold() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    def scrub() -> bool:
        scrubbed.append(time.monotonic())
        return True

    writer = GroupCommitWriter(_conn(), lambda: None, scrub, fold=fold)
    writer.start()
    try:
        writer.request_scrub()
        for _ in range(50):
            if scrubbed:
                break
            await asyncio.sleep(0.02)
    finally:
        await writer.stop()
    assert scrubbed, "the truncating scrub did not run after a failed fold"


async def test_the_scrub_runs_off_the_loop_and_no_transaction_overlaps_it() -> None:
    loop_thread = threading.get_ident()
    scrub_threads: list[int] = []
    in_scrub = threading.Event()
    overlapped: list[bool] = []

    def scrub() -> bool:
        scrub_threads.append(threading.get_ident())
        in_scrub.set()
        time.sleep(FOLD_S)
        in_scrub.clear()
        return True

    def op(conn: sqlite3.Connection) -> None:
        overlapped.append(in_scrub.is_set())
        conn.execute("INSERT INTO t VALUES (1)")

    writer = GroupCommitWriter(_conn(), lambda: None, scrub, scrub_interval_s=0.0)
    writer.start()
    try:
        scrubbing = asyncio.ensure_future(writer.scrub_now())
        await asyncio.sleep(0.05)
        assert in_scrub.is_set()
        ticks = 0
        committed = asyncio.ensure_future(writer.submit(op))
        while not committed.done():  # the loop is free while the scrub runs
            await asyncio.sleep(0.01)
            ticks += 1
        assert await scrubbing is True
    finally:
        await writer.stop()
    assert scrub_threads, "the scrub never ran"
    assert scrub_threads[0] != loop_thread, "the scrub ran on the event loop"
    assert overlapped == [False], "a transaction ran while the log was being truncated"
    assert ticks >= 10, f"the event loop was blocked during the scrub ({ticks} ticks)"


async def test_scrub_now_reports_a_busy_log_and_the_writer_retries() -> None:
    outcomes = [False, True]
    calls: list[float] = []

    def scrub() -> bool:
        calls.append(time.monotonic())
        return outcomes[min(len(calls) - 1, 1)]

    writer = GroupCommitWriter(_conn(), lambda: None, scrub, scrub_interval_s=0.05)
    writer.start()
    try:
        assert await writer.scrub_now() is False
        for _ in range(50):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await writer.stop()
    assert len(calls) >= 2, "the writer did not retry a busy scrub"
    assert calls[1] - calls[0] >= 0.04
