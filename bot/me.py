"""Each member's own view (`/me`), their data export (`/me export`), and deleting a member's data on request.

`/me` shows a member exactly the section their manager's digest shows about them, rendered by the same
template, so there is nothing a manager sees that the member cannot.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot import access, feedback, oneonone
from bot.calendar import Calendars, paused_until
from bot.charts import person_charts
from bot.digest import DIGEST_SCHEDULE, build_reports, snapshot
from bot.goals import served_goals
from bot.platforms import identity
from conversations.charts import CHART_WEEKS
from conversations.commands import after_words
from conversations.dates import split_week
from conversations.digest import HISTORY_WEEKS, Report, report_params
from conversations.kudos import KudosSettings, stored_values
from conversations.machine import Reply
from conversations.render import NEUTRALISED, first_name
from conversations.schedule import zone
from storage import repo
from storage.models import (
    Answer,
    AnswerFlag,
    AnswerReply,
    AuditRecord,
    ConversationRun,
    DeletionRequest,
    DevelopmentAction,
    ErasedAccount,
    Goal,
    GoalComment,
    Kudos,
    KudosRecipient,
    ManagerRequest,
    Member,
    Obstacle,
    OutboxMessage,
    ReplyRef,
    RunTransition,
    SupportRequest,
    UpwardAnswer,
    UpwardFeedback,
    UpwardRespondent,
)

MAX_NOTE = 1000  # characters in one note on an answer (the column's size)


def own_report(
    s: Session,
    member: Member,
    now: datetime,
    *,
    manager: Member | None = None,
    calendars: Calendars | None = None,
    weeks: int = HISTORY_WEEKS,
) -> Report:
    """The section about `member` in their manager's next digest, exactly as it will show (the week being checked
    in now included); without a manager, as it would show. `/me`, the App Home and flags on hints all read this.
    Actions' ages are as of `now`, so `/me` and `/action` agree."""
    if manager is not None:
        at = DIGEST_SCHEDULE.next_after(manager.timezone, now).due
        reports, _ = build_reports(
            s, manager=manager, now=at, calendars=calendars, with_upward=False, ages_at=now, weeks=weeks
        )
        return next(r for r in reports if r.member_id == member.id)
    at = DIGEST_SCHEDULE.next_after(member.timezone, now).due
    return snapshot(
        s,
        reports=[member],
        timezone=member.timezone,
        now=at,
        viewer=member,
        calendars=calendars,
        ages_at=now,
        weeks=weeks,
    )[0][0]


def view(
    s: Session,
    member: Member,
    now: datetime,
    kudos: KudosSettings,
    *,
    skip_level: bool = False,
    calendars: Calendars | None = None,
) -> list[Reply]:
    # Whom the intro names is whoever the rule lets see this member's answers (bot/access.py).
    assert member.id is not None  # a stored member
    seen = access.seen_by(s, member, skip_level=skip_level)
    manager = next((m for m in seen if m.id == member.manager_id), None)
    skip = next((m for m in seen if m.id != member.manager_id), None) if manager else None
    mine = own_report(s, member, now, manager=manager, calendars=calendars, weeks=CHART_WEEKS)
    pictures = (
        person_charts(s, viewer=member, member=member, report=mine, newest=mine.weeks[0].period, now=now)
        if mine.weeks
        else None
    )
    received = repo.kudos_received(s, member_ids=[member.id])
    badges = Counter(key for k, _ in received for key in stored_values(k.value))
    return [
        Reply(
            "me/intro",
            {
                "manager_name": first_name(manager.name) if manager else None,
                "skip_name": first_name(skip.name) if skip else None,
                "paused_until": paused_until(member, now),
            },
        ),
        Reply("digest/person", {**report_params(mine), "own_view": True}),
        Reply(
            "me/outro",
            {
                "kudos_total": len(received),
                "badges": [
                    {"emoji": v.emoji, "en": v.en, "zh": v.zh, "count": badges[v.key]}
                    for v in kudos.values
                    if badges[v.key]
                ],
            },
        ),
    ] + ([pictures] if pictures is not None else [])


def charts_view(
    s: Session,
    viewer: Member,
    who: str,
    *,
    platform: str,
    now: datetime,
    skip_level: bool = False,
    calendars: Calendars | None = None,
) -> Reply:
    """`/me charts` (one's own) or `/me charts @alice` (a report's, for their manager): the person's charts as the
    viewer's digest would show them. Whether the viewer may is bot/access.py's (Part.CHARTS)."""
    subject = identity.member_by_mention(s, platform=platform, token=who) if who else viewer
    if subject is None or not subject.active:
        return Reply("charts/unknown_member", {"who": who})
    if not access.may_member(s, viewer, subject, access.Part.CHARTS, now=now, skip_level=skip_level):
        return Reply("charts/not_yours", {"who": first_name(subject.name)})
    at = DIGEST_SCHEDULE.next_after(viewer.timezone, now).due
    (report,), _ = snapshot(
        s,
        reports=[subject],
        timezone=viewer.timezone,
        now=at,
        viewer=viewer,
        skip_level=skip_level,
        calendars=calendars,
        weeks=CHART_WEEKS,
    )
    pictures = (
        person_charts(
            s,
            viewer=viewer,
            member=subject,
            report=report,
            newest=report.weeks[0].period,
            now=now,
            skip_level=skip_level,
        )
        if report.weeks
        else None
    )
    return pictures or Reply("charts/none", {"who": None if subject.id == viewer.id else first_name(subject.name)})


def export(s: Session, member: Member, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything Flywheel stores about one person, as plain JSON-able data: for that person only."""
    if not access.may_member(s, member, member, access.Part.PROFILE, now=now or datetime.now(UTC)):
        return {}
    assert member.id is not None  # a stored member
    manager = s.get(Member, member.manager_id) if member.manager_id else None
    runs = list(
        s.exec(
            select(ConversationRun)
            .where(col(ConversationRun.member_id) == member.id)
            .order_by(col(ConversationRun.due_at))
        )
    )
    answers: dict[int, dict[str, Any]] = {r.id: {} for r in runs}  # type: ignore[misc]  # stored runs: id is set
    notes: dict[int, dict[str, str]] = {}
    for a in s.exec(select(Answer).where(Answer.member_id == member.id)):
        answers.setdefault(a.run_id, {})[a.step] = a.value
        if a.note:
            notes.setdefault(a.run_id, {})[a.step] = a.note
    flags: dict[int, dict[str, dict[str, Any]]] = {}
    hint_flags = []
    for f in repo.flags_of(s, member_ids=[member.id]):
        shown = {
            "why": f.reason,
            "flagged_at": f.created_at.isoformat(),
            "acknowledged_at": f.acknowledged_at.isoformat() if f.acknowledged_at else None,
        }
        if f.run_id is not None and f.step is not None:
            flags.setdefault(f.run_id, {})[f.step] = shown
        else:
            hint_flags.append({"hint": f.hint, "period": f.period, **shown})
    given = list(
        s.exec(select(Kudos).where(col(Kudos.giver_id) == member.id).order_by(col(Kudos.created_at), col(Kudos.id)))
    )
    received = repo.kudos_received(s, member_ids=[member.id])
    people = repo.members_by_id(
        s,
        ids=[k.giver_id for k, _ in received] + [m for k in given for m in _recipients(s, k.id)],  # type: ignore[arg-type]  # stored kudos: id is set
    )
    return {
        "profile": {
            "handle": member.handle,
            "name": member.name,
            "timezone": member.timezone,
            "locale": member.locale,
            "team": member.team,
            "manager": manager.handle if manager else None,
            "paused_until": _pause_text(member, now),
        },
        "conversations": [
            {
                "flow": r.flow,
                "period": r.period,
                "status": r.status,
                "due_at": r.due_at.isoformat(),
                "answers": answers.get(r.id, {}),  # type: ignore[arg-type]  # stored runs: id is set
                "notes": notes.get(r.id, {}),  # type: ignore[arg-type]  # as above
                "flags": flags.get(r.id, {}),  # type: ignore[arg-type]  # as above
            }
            for r in runs
        ],
        "hint_flags": hint_flags,
        "obstacles": [
            {"text": o.text, "status": o.status, "since": o.created_at.isoformat(), "times_reported": o.times_reported}
            for o in s.exec(select(Obstacle).where(Obstacle.member_id == member.id))
        ],
        "support_requests": [
            {"kind": r.kind, "text": r.text, "status": r.status, "since": r.created_at.isoformat()}
            for r in s.exec(select(SupportRequest).where(SupportRequest.member_id == member.id))
        ],
        "development_actions": _actions_export(s, member, now or datetime.now(UTC)),
        "goals": _goals_export(s, member),
        "goal_comments_written": [  # their words on others' goals (not the goals: those are the others')
            {"goal_number": g.number, "quarter": g.quarter, "text": c.text, "at": c.created_at.isoformat()}
            for c, g in s.exec(
                select(GoalComment, Goal)
                .where(GoalComment.goal_id == Goal.id, GoalComment.author_id == member.id, Goal.owner_id != member.id)
                .order_by(col(GoalComment.created_at))
            )
        ],
        "kudos_given": [
            {
                "to": [people[m].handle for m in _recipients(s, k.id)],  # type: ignore[arg-type]  # stored kudos: id is set
                "reason": k.reason,
                "value": k.value,
                "at": k.created_at.isoformat(),
            }
            for k in given
        ],
        "kudos_received": [
            {
                "from": None if repo.is_erased(people[k.giver_id]) else people[k.giver_id].handle,
                "reason": k.reason,
                "value": k.value,
                "at": k.created_at.isoformat(),
            }
            for k, _ in received
        ],
        **feedback.FeedbackDesk.export(s, member),
        **oneonone.export(s, member, now or datetime.now(UTC)),
        **_conversations_export(s, member),
    }


def _conversations_export(s: Session, member: Member) -> dict[str, Any]:
    """Replies the member wrote or received; the months they gave upward feedback, and to whom — never the text,
    which is stored without its author and cannot be found again (README, "Upward feedback"); a manager's answers
    to their team's upward feedback."""
    rows = list(
        s.exec(
            select(AnswerReply)
            .where(sa.or_(col(AnswerReply.author_id) == member.id, col(AnswerReply.recipient_id) == member.id))
            .order_by(col(AnswerReply.created_at), col(AnswerReply.id))
        )
    )
    given = list(s.exec(select(UpwardRespondent).where(UpwardRespondent.member_id == member.id)))
    people = repo.members_by_id(
        s, ids=list({r.author_id for r in rows} | {r.recipient_id for r in rows} | {g.manager_id for g in given})
    )

    def handle(member_id: int) -> str | None:
        person = people.get(member_id)
        return None if person is None or repo.is_erased(person) else person.handle

    return {
        "replies": [
            {
                "from": handle(r.author_id),
                "to": handle(r.recipient_id),
                "about": r.about,
                "answer": r.step,
                "period": r.period,
                "text": r.text,
                "at": r.created_at.isoformat(),
                "in_reply_to": r.in_reply_to,
                "id": r.id,
            }
            for r in rows
        ],
        "upward_feedback_given": [
            {"to": handle(g.manager_id), "period": g.period, "text": None}
            for g in sorted(given, key=lambda g: g.period)
        ],
        "upward_answers_written": [
            {"period": a.period, "text": a.text, "at": a.created_at.isoformat()}
            for a in s.exec(
                select(UpwardAnswer).where(UpwardAnswer.manager_id == member.id).order_by(col(UpwardAnswer.id))
            )
        ],
    }


def _actions_export(s: Session, member: Member, now: datetime) -> list[dict[str, Any]]:
    """The member's development actions, every status, with their notes: those they may see (a retro's that its
    anonymity rule has not let out only if they wrote it; bot/access.py)."""
    assert member.id is not None  # a stored member
    mine = [
        a
        for a in repo.actions_of(
            s, owner_ids=[member.id], statuses=("proposed", "open", "done", "dropped", "declined"), shared_only=False
        )
        if access.may_member(s, member, member, access.Part.ACTIONS, now=now, action=access.action_facts(s, a))
    ]
    notes = repo.action_notes(s, action_ids=[a.id for a in mine])  # type: ignore[misc]  # stored
    return [
        {
            "text": a.text,
            "source": a.source,
            "status": a.status,
            "due": a.due.isoformat() if a.due else None,
            "created_at": a.created_at.isoformat(),
            "closed_at": a.closed_at.isoformat() if a.closed_at else None,
            "notes": [{"text": n.text, "at": n.created_at.isoformat()} for n in notes[a.id]],  # type: ignore[index]
        }
        for a in mine
    ]


def _goals_export(s: Session, member: Member) -> list[dict[str, Any]]:
    """Their goals (their own and their team's), each with its key results, what it serves and its comments."""
    goals = list(s.exec(select(Goal).where(Goal.owner_id == member.id).order_by(col(Goal.quarter), col(Goal.number))))
    ids: list[int] = [g.id for g in goals if g.id is not None]
    krs = repo.key_results_of(s, goal_ids=ids)
    said = repo.goal_comments_of(s, goal_ids=ids)
    authors = repo.members_by_id(s, ids=list({c.author_id for cs in said.values() for c in cs}))
    serves = {i: g.text for i, g in served_goals(s, goals).items()}
    return [
        {
            "scope": g.scope,
            "quarter": g.quarter,
            "number": g.number,
            "text": g.text,
            "agreed_at": g.agreed_at.isoformat() if g.agreed_at else None,
            "serves": serves.get(g.aligned_to) if g.aligned_to else None,
            "key_results": [
                {
                    "text": k.text,
                    "start": k.start,
                    "target": k.target,
                    "unit": k.unit,
                    "current": k.current,
                    "done": k.done,
                }
                for k in krs[g.id]  # type: ignore[index]  # stored goals
            ],
            "comments": [
                {
                    "from": None if repo.is_erased(authors[c.author_id]) else authors[c.author_id].handle,
                    "text": c.text,
                    "at": c.created_at.isoformat(),
                }
                for c in said[g.id]  # type: ignore[index]  # stored goals
            ],
        }
        for g in goals
    ]


def _recipients(s: Session, kudos_id: int) -> list[int]:
    return list(s.exec(select(KudosRecipient.member_id).where(KudosRecipient.kudos_id == kudos_id)))


def _pause_text(member: Member, now: datetime | None) -> str | None:
    until = paused_until(member, now) if now is not None else member.paused_until
    return until.isoformat() if until else None  # a pause that has ended is not shown


def export_reply(s: Session, member: Member, *, now: datetime | None = None) -> Reply:
    text = json.dumps(export(s, member, now=now), ensure_ascii=False, indent=2)
    # Characters a chat shows neutralised (controls, bidi overrides) are written as JSON escapes instead, so the
    # export shown is still exactly what is stored.
    text = NEUTRALISED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return Reply("me/export", {"json": text})


def forget(s: Session, member: Member, *, now: datetime | None = None, by_member: bool = False) -> dict[str, int]:
    """Delete a member's answers, conversations, flags, obstacles, support requests, goals (with key results and
    comments, and the comments they wrote), kudos received and queued messages, and scrub the profile (the row
    stays, deactivated and nameless, so others' history keeps its shape: kudos they gave stay, from "a former
    colleague"). Their chat accounts are remembered only as fingerprints (`ErasedAccount`). The one function that
    deletes: `flywheel forget` and `/me delete` both call it."""
    now = now or datetime.now(UTC)
    assert member.id is not None  # a stored member
    counts: dict[str, int] = {}
    run_ids = list(s.exec(select(ConversationRun.id).where(ConversationRun.member_id == member.id)))

    def delete(name: str, stmt: Any) -> None:
        counts[name] = s.execute(stmt).rowcount or 0  # type: ignore[attr-defined]  # a DELETE's result is a CursorResult

    _forget_numbers(s, member.id)  # before the items they name are gone
    counts["feedback_requests"] = feedback.FeedbackDesk.forget(s, member)  # with the answers others gave them
    counts["one_on_ones"] = oneonone.forget(s, member)
    delete("answers", sa.delete(Answer).where(col(Answer.member_id) == member.id))
    delete("flags", sa.delete(AnswerFlag).where(col(AnswerFlag.member_id) == member.id))
    s.execute(sa.delete(DeletionRequest).where(col(DeletionRequest.member_id) == member.id))
    if run_ids:
        written = select(DevelopmentAction.id).where(
            col(DevelopmentAction.source_run_id).in_(run_ids), DevelopmentAction.source == "retro"
        )  # the retro actions they wrote for others: their words
        counts["retro_actions"] = repo.delete_actions(s, ids=list(s.exec(written)))  # type: ignore[arg-type]
    owned = select(DevelopmentAction.id).where(DevelopmentAction.owner_id == member.id)
    counts["actions"] = repo.delete_actions(s, ids=list(s.exec(owned)))  # type: ignore[arg-type]
    suggested = sa.update(DevelopmentAction).where(col(DevelopmentAction.suggested_by) == member.id)
    s.execute(suggested.values(suggested_by=None))  # the suggestion stays the report's; who made it goes
    delete(
        "messages",
        sa.delete(OutboxMessage).where(
            sa.or_(col(OutboxMessage.member_id) == member.id, col(OutboxMessage.run_id).in_(run_ids))
        ),
    )
    delete("obstacles", sa.delete(Obstacle).where(col(Obstacle.member_id) == member.id))
    delete("support_requests", sa.delete(SupportRequest).where(col(SupportRequest.member_id) == member.id))
    delete(
        "manager_requests",
        sa.delete(ManagerRequest).where(
            sa.or_(
                col(ManagerRequest.member_id) == member.id,
                col(ManagerRequest.manager_id) == member.id,
                col(ManagerRequest.requested_by) == member.id,
            )
        ),
    )
    # Their goals (their own and the ones they set for a team) with key results and comments; goals of others that
    # served one of theirs serve nothing now; comments they wrote on others' goals are their words.
    counts["goals"] = repo.delete_goals(s, goal_ids=list(s.exec(select(Goal.id).where(Goal.owner_id == member.id))))  # type: ignore[arg-type]  # stored ids
    delete("goal_comments", sa.delete(GoalComment).where(col(GoalComment.author_id) == member.id))
    if run_ids:
        delete("transitions", sa.delete(RunTransition).where(col(RunTransition.run_id).in_(run_ids)))
    delete("conversations", sa.delete(ConversationRun).where(col(ConversationRun.member_id) == member.id))
    delete("kudos_received", sa.delete(KudosRecipient).where(col(KudosRecipient.member_id) == member.id))
    counts.update(_forget_conversations(s, member.id))
    s.execute(sa.update(SupportRequest).where(col(SupportRequest.manager_id) == member.id).values(manager_id=None))
    s.execute(sa.update(Member).where(col(Member.manager_id) == member.id).values(manager_id=None))
    if by_member:  # repo.audit leaves out what people do with their own data; this one fact stays
        s.add(AuditRecord(actor_id=member.id, subject_id=member.id, what="self_delete", at=now))
    else:
        repo.audit(s, actor_id=None, subject_ids=[member.id], what="forget", now=now)
    for platform, account in member.accounts():
        if account and repo.erased_account(s, platform=platform, user_id=account) is None:
            s.add(
                ErasedAccount(
                    fingerprint=repo.account_fingerprint(platform=platform, user_id=account),
                    member_id=member.id,
                    locale=member.locale,
                    erased_at=now,
                )
            )
    member.handle, member.name, member.email = f"deleted-{member.id}", "(deleted)", None
    for platform, _ in member.accounts()[1:]:  # every platform account (the first is the console's: the handle)
        member.set_account(platform, None)
    member.active, member.manager_id, member.team = False, None, None
    s.add(member)
    return counts


def _forget_numbers(s: Session, member_id: int) -> None:
    """The numbers anyone replies with that name this member's items or replies: an id freed by the deletion must
    never bring a number back to life on something else."""
    targets = (
        [f"answer:{i}" for i in s.exec(select(Answer.id).where(Answer.member_id == member_id))]
        + [f"obstacle:{i}" for i in s.exec(select(Obstacle.id).where(Obstacle.member_id == member_id))]
        + [f"support:{i}" for i in s.exec(select(SupportRequest.id).where(SupportRequest.member_id == member_id))]
        + [
            f"reply:{i}"
            for i in s.exec(
                select(AnswerReply.id).where(
                    sa.or_(
                        col(AnswerReply.author_id) == member_id,
                        col(AnswerReply.recipient_id) == member_id,
                        col(AnswerReply.subject_id) == member_id,
                    )
                )
            )
        ]
    )
    for i in range(0, len(targets), 500):
        s.execute(sa.delete(ReplyRef).where(col(ReplyRef.target).in_(targets[i : i + 500])))


def _forget_conversations(s: Session, member_id: int) -> dict[str, int]:
    """Replies they wrote, received or that were about them (the whole thread: its other person loses it too), the
    numbers they replied with, the record that they gave upward feedback; and, for a manager, the upward feedback
    about them and their answers to it. Upward feedback a member GAVE stays: nothing links it to them any more."""
    mine = sa.or_(
        col(AnswerReply.author_id) == member_id,
        col(AnswerReply.recipient_id) == member_id,
        col(AnswerReply.subject_id) == member_id,
    )
    ids = select(AnswerReply.id).where(mine)
    s.execute(sa.update(AnswerReply).where(col(AnswerReply.in_reply_to).in_(ids)).values(in_reply_to=None))
    counts = {"replies": s.execute(sa.delete(AnswerReply).where(mine)).rowcount or 0}  # type: ignore[attr-defined]  # a DELETE's result
    s.execute(sa.delete(ReplyRef).where(col(ReplyRef.member_id) == member_id))
    counts["upward_given"] = (
        s.execute(  # type: ignore[attr-defined]  # a DELETE's result
            sa.delete(UpwardRespondent).where(col(UpwardRespondent.member_id) == member_id)
        ).rowcount
        or 0
    )
    s.execute(sa.delete(UpwardRespondent).where(col(UpwardRespondent.manager_id) == member_id))
    counts["upward_received"] = (
        s.execute(  # type: ignore[attr-defined]  # a DELETE's result
            sa.delete(UpwardFeedback).where(col(UpwardFeedback.manager_id) == member_id)
        ).rowcount
        or 0
    )
    s.execute(sa.delete(UpwardAnswer).where(col(UpwardAnswer.manager_id) == member_id))
    return counts


def add_note(s: Session, member: Member, args: str, now: datetime, *, text: str | None = None) -> Reply:
    """`/note last week wins It was really Bo's idea` (or `/note 2026-W48 wins …`, `/note 上周 亮点 …`) — a note on
    one of your own past answers. `args` as read, `text` as typed (the note itself is stored from it)."""
    parts = with_week_code(args, member, now).split(maxsplit=2)
    typed = with_week_code(text if text is not None else args, member, now)  # the week as a code, the rest as typed
    if len(parts) < 3:
        return Reply("me/note_usage")
    period, which, _ = parts
    text = after_words(typed, 2)
    period, answer = own_answer(s, member, period, which, now)
    if answer is None:
        return Reply("me/note_not_found", {"period": period, "which": which})
    if len(text.strip()) > MAX_NOTE:  # refused whole, never cut: what people type is kept as typed
        return Reply("common/invalid_too_long", {"max": MAX_NOTE})
    answer.note = text.strip()
    answer.updated_at = now
    s.add(answer)
    return Reply("me/note_saved", {"period": period, "which": which})


# Answers named in Chinese, as the digest shows them (the English names are the stored step names). 阻碍 was the
# word for blockers before the glossary (prompts/GLOSSARY.md); people who learned it can still type it.
ZH_STEPS = {
    "心情": "mood",
    "亮点": "wins",
    "障碍": "blockers",
    "阻碍": "blockers",
    "下周重点": "priorities",
    "需要经理提供的支持": "manager_help",
    "最大的障碍": "biggest_obstacle",
    "需要的支持": "support",
    "想提升的能力": "growth",
    "发展行动": "growth",
}


def with_week_code(args: str, member: Member, now: datetime) -> str:
    """`last week wins …`, `上周 亮点 …`, `25 Nov wins …` → `2026-W48 wins …`: the week as people say it, read on the
    member's own calendar (conversations/dates.py), so that `/note` and `/me flag` name a check-in as it is stored."""
    period, rest = split_week(args, now.astimezone(zone(member.timezone)).date())
    return f"{period} {rest}" if period else args


def own_answer(s: Session, member: Member, period: str, which: str, now: datetime) -> tuple[str, Answer | None]:
    """`2026-W48 wins` (or `W48 2`) → one of the member's own answers, and the period as understood. Only ever the
    member's own: someone else's answer cannot be named. Used by `/note` and `/me flag`."""
    period = period.upper() if "W" in period.upper() else period
    if re.fullmatch(r"W[0-9]{1,2}", period):  # "W48" means week 48 of this ISO year
        period = f"{now.isocalendar().year}-W{int(period[1:]):02d}"
    run = s.exec(
        select(ConversationRun)
        .where(ConversationRun.member_id == member.id, ConversationRun.period == period)
        .order_by(col(ConversationRun.id))
    ).first()
    which = ZH_STEPS.get(which, which)
    steps = (run.context.get("steps") or []) if run else []
    numbered = re.fullmatch(r"[0-9]{1,3}", which) is not None
    step = steps[int(which) - 1] if numbered and 0 < int(which) <= len(steps) else which.lower()
    answer = s.exec(select(Answer).where(Answer.run_id == run.id, Answer.step == step)).first() if run else None
    return period, answer
