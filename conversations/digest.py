"""The manager digest: what a manager needs on Monday morning to coach their direct reports.

Pure: it takes a snapshot of each report's recent weeks and returns what to say. Hints are worded as
questions to explore, each with the evidence behind it — data as a hint, never a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from conversations.answers import says_nothing
from conversations.goals import lag_params, lagging

HISTORY_WEEKS = 6
NOT_EXPECTED = ("paused", "off")  # weeks with no check-in to miss: paused, or without a working day


@dataclass(frozen=True)
class Week:
    """One report's weekly check-in for one period (newest first in `Report.weeks`)."""

    period: str
    status: str  # completed | in_progress | prompted | skipped | expired | none | paused | off
    mood: int | None = None
    wins: str | None = None
    blockers: str | None = None
    priorities: tuple[str, ...] = ()
    plan: tuple[tuple[str, str], ...] = ()  # (priority, done | partly | not_done)
    manager_help: str | None = None
    notes: tuple[tuple[str, str], ...] = ()  # (step, the member's note on that answer)
    extras: tuple[tuple[str, str], ...] = ()  # (step, answer) to the org file's extra questions, in order
    held_back: bool = False  # there are answers this reader may not see yet (not finished, window still open)
    answer_ids: tuple[tuple[str, int], ...] = ()  # (step, answer id) of the answers shown that can be replied to


@dataclass(frozen=True)
class Report:
    member_id: int
    name: str
    weeks: tuple[Week, ...]  # newest first; the first is the week the digest is about
    obstacles: tuple[dict[str, Any], ...] = ()  # open: text, since, times_reported
    support: tuple[dict[str, Any], ...] = ()  # open: id, kind, text, since, status
    growth: tuple[str, ...] = ()
    kudos_received_week: int = 0
    kudos_received_recent: int = 0  # last four weeks
    helped_mentions: int = 0  # times teammates named them in their wins in the last four weeks
    actions: tuple[dict[str, Any], ...] = ()  # open development actions they own (bot/digest.py `action_params`)
    via: str | None = None  # in a skip-level digest: the direct manager this person reports to
    flags: tuple[dict[str, Any], ...] = ()  # the member's flags "this is wrong" in these weeks: answers and hints
    paused_until: date | None = None  # their check-ins are paused until this day (while the pause lasts)
    # private replies about their items between them and the reader (bot/replies.py), oldest first
    replies: tuple[dict[str, Any], ...] = ()
    key_results: tuple[dict[str, Any], ...] = ()  # this quarter's agreed key results: goal, text, start, target, …
    quarter: str | None = None  # the quarter they belong to (`2027-Q1`)
    day: date | None = None  # the digest's day, for the week of the quarter


@dataclass(frozen=True)
class Hint:
    key: str
    params: dict[str, Any] = field(default_factory=dict)


def _said(text: str | None) -> str | None:
    """An answer worth showing or acting on: None for one that says nothing ("none", "没什么亮点")."""
    return None if says_nothing(text) else text


def _plans(items: Any) -> list[str]:
    return [item for item in items or () if not says_nothing(item)]


def _moods(report: Report, n: int) -> list[int | None]:
    return [w.mood for w in report.weeks[:n]]


def hints_for(report: Report) -> list[Hint]:
    """Patterns worth a question in the next 1:1. Each needs enough data; silence is never over-read."""
    out: list[Hint] = []
    moods = _moods(report, 3)
    oldest = moods[2] if len(moods) == 3 else None
    if oldest is not None and moods[0] is not None and moods[1] is not None and oldest - moods[0] >= 2:
        out.append(Hint("mood_down", {"moods": list(reversed(moods))}))
    recent = report.weeks[:3]
    if len(recent) == 3 and all(w.status not in NOT_EXPECTED + ("completed",) for w in recent):
        out.append(Hint("no_checkin", {"weeks": 3}))
    for obstacle in report.obstacles:
        if obstacle["times_reported"] >= 3:
            out.append(Hint("same_blocker", {"text": obstacle["text"], "times": obstacle["times_reported"]}))
    last_two = [w for w in report.weeks[:2] if w.status == "completed"]
    if len(last_two) == 2 and all(any(s == "not_done" for _, s in w.plan) for w in last_two):
        missed = [item for w in last_two for item, s in w.plan if s == "not_done"]
        out.append(Hint("plans_not_done", {"items": missed}))
    if report.helped_mentions >= 2 and report.kudos_received_recent == 0:
        out.append(Hint("unrecognised_helper", {"mentions": report.helped_mentions}))
    if report.quarter is not None and report.day is not None:
        for kr in report.key_results:  # a key result behind the quarter's time: its value, target and week
            if lagging(kr, report.quarter, report.day):
                out.append(Hint("kr_lagging", lag_params(kr, str(kr.get("goal") or ""), report.quarter, report.day)))
    return out


THANKS_A_WEEK = 3  # the seeds: thank people specifically, at least three times a week


def manager_hints(*, kudos_given_week: int, has_reports: bool, thanks_replies_week: int = 0) -> list[Hint]:
    """A nudge, worded as encouragement and never as a score, for a manager who thanked people specifically fewer
    than three times last week: kudos and specific thank-yous sent as replies both count."""
    given = kudos_given_week + thanks_replies_week
    if has_reports and given < THANKS_A_WEEK:
        return [Hint("give_kudos", {"given": given, "kudos": kudos_given_week, "thanks": thanks_replies_week})]
    return []


def talking_points(report: Report) -> list[Hint]:
    """Suggested openings for the next 1:1, most concrete first."""
    points: list[Hint] = []
    for request in report.support:
        points.append(Hint("support", {"kind": request["kind"], "text": request["text"]}))
    this = report.weeks[0] if report.weeks else None
    if this is not None and _said(this.manager_help):
        points.append(Hint("asked_for", {"text": this.manager_help}))
    for obstacle in report.obstacles[:2]:
        points.append(Hint("obstacle", {"text": obstacle["text"]}))
    if this is not None and _said(this.wins):
        points.append(Hint("celebrate", {"text": this.wins}))
    if _plans(report.growth) and not report.actions:  # a review's actions are listed as actions already
        points.append(Hint("growth", {"items": _plans(report.growth)}))
    if this is not None and this.status not in NOT_EXPECTED + ("completed",) and not points:
        points.append(Hint("check_in_gently", {}))
    return points[:4]


def mood_trend(report: Report) -> list[int | None]:
    """Moods oldest → newest over the history window (None where there was no answer)."""
    return list(reversed(_moods(report, HISTORY_WEEKS)))


def report_params(report: Report) -> dict[str, Any]:
    this = report.weeks[0] if report.weeks else Week(period="", status="new")
    return {
        "name": report.name,
        "via": report.via,
        "paused_until": report.paused_until,
        "status": this.status,
        "mood": this.mood,
        "trend": mood_trend(report),
        "wins": _said(this.wins),
        "notes": dict(this.notes),
        "blockers": _said(this.blockers),
        "priorities": _plans(this.priorities),
        "extras": [{"step": k, "text": v} for k, v in this.extras],
        "held_back": this.held_back,
        "plan": [{"item": i, "status": s} for i, s in this.plan],
        "obstacles": [dict(o) for o in report.obstacles],
        "support": [dict(s) for s in report.support],
        "kudos_week": report.kudos_received_week,
        "actions": [dict(a) for a in report.actions],
        "hints": [{"key": h.key, **h.params, "flag": hint_flag(report, h.key)} for h in hints_for(report)],
        "flags": [dict(f) for f in report.flags if f.get("step")],
        "points": [{"key": p.key, **p.params} for p in talking_points(report)],
        "answer_ids": list(this.answer_ids),
        "replies": [dict(r) for r in report.replies],
    }


def hint_flag(report: Report, key: str) -> dict[str, Any] | None:
    """The member's latest flag on a hint of this kind, shown with the hint while it is in the digest's weeks."""
    return next((dict(f) for f in reversed(report.flags) if f.get("hint") == key), None)
