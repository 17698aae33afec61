"""Fan-out: the weekly check-in to every member through the fake Slack Web API.

1. Unlimited: Flywheel's tick (plan, deliver — every state change persisted — and the outbox drained in its
   20-row claims) against a bare `slack_sdk` script posting the very same DMs (the recorded payloads, replayed)
   to the same fake server. Both prompts/s are reported, and their ratio.
2. Limited: the fake enforces 1 message/s per channel and a workspace rate, on a simulated clock that the
   driver moves to the bot's own next wake-up (the bot never sleeps on a 429; it schedules `next_attempt_at`).
   The simulated time to prompt everyone is compared with the time the limits themselves impose.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from slack_sdk import WebClient

from bench.common import DUE, LimitedSlack, Result, Stopwatch, org_config, slack_id, start_fake
from bot.app import Flywheel, TickReport
from bot.platforms.slack.messenger import SlackMessenger
from bot.settings import Settings
from conversations.clock import FrozenClock
from storage.models import ConversationRun, OutboxMessage, RunTransition

TOKEN = "xoxb-bench"


def build_app(url: str, members: int, clock: FrozenClock, api_url: str, *, managers: int = 0) -> Flywheel:
    return Flywheel.build(
        Settings(database_url=url),
        clock=clock,
        config=org_config(members, managers=managers),
        messengers={"slack": SlackMessenger.from_settings(TOKEN, api_url)},
    )


def timed_plan(app: Flywheel, times: list[float], reports: list[TickReport] | None = None) -> None:
    """Wrap the app's plan step so that every tick records how long it took and what it planned."""
    plan = app.ticker._plan

    def wrapper(now: Any, last_tick: Any, report: TickReport) -> None:
        watch = Stopwatch()
        plan(now, last_tick, report)
        times.append(watch.elapsed())
        if reports is not None:
            reports.append(report)

    app.ticker._plan = wrapper  # type: ignore[method-assign]  # timed in place, for this benchmark only


def check_exactly_once(app: Flywheel, posted: list[Any], members: int) -> dict[str, int]:
    """Every member prompted exactly once, and every state change on record."""
    per_channel = Counter(c.params["channel"] for c in posted)
    wrong = sum(1 for i in range(members) if per_channel.get(slack_id(i)) != 1) + sum(
        1 for ch in per_channel if not ch.startswith("U")
    )
    with app.engine.connect() as conn:
        prompted = conn.execute(
            sa.select(sa.func.count())
            .select_from(ConversationRun.__table__)
            .where(ConversationRun.status == "prompted")
        ).scalar_one()
        transitions = conn.execute(
            sa.select(sa.func.count()).select_from(RunTransition.__table__).where(RunTransition.trigger == "deliver")
        ).scalar_one()
        sent = conn.execute(
            sa.select(sa.func.count())
            .select_from(OutboxMessage.__table__)
            .where(OutboxMessage.status == "sent", OutboxMessage.kind == "deliver")
        ).scalar_one()
    return {
        "members_prompted_once": members - wrong,
        "runs_prompted": prompted,
        "deliver_transitions": transitions,
        "outbox_sent": sent,
    }


def unlimited(url: str, db: str, members: int) -> Result:
    clock = FrozenClock(DUE)
    fake = start_fake(clock)
    result = Result("fanout", db)
    try:
        app = build_app(url, members, clock, fake.url)
        plan_times: list[float] = []
        timed_plan(app, plan_times)
        try:
            watch = Stopwatch()
            report = app.tick()
            flywheel_s = watch.elapsed()
            posted = fake.posted()
            checks = check_exactly_once(app, posted, members)
        finally:
            app.close()
        # The floor: the same DMs (recorded payloads) posted by a bare slack_sdk client to the same server.
        payloads = [dict(c.params) for c in posted]
        client = WebClient(token=TOKEN, base_url=fake.url, timeout=10)
        before = len(fake.posted())
        watch = Stopwatch()
        for params in payloads:
            client.chat_postMessage(**params)
        floor_s = watch.elapsed()
        floor_posted = len(fake.posted()) - before
    finally:
        fake.stop()
    flywheel_rate, floor_rate = report.delivered / flywheel_s, floor_posted / floor_s
    result.figures.update(
        {
            "members": members,
            "flywheel_s": round(flywheel_s, 2),
            "plan_s": round(plan_times[0], 2),  # of flywheel_s: the tick's plan step (every run inserted)
            "flywheel_prompts_per_s": round(flywheel_rate, 1),
            "floor_s": round(floor_s, 2),
            "floor_prompts_per_s": round(floor_rate, 1),
            "ratio": round(flywheel_rate / floor_rate, 3),
            **checks,
            "tick_sent": report.sent,
        }
    )
    result.targets.update(
        {
            "throughput >= 0.5 x floor": flywheel_rate >= 0.5 * floor_rate,
            "all prompted in < 60 s": flywheel_s < 60 and checks["members_prompted_once"] == members,
        }
    )
    return result


def limited(url: str, db: str, members: int, *, workspace_rate: int = 100) -> Result:
    clock = FrozenClock(DUE)
    fake = start_fake(clock)
    limits = LimitedSlack(workspace=workspace_rate, per_channel=1)
    fake.rule = limits
    result = Result("fanout_limited", db)
    try:
        app = build_app(url, members, clock, fake.url)
        try:
            watch = Stopwatch()
            app.tick()
            passes = 1
            while len(fake.delivered) < members and passes < 100 * (members // workspace_rate + 10):
                nxt = app.next_wakeup(clock.now())
                if nxt is None:
                    break
                clock.set(nxt)
                app.deliver_outbox()
                passes += 1
            wall_s = watch.elapsed()
            posted = [c for c, _ in fake.delivered]
            checks = check_exactly_once(app, posted, members)
            with app.engine.connect() as conn:
                failed = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(OutboxMessage.__table__)
                    .where(OutboxMessage.status == "failed")
                ).scalar_one()
        finally:
            app.close()
    finally:
        fake.stop()
    last = max((c.at for c in posted), default=DUE)
    simulated_s = (last - DUE).total_seconds()
    imposed_s = float((members - 1) // workspace_rate)  # the last message cannot be accepted before this second
    calls = len(fake.posted())
    result.figures.update(
        {
            "members": members,
            "workspace_rate_per_s": workspace_rate,
            "per_channel_per_s": 1,
            "simulated_s": round(simulated_s, 1),
            "imposed_s": imposed_s,
            "ratio": round(simulated_s / imposed_s, 3) if imposed_s else None,
            "wall_s": round(wall_s, 2),
            "post_calls": calls,
            "refused_429": limits.refused,
            "outbox_failed": failed,
            "driver_passes": passes,
            **checks,
        }
    )
    result.targets.update(
        {
            "within 10% of imposed time": bool(imposed_s)
            and simulated_s <= 1.10 * imposed_s
            and checks["members_prompted_once"] == members,
        }
    )
    return result
