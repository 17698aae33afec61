"""Two-way conversations (issue 16, parts 1 and 2).

**Replies.** From the digest a manager replies privately to one of a report's items — an answer (wins, blockers,
what they need), an open obstacle, a support request: `/reply 3 …` on the console, a button and a form on Slack and
Feishu (which send the same command). Numbers are each reader's own (`ReplyRef`): the digest numbers what it shows
to that manager, a reply received gets a number in its recipient's list, so a number can never reach something that
was not shown to whoever types it; and bot/access.py `may` is asked again at every use. The report gets the reply in
their DM, quoting what it is about, and answers back with `/reply N …` in the same way. Only the two people ever see
a reply (`Part.REPLIES`). A specific thank-you sent this way counts toward the digest's weekly thanks nudge.

**Upward feedback.** The monthly review's optional last question (`upward`, a detached question: the run keeps only
that it was given). `take` stores the text in `upward_feedback` keyed by manager and month, with no member id, no
time and a random key, and rewrites the month's whole set in a new random order at every new answer (so neither the
storage order nor, on PostgreSQL, the inserting transaction points at an author); who answered goes to
`upward_respondent`, only to count them. The manager sees a month's set when `conversations/replies.py
upward_disclosed` says so, and may answer the team as a whole (`/upward answer …`), which goes to everyone who was
asked. Nothing here writes a text, or who gave one, to the logs.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot import access
from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.engine import FlowHooks
from bot.ports import CommandHandler
from bot.prefetch import Prefetched
from conversations.commands import Command, after_words
from conversations.events import InboundEvent
from conversations.flows import Flow
from conversations.machine import Reply
from conversations.monthly_review import NAME as MONTHLY
from conversations.render import first_name
from conversations.replies import MAX_REPLY_LEN, is_specific_thanks, month_over, parse_reply
from storage import repo
from storage.models import (
    Answer,
    AnswerReply,
    ConversationRun,
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

RECENT = timedelta(days=28)  # replies shown in the digest and `/me`
UPWARD_STEP = "upward"
ANSWER_STEPS = ("wins", "blockers", "manager_help")  # the answers a digest offers to reply to


# ------------------------------------------------------------------------------------------------ reply numbers


def number_for(s: Session, member_id: int, target: str, now: datetime) -> int:
    """`member_id`'s number for `target` (`answer:12`, `obstacle:4`, `support:7`, `reply:9`): the one it already has,
    or the next free one."""
    found = s.exec(select(ReplyRef.number).where(ReplyRef.member_id == member_id, ReplyRef.target == target)).first()
    if found is not None:
        return found
    top = s.exec(select(sa.func.max(ReplyRef.number)).where(ReplyRef.member_id == member_id)).one()
    number = (top or 0) + 1
    s.add(ReplyRef(member_id=member_id, number=number, target=target, created_at=now))
    s.flush()
    return number


def digest_numbers(s: Session, manager_id: int, section: Mapping[str, Any], now: datetime) -> dict[str, int]:
    """The numbers a manager replies with to the items of one digest section (`bot/digest.py` passes each direct
    report's section): `wins`, `blockers`, `manager_help`, `obstacle:<id>`, `support:<id>` → number."""
    refs: dict[str, int] = {}
    for step, answer_id in section.get("answer_ids") or ():
        refs[step] = number_for(s, manager_id, f"answer:{answer_id}", now)
    for o in section.get("obstacles") or ():
        if o.get("id") is not None:
            refs[f"obstacle:{o['id']}"] = number_for(s, manager_id, f"obstacle:{o['id']}", now)
    for r in section.get("support") or ():
        refs[f"support:{r['id']}"] = number_for(s, manager_id, f"support:{r['id']}", now)
    return refs


# ------------------------------------------------------------------------------------------------ what a reply is about


@dataclass(frozen=True)
class Target:
    subject: Member  # whose item
    recipient: Member
    about: str  # answer | obstacle | support
    about_id: int
    step: str | None
    period: str | None
    quote: str  # the item, as its author typed it
    in_reply_to: int | None = None
    thread_of: str | None = None  # the outbox message to thread under (the question the answer answered), if known


def _quote(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("text") or "")
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _resolve(s: Session, viewer: Member, target: str, now: datetime, skip_level: bool) -> Target | None:
    """What `target` is, if `viewer` may reply to it now (bot/access.py decides); None otherwise — the same answer
    whether it does not exist or is not theirs, so a number says nothing about anyone else."""
    kind, _, raw = target.partition(":")
    if not raw.isdecimal():
        return None
    key = int(raw)
    if kind == "reply":
        earlier = s.get(AnswerReply, key)
        if earlier is None or earlier.recipient_id != viewer.id:
            return None
        subject = s.get(Member, earlier.subject_id)
        author = s.get(Member, earlier.author_id)
        facts = access.ReplyFacts(earlier.author_id, earlier.recipient_id)
        if (
            subject is None
            or author is None
            or not author.active
            or not access.may_member(s, viewer, subject, access.Part.REPLIES, now=now, reply=facts)
        ):
            return None
        return Target(
            subject,
            author,
            earlier.about,
            earlier.about_id,
            earlier.step,
            earlier.period,
            earlier.text,
            in_reply_to=earlier.id,
            thread_of=_asked_in(s, earlier.about, earlier.about_id) if author.id == subject.id else None,
        )
    if kind == "answer":
        answer = s.get(Answer, key)
        run = s.get(ConversationRun, answer.run_id) if answer is not None else None
        subject = s.get(Member, answer.member_id) if answer is not None else None
        if answer is None or run is None or subject is None or answer.step not in ANSWER_STEPS:
            return None
        if not (
            access.may_member(s, viewer, subject, access.Part.REPLY_ACT, now=now)
            and access.may_member(s, viewer, subject, access.Part.RUN_ANSWERS, now=now, run=run, skip_level=skip_level)
        ):
            return None
        return Target(
            subject,
            subject,
            "answer",
            key,
            answer.step,
            run.period,
            _quote(answer.value),
            thread_of=_asked_in(s, "answer", key),
        )
    if kind == "obstacle":
        obstacle = s.get(Obstacle, key)
        subject = s.get(Member, obstacle.member_id) if obstacle is not None else None
        if obstacle is None or subject is None:
            return None
        source = s.get(ConversationRun, obstacle.source_run_id) if obstacle.source_run_id is not None else None
        if not (
            access.may_member(s, viewer, subject, access.Part.REPLY_ACT, now=now)
            and access.may_member(s, viewer, subject, access.Part.OBSTACLES, now=now, run=source)
        ):
            return None
        return Target(subject, subject, "obstacle", key, None, None, obstacle.text)
    if kind == "support":
        request = s.get(SupportRequest, key)
        subject = s.get(Member, request.member_id) if request is not None else None
        if request is None or subject is None:
            return None
        if not (
            access.may_member(s, viewer, subject, access.Part.REPLY_ACT, now=now)
            and access.may_member(s, viewer, subject, access.Part.SUPPORT, now=now)
        ):
            return None
        return Target(subject, subject, "support", key, None, None, request.text)
    return None


def _asked_in(s: Session, about: str, about_id: int) -> str | None:
    """The message that asked the question an answer answers (its outbox dedup key), for a reply to go in its thread
    where the platform has threads (Slack `thread_ts`, a Feishu reply); None when there is none (answered in a form,
    the message deleted), and the reply is a plain DM that quotes the answer."""
    answer = s.get(Answer, about_id) if about == "answer" else None
    run = s.get(ConversationRun, answer.run_id) if answer is not None else None
    if answer is None or run is None:
        return None
    # A sent message keeps no body; what asked the question is the message queued when the run moved to that step.
    moved = s.exec(
        select(RunTransition.at)
        .where(RunTransition.run_id == run.id, RunTransition.to_step == answer.step)
        .order_by(col(RunTransition.id).desc())
    ).first()
    if moved is None:
        return None
    row = s.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.run_id == run.id,
            OutboxMessage.created_at == moved,
            col(OutboxMessage.platform_message_id).is_not(None),
        )
        .order_by(col(OutboxMessage.id).desc())
    ).first()
    return row.dedup_key if row is not None else None


def about_params(target: Target | AnswerReply, quote: str) -> dict[str, Any]:
    return {"about": target.about, "step": target.step, "period": target.period, "quote": quote}


# ------------------------------------------------------------------------------------------------ the feature


class Conversations:
    """`/reply` and `/upward`, and the monthly review's upward question."""

    def __init__(self, *, calendars: Calendars, skip_level: bool, upward_min: Callable[[], int]) -> None:
        self.calendars = calendars
        self.skip_level = skip_level
        self.upward_min = upward_min

    def commands(self) -> dict[str, CommandHandler]:
        return {"reply": self.reply, "upward": self.upward}

    def hooks(self) -> FlowHooks:
        return FlowHooks(flows=frozenset({MONTHLY}), context=self._context, take_detached=self.take)

    # -------------------------------------------------------------------------------------------- /reply

    def reply(
        self, s: Session, member: Member, command: Command, event: InboundEvent, now: datetime
    ) -> tuple[list[Reply], None]:
        assert member.id is not None  # a stored member
        parsed = parse_reply(command.args, command.text or command.args)
        if parsed is None:
            return [Reply("replies/usage")], None
        if len(parsed.text) > MAX_REPLY_LEN:
            return [Reply("replies/too_long", {"max": MAX_REPLY_LEN})], None
        ref = s.get(ReplyRef, (member.id, parsed.number))
        target = _resolve(s, member, ref.target, now, self.skip_level) if ref is not None else None
        if target is None:
            return [Reply("replies/not_found", {"number": parsed.number})], None
        recipient = target.recipient
        assert recipient.id is not None and target.subject.id is not None  # stored members
        thanks = member.id != target.subject.id and is_specific_thanks(parsed.text)
        row = AnswerReply(
            author_id=member.id,
            recipient_id=recipient.id,
            subject_id=target.subject.id,
            about=target.about,
            about_id=target.about_id,
            step=target.step,
            period=target.period,
            in_reply_to=target.in_reply_to,
            text=parsed.text,
            thanks=thanks,
            created_at=now,
        )
        s.add(row)
        s.flush()
        assert row.id is not None
        number = number_for(s, recipient.id, f"reply:{row.id}", now)
        quote = target.quote
        repo.enqueue(
            s,
            dedup_key=f"reply:{row.id}",
            member_id=recipient.id,
            kind="reply_received",
            body={
                **({"thread_of": target.thread_of} if target.thread_of else {}),
                **encode_replies(
                    [
                        Reply(
                            "replies/received",
                            {
                                **about_params(target, quote),
                                "from": first_name(member.name),
                                "number": number,
                                "text": parsed.text,
                                "answer_back": target.in_reply_to is not None,
                                "own_item": recipient.id == target.subject.id,
                            },
                        )
                    ]
                ),
            },
            now=now,
            not_before=self.calendars.send_at(recipient, now),
        )
        return [
            Reply(
                "replies/sent",
                {**about_params(target, quote), "to": first_name(recipient.name), "thanks": thanks},
            )
        ], None

    # -------------------------------------------------------------------------------------------- upward feedback

    def _context(
        self, s: Session, flow: Flow, member: Member, run: ConversationRun, pre: Prefetched | None
    ) -> Mapping[str, Any]:
        """Who a review's upward feedback is for (the manager when it was asked) and how many must answer."""
        if member.manager_id is None:
            return {}
        return {"upward_to": member.manager_id, "upward_min": self.upward_min()}

    def take(
        self, s: Session, flow: Flow, run: ConversationRun, member: Member, step: str, value: Any, now: datetime
    ) -> None:
        """Store one upward answer apart from its author: the text with the manager and month only, the author in
        the set of who answered; then the month's texts rewritten in a new random order under new random keys."""
        manager_id = (run.context or {}).get("upward_to") or member.manager_id
        if step != UPWARD_STEP or manager_id is None or value is None:
            return
        assert member.id is not None  # a stored member
        period = run.period
        texts = [str(value)] + list(
            s.exec(
                select(UpwardFeedback.text).where(
                    UpwardFeedback.manager_id == manager_id, UpwardFeedback.period == period
                )
            )
        )
        s.execute(
            sa.delete(UpwardFeedback).where(
                col(UpwardFeedback.manager_id) == manager_id, col(UpwardFeedback.period) == period
            )
        )
        random.SystemRandom().shuffle(texts)
        for text in texts:
            s.add(UpwardFeedback(id=uuid.uuid4().hex, manager_id=manager_id, period=period, text=text))
        if s.get(UpwardRespondent, (manager_id, period, member.id)) is None:
            s.add(UpwardRespondent(manager_id=manager_id, period=period, member_id=member.id))
        s.flush()

    def upward(
        self, s: Session, member: Member, command: Command, event: InboundEvent, now: datetime
    ) -> tuple[list[Reply], None]:
        """`/upward` (the latest month a manager may see, as a set), `/upward answer …` (to the team)."""
        assert member.id is not None  # a stored member
        word, _, _ = command.args.strip().partition(" ")
        answering = word.lower() in ("answer", "reply", "回复", "答复")
        shown = latest_upward(s, member, now, minimum=self.upward_min())
        if not answering:
            if command.args.strip():
                return [Reply("replies/upward_usage")], None
            if shown is None:
                return [
                    Reply("replies/upward_nothing", {"minimum": self.upward_min(), "is_manager": _leads(s, member)})
                ], None
            period, texts = shown
            return [Reply("replies/upward_set", {"period": period, "texts": texts, "minimum": self.upward_min()})], None
        text = after_words(command.text or command.args, 1)
        if not text:
            return [Reply("replies/upward_usage")], None
        if len(text) > MAX_REPLY_LEN:
            return [Reply("replies/too_long", {"max": MAX_REPLY_LEN})], None
        if shown is None:
            return [
                Reply("replies/upward_nothing", {"minimum": self.upward_min(), "is_manager": _leads(s, member)})
            ], None
        period, _ = shown
        row = UpwardAnswer(manager_id=member.id, period=period, text=text, created_at=now)
        s.add(row)
        s.flush()
        asked = asked_for(s, member.id, period)
        for person in asked:
            if not person.active or person.id == member.id:
                continue
            repo.enqueue(
                s,
                dedup_key=f"upward_answer:{row.id}:{person.id}",
                member_id=person.id,
                kind="upward_answer",
                body=encode_replies(
                    [Reply("replies/upward_answer", {"from": first_name(member.name), "period": period, "text": text})]
                ),
                now=now,
                not_before=self.calendars.send_at(person, now),
            )
        return [
            Reply("replies/upward_answer_sent", {"period": period, "count": len([p for p in asked if p.active])})
        ], None


def _leads(s: Session, member: Member) -> bool:
    return (
        s.exec(select(Member.id).where(Member.manager_id == member.id, Member.active == sa.true())).first() is not None
    )


def asked_for(s: Session, manager_id: int, period: str) -> list[Member]:
    """Everyone whose review of `period` asked them for upward feedback to this manager."""
    runs = s.exec(
        select(ConversationRun).where(ConversationRun.flow == MONTHLY, ConversationRun.period == period)
    ).all()
    ids = [
        r.member_id
        for r in runs
        if (r.context or {}).get("upward_to") == manager_id and UPWARD_STEP in ((r.context or {}).get("steps") or ())
    ]
    return list(repo.members_by_id(s, ids=ids).values()) if ids else []


def upward_facts(s: Session, manager_id: int, period: str, now: datetime, *, minimum: int) -> access.UpwardFacts:
    """What the rule needs about one month's upward feedback: how many answered, and whether every review that
    asked has closed."""
    respondents = s.exec(
        select(sa.func.count())
        .select_from(UpwardRespondent)
        .where(UpwardRespondent.manager_id == manager_id, UpwardRespondent.period == period)
    ).one()
    runs = s.exec(
        select(ConversationRun).where(ConversationRun.flow == MONTHLY, ConversationRun.period == period)
    ).all()
    asked = [r for r in runs if (r.context or {}).get("upward_to") == manager_id]
    over = month_over(period)
    # no answer can come in any more: every review that asked has closed, and the month is over everywhere
    closed = bool(asked) and over is not None and now >= over and all(now >= r.closes_at for r in asked)
    return access.UpwardFacts(manager_id, int(respondents), minimum, closed)


def upward_periods(s: Session, manager_id: int) -> list[str]:
    """Months with upward feedback for this manager, newest first."""
    return sorted(
        set(s.exec(select(UpwardRespondent.period).where(UpwardRespondent.manager_id == manager_id))), reverse=True
    )


def upward_set(s: Session, manager: Member, period: str, now: datetime, *, minimum: int) -> list[str] | None:
    """One month's upward feedback for `manager`, in no meaningful order, if the rule lets them see it; else None."""
    assert manager.id is not None  # a stored member
    facts = upward_facts(s, manager.id, period, now, minimum=minimum)
    if not access.may_member(s, manager, manager, access.Part.UPWARD, now=now, upward=facts):
        return None
    return list(
        s.exec(
            select(UpwardFeedback.text)
            .where(UpwardFeedback.manager_id == manager.id, UpwardFeedback.period == period)
            .order_by(col(UpwardFeedback.id))
        )
    )


def latest_upward(s: Session, manager: Member, now: datetime, *, minimum: int) -> tuple[str, list[str]] | None:
    """The newest month whose upward feedback `manager` may see, with its texts."""
    assert manager.id is not None  # a stored member
    for period in upward_periods(s, manager.id):
        texts = upward_set(s, manager, period, now, minimum=minimum)
        if texts is not None:
            return period, texts
    return None


def released_at(s: Session, manager_id: int, period: str) -> datetime | None:
    """When a month's reviews had closed for everyone who was asked and the month was over (the moment its set may
    first be shown)."""
    runs = s.exec(
        select(ConversationRun).where(ConversationRun.flow == MONTHLY, ConversationRun.period == period)
    ).all()
    closes = [r.closes_at for r in runs if (r.context or {}).get("upward_to") == manager_id]
    over = month_over(period)
    return max([*closes, over]) if closes and over is not None else None


# ------------------------------------------------------------------------------------------------ shown with answers


def recent_replies(
    s: Session, viewer: Member, subjects: Sequence[Member], now: datetime
) -> dict[int, list[dict[str, Any]]]:
    """The replies of the last four weeks about each subject's items that `viewer` may see (only the two people of
    each reply ever may), oldest first, for the digest and `/me`."""
    ids = [m.id for m in subjects if m.id is not None]
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = list(
        s.exec(
            select(AnswerReply)
            .where(col(AnswerReply.subject_id).in_(ids), col(AnswerReply.created_at) >= now - RECENT)
            .order_by(col(AnswerReply.created_at), col(AnswerReply.id))
        )
    )
    people = (
        repo.members_by_id(s, ids=list({r.author_id for r in rows} | {r.recipient_id for r in rows})) if rows else {}
    )
    me = access.person(viewer)
    by_id = {m.id: m for m in subjects}
    for r in rows:
        subject = access.person(by_id[r.subject_id])
        assert subject is not None
        if not access.may(
            me, subject, access.Part.REPLIES, now=now, reply=access.ReplyFacts(r.author_id, r.recipient_id)
        ):
            continue
        author = people.get(r.author_id)
        out[r.subject_id].append(
            {
                "from": first_name(author.name) if author else "",
                "text": r.text,
                "at": r.created_at,
                "about": r.about,
                "step": r.step,
                "period": r.period,
                "about_id": r.about_id,
            }
        )
    return out


def thanks_given(s: Session, manager_id: int, since: datetime) -> int:
    """Specific thank-yous a manager sent as replies since `since` (they count toward the digest's thanks nudge)."""
    return int(
        s.exec(
            select(sa.func.count())
            .select_from(AnswerReply)
            .where(
                AnswerReply.author_id == manager_id,
                AnswerReply.thanks == sa.true(),
                col(AnswerReply.created_at) >= since,
            )
        ).one()
    )
