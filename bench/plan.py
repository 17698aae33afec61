"""The plan step of a tick (`Flywheel._plan`: which runs are due, inserted), timed on its own, at the moment of
the fan-out (every member's run inserted) and in the steady state after it (the week's window is open, everyone
has their run, nothing new is due): the goal is that a tick's plan step costs what is due, not what is stored.

The steady state is timed over `ticks` ticks a minute apart (the scheduler's pace), each a whole tick whose plan
step is timed separately; the median and the slowest are reported. Then one member is added and one moved to
another time zone, and the next tick must plan exactly their two runs (and cost about what that costs)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bench.common import DUE, Result, Stopwatch, median, start_fake
from bench.fanout import build_app, timed_plan
from bot.app import TickReport
from conversations.clock import FrozenClock
from storage.models import ConversationRun, Member


def run(url: str, db: str, *, members: int = 10_000, ticks: int = 10) -> Result:
    result = Result("plan", db)
    clock = FrozenClock(DUE)
    fake = start_fake(clock)
    times: list[float] = []
    reports: list[TickReport] = []
    try:
        app = build_app(url, members, clock, fake.url)
        try:
            timed_plan(app, times, reports)
            watch = Stopwatch()
            app.tick()
            fanout_tick_s = watch.elapsed()
            fanout_plan_s, fanout_planned = times[0], reports[0].planned
            steady: list[float] = []
            for _ in range(ticks):
                clock.advance(timedelta(minutes=1))
                app.tick()
                steady.append(times[-1])
                assert reports[-1].planned == 0, reports[-1]
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
            app.tick()
            change_plan_s, change_planned = times[-1], reports[-1].planned
            clock.advance(timedelta(minutes=1))
            app.tick()
            after_change_s = times[-1]
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
            "fanout_tick_s": round(fanout_tick_s, 2),
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
