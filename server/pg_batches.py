"""Statements shared by concurrent requests: the same kind of work of many requests of one process in one round trip.

On PostgreSQL most of a small statement's cost is the statement's own, not its rows': the round trip (on this
machine the socket writes alone were a quarter of a relay's CPU), the server's parse, plan and execute, and for a
write the commit and its write-ahead-log flush. :class:`Grouped` turns the calls that requests of one process make
at the same time into few statements: at most ``in_flight`` run at once, and the calls that arrive meanwhile wait
and go together in the next one. A lone call runs at once (no timer); under load one statement carries many. It
is the SQLite writer's group commit (:mod:`.writer`) for a database that takes several writers.

Two promises make a shared statement invisible to its callers:

- **A call's answer comes from a statement that began after the call.** A read sees every write its caller (or
  anyone) committed before calling; a write is committed before its caller is answered.
- **Within a statement, rows are decided one after another in call order**, each as a statement of its own would
  decide it (the SQL functions of ``pg_migrations``' ``0004_one_round_trip`` loop over their rows), so a call
  cannot tell whether it shared a statement.

A statement that fails fails every call in it, and (one transaction) none of them changed anything. A caller that
gives up waiting (its client went away) may still have its row decided, as a request cancelled after its commit
would; a send's retry with the same envelope id is then answered as a duplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

A = TypeVar("A")
R = TypeVar("R")

MAX_STATEMENTS_IN_FLIGHT = 1
"""Statements of one kind one process runs at once by default: one, as SQLite's single writer. The rows of a
statement then grow with the load, and PostgreSQL's work per envelope shrinks with them (bench/relay.py, one
process, 16 senders: 1.3-1.4 commits per envelope over every kind at 1 in flight, 2.0 at 2, 2.9 at 4; 1,068,
767 and 601 envelopes/s). A statement held up (by a mailbox's lock, a table's rewrite) holds up the calls of its
kind behind it, as it would hold up a SQLite writer; a process's statements of different kinds still overlap."""

MAX_ROWS_PER_STATEMENT = 512
"""Rows in one statement at most (a batch send's 100 envelopes and more): bounds one statement's locks and time to
a few milliseconds, so one large group does not hold up the rows it locks for long."""

Run = Callable[[Hashable, list[A]], Awaitable[list[R]]]


class Grouped(Generic[A, R]):
    """Groups concurrent :meth:`call` s into calls of ``run(key, rows)`` (one statement each, answering one result
    per row, in order), at most ``in_flight`` at once; calls with different keys never share one."""

    def __init__(
        self,
        run: Run[A, R],
        *,
        name: str,
        in_flight: int = MAX_STATEMENTS_IN_FLIGHT,
        max_rows: int = MAX_ROWS_PER_STATEMENT,
    ) -> None:
        self._run = run
        self._name = name
        self._in_flight = in_flight
        self._max = max_rows
        self._waiting: dict[Hashable, list[tuple[list[A], asyncio.Future[list[R]]]]] = {}
        self._running: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        waiting = sum(map(len, self._waiting.values()))
        return f"Grouped({self._name}, running={len(self._running)}, waiting={waiting})"

    async def call(self, rows: list[A], key: Hashable = None) -> list[R]:
        """``run(key, rows)``'s answers for ``rows``, from a statement that began after this call and may carry
        other calls' rows too.

        Raises:
            Whatever ``run`` raised for the statement ``rows`` went in (it changed nothing).
        """
        if not rows:
            return []
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((rows, future))
        self._start()
        return await future

    async def drain(self) -> None:
        """Wait until every statement started or waiting has ended (at close)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _start(self) -> None:
        while self._waiting and len(self._running) < self._in_flight:
            key = next(iter(self._waiting))
            queue = self._waiting[key]
            group = [queue.pop(0)]
            count = len(group[0][0])
            while queue and count + len(queue[0][0]) <= self._max:
                count += len(queue[0][0])
                group.append(queue.pop(0))
            del self._waiting[key]
            if queue:  # to the back: another key's calls go next, none waits behind a busy key for ever
                self._waiting[key] = queue
            task = asyncio.create_task(self._statement(key, group), name=f"confide-pg-{self._name}")
            self._running.add(task)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            self._start()
            return
        # Only a shutdown cancels a statement: the calls queued behind it are cancelled too (none hangs, and no
        # statement starts for callers that are going away).
        waiting, self._waiting = self._waiting, {}
        for queue in waiting.values():
            for _, future in queue:
                future.cancel()

    async def _statement(self, key: Hashable, group: list[tuple[list[A], asyncio.Future[list[R]]]]) -> None:
        try:
            rows = [row for rows, _ in group for row in rows]
            results = await self._run(key, rows)
            if len(results) != len(rows):
                raise RuntimeError(f"{self._name}: {len(results)} answers for {len(rows)} rows")
        except BaseException as exc:  # every call of the statement learns of it; the task itself ends quietly
            for _, future in group:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):  # the relay is closing
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            at = 0
            for mine, future in group:
                if not future.done():
                    future.set_result(results[at : at + len(mine)])
                at += len(mine)
