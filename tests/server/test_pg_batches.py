"""`Grouped` (server/pg_batches.py) shares statements between concurrent calls without its callers noticing.

The fake ``run`` records every invocation (its key and rows, and when it began relative to the calls) and can be
held "in flight" on an event the test controls; each answer names the invocation that produced it, so a caller
answered from the wrong statement, with another caller's rows, or out of order is caught. These tests fail if a
lone call waits for company, if callers behind a statement are not grouped into one next statement, if an answer
comes from a statement that began before its call, if keys mix or more than ``in_flight`` statements run, if a
group passes ``max_rows`` or splits a caller, if a failure (or a wrong answer count) reaches the wrong callers or
breaks the next statement, if a cancelled caller disturbs the others or leaves an unretrieved exception, if
``drain`` returns early, or if a cancelled statement leaves callers hanging or starts another at shutdown.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import warnings
from collections.abc import Awaitable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from confide.server.pg_batches import Grouped

T = TypeVar("T")

SETTLE_STEPS = 20
"""Event-loop turns :func:`_settle` yields: far more than a call needs to reach ``run`` (two: the caller's task,
then the statement's), and no time passes, so anything that waited on a timer would still be waiting."""

GIVE_UP_S = 1.0
"""How long a test waits for something that should already have happened before calling it a hang: far above the
microseconds these fakes need, far below the test suite's patience."""

STRESS_CALLERS = 300
"""Callers of the randomised order test: enough to pass many statements through every interleaving of arrivals,
releases and cancellations, still a few milliseconds."""


async def _within(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result, or TimeoutError if it takes longer than :data:`GIVE_UP_S` (a hang fails fast)."""
    return await asyncio.wait_for(awaitable, GIVE_UP_S)


async def _settle() -> None:
    """Let every task that can run, run (without letting any time pass)."""
    for _ in range(SETTLE_STEPS):
        await asyncio.sleep(0)


class FakeRun:
    """A ``run`` that records its invocations, answers ``"<row>@<invocation>"`` per row and can be held."""

    def __init__(self) -> None:
        self.calls: list[tuple[Hashable, list[int]]] = []
        self.log: list[tuple[str, int]] = []  # ("call", row) as a caller calls, ("begin", invocation) as run begins
        self.held: set[int] = set()  # invocations that wait for release()
        self.hold_all = False  # every invocation waits for release()
        self.fail: dict[int, BaseException] = {}  # invocation -> what it raises
        self.miscount: dict[int, int] = {}  # invocation -> answers too many (+) or too few (-)
        self.running = 0
        self.most_running = 0
        self._gates: dict[int, asyncio.Event] = {}

    def gate(self, invocation: int) -> asyncio.Event:
        return self._gates.setdefault(invocation, asyncio.Event())

    def release(self, invocation: int) -> None:
        self.gate(invocation).set()

    def begun(self) -> int:
        return len(self.calls)

    async def __call__(self, key: Hashable, rows: list[int]) -> list[str]:
        invocation = len(self.calls)
        self.calls.append((key, list(rows)))
        self.log.append(("begin", invocation))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.hold_all or invocation in self.held:
                await self.gate(invocation).wait()
            if invocation in self.fail:
                raise self.fail[invocation]
            answers = [f"{row}@{invocation}" for row in rows]
            extra = self.miscount.get(invocation, 0)
            if extra < 0:
                return answers[:extra]
            return answers + [f"extra@{invocation}"] * extra
        finally:
            self.running -= 1


async def _call(fake: FakeRun, grouped: Grouped[int, str], rows: list[int], key: Hashable = None) -> list[str]:
    """``grouped.call`` with the moment of the call logged (for the "began after the call" check)."""
    for row in rows:
        fake.log.append(("call", row))
    return await grouped.call(rows, key)


def _start(fake: FakeRun, grouped: Grouped[int, str], rows: list[int], key: Hashable = None) -> asyncio.Task[list[str]]:
    return asyncio.create_task(_call(fake, grouped, rows, key))


def _answers(rows: list[int], invocation: int) -> list[str]:
    return [f"{row}@{invocation}" for row in rows]


def _holding(held: set[int]) -> tuple[FakeRun, Grouped[int, str]]:
    """A fake ``run`` whose invocations ``held`` wait for release, and a Grouped of one statement in flight on it."""
    fake = FakeRun()
    fake.held = held
    return fake, Grouped(fake, name="t", in_flight=1)


def _statement_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("confide-pg-") and not t.done()]


@contextmanager
def _no_loop_complaints() -> Iterator[list[str]]:
    """Collect what asyncio would complain about (unretrieved exceptions, destroyed pending tasks, unraisable
    exceptions, warnings) while the block runs and at the garbage collection after it; the list must stay empty."""
    complaints: list[str] = []
    loop = asyncio.get_running_loop()
    old_handler = loop.get_exception_handler()
    old_hook = sys.unraisablehook
    loop.set_exception_handler(lambda _loop, context: complaints.append(str(context.get("message"))))
    sys.unraisablehook = lambda unraisable: complaints.append(f"unraisable: {unraisable.exc_value!r}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield complaints
            gc.collect()
        complaints.extend(str(w.message) for w in caught)
    finally:
        loop.set_exception_handler(old_handler)
        sys.unraisablehook = old_hook


# -- 1, 10: a lone call, an empty call ------------------------------------------------------------------------


async def test_a_lone_call_runs_at_once_without_waiting_for_company() -> None:
    fake = FakeRun()
    grouped: Grouped[int, str] = Grouped(fake, name="t")
    loop = asyncio.get_running_loop()
    timers_before = len(loop._scheduled)  # type: ignore[attr-defined]
    task = _start(fake, grouped, [7], "k")
    await asyncio.sleep(0)  # the caller's task registers the call
    await asyncio.sleep(0)  # the statement's task begins
    assert fake.calls == [("k", [7])], "a lone call must reach run within the loop turn, not after a timer"
    assert len(loop._scheduled) == timers_before, "no timer may be armed for a lone call"  # type: ignore[attr-defined]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert task.done(), "a lone call must be answered without any time passing"
    assert task.result() == ["7@0"]


async def test_empty_rows_answer_nothing_without_a_statement() -> None:
    fake = FakeRun()
    grouped: Grouped[int, str] = Grouped(fake, name="t")
    assert await _within(grouped.call([])) == []
    assert await _within(grouped.call([], "k")) == []
    fake.hold_all = True
    held = _start(fake, grouped, [1])
    await _settle()
    assert await asyncio.wait_for(grouped.call([]), GIVE_UP_S) == [], "an empty call never waits for a statement"
    assert fake.calls == [(None, [1])]
    fake.release(0)
    assert await _within(held) == ["1@0"]
    await _settle()
    assert fake.calls == [(None, [1])], "an empty call must not leave rows (or an empty statement) behind"


# -- 2, 3: grouping behind a statement in flight, answers from a statement that began after the call ---------


async def test_callers_arriving_during_a_statement_share_exactly_one_next_statement() -> None:
    fake, grouped = _holding({0, 1})
    first = _start(fake, grouped, [0])
    await _settle()
    callers_rows = [[1], [2, 3], [4], [5, 6, 7], [8], [9, 10]]
    callers = []
    for rows in callers_rows:
        callers.append(_start(fake, grouped, rows))
        await asyncio.sleep(0)  # arrivals spread over loop turns, all while statement 0 is in flight
    await _settle()
    assert fake.begun() == 1, "nothing may start while the one statement allowed is in flight"
    fake.release(0)
    await _settle()
    assert fake.begun() == 2
    assert fake.calls[1] == (None, [row for rows in callers_rows for row in rows]), "one statement, in call order"
    fake.release(1)
    answers = await _within(asyncio.gather(*callers))
    assert await _within(first) == ["0@0"]
    for rows, got in zip(callers_rows, answers, strict=True):
        assert got == _answers(rows, 1), "each caller gets exactly its own answers, in order"
    await _settle()
    assert fake.begun() == 2, "exactly two statements for N callers behind one held statement"


@pytest.mark.parametrize("late_row", [2, 1], ids=["other rows", "the rows in flight again"])
async def test_no_caller_is_answered_from_a_statement_that_began_before_its_call(late_row: int) -> None:
    """A call made while statement 0 runs is decided by a later statement, even when it asks what statement 0
    already asks: the tempting shortcut (sharing the answer in flight) would miss a write committed in between."""
    fake, grouped = _holding({0})
    early = _start(fake, grouped, [1])
    await _settle()
    late = _start(fake, grouped, [late_row])
    await _settle()
    fake.release(0)
    assert await _within(early) == ["1@0"]
    assert await _within(late) == [f"{late_row}@1"]
    assert fake.calls == [(None, [1]), (None, [late_row])]


@pytest.mark.parametrize("in_flight", [1, 2, 3])
async def test_randomised_arrivals_every_answer_comes_from_a_later_statement(in_flight: int) -> None:
    """Callers arrive, statements end and callers give up at random; every answer must be the caller's own rows,
    from one statement that began after the call, of the caller's key, and never more than in_flight ran."""
    rng = random.Random(1000 + in_flight)  # a reproducible schedule
    fake = FakeRun()
    fake.hold_all = True
    grouped: Grouped[int, str] = Grouped(fake, name="t", in_flight=in_flight, max_rows=6)
    callers: list[tuple[Hashable, list[int], asyncio.Task[list[str]]]] = []
    next_row = 0
    released = 0
    for _ in range(STRESS_CALLERS):
        action = rng.random()
        if action < 0.55:
            rows = list(range(next_row, next_row + rng.randint(1, 4)))
            next_row += len(rows)
            key: Hashable = rng.choice(["a", "b", None])
            callers.append((key, rows, _start(fake, grouped, rows, key)))
        elif action < 0.9 and released < fake.begun():
            fake.release(released)
            released += 1
        elif callers and action >= 0.97:
            callers[rng.randrange(len(callers))][2].cancel()
        for _ in range(rng.randint(0, 3)):
            await asyncio.sleep(0)
    fake.hold_all = False
    for invocation in range(fake.begun() + len(callers)):
        fake.release(invocation)
    await asyncio.wait_for(grouped.drain(), GIVE_UP_S)
    results = await _within(asyncio.gather(*(task for _, _, task in callers), return_exceptions=True))

    begun_at = {inv: at for at, (what, inv) in enumerate(fake.log) if what == "begin"}
    called_at = {row: at for at, (what, row) in enumerate(fake.log) if what == "call"}
    answered = 0
    for (caller_key, rows, _), result in zip(callers, results, strict=True):
        if isinstance(result, asyncio.CancelledError):
            continue
        assert isinstance(result, list), result
        answered += 1
        invocations = {answer.split("@")[1] for answer in result}
        assert len(invocations) == 1, f"a caller's rows were split over statements {invocations}"
        invocation = int(invocations.pop())
        assert result == _answers(rows, invocation), "a caller got rows or answers that are not its own"
        assert fake.calls[invocation][0] == caller_key, "a statement carried a caller of another key"
        assert begun_at[invocation] > called_at[rows[0]], "answered from a statement that began before the call"
    assert answered > STRESS_CALLERS // 3
    assert fake.most_running <= in_flight
    assert fake.begun() < answered, "under this load statements must be shared"


# -- 4: keys and in_flight -------------------------------------------------------------------------------------


async def test_different_keys_never_share_a_statement_even_when_waiting_together() -> None:
    fake, grouped = _holding({0})
    first = _start(fake, grouped, [0], "a")
    await _settle()
    a = [_start(fake, grouped, [1], "a"), _start(fake, grouped, [3], "a")]
    b = [_start(fake, grouped, [2], "b"), _start(fake, grouped, [4], "b")]
    await _settle()
    fake.release(0)
    await _within(asyncio.gather(first, *a, *b))
    assert sorted((str(key), rows) for key, rows in fake.calls) == [("a", [0]), ("a", [1, 3]), ("b", [2, 4])]


async def test_in_flight_two_runs_two_statements_at_once_never_three() -> None:
    fake = FakeRun()
    fake.hold_all = True
    grouped: Grouped[int, str] = Grouped(fake, name="t", in_flight=2)
    tasks = [_start(fake, grouped, [i], key) for i, key in enumerate(["a", "b", "c", "a", "b", "c"])]
    await _settle()
    assert fake.running == 2, "in_flight=2 must run two statements at once"
    assert [key for key, _ in fake.calls] == ["a", "b"]
    fake.release(0)
    await _settle()
    assert fake.running == 2, "a slot freed must be taken by the next statement, and only one"
    fake.release(1)
    await _settle()
    fake.hold_all = False
    for invocation in range(6):
        fake.release(invocation)
    await _within(asyncio.gather(*tasks))
    assert fake.most_running == 2, "never three statements at once"
    for key, rows in fake.calls:
        assert {["a", "b", "c"][row % 3] for row in rows} == {key}, "a statement mixed keys"


# -- 5: max_rows ---------------------------------------------------------------------------------------------


async def test_groups_stay_within_max_rows_without_splitting_a_caller() -> None:
    fake = FakeRun()
    fake.held = {0}
    grouped: Grouped[int, str] = Grouped(fake, name="t", in_flight=1, max_rows=4)
    first = _start(fake, grouped, [0])
    await _settle()
    sizes = [1, 2, 2, 1, 3, 6, 1, 4, 1]  # 6 is larger than max_rows: it must go alone, and whole
    callers: list[tuple[list[int], asyncio.Task[list[str]]]] = []
    row = 1
    for size in sizes:
        rows = list(range(row, row + size))
        row += size
        callers.append((rows, _start(fake, grouped, rows)))
    await _settle()
    fake.release(0)
    await _within(asyncio.gather(first, *(task for _, task in callers)))
    assert [rows for _, rows in fake.calls] == [
        [0],
        [1, 2, 3],  # 1 + 2 callers' rows; the next caller's 2 would make 5
        [4, 5, 6],  # 2 + 1; the next 3 would make 6
        [7, 8, 9],  # 3; the next 6 would make 9
        [10, 11, 12, 13, 14, 15],  # one caller larger than max_rows: alone, and not split
        [16],  # 1; the next 4 would make 5
        [17, 18, 19, 20],
        [21],
    ], "groups must be greedy in call order, within max_rows, of whole callers"
    for rows, task in callers:
        got = task.result()
        invocation = int(got[0].split("@")[1])
        assert got == _answers(rows, invocation), "a caller was split or mis-answered"


# -- 6, 7: failures ------------------------------------------------------------------------------------------


class StatementFailed(Exception):
    pass


async def test_a_failing_statement_fails_exactly_its_callers_and_the_next_one_works() -> None:
    fake = FakeRun()
    fake.held = {0, 1}
    fake.fail = {1: StatementFailed("serialization failure")}
    grouped: Grouped[int, str] = Grouped(fake, name="t", in_flight=1)
    first = _start(fake, grouped, [0])
    await _settle()
    doomed = [_start(fake, grouped, [1]), _start(fake, grouped, [2, 3])]
    await _settle()
    fake.release(0)
    await _settle()
    assert fake.calls[1] == (None, [1, 2, 3])
    fine = [_start(fake, grouped, [4]), _start(fake, grouped, [5])]  # behind the failing statement
    await _settle()
    fake.release(1)
    results = await _within(asyncio.gather(*doomed, return_exceptions=True))
    assert all(isinstance(result, StatementFailed) for result in results), results
    assert await _within(first) == ["0@0"]
    assert await _within(asyncio.gather(*fine)) == [["4@2"], ["5@2"]], (
        "callers of the next statement must be unaffected"
    )
    assert await _within(grouped.call([6])) == ["6@3"], "the Grouped keeps working after a failure"


@pytest.mark.parametrize("extra", [-1, 1, -3])
async def test_a_wrong_number_of_answers_fails_every_caller_of_the_statement(extra: int) -> None:
    fake = FakeRun()
    fake.held = {0}
    fake.miscount = {1: extra}
    grouped: Grouped[int, str] = Grouped(fake, name="t", in_flight=1)
    first = _start(fake, grouped, [0])
    await _settle()
    victims = [_start(fake, grouped, [1]), _start(fake, grouped, [2]), _start(fake, grouped, [3])]
    await _settle()
    fake.release(0)
    results = await _within(asyncio.gather(*victims, return_exceptions=True))
    assert all(isinstance(result, RuntimeError) for result in results), f"an answer was mis-assigned: {results}"
    assert await _within(first) == ["0@0"]
    assert await _within(grouped.call([4])) == ["4@2"]


# -- 8: callers that give up ---------------------------------------------------------------------------------


async def test_a_caller_giving_up_does_not_disturb_the_others_nor_leave_complaints() -> None:
    with _no_loop_complaints() as complaints:
        fake = FakeRun()
        fake.held = {0, 1, 2}
        grouped: Grouped[int, str] = Grouped(fake, name="t", in_flight=1)
        first = _start(fake, grouped, [0])
        await _settle()
        before = _start(fake, grouped, [1])
        cancelled = _start(fake, grouped, [2, 3])
        timed_out = asyncio.create_task(asyncio.wait_for(_call(fake, grouped, [4]), 0.001))
        after = _start(fake, grouped, [5])
        await _settle()
        cancelled.cancel()
        await asyncio.sleep(0.01)  # the wait_for times out while its call waits behind statement 0
        assert timed_out.done()
        fake.release(0)
        await _settle()
        in_flight_cancelled = _start(fake, grouped, [6])  # waits behind statement 1, then gives up in 2
        await _settle()
        fake.release(1)
        await _settle()
        in_flight_cancelled.cancel()
        await _settle()
        assert fake.calls[2] == (None, [6])
        fake.release(2)
        await _settle()
        assert await _within(first) == ["0@0"]
        assert await _within(before) == ["1@1"]
        assert await _within(after) == ["5@1"]
        with pytest.raises(asyncio.CancelledError):
            await _within(cancelled)
        with pytest.raises(TimeoutError):
            await _within(timed_out)
        with pytest.raises(asyncio.CancelledError):
            await _within(in_flight_cancelled)
        next_invocation = fake.begun()
        assert await _within(grouped.call([7])) == [f"7@{next_invocation}"]
        del cancelled, timed_out, in_flight_cancelled
    assert complaints == []


async def test_callers_giving_up_on_a_failing_statement_leave_no_unretrieved_exception() -> None:
    with _no_loop_complaints() as complaints:
        fake = FakeRun()
        fake.held = {0, 1}
        fake.fail = {1: StatementFailed("deadlock detected")}
        grouped: Grouped[int, str] = Grouped(fake, name="t", in_flight=1)
        first = _start(fake, grouped, [0])
        await _settle()
        stays = _start(fake, grouped, [1])
        leaves = _start(fake, grouped, [2])
        await _settle()
        fake.release(0)
        await _settle()
        leaves.cancel()
        await _settle()
        fake.release(1)
        with pytest.raises(StatementFailed):
            await _within(stays)
        with pytest.raises(asyncio.CancelledError):
            await _within(leaves)
        assert await _within(first) == ["0@0"]
        # a cancel arriving in the same turn as the failure: the exception must still count as retrieved
        fake.held = {2}
        fake.fail[2] = StatementFailed("again")
        racing = _start(fake, grouped, [3])
        await _settle()
        fake.release(2)
        await asyncio.sleep(0)  # the statement sets the exception ...
        racing.cancel()  # ... and the caller is cancelled before it wakes up
        with pytest.raises((StatementFailed, asyncio.CancelledError)):
            await _within(racing)
        del stays, leaves, racing
    assert complaints == []


# -- 9: drain and cancelled statements -----------------------------------------------------------------------


async def test_drain_waits_for_the_statement_in_flight_and_those_queued_behind_it() -> None:
    fake, grouped = _holding({0, 1})
    first = _start(fake, grouped, [0])
    await _settle()
    queued = _start(fake, grouped, [1])
    await _settle()
    draining = asyncio.create_task(grouped.drain())
    await _settle()
    assert not draining.done(), "drain returned with a statement in flight"
    fake.release(0)
    await _settle()
    assert fake.begun() == 2
    assert not draining.done(), "drain returned with the statement queued behind still to run"
    fake.release(1)
    await asyncio.wait_for(draining, GIVE_UP_S)
    assert first.done(), "drain returned before its callers were answered"
    assert queued.done(), "drain returned before its callers were answered"
    assert queued.result() == ["1@1"]
    await asyncio.wait_for(grouped.drain(), GIVE_UP_S)  # nothing left: returns at once


async def test_a_cancelled_statement_cancels_its_callers_and_those_queued_behind_it() -> None:
    """Only a shutdown cancels a statement: its callers and those queued behind are cancelled (none hangs), and no
    statement starts for them."""
    fake, grouped = _holding({0, 1})
    first = _start(fake, grouped, [0])
    await _settle()
    mine = [_start(fake, grouped, [1]), _start(fake, grouped, [2])]
    await _settle()
    fake.release(0)
    await _settle()
    assert fake.calls[1] == (None, [1, 2])
    behind = [_start(fake, grouped, [3]), _start(fake, grouped, [4], "other key")]
    await _settle()
    [statement] = _statement_tasks()
    statement.cancel()  # as the relay's shutdown (or the loop's) would
    results = await _within(asyncio.gather(*mine, *behind, return_exceptions=True))
    assert all(isinstance(result, asyncio.CancelledError) for result in results), results
    assert await _within(first) == ["0@0"]
    await _within(grouped.drain())
    await _settle()
    assert fake.begun() == 2, "a statement was begun for callers of a cancelled statement's queue"


def test_shutdown_cancelling_a_statement_starts_nothing_and_leaves_no_pending_task() -> None:
    """The loop's own shutdown (asyncio.run's, here a Runner's) cancels the statement and its callers: no statement
    may begin then (it would run for nobody, and be destroyed pending when the loop closes)."""
    complaints: list[str] = []
    calls: list[list[int]] = []

    async def main() -> None:
        async def run(_key: Hashable, rows: list[int]) -> list[str]:
            calls.append(rows)
            await asyncio.Event().wait()  # held until cancelled
            return [str(row) for row in rows]

        grouped: Grouped[int, str] = Grouped(run, name="t", in_flight=1)
        asyncio.create_task(grouped.call([1]))  # noqa: RUF006 - left to the runner's shutdown on purpose
        await _settle()
        asyncio.create_task(grouped.call([2]))  # noqa: RUF006
        await _settle()
        # returning leaves both callers and the statement to the runner's shutdown, which cancels them

    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: complaints.append(f"unraisable: {unraisable.exc_value!r}")
    try:
        with asyncio.Runner() as runner:
            runner.get_loop().set_exception_handler(lambda _loop, ctx: complaints.append(str(ctx.get("message"))))
            runner.run(main())
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    assert calls == [[1]], "a statement was begun during shutdown for callers that had been cancelled"
    assert complaints == []


async def test_a_key_with_more_waiting_than_a_statement_takes_does_not_starve_another_key() -> None:
    """Key "busy" keeps more rows waiting than ``max_rows``; a call of key "quiet" arriving behind them runs in
    the very next statement, not after every "busy" row."""
    fake = FakeRun()
    fake.hold_all = True
    grouped: Grouped[int, str] = Grouped(fake, name="t", in_flight=1, max_rows=2)
    first = _start(fake, grouped, [0], key="busy")
    await _settle()
    busy = [_start(fake, grouped, [row], key="busy") for row in range(1, 9)]
    await _settle()
    quiet = _start(fake, grouped, [100], key="quiet")
    await _settle()
    fake.release(0)
    await _settle()
    fake.release(1)  # the first "busy" group behind statement 0
    await _settle()
    assert fake.calls[2] == ("quiet", [100])
    for invocation in range(2, 8):
        fake.release(invocation)
        await _settle()
    assert await _within(quiet) == _answers([100], 2)
    assert [await _within(task) for task in (first, *busy)] == [
        _answers([0], 0),
        *(_answers([row], invocation) for row, invocation in zip(range(1, 9), [1, 1, 3, 3, 4, 4, 5, 5], strict=True)),
    ]
