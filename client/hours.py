"""Office hours, reply times and away periods as a person types them, for an availability card.

``mon-fri 09:00-17:00``, ``mon,wed 09:00-12:00,13:00-17:00`` and ``sat 10:00-24:00`` each name days (a day,
a range of days, or a list of both) and one or more blocks of wall-clock time in the card's time zone. A reply
time is a duration such as ``1d`` or ``4h``. An away period is two dates (``2026-12-01 2026-12-03``: away from
the start of the first, back at the start of the second) or two times (``2026-12-01T13:00``), read in the
card's time zone. Everything here is pure: it builds the values of
:mod:`confide.protocol.document_bodies` and raises ``ValueError`` with a message a person can act on.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from datetime import datetime

from confide.protocol.document_bodies import (
    MAX_REPLY_S,
    MINUTES_PER_DAY,
    AvailabilityCard,
    AwayNote,
    OfficeHours,
    time_zone,
)

from .timers import format_duration, parse_duration

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names as typed and shown (English, whatever the locale: a card reads the same everywhere)."""
MAX_HOURS_SPEC_LEN = 200
"""Longest single ``--hours`` text: a week of split days fits; longer input is refused before it is parsed."""

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


_LONG_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(text: str) -> int:
    """The weekday number of a short or full English day name, or -1."""
    if text in DAY_NAMES:
        return DAY_NAMES.index(text)
    if text in _LONG_NAMES:
        return _LONG_NAMES.index(text)
    return -1


def _days(text: str) -> list[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        start, end = _day(first), _day(last) if last else _day(first)
        if start < 0 or end < 0:
            raise ValueError(f"{part!r} is not a day or a range of days; use mon, tue, ... sun, e.g. mon-fri")
        if end < start:
            raise ValueError(f"the day range {part!r} runs backwards; write it from Monday on (e.g. mon-fri)")
        days.update(range(start, end + 1))
    return sorted(days)


def _minute(text: str, *, end: bool) -> int:
    m = _TIME.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a time; use HH:MM (24-hour clock)")
    hour, minute = int(m.group(1)), int(m.group(2))
    value = hour * 60 + minute
    if minute >= 60 or value > MINUTES_PER_DAY or (value == MINUTES_PER_DAY and not end):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return value


def _blocks(text: str) -> list[tuple[int, int]]:
    blocks = []
    for part in text.split(","):
        first, sep, last = part.partition("-")
        if not sep:
            raise ValueError(f"{part!r} is not a block of hours; use HH:MM-HH:MM, e.g. 09:00-17:00")
        start, end = _minute(first, end=False), _minute(last, end=True)
        if end <= start:
            raise ValueError(f"the block {part!r} ends before it starts (a block ends by midnight, 24:00)")
        blocks.append((start, end))
    return blocks


def parse_office_hours(specs: Iterable[str]) -> tuple[OfficeHours, ...]:
    """The office hours of ``specs`` (each ``DAYS TIMES``, e.g. ``"mon-fri 09:00-17:00"``), sorted by day and
    start as a card holds them.

    Raises:
        ValueError: a day, time or block that cannot be read, blocks that overlap, or more blocks than a card
            holds (:data:`~confide.protocol.document_bodies.MAX_OFFICE_HOURS`).
    """
    found: set[tuple[int, int, int]] = set()
    for spec in specs:
        if len(spec) > MAX_HOURS_SPEC_LEN:
            raise ValueError("an office-hours text is longer than any week of hours")
        words = spec.lower().split()
        if len(words) != 2:
            raise ValueError(f"{spec!r} is not office hours; use DAYS HH:MM-HH:MM, e.g. 'mon-fri 09:00-17:00'")
        for day in _days(words[0]):
            found.update((day, start, end) for start, end in _blocks(words[1]))
    ordered = sorted(found)
    for (day_a, _, end_a), (day_b, start_b, _) in itertools.pairwise(ordered):
        if day_a == day_b and end_a > start_b:
            raise ValueError(f"office hours overlap on {DAY_NAMES[day_a]}; give each hour once")
    try:
        card = AvailabilityCard("UTC", tuple(OfficeHours(d, s, e) for d, s, e in ordered), 1)
    except ValueError as exc:
        raise ValueError(f"these office hours do not fit on a card: {exc}") from None
    return card.hours


def hours_text(hours: Iterable[OfficeHours]) -> list[str]:
    """Office hours as typed: one ``day HH:MM-HH:MM[,HH:MM-HH:MM]`` line per day that has any."""
    by_day: dict[int, list[str]] = {}
    for block in hours:
        span = f"{block.start // 60:02}:{block.start % 60:02}-{block.end // 60:02}:{block.end % 60:02}"
        by_day.setdefault(int(block.day), []).append(span)
    return [f"{DAY_NAMES[day]} {','.join(spans)}" for day, spans in sorted(by_day.items())]


def parse_reply_time(text: str) -> int:
    """A promised reply time (``1d``, ``4h``, ``90m``) in seconds.

    Raises:
        ValueError: not a duration, zero, or longer than
            :data:`~confide.protocol.document_bodies.MAX_REPLY_S` (30 days).
    """
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a reply time; use e.g. 4h, 1d or 2d") from None
    if not 0 < seconds <= MAX_REPLY_S:
        raise ValueError(f"a reply time is more than nothing and at most {format_duration(MAX_REPLY_S)}")
    return seconds


def _moment(text: str, zone_name: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if moment.tzinfo is not None:
        raise ValueError(f"{text!r}: give a local date or time without an offset (read in the card's time zone)")
    try:
        return int(moment.replace(tzinfo=time_zone(zone_name)).timestamp())
    except (OverflowError, OSError):
        raise ValueError(f"{text!r} is out of range") from None


def away_period(starts: str, until: str, zone_name: str, note: str = "") -> AwayNote:
    """An away period from ``starts`` to ``until`` (``YYYY-MM-DD``: from the start of that day; or
    ``YYYY-MM-DDTHH:MM``), read in the time zone ``zone_name``, with ``note``.

    Raises:
        ValueError: a date that cannot be read, ``until`` not after ``starts``, longer than a year, a note
            that breaks the text rules or is too long, or an unknown time zone.
    """
    begin, end = _moment(starts, zone_name), _moment(until, zone_name)
    if end <= begin:
        raise ValueError("the away period ends before it starts: give FROM, then the day you are back")
    try:
        return AwayNote(begin, end, note)
    except ValueError as exc:
        raise ValueError(f"invalid away period: {exc}") from None


__all__ = [
    "DAY_NAMES",
    "MAX_HOURS_SPEC_LEN",
    "away_period",
    "hours_text",
    "parse_office_hours",
    "parse_reply_time",
]
