"""Company calendars: which days are working days for a member, and which instants are their working time.

`is_working_time` is THE rule: every scheduling path (check-ins, reviews, reminders, snoozes, digests and every DM
that is not an answer to something the person just did) asks it, through `next_working_time` or
`working_occurrence`. Pure: a calendar and an instant in, a decision out. Public holidays come from the `holidays`
package (data it ships, per country and year; for China it includes the State Council's make-up working days, 调休,
for the years it knows), plus the organisation's own `holidays:` and `workdays:` lists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays as holiday_data

from conversations.schedule import Occurrence, local_instant, zone

WORK_START = time(9, 0)
WORK_END = time(18, 0)
SEARCH_DAYS = 400  # a calendar without a working day for this long has none: nothing is held back for ever


@dataclass(frozen=True)
class WorkCalendar:
    """One member's working calendar: their country's public holidays, the organisation's own days and hours."""

    country: str | None = None  # ISO 3166 code (GB, CN, US…); None: weekends only
    holidays: frozenset[date] = frozenset()  # the organisation's extra days off
    workdays: frozenset[date] = frozenset()  # the organisation's extra working days (on a weekend or holiday)
    start: time = WORK_START
    end: time = WORK_END
    away: bool = False  # their chat status says they are away (Slack): no prompts until it clears


def is_known_country(code: str) -> bool:
    return code.upper() in holiday_data.list_supported_countries()


@lru_cache(maxsize=512)
def _public(country: str, year: int) -> tuple[frozenset[date], frozenset[date], frozenset[int]]:
    """(days off, weekend days that are working days, weekday numbers of the weekend) of one country and year."""
    data = holiday_data.country_holidays(country, years=year)
    makeup = frozenset(d for d in getattr(data, "weekend_workdays", ()) if d.year == year)
    weekend = frozenset(getattr(data, "weekend", (5, 6)))
    return frozenset(d for d in data if d.year == year), makeup, weekend


def is_working_day(cal: WorkCalendar, day: date) -> bool:
    """A working day for this calendar: the organisation's lists first, then the country's, then the weekend."""
    if day in cal.workdays:
        return True
    if day in cal.holidays:
        return False
    if cal.country:
        off, makeup, weekend = _public(cal.country, day.year)
        if day in makeup:
            return True
        return day not in off and day.weekday() not in weekend
    return day.weekday() < 5


def is_working_time(cal: WorkCalendar, tz_name: str, instant: datetime) -> bool:
    """Is `instant` in the member's working time (a working day, between start and end, and not away)?"""
    if cal.away:
        return False
    local = instant.astimezone(zone(tz_name))
    return is_working_day(cal, local.date()) and cal.start <= local.time().replace(tzinfo=None) < cal.end


def next_working_time(cal: WorkCalendar, tz_name: str, instant: datetime) -> datetime:
    """The first instant at or after `instant` that is working time (ignoring `away`, which clears on its own).

    A calendar with no working day in the next `SEARCH_DAYS` days holds nothing back: `instant` is returned."""
    plain = replace(cal, away=False)
    if is_working_time(plain, tz_name, instant):
        return instant
    tz = zone(tz_name)
    day = instant.astimezone(tz).date()
    for i in range(SEARCH_DAYS):
        d = day + timedelta(days=i)
        if not is_working_day(cal, d):
            continue
        start = local_instant(d, cal.start, tz)
        if start >= instant:
            return start
        if instant < local_instant(d, cal.end, tz):
            return instant  # (only in a DST oddity; the check above catches the ordinary case)
    return instant


def working_occurrence(occ: Occurrence, cal: WorkCalendar, tz_name: str, *, weekly: bool) -> Occurrence | None:
    """Where a scheduled occurrence really falls for this member, or None when it does not happen at all.

    Weekly: on a day off it moves to the member's last working day of that ISO week before it (else the first
    one after it in that week, such as a make-up Saturday); a week without a working day has no occurrence.
    Monthly: it moves forward to the next working day while its window is open."""
    tz = zone(tz_name)
    local = occ.due.astimezone(tz)
    day, at = local.date(), local.time().replace(tzinfo=None)
    if is_working_day(cal, day):
        return occ
    if weekly:
        monday = day - timedelta(days=day.weekday())
        before = [day - timedelta(days=i) for i in range(1, (day - monday).days + 1)]
        after = [day + timedelta(days=i) for i in range(1, 7 - day.weekday())]
        candidates = before + after
    else:
        candidates = [day + timedelta(days=i) for i in range(1, max((occ.closes - occ.due).days, 0) + 1)]
    for d in candidates:
        if is_working_day(cal, d):
            due = local_instant(d, at, tz)
            if due < occ.closes:
                return replace(occ, due=due)
    return None


def parse_hours(text: str) -> tuple[time, time]:
    """`09:00-18:00` (or with `–`/`~`): the start and end of the working day."""
    from conversations.schedule import parse_time_of_day

    parts = str(text).replace("–", "-").replace("~", "-").split("-")
    if len(parts) != 2:
        raise ValueError(f"working hours must look like 09:00-18:00, not {text!r}")
    start, end = parse_time_of_day(parts[0]), parse_time_of_day(parts[1])
    if start >= end:
        raise ValueError(f"working hours must end after they start: {text!r}")
    return start, end


@dataclass(frozen=True)
class CalendarSettings:
    """The organisation's calendar (`defaults.country` and `calendar:` in the org file)."""

    country: str | None = None  # for members without their own `country:`
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    start: time = WORK_START
    end: time = WORK_END
    away_status: bool = False  # Slack: hold prompts while a member's status says they are away

    def for_member(self, country: str | None, *, away: bool = False) -> WorkCalendar:
        return WorkCalendar(
            country=(country or self.country or None),
            holidays=self.holidays,
            workdays=self.workdays,
            start=self.start,
            end=self.end,
            away=away,
        )


AWAY_EMOJI = frozenset({":palm_tree:", ":face_with_thermometer:"})
AWAY_WORDS = ("vacation", "out of office", "ooo", "休假")


def away_from_status(emoji: str | None, text: str | None, expires: int | None, now: datetime) -> bool:
    """Does a chat status say its owner is away (on holiday, ill)? An expired status says nothing."""
    if expires and expires > 0 and expires <= now.timestamp():
        return False
    if (emoji or "").strip() in AWAY_EMOJI:
        return True
    words = (text or "").casefold()
    return any(w in words if not w.isascii() else _has_word(words, w) for w in AWAY_WORDS)


def _has_word(text: str, word: str) -> bool:
    import re

    return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) is not None


def week_has_working_day(cal: WorkCalendar, period: str) -> bool:
    """Has the ISO week `2026-W52` at least one working day on this calendar? (If not, it has no check-in.)"""
    year, week = period.split("-W")
    monday = date.fromisocalendar(int(year), int(week), 1)
    return any(is_working_day(cal, monday + timedelta(days=i)) for i in range(7))


def pause_in_force(paused_until: date | None, today: date) -> date | None:
    """The last paused day's successor (`paused_until`) while a pause lasts; None once it has ended."""
    return paused_until if paused_until is not None and paused_until > today else None
