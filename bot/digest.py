"""Builds and sends the Monday digest: one DM per manager about their direct reports, and only them."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot import access
from bot.calendar import Calendars, paused_until
from bot.charts import team_charts
from bot.codec import encode_replies
from bot.ports import DigestSender
from bot.replies import ANSWER_STEPS, digest_numbers, latest_upward, recent_replies, released_at, thanks_given
from conversations.actions import days_open, overdue
from conversations.answers import says_nothing
from conversations.charts import CHART_WEEKS
from conversations.digest import HISTORY_WEEKS, Report, Week, manager_hints, report_params, status_at
from conversations.followups import FOLLOW_UPS
from conversations.machine import Reply
from conversations.monthly_review import NAME as MONTHLY
from conversations.render import Audience, Renderer, first_name
from conversations.replies import UPWARD_MIN
from conversations.schedule import WeeklySchedule, previous_period, quarterly_period, weekly_period, zone
from conversations.weekly_checkin import DEFAULT_STEPS
from conversations.weekly_checkin import NAME as WEEKLY
from storage import repo
from storage.models import (
    Answer,
    AnswerFlag,
    ConversationRun,
    DevelopmentAction,
    Kudos,
    Member,
    Obstacle,
    OutboxMessage,
    Retro,
    SupportRequest,
)

log = logging.getLogger(__name__)

# Monday 09:00 manager-local; sent until 21:00 that day if Flywheel was down at nine.
DIGEST_SCHEDULE = WeeklySchedule(weekday=0, at=time(9, 0), closes_weekday=0, closes_at=time(21, 0))
BUILT_IN = {a.id for a in DEFAULT_STEPS if a.each is None}  # other plain steps: the org file's extra questions
MESSAGE_BUDGET = 3000  # characters per message: under Slack's section limit, far under Feishu's card limit
SETTLED_ACTION = ("done", "dropped")  # a development action no longer followed up


def direct_reports(s: Session, *, manager_id: int) -> list[Member]:
    """A manager's active direct reports, by name ignoring case, equal names by id (`repo.by_name`)."""
    return repo.by_name(s.exec(select(Member).where(Member.manager_id == manager_id, Member.active == sa.true())))


def managers(s: Session) -> list[Member]:
    """Active members with at least one active direct report."""
    ids = select(col(Member.manager_id)).where(col(Member.manager_id).is_not(None), col(Member.active) == sa.true())
    return list(
        s.exec(select(Member).where(col(Member.active) == sa.true(), col(Member.id).in_(ids)).order_by(col(Member.id)))
    )


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "令狐",
    "长孙",
    "宇文",
    "司徒",
    "夏侯",
    "轩辕",
    "端木",
    "南宫",
    "西门",
    "独孤",
)
_LATIN = r"0-9A-Za-z_\u00c0-\u024f"  # what a Latin name must not touch on either side


def _mentions(text: str, member: Member) -> bool:
    """Whether `text` names `member`: `@handle` or their first name as a word; a Chinese name — whole, or the given
    name when it has two characters or more — anywhere, since Chinese text has no spaces between words."""
    name = member.name.strip()
    if _HAN.fullmatch(name):
        surname = next((c for c in _COMPOUND_SURNAMES if name.startswith(c)), name[:1])
        given = name[len(surname) :]
        if any(n in text for n in (name, given if len(given) >= 2 else "") if n):
            return True
        names = {f"@{member.handle}"}
    else:
        names = {f"@{member.handle}", first_name(name)}
    return any(re.search(rf"(?<![{_LATIN}]){re.escape(n)}(?![{_LATIN}])", text, re.IGNORECASE) for n in names if n)


def build_reports(
    s: Session,
    *,
    manager: Member,
    now: datetime,
    skip_level: bool = False,
    calendars: Calendars | None = None,
    weeks: int = HISTORY_WEEKS,
    upward_min: int = UPWARD_MIN,
    with_upward: bool = True,
    ages_at: datetime | None = None,
) -> tuple[list[Report], dict[str, Any]]:
    """A snapshot of each direct report's recent `weeks` (and, with `skip_level`, their reports' too). Reads
    nothing about anyone else's answers. `ages_at`: when actions' ages are counted from (`/me`: the real now,
    though the section is the one the next digest will show); `now` by default."""
    assert manager.id is not None  # a stored member
    reports = direct_reports(s, manager_id=manager.id)
    out, periods = snapshot(
        s,
        reports=reports,
        timezone=manager.timezone,
        now=now,
        viewer=manager,
        calendars=calendars,
        ages_at=ages_at,
        weeks=weeks,
    )
    if skip_level:
        for lead in reports:
            assert lead.id is not None  # a stored member
            lead_team = direct_reports(s, manager_id=lead.id)
            if lead_team:
                indirect, _ = snapshot(
                    s,
                    reports=lead_team,
                    timezone=manager.timezone,
                    now=now,
                    viewer=manager,
                    skip_level=True,
                    calendars=calendars,
                    weeks=weeks,
                )
                out.extend(replace(r, via=first_name(lead.name)) for r in indirect)
    ids = [r.id for r in reports]
    week_ago = now - timedelta(days=7)
    given_by_manager = s.exec(
        select(sa.func.count()).select_from(Kudos).where(Kudos.giver_id == manager.id, Kudos.created_at >= week_ago)
    ).one()
    upward = latest_upward(s, manager, now, minimum=upward_min) if with_upward else None
    if upward is not None:  # shown in the first digest after the month closed for everyone; `/upward` any time
        closed = released_at(s, manager.id, upward[0])
        upward = upward if closed is not None and closed >= now - timedelta(days=7) else None
    team_given = (
        s.exec(
            select(sa.func.count())
            .select_from(Kudos)
            .where(col(Kudos.giver_id).in_(ids), col(Kudos.created_at) >= week_ago)
        ).one()
        if ids
        else 0
    )
    team = {
        "period": periods[0],
        "reports": len(reports),
        "checked_in": sum(1 for r in out[: len(reports)] if r.weeks and r.weeks[0].status == "completed"),
        # the header says until when this week's check-ins may still come in, or that they have closed
        "open_until": max(
            (r.weeks[0].open_until for r in out[: len(reports)] if r.weeks and r.weeks[0].open_until), default=None
        ),
        "kudos_given": team_given,
        "kudos_received": sum(r.kudos_received_week for r in out[: len(reports)]),
        "manager_hints": [
            {"key": h.key, **h.params}
            for h in manager_hints(
                kudos_given_week=given_by_manager,
                has_reports=bool(reports),
                thanks_replies_week=thanks_given(s, manager.id, week_ago),
            )
        ],
        "upward": {"period": upward[0], "texts": upward[1], "minimum": upward_min} if upward else None,
    }
    return out, team


def action_params(action: DevelopmentAction, retro: Retro | None, *, today: date, now: datetime) -> dict[str, Any]:
    """One development action as the digest, `/me` and `/action` show it: its words, where it came from, how long
    it has been open, and its due date — "overdue" only once that date has passed (`today`: the owner's)."""
    since = action.opened_at or action.created_at
    return {
        "id": action.id,
        "text": action.text,
        "source": action.source,
        "title": retro.title if retro is not None else None,
        "since": since,
        "days_open": days_open(since, now),
        "due": action.due,
        "overdue": overdue(action.due, today) and action.status == "open",
        "status": action.status,
    }


def snapshot(
    s: Session,
    *,
    reports: Sequence[Member],
    timezone: str,
    now: datetime,
    viewer: Member,
    skip_level: bool = False,
    calendars: Calendars | None = None,
    ages_at: datetime | None = None,
    weeks: int = HISTORY_WEEKS,
) -> tuple[list[Report], list[str]]:
    """Each member's recent weeks as `viewer` may see them at `now` (bot/access.py decides, part by part; an
    action's age and whether it is overdue as of `ages_at`, `now` by default);
    `reports` are also the teammates whose wins count as mentions. Returns the reports and the periods covered,
    newest first. A paused week, or one without a working day on the member's calendar, is shown as such and never
    counts as missed."""
    calendars = calendars or Calendars()
    aged = ages_at or now
    ids: list[int] = [r.id for r in reports]  # type: ignore[misc]  # stored members: id is set
    who = {m.id: access.person(m) for m in reports}
    # The reports' own managers matter only for a skip-level reader (bot/access.py `relation`).
    bosses = (
        repo.members_by_id(s, ids=[m.manager_id for m in reports if m.manager_id is not None]) if skip_level else {}
    )
    me = access.person(viewer)

    def may(
        member_id: int,
        part: access.Part,
        run: ConversationRun | None = None,
        *,
        action: access.ActionFacts | None = None,
    ) -> bool:
        subject = who[member_id]
        assert subject is not None
        boss = bosses.get(subject.manager_id) if subject.manager_id is not None else None
        # The chain as far as this reader can stand in it: the manager, and with skip level the manager's manager.
        chain = tuple(i for i in (subject.manager_id, boss.manager_id if boss is not None else None) if i is not None)
        return access.may(
            me,
            subject,
            part,
            now=now,
            skip_level=skip_level,
            subject_manager=access.person(boss),
            run=access.run_facts(run) if run is not None else None,
            action=action,
            chain=chain,
        )

    local_monday = now.astimezone(zone(timezone)).date()
    periods = [previous_period(weekly_period(local_monday))]
    while len(periods) < weeks:
        periods.append(previous_period(periods[-1]))
    runs = list(
        s.exec(
            select(ConversationRun).where(
                ConversationRun.flow == WEEKLY,
                col(ConversationRun.member_id).in_(ids),
                col(ConversationRun.period).in_(periods),
            )
        )
    )
    # Answers only of the runs the viewer may see (a check-in not finished yet, say, shows its status alone).
    answers: dict[int, dict[str, Any]] = {
        r.id: {}  # type: ignore[misc]  # stored runs: id is set
        for r in runs
        if may(r.member_id, access.Part.RUN_ANSWERS, r)
    }
    notes: dict[int, tuple[tuple[str, str], ...]] = {}
    answer_ids: dict[int, dict[str, int]] = {}
    if answers:
        # Every answer of the weeks the text shows; of the older weeks the charts reach back to, the mood alone.
        recent = set(periods[:HISTORY_WEEKS])
        full = [r.id for r in runs if r.id in answers and r.period in recent]
        older = [r.id for r in runs if r.id in answers and r.period not in recent]
        read = list(s.exec(select(Answer).where(col(Answer.run_id).in_(full)))) if full else []
        if older:  # (a query of its own: an OR of the two would keep SQLite off the run_id index)
            read += s.exec(select(Answer).where(col(Answer.run_id).in_(older), col(Answer.step) == "mood"))
        for a in read:
            answers[a.run_id][a.step] = a.value
            if a.step in ANSWER_STEPS and a.id is not None and not says_nothing(_text(a.value)):
                answer_ids.setdefault(a.run_id, {})[a.step] = a.id
            if a.note:
                notes[a.run_id] = notes.get(a.run_id, ()) + ((a.step, a.note),)
    by_key = {(r.member_id, r.period): r for r in runs}
    flags_by_member: dict[int, list[Any]] = {}
    for f in repo.flags_of(s, member_ids=ids, periods=periods):
        flags_by_member.setdefault(f.member_id, []).append(f)
    week_ago, month_ago = now - timedelta(days=7), now - timedelta(days=28)
    received = repo.kudos_received(s, member_ids=ids, since=month_ago)
    team_wins = [
        (r.member_id, str(answers[r.id].get("wins") or ""))
        for r in runs
        if r.period in periods[:4] and r.id in answers and not says_nothing(answers[r.id].get("wins"))
    ]
    # Open obstacles, support requests, the latest monthly review's growth and open development actions: read for
    # the whole team at once (one query each), not person by person.
    obstacles: dict[int, list[Obstacle]] = {i: [] for i in ids}
    support: dict[int, list[SupportRequest]] = {i: [] for i in ids}
    open_actions: dict[int, list[tuple[DevelopmentAction, Retro | None]]] = {i: [] for i in ids}
    growth: dict[int, tuple[str, ...]] = {}
    if ids:
        found = list(
            s.exec(
                select(Obstacle)
                .where(col(Obstacle.member_id).in_(ids), col(Obstacle.status) == "open")
                .order_by(col(Obstacle.created_at), col(Obstacle.id))
            )
        )
        sources = {
            r.id: r
            for r in s.exec(
                select(ConversationRun).where(
                    col(ConversationRun.id).in_(
                        list({o.source_run_id for o in found if o.source_run_id is not None}) or [-1]
                    )
                )
            )
        }
        for o in found:
            source = sources.get(o.source_run_id) if o.source_run_id is not None else None
            if may(o.member_id, access.Part.OBSTACLES, source):
                obstacles[o.member_id].append(o)
        for r in s.exec(
            select(SupportRequest)
            .where(
                col(SupportRequest.member_id).in_(ids),
                SupportRequest.status != "resolved",
            )
            .order_by(col(SupportRequest.created_at), col(SupportRequest.id))
        ):
            if may(r.member_id, access.Part.SUPPORT):
                support[r.member_id].append(r)
        latest: dict[int, ConversationRun] = {}
        # The latest review the viewer may see: finished, or closed with what was answered by then. (Filtered
        # here, not in SQL: with a status filter SQLite picks the status index and scans every completed run.)
        for review in s.exec(
            select(ConversationRun).where(col(ConversationRun.flow) == MONTHLY, col(ConversationRun.member_id).in_(ids))
        ):
            if review.status not in ("completed", "expired", "skipped") or not may(
                review.member_id, access.Part.RUN_ANSWERS, review
            ):
                continue
            best = latest.get(review.member_id)
            if best is None or (review.due_at, review.id) > (best.due_at, best.id):
                latest[review.member_id] = review
        if latest:
            owner = {r.id: m for m, r in latest.items()}
            # what the review named and the member has since done or dropped is no longer something to grow
            settled = {
                (a.source_run_id, a.text)
                for a in repo.actions_of(s, owner_ids=ids, statuses=SETTLED_ACTION)
                if a.source == "monthly_review" and a.source_run_id in owner
            }
            for a in s.exec(select(Answer).where(col(Answer.run_id).in_(list(owner)), col(Answer.step) == "growth")):
                growth[owner[a.run_id]] = tuple(v for v in a.value or () if (a.run_id, str(v)) not in settled)
        for action, retro in repo.open_actions(s, owner_ids=ids):  # what check-ins follow up, the same rule
            # open_actions reads only shared ones: the author matters only for one not shared (bot/access.py)
            if may(action.owner_id, access.Part.ACTIONS, action=access.ActionFacts(None, shared=True)):
                open_actions[action.owner_id].append((action, retro))
    replies = recent_replies(s, viewer, reports, now)  # only those between the viewer and each member
    # This quarter's agreed key results, for the hint that asks about one lagging the quarter's time.
    today = now.astimezone(zone(timezone)).date()
    quarter = quarterly_period(today)
    key_results: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    goals = [
        g
        for g in repo.goals_of(s, owner_ids=ids, quarter=quarter, agreed_only=True)
        if may(g.owner_id, access.Part.GOALS)
    ]
    krs = repo.key_results_of(s, goal_ids=[g.id for g in goals])  # type: ignore[misc]  # stored goals
    for g in goals:
        for kr in krs[g.id]:  # type: ignore[index]  # a stored goal
            key_results[g.owner_id].append(
                {
                    "goal": g.text,
                    "goal_number": g.number,
                    "number": kr.number,
                    "text": kr.text,
                    "start": kr.start,
                    "target": kr.target,
                    "unit": kr.unit,
                    "current": kr.current,
                    "done": kr.done,
                    "agreed_on": g.agreed_at.astimezone(zone(timezone)).date() if g.agreed_at else None,
                }
            )
    out: list[Report] = []
    for member in reports:
        assert member.id is not None  # a stored member
        history = []
        joined = member.created_at.astimezone(zone(member.timezone)).date()
        for period in periods:
            year, week = period.split("-W")
            if date.fromisocalendar(int(year), int(week), 5) < joined and not by_key.get((member.id, period)):
                break  # a check-in week (Friday) before they joined: no history, and no "missing" check-in either
            run = by_key.get((member.id, period))
            if run is None:
                history.append(Week(period=period, status="off" if calendars.week_off(member, period) else "none"))
                continue
            if run.status != "completed" and (run.context or {}).get("paused_until"):
                history.append(Week(period=period, status="paused"))
                continue
            status = status_at(run.status, run.closes_at, now)
            open_until = run.closes_at if run.closes_at > now else None
            if run.id not in answers:
                history.append(Week(period=period, status=status, held_back=True, open_until=open_until))
                continue
            got = answers[run.id]
            plan_items = run.context.get("plan") or []
            plan = tuple(
                (plan_items[int(k.split(":")[1])], v)
                for k, v in sorted(got.items())
                if k.startswith("plan_review:") and int(k.split(":")[1]) < len(plan_items)
            )
            history.append(
                Week(
                    period=period,
                    status=status,
                    open_until=open_until,
                    mood=got.get("mood"),
                    wins=got.get("wins"),
                    blockers=got.get("blockers"),
                    priorities=tuple(got.get("priorities") or ()),
                    plan=plan,
                    manager_help=got.get("manager_help"),
                    extras=tuple(
                        (k, str(got[k]))
                        for k in run.context.get("steps") or ()
                        # the grouped follow-up answer is shown with last week's plan and the obstacles
                        if k not in BUILT_IN and k != FOLLOW_UPS and got.get(k) is not None
                    ),
                    notes=tuple(sorted(notes.get(run.id, ()))),
                    answer_ids=tuple(
                        (k, answer_ids[run.id][k]) for k in ANSWER_STEPS if k in answer_ids.get(run.id, {})
                    ),
                )
            )  # answers are read in no set order
        mine = [k for k, rs in received if member.id in rs]
        out.append(
            Report(
                member_id=member.id,
                name=first_name(member.name),
                weeks=tuple(history),
                obstacles=tuple(
                    {"id": o.id, "text": o.text, "since": o.created_at, "times_reported": o.times_reported}
                    for o in obstacles[member.id]
                ),
                support=tuple(
                    {"id": r.id, "kind": r.kind, "text": r.text, "since": r.created_at, "status": r.status}
                    for r in support[member.id]
                ),
                growth=growth.get(member.id, ()),
                kudos_received_week=sum(1 for k in mine if k.created_at >= week_ago),
                kudos_received_recent=len(mine),
                helped_mentions=sum(1 for author, text in team_wins if author != member.id and _mentions(text, member)),
                actions=tuple(
                    action_params(a, r, today=aged.astimezone(zone(member.timezone)).date(), now=aged)
                    for a, r in open_actions[member.id]
                ),
                flags=tuple(flag_params(f) for f in flags_by_member.get(member.id, ())),
                paused_until=paused_until(member, now),
                replies=tuple(replies.get(member.id, ())),
                key_results=tuple(key_results[member.id]),
                quarter=quarter,
                day=today,
            )
        )
    return out, periods


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def flag_params(flag: AnswerFlag) -> dict[str, Any]:
    """A member's flag "this is wrong", as the digest, `/me` and the manager's request show it."""
    return {
        "id": flag.id,
        "period": flag.period,
        "step": flag.step,
        "hint": flag.hint,
        "why": flag.reason,
        "since": flag.created_at,
        "acknowledged": flag.acknowledged_at is not None,
    }


def digest_replies(
    reports: Sequence[Report], team: dict[str, Any], refs: dict[int, dict[str, int]] | None = None
) -> list[Reply]:
    """The digest's messages; `refs` (member id → item → number) numbers the items the reader can reply to."""
    refs = refs or {}
    return (
        [Reply("digest/header", team)]
        + [
            Reply("digest/person", {**report_params(r), **({"refs": refs[r.member_id]} if r.member_id in refs else {})})
            for r in reports
        ]
        + [Reply("digest/footer", {**team, "can_reply": any(refs.values())})]
    )


def pack(
    replies: Sequence[Reply], renderer: Renderer, audience: Audience, *, budget: int = MESSAGE_BUDGET
) -> list[list[Reply]]:
    """Group replies into messages that each fit the budget; a single oversized section gets its own message
    (platform adapters split further by their own limits) — nothing is ever cut."""
    groups: list[list[Reply]] = []
    size = 0
    for reply in replies:
        length = len(renderer.render(reply, audience)) + 2
        if groups and size + length <= budget:
            groups[-1].append(reply)
            size += length
        else:
            groups.append([reply])
            size = length
    return groups


def _answers_shown(report: Report, period: str) -> bool:
    """Does this section show any answer of the check-in for `period` (not held back, not empty)?"""
    week = next((w for w in report.weeks if w.period == period), None)
    return (
        week is not None
        and not week.held_back
        and any(
            (
                week.mood is not None,
                week.wins,
                week.blockers,
                week.priorities,
                week.plan,
                week.manager_help,
                week.extras,
            )
        )
    )


def digest_time(calendars: Calendars, manager: Member, due: datetime) -> datetime:
    """When a digest due at `due` is built and sent: then, or the manager's next working time after it."""
    return calendars.send_at(manager, due)


def send_due_digests(app: DigestSender, now: datetime, last_tick: datetime | None) -> int:
    """Queue the digests that are due now; idempotent through the outbox's dedup key."""
    sent = 0
    with app.transaction() as s:
        due: list[tuple[Member, str]] = []
        for manager in managers(s):
            occ = DIGEST_SCHEDULE.latest(manager.timezone, now)
            # Built when the manager may read it: on a day off (a holiday Monday) it waits for their next working
            # time, so that what it says (who checked in, whether check-ins are still open) is true when it arrives.
            first = digest_time(app.calendars, manager, occ.due)
            if not first <= now < first + (occ.closes - occ.due) or manager.created_at > occ.due:
                continue
            key = f"digest:{manager.id}:{occ.period}:0"
            if s.exec(select(OutboxMessage.id).where(OutboxMessage.dedup_key == key)).first() is None:
                due.append((manager, occ.period))
    for manager, period in due:
        with app.transaction() as s:
            manager = s.exec(select(Member).where(Member.id == manager.id).with_for_update(skip_locked=True)).first()  # type: ignore[assignment]  # None: gone meanwhile
            key = f"digest:{manager.id}:{period}:0" if manager else ""
            if manager is None or s.exec(select(OutboxMessage.id).where(OutboxMessage.dedup_key == key)).first():
                continue  # another replica holds or has built this digest
            reports, team = build_reports(
                s,
                manager=manager,
                now=now,
                skip_level=app.skip_level,
                calendars=app.calendars,
                upward_min=app.upward_min,
                weeks=CHART_WEEKS,
            )
            if not any(r.weeks for r in reports):
                continue  # a brand-new team: nothing to say yet, and "0 of 3 checked in" would be unfair
            for r in reports:  # the check-in is named only where answers of it were shown (not held back)
                repo.audit(
                    s,
                    actor_id=manager.id,
                    subject_ids=[r.member_id],
                    what=repo.AUDIT_READS["digest"],
                    now=now,
                    part=team["period"] if _answers_shown(r, team["period"]) else None,
                )
            audience = Audience(manager.locale, manager.timezone, manager.name)
            assert manager.id is not None  # a stored member
            refs = {  # numbers to reply with, for the manager's own reports (not a skip level's)
                r.member_id: digest_numbers(s, manager.id, report_params(r), now) for r in reports if r.via is None
            }
            groups = pack(digest_replies(reports, team, refs), app.renderer, audience)
            # The team's charts (bot/charts.py: aggregates of at least three people, or none) follow as a message
            # of their own: the picture is drawn when it is sent, by the platform.
            pictures = team_charts(
                s, manager=manager, reports=reports[: team["reports"]], newest=team["period"], now=now
            )
            if pictures is not None:
                groups.append([pictures])
            for i, group in enumerate(groups):
                repo.enqueue(
                    s,
                    dedup_key=f"digest:{manager.id}:{period}:{i}",
                    member_id=manager.id,
                    kind="digest_charts" if group[0].template.startswith("charts/") else "digest",
                    body=encode_replies(group),
                    now=now,
                    not_before=app.calendars.send_at(manager, now),
                )
            log.info("digest %s queued for manager %s (%d reports)", period, manager.id, len(reports))
            sent += 1
    return sent
