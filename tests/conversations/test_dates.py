"""Days and moments as people type them (`/pause`, the console's `/clock`): relative forms in English and Chinese,
and properties that hold for anything typed."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.commands import parse_pause
from conversations.dates import parse_day, parse_moment, split_week, week_code, week_monday
from conversations.schedule import zone

WEDNESDAY = date(2026, 12, 2)
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=zone("Europe/London"))  # a Wednesday


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("until next monday", date(2026, 12, 7)),
        ("next monday", date(2026, 12, 7)),
        ("mon", date(2026, 12, 7)),
        ("until fri", date(2026, 12, 4)),
        ("Friday", date(2026, 12, 4)),
        ("wed", date(2026, 12, 9)),  # never today
        ("until +2w", date(2026, 12, 16)),
        ("2w", date(2026, 12, 16)),
        ("+3d", date(2026, 12, 5)),
        ("10d", date(2026, 12, 12)),
        ("1w2d", date(2026, 12, 11)),
        ("in 2 weeks", date(2026, 12, 16)),
        ("3 days", date(2026, 12, 5)),
        ("tomorrow", date(2026, 12, 3)),
        ("until 2027-01-04", date(2027, 1, 4)),
        ("2027年1月4日", date(2027, 1, 4)),
        ("下周一", date(2026, 12, 7)),
        ("直到下周五", date(2026, 12, 11)),
        ("周五", date(2026, 12, 4)),
        ("星期三", date(2026, 12, 9)),
        ("两周", date(2026, 12, 16)),
        ("到两周后", date(2026, 12, 16)),
        ("3天", date(2026, 12, 5)),
        ("十天", date(2026, 12, 12)),
        ("明天", date(2026, 12, 3)),
        ("后天", date(2026, 12, 4)),
        ("Ｕｎｔｉｌ　ｎｅｘｔ　ｍｏｎｄａｙ", date(2026, 12, 7)),  # full-width, as some keyboards type it
    ],
)
def test_pause_reads_relative_days_in_both_languages(typed, expected):
    assert parse_pause(typed, WEDNESDAY) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "until 2026-12-01",
        "today",
        "今天",
        "until 2026-12-02",
        "1m",
        "4h",
        "soon",
        "这周一",
        "",
        "until",
        "2026-02-30",
        "0d",
        "99999d",
        "十十天",
    ],
)
def test_pause_refuses_what_is_not_a_later_day(typed):
    assert parse_pause(typed, WEDNESDAY) is None


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("fri 15:00", datetime(2026, 12, 4, 15, 0)),
        ("wed 15:00", datetime(2026, 12, 2, 15, 0)),  # later today
        ("wed 09:00", datetime(2026, 12, 9, 9, 0)),  # already past today: next week's
        ("+3d", datetime(2026, 12, 5, 12, 0)),
        ("+2h30m", datetime(2026, 12, 2, 14, 30)),
        ("next monday 09:00", datetime(2026, 12, 7, 9, 0)),
        ("next monday", datetime(2026, 12, 7, 12, 0)),
        ("tomorrow 9:00", datetime(2026, 12, 3, 9, 0)),
        ("15:00", datetime(2026, 12, 2, 15, 0)),
        ("09:00", datetime(2026, 12, 3, 9, 0)),
        ("明天 9点", datetime(2026, 12, 3, 9, 0)),
        ("下周一9点半", datetime(2026, 12, 7, 9, 30)),
        ("周五 15：00", datetime(2026, 12, 4, 15, 0)),
        ("2027-01-04 09:00", datetime(2027, 1, 4, 9, 0)),
        ("2026-11-27 15:00", datetime(2026, 11, 27, 15, 0)),  # an explicit past date is read; the console refuses it
    ],
)
def test_clock_reads_days_and_times_in_the_members_zone(typed, expected):
    assert parse_moment(typed, NOON) == expected.replace(tzinfo=zone("Europe/London"))


@pytest.mark.parametrize("typed", ["", "yesterday", "today", "25:00", "fri 24:00", "+", "+soon", "mon 9:75"])
def test_clock_refuses_what_it_cannot_read(typed):
    assert parse_moment(typed, NOON) is None


RELATIVE_DAYS = st.one_of(
    st.sampled_from(
        [
            "mon",
            "tue",
            "wed",
            "thu",
            "fri",
            "sat",
            "sun",
            "monday",
            "next friday",
            "tomorrow",
            "明天",
            "后天",
            "周一",
            "周日",
            "星期六",
            "下周一",
            "下周日",
            "下下周三",
            "两周",
            "一周",
            "十天",
            "三天后",
        ]
    ),
    st.integers(1, 3000).map(lambda n: f"{n}d"),
    st.integers(1, 400).map(lambda n: f"+{n}w"),
    st.integers(1, 99).map(lambda n: f"in {n} days"),
    st.integers(1, 99).map(lambda n: f"{n}天"),
)
DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))
ZONES = st.sampled_from(["Europe/London", "America/New_York", "Asia/Shanghai", "Pacific/Auckland", "UTC"])


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=40), today=DAYS)
def test_pause_never_raises_and_a_day_it_gives_is_after_today(text, today):
    found = parse_pause(text, today)
    assert found is None or found > today


@settings(max_examples=300, deadline=None)
@given(text=RELATIVE_DAYS, prefix=st.sampled_from(["", "until ", "到"]), today=DAYS)
def test_every_relative_day_is_read_and_after_today(text, prefix, today):
    found = parse_pause(prefix + text, today)
    assert found is not None and found > today
    assert parse_day(text, today) == found


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(max_size=40), at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)), tz=ZONES
)
def test_clock_never_raises(text, at, tz):
    parse_moment(text, at.replace(tzinfo=zone(tz)) if tz != "UTC" else at.replace(tzinfo=zone("UTC")))


@settings(max_examples=300, deadline=None)
@given(
    text=RELATIVE_DAYS,
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    tz=ZONES,
)
def test_a_relative_day_and_time_is_always_ahead_of_the_clock(text, hour, minute, at, tz):
    now = at.replace(tzinfo=zone(tz))
    found = parse_moment(f"{text} {hour}:{minute:02d}", now)
    assert found is not None and found > now and found - now < timedelta(days=3660 + 8)


# ------------------------------------------------------------------------------------------ weeks (`/note`, `/me flag`)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("last week wins It was Bo's idea", ("2026-W48", "wins It was Bo's idea")),
        ("Last Week 2 x", ("2026-W48", "2 x")),
        ("this week mood 4", ("2026-W49", "mood 4")),
        ("the week before last wins x", ("2026-W47", "wins x")),
        ("上周 亮点 其实是 Bo 的主意", ("2026-W48", "亮点 其实是 Bo 的主意")),
        ("上周亮点 其实是", ("2026-W48", "亮点 其实是")),  # Chinese is often typed without a space
        ("上上周 心情 4", ("2026-W47", "心情 4")),
        ("本周 心情 4", ("2026-W49", "心情 4")),
        ("2026-11-25 wins x", ("2026-W48", "wins x")),
        ("2026年11月25日 亮点 x", ("2026-W48", "亮点 x")),
        ("11月25日 亮点 x", ("2026-W48", "亮点 x")),
        ("11月29号 亮点 x", ("2026-W48", "亮点 x")),
        ("25 Nov wins x", ("2026-W48", "wins x")),
        ("Nov 25th wins x", ("2026-W48", "wins x")),
        ("25 december wins x", ("2025-W52", "wins x")),  # a day without a year is the latest one not after today
        ("2026-W48 wins x", ("2026-W48", "wins x")),
        ("w48 2 x", ("2026-W48", "2 x")),  # the codes still work
    ],
)
def test_a_week_is_read_as_people_say_it(typed, expected):
    assert split_week(typed, WEDNESDAY) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "wins x",
        "lastweek wins",
        "last weekend x",
        "2026-W60 wins",
        "31 Feb wins",
        "2026-13-01 wins",
        "",
        "上个月 亮点",
        "25 wins",
    ],
)
def test_what_is_not_a_week_is_left_as_typed(typed):
    assert split_week(typed, WEDNESDAY) == (None, typed.strip())


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_reading_a_week_never_raises_and_keeps_the_rest_as_typed(typed):
    period, rest = split_week(typed, WEDNESDAY)
    assert rest in typed
    if period is not None:
        assert week_monday(period) is not None and week_code(week_monday(period)) == period
