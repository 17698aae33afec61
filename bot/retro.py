"""Retrospectives: start, collect privately by DM, post one summary where it started, follow up the actions.

What came from one person's answers reaches others only as `conversations.retro.disclosed` decides. Its verdict
is recorded when it is made — the retro's status (`summarised`: shared, `withheld`: below the minimum of an
anonymous retro) and each action's `shared_at` — and every reader of actions goes through
`repo.shared_retro_actions`. Below the minimum each author is told privately and may post their own answers under
their name (`/retro repost`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot import access
from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.engine import FlowHooks, RunEngine, run_row
from bot.platforms import identity
from bot.ports import CommandHandler
from conversations.answers import Invalid, says_nothing
from conversations.events import InboundEvent
from conversations.flows import Flow
from conversations.machine import Reply, RunState, Status, Trigger, ask
from conversations.render import first_name
from conversations.retro import (
    NAME,
    RETRO,
    RepostRequest,
    RetroRequest,
    disclosed,
    parse_repost,
    parse_retro,
    respondents_shown,
)
from conversations.similarity import text_key
from storage import repo
from storage.models import ConversationRun, DevelopmentAction, Member, Retro

log = logging.getLogger(__name__)


def period_of(retro_id: int) -> str:
    return f"retro-{retro_id}"


SECTIONS = ("goal", "went_well", "went_badly")


class RetroDesk:
    def __init__(
        self,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
        calendars: Calendars,
        runs: RunEngine,
        anonymous_min: Callable[[], int],
        platform_of: Callable[[Member], str],
    ) -> None:
        self.transaction = transaction
        self.calendars = calendars  # when each participant may be told
        self.runs = runs  # the participants' runs: created, started, held back and closed through it
        self.anonymous_min = anonymous_min  # `retro.anonymous_min` in the org file, as it is now
        self.platform_of = platform_of  # where a member's mentions (action owners) are resolved

    def hooks(self) -> FlowHooks:
        """What retros add to their runs: action owners checked before anything is saved, actions recorded once
        per retro, and the summary posted as soon as the last participant has answered."""
        return FlowHooks(
            flows=frozenset({NAME}),
            check_answer=self._check_actions,
            after_save=self._after_save,
            after_answer=self.summarise_due,
        )

    def commands(self) -> dict[str, CommandHandler]:
        return {
            "retro": lambda s, member, c, event, now: (self.command(s, member, c.args, event, now, text=c.text), None)
        }

    def _check_actions(
        self, s: Session, flow: Flow, run: ConversationRun, state: RunState, member: Member, text: str | None
    ) -> tuple[str, list[Reply]] | None:
        """Retro actions name their owners; an owner Flywheel doesn't know is asked about before anything is saved."""
        if run.step != "actions":
            return None
        try:
            actions = flow.ask_for("actions").expects.parse(text or "")
        except Invalid:
            return None  # the state machine re-asks with the parser's own message
        refusal = self.validate_actions(s, platform=self.platform_of(member), actions=actions)  # type: ignore[arg-type]  # the actions step parses to a list of {owner, text}
        return None if refusal is None else ("unknown_owner", [refusal, ask(flow, state, "actions", state.answers)])

    def _after_save(
        self, s: Session, flow: Flow, run: ConversationRun, member: Member, step: str, value: Any, now: datetime
    ) -> None:
        if step == "actions":
            self.record_actions(s, run=run, value=value, now=now, platform=self.platform_of(member))

    def command(
        self, s: Session, member: Member, args: str, event: InboundEvent, now: datetime, *, text: str | None = None
    ) -> list[Reply]:
        """`/retro start …`, or `/retro repost [12]`; `args` as read, `text` as typed (the title is kept so)."""
        repost = parse_repost(args)
        if isinstance(repost, RepostRequest):
            return [self.repost(s, member, repost.retro_id, now)]
        if isinstance(repost, str):
            return [Reply(f"retro/{repost}")]
        return self.start(s, member, text or args, event, now)

    # ---------------------------------------------------------------------------------------- start

    def start(self, s: Session, starter: Member, args: str, event: InboundEvent, now: datetime) -> list[Reply]:
        parsed = parse_retro(args)
        if not isinstance(parsed, RetroRequest):
            return [Reply(f"retro/{parsed}")]
        people, unknown = identity.members_by_mentions(s, platform=event.platform, tokens=parsed.mentions)
        if unknown is not None:
            return [Reply("retro/unknown_member", {"who": unknown})]
        channel = f"{event.platform}:{event.channel}" if event.channel else None
        assert starter.id is not None  # a stored member
        retro = Retro(
            title=parsed.title,
            channel=channel,
            started_by=starter.id,
            anonymous=parsed.anonymous,
            due_at=now + parsed.due,
            created_at=now,
        )
        s.add(retro)
        s.flush()
        assert retro.id is not None  # set by the flush
        own_questions: list[Reply] = []
        minimum = self.anonymous_min()
        context = {
            "title": retro.title,
            "retro_id": retro.id,
            "anonymous": retro.anonymous,
            "starter": first_name(starter.name),
            "steps": [a.id for a in RETRO.steps],
        }
        if retro.anonymous:  # what participants are promised now holds even if the org file changes before close
            context["anonymous_min"] = minimum
        for person in people:
            assert person.id is not None  # a stored member
            prompt_at = now if person.id == starter.id else self.calendars.send_at(person, now)
            row = run_row(
                RETRO, person.id, period_of(retro.id), due=now, prompt_at=prompt_at, closes=retro.due_at, now=now
            )
            row["context"] = dict(context)
            repo.insert_runs(s, rows=[row])
            run = repo.run_for_period(s, flow=NAME, member_id=person.id, period=period_of(retro.id))
            assert run is not None
            if person.id != starter.id and run.prompt_at > now:
                continue  # outside their working time: the tick brings them the questions
            current = self.runs.busy_with_other(s, run, now)
            if current is not None:  # mid-conversation: the questions come when they finish (or the tick, later)
                self.runs.hold_back(s, run, person, current, now)
                continue
            replies = self.runs.apply(s, run, person, Trigger.DELIVER, None, now, by_member=False)
            if person.id == starter.id:  # the starter reads the confirmation first, then their own questions
                own_questions = replies
                continue
            repo.enqueue(
                s,
                dedup_key=f"run:{run.id}:deliver:",
                member_id=person.id,
                run_id=run.id,
                kind="deliver",
                body=encode_replies(replies),
                now=now,
            )
        names = [first_name(p.name) for p in people]
        params = {
            "title": retro.title,
            "names": names,
            "starter": first_name(starter.name),
            "anonymous": retro.anonymous,
            "due": retro.due_at,
            "channel": event.channel,
            "minimum": minimum,
        }
        if channel:
            repo.enqueue(
                s,
                dedup_key=f"retro:{retro.id}:announce",
                member_id=None,
                channel=channel,
                kind="retro_announce",
                body=encode_replies([Reply("retro/announce", params)]),
                now=now,
            )
        log.info("retro %s started by member %s with %d participants", retro.id, starter.id, len(people))
        warning = []
        if retro.anonymous and len(people) < minimum:  # it can never reach the minimum: say so before anyone answers
            warning = [Reply("retro/anonymous_too_few", {"count": len(people), "minimum": minimum})]
        return [Reply("retro/started", params), *warning, *own_questions]

    # ---------------------------------------------------------------------------------------- answers

    def validate_actions(self, s: Session, *, platform: str, actions: list[dict[str, str]]) -> Reply | None:
        for action in actions:
            if identity.member_by_mention(s, platform=platform, token=action["owner"]) is None:
                return Reply("retro/unknown_owner", {"who": action["owner"]})
        return None

    def record_actions(self, s: Session, *, run: ConversationRun, value: Any, now: datetime, platform: str) -> None:
        """This author's actions, each once per retro: an action another participant already wrote for the same
        owner (the same words, `conversations.similarity.text_key`) is not added again."""
        retro_id = run.context["retro_id"]
        before = self._written_by(s, run.id)  # type: ignore[arg-type]  # a stored run
        gone = [
            (old.owner_id, old.text, old.status, old.created_at, old.opened_at, old.closed_at, old.shared_at)
            for old in before
        ]
        repo.delete_actions(s, ids=[old.id for old in before])  # type: ignore[misc]  # stored
        s.flush()
        kept = {(a.owner_id, text_key(a.text)) for a in self._actions(s, retro_id)}
        retro = s.get(Retro, retro_id)
        # An edit after the retro closed keeps the verdict already recorded for this author's answers.
        shared = retro is not None and (retro.status == "summarised" or bool(run.context.get("reposted_at")))
        for action in value or []:
            owner = identity.member_by_mention(s, platform=platform, token=action["owner"])
            if owner is not None and (owner.id, text_key(action["text"])) not in kept:
                assert owner.id is not None  # a stored member
                kept.add((owner.id, text_key(action["text"])))
                repo.add_action(
                    s,
                    owner.id,
                    action["text"],
                    "retro",
                    now=now,
                    source_run_id=run.id,
                    retro_id=retro_id,
                    shared=shared,
                )
        # An action this author no longer writes stays if another participant wrote it too (now as theirs).
        for owner_id, text, status, created_at, opened_at, closed_at, shared_at in gone:
            if (owner_id, text_key(text)) in kept:
                continue
            for other in s.exec(
                select(ConversationRun)
                .where(ConversationRun.flow == NAME, ConversationRun.period == run.period, ConversationRun.id != run.id)
                .order_by(col(ConversationRun.id))
            ):
                assert other.id is not None  # a stored run
                wrote = [
                    a
                    for a in repo.answers_of(s, run_id=other.id).get("actions") or []
                    if text_key(a.get("text", "")) == text_key(text)
                    and getattr(identity.member_by_mention(s, platform=platform, token=a.get("owner", "")), "id", None)
                    == owner_id
                ]
                if wrote:
                    kept.add((owner_id, text_key(text)))
                    s.add(
                        DevelopmentAction(
                            owner_id=owner_id,
                            text=wrote[0]["text"],
                            source="retro",
                            source_run_id=other.id,
                            retro_id=retro_id,
                            status=status,
                            created_at=created_at,
                            opened_at=opened_at,
                            closed_at=closed_at,
                            shared_at=shared_at,
                        )
                    )
                    break

    # ---------------------------------------------------------------------------------------- summary

    def summarise_due(self, now: datetime) -> int:
        """Post the summaries of retros whose time is up or whose participants have all answered."""
        done = 0
        with self.transaction() as s:
            ids = [r.id for r in s.exec(select(Retro).where(Retro.status == "collecting"))]
        for retro_id in ids:
            with self.transaction() as s:
                retro = s.exec(
                    select(Retro)
                    .where(Retro.id == retro_id, Retro.status == "collecting")
                    .with_for_update(skip_locked=True)
                ).first()
                if retro is None:
                    continue  # summarised already, or another replica is doing it right now
                assert retro.id is not None  # a stored retro
                runs = list(
                    s.exec(
                        select(ConversationRun)
                        .where(col(ConversationRun.flow) == NAME, col(ConversationRun.period) == period_of(retro.id))
                        .order_by(col(ConversationRun.id))
                    )
                )  # answers shown in the same order on any database
                finished = all(
                    r.status in (Status.COMPLETED, Status.SKIPPED, Status.EXPIRED) and r.step is None for r in runs
                )
                if now < retro.due_at and not finished:
                    continue
                answered = self._answered(s, retro, runs)
                # Closing early only when it will be shared: an early "nothing shared" would tell everyone that all
                # of the too few had answered — a count, by its timing.
                if now < retro.due_at and not disclosed(
                    anonymous=retro.anonymous, respondents=len(answered), minimum=self.minimum_for(runs)
                ):
                    continue
                self._summarise(s, retro, runs, answered, now)
                done += 1
        return done

    @staticmethod
    def _answered(
        s: Session, retro: Retro, runs: list[ConversationRun]
    ) -> list[tuple[Member, ConversationRun, dict[str, Any]]]:
        """The respondents (everyone who answered anything), each with their run and answers."""
        people = repo.members_by_id(s, ids=[r.member_id for r in runs] + [retro.started_by])
        out = []
        for run in runs:
            assert run.id is not None  # a stored run
            answers = repo.answers_of(s, run_id=run.id)
            if answers:
                out.append((people[run.member_id], run, answers))
        return out

    def minimum_for(self, runs: list[ConversationRun]) -> int:
        """The respondents an anonymous retro needs: the organisation's minimum now, or the one its participants were
        told when it started, whichever is higher."""
        told = [int(r.context.get("anonymous_min") or 0) for r in runs]
        return max([self.anonymous_min(), *told])

    def _summarise(
        self,
        s: Session,
        retro: Retro,
        runs: list[ConversationRun],
        rows: list[tuple[Member, ConversationRun, dict[str, Any]]],
        now: datetime,
    ) -> None:
        people = repo.members_by_id(s, ids=[r.member_id for r in runs] + [retro.started_by])
        minimum = self.minimum_for(runs)
        shown = disclosed(anonymous=retro.anonymous, respondents=len(rows), minimum=minimum)
        sections: dict[str, list[dict[str, Any]]] = {key: [] for key in SECTIONS}
        actions = []
        if shown:
            for member, _, answers in rows:
                who = None if retro.anonymous else first_name(member.name)
                for key in sections:
                    if not says_nothing(answers.get(key)):
                        sections[key].append({"who": who, "text": answers[key]})
            if retro.anonymous:  # the order answers came in must not hint at who wrote them
                for items in sections.values():
                    items.sort(key=lambda a: a["text"])
            assert retro.id is not None  # a stored retro
            found = self._actions(s, retro.id)
            owners = repo.members_by_id(s, ids=[a.owner_id for a in found])
            actions = [{"owner": first_name(owners[a.owner_id].name), "text": a.text} for a in found]
            unshared = col(DevelopmentAction.shared_at).is_(None)
            s.execute(
                sa.update(DevelopmentAction)
                .where(col(DevelopmentAction.retro_id) == retro.id, DevelopmentAction.source == "retro", unshared)
                .values(shared_at=now)
            )
        params = {
            "title": retro.title,
            "anonymous": retro.anonymous,
            "respondents": respondents_shown(anonymous=retro.anonymous, respondents=len(rows), minimum=minimum),
            "invited": len(runs),
            "shown": shown,
            "threshold": minimum,
            "sections": sections,
            "actions": actions,
        }
        replies = [Reply("retro/report", params)]
        if retro.channel:  # in the thread of the announcement, where the retro started
            body = {**encode_replies(replies), "thread_of": f"retro:{retro.id}:announce"}
            repo.enqueue(
                s,
                dedup_key=f"retro:{retro.id}:summary",
                member_id=None,
                channel=retro.channel,
                kind="retro_summary",
                body=body,
                now=now,
            )
        else:  # started in a DM: every participant and the starter get the summary privately (bot/access.py)
            facts = access.retro_facts(retro, [r.member_id for r in runs])
            for member_id in {r.member_id for r in runs} | {retro.started_by}:
                reader = access.person(people.get(member_id))
                if reader is None or not access.may(reader, reader, access.Part.RETRO_ANSWERS, now=now, retro=facts):
                    continue  # a participant who has left since
                repo.enqueue(
                    s,
                    dedup_key=f"retro:{retro.id}:summary:{member_id}",
                    member_id=member_id,
                    kind="retro_summary",
                    body=encode_replies(replies),
                    now=now,
                    not_before=self.calendars.send_at_id(s, member_id, now),
                )
        for run in runs:  # anyone still answering is told it has closed
            if run.status in (Status.SCHEDULED, Status.PROMPTED, Status.IN_PROGRESS):
                member = people[run.member_id]
                out = self.runs.apply(s, run, member, Trigger.EXPIRE, None, now, by_member=False)
                if out:
                    repo.enqueue(
                        s,
                        dedup_key=f"run:{run.id}:expire:",
                        member_id=member.id,
                        run_id=run.id,
                        kind="expire",
                        body=encode_replies(out),
                        now=now,
                        not_before=self.calendars.send_at(member, now),
                    )
        if not shown:  # each author, privately: what happened to their answers, and how to share them themselves
            for member, _, _ in rows:
                notice = Reply(
                    "retro/withheld",
                    {"title": retro.title, "retro_id": retro.id, "minimum": minimum, "in_channel": bool(retro.channel)},
                )
                repo.enqueue(
                    s,
                    dedup_key=f"retro:{retro.id}:withheld:{member.id}",
                    member_id=member.id,
                    kind="retro_withheld",
                    body=encode_replies([notice]),
                    now=now,
                    not_before=self.calendars.send_at(member, now),
                )
        retro.status, retro.summarised_at = ("summarised" if shown else "withheld"), now
        s.add(retro)
        if shown:
            log.info("retro %s summarised: %d of %d answered", retro.id, len(rows), len(runs))
        else:  # not even the count goes further than the authors
            log.info("retro %s closed below its anonymity minimum: nothing shared", retro.id)

    # ---------------------------------------------------------------------------------------- re-posting

    def repost(self, s: Session, member: Member, retro_id: int | None, now: datetime) -> Reply:
        """`/retro repost [12]`: an author posts their own answers to a withheld retro under their name, where its
        summary went. The author's own choice is the one way past the minimum: their actions then follow up like
        any shared retro's. Nobody else's answers are touched."""
        query = select(ConversationRun).where(ConversationRun.flow == NAME, ConversationRun.member_id == member.id)
        if retro_id is not None:
            query = query.where(ConversationRun.period == period_of(retro_id))
        found: tuple[ConversationRun, Retro, dict[str, Any]] | None = None
        for run in s.exec(query.order_by(col(ConversationRun.id).desc())):
            retro = s.get(Retro, run.context.get("retro_id"))
            assert run.id is not None  # a stored run
            answers = repo.answers_of(s, run_id=run.id)
            if retro is None or retro.status != "withheld" or not answers:
                continue
            if found is None or not run.context.get("reposted_at"):
                found = (run, retro, answers)
            if not run.context.get("reposted_at"):
                break  # without a number: the latest one not posted yet
        if found is None:
            return Reply("retro/repost_not_found", {"id": retro_id})
        run, retro, answers = found
        if run.context.get("reposted_at"):
            return Reply("retro/repost_already", {"title": retro.title})
        mine = self._written_by(s, run.id)  # type: ignore[arg-type]  # a stored run
        owners = repo.members_by_id(s, ids=[a.owner_id for a in mine])
        params = {
            "who": first_name(member.name),
            "title": retro.title,
            "answers": {key: answers.get(key) for key in SECTIONS},
            "actions": [{"owner": first_name(owners[a.owner_id].name), "text": a.text} for a in mine],
        }
        body = encode_replies([Reply("retro/reposted", params)])
        if retro.channel:
            repo.enqueue(
                s,
                dedup_key=f"retro:{retro.id}:repost:{run.id}",
                member_id=None,
                channel=retro.channel,
                kind="retro_repost",
                body={**body, "thread_of": f"retro:{retro.id}:announce"},
                now=now,
            )
        else:  # started in a DM: to everyone the summary went to
            others = set(
                s.exec(
                    select(ConversationRun.member_id).where(
                        ConversationRun.flow == NAME, ConversationRun.period == run.period
                    )
                )
            )
            for member_id in sorted((others | {retro.started_by}) - {member.id}):
                repo.enqueue(
                    s,
                    dedup_key=f"retro:{retro.id}:repost:{run.id}:{member_id}",
                    member_id=member_id,
                    kind="retro_repost",
                    body=body,
                    now=now,
                    not_before=self.calendars.send_at_id(s, member_id, now),
                )
        run.context["reposted_at"] = now.isoformat()
        s.add(run)
        for action in mine:
            action.shared_at = now
            s.add(action)
        log.info("retro %s: member %s posted their own answers under their name", retro.id, member.id)
        return Reply(
            "retro/repost_done", {"title": retro.title, "in_channel": bool(retro.channel), "actions": len(mine)}
        )

    @staticmethod
    def _actions(s: Session, retro_id: int) -> list[DevelopmentAction]:
        query = select(DevelopmentAction).where(
            col(DevelopmentAction.retro_id) == retro_id, DevelopmentAction.source == "retro"
        )
        return list(s.exec(query.order_by(col(DevelopmentAction.id))))

    @staticmethod
    def _written_by(s: Session, run_id: int) -> list[DevelopmentAction]:
        """The actions one participant's answers wrote (for whomever they named)."""
        query = select(DevelopmentAction).where(
            col(DevelopmentAction.source_run_id) == run_id, DevelopmentAction.source == "retro"
        )
        return list(s.exec(query.order_by(col(DevelopmentAction.id))))
