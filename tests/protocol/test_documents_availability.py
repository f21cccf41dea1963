"""What a client sees of a therapist's availability card, in its own time zone (``protocol/office_hours.py``).

The sample card (``tests/vectors/gen/documents.py``): America/Los_Angeles, Monday to Thursday 09:00-12:00 and
13:00-17:30, Friday 09:00-13:00, replies within a day, away from NOW + 10 days to NOW + 19 days (3 Dec 2023,
22:13 UTC). NOW is Tuesday 14 Nov 2023, 22:13:20 UTC (14:13 in Los Angeles).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from confide.protocol import AvailabilityCard, AwayNote, OfficeHours, availability
from confide.protocol.office_hours import reply_time_text

from ..vectors.gen.common import NOW
from ..vectors.gen.documents import DAY, world


def _card() -> AvailabilityCard:
    body = world().card.body
    assert isinstance(body, AvailabilityCard)
    return body


CARD = _card()


def ts(text: str) -> int:
    """Unix seconds of an ISO time with its offset."""
    return int(datetime.fromisoformat(text).timestamp())


def test_in_office_hours_now() -> None:
    seen = availability(CARD, therapist_name="Dr. Rivera", client_zone="Europe/London", now=NOW)
    assert seen.in_office_hours is True
    assert seen.away is False
    assert seen.next_opening is None
    assert seen.line == "Dr. Rivera usually replies within one day; in office hours now"


def test_away_shows_the_return_date_in_the_clients_zone() -> None:
    seen = availability(CARD, therapist_name="Dr. Rivera", client_zone="Europe/London", now=NOW + 10 * DAY)
    assert seen.away is True
    assert seen.in_office_hours is False
    assert seen.line == "Dr. Rivera usually replies within one day; away until 3 Dec"
    # back on Sunday 3 Dec: the next opening is Monday 09:00 in LA, 17:00 in London
    assert seen.next_opening is not None
    assert seen.next_opening.timestamp() == ts("2023-12-04T09:00:00-08:00")
    assert (seen.next_opening.hour, str(seen.next_opening.tzinfo)) == (17, "Europe/London")


def test_away_dates_follow_the_clients_zone() -> None:
    """3 Dec 22:13 UTC is already 4 Dec in Tokyo."""
    seen = availability(CARD, therapist_name="Dr. Rivera", client_zone="Asia/Tokyo", now=NOW + 11 * DAY)
    assert seen.line == "Dr. Rivera usually replies within one day; away until 4 Dec"


def test_an_away_period_that_has_not_started_is_not_shown() -> None:
    seen = availability(CARD, therapist_name="Dr. Rivera", client_zone="UTC", now=NOW + 10 * DAY - 1)
    assert seen.away is False
    assert seen.line == "Dr. Rivera usually replies within one day; next office hours Mon 17:00"  # Fri 14:13 in LA


def test_next_opening_outside_office_hours() -> None:
    # Tuesday 14 Nov, 18:00 in LA (closed since 17:30): opens Wednesday 09:00 LA = 18:00 Berlin
    now = ts("2023-11-14T18:00:00-08:00")
    seen = availability(CARD, therapist_name="Dr. Rivera", client_zone="Europe/Berlin", now=now)
    assert seen.in_office_hours is False
    assert seen.next_opening is not None
    assert seen.next_opening.timestamp() == ts("2023-11-15T09:00:00-08:00")
    assert (seen.next_opening.hour, seen.next_opening.minute) == (18, 0)
    assert seen.line == "Dr. Rivera usually replies within one day; next office hours Wed 18:00"


def test_the_lunch_break_and_block_edges() -> None:
    at = ts("2023-11-14T12:00:00-08:00")  # a block ends at 12:00 (exclusive)
    assert availability(CARD, therapist_name="T", client_zone="UTC", now=at).in_office_hours is False
    assert availability(CARD, therapist_name="T", client_zone="UTC", now=at - 1).in_office_hours is True
    opening = availability(CARD, therapist_name="T", client_zone="UTC", now=at).next_opening
    assert opening is not None
    assert opening.timestamp() == ts("2023-11-14T13:00:00-08:00")


def test_the_weekend_waits_for_monday() -> None:
    now = ts("2023-11-17T13:00:00-08:00")  # Friday, closed at 13:00
    seen = availability(CARD, therapist_name="Dr. Rivera", client_zone="America/Los_Angeles", now=now)
    assert seen.next_opening is not None
    assert seen.next_opening.timestamp() == ts("2023-11-20T09:00:00-08:00")
    assert seen.line == "Dr. Rivera usually replies within one day; next office hours Mon 09:00"


def test_office_hours_are_wall_clock_time_in_the_cards_zone_across_daylight_saving() -> None:
    """Europe left summer time on 29 Oct 2023, the US on 5 Nov: that week LA is 8 hours behind Berlin, not 9."""
    sunday = ts("2023-10-29T17:00:00-07:00")
    first = availability(CARD, therapist_name="T", client_zone="Europe/Berlin", now=sunday).next_opening
    assert first is not None
    assert (first.day, first.hour) == (30, 17)
    a_week_later = availability(
        CARD, therapist_name="T", client_zone="Europe/Berlin", now=sunday + 7 * DAY
    ).next_opening
    assert a_week_later is not None
    assert (a_week_later.day, a_week_later.hour) == (6, 18)


def test_a_block_in_the_spring_forward_gap_still_opens() -> None:
    card = AvailabilityCard("America/New_York", (OfficeHours(6, 120, 180),), 3600)  # Sunday 02:00-03:00
    now = ts("2024-03-09T12:00:00-05:00")  # the Saturday before clocks skip 02:00-03:00
    seen = availability(card, therapist_name="T", client_zone="UTC", now=now)
    assert seen.next_opening is not None
    assert seen.next_opening.timestamp() == ts("2024-03-10T07:00:00+00:00")  # 02:00 read at the EST offset


def test_a_card_without_hours() -> None:
    card = AvailabilityCard("UTC", (), 2 * 3600)
    seen = availability(card, therapist_name="Sam", client_zone="UTC", now=NOW)
    assert seen == type(seen)(False, False, None, "Sam usually replies within 2 hours")


def test_an_away_period_into_next_year_shows_the_year() -> None:
    card = AvailabilityCard("UTC", (), DAY, AwayNote(NOW, ts("2024-01-03T10:00:00+00:00"), "Holidays"))
    assert availability(card, therapist_name="Sam", client_zone="UTC", now=NOW).line == (
        "Sam usually replies within one day; away until 3 Jan 2024"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "one minute"),
        (60, "one minute"),
        (61, "2 minutes"),
        (3599, "60 minutes"),
        (3600, "one hour"),
        (3601, "2 hours"),
        (86399, "24 hours"),
        (86400, "one day"),
        (90000, "2 days"),
        (30 * 86400, "30 days"),
    ],
)
def test_reply_time_text(seconds: int, text: str) -> None:
    assert reply_time_text(seconds) == text


def test_a_bad_client_zone_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="time zone"):
        availability(CARD, therapist_name="T", client_zone="Not/AZone", now=NOW)


def test_away_during_office_hours_is_not_in_office_hours() -> None:
    monday = NOW + 13 * DAY  # Monday 27 Nov, 14:13 in LA: inside a block, but away
    seen = availability(CARD, therapist_name="Dr. Rivera", client_zone="America/Los_Angeles", now=monday)
    assert (seen.in_office_hours, seen.away) == (False, True)
    assert seen.line == "Dr. Rivera usually replies within one day; away until 3 Dec"
