"""What the charts show, read from the database: one person's (for themselves and whoever reads their digest
section) and a team's (for its manager alone, aggregates of at least `access.MIN_GROUP` people a week).

Who may see a chart is asked of bot/access.py `may` (Part.CHARTS, Part.TEAM_CHARTS); the numbers come from the
digest's snapshot (bot/digest.py), so a chart shows what the text says. The builders are in conversations/charts.py;
drawing is the platforms' (bot/platforms/png.py, bot/platforms/feishu/charts.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot import access
from conversations.charts import (
    CHART_WEEKS,
    Chart,
    KeyResultFacts,
    WeekFacts,
    actions_chart,
    key_results_chart,
    kudos_chart,
    last_periods,
    mood_chart,
    obstacles_chart,
    participation_chart,
    quarter_elapsed,
    rhythm_chart,
    team_mood_chart,
)
from conversations.digest import NOT_EXPECTED, Report
from conversations.kudos import stored_values
from conversations.machine import Reply
from conversations.schedule import quarterly_period, weekly_period, zone
from storage import repo
from storage.models import Member, Obstacle

ACTION_STATUSES = ("open", "done", "dropped")


def _period(at: datetime, timezone: str) -> str:
    return weekly_period(at.astimezone(zone(timezone)).date())


def weeks_of(report: Report, periods: Sequence[str]) -> list[WeekFacts]:
    """A report's weeks over `periods` (oldest first) as the charts read them; weeks before they joined are left
    out (no history, nothing missed)."""
    by_period = {w.period: w for w in report.weeks}
    first = next((i for i, p in enumerate(periods) if p in by_period), len(periods))
    return [
        WeekFacts(p, by_period[p].status, by_period[p].mood) if p in by_period else WeekFacts(p, "none")
        for p in periods[first:]
    ]


def person_charts(
    s: Session,
    *,
    viewer: Member,
    member: Member,
    report: Report,
    newest: str,
    now: datetime,
    skip_level: bool = False,
) -> Reply | None:
    """Mood, check-in rhythm, this quarter's key results against the time gone, and development actions of `member`
    over the last weeks, if `viewer` may see them:
    `report` is their digest section as `viewer` reads it (with CHART_WEEKS of weeks), `newest` its week."""
    assert member.id is not None  # a stored member
    if not access.may_member(s, viewer, member, access.Part.CHARTS, now=now, skip_level=skip_level):
        return None
    periods = last_periods(newest)
    weeks = weeks_of(report, periods)
    if not weeks:
        return None
    shown = periods[len(periods) - len(weeks) :]
    opened: Counter[str] = Counter()
    done: Counter[str] = Counter()
    start = now - timedelta(weeks=CHART_WEEKS + 1)
    for a in repo.actions_of(s, owner_ids=[member.id], statuses=ACTION_STATUSES, shared_only=False):
        facts = access.action_facts(s, a)
        if not access.may_member(s, viewer, member, access.Part.ACTIONS, now=now, skip_level=skip_level, action=facts):
            continue
        since = a.opened_at or a.created_at
        if since >= start:
            opened[_period(since, member.timezone)] += 1
        if a.status == "done" and a.closed_at is not None and a.closed_at >= start:
            done[_period(a.closed_at, member.timezone)] += 1
    charts = [mood_chart(weeks), rhythm_chart(weeks)]
    if report.key_results:  # this quarter's agreed key results, as the digest section shows them (Part.GOALS)
        today = now.astimezone(zone(member.timezone)).date()
        results = [
            KeyResultFacts(
                f"{kr.get('goal_number', 1)}.{kr.get('number', 1)}",
                start=kr["start"],
                target=kr["target"],
                current=kr["current"],
                done=kr["done"],
            )
            for kr in report.key_results
        ]
        charts.append(key_results_chart(results, quarter_elapsed(quarterly_period(today), today)))
    charts.append(actions_chart(shown, opened, done))
    return Reply("charts/person", {"name": report.name, "own_view": viewer.id == member.id, **_params(charts)})


def team_charts(
    s: Session,
    *,
    manager: Member,
    reports: Sequence[Report],
    newest: str,
    now: datetime,
    values: Sequence[str] = (),
) -> Reply | None:
    """The team's weeks in aggregate for its manager: moods, how many took part, obstacles opened and resolved,
    kudos by value. `reports`: the direct reports' digest sections (CHART_WEEKS of weeks). A week, or a whole
    chart, made of fewer than access.MIN_GROUP people shows nothing; with fewer reports there are no team charts."""
    me = access.person(manager)
    assert me is not None and manager.id is not None  # a stored member

    def shown(n: int) -> bool:
        return access.may(me, me, access.Part.TEAM_CHARTS, now=now, group_size=n)

    if not shown(len(reports)):
        return None
    periods = last_periods(newest)
    moods: dict[str, list[int] | None] = {}
    took: dict[str, tuple[int, int] | None] = {}
    present: dict[str, int] = {}
    for p in periods:
        weeks = [w for r in reports for w in r.weeks if w.period == p]
        answered = [int(w.mood) for w in weeks if w.mood is not None]
        moods[p] = answered if shown(len(answered)) else None
        expected = [w for w in weeks if w.status not in NOT_EXPECTED]
        checked = sum(1 for w in expected if w.status == "completed")
        took[p] = (checked, len(expected)) if shown(len(expected)) else None
        present[p] = len(weeks)
    ids = [r.member_id for r in reports]
    start = now - timedelta(weeks=CHART_WEEKS + 1)
    opened: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    recent = sa.or_(col(Obstacle.created_at) >= start, col(Obstacle.closed_at) >= start)
    for o in s.exec(select(Obstacle).where(col(Obstacle.member_id).in_(ids), recent)):
        if o.created_at >= start:
            opened[_period(o.created_at, manager.timezone)] += 1
        if o.status == "resolved" and o.closed_at is not None and o.closed_at >= start:
            resolved[_period(o.closed_at, manager.timezone)] += 1
    obstacles = {p: (opened[p], resolved[p]) if shown(present[p]) else None for p in periods}
    tags: Counter[str] = Counter()
    for k, _ in repo.kudos_received(s, member_ids=ids, since=start):
        for tag in stored_values(k.value):
            tags[tag] += 1
    order = [v for v in values if tags[v]] + sorted(t for t in tags if t not in values)
    charts = [
        team_mood_chart(periods, moods),
        participation_chart(periods, took),
        obstacles_chart(periods, obstacles),
    ]
    if order:
        charts.append(kudos_chart({t: tags[t] for t in order}))
    return Reply("charts/team", {"reports": len(reports), "min_group": access.MIN_GROUP, **_params(charts)})


def _params(charts: Sequence[Chart]) -> dict[str, object]:
    return {"charts": [c.params() for c in charts]}
