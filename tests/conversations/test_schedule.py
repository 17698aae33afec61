from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import pytest

from conversations.schedule import (
    WeeklySchedule,
    local_instant,
    parse_duration,
    previous_period,
    quiet_adjust,
    zone,
)
from tests.times import local, utc


def test_friday_afternoon_in_shanghai():
    occ = WeeklySchedule().latest("Asia/Shanghai", utc(2026, 11, 28, 0, 0))
    assert occ.period == "2026-W48"
    assert occ.due == local("Asia/Shanghai", 2026, 11, 27, 15, 0)
    assert occ.closes == local("Asia/Shanghai", 2026, 11, 30, 12, 0)


def test_latest_is_the_previous_week_just_before_the_due_instant():
    due = local("Europe/London", 2026, 11, 27, 15, 0)
    assert WeeklySchedule().latest("Europe/London", due).period == "2026-W48"
    assert WeeklySchedule().latest("Europe/London", due - timedelta(seconds=1)).period == "2026-W47"
    assert WeeklySchedule().next_after("Europe/London", due).due == due + timedelta(days=7)
    assert WeeklySchedule().next_after("Europe/London", due - timedelta(seconds=1)).due == due


def test_nonexistent_local_time_fires_once_at_the_first_valid_instant():
    # 2026-03-08 02:30 does not exist in New York: clocks jump from 02:00 to 03:00 EDT.
    assert local_instant(date(2026, 3, 8), time(2, 30), zone("America/New_York")) == utc(2026, 3, 8, 7, 0)
    # Lord Howe moves by half an hour: 02:00 → 02:30.
    assert local_instant(date(2026, 10, 4), time(2, 15), zone("Australia/Lord_Howe")) == utc(2026, 10, 3, 15, 30)


def test_repeated_local_time_fires_at_its_first_occurrence():
    # 2026-11-01 01:30 happens twice in New York; the first is EDT (UTC-4).
    assert local_instant(date(2026, 11, 1), time(1, 30), zone("America/New_York")) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/London", "Australia/Lord_Howe"])
def test_a_schedule_inside_the_dst_hour_fires_exactly_once_each_week(tz):
    sched = WeeklySchedule(weekday=6, at=time(2, 15), closes_weekday=0, closes_at=time(12, 0))
    seen = []
    t = utc(2026, 1, 1)
    while t < utc(2028, 1, 1):
        occ = sched.next_after(tz, t)
        seen.append(occ)
        t = occ.due
    periods = [o.period for o in seen]
    assert len(periods) == len(set(periods))
    assert all(o.due.astimezone(zone(tz)).weekday() == 6 for o in seen)
    assert all(
        b.due - a.due
        in (
            timedelta(days=7),
            timedelta(days=7, hours=-1),
            timedelta(days=7, hours=1),
            timedelta(days=7, minutes=-30),
            timedelta(days=7, minutes=30),
            timedelta(days=7, minutes=-15),
            timedelta(days=7, minutes=15),
            timedelta(days=7, minutes=-45),
            timedelta(days=7, minutes=45),
        )
        for a, b in pairwise(seen)
    )


def test_quiet_hours_move_to_eight_in_the_morning():
    tz = "Asia/Kolkata"
    assert quiet_adjust(local(tz, 2026, 11, 27, 19, 59), tz) == local(tz, 2026, 11, 27, 19, 59)
    assert quiet_adjust(local(tz, 2026, 11, 27, 20, 0), tz) == local(tz, 2026, 11, 28, 8, 0)
    assert quiet_adjust(local(tz, 2026, 11, 28, 3, 0), tz) == local(tz, 2026, 11, 28, 8, 0)
    assert quiet_adjust(local(tz, 2026, 11, 28, 8, 0), tz) == local(tz, 2026, 11, 28, 8, 0)


def test_previous_period_across_years():
    assert previous_period("2026-W48") == "2026-W47"
    assert previous_period("2027-W01") == "2026-W53"
    assert previous_period("2026-01") == "2025-12"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4h", timedelta(hours=4)),
        ("30m", timedelta(minutes=30)),
        ("1d2h", timedelta(days=1, hours=2)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "4x", "h"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_start_on_demand_takes_the_open_or_current_period_never_a_later_one():
    from conversations.schedule import MonthlySchedule, WeeklySchedule, on_demand

    london = "Europe/London"
    monthly, weekly = MonthlySchedule(), WeeklySchedule()
    # This month's review is open from Tue 1 Dec 10:00 until Tue 8 Dec 10:00.
    assert on_demand(monthly, london, datetime(2026, 12, 2, 10, tzinfo=UTC)).period == "2026-12"
    assert on_demand(monthly, london, datetime(2026, 12, 9, 10, tzinfo=UTC)) is None  # not January's
    assert on_demand(monthly, london, datetime(2027, 1, 2, 10, tzinfo=UTC)).period == "2027-01"
    # Monday morning: last week's check-in, still open; Wednesday: this week's, before it falls due.
    assert on_demand(weekly, london, datetime(2026, 12, 7, 9, tzinfo=UTC)).period == "2026-W49"
    assert on_demand(weekly, london, datetime(2026, 12, 9, 10, tzinfo=UTC)).period == "2026-W50"
