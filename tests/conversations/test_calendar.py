"""Working days and working time: public holidays, China's make-up working days, the org's own days, hours."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.calendar import (
    WorkCalendar,
    away_from_status,
    is_working_day,
    is_working_time,
    next_working_time,
    parse_hours,
    week_has_working_day,
    working_occurrence,
)
from conversations.clock import UTC
from conversations.schedule import MonthlySchedule, WeeklySchedule, zone
from tests.times import local

GB = WorkCalendar(country="GB")
CN = WorkCalendar(country="CN")


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# The State Council's schedule for 2026 (国务院办公厅关于2026年部分节假日安排的通知, 4 November 2025):
# (days off, in full), and the weekend days that are working days (上班).
CN_2026_OFF = [
    *_days(date(2026, 1, 1), date(2026, 1, 3)),  # 元旦
    *_days(date(2026, 2, 15), date(2026, 2, 23)),  # 春节, 9 days
    *_days(date(2026, 4, 4), date(2026, 4, 6)),  # 清明节
    *_days(date(2026, 5, 1), date(2026, 5, 5)),  # 劳动节
    *_days(date(2026, 6, 19), date(2026, 6, 21)),  # 端午节
    *_days(date(2026, 9, 25), date(2026, 9, 27)),  # 中秋节
    *_days(date(2026, 10, 1), date(2026, 10, 7)),  # 国庆节
]
CN_2026_MAKEUP = [
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
]


def test_china_2026_matches_the_state_council_schedule():
    assert [d for d in CN_2026_OFF if is_working_day(CN, d)] == []
    assert [d for d in CN_2026_MAKEUP if not is_working_day(CN, d)] == []
    # …and every other day of 2026 is an ordinary weekday or weekend
    others = [d for d in _days(date(2026, 1, 1), date(2026, 12, 31)) if d not in CN_2026_OFF + CN_2026_MAKEUP]
    assert [d for d in others if is_working_day(CN, d) != (d.weekday() < 5)] == []


def test_china_2027_statutory_days_are_known_but_no_make_up_days_yet():
    # The 2027 schedule (its 调休) is not in the holiday data we ship: the statutory days are, and no weekend is a
    # working day. Published make-up days go into the org file's `calendar.workdays` until the package has them.
    assert not is_working_day(CN, date(2027, 1, 1))  # 元旦, a Friday
    assert not is_working_day(CN, date(2027, 10, 1))  # 国庆节
    assert all(not is_working_day(CN, d) for d in _days(date(2027, 1, 1), date(2027, 12, 31)) if d.weekday() >= 5)
    with_makeup = WorkCalendar(country="CN", workdays=frozenset({date(2027, 2, 20)}))
    assert is_working_day(with_makeup, date(2027, 2, 20))


def test_custom_holidays_and_workdays_win_over_the_country():
    cal = WorkCalendar(country="GB", holidays=frozenset({date(2026, 12, 24)}), workdays=frozenset({date(2026, 12, 26)}))
    assert not is_working_day(cal, date(2026, 12, 24))
    assert is_working_day(cal, date(2026, 12, 26))  # a Saturday and Boxing Day, but the org works
    assert is_working_day(WorkCalendar(), date(2026, 12, 25))  # no country: only weekends are off


def _friday(day: date, tz: str = "Europe/London"):
    return WeeklySchedule().latest(tz, local(tz, day.year, day.month, day.day, 16, 0))


def test_christmas_check_in_moves_to_thursday_for_gb():
    occ = _friday(date(2026, 12, 25))
    moved = working_occurrence(occ, GB, "Europe/London", weekly=True)
    assert moved is not None and moved.due == local("Europe/London", 2026, 12, 24, 15, 0)
    assert (moved.period, moved.closes) == (occ.period, occ.closes)


def test_new_years_day_2027_moves_to_new_years_eve():
    occ = _friday(date(2027, 1, 1))
    moved = working_occurrence(occ, GB, "Europe/London", weekly=True)
    assert moved is not None and moved.due == local("Europe/London", 2026, 12, 31, 15, 0)


def test_spring_festival_week_has_no_check_in_in_china():
    occ = _friday(date(2026, 2, 20), "Asia/Shanghai")
    assert working_occurrence(occ, CN, "Asia/Shanghai", weekly=True) is None
    assert not week_has_working_day(CN, "2026-W08")
    assert week_has_working_day(GB, "2026-W08")


def test_golden_week_moves_back_to_wednesday_and_the_week_after_is_normal():
    tz = "Asia/Shanghai"
    first = working_occurrence(_friday(date(2026, 10, 2), tz), CN, tz, weekly=True)
    assert first is not None and first.due == local(tz, 2026, 9, 30, 15, 0)
    second = _friday(date(2026, 10, 9), tz)
    assert working_occurrence(second, CN, tz, weekly=True) == second


def test_a_week_whose_only_working_day_is_after_friday_uses_it():
    tz = "Asia/Shanghai"
    cal = WorkCalendar(
        holidays=frozenset(_days(date(2026, 12, 7), date(2026, 12, 11))), workdays=frozenset({date(2026, 12, 12)})
    )
    moved = working_occurrence(_friday(date(2026, 12, 11), tz), cal, tz, weekly=True)
    assert moved is not None and moved.due == local(tz, 2026, 12, 12, 15, 0)


def test_monthly_review_moves_forward_off_a_holiday():
    tz = "Asia/Shanghai"
    occ = MonthlySchedule().latest(tz, local(tz, 2026, 10, 20, 0, 0))  # first Tuesday: 6 October, a holiday
    moved = working_occurrence(occ, CN, tz, weekly=False)
    assert moved is not None and moved.due == local(tz, 2026, 10, 8, 10, 0)


def test_working_time():
    tz = "Europe/London"
    assert is_working_time(GB, tz, local(tz, 2026, 12, 2, 9, 0))
    assert not is_working_time(GB, tz, local(tz, 2026, 12, 2, 18, 0))
    assert not is_working_time(GB, tz, local(tz, 2026, 12, 2, 4, 0))
    assert not is_working_time(WorkCalendar(country="GB", away=True), tz, local(tz, 2026, 12, 2, 10, 0))
    assert next_working_time(GB, tz, local(tz, 2026, 12, 2, 4, 0)) == local(tz, 2026, 12, 2, 9, 0)
    assert next_working_time(GB, tz, local(tz, 2026, 12, 4, 19, 0)) == local(tz, 2026, 12, 7, 9, 0)
    assert next_working_time(GB, tz, local(tz, 2026, 12, 24, 18, 30)) == local(tz, 2026, 12, 29, 9, 0)
    # A make-up Saturday in China is a working day
    assert next_working_time(CN, "Asia/Shanghai", local("Asia/Shanghai", 2026, 10, 9, 19, 0)) == local(
        "Asia/Shanghai", 2026, 10, 10, 9, 0
    )


def test_a_calendar_without_working_days_holds_nothing_back():
    never = WorkCalendar(holidays=frozenset(_days(date(2026, 1, 1), date(2028, 12, 31))))
    at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert next_working_time(never, "UTC", at) == at


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    st.sampled_from(["GB", "CN", "US", None]),
    st.sampled_from(["Europe/London", "Asia/Shanghai", "America/New_York", "Australia/Lord_Howe"]),
)
def test_next_working_time_is_the_first_working_instant(naive, country, tz):
    cal = WorkCalendar(country=country)
    at = naive.replace(tzinfo=UTC)
    nxt = next_working_time(cal, tz, at)
    assert nxt >= at and is_working_time(cal, tz, nxt)
    if nxt > at:  # nothing earlier on the way was working time: check the hour before it
        assert not is_working_time(cal, tz, max(at, nxt - timedelta(minutes=1)))


@pytest.mark.parametrize(
    "emoji,text,away",
    [
        (":palm_tree:", "", True),
        (":face_with_thermometer:", "", True),
        ("", "On vacation until Monday", True),
        ("", "Out of office", True),
        ("", "OOO", True),
        ("", "休假中", True),
        (":coffee:", "Focus time", False),
        ("", "Zoom", False),
        ("", "", False),
        ("", "Mooo cow", False),
    ],
)
def test_away_status(emoji, text, away):
    assert away_from_status(emoji, text, 0, datetime(2026, 12, 2, tzinfo=UTC)) is away


def test_an_expired_status_says_nothing():
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert not away_from_status(":palm_tree:", "", int(now.timestamp()) - 60, now)
    assert away_from_status(":palm_tree:", "", int(now.timestamp()) + 60, now)


def test_parse_hours():
    assert parse_hours("09:00-18:00") == (time(9), time(18))
    assert parse_hours("8:30 – 17:00") == (time(8, 30), time(17))
    for bad in ("18:00-09:00", "9-5", "nine to five"):
        with pytest.raises(ValueError):
            parse_hours(bad)
    assert zone("Asia/Shanghai")


@settings(max_examples=150, deadline=None)
@given(st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)), st.sampled_from(["GB", "CN", "US", None]))
def test_a_moved_check_in_is_the_last_working_day_before_friday_in_its_week(day, country):
    tz = "Asia/Shanghai" if country == "CN" else "Europe/London"
    cal = WorkCalendar(country=country)
    occ = WeeklySchedule().for_period_containing(tz, local(tz, day.year, day.month, day.day, 12, 0))
    moved = working_occurrence(occ, cal, tz, weekly=True)
    friday = occ.due.astimezone(zone(tz)).date()
    week = [friday - timedelta(days=4) + timedelta(days=i) for i in range(7)]
    if moved is None:
        assert not any(is_working_day(cal, d) for d in week)
        return
    moved_day = moved.due.astimezone(zone(tz)).date()
    assert is_working_day(cal, moved_day) and moved_day in week and moved.period == occ.period
    before = [d for d in week if d <= friday and is_working_day(cal, d)]
    assert moved_day == (before[-1] if before else min(d for d in week if is_working_day(cal, d)))
