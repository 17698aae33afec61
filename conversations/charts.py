"""Charts as data: what each picture shows, built from the same numbers the message text reports.

Pure: a chart is a list of week labels and series of numbers (None where there is no number, with a mark saying
why: paused, a week without a working day, no check-in, too few people to show). The platforms draw it (a PNG on
Slack and the console, Feishu's native chart component); the words — title, legend, what the marks mean — are in
the message text, in the reader's language (prompts/charts/). Images carry numbers and dates only.

Each chart has one builder here; a new chart (the key-result chart, say) is one more builder and one more entry in
the templates' titles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from conversations import goals

CHART_WEEKS = 12  # one person's charts and the team's look back this many weeks
MOODS = (1, 2, 3, 4, 5)

# Why a week has no number. Never drawn as zero.
PAUSED, OFF, MISSING, FEW, OPEN = "paused", "off", "missing", "few", "open"
WAITING = ("none", "scheduled", "prompted", "in_progress")  # the newest week's check-in may still come


@dataclass(frozen=True)
class Series:
    key: str  # names the series in the templates' legends (mood, checked_in, opened, done, mood_1, …)
    values: tuple[float | None, ...]
    marks: tuple[str | None, ...] = ()  # per value: why it is None (PAUSED, OFF, MISSING, FEW); empty: no marks

    def mark(self, i: int) -> str | None:
        return self.marks[i] if i < len(self.marks) else None


@dataclass(frozen=True)
class Chart:
    key: str  # mood | rhythm | actions | team_mood | participation | obstacles | kudos (the templates' titles)
    kind: str  # line | bar (grouped) | stacked
    labels: tuple[str, ...]  # x axis: week Mondays as MM-DD, or value tags for kudos
    series: tuple[Series, ...]
    y_max: float | None = None  # a fixed top (mood: 5); None: from the data

    def params(self) -> dict[str, Any]:
        """As a reply carries it through the outbox (JSON-able)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "labels": list(self.labels),
            "y_max": self.y_max,
            "series": [
                {
                    "key": s.key,
                    "values": list(s.values),
                    "marks": list(s.marks),
                    # what the message text shows: the same numbers, and a sparkline of them
                    "numbers": numbers(s),
                    "spark": sparkline(s, self.y_max),
                }
                for s in self.series
            ],
        }

    @staticmethod
    def from_params(p: Mapping[str, Any]) -> Chart:
        return Chart(
            key=p["key"],
            kind=p["kind"],
            labels=tuple(p["labels"]),
            y_max=p.get("y_max"),
            series=tuple(
                Series(s["key"], tuple(s["values"]), tuple(s.get("marks") or ())) for s in p.get("series") or ()
            ),
        )


def week_label(period: str) -> str:
    """`2026-W48` → `11-23`, the Monday of that week: a date, no words."""
    year, week = period.split("-W")
    return date.fromisocalendar(int(year), int(week), 1).strftime("%m-%d")


def last_periods(newest: str, n: int = CHART_WEEKS) -> list[str]:
    """`n` ISO week codes ending with `newest`, oldest first."""
    year, week = newest.split("-W")
    monday = date.fromisocalendar(int(year), int(week), 1)
    out = []
    for k in range(n - 1, -1, -1):
        y, w, _ = (monday - timedelta(weeks=k)).isocalendar()
        out.append(f"{y}-W{w:02d}")
    return out


# ------------------------------------------------------------------------------------------------ one person


@dataclass(frozen=True)
class WeekFacts:
    """One week of one person, as the digest's snapshot sees it (conversations/digest.py `Week`)."""

    period: str
    status: str  # completed | … | none | paused | off
    mood: int | None = None


def _why(status: str) -> str | None:
    return {"paused": PAUSED, "off": OFF}.get(status, MISSING)


def _marks(weeks: Sequence[WeekFacts], values: Sequence[float | None]) -> tuple[str | None, ...]:
    """Why each value is missing; the newest week's check-in, not finished yet, is still open (not missed: the
    charts are drawn for Monday's digest, before that week's window closes)."""
    last = len(weeks) - 1
    return tuple(
        None if v is not None else (OPEN if i == last and w.status in WAITING else _why(w.status))
        for i, (w, v) in enumerate(zip(weeks, values, strict=True))
    )


def mood_chart(weeks: Sequence[WeekFacts]) -> Chart:
    """Mood per week, oldest first; a paused week, one without a working day, one without an answer and the week
    still open have no point (and say which)."""
    values = tuple(float(w.mood) if w.mood is not None else None for w in weeks)
    marks = _marks(weeks, values)
    return Chart(
        "mood",
        "line",
        tuple(week_label(w.period) for w in weeks),
        (Series("mood", values, marks),),
        y_max=5,
    )


def rhythm_chart(weeks: Sequence[WeekFacts]) -> Chart:
    """Checked in (1) or not (0) each week; paused weeks, weeks off and the week still open are no check-in to
    miss, so no bar."""
    last = len(weeks) - 1
    values = tuple(
        None
        if w.status in ("paused", "off") or (i == last and w.status in WAITING)
        else (1.0 if w.status == "completed" else 0.0)
        for i, w in enumerate(weeks)
    )
    marks = _marks(weeks, values)
    return Chart(
        "rhythm", "bar", tuple(week_label(w.period) for w in weeks), (Series("checked_in", values, marks),), y_max=1
    )


def actions_chart(periods: Sequence[str], opened: Mapping[str, int], done: Mapping[str, int]) -> Chart:
    """Development actions opened and done each week."""
    return Chart(
        "actions",
        "bar",
        tuple(week_label(p) for p in periods),
        (
            Series("opened", tuple(float(opened.get(p, 0)) for p in periods)),
            Series("done", tuple(float(done.get(p, 0)) for p in periods)),
        ),
    )


@dataclass(frozen=True)
class KeyResultFacts:
    """One key result as the chart reads it: `label` numbers it (`1.2`: goal 1, key result 2), never its words."""

    label: str
    start: float | None
    target: float | None  # None: a done / not done key result
    current: float | None
    done: bool = False


def key_result_progress(kr: KeyResultFacts) -> float | None:
    """How far a key result has come, 0–100 (%), as the digest's lag hint reads it (conversations/goals.py
    `progress`: done is 100; no value yet is its start); None only for one whose start equals its target."""
    if kr.target is not None and kr.start is not None and kr.target == kr.start:
        return None
    facts = {"start": kr.start, "target": kr.target, "current": kr.current, "done": kr.done}
    return float(round(goals.progress(facts) * 100))


def quarter_elapsed(quarter: str, today: date) -> float:
    """How much of `quarter` (`2026-Q4`) has gone by the start of `today`, 0–100 (%), as the lag hint reads it."""
    return float(round(goals.elapsed(quarter, today) * 100))


def key_results_chart(krs: Sequence[KeyResultFacts], elapsed: float) -> Chart:
    """Each key result's progress (left bar) next to the share of the quarter gone (right bar, the same for all):
    a key result behind the time is one whose left bar is the shorter."""
    progress = tuple(key_result_progress(k) for k in krs)
    return Chart(
        "key_results",
        "bar",
        tuple(k.label for k in krs),
        (
            Series("progress", progress, tuple(MISSING if v is None else None for v in progress)),
            Series("elapsed", tuple(elapsed for _ in krs)),
        ),
        y_max=100,
    )


# ------------------------------------------------------------------------------------------------ a team


def team_mood_chart(periods: Sequence[str], moods: Mapping[str, Sequence[int] | None]) -> Chart:
    """How many answered each mood, per week (stacked). `moods[p]` is None where too few people answered for the
    week to be shown (the caller asks bot/access.py): those weeks have no bar, marked FEW."""
    series = []
    for m in MOODS:
        values = tuple(None if moods.get(p) is None else float(list(moods[p] or ()).count(m)) for p in periods)
        series.append(Series(f"mood_{m}", values, tuple(FEW if v is None else None for v in values)))
    return Chart("team_mood", "stacked", tuple(week_label(p) for p in periods), tuple(series))


def participation_chart(periods: Sequence[str], counts: Mapping[str, tuple[int, int] | None]) -> Chart:
    """Per week: how many checked in, and how many were expected to (not paused, a working week). None: too few."""
    took = tuple(None if counts.get(p) is None else float(counts[p][0]) for p in periods)  # type: ignore[index]
    expected = tuple(None if counts.get(p) is None else float(counts[p][1]) for p in periods)  # type: ignore[index]
    marks = tuple(FEW if v is None else None for v in took)
    return Chart(
        "participation",
        "bar",
        tuple(week_label(p) for p in periods),
        (Series("expected", expected, marks), Series("checked_in", took, marks)),
    )


def obstacles_chart(periods: Sequence[str], counts: Mapping[str, tuple[int, int] | None]) -> Chart:
    """Per week: obstacles opened and resolved across the team. None: too few people that week."""
    opened = tuple(None if counts.get(p) is None else float(counts[p][0]) for p in periods)  # type: ignore[index]
    resolved = tuple(None if counts.get(p) is None else float(counts[p][1]) for p in periods)  # type: ignore[index]
    marks = tuple(FEW if v is None else None for v in opened)
    return Chart(
        "obstacles",
        "bar",
        tuple(week_label(p) for p in periods),
        (Series("opened", opened, marks), Series("resolved", resolved, marks)),
    )


def kudos_chart(by_value: Mapping[str, int]) -> Chart:
    """Kudos the team received per value tag, in a fixed order (the org's values): no names, no ranking of people."""
    tags = tuple(by_value)
    return Chart("kudos", "bar", tags, (Series("kudos", tuple(float(by_value[t]) for t in tags)),))


def charts_of(template: str, params: Mapping[str, Any]) -> list[Chart]:
    """The charts a reply carries (none for an ordinary reply): what the platforms draw."""
    if not template.startswith("charts/"):
        return []
    return [Chart.from_params(c) for c in params.get("charts") or ()]


# ------------------------------------------------------------------------------------------------ in words

BARS = "▁▂▃▄▅▆▇█"
GAP = {PAUSED: "‖", OFF: "·", MISSING: "·", FEW: " ", OPEN: "…"}


def sparkline(series: Series, top: float | None = None) -> str:
    """One character per value, ▁ (lowest) to █ (top); a gap mark where there is no number (‖ paused, · no
    check-in or no working day), never a bar of zero."""
    shown = [v for v in series.values if v is not None]
    high = top if top is not None else max(shown, default=0.0)
    low = 0.0 if top is None or top <= 1 else 1.0  # a 1–5 scale starts at 1
    out = []
    for i, v in enumerate(series.values):
        if v is None:
            out.append(GAP.get(series.mark(i) or MISSING, "·"))
        elif high <= low:
            out.append(BARS[0])
        else:
            step = round((v - low) / (high - low) * (len(BARS) - 1))
            out.append(BARS[max(0, min(len(BARS) - 1, step))])
    return "".join(out)


def numbers(series: Series) -> list[int | str]:
    """The values as the text reports them: whole numbers, or the mark where there is none."""
    out: list[int | str] = []
    for i, v in enumerate(series.values):
        out.append((series.mark(i) or MISSING) if v is None else int(v))
    return out
