"""Goals and key results: how a goal is typed, how key-result progress is typed, and when a key result lags the
quarter's time. Pure.

A goal in one message (the quarterly talk asks one goal per message; `/goals edit 2 …` takes the same):

    Faster onboarding; KR activation from 40 to 60 %; KR onboarding guide published
    新人上手更快；关键结果：激活率 从40到60%；关键结果：上手指南发布

The first part is the goal; each part after it (separated by `;`, `；` or a new line, optionally started by `KR`,
`KR2:`, `关键结果`, `-`) is one key result, 1 to 3 of them. A key result with two numbers joined by `to`, `->`,
`→`, `到` or `至` (`40 to 60 %`, `从40到60%`, `0 → 5 talks`) is measured from the first to the second, in the unit
written after the second number; any other is done / not done. Everything is kept exactly as typed.

Progress in one message (the weekly check-in's grouped question, the quarterly talk's final values):

    KR1 45, KR2 done        1 45 2 done        关键结果1 45，关键结果2 完成        (one key result:) 45
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from conversations.answers import Invalid, Items, keyword, normalize
from conversations.schedule import quarter_bounds

MAX_GOALS = 3
MAX_KEY_RESULTS = 3
LAG_WEEKS = 2.0  # a key result lags when its progress is this many weeks (or more) behind the quarter's time
LAG_GRACE_DAYS = 14  # a goal agreed this recently has not had the time to lag (a talk taken late in a quarter)
DONE_KIND_LAGS_AFTER = 0.75  # a done / not done key result: worth asking about when not done this late in a quarter

_KR_PREFIX = re.compile(r"^\s*(?:kr(?:\s*[0-9])?(?![a-z])|关键结果\s*[0-9]?|[-•*])\s*[:：.、)）]?\s*", re.IGNORECASE)
_NUM = r"[+-]?[0-9]+(?:\.[0-9]+)?"
_RANGE = re.compile(
    rf"(?:from\s+|从\s*)?(?P<start>{_NUM})\s*(?P<unit1>%|[^\s0-9→>~]{{0,12}}?)\s*"
    rf"(?:->|→|=>|\bto\b|到|至|~)\s*(?P<target>{_NUM})\s*(?P<unit2>[^;；,，。]*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class GoalSpec:
    """One goal with its key results, typed in one message (module docstring)."""

    most_key_results: int = MAX_KEY_RESULTS

    def parse(self, text: str) -> dict[str, Any]:
        parts = [p.strip() for p in re.split(r"\r\n|[\r\n;；]", text) if p.strip()]
        if not parts:
            raise Invalid("invalid_empty")
        goal, *rest = parts
        goal = _KR_PREFIX.sub("", goal) if goal.lower().startswith(("kr", "关键结果")) else goal
        if len(goal) > 1000:
            raise Invalid("invalid_too_long", max=1000)
        if not rest:
            raise Invalid("invalid_goal_no_key_result", most=self.most_key_results)
        if len(rest) > self.most_key_results:
            raise Invalid("invalid_goal_many_key_results", most=self.most_key_results, count=len(rest))
        key_results = [key_result(part) for part in rest]
        return {"text": goal, "key_results": key_results}

    def describe(self, value: Any) -> str:
        if not value:
            return ""
        return "; ".join([value["text"], *(kr["text"] for kr in value.get("key_results") or ())])


def key_result(part: str) -> dict[str, Any]:
    """One typed key result → {"text", "start", "target", "unit"} (start/target None: done / not done)."""
    text = _KR_PREFIX.sub("", part, count=1).strip() or part.strip()
    if len(text) > 1000:
        raise Invalid("invalid_too_long", max=1000)
    found = _RANGE.search(normalize(text))
    if found is None:
        return {"text": text, "start": None, "target": None, "unit": None}
    start, target = float(found["start"]), float(found["target"])
    if start == target:
        raise Invalid("invalid_key_result_same", text=text)
    unit = (found["unit2"] or found["unit1"] or "").strip()[:32] or None
    return {"text": text, "start": start, "target": target, "unit": unit}


# ---------------------------------------------------------------------------------------------- progress

_DONE = {
    "done",
    "yes",
    "y",
    "finished",
    "complete",
    "completed",
    "✅",
    "完成",
    "已完成",
    "完成了",
    "做完了",
    "搞定",
    "达成",
}
_NOT_DONE = {"not done", "not yet", "no", "n", "open", "❌", "未完成", "没完成", "还没", "还没完成", "进行中", "未达成"}
_PAIR = re.compile(
    r"(?:kr|关键结果|#)?\s*(?P<n>[0-9]{1,2})\s*[:：=.、)）]?\s*"
    r"(?P<value>[+-]?[0-9]+(?:\.[0-9]+)?\s*%?|not done|not yet|未完成|没完成|还没完成|还没|进行中|未达成|"
    r"done|yes|finished|completed|complete|已完成|完成了|完成|做完了|搞定|达成|no|open|y|n|✅|❌)",
    re.IGNORECASE,
)
_LEFTOVER = re.compile(r"^[\s,，;；、。.&和及]*(?:and[\s,，;；、。.&和及]*)*$", re.IGNORECASE)


def _value(word: str) -> float | str:
    w = keyword(word).strip().rstrip("%").strip()
    if w in _DONE:
        return "done"
    if w in _NOT_DONE:
        return "not_done"
    return float(w)


@dataclass(frozen=True)
class Progress:
    """Key-result progress in one message → {"1": 45.0, "2": "done"} (numbered as the question lists them).
    Which numbers exist is checked against the listed key results (`check_progress`)."""

    def parse(self, text: str) -> dict[str, Any]:
        raw = keyword(text)
        if not raw:
            raise Invalid("invalid_empty")
        single = raw.removeprefix("kr1").removeprefix("关键结果1").strip(" :：=")
        if re.fullmatch(r"[+-]?[0-9]+(?:\.[0-9]+)?\s*%?", single) or single in _DONE | _NOT_DONE:
            return {"1": _value(single)}
        out: dict[str, Any] = {}
        pos = 0
        for m in _PAIR.finditer(raw):
            if not _LEFTOVER.match(raw[pos : m.start()]):
                raise Invalid("invalid_progress", part=_as_typed(raw[pos : m.start()], text))
            out[m["n"]] = _value(m["value"])
            pos = m.end()
        if not out or not _LEFTOVER.match(raw[pos:]):
            raise Invalid("invalid_progress", part=_as_typed(raw[pos:], text))
        return out

    def describe(self, value: Any) -> str:
        return ", ".join(f"KR{k} {v if isinstance(v, str) else number_text(v)}" for k, v in (value or {}).items())


_SEPARATORS = r"[\s,，;；、。.&和及]+"


def _as_typed(part: str, text: str) -> str:
    """The part of `text` that `part` (found in its lower-cased `keyword` form) came from, as typed, without the
    separators around it: what an error quotes back."""
    part = re.sub(f"^{_SEPARATORS}|{_SEPARATORS}$", "", part)
    if not part:
        return ""
    pattern = r"\s+".join(re.escape(w) for w in part.split())
    found = re.search(pattern, text, re.IGNORECASE)
    return (found.group(0) if found else part)[:40]


def check_progress(value: Mapping[str, Any], listed: Sequence[Mapping[str, Any]]) -> None:
    """Raise `Invalid` when progress names a key result that is not listed, or gives a number to a done / not
    done one."""
    for key, given in value.items():
        number = int(key)
        if not 1 <= number <= len(listed):
            raise Invalid("invalid_progress_number", number=number, count=len(listed))
        if listed[number - 1].get("target") is None and not isinstance(given, str):
            raise Invalid("invalid_progress_done_kind", number=number)


def applied(kr: Mapping[str, Any], given: float | str) -> tuple[float | None, bool]:
    """(current, done) of a key result after `given`: "done" on a number reaches its target."""
    if given == "done":
        return (kr.get("target") if kr.get("target") is not None else kr.get("current")), True
    if given == "not_done":
        return kr.get("current"), False
    value = float(given)
    target = kr.get("target")
    return value, target is not None and (value >= target if target >= (kr.get("start") or 0) else value <= target)


# ---------------------------------------------------------------------------------------------- the quarter's time


def quarter_week(period: str, day: date) -> tuple[int, int]:
    """(the week of the quarter `day` falls in, counted from 1; the quarter's weeks, 13 for every quarter)."""
    start, end = quarter_bounds(period)
    total = -(-(end - start).days // 7)
    return min(max((day - start).days // 7 + 1, 1), total), total


def elapsed(period: str, day: date) -> float:
    """How much of quarter `period` has passed by the start of `day`, 0 to 1."""
    start, end = quarter_bounds(period)
    return min(max((day - start).days / (end - start).days, 0.0), 1.0)


def progress(kr: Mapping[str, Any]) -> float:
    """How far a key result has come, 0 to 1 (a done one is 1; no value yet is its start)."""
    if kr.get("done"):
        return 1.0
    start, target = kr.get("start"), kr.get("target")
    if target is None or start is None:
        return 0.0
    current = kr.get("current")
    value = start if current is None else current
    return min(max((value - start) / (target - start), 0.0), 1.0)


def lagging(kr: Mapping[str, Any], period: str, day: date) -> bool:
    """Does this key result lag the quarter's time on `day`? A measured one: its progress is `LAG_WEEKS` or more
    behind the weeks gone. A done / not done one: not done once `DONE_KIND_LAGS_AFTER` of the quarter has gone.
    Never while its goal was agreed less than `LAG_GRACE_DAYS` ago.
    A hint to ask about, never a verdict (conversations/digest.py)."""
    if kr.get("done"):
        return False
    agreed_on = kr.get("agreed_on")
    if agreed_on is not None and (day - agreed_on).days < LAG_GRACE_DAYS:
        return False
    gone = elapsed(period, day)
    if kr.get("target") is None:
        return gone >= DONE_KIND_LAGS_AFTER
    start, end = quarter_bounds(period)
    return (gone - progress(kr)) * (end - start).days / 7 >= LAG_WEEKS - 1e-9


def lag_params(kr: Mapping[str, Any], goal: str, period: str, day: date) -> dict[str, Any]:
    """The evidence a lagging hint shows: the value, the target, the week of the quarter."""
    week, weeks = quarter_week(period, day)
    return {
        "goal": goal,
        "text": kr.get("text"),
        "current": kr.get("current") if kr.get("current") is not None else kr.get("start"),
        "reported": kr.get("current") is not None,  # else no progress was ever given: the start is shown as such
        "start": kr.get("start"),
        "target": kr.get("target"),
        "unit": kr.get("unit"),
        "done_kind": kr.get("target") is None,
        "week": week,
        "weeks": weeks,
        "progress": round(progress(kr) * 100),
        "elapsed": round(elapsed(period, day) * 100),
    }


def number_text(value: float | None) -> str:
    """45.0 → "45", 2.5 → "2.5"."""
    if value is None:
        return "–"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


STRENGTHS = Items(1, 2)  # 两件事最能体现你的优势: the two things that best show the member's strengths
