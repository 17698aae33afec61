"""People control their own data: delete it (`/me delete`, then a confirmation), see who read it (`/me access`),
and flag an answer — or a hint about them in the digest — as wrong (`/me flag`), which their manager acknowledges
(`/me ack`). Someone whose data was deleted is told so if they write again, and may `/me rejoin`.

```mermaid
stateDiagram-v2
    [*] --> asked: /me delete (a code, valid 10 min)
    asked --> deleted: /me delete confirm CODE (in time)
    asked --> [*]: /me delete cancel, a wrong or stale code (nothing happens)
    deleted --> rejoining: /me rejoin (from the same chat account)
    rejoining --> [*]: the next member sync adds them, from nothing
```
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot import access as rule
from bot import me
from bot.access import seen_by
from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.ports import CommandHandler
from conversations.commands import Command, after_words, interpret, with_leftover
from conversations.digest import hints_for
from conversations.events import InboundEvent
from conversations.kudos import KudosSettings
from conversations.machine import Reply
from conversations.render import first_name
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
    KudosRecipient,
    Member,
    Obstacle,
    SupportRequest,
)

log = logging.getLogger(__name__)
MAX_REASON = 1000  # characters in the reason of one flag (the column's size)

DELETE_WINDOW = timedelta(minutes=10)  # a confirmation code older than this does nothing
ACCESS_PAGE = 15  # audit records per page of `/me access`

ACTIONS = {
    "delete": "delete",
    "erase": "delete",
    "删除": "delete",
    "删除数据": "delete",
    "access": "access",
    "reads": "access",
    "查阅记录": "access",
    "访问记录": "access",
    "谁看过": "access",
    "flag": "flag",
    "wrong": "flag",
    "纠错": "flag",
    "有误": "flag",
    "ack": "ack",
    "acknowledge": "ack",
    "知悉": "ack",
    "已阅": "ack",
    "rejoin": "rejoin",
    "重新加入": "rejoin",
}
CHARTS = {"charts", "chart", "图表"}
CONFIRM = {"confirm", "yes", "确认"}
CANCEL = {"cancel", "no", "取消"}
MORE = {"more", "page", "更多", "页"}
HINT = {"hint", "提示"}


def commands(*, kudos: KudosSettings, skip_level: bool, calendars: Calendars) -> dict[str, CommandHandler]:
    """`/me` (one's own view, and this module's words: delete, access, flag, ack, …) and `/note`."""

    def own(s: Session, member: Member, c: Command, event: InboundEvent, now: datetime) -> tuple[list[Reply], None]:
        words = c.args.split()
        if words and words[0].lower() in CHARTS:  # `/me charts`, `/me charts @alice`
            who = words[1] if len(words) > 1 else ""
            shown = me.charts_view(
                s, member, who, platform=event.platform, now=now, skip_level=skip_level, calendars=calendars
            )
            return with_leftover([shown], "/me charts", " ".join(words[2:])), None
        owned = command(s, member, c.args, event, now, text=c.text, calendars=calendars)  # delete, access, flag, …
        if owned is not None:
            return owned, None
        if c.args.strip():  # `export` and what follows it (`command` has the rest)
            rest = c.args.split(maxsplit=1)[1:]
            return with_leftover([me.export_reply(s, member, now=now)], "/me export", "".join(rest)), None
        return me.view(s, member, now, kudos, skip_level=skip_level, calendars=calendars), None

    return {
        "me": own,
        "note": lambda s, member, c, event, now: ([me.add_note(s, member, c.args, now, text=c.text)], None),
    }


def command(
    s: Session,
    member: Member,
    args: str,
    event: InboundEvent,
    now: datetime,
    *,
    text: str | None = None,
    calendars: Calendars | None = None,
) -> list[Reply] | None:
    """`/me <word> …` for the words this module owns; None when `args` is empty or `export` (bot/me.py's).
    `args` as read, `text` as typed (a flag's reason is stored from it); `calendars` decides when the others
    involved are told (their working time: bot/calendar.py `send_at`)."""
    cal = calendars or Calendars()
    words = args.split()
    if not words or words[0].lower() in ("export", "导出"):
        return None
    action = ACTIONS.get(words[0].lower())
    rest = words[1:]
    if action == "delete":
        return delete_command(s, member, rest, event, now)
    if action == "access":
        return [access(s, member, rest)]
    if action == "flag":
        return [
            flag(
                s,
                member,
                args.split(maxsplit=1)[1] if rest else "",
                event,
                now,
                cal,
                text=after_words(text if text is not None else args, 1),
            )
        ]
    if action == "ack":
        return [acknowledge(s, member, rest, event, now, cal)]
    if action == "rejoin":
        return with_leftover([Reply("own_data/rejoin_member")], "/me rejoin", " ".join(rest))
    return [Reply("own_data/me_usage", {"unknown": words[0]})]


# ------------------------------------------------------------------------------------------------ deleting


def delete_command(s: Session, member: Member, rest: Sequence[str], event: InboundEvent, now: datetime) -> list[Reply]:
    """`/me delete` explains and gives a code; `/me delete confirm CODE` within DELETE_WINDOW deletes."""
    assert member.id is not None  # a stored member
    if not rest:
        code = f"{secrets.randbelow(10000):04d}"
        pending = s.get(DeletionRequest, member.id) or DeletionRequest(member_id=member.id, code=code, expires_at=now)
        pending.code, pending.expires_at = code, now + DELETE_WINDOW
        s.add(pending)
        return [
            Reply(
                "own_data/delete_explain",
                {"code": code, "minutes": int(DELETE_WINDOW.total_seconds() // 60), "counts": _counts(s, member)},
            )
        ]
    word = rest[0].lower()
    pending = s.get(DeletionRequest, member.id)  # type: ignore[assignment]  # None: no code was asked for
    if word in CANCEL and len(rest) == 1:
        if pending is not None:
            s.delete(pending)
        return [Reply("own_data/delete_cancelled")]
    if word not in CONFIRM or len(rest) > 2:
        return [Reply("own_data/delete_usage", {"unknown": " ".join(rest)})]
    if pending is None or pending.expires_at <= now:
        if pending is not None:
            s.delete(pending)
        return [Reply("own_data/delete_stale", {"minutes": int(DELETE_WINDOW.total_seconds() // 60)})]
    if len(rest) < 2 or rest[1] != pending.code:
        return [Reply("own_data/delete_wrong_code", {"given": rest[1] if len(rest) > 1 else None})]
    locale = member.locale
    counts = me.forget(s, member, now=now, by_member=True)
    log.info("member %s deleted their own data: %s", member.id, ", ".join(f"{n} {k}" for k, n in counts.items()))
    # The profile is scrubbed, so the reply goes to the chat account that asked, in the member's language.
    repo.enqueue(
        s,
        dedup_key=f"in:{event.dedup_key}",
        member_id=None,
        channel=f"{event.platform}:{event.user}",
        kind="farewell",
        body={**encode_replies([Reply("own_data/deleted", {})]), "locale": locale},
        now=now,
    )
    return []


def _counts(s: Session, member: Member) -> dict[str, int]:
    def count(model: Any, *where: Any) -> int:
        return int(s.exec(select(sa.func.count()).select_from(model).where(*where)).one())

    return {
        "conversations": count(ConversationRun, ConversationRun.member_id == member.id),
        "answers": count(Answer, Answer.member_id == member.id),
        "obstacles": count(Obstacle, Obstacle.member_id == member.id),
        "support_requests": count(SupportRequest, SupportRequest.member_id == member.id),
        "goals": count(Goal, Goal.owner_id == member.id),
        "kudos_received": count(KudosRecipient, KudosRecipient.member_id == member.id),
        "actions": count(DevelopmentAction, DevelopmentAction.owner_id == member.id),
        "replies": count(
            AnswerReply,
            sa.or_(
                col(AnswerReply.author_id) == member.id,
                col(AnswerReply.recipient_id) == member.id,
                col(AnswerReply.subject_id) == member.id,
            ),
        ),
    }


def unknown_sender(s: Session, *, platform: str, user: str, text: str) -> tuple[Reply, str, str | None, str | None]:
    """What to tell someone Flywheel does not know: that their data was deleted (and how to rejoin) if it was,
    else that they are not a member. Returns the reply, the outbox kind (a `farewell` leaves no address behind once
    sent), the language to say it in (None: the platform's default) and the time zone for the times it names (theirs,
    kept on the scrubbed profile; None: the server's)."""
    erased = repo.erased_account(s, platform=platform, user_id=user)
    if erased is None:
        return Reply("common/not_a_member"), "reply", None, None
    former = s.get(Member, erased.member_id)
    tz = former.timezone if former is not None else None
    intent = interpret(text)
    if (
        isinstance(intent, Command)
        and intent.name == "me"
        and ACTIONS.get((intent.args.split() or [""])[0].lower()) == "rejoin"
    ):
        # Every account of that person is forgotten: the next member sync adds them again, from nothing.
        s.execute(sa.delete(ErasedAccount).where(col(ErasedAccount.member_id) == erased.member_id))
        log.info("a member whose data was deleted asked to rejoin (row %s)", erased.member_id)
        return Reply("own_data/rejoined"), "farewell", erased.locale, tz
    return Reply("own_data/erased", {"at": erased.erased_at}), "farewell", erased.locale, tz


# ------------------------------------------------------------------------------------------------ who read it


def access(s: Session, member: Member, rest: Sequence[str]) -> Reply:
    """`/me access [N]`: who read your answers, when and which part, newest first, ACCESS_PAGE at a time."""
    words = [w for w in rest if w.lower() not in MORE]
    if len(words) > 1 or (words and not re.fullmatch(r"[0-9]{1,6}", words[0])) or (words and int(words[0]) < 1):
        return Reply("own_data/access_usage", {"unknown": " ".join(rest)})
    page = int(words[0]) if words else 1
    # Reads only (storage/repo.py READ_KINDS), and never the member's own doings.
    query = select(AuditRecord).where(
        AuditRecord.subject_id == member.id,
        col(AuditRecord.what).in_(repo.READ_KINDS),
        sa.or_(
            col(AuditRecord.actor_id).is_(None),
            col(AuditRecord.actor_id) != member.id,
        ),
    )
    total = int(s.exec(select(sa.func.count()).select_from(query.subquery())).one())
    records = list(
        s.exec(
            query.order_by(col(AuditRecord.at).desc(), col(AuditRecord.id).desc())
            .offset((page - 1) * ACCESS_PAGE)
            .limit(ACCESS_PAGE)
        )
    )
    people = repo.members_by_id(s, ids=[r.actor_id for r in records if r.actor_id is not None])
    items = [
        {
            "who": _name(people.get(r.actor_id)) if r.actor_id is not None else None,
            "admin": r.actor_id is None,
            "what": r.what,
            "part": r.part,
            "at": r.at,
            **_read_part(r),
        }
        for r in records
    ]
    shown = (page - 1) * ACCESS_PAGE + len(records)
    return Reply("own_data/access", {"items": items, "total": total, "page": page, "more": max(total - shown, 0)})


def _read_part(record: AuditRecord) -> dict[str, Any]:
    """Which answer a flag record names, for the template to put in words: `2026-W49 wins`,
    `2026-W49 hint:mood_down`."""
    if record.what != repo.AUDIT_READS["flag"] or not record.part:
        return {}
    period, _, name = record.part.partition(" ")
    hint = name.removeprefix("hint:") if name.startswith("hint:") else None
    return {"period": period, "step": None if hint else name or None, "hint": hint}


def _name(member: Member | None) -> str | None:
    """A person's name as shown to others; None once they deleted their data ("a former colleague")."""
    return None if member is None or repo.is_erased(member) else member.name


# ------------------------------------------------------------------------------------------------ flags


def flag(
    s: Session,
    member: Member,
    args: str,
    event: InboundEvent,
    now: datetime,
    cal: Calendars,
    *,
    text: str | None = None,
) -> Reply:
    """`/me flag 2026-W48 wins <why>` or `/me flag hint 1 <why>`: one of your own answers (or the digest's hint
    about you) is wrong. Your manager is asked to acknowledge it; the flag is shown with the answer. The week may be
    said as people say it (`last week`, `上周`, a date). `args` as read, `text` as typed: the reason is stored as
    typed."""
    why = after_words(me.with_week_code(text if text is not None else args, member, now), 2)  # after `W48 wins`
    parts = me.with_week_code(args, member, now).split(maxsplit=2)
    if parts and (parts[0].startswith("@") or _someone_else(s, member, parts[0])):
        return Reply("own_data/flag_not_yours", {"who": parts[0]})
    if len(why.strip()) > MAX_REASON:  # refused whole, never cut: what people type is kept as typed
        return Reply("common/invalid_too_long", {"max": MAX_REASON})
    if parts and parts[0].lower() in HINT:
        return _flag_hint(s, member, parts[1:], event, now, cal, why=why)
    if len(parts) < 3:
        return Reply(
            "own_data/flag_usage",
            {"period": parts[0] if parts else None, "which": parts[1] if len(parts) > 1 else None},
        )
    period, answer = me.own_answer(s, member, parts[0], parts[1], now)  # which reads Chinese names too
    if answer is None:
        return Reply("own_data/flag_not_found", {"period": period, "which": parts[1]})
    # The manager is shown the flag with the answer: only once the rule lets them see that answer (bot/access.py).
    # Until then the member can simply change it, and nothing is stored or sent.
    manager = s.get(Member, member.manager_id) if member.manager_id else None
    run = s.get(ConversationRun, answer.run_id)
    if manager is not None and not rule.may_member(s, manager, member, rule.Part.RUN_ANSWERS, now=now, run=run):
        return Reply(
            "own_data/flag_not_yet", {"period": period, "which": parts[1], "manager_name": first_name(manager.name)}
        )
    found = s.exec(select(AnswerFlag).where(AnswerFlag.run_id == answer.run_id, AnswerFlag.step == answer.step)).first()
    saved = _save_flag(s, member, found, now, reason=why, period=period, run_id=answer.run_id, step=answer.step)
    _tell_manager(s, member, saved, event, now, cal, answer=answer.value)
    return Reply("own_data/flag_saved", _flag_params(s, member, saved))


def _someone_else(s: Session, member: Member, word: str) -> bool:
    """The first word names another member (`/me flag bo …`): only one's own answers can be flagged."""
    other = repo.member_by_handle(s, handle=word.lower())
    return other is not None and other.id != member.id


def _flag_hint(
    s: Session, member: Member, rest: Sequence[str], event: InboundEvent, now: datetime, cal: Calendars, *, why: str
) -> Reply:
    words = " ".join(rest).split(maxsplit=1)
    if len(words) < 2 or not re.fullmatch(r"[0-9]{1,2}", words[0]):
        return Reply("own_data/flag_usage", {"period": None, "which": None, "hint": True})
    # The same section `/me` shows: whose digest it is in is for the rule to say (bot/access.py).
    manager = next((m for m in seen_by(s, member, skip_level=False) if m.id == member.manager_id), None)
    report = me.own_report(s, member, now, manager=manager, calendars=cal)
    hints = hints_for(report)
    number = int(words[0])
    if not 0 < number <= len(hints):
        return Reply("own_data/flag_hint_not_found", {"number": number, "count": len(hints)})
    key, period = hints[number - 1].key, report.weeks[0].period
    found = s.exec(
        select(AnswerFlag).where(AnswerFlag.member_id == member.id, AnswerFlag.hint == key, AnswerFlag.period == period)
    ).first()
    saved = _save_flag(s, member, found, now, reason=why, period=period, hint=key)
    _tell_manager(s, member, saved, event, now, cal, answer=None)
    return Reply("own_data/flag_saved", _flag_params(s, member, saved))


def _save_flag(
    s: Session,
    member: Member,
    found: AnswerFlag | None,
    now: datetime,
    *,
    reason: str,
    period: str,
    run_id: int | None = None,
    step: str | None = None,
    hint: str | None = None,
) -> AnswerFlag:
    """One flag per answer (or hint and week): flagging again replaces the reason and asks again."""
    saved = found or AnswerFlag(
        member_id=member.id,  # type: ignore[arg-type]  # a stored member
        run_id=run_id,
        step=step,
        hint=hint,
        period=period,
        reason="",
        created_at=now,
    )
    saved.reason, saved.manager_id, saved.created_at = reason.strip(), member.manager_id, now
    saved.acknowledged_at = saved.acknowledged_by = None
    s.add(saved)
    s.flush()
    return saved


def _tell_manager(
    s: Session, member: Member, saved: AnswerFlag, event: InboundEvent, now: datetime, cal: Calendars, *, answer: Any
) -> None:
    if member.manager_id is None:
        return
    # Tied to the answer's conversation, so a deletion that comes before delivery takes it too.
    repo.enqueue(
        s,
        dedup_key=f"in:{event.dedup_key}:flag:{saved.id}",
        member_id=member.manager_id,
        kind="flag_new",
        run_id=saved.run_id,
        body=encode_replies([Reply("own_data/flag_new", {**_flag_params(s, member, saved), "answer": _shown(answer)})]),
        now=now,
        not_before=cal.send_at_id(s, member.manager_id, now),
    )
    repo.audit(
        s,
        actor_id=member.manager_id,
        subject_ids=[member.id],  # type: ignore[list-item]  # a stored member
        what=repo.AUDIT_READS["flag"],
        now=now,
        part=f"{saved.period} {saved.step or 'hint:' + str(saved.hint)}",
    )
    log.info(
        "member %s flagged an answer as wrong; manager %s asked to acknowledge (flag %s)",
        member.id,
        member.manager_id,
        saved.id,
    )


def _flag_params(s: Session, member: Member, saved: AnswerFlag) -> dict[str, Any]:
    manager = s.get(Member, saved.manager_id) if saved.manager_id else None
    return {
        "id": saved.id,
        "who": first_name(member.name),
        "period": saved.period,
        "step": saved.step,
        "hint": saved.hint,
        "why": saved.reason,
        "manager_name": first_name(manager.name) if manager else None,
    }


def _shown(value: Any) -> str | None:
    """A stored answer as one line, as typed."""
    if value is None:
        return None
    if isinstance(value, list):
        return "; ".join(str(v.get("text", v) if isinstance(v, dict) else v) for v in value)
    if isinstance(value, dict):
        return str(value.get("text", ""))
    return str(value)


def acknowledge(
    s: Session, actor: Member, rest: Sequence[str], event: InboundEvent, now: datetime, cal: Calendars
) -> Reply:
    """`/me ack 7`: the manager asked about flag 7 (or the member's manager now) has seen it; the member hears so."""
    if len(rest) != 1 or not re.fullmatch(r"#?[0-9]{1,9}", rest[0]):
        return Reply("own_data/ack_usage", {"unknown": " ".join(rest)})
    number = int(rest[0].lstrip("#"))
    saved = s.get(AnswerFlag, number)
    member = s.get(Member, saved.member_id) if saved is not None else None
    if saved is None or member is None or actor.id not in (saved.manager_id, member.manager_id):
        # Someone else's flag is indistinguishable from a missing one: nothing leaks.
        return Reply("own_data/ack_not_found", {"id": number})
    params = _flag_params(s, member, saved)
    if saved.acknowledged_at is not None:
        return Reply("own_data/ack_already", params)
    saved.acknowledged_at, saved.acknowledged_by = now, actor.id
    s.add(saved)
    repo.enqueue(
        s,
        dedup_key=f"in:{event.dedup_key}:flag_ack:{saved.id}",
        member_id=member.id,
        kind="flag_acknowledged",
        body=encode_replies([Reply("own_data/flag_acknowledged", {**params, "manager_name": first_name(actor.name)})]),
        now=now,
        not_before=cal.send_at(member, now),
    )
    log.info("flag %s acknowledged by manager %s", saved.id, actor.id)
    return Reply("own_data/ack_ok", params)
