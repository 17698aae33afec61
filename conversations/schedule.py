"""Calendar arithmetic for scheduled flows: pure functions of (schedule, time zone, instant).

All instants going in and out are aware UTC datetimes; local wall-clock times only exist inside these
functions, converted with `zoneinfo`. DST rules: a wall-clock time that happens twice (autumn) fires at its
first occurrence; one that does not exist (spring) fires at the first valid instant after the gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from conversations.clock import UTC

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """ZoneInfo for an IANA name; raises ValueError with a readable message for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def is_valid_zone(name: str) -> bool:
    try:
        zone(name)
    except ValueError:
        return False
    return True


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which wall-clock `day at` happens in `tz`, DST-safe (see module docstring)."""
    wall = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    first = wall.astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return first  # exists (and for a repeated time, fold=0 is the first occurrence)
    # In a gap: find the transition instant, which is the first valid wall-clock time after the gap.
    lo = wall.replace(fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    lo_offset = lo.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == lo_offset:
            lo = mid
        else:
            hi = mid
    # Transitions fall on whole minutes; round the bisection result up to the next whole second.
    return hi if hi.microsecond == 0 else (hi + timedelta(seconds=1)).replace(microsecond=0)


def weekly_period(local_day: date) -> str:
    """The period key of a weekly flow: the ISO week of the local due date, e.g. `2026-W48`."""
    year, week, _ = local_day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Occurrence:
    """One planned occurrence of a flow for one time zone."""

    period: str
    due: datetime  # UTC
    closes: datetime  # UTC


class Schedule(Protocol):
    """When a flow falls due for one time zone (weekly and monthly schedules implement it)."""

    def latest(self, tz_name: str, now: datetime) -> Occurrence: ...

    def next_after(self, tz_name: str, now: datetime) -> Occurrence: ...

    def for_period_containing(self, tz_name: str, now: datetime) -> Occurrence: ...


@dataclass(frozen=True)
class WeeklySchedule:
    """Due every `weekday` at `at` local time; the answer window closes on the next `closes_weekday` at `closes_at`."""

    weekday: int = 4
    at: time = time(15, 0)
    closes_weekday: int = 0
    closes_at: time = time(12, 0)

    def _window_days(self) -> int:
        days = (self.closes_weekday - self.weekday) % 7
        if days == 0 and self.closes_at <= self.at:
            days = 7
        return days

    def _occurrence_on(self, day: date, tz: ZoneInfo) -> Occurrence:
        return Occurrence(
            period=weekly_period(day),
            due=local_instant(day, self.at, tz),
            closes=local_instant(day + timedelta(days=self._window_days()), self.closes_at, tz),
        )

    def latest(self, tz_name: str, now: datetime) -> Occurrence:
        """The most recent occurrence whose due instant is at or before `now`."""
        tz = zone(tz_name)
        local_today = now.astimezone(tz).date()
        day = local_today - timedelta(days=(local_today.weekday() - self.weekday) % 7)
        occ = self._occurrence_on(day, tz)
        if occ.due > now:
            occ = self._occurrence_on(day - timedelta(days=7), tz)
        return occ

    def next_after(self, tz_name: str, now: datetime) -> Occurrence:
        """The first occurrence whose due instant is strictly after `now`."""
        tz = zone(tz_name)
        local_today = now.astimezone(tz).date()
        day = local_today + timedelta(days=(self.weekday - local_today.weekday()) % 7)
        occ = self._occurrence_on(day, tz)
        if occ.due <= now:
            occ = self._occurrence_on(day + timedelta(days=7), tz)
        return occ

    def for_period_containing(self, tz_name: str, now: datetime) -> Occurrence:
        """The occurrence of the ISO week that contains local `now` (used for on-demand starts)."""
        tz = zone(tz_name)
        local_today = now.astimezone(tz).date()
        monday = local_today - timedelta(days=local_today.weekday())
        return self._occurrence_on(monday + timedelta(days=self.weekday), tz)


def on_demand(schedule: Schedule, tz_name: str, now: datetime) -> Occurrence | None:
    """The occurrence a start on demand (`/checkin`, `/review`) answers: the latest one while its window is open,
    else the current period's before it falls due (this week's check-in on a Wednesday); None when the current
    period's has closed (this month's review, a week after it opened). Never a later period's: starting that
    early would use up the one its schedule brings."""
    occ = schedule.latest(tz_name, now)
    if now < occ.closes:
        return occ
    occ = schedule.for_period_containing(tz_name, now)
    return occ if now < occ.closes else None


def quiet_adjust(when: datetime, tz_name: str, *, start: time = time(20, 0), end: time = time(8, 0)) -> datetime:
    """Move `when` out of the member's quiet hours (default 20:00–08:00 local) to the next `end`."""
    tz = zone(tz_name)
    local = when.astimezone(tz)
    t = local.timetz().replace(tzinfo=None)
    if start > end:  # quiet period spans midnight
        if t >= start:
            return local_instant(local.date() + timedelta(days=1), end, tz)
        if t < end:
            return local_instant(local.date(), end, tz)
        return when
    if start <= t < end:
        return local_instant(local.date(), end, tz)
    return when


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|min|s)?\s*$", re.IGNORECASE)
_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}


def parse_duration(text: str | int | float) -> timedelta:
    """`4h`, `30m`, `2d`, `1w` or a number of seconds."""
    if isinstance(text, (int, float)):
        return timedelta(seconds=text)
    total = timedelta(0)
    parts = re.findall(r"\d+(?:\.\d+)?\s*(?:w|d|h|min|m|s)?", text.strip(), re.IGNORECASE)
    if not parts or "".join(p.replace(" ", "") for p in parts) != text.replace(" ", ""):
        raise ValueError(f"not a duration: {text!r} (try 4h, 30m, 2d or 1w)")
    try:
        for part in parts:
            m = _DURATION.match(part)
            assert m
            unit = (m.group(2) or "s").lower()
            total += float(m.group(1)) * _UNITS[unit]
    except OverflowError:
        raise ValueError(f"duration too long: {text!r}") from None
    if total > timedelta(days=3660):
        raise ValueError(f"duration too long: {text!r} (ten years at most)")
    return total


def parse_weekday(text: str | int) -> int:
    if isinstance(text, int):
        if 0 <= text <= 6:
            return text
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {text}")
    key = text.strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if key in (name, name[:3]):
            return i
    raise ValueError(f"not a weekday: {text!r}")


def parse_time_of_day(text: str) -> time:
    m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*$", str(text))
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"not a time of day: {text!r} (use HH:MM, 24-hour)")
    return time(int(m.group(1)), int(m.group(2)))


def previous_period(period: str) -> str:
    """The period before `period` (`2026-W01` → `2025-W53`/`2025-W52`; `2026-01` → `2025-12`; `2027-Q1` →
    `2026-Q4`)."""
    if "-Q" in period:
        year, quarter = (int(x) for x in period.split("-Q"))
        return f"{year - 1}-Q4" if quarter == 1 else f"{year}-Q{quarter - 1}"
    if "-W" in period:
        iso_year, iso_week = period.split("-W")
        monday = date.fromisocalendar(int(iso_year), int(iso_week), 1)
        return weekly_period(monday - timedelta(days=7))
    year, month = (int(x) for x in period.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def monthly_period(local_day: date) -> str:
    return f"{local_day.year}-{local_day.month:02d}"


@dataclass(frozen=True)
class MonthlySchedule:
    """Due on the `nth` `weekday` of each month (default: the first Tuesday) at `at` local time; open for `window`."""

    weekday: int = 1
    nth: int = 1
    at: time = time(10, 0)
    window: timedelta = timedelta(days=7)

    def _day(self, year: int, month: int) -> date:
        first = date(year, month, 1)
        return first + timedelta(days=(self.weekday - first.weekday()) % 7 + 7 * (self.nth - 1))

    def _occurrence(self, year: int, month: int, tz: ZoneInfo) -> Occurrence:
        day = self._day(year, month)
        due = local_instant(day, self.at, tz)
        return Occurrence(period=monthly_period(day), due=due, closes=due + self.window)

    @staticmethod
    def _shift(year: int, month: int, by: int) -> tuple[int, int]:
        index = year * 12 + (month - 1) + by
        return index // 12, index % 12 + 1

    def latest(self, tz_name: str, now: datetime) -> Occurrence:
        tz = zone(tz_name)
        local = now.astimezone(tz).date()
        occ = self._occurrence(local.year, local.month, tz)
        if occ.due > now:
            occ = self._occurrence(*self._shift(local.year, local.month, -1), tz)
        return occ

    def next_after(self, tz_name: str, now: datetime) -> Occurrence:
        tz = zone(tz_name)
        local = now.astimezone(tz).date()
        occ = self._occurrence(local.year, local.month, tz)
        if occ.due <= now:
            occ = self._occurrence(*self._shift(local.year, local.month, 1), tz)
        return occ

    def for_period_containing(self, tz_name: str, now: datetime) -> Occurrence:
        tz = zone(tz_name)
        local = now.astimezone(tz).date()
        return self._occurrence(local.year, local.month, tz)


def quarterly_period(local_day: date) -> str:
    """The period key of a quarterly flow: `2027-Q1` (January to March)."""
    return f"{local_day.year}-Q{(local_day.month - 1) // 3 + 1}"


def quarter_bounds(period: str) -> tuple[date, date]:
    """The first day of quarter `2027-Q1` and the first day of the next one."""
    year, quarter = (int(x) for x in period.split("-Q"))
    start = date(year, 3 * (quarter - 1) + 1, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, end


PLAN_AHEAD = timedelta(weeks=4)  # a quarterly talk taken this close to a quarter's end plans the next quarter


def planned_period(day: date) -> str:
    """The quarter a talk (or goals) taken on `day` plans: its own, or in its last `PLAN_AHEAD` the next one."""
    period = quarterly_period(day)
    end = quarter_bounds(period)[1]
    return quarterly_period(end) if end - day <= PLAN_AHEAD else period


@dataclass(frozen=True)
class QuarterlySchedule:
    """Due on the first day of each quarter at `at` local time, open for `window` (two weeks: the quarter's first
    working week, wherever holidays put it). On a day off it moves forward to the member's next working day while
    its window is open (`conversations/calendar.py working_occurrence`, not weekly), so New Year's Day or China's
    National Day week push it into the first working days."""

    at: time = time(10, 0)
    window: timedelta = timedelta(days=14)

    def _occurrence(self, period: str, tz: ZoneInfo) -> Occurrence:
        due = local_instant(quarter_bounds(period)[0], self.at, tz)
        return Occurrence(period=period, due=due, closes=due + self.window)

    def latest(self, tz_name: str, now: datetime) -> Occurrence:
        tz = zone(tz_name)
        period = quarterly_period(now.astimezone(tz).date())
        occ = self._occurrence(period, tz)
        return occ if occ.due <= now else self._occurrence(previous_period(period), tz)

    def next_after(self, tz_name: str, now: datetime) -> Occurrence:
        tz = zone(tz_name)
        period = quarterly_period(now.astimezone(tz).date())
        occ = self._occurrence(period, tz)
        if occ.due > now:
            return occ
        return self._occurrence(quarterly_period(quarter_bounds(period)[1]), tz)

    def for_period_containing(self, tz_name: str, now: datetime) -> Occurrence:
        """This quarter's talk as started on demand: open until the quarter ends (someone who joins mid-quarter,
        or whose talk never came, can still set its goals). In the quarter's last `PLAN_AHEAD`, the next
        quarter's talk instead: goals set then are for the quarter about to start (`planned_period`)."""
        tz = zone(tz_name)
        day = now.astimezone(tz).date()
        period = planned_period(day)
        occ = self._occurrence(period, tz)
        if period != quarterly_period(day):
            return occ
        return replace(occ, closes=max(occ.closes, local_instant(quarter_bounds(period)[1], time(0, 0), tz)))
