"""Group commit: one writer task turns the writes of many concurrent requests into one transaction.

Requests :meth:`GroupCommitWriter.submit` an operation (a function of the connection) and await its result.
The writer takes every operation pending at that moment, runs each inside its own SAVEPOINT within one
``BEGIN IMMEDIATE`` ... ``COMMIT``, and resolves the futures only after COMMIT returned, so no request is
answered before its data is committed. Under load, one commit serves dozens of requests; idle, a lone
request commits at once. SQLite runs inline on the event loop thread: transactions are short (prepared
statements, no I/O beyond SQLite's own), and a single thread is the single writer.

The scrub after deleting commits never runs on the loop: it has a slow part that needs no pause (copying the
log's pages into the database and flushing both files: up to tens of milliseconds under load), ``fold``, run
in a worker thread while the writer goes on committing; and a part SQLite only does with no transaction open
(truncating the log, whose blocks the file system frees: a few milliseconds), ``scrub``, run in a worker
thread while the writer waits for it instead of committing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import Unavailable

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

_log = logging.getLogger(__name__)

MAX_OPS_PER_TRANSACTION = 2048
"""Bounds one transaction (and so the time the loop spends in SQLite at once) to a few milliseconds."""

SCRUB_INTERVAL_S = 0.1
"""Least time between two scrubs (WAL fold and truncation after a commit that deleted ciphertext). An idle
relay scrubs right after the deleting commit; under a steady stream of acks the scrubs are coalesced to at most
ten a second, so a deleted ciphertext leaves the files within this interval plus one fold and one commit. The
writer pauses for each truncation, which costs about a millisecond per MiB of log the file system frees: short
intervals keep each pause short (measured at 1,500 deliveries/s: delivery p99 18-25 ms at 0.1 s, 31-35 ms at
0.25 s; docs/BENCHMARKS.md)."""


class GroupCommitWriter:
    """The single writer of one SQLite connection.

    ``scrub`` (truncate the log) and ``fold`` (copy it into the database) run in a worker thread, each on a
    connection of its own, never on ``conn``: ``fold`` while transactions go on, then ``scrub`` while none is
    open and none begins (requests keep arriving and queue; reads and pushes go on).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        on_rollback: Callable[[], None],
        scrub: Callable[[], bool] | None = None,
        scrub_interval_s: float = SCRUB_INTERVAL_S,
        fold: Callable[[], object] | None = None,
    ) -> None:
        self._conn = conn
        self._on_rollback = on_rollback
        self._scrub = scrub
        self._fold = fold
        self._folding: asyncio.Future[object] | None = None
        self._scrub_interval = scrub_interval_s
        self._scrub_at: float | None = None
        self._scrub_waiters: list[asyncio.Future[bool]] = []
        self._last_scrub = float("-inf")
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def running(self) -> bool:
        """Started and not stopping."""
        return self._task is not None and not self._closing

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="confide-writer")

    async def submit(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in the next transaction; return its result after COMMIT.

        Raises:
            Unavailable: the writer is shutting down.
            Any exception ``op`` raised (its savepoint was rolled back; other operations are unaffected).
        """
        return await self.enqueue(op)

    def enqueue(self, op: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``op`` now, behind every operation queued before it; the future resolves as :meth:`submit`.

        Raises:
            Unavailable: the writer is shutting down.
        """
        if self._closing:
            raise Unavailable("the relay is shutting down; retry in a moment")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        self._wake.set()
        return fut

    def request_scrub(self) -> None:
        """Fold and scrub soon: right after the current commit if the last scrub is :data:`SCRUB_INTERVAL_S`
        old, else when it is (several requests make one scrub). Called by operations that delete ciphertext;
        harmless if their transaction then fails."""
        if self._scrub is not None and self._scrub_at is None:
            self._scrub_at = self._last_scrub + self._scrub_interval
            self._wake.set()

    async def scrub_now(self) -> bool:
        """Fold and scrub after the current transaction, whatever the interval; True if the log was emptied
        (False: a reader kept it, and the writer retries one interval later).

        Raises:
            Unavailable: the writer is not running.
        """
        if self._scrub is None:
            return True
        if not self.running:
            raise Unavailable("the relay database is not open")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._scrub_waiters.append(waiter)
        self._scrub_at = loop.time()
        self._wake.set()
        return await waiter

    async def stop(self) -> None:
        """Commit what is pending, finish a requested scrub, then stop the writer task."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._scrub_at is None or self._folding is not None:
                await self._wake.wait()  # a fold's end sets it too
            else:
                delay = self._scrub_at - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_OPS_PER_TRANSACTION]
                del self._pending[:MAX_OPS_PER_TRANSACTION]
                self._commit(batch)
                if self._pending:
                    await asyncio.sleep(0)
            if self._scrub_at is not None and (self._closing or loop.time() >= self._scrub_at):
                if self._fold is not None and self._folding is None:
                    self._folding = loop.run_in_executor(None, self._fold)
                    self._folding.add_done_callback(lambda _: self._wake.set())
                if self._closing and self._folding is not None:
                    await asyncio.wait({self._folding})
                if self._folding is None or self._folding.done():
                    self._end_fold()
                    await self._run_scrub(loop)
            if self._closing:
                return

    def _end_fold(self) -> None:
        folding, self._folding = self._folding, None
        if folding is not None and folding.exception() is not None:
            # The scrub after it folds whatever the worker did not; it fails (and retries) on its own.
            _log.error("relay write-ahead log fold failed: %s", type(folding.exception()).__name__)

    async def _run_scrub(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run ``scrub`` in a worker thread; no transaction begins until it returns (this task is the writer)."""
        assert self._scrub is not None
        self._scrub_at = None
        waiters, self._scrub_waiters = self._scrub_waiters, []
        try:
            done = bool(await loop.run_in_executor(None, self._scrub))
        except sqlite3.Error as exc:
            _log.error("relay write-ahead log scrub failed: %s", type(exc).__name__)
            done = False
        self._last_scrub = loop.time()
        if not done and self._scrub_at is None:  # a reader kept the log busy: try again one interval later
            self._scrub_at = self._last_scrub + self._scrub_interval
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(done)

    def _commit(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        conn = self._conn
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, fut in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result = op(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    outcomes.append((fut, None, exc))
                else:
                    outcomes.append((fut, result, None))
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _log.error("relay database transaction failed: %s", type(exc).__name__)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._on_rollback()
            failure = Unavailable("the relay could not store this right now; retry later")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(failure)
            return
        for fut, result, err in outcomes:
            if fut.done():
                continue
            if err is None:
                fut.set_result(result)
            else:
                fut.set_exception(err)
