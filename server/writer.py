"""Group commit: one writer task turns the writes of many concurrent requests into one transaction.

Requests :meth:`GroupCommitWriter.submit` an operation (a function of the connection) and await its result.
The writer takes every operation pending at that moment, runs each inside its own SAVEPOINT within one
``BEGIN IMMEDIATE`` ... ``COMMIT``, and resolves the futures only after COMMIT returned, so no request is
answered before its data is committed. Under load, one commit serves dozens of requests; idle, a lone
request commits at once. SQLite runs inline on the event loop thread: transactions are short (prepared
statements, no I/O beyond SQLite's own), and a single thread is the single writer.
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

SCRUB_INTERVAL_S = 0.25
"""Least time between two scrubs (WAL checkpoint and truncation after a commit that deleted ciphertext). An
idle relay scrubs right after the deleting commit; under a steady stream of acks the scrubs are coalesced to
at most four a second, so a deleted ciphertext leaves the files within this interval plus one commit, and the
checkpoints (one fsync each) cost the writer a few milliseconds a second, not one checkpoint per commit."""


class GroupCommitWriter:
    """The single writer of one SQLite connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        on_rollback: Callable[[], None],
        scrub: Callable[[], bool] | None = None,
        scrub_interval_s: float = SCRUB_INTERVAL_S,
    ) -> None:
        self._conn = conn
        self._on_rollback = on_rollback
        self._scrub = scrub
        self._scrub_interval = scrub_interval_s
        self._scrub_at: float | None = None
        self._last_scrub = float("-inf")
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

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
        """Run the ``scrub`` callable between transactions soon: right after the current commit if the last
        scrub is :data:`SCRUB_INTERVAL_S` old, else when it is (several requests make one scrub). Called by
        operations that delete ciphertext; harmless if their transaction then fails."""
        if self._scrub is not None and self._scrub_at is None:
            self._scrub_at = self._last_scrub + self._scrub_interval
            self._wake.set()

    async def stop(self) -> None:
        """Commit what is pending, then stop the writer task."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._scrub_at is None:
                await self._wake.wait()
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
                self._run_scrub(loop.time())
            if self._closing:
                return

    def _run_scrub(self, now: float) -> None:
        assert self._scrub is not None
        self._scrub_at = None
        self._last_scrub = now
        try:
            done = self._scrub()
        except sqlite3.Error as exc:
            _log.error("relay write-ahead log scrub failed: %s", type(exc).__name__)
            done = False
        if not done:  # a reader kept the log busy: try again one interval later
            self._scrub_at = now + self._scrub_interval

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
