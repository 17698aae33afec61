"""Digests: 1,000 members, 100 managers, 52 weeks of history. Time to build every manager's digest (the same
code the Monday tick runs: snapshot, hints, rendering and packing into messages) and the slowest single one,
against a floor: raw SQL on the DBAPI connection reading the same rows for each manager."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.common import TZ, Result, Stopwatch, org_config
from bot.app import Flywheel
from bot.codec import decode_replies
from bot.digest import build_reports, digest_replies, managers, pack, send_due_digests
from bot.platforms.png import render
from bot.settings import Settings
from conversations.charts import charts_of
from conversations.clock import UTC, FrozenClock
from conversations.digest import HISTORY_WEEKS
from conversations.render import Audience
from conversations.schedule import previous_period, quarterly_period, weekly_period, zone
from storage.models import (
    Answer,
    ConversationRun,
    DevelopmentAction,
    Goal,
    KeyResult,
    Kudos,
    KudosRecipient,
    Member,
    Obstacle,
    OutboxMessage,
    Retro,
    SupportRequest,
)

# Monday 30 Nov 2026, 09:00 London: every manager's digest is due.
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=zone(TZ)).astimezone(UTC)


def seed(app: Flywheel, *, weeks: int, rng: random.Random) -> dict[str, int]:
    """A year of history in bulk: weekly check-ins (mostly completed, some expired or missing) with every answer,
    monthly reviews, open obstacles, support requests, kudos, retro actions, and this quarter's goals with key
    results."""
    with app.engine.begin() as conn:
        people = conn.execute(sa.select(Member.id, Member.manager_id).order_by(Member.id)).all()
        joined = NOW - timedelta(weeks=weeks + 2)
        conn.execute(sa.update(Member.__table__).values(created_at=joined))
        friday = NOW.astimezone(zone(TZ)).date() - timedelta(days=3)
        periods = [(weekly_period(friday - timedelta(weeks=w)), friday - timedelta(weeks=w)) for w in range(weeks)]
        runs, run_id = [], 0
        answer_rows: list[dict[str, Any]] = []
        for member_id, manager_id in people:
            for period, day in periods:
                roll = rng.random()
                if roll < 0.05:
                    continue  # no run at all that week
                run_id += 1
                due = datetime(day.year, day.month, day.day, 15, tzinfo=zone(TZ)).astimezone(UTC)
                status = "completed" if roll > 0.15 else "expired"
                plan = [f"priority {k} of {period}" for k in range(rng.randint(0, 3))]
                steps = (
                    ["mood", "wins"]
                    + [f"plan_review:{k}" for k in range(len(plan))]
                    + ["blockers", "priorities"]
                    + (["manager_help"] if manager_id else [])
                )
                runs.append(
                    {
                        "id": run_id,
                        "flow": "weekly_checkin",
                        "member_id": member_id,
                        "period": period,
                        "status": status,
                        "step": None,
                        "context": {"plan": plan, "steps": steps, "has_manager": manager_id is not None},
                        "due_at": due,
                        "prompt_at": due,
                        "closes_at": due + timedelta(days=2, hours=21),
                        "reminded": False,
                        "prompted_at": due,
                        "last_activity_at": due + timedelta(hours=1),
                        "completed_at": due + timedelta(hours=1) if status == "completed" else None,
                        "created_at": due,
                        "updated_at": due + timedelta(hours=1),
                    }
                )
                values: dict[str, Any] = {"mood": rng.randint(1, 5)}
                if status == "completed":
                    mate = rng.choice(people)[0]
                    values.update(
                        {
                            "wins": f"Shipped part {rng.randint(1, 99)} with Member{mate} and the team",
                            "blockers": None if rng.random() < 0.7 else f"Waiting on review {rng.randint(1, 5)}",
                            "priorities": [f"priority {k} of next week" for k in range(rng.randint(1, 3))],
                            **{
                                f"plan_review:{k}": rng.choice(["done", "partly", "not_done"]) for k in range(len(plan))
                            },
                        }
                    )
                    if manager_id and rng.random() < 0.3:
                        values["manager_help"] = "A decision on the roadmap"
                for step, value in values.items():
                    answer_rows.append(
                        {
                            "run_id": run_id,
                            "member_id": member_id,
                            "step": step,
                            "value": value,
                            "note": "It was really the team" if rng.random() < 0.01 else None,
                            "created_at": due,
                            "updated_at": due,
                        }
                    )
        months = sorted({(d.year, d.month) for _, d in periods})[-12:]
        reviews = []
        for member_id, _manager_id in people:
            for year, month in months:
                run_id += 1
                due = datetime(year, month, 3, 10, tzinfo=UTC)
                reviews.append(
                    {
                        "id": run_id,
                        "flow": "monthly_review",
                        "member_id": member_id,
                        "period": f"{year}-{month:02d}",
                        "status": "completed",
                        "step": None,
                        "context": {"steps": ["biggest_obstacle", "growth"]},
                        "due_at": due,
                        "prompt_at": due,
                        "closes_at": due + timedelta(days=7),
                        "reminded": False,
                        "prompted_at": due,
                        "last_activity_at": due,
                        "created_at": due,
                        "updated_at": due,
                        "completed_at": due,
                    }
                )
                answer_rows.append(
                    {
                        "run_id": run_id,
                        "member_id": member_id,
                        "step": "growth",
                        "note": None,
                        "value": ["public speaking", "system design"],
                        "created_at": due,
                        "updated_at": due,
                    }
                )
        conn.execute(sa.insert(ConversationRun.__table__), runs + reviews)
        for i in range(0, len(answer_rows), 20000):
            conn.execute(sa.insert(Answer.__table__), answer_rows[i : i + 20000])
        obstacles, support = [], []
        for member_id, manager_id in people:
            for k in range(rng.randint(0, 3)):
                obstacles.append(
                    {
                        "member_id": member_id,
                        "text": f"Obstacle {k} of {member_id}",
                        "status": "open",
                        "times_reported": rng.randint(1, 4),
                        "created_at": joined + timedelta(days=k),
                        "updated_at": NOW,
                    }
                )
            if manager_id and rng.random() < 0.2:
                support.append(
                    {
                        "member_id": member_id,
                        "manager_id": manager_id,
                        "kind": "decision",
                        "text": "Which project first?",
                        "status": "open",
                        "created_at": NOW - timedelta(days=9),
                        "updated_at": NOW,
                    }
                )
        conn.execute(sa.insert(Obstacle.__table__), obstacles)
        if support:
            conn.execute(sa.insert(SupportRequest.__table__), support)
        ids = [p[0] for p in people]
        kudos, recipients = [], []
        for k in range(1, 3 * len(people) + 1):
            at = NOW - timedelta(hours=rng.randint(1, weeks * 7 * 24))
            kudos.append(
                {
                    "id": k,
                    "giver_id": rng.choice(ids),
                    "reason": "for the help",
                    "value": "teamwork",
                    "period": weekly_period(at.date()),
                    "created_at": at,
                }
            )
            for r in rng.sample(ids, rng.randint(1, 2)):
                recipients.append({"kudos_id": k, "member_id": r})
        conn.execute(sa.insert(Kudos.__table__), kudos)
        conn.execute(sa.insert(KudosRecipient.__table__), recipients)
        retros, actions = [], []
        for k in range(1, 51):
            at = NOW - timedelta(days=rng.randint(15, 300))
            retros.append(
                {
                    "id": k,
                    "title": f"Project {k}",
                    "started_by": rng.choice(ids),
                    "status": "summarised",
                    "due_at": at,
                    "created_at": at,
                    "summarised_at": at,
                    "anonymous": False,
                }
            )
            for _ in range(4):
                actions.append(
                    {
                        "retro_id": k,
                        "owner_id": rng.choice(ids),
                        "text": "Write the runbook",
                        "source": "retro",
                        "status": rng.choice(["open", "done"]),
                        "created_at": at,
                        "opened_at": at,
                        "shared_at": at,
                    }
                )
        conn.execute(sa.insert(Retro.__table__), retros)
        conn.execute(sa.insert(DevelopmentAction.__table__), actions)
        # This quarter's goals, agreed: two per member, each with a measured key result and a done / not done one
        # (the digest reads them for its lagging hint), and a team goal per manager.
        quarter = quarterly_period(NOW.astimezone(zone(TZ)).date())
        goals, key_results = [], []
        bosses = sorted({m for _, m in people if m is not None})
        for number, (owner, scope) in enumerate(
            [(m, "personal") for m, _ in people for _ in (1, 2)] + [(b, "team") for b in bosses], start=1
        ):
            goals.append(
                {
                    "id": number,
                    "owner_id": owner,
                    "scope": scope,
                    "quarter": quarter,
                    "number": 1 if scope == "team" or number % 2 else 2,
                    "text": f"Goal {number}",
                    "member_agreed": True,
                    "manager_agreed": True,
                    "created_at": NOW,
                    "updated_at": NOW,
                    "agreed_at": NOW,
                }
            )
            key_results += [
                {
                    "goal_id": number,
                    "number": 1,
                    "text": "activation from 0 to 100 %",
                    "start": 0.0,
                    "target": 100.0,
                    "unit": "%",
                    "current": float(rng.randint(0, 100)),
                    "done": False,
                    "updated_at": NOW,
                },
                {
                    "goal_id": number,
                    "number": 2,
                    "text": "guide published",
                    "start": None,
                    "target": None,
                    "unit": None,
                    "current": None,
                    "done": rng.random() < 0.5,
                    "updated_at": NOW,
                },
            ]
        conn.execute(sa.insert(Goal.__table__), goals)
        conn.execute(sa.insert(KeyResult.__table__), key_results)
    if app.engine.dialect.name == "postgresql":
        with app.engine.begin() as conn:  # explicit ids were inserted: move the sequences past them
            for table in ("conversation_run", "kudos", "retro", "goal"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            conn.exec_driver_sql("ANALYZE")
    else:
        with app.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {
        "weekly_runs": len(runs),
        "monthly_runs": len(reviews),
        "answers": len(answer_rows),
        "obstacles": len(obstacles),
        "support_requests": len(support),
        "kudos": len(kudos),
        "goals": len(goals),
        "key_results": len(key_results),
    }


FLOOR_SQL = [
    # what build_reports reads for one manager, as plain SQL with the same filters
    "SELECT * FROM member WHERE manager_id = {mgr} AND active ORDER BY name",
    "SELECT * FROM conversation_run WHERE flow = 'weekly_checkin' AND member_id IN ({ids}) AND period IN ({periods})",
    "SELECT a.* FROM answer a JOIN conversation_run r ON r.id = a.run_id WHERE r.flow = 'weekly_checkin' "
    "AND r.member_id IN ({ids}) AND r.period IN ({periods})",
    "SELECT k.*, kr.member_id FROM kudos k JOIN kudos_recipient kr ON kr.kudos_id = k.id "
    "WHERE kr.member_id IN ({ids}) AND k.created_at >= '{month_ago}'",
    "SELECT * FROM obstacle WHERE member_id IN ({ids}) AND status = 'open' ORDER BY created_at",
    "SELECT * FROM support_request WHERE member_id IN ({ids}) AND status != 'resolved' ORDER BY created_at",
    "SELECT a.* FROM answer a JOIN (SELECT member_id, max(due_at) AS due FROM conversation_run "
    "WHERE flow = 'monthly_review' AND status = 'completed' AND member_id IN ({ids}) GROUP BY member_id) last "
    "ON true JOIN conversation_run r ON r.member_id = last.member_id AND r.due_at = last.due "
    "AND r.flow = 'monthly_review' WHERE a.run_id = r.id",
    "SELECT * FROM development_action WHERE owner_id IN ({ids}) AND status = 'open' AND shared_at IS NOT NULL "
    "ORDER BY created_at",
    "SELECT count(*) FROM kudos WHERE giver_id = {mgr} AND created_at >= '{week_ago}'",
    "SELECT count(*) FROM kudos WHERE giver_id IN ({ids}) AND created_at >= '{week_ago}'",
]


def floor(app: Flywheel, manager_ids: list[int]) -> tuple[float, float, int]:
    """Raw SQL reading the same rows, manager by manager; returns (total s, slowest s, rows read)."""
    friday = NOW.astimezone(zone(TZ)).date()
    periods = [previous_period(weekly_period(friday))]
    while len(periods) < HISTORY_WEEKS:
        periods.append(previous_period(periods[-1]))
    fmt = "%Y-%m-%d %H:%M:%S"
    stamp = {
        "month_ago": (NOW - timedelta(days=28)).strftime(fmt),
        "week_ago": (NOW - timedelta(days=7)).strftime(fmt),
        "overdue": (NOW - timedelta(days=14)).strftime(fmt),
        "periods": ", ".join(f"'{p}'" for p in periods),
    }
    total, slowest, rows = Stopwatch(), 0.0, 0
    with app.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for mgr in manager_ids:
            one = Stopwatch()
            cursor.execute(f"SELECT id FROM member WHERE manager_id = {mgr} AND active")
            ids = ", ".join(str(r[0]) for r in cursor.fetchall()) or "0"
            for sql in FLOOR_SQL:
                cursor.execute(sql.format(mgr=mgr, ids=ids, **stamp))
                rows += len(cursor.fetchall())
            slowest = max(slowest, one.elapsed())
        cursor.close()
    return total.elapsed(), slowest, rows


def run(url: str, db: str, *, members: int = 1000, n_managers: int = 100, weeks: int = 52, seed_: int = 7) -> Result:
    result = Result("digest", db)
    clock = FrozenClock(NOW)
    app = Flywheel.build(Settings(database_url=url), clock=clock, config=org_config(members, managers=n_managers))
    try:
        seeding = Stopwatch()
        counts = seed(app, weeks=weeks, rng=random.Random(seed_))
        seed_s = seeding.elapsed()
        with app.transaction() as s:
            manager_ids = [m.id for m in managers(s)]
        # Flywheel: every manager's digest built and rendered, each in its own transaction like the tick does.
        times, messages, queries = [], 0, [0]

        def count(*_: Any) -> None:
            queries[0] += 1

        sa.event.listen(app.engine, "before_cursor_execute", count)
        total = Stopwatch()
        for mgr in manager_ids:
            one = Stopwatch()
            with app.transaction() as s:
                manager = s.get(Member, mgr)
                reports, team = build_reports(s, manager=manager, now=NOW, skip_level=app.skip_level)
                audience = Audience(manager.locale, manager.timezone, manager.name)
                messages += len(pack(digest_replies(reports, team), app.renderer, audience))
            times.append(one.elapsed())
        build_s = total.elapsed()
        sa.event.remove(app.engine, "before_cursor_execute", count)
        # The same through the Monday tick's own path (audit records and the outbox included).
        tick = Stopwatch()
        queued = send_due_digests(app, NOW, NOW - timedelta(seconds=30))
        tick_s = tick.elapsed()
        with app.engine.connect() as conn:
            outbox = conn.execute(
                sa.select(sa.func.count()).select_from(OutboxMessage.__table__).where(OutboxMessage.kind == "digest")
            ).scalar_one()
        # Charts (issue 18): each team-chart message the tick queued, drawn as Slack and the console draw it.
        drawing = Stopwatch()
        with app.engine.connect() as conn:
            bodies = (
                conn.execute(sa.select(OutboxMessage.body).where(OutboxMessage.kind == "digest_charts")).scalars().all()
            )
        png_bytes = 0
        for body in bodies:
            png_bytes += len(render([c for r in decode_replies(body) for c in charts_of(r.template, r.params)]))
        draw_s = drawing.elapsed()
        floor_s, floor_slowest, floor_rows = floor(app, manager_ids)
    finally:
        app.close()
    slowest = max(times) if times else float("nan")
    result.figures.update(
        {
            "members": members,
            "managers": len(manager_ids),
            "weeks": weeks,
            **counts,
            "seed_s": round(seed_s, 1),
            "all_digests_s": round(build_s, 3),
            "slowest_ms": round(slowest * 1000, 1),
            "median_ms": round(sorted(times)[len(times) // 2] * 1000, 1) if times else None,
            "queries_per_digest": round(queries[0] / max(len(manager_ids), 1), 1),
            "messages": messages,
            "tick_path_s": round(tick_s, 3),
            "tick_digests_queued": queued,
            "tick_outbox_messages": outbox,
            "chart_messages": len(bodies),
            "charts_draw_s": round(draw_s, 3),
            "png_kb_mean": round(png_bytes / max(len(bodies), 1) / 1024, 1),
            "floor_all_s": round(floor_s, 3),
            "floor_slowest_ms": round(floor_slowest * 1000, 1),
            "floor_rows": floor_rows,
            "ratio_all": round(build_s / floor_s, 2) if floor_s else None,
        }
    )
    result.targets.update(
        {
            "all digests < 10 s": build_s < 10,
            "slowest digest < 200 ms": slowest < 0.2,
            "every manager's digest queued": queued == len(manager_ids),
        }
    )
    return result
