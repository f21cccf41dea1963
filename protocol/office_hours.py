"""What a client shows about a therapist's availability card, computed in the client's own time zone.

Pure: the card, the therapist's display name, the client's IANA zone and ``now`` go in; whether the therapist
is in office hours, away, when office hours next open, and one English line come out, e.g.
``Dr. Rivera usually replies within one day; away until 3 Dec``. Office hours are read in the card's time zone
(a block is wall-clock time there, across daylight-saving changes); dates and times shown are in the client's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .document_bodies import MAX_TIMESTAMP, AvailabilityCard, check_int, time_zone

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""English names, not ``strftime``'s: the line must not depend on the process's locale."""
_WEEK_DAYS = 8
"""Days searched for the next opening: a weekly schedule repeats within seven, plus today."""


@dataclass(frozen=True, slots=True)
class Availability:
    """A card as one client sees it at one moment.

    ``in_office_hours`` is false while away. ``next_opening`` is the next start of office hours (after any
    away period) in the client's time zone, ``None`` when in office hours now or when the card lists none.
    ``line`` is the sentence to show when writing (it quotes the therapist's name: escape it when rendering).
    """

    in_office_hours: bool
    away: bool
    next_opening: datetime | None
    line: str


def _in_hours(card: AvailabilityCard, zone: ZoneInfo, at: int) -> bool:
    local = datetime.fromtimestamp(at, zone)
    minute = local.hour * 60 + local.minute
    return any(b.day == local.weekday() and b.start <= minute < b.end for b in card.hours)


def _next_opening(card: AvailabilityCard, zone: ZoneInfo, after: int) -> int | None:
    """The first moment at or after ``after`` that is inside office hours, or ``None`` without hours."""
    if not card.hours:
        return None
    if _in_hours(card, zone, after):
        return after
    today = datetime.fromtimestamp(after, zone).date()
    best: int | None = None
    for offset in range(_WEEK_DAYS):
        day = today + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        for block in card.hours:
            if block.day != day.weekday():
                continue
            start = int((midnight + timedelta(minutes=block.start)).timestamp())  # wall-clock in the card's zone
            if start > after and (best is None or start < best):
                best = start
    return best


def reply_time_text(seconds: int) -> str:
    """``seconds`` as an English duration rounded up: ``one hour``, ``3 hours``, ``one day``, ``2 days``.

    Raises:
        ValueError: ``seconds`` is not positive.
    """
    check_int("reply time", seconds, 1, 2**32 - 1)
    for unit, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= unit or unit == 60:
            count = math.ceil(seconds / unit)
            return f"one {name}" if count == 1 else f"{count} {name}s"
    raise AssertionError("unreachable")  # pragma: no cover


def _date_text(moment: datetime, today: datetime) -> str:
    text = f"{moment.day} {_MONTHS[moment.month - 1]}"
    return text if moment.year == today.year else f"{text} {moment.year}"


def availability(card: AvailabilityCard, *, therapist_name: str, client_zone: str, now: int) -> Availability:
    """How ``card`` reads for a client in ``client_zone`` at ``now`` (unix seconds).

    The line is ``<name> usually replies within <duration>``, then ``; away until <date>`` while away (the
    away period's end, in the client's zone, with the year when it is not this year), else ``; in office
    hours now``, else ``; next office hours <Mon> <HH:MM>`` (client's zone) when the card lists hours.

    Raises:
        ValueError: ``client_zone`` is not an IANA time zone name, or ``now`` is out of range.
    """
    check_int("now", now, 0, MAX_TIMESTAMP)
    mine, theirs = time_zone(client_zone), card.zone
    away = card.away is not None and card.away.starts_at <= now < card.away.ends_at
    resume = card.away.ends_at if away and card.away is not None else now
    in_hours = not away and _in_hours(card, theirs, now)
    opening = None if in_hours else _next_opening(card, theirs, resume)
    next_opening = datetime.fromtimestamp(opening, mine) if opening is not None else None
    today = datetime.fromtimestamp(now, mine)
    line = f"{therapist_name} usually replies within {reply_time_text(card.reply_within_s)}"
    if away and card.away is not None:
        line += f"; away until {_date_text(datetime.fromtimestamp(card.away.ends_at, mine), today)}"
    elif in_hours:
        line += "; in office hours now"
    elif next_opening is not None:
        line += f"; next office hours {_DAYS[next_opening.weekday()]} {next_opening:%H:%M}"
    return Availability(in_hours, away, next_opening, line)


__all__ = ["Availability", "availability", "reply_time_text"]
