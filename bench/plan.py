"""The plan step of a tick (`Ticker._plan`: which runs are due, inserted), timed on its own, at the moment of
the fan-out (every member's run inserted) and in the steady state after it (the week's window is open, everyone
has their run, nothing new is due): the goal is that a tick's plan step costs what is due, not what is stored.

Only the plan step is run (deliveries are the fan-out benchmark's, which reports the plan step of its tick as
plan_s). The steady state is timed over `ticks` plan steps a minute apart (the scheduler's pace); the median and
the slowest are reported. Then one member is added and one moved to another time zone: the next plan step must
plan exactly the newcomer's run (the one who moved has this week's already)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bench.common import DUE, TZ, Result, Stopwatch, median, start_fake
from bench.fanout import build_app
from bot.app import TickReport
from conversations.clock import FrozenClock
from storage.models import ConversationRun, Member


def plan_step(app: Any, clock: FrozenClock, last: list[Any]) -> tuple[float, int]:
    """One tick's plan step, alone (the rest of a tick — deliveries, the outbox — is the fan-out benchmark's)."""
    report = TickReport()
    now = clock.now()
    watch = Stopwatch()
    app.ticker._plan(now, last[0], report)
    elapsed = watch.elapsed()
    last[0] = now
    return elapsed, report.planned


def seed(app: Any, members: int, now: Any) -> None:
    """Members added in one INSERT (as a directory sync would add them; it sets a new members revision too)."""
    rows = [
        {
            "handle": f"s{i}",
            "name": f"Seeded{i} Test",
            "slack_user_id": f"S{i:07d}",
            "timezone": TZ,
            "locale": "en",
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(members)
    ]
    with app.sessions() as s, s.begin():
        s.execute(sa.insert(Member), rows)


def run(url: str, db: str, *, members: int = 10_000, ticks: int = 10) -> Result:
    result = Result("plan", db)
    clock = FrozenClock(DUE)
    fake = start_fake(clock)
    last: list[Any] = [None]
    try:
        app = build_app(url, 1, clock, fake.url)  # the rest inserted in bulk: the org file's sync is slow at 50,000
        try:
            seed(app, members - 1, clock.now())
            fanout_plan_s, fanout_planned = plan_step(app, clock, last)
            steady: list[float] = []
            for _ in range(ticks):
                clock.advance(timedelta(minutes=1))
                elapsed, planned = plan_step(app, clock, last)
                assert planned == 0, planned
                steady.append(elapsed)
            # Something new in the open window: a member added, one moved to another time zone (their run for the
            # week is there already, so only the newcomer is due) — the next tick plans exactly that.
            clock.advance(timedelta(minutes=1))
            with app.sessions() as s, s.begin():
                s.add(
                    Member(
                        handle="newcomer",
                        name="New Comer",
                        timezone="Europe/London",
                        created_at=clock.now() - timedelta(days=7),
                        updated_at=clock.now(),
                    )
                )
                moved = s.get(Member, 1)
                moved.timezone, moved.updated_at = "Europe/Paris", clock.now()
            change_plan_s, change_planned = plan_step(app, clock, last)
            clock.advance(timedelta(minutes=1))
            after_change_s, _ = plan_step(app, clock, last)
            with app.engine.connect() as conn:
                runs = conn.execute(sa.select(sa.func.count()).select_from(ConversationRun.__table__)).scalar_one()
        finally:
            app.close()
    finally:
        fake.stop()
    result.figures.update(
        {
            "members": members,
            "fanout_plan_s": round(fanout_plan_s, 3),
            "fanout_planned": fanout_planned,
            "steady_plan_ms_median": round(1000 * median(steady), 2),
            "steady_plan_ms_max": round(1000 * max(steady), 2),
            "after_change_plan_ms": round(1000 * change_plan_s, 2),
            "after_change_planned": change_planned,
            "next_plan_ms": round(1000 * after_change_s, 2),
            "runs": runs,
        }
    )
    result.targets.update(
        {
            "every member planned once": fanout_planned == members and runs == members + 1,
            "newcomer planned mid-window": change_planned == 1,
        }
    )
    return result
