"""Days and moments as people type them, relative to today: `fri`, `next monday`, `tomorrow`, `+3d`, `2w`,
`in 2 weeks`, `下周一`, `周五`, `明天`, `两周`, `3天后`, or a date `2027-01-04` / `2027年1月4日`; with a time for a
moment: `fri 15:00`, `明天 9点`, `+2h30m`. Pure: `/pause` and the console's `/clock` read their arguments here, so
examples in the help never go stale.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from conversations.answers import normalize
from conversations.clock import UTC
from conversations.schedule import WEEKDAYS, parse_duration
from conversations.schedule import weekly_period as week_code  # the period key check-ins are stored under

_EN_DAYS = {name: i for i, full in enumerate(WEEKDAYS) for name in (full, full[:3])}
_EN_DAYS.update({"tues": 1, "thur": 3, "thurs": 3})
_ZH_DAYS = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}
_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN_UNITS = {"d": 1, "day": 1, "days": 1, "w": 7, "wk": 7, "wks": 7, "week": 7, "weeks": 7}
_ZH_UNITS = {"天": 1, "日": 1, "周": 7, "星期": 7, "礼拜": 7}
_MAX_DAYS = 3660  # ten years, as for durations

_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
_TIME = re.compile(r"(?:^|\s+|(?<=[^\x00-\x7f]))(\d{1,2})(?::(\d{2})|点(半|\d{1,2}分?)?|时)$")


def parse_day(text: str, today: date) -> date | None:
    """A day strictly after `today`, or None if the text is not one (unreadable, today or past). Never raises."""
    try:
        day, _ = _day(_clean(text), today, include_today=False)
    except (ValueError, OverflowError):
        return None
    return day if day is not None and day > today else None


def parse_moment(text: str, now: datetime) -> datetime | None:
    """A moment for the console's clock, read in `now`'s time zone: a duration ahead (`+3d`, `+2h30m`), or a day and
    an optional time (`fri 15:00`, `next monday`, `明天 9点`, `2027-01-04 09:00`, `15:00`). Relative forms give a
    moment after `now`; an explicit date may be in the past (the caller says the clock only moves forward). None
    when unreadable. Never raises."""
    try:
        return _moment(_clean(text), now)
    except (ValueError, OverflowError):
        return None


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", normalize(text or "").lower())


def _moment(text: str, now: datetime) -> datetime | None:
    if not text:
        return None
    at: time | None = None
    m = _TIME.search(text)
    if m:
        hour, minute = int(m.group(1)), _minutes(m.group(2), m.group(3))
        if hour > 23 or minute > 59:
            return None
        at = time(hour, minute)
        text = text[: m.start()].strip()
    if text.startswith("+") and at is None:  # `+3d`, `+2h30m`: that long from now
        delta = parse_duration(text[1:])
        return (now.astimezone(UTC) + delta).astimezone(now.tzinfo) if delta > timedelta(0) else None
    today = now.date()
    if not text:
        if at is None:
            return None
        next_day = today if datetime.combine(today, at, now.tzinfo) > now else today + timedelta(days=1)
        return datetime.combine(next_day, at, now.tzinfo)
    day, weekday = _day(text, today, include_today=True)
    if day is None or (at is None and day == today):
        return None  # "today" alone does not move the clock
    moment = datetime.combine(day, at or now.time().replace(second=0, microsecond=0), now.tzinfo)
    if weekday and moment <= now:
        moment = datetime.combine(day + timedelta(days=7), moment.time(), now.tzinfo)  # "fri 09:00" on a Friday noon
    return moment


def _minutes(colon: str | None, zh: str | None) -> int:
    if colon:
        return int(colon)
    if zh == "半":
        return 30
    if zh:
        return int(zh.rstrip("分"))
    return 0


def _day(text: str, today: date, *, include_today: bool) -> tuple[date | None, bool]:
    """The day a text names, and whether it named a weekday (the next one is meant)."""
    text = text.strip().removeprefix("+").strip()
    if not text:
        return None, False
    m = _DATE.fullmatch(text)
    if m:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), False
    if text in ("today", "今天"):
        return today, False
    if text in ("tomorrow", "tmr", "明天", "明日"):
        return today + timedelta(days=1), False
    if text in ("后天",):
        return today + timedelta(days=2), False
    m = re.fullmatch(r"(?:(?:next|this|coming) )?([a-z]+)", text)
    if m and m.group(1) in _EN_DAYS:
        return _next_weekday(today, _EN_DAYS[m.group(1)], include_today=include_today), True
    m = re.fullmatch(r"(下下|下|这|本)?个?(?:周|星期|礼拜)([一二三四五六日天1-7])", text)
    if m:
        weekday = _ZH_DAYS[m.group(2)]
        monday = today - timedelta(days=today.weekday())
        if m.group(1) in ("下", "下下"):  # in the next (calendar) week: Monday to Sunday
            return monday + timedelta(weeks=len(m.group(1)), days=weekday), False
        if m.group(1) in ("这", "本"):
            return monday + timedelta(days=weekday), False
        return _next_weekday(today, weekday, include_today=include_today), True
    m = re.fullmatch(r"(?:in )?(\d+) ?([a-z]+)(?: later| from now)?", text)
    if m and m.group(2) in _EN_UNITS:
        return _after(today, int(m.group(1)) * _EN_UNITS[m.group(2)]), False
    m = re.fullmatch(
        r"(\d+|[一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九]) ?个?"
        r"(天|日|周|星期|礼拜)(?:后|以后|之后)?",
        text,
    )
    if m:
        return _after(today, _zh_number(m.group(1)) * _ZH_UNITS[m.group(2)]), False
    delta = parse_duration(text)  # `1w2d`, `10d`: whole days only
    if delta < timedelta(days=1) or delta % timedelta(days=1):
        return None, False
    return _after(today, delta.days), False


def _after(today: date, days: int) -> date | None:
    return today + timedelta(days=days) if 0 < days <= _MAX_DAYS else None


def _next_weekday(today: date, weekday: int, *, include_today: bool) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return today + timedelta(days=ahead)


def _zh_number(text: str) -> int:
    """`3`, `三`, `两`, `十`, `十二`, `二十`: small Chinese numbers."""
    if text.isdigit():
        return int(text)
    tens, ten, ones = text.partition("十")
    if not ten:
        return _ZH_DIGITS[text]
    return (_ZH_DIGITS[tens] if tens else 1) * 10 + (_ZH_DIGITS[ones] if ones else 0)


# ------------------------------------------------------------------------------------------------ weeks

_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for m in names
}
_WEEK_CODE = re.compile(r"(\d{4})-?w(\d{1,2})")
_ISO_WEEK = re.compile(r"\d{4}-W\d{2}")
# Leading words that name a week, longest first, with how many weeks back they mean.
_WEEKS_BACK = (
    ("the week before last", 2),
    ("week before last", 2),
    ("last week", 1),
    ("this week", 0),
    ("上上周", 2),
    ("上上个星期", 2),
    ("上周", 1),
    ("上个星期", 1),
    ("上星期", 1),
    ("上礼拜", 1),
    ("本周", 0),
    ("这周", 0),
    ("这个星期", 0),
    ("这星期", 0),
)


def week_monday(period: str) -> date | None:
    """`2026-W48` → the Monday of that week; None for anything else."""
    if not _ISO_WEEK.fullmatch(period or ""):
        return None
    try:
        return date.fromisocalendar(int(period[:4]), int(period[6:]), 1)
    except ValueError:
        return None


def split_week(text: str, today: date) -> tuple[str | None, str]:
    """The week a command's arguments start with, and the rest as typed: `last week wins …`, `上周 亮点 …`,
    `2026-11-25 …`, `11月25日 …`, `25 Nov …`, `2026-W48 …` or `W48 …` → (`2026-W48`, `wins …`). A date without a
    year is the latest one not after `today`. (None, text) when the text does not start with a week. Never raises."""
    stripped = (text or "").strip()
    lowered = stripped.lower()
    for words, back in _WEEKS_BACK:
        if lowered.startswith(words) and (
            len(lowered) == len(words) or not lowered[len(words)].isalnum() or not words.isascii()
        ):
            return week_code(today - timedelta(weeks=back)), stripped[len(words) :].strip()
    head, _, rest = stripped.partition(" ")
    day: date | None = None
    word = head.lower()
    try:
        m = _WEEK_CODE.fullmatch(word) or re.fullmatch(r"w(\d{1,2})", word)
        if m:
            year, week = (
                (int(m.group(1)), int(m.group(2))) if m.re is _WEEK_CODE else (today.isocalendar()[0], int(m.group(1)))
            )
            day = date.fromisocalendar(year, week, 1)
        elif _DATE.fullmatch(word):
            g = _DATE.fullmatch(word)
            assert g is not None
            day = date(int(g.group(1)), int(g.group(2)), int(g.group(3)))
        elif (g := re.fullmatch(r"(\d{1,2})月(\d{1,2})[日号]?", word)) is not None:
            day = _latest(today, int(g.group(1)), int(g.group(2)))
        else:
            second, _, after = rest.partition(" ")
            month, number = (_MONTHS.get(word), second) if word in _MONTHS else (_MONTHS.get(second.lower()), word)
            if month and re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)?", number.lower()):
                day, rest = _latest(today, month, int(re.sub(r"\D", "", number))), after
    except ValueError:
        return None, stripped
    if day is None:
        return None, stripped
    return week_code(day), rest.strip()


def _latest(today: date, month: int, day: int) -> date:
    """`25 Nov` without a year: this year's, unless that is still to come."""
    this_year = date(today.year, month, day)
    return this_year if this_year <= today else date(today.year - 1, month, day)
