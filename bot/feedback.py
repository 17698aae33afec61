"""Feedback on request (`/feedback`): a member asks one to three colleagues for feedback, each colleague answers
three questions by DM (the `feedback` flow) or declines with one word, and only the requester reads the answers —
their managers too once they share them (`/feedback share N`). The rules of who reads what are in bot/access.py
(Part.REQUESTED_FEEDBACK); when a DM may go, in bot/calendar.py `Calendars.send_at`.

What is kind and safe about declining (decided here, said in the README): a decline is never reported, and nothing
tells a decline from a colleague who let the week pass — the requester learns each answer as it comes, and when the
request closes one count, "2 of 3 answered". A request closes early only when everyone answered. Whatever a
colleague typed before declining or lapsing is deleted when the request closes: only finished answers are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot import access
from bot.calendar import Calendars, paused_until
from bot.codec import encode_replies
from bot.engine import FlowHooks, RunEngine, run_row
from bot.platforms import identity
from bot.ports import CommandHandler
from conversations.commands import Command, with_leftover
from conversations.events import InboundEvent
from conversations.feedback import (
    ASK_WORDS,
    FEEDBACK,
    LIST_WORDS,
    NAME,
    OPEN_FOR,
    SHARE_WORDS,
    FeedbackAsk,
    parse_ask,
    request_done,
)
from conversations.machine import Reply, Status, Trigger
from conversations.render import first_name
from storage import repo
from storage.models import Answer, ConversationRun, FeedbackRequest, Member, OutboxMessage, RunTransition

log = logging.getLogger(__name__)

LIST_SIZE = 5
STEPS = tuple(a.id for a in FEEDBACK.steps)


def period_of(request_id: int) -> str:
    return f"feedback-{request_id}"


def request_id_of(period: str) -> int | None:
    head, _, number = period.partition("-")
    return int(number) if head == NAME and number.isdigit() else None


def facts(request: FeedbackRequest, giver_id: int | None = None) -> access.FeedbackFacts:
    return access.FeedbackFacts(request.requester_id, giver_id, request.shared_at is not None)


class FeedbackDesk:
    def __init__(
        self,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
        calendars: Calendars,
        runs: RunEngine,
        skip_level: bool = False,
    ) -> None:
        self.transaction = transaction
        self.calendars = calendars  # when each colleague, the requester and their managers may be told
        self.runs = runs  # the colleagues' conversations: created, delivered and expired through it
        self.skip_level = skip_level

    def hooks(self) -> FlowHooks:
        """A colleague's answer goes to the requester as soon as it is in."""
        return FlowHooks(flows=frozenset({NAME}), after_answer=self.process_due)

    def commands(self) -> dict[str, CommandHandler]:
        return {"feedback": lambda s, member, c, event, now: (self.command(s, member, c, event, now), None)}

    def command(self, s: Session, member: Member, c: Command, event: InboundEvent, now: datetime) -> list[Reply]:
        words = c.args.split()
        head = words[0].lower() if words else ""
        if head in ASK_WORDS:
            typed = c.text.strip().split(maxsplit=1)
            return self.ask(s, member, typed[1] if len(typed) > 1 else "", event, now)
        if head in SHARE_WORDS:
            number = words[1].lstrip("#") if len(words) == 2 else ""
            if not number.isdigit():
                return [Reply("feedback/share_usage")]
            return [self.share(s, member, int(number), now)]
        if head in LIST_WORDS:
            return with_leftover([self.view(s, member, now)], "/feedback", " ".join(words[1:]))
        return [Reply("feedback/usage")]

    # ---------------------------------------------------------------------------------------- asking

    def ask(self, s: Session, requester: Member, text: str, event: InboundEvent, now: datetime) -> list[Reply]:
        parsed = parse_ask(text)
        if not isinstance(parsed, FeedbackAsk):
            return [Reply(f"feedback/{parsed}")]
        people, unknown = identity.members_by_mentions(s, platform=event.platform, tokens=parsed.mentions)
        if unknown is not None:
            return [Reply("feedback/unknown_member", {"who": unknown})]
        if any(p.id == requester.id for p in people):
            return [Reply("feedback/self")]
        assert requester.id is not None  # a stored member
        request = FeedbackRequest(
            requester_id=requester.id, topic=parsed.topic, created_at=now, closes_at=now + OPEN_FOR
        )
        s.add(request)
        s.flush()
        assert request.id is not None  # set by the flush
        # `title` and `starter` are what the state machine hands every question of an on-demand flow (retros too)
        context = {
            "title": request.topic,
            "request_id": request.id,
            "starter": first_name(requester.name),
            "steps": list(STEPS),  # set now: an on-demand run has no previous period to carry anything from
        }
        for person in people:
            assert person.id is not None  # a stored member
            row = run_row(
                FEEDBACK,
                person.id,
                period_of(request.id),
                due=now,
                prompt_at=self.calendars.send_at(person, now),
                closes=request.closes_at,
                now=now,
            )
            row["context"] = dict(context)
            repo.insert_runs(s, rows=[row])
            run = repo.run_for_period(s, flow=NAME, member_id=person.id, period=period_of(request.id))
            assert run is not None
            if run.prompt_at > now or paused_until(person, now) is not None:
                continue  # outside their working time, or paused: the tick brings (or skips) it, as for check-ins
            current = self.runs.busy_with_other(s, run, now)
            if current is not None:  # mid-conversation: the questions come when they finish
                self.runs.hold_back(s, run, person, current, now)
                continue
            replies = self.runs.apply(s, run, person, Trigger.DELIVER, None, now, by_member=False)
            repo.enqueue(
                s,
                dedup_key=f"run:{run.id}:deliver:",
                member_id=person.id,
                run_id=run.id,
                kind="deliver",
                body=encode_replies(replies),
                now=now,
            )
        log.info("feedback request %s from member %s to %d colleague(s)", request.id, requester.id, len(people))
        return [
            Reply(
                "feedback/asked",
                {
                    "id": request.id,
                    "topic": request.topic,
                    "names": [first_name(p.name) for p in people],
                    "closes_at": request.closes_at,
                },
            )
        ]

    # ---------------------------------------------------------------------------------------- answers in

    def process_due(self, now: datetime) -> int:
        """Send each finished answer to its requester, and close the requests whose time is up or that everyone
        answered. Safe to repeat: each answer is sent once (its run records it), each request closes once."""
        done = 0
        with self.transaction() as s:
            ids = [r.id for r in s.exec(select(FeedbackRequest).where(FeedbackRequest.status == "open"))]
        for request_id in ids:
            with self.transaction() as s:
                request = s.exec(
                    select(FeedbackRequest)
                    .where(FeedbackRequest.id == request_id, FeedbackRequest.status == "open")
                    .with_for_update(skip_locked=True)
                ).first()
                if request is None:
                    continue
                runs = self._runs(s, request)
                requester = s.get(Member, request.requester_id)
                assert requester is not None
                for run in runs:
                    if run.status == Status.COMPLETED and not (run.context or {}).get("delivered_at"):
                        self._deliver_answer(s, request, requester, run, now)
                declined = [r.id for r in runs if r.status == Status.SKIPPED]
                if declined:  # a decline keeps nothing of what was typed before it
                    s.execute(sa.delete(Answer).where(col(Answer.run_id).in_(declined)))
                answered = sum(1 for r in runs if r.status == Status.COMPLETED)
                other = sum(1 for r in runs if r.status in (Status.SKIPPED, Status.EXPIRED))
                if request_done(
                    asked=len(runs), answered=answered, declined_or_lapsed=other, past_due=now >= request.closes_at
                ):
                    self._close(s, request, requester, runs, now)
                    done += 1
        return done

    def _deliver_answer(
        self, s: Session, request: FeedbackRequest, requester: Member, run: ConversationRun, now: datetime
    ) -> None:
        giver = s.get(Member, run.member_id)
        assert run.id is not None and giver is not None and requester.id is not None
        run.context = {**(run.context or {}), "delivered_at": now.isoformat()}
        s.add(run)
        if not access.may_member(
            s, requester, requester, access.Part.REQUESTED_FEEDBACK, now=now, feedback=facts(request, giver.id)
        ):
            return  # the requester has left since
        answers = repo.answers_of(s, run_id=run.id)
        params = {
            "id": request.id,
            "topic": request.topic,
            "giver": _giver(giver),
            "answers": {k: answers.get(k) for k in STEPS},
        }
        repo.enqueue(
            s,
            dedup_key=f"feedback:{request.id}:answer:{run.id}",
            member_id=requester.id,
            kind="feedback_answer",
            body=encode_replies([Reply("feedback/received", params)]),
            now=now,
            not_before=self.calendars.send_at(requester, now),
        )

    def _close(
        self,
        s: Session,
        request: FeedbackRequest,
        requester: Member,
        runs: Sequence[ConversationRun],
        now: datetime,
    ) -> None:
        people = repo.members_by_id(s, ids=[r.member_id for r in runs])
        for run in runs:  # anyone still answering is told it has closed
            if run.status in (Status.SCHEDULED, Status.PROMPTED, Status.IN_PROGRESS):
                out = self.runs.apply(s, run, people[run.member_id], Trigger.EXPIRE, None, now, by_member=False)
                if out:
                    repo.enqueue(
                        s,
                        dedup_key=f"run:{run.id}:expire:",
                        member_id=run.member_id,
                        run_id=run.id,
                        kind="expire",
                        body=encode_replies(out),
                        now=now,
                        not_before=self.calendars.send_at(people[run.member_id], now),
                    )
        unfinished = [r.id for r in runs if r.status != Status.COMPLETED]
        if unfinished:  # what a colleague typed before declining or lapsing is read by no one: not kept
            s.execute(sa.delete(Answer).where(col(Answer.run_id).in_(unfinished)))
        answered = sum(1 for r in runs if r.status == Status.COMPLETED)
        request.status, request.closed_at = "closed", now
        s.add(request)
        if access.may_member(s, requester, requester, access.Part.REQUESTED_FEEDBACK, now=now, feedback=facts(request)):
            repo.enqueue(
                s,
                dedup_key=f"feedback:{request.id}:closed",
                member_id=requester.id,
                kind="feedback_closed",
                body=encode_replies(
                    [
                        Reply(
                            "feedback/closed",
                            {"id": request.id, "topic": request.topic, "answered": answered, "asked": len(runs)},
                        )
                    ]
                ),
                now=now,
                not_before=self.calendars.send_at(requester, now),
            )
        log.info("feedback request %s closed: %d of %d answered", request.id, answered, len(runs))

    @staticmethod
    def _runs(s: Session, request: FeedbackRequest) -> list[ConversationRun]:
        assert request.id is not None  # a stored request
        return list(
            s.exec(
                select(ConversationRun)
                .where(col(ConversationRun.flow) == NAME, col(ConversationRun.period) == period_of(request.id))
                .order_by(col(ConversationRun.id))
            )
        )

    @staticmethod
    def wakeups(s: Session, after: datetime) -> list[datetime]:
        """When an open request next closes (the console's `/clock` fast-forwards to it)."""
        found = s.exec(
            select(sa.func.min(FeedbackRequest.closes_at)).where(
                FeedbackRequest.status == "open", col(FeedbackRequest.closes_at) > after
            )
        ).one()
        return [found] if found is not None else []

    # ---------------------------------------------------------------------------------------- reading, sharing

    def items(self, s: Session, viewer: Member, request: FeedbackRequest, now: datetime) -> dict[str, Any]:
        """One request as `viewer` may read it: the finished answers, each with its giver's name."""
        runs = self._runs(s, request)
        people = repo.members_by_id(s, ids=[r.member_id for r in runs] + [request.requester_id])
        requester = people[request.requester_id]
        answers = []
        for run in runs:
            assert run.id is not None  # a stored run
            if run.status != Status.COMPLETED or not access.may_member(
                s,
                viewer,
                requester,
                access.Part.REQUESTED_FEEDBACK,
                now=now,
                skip_level=self.skip_level,
                feedback=facts(request, run.member_id),
            ):
                continue
            got = repo.answers_of(s, run_id=run.id)
            answers.append({"giver": _giver(people[run.member_id]), **{k: got.get(k) for k in STEPS}})
        return {
            "id": request.id,
            "topic": request.topic,
            "requester": first_name(requester.name),
            "open": request.status == "open",
            "closes_at": request.closes_at,
            "shared": request.shared_at is not None,
            "asked": len(runs),
            "answers": answers,
        }

    def view(self, s: Session, member: Member, now: datetime) -> Reply:
        """`/feedback`: one's own requests with the answers so far; for a manager, what their reports shared."""
        assert member.id is not None  # a stored member
        own = list(
            s.exec(
                select(FeedbackRequest)
                .where(FeedbackRequest.requester_id == member.id)
                .order_by(col(FeedbackRequest.id).desc())
                .limit(LIST_SIZE)
            )
        )
        # Candidates: the requests of the member's reports and their reports; which of them the member may read
        # (shared ones only, skip level as configured) is bot/access.py's to say.
        reports = select(Member.id).where(Member.manager_id == member.id)
        below = select(Member.id).where(col(Member.manager_id).in_(reports))
        candidates = (
            select(FeedbackRequest, Member)
            .join(Member, col(Member.id) == col(FeedbackRequest.requester_id))
            .where(sa.or_(col(Member.id).in_(reports), col(Member.id).in_(below)))
            .order_by(col(FeedbackRequest.id).desc())
        )
        shared: list[dict[str, Any]] = []
        for request, requester in s.exec(candidates):
            if len(shared) >= LIST_SIZE:
                break
            if access.may_member(
                s,
                member,
                requester,
                access.Part.REQUESTED_FEEDBACK,
                now=now,
                skip_level=self.skip_level,
                feedback=facts(request),
            ):
                shared.append(self.items(s, member, request, now))
        return Reply(
            "feedback/list",
            {"own": [self.items(s, member, r, now) for r in own], "shared": shared},
        )

    def share(self, s: Session, member: Member, request_id: int, now: datetime) -> Reply:
        """`/feedback share N`: the requester lets their manager (and manager's manager, with skip_level) read it."""
        request = s.get(FeedbackRequest, request_id)
        if request is None or request.requester_id != member.id:
            return Reply("feedback/not_found", {"id": request_id})
        if request.shared_at is not None:
            return Reply("feedback/share_already", {"id": request_id, "topic": request.topic})
        request.shared_at = now
        s.add(request)
        readers = access.seen_by(s, member, skip_level=self.skip_level)
        told = []
        for reader in readers:
            if not access.may_member(
                s,
                reader,
                member,
                access.Part.REQUESTED_FEEDBACK,
                now=now,
                skip_level=self.skip_level,
                feedback=facts(request),
            ):
                continue
            told.append(first_name(reader.name))
            repo.enqueue(
                s,
                dedup_key=f"feedback:{request.id}:shared:{reader.id}",
                member_id=reader.id,
                kind="feedback_shared",
                body=encode_replies([Reply("feedback/shared_with_you", self.items(s, reader, request, now))]),
                now=now,
                not_before=self.calendars.send_at(reader, now),
            )
        log.info("feedback request %s shared by member %s with %d reader(s)", request.id, member.id, len(told))
        return Reply("feedback/share_done", {"id": request.id, "topic": request.topic, "names": told})

    # ---------------------------------------------------------------------------------------- own data

    @staticmethod
    def export(s: Session, member: Member) -> dict[str, Any]:
        """The member's requests with the answers they received, and the feedback they gave (their own words)."""
        assert member.id is not None  # a stored member
        asked = []
        for request in s.exec(
            select(FeedbackRequest).where(FeedbackRequest.requester_id == member.id).order_by(col(FeedbackRequest.id))
        ):
            runs = FeedbackDesk._runs(s, request)
            people = repo.members_by_id(s, ids=[r.member_id for r in runs])
            answers = []
            for run in runs:
                assert run.id is not None  # a stored run
                if run.status == Status.COMPLETED:
                    got = repo.answers_of(s, run_id=run.id)
                    answers.append({"giver": people[run.member_id].handle, **{k: got.get(k) for k in STEPS}})
            asked.append(
                {
                    "id": request.id,
                    "topic": request.topic,
                    "status": request.status,
                    "asked_at": request.created_at.isoformat(),
                    "shared_at": request.shared_at.isoformat() if request.shared_at else None,
                    "asked": len(runs),
                    "answers": answers,
                }
            )
        return {"feedback_requested": asked}

    @staticmethod
    def forget(s: Session, member: Member) -> int:
        """Delete the member's requests and every answer given to them (the feedback is about them, and only
        they read it). What they gave others is deleted with their own conversations (bot/me.py `forget`)."""
        assert member.id is not None  # a stored member
        requests = list(s.exec(select(FeedbackRequest).where(FeedbackRequest.requester_id == member.id)))
        periods = [period_of(r.id) for r in requests if r.id is not None]
        if periods:
            run_ids = list(
                s.exec(
                    select(ConversationRun.id).where(
                        col(ConversationRun.flow) == NAME, col(ConversationRun.period).in_(periods)
                    )
                )
            )
            if run_ids:
                s.execute(sa.delete(Answer).where(col(Answer.run_id).in_(run_ids)))
                s.execute(sa.delete(RunTransition).where(col(RunTransition.run_id).in_(run_ids)))
                s.execute(sa.delete(OutboxMessage).where(col(OutboxMessage.run_id).in_(run_ids)))
                s.execute(sa.delete(ConversationRun).where(col(ConversationRun.id).in_(run_ids)))
        for request in requests:
            s.delete(request)
        return len(requests)


def _giver(member: Member) -> str | None:
    """A giver's name as shown; None (the templates say "a former colleague") once they deleted their data."""
    return None if repo.is_erased(member) else first_name(member.name)
