"""1:1s with a shared agenda: a manager–report pair agrees a cadence (`/1on1 propose weekly|biweekly|monthly <day>
<time>`, accepted by the other side); before each 1:1 both get the agenda by DM — items carried over and not yet
ticked, the talking points from the digest about the report, and what either side added since last time; after
it, either side records notes (shared, or private to the writer), ticks items (`/1on1 done N`) and adds action
items. Pure: parsing, the meetings' dates and how a holiday moves one. bot/oneonone.py stores and sends.

A meeting falls on a working day for both people (each in their own time zone and country) or it moves to the next
day that is one for both, at the same time, and the agenda says so; when no such day comes before the next
meeting, that one is skipped and its items carry over. No calendar is read or written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from conversations.answers import normalize
from conversations.mentions import MENTION
from conversations.schedule import local_instant, zone

CADENCES = {
    "weekly": "weekly",
    "每周": "weekly",
    "biweekly": "biweekly",
    "fortnightly": "biweekly",
    "every-two-weeks": "biweekly",
    "每两周": "biweekly",
    "隔周": "biweekly",
    "双周": "biweekly",
    "monthly": "monthly",
    "每月": "monthly",
}
_EN_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ZH_DAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
AGENDA_AHEAD = timedelta(days=1)  # the agenda goes out from a day before, at each person's next working time
HELD_AFTER = timedelta(hours=1)  # a meeting counts as held (notes and ticks are about it) an hour after it starts
MAX_TEXT = 1000

VERBS = {
    "": "show",
    "agenda": "show",
    "议程": "show",
    "propose": "propose",
    "提议": "propose",
    "accept": "accept",
    "接受": "accept",
    "decline": "decline",
    "拒绝": "decline",
    "stop": "stop",
    "停止": "stop",
    "add": "add",
    "添加": "add",
    "加": "add",
    "note": "note",
    "记录": "note",
    "笔记": "note",
    "done": "done",
    "完成": "done",
    "action": "action",
    "行动": "action",
    "待办": "action",
}
PRIVATE_WORDS = ("private", "私密", "仅自己")


@dataclass(frozen=True)
class Cadence:
    every: str  # weekly | biweekly | monthly
    weekday: int  # 0 = Monday
    at: time


@dataclass(frozen=True)
class OneOnOneCommand:
    verb: str  # show | propose | accept | decline | stop | add | note | done | action
    mention: str | None = None  # the other side, when the writer has several pairs
    number: int | None = None  # an item (`done 3`) or a proposal (`accept 2`)
    text: str = ""  # an item's or a note's words, as typed
    private: bool = False
    cadence: Cadence | None = None


def parse_weekday(word: str) -> int | None:
    w = normalize(word).lower()
    for i, name in enumerate(_EN_DAYS):
        if w in (name, name[:3]) or (len(w) >= 3 and name.startswith(w)):
            return i
    m = re.fullmatch(r"(?:周|星期|礼拜)([一二三四五六日天1-7])", w)
    if m:
        d = m.group(1)
        return _ZH_DAYS[d] if d in _ZH_DAYS else int(d) - 1
    return None


def parse_time(word: str) -> time | None:
    w = normalize(word).lower()
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", w) or re.fullmatch(r"(\d{1,2})点(?:(\d{1,2})分?)?()", w)
    half = re.fullmatch(r"(\d{1,2})点半", w)
    if half:
        hour, minute = int(half.group(1)), 30
    elif m:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if m.group(3) == "pm" and hour < 12:
            hour += 12
        elif m.group(3) == "am" and hour == 12:
            hour = 0
        if m.group(2) is None and m.group(3) in (None, "") and "点" not in w:
            return None  # a bare number is not a time: "10" could be anything
    else:
        return None
    return time(hour, minute) if hour < 24 and minute < 60 else None


def _take_mention(text: str) -> tuple[str | None, str]:
    m = MENTION.match(text.strip())
    if not m:
        return None, text.strip()
    return m.group(1), text.strip()[m.end() :].strip()


def parse(args: str, text: str) -> OneOnOneCommand | str:
    """`/1on1 …` arguments: `args` as read (normalised), `text` as typed (items and notes are stored from it).
    Returns a command, or the key of a polite refusal (`usage`, `propose_usage`, `done_usage`, `empty`, `too_long`)."""
    words = args.split()
    head = words[0].lower() if words else ""
    if MENTION.fullmatch(head) and len(words) == 1:  # `/1on1 @bo`: the agenda with that person
        return OneOnOneCommand("show", mention=text.strip())
    verb = VERBS.get(head)
    if verb is None:
        return "usage"
    typed = text.strip().split(maxsplit=1)
    rest = typed[1] if len(typed) > 1 else ""
    if verb == "show":
        mention, left = _take_mention(rest)
        return OneOnOneCommand("show", mention=mention) if not left else "usage"
    if verb == "propose":
        return _propose(normalize(rest))
    if verb in ("accept", "decline", "stop"):
        left = normalize(rest).lstrip("#")
        if re.fullmatch(r"\d{1,9}", left):
            return OneOnOneCommand(verb, number=int(left))
        mention, left = _take_mention(rest)
        return OneOnOneCommand(verb, mention=mention) if not left else "usage"
    if verb == "done":
        numbers = re.fullmatch(r"#?(\d{1,9})", normalize(rest))
        return OneOnOneCommand("done", number=int(numbers.group(1))) if numbers else "done_usage"
    private = False
    if verb == "note":
        first, _, after = rest.partition(" ")
        if normalize(first).lower() in PRIVATE_WORDS:
            private, rest = True, after.strip()
    mention, said = _take_mention(rest)
    if not normalize(said):
        return "empty"
    if len(said) > MAX_TEXT:
        return "too_long"
    return OneOnOneCommand(verb, mention=mention, text=said, private=private)


def _propose(rest: str) -> OneOnOneCommand | str:
    mention, rest = _take_mention(rest)
    words = rest.split()
    if mention is None and words:  # the person may also come last
        last_mention, left = _take_mention(words[-1])
        if last_mention is not None and not left:
            mention, words = last_mention, words[:-1]
    every = CADENCES.get(words[0].lower()) if words else None
    if every is None and len(words) >= 2:
        joined = f"{words[0]}-{words[1]}".lower().replace("every-2-weeks", "every-two-weeks")
        if CADENCES.get(joined):
            every, words = CADENCES[joined], [joined, *words[2:]]
    if every is None or len(words) != 3:
        return "propose_usage"
    weekday, at = parse_weekday(words[1]), parse_time(words[2])
    if weekday is None or at is None:
        return "propose_usage"
    return OneOnOneCommand("propose", mention=mention, cadence=Cadence(every, weekday, at))


# ------------------------------------------------------------------------------------------------ meetings


def _on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _first_in_month(year: int, month: int, weekday: int) -> date:
    return _on_or_after(date(year, month, 1), weekday)


def first_meeting(cadence: Cadence, tz_name: str, after: datetime) -> datetime:
    """The first meeting strictly after `after` (UTC), on the cadence's day and time in `tz_name`."""
    tz = zone(tz_name)
    day = after.astimezone(tz).date()
    for _ in range(3):
        if cadence.every == "monthly":
            candidate = _first_in_month(day.year, day.month, cadence.weekday)
            if candidate < day:
                nxt = date(day.year + day.month // 12, day.month % 12 + 1, 1)
                candidate = _first_in_month(nxt.year, nxt.month, cadence.weekday)
        else:
            candidate = _on_or_after(day, cadence.weekday)
        at = local_instant(candidate, cadence.at, tz)
        if at > after:
            return at
        day = candidate + timedelta(days=1)
    raise AssertionError("a meeting within three tries")  # pragma: no cover - the loop always finds one


def following_meeting(cadence: Cadence, tz_name: str, planned: datetime) -> datetime:
    """The meeting after the one planned at `planned` (as planned, before any move for a holiday)."""
    tz = zone(tz_name)
    day = planned.astimezone(tz).date()
    if cadence.every == "monthly":
        nxt = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return local_instant(_first_in_month(nxt.year, nxt.month, cadence.weekday), cadence.at, tz)
    return local_instant(day + timedelta(days=7 if cadence.every == "weekly" else 14), cadence.at, tz)


@dataclass(frozen=True)
class Placed:
    at: datetime | None  # when it really happens; None: skipped (no day that works for both before the next one)
    moved: bool = False


def place(planned: datetime, next_planned: datetime, tz_name: str, works: Callable[[datetime], bool]) -> Placed:
    """Where a planned meeting really falls: as planned when `works` (a working day for both people, each in their
    own calendar), else the next day at the same wall time in `tz_name` that works — before the next meeting —
    else nowhere (skipped)."""
    if works(planned):
        return Placed(planned)
    tz = zone(tz_name)
    local = planned.astimezone(tz)
    for i in range(1, 8):
        at = local_instant(local.date() + timedelta(days=i), local.time().replace(tzinfo=None), tz)
        if at >= next_planned:
            break
        if works(at):
            return Placed(at, moved=True)
    return Placed(None)
