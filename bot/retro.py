"""Retrospectives: start, collect privately by DM, post one summary where it started, follow up the actions."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from bot.codec import encode_replies
from conversations.events import InboundEvent
from conversations.machine import Reply, Status, Trigger
from conversations.render import first_name
from conversations.retro import ANONYMITY_THRESHOLD, NAME, RETRO, RetroRequest, parse_retro
from storage import repo
from storage.models import ConversationRun, Member, Retro, RetroAction

log = logging.getLogger(__name__)


def period_of(retro_id: int) -> str:
    return f"retro-{retro_id}"


class RetroDesk:
    def __init__(self, app: Any) -> None:
        self.app = app

    # ---------------------------------------------------------------------------------------- start

    def start(self, s: Session, starter: Member, args: str, event: InboundEvent, now: datetime) -> list[Reply]:
        parsed = parse_retro(args)
        if not isinstance(parsed, RetroRequest):
            return [Reply(f"retro/{parsed}")]
        people, unknown = repo.members_by_mentions(s, platform=event.platform, tokens=parsed.mentions)
        if unknown is not None:
            return [Reply("retro/unknown_member", {"who": unknown})]
        channel = f"{event.platform}:{event.channel}" if event.channel else None
        retro = Retro(title=parsed.title, channel=channel, started_by=starter.id, anonymous=parsed.anonymous,
                      due_at=now + parsed.due, created_at=now)
        s.add(retro)
        s.flush()
        own_questions: list[Reply] = []
        context = {"title": retro.title, "retro_id": retro.id, "anonymous": retro.anonymous,
                   "starter": first_name(starter.name), "steps": [a.id for a in RETRO.steps]}
        for person in people:
            prompt_at = now if person.id == starter.id else self.app.calendars.send_at(person, now)
            row = self.app._run_row(RETRO, person.id, period_of(retro.id), due=now, prompt_at=prompt_at,
                                    closes=retro.due_at, now=now)
            row["context"] = dict(context)
            repo.insert_runs(s, rows=[row])
            run = repo.run_for_period(s, flow=NAME, member_id=person.id, period=period_of(retro.id))
            assert run is not None
            if person.id != starter.id and (run.prompt_at > now or self.app._busy_with_other(s, run, now)):
                continue  # outside their working time or mid-conversation: the tick (or their finishing) brings them
            replies = self.app._apply(s, run, person, Trigger.DELIVER, None, now, by_member=False)
            if person.id == starter.id:  # the starter reads the confirmation first, then their own questions
                own_questions = replies
                continue
            repo.enqueue(s, dedup_key=f"run:{run.id}:deliver:", member_id=person.id, run_id=run.id, kind="deliver",
                         body=encode_replies(replies), now=now)
        names = [first_name(p.name) for p in people]
        params = {"title": retro.title, "names": names, "starter": first_name(starter.name),
                  "anonymous": retro.anonymous, "due": retro.due_at, "channel": event.channel}
        if channel:
            repo.enqueue(s, dedup_key=f"retro:{retro.id}:announce", member_id=None, channel=channel,
                         kind="retro_announce", body=encode_replies([Reply("retro/announce", params)]), now=now)
        log.info("retro %s started by member %s with %d participants", retro.id, starter.id, len(people))
        return [Reply("retro/started", params), *own_questions]

    # ---------------------------------------------------------------------------------------- answers

    def validate_actions(self, s: Session, *, platform: str, actions: list[dict[str, str]]) -> Reply | None:
        for action in actions:
            if repo.member_by_mention(s, platform=platform, token=action["owner"]) is None:
                return Reply("retro/unknown_owner", {"who": action["owner"]})
        return None

    def record_actions(self, s: Session, *, run: ConversationRun, value: Any, now: datetime, platform: str) -> None:
        for old in s.exec(select(RetroAction).where(RetroAction.author_run_id == run.id)):
            s.delete(old)
        for action in value or []:
            owner = repo.member_by_mention(s, platform=platform, token=action["owner"])
            if owner is not None:
                s.add(RetroAction(retro_id=run.context["retro_id"], owner_id=owner.id, author_run_id=run.id,
                                  text=action["text"], created_at=now))

    # ---------------------------------------------------------------------------------------- summary

    def summarise_due(self, now: datetime) -> int:
        """Post the summaries of retros whose time is up or whose participants have all answered."""
        done = 0
        with self.app.transaction() as s:
            ids = [r.id for r in s.exec(select(Retro).where(Retro.status == "collecting"))]
        for retro_id in ids:
            with self.app.transaction() as s:
                retro = s.exec(select(Retro).where(Retro.id == retro_id, Retro.status == "collecting")
                               .with_for_update(skip_locked=True)).first()
                if retro is None:
                    continue  # summarised already, or another replica is doing it right now
                runs = list(s.exec(select(ConversationRun).where(ConversationRun.flow == NAME,
                                                                 ConversationRun.period == period_of(retro.id))
                                   .order_by(ConversationRun.id)))  # answers shown in the same order on any database
                finished = all(r.status in (Status.COMPLETED, Status.SKIPPED, Status.EXPIRED) and r.step is None
                               for r in runs)
                if now >= retro.due_at or finished:
                    self._summarise(s, retro, runs, now)
                    done += 1
        return done

    def _summarise(self, s: Session, retro: Retro, runs: list[ConversationRun], now: datetime) -> None:
        people = repo.members_by_id(s, ids=[r.member_id for r in runs] + [retro.started_by])
        rows = []
        for run in runs:
            answers = repo.answers_of(s, run_id=run.id)
            if answers:
                rows.append((people[run.member_id], answers))
        shown = not retro.anonymous or len(rows) >= ANONYMITY_THRESHOLD
        sections: dict[str, list[dict[str, Any]]] = {"goal": [], "went_well": [], "went_badly": []}
        actions = []
        if shown:
            for member, answers in rows:
                who = None if retro.anonymous else first_name(member.name)
                for key in sections:
                    if answers.get(key):
                        sections[key].append({"who": who, "text": answers[key]})
            if retro.anonymous:  # the order answers came in must not hint at who wrote them
                for items in sections.values():
                    items.sort(key=lambda a: a["text"])
            owners = repo.members_by_id(s, ids=[a.owner_id for a in self._actions(s, retro.id)])
            actions = [{"owner": first_name(owners[a.owner_id].name), "text": a.text}
                       for a in self._actions(s, retro.id)]
        params = {"title": retro.title, "anonymous": retro.anonymous, "respondents": len(rows),
                  "invited": len(runs), "shown": shown, "threshold": ANONYMITY_THRESHOLD,
                  "sections": sections, "actions": actions}
        replies = [Reply("retro/report", params)]
        if retro.channel:  # in the thread of the announcement, where the retro started
            body = {**encode_replies(replies), "thread_of": f"retro:{retro.id}:announce"}
            repo.enqueue(s, dedup_key=f"retro:{retro.id}:summary", member_id=None, channel=retro.channel,
                         kind="retro_summary", body=body, now=now)
        else:  # started in a DM: every participant and the starter get the summary privately
            for member_id in {r.member_id for r in runs} | {retro.started_by}:
                repo.enqueue(s, dedup_key=f"retro:{retro.id}:summary:{member_id}", member_id=member_id,
                             kind="retro_summary", body=encode_replies(replies), now=now,
                             not_before=self.app.calendars.send_at_id(s, member_id, now))
        for run in runs:  # anyone still answering is told it has closed
            if run.status in (Status.SCHEDULED, Status.PROMPTED, Status.IN_PROGRESS):
                member = people[run.member_id]
                out = self.app._apply(s, run, member, Trigger.EXPIRE, None, now, by_member=False)
                if out:
                    repo.enqueue(s, dedup_key=f"run:{run.id}:expire:", member_id=member.id, run_id=run.id,
                                 kind="expire", body=encode_replies(out), now=now,
                                 not_before=self.app.calendars.send_at(member, now))
        retro.status, retro.summarised_at = "summarised", now
        s.add(retro)
        log.info("retro %s summarised: %d of %d answered", retro.id, len(rows), len(runs))

    @staticmethod
    def _actions(s: Session, retro_id: int) -> list[RetroAction]:
        return list(s.exec(select(RetroAction).where(RetroAction.retro_id == retro_id).order_by(RetroAction.id)))
