"""Development actions: `/action` and its subcommands, the monthly review's actions, and a manager's suggestions.

An action is one record (`storage.models.DevelopmentAction`) whatever it came from; `repo.add_action` is the one
way to make one (the quarterly talk and 1:1s call it too). Open ones come back in the weekly check-in's follow-up
question until done or dropped (bot/followups.py), and show in `/me`, the digest and the export with their age.
Who sees one is bot/access.py's (Part.ACTIONS); a suggestion's DM waits for the member's working time and pause
(bot/calendar.py `send_at`, bot/pause.py `back_at`).

```mermaid
stateDiagram-v2
    [*] --> open: added (review, retro, 1:1, /action add)
    [*] --> proposed: a manager suggests one
    proposed --> open: the member accepts
    proposed --> declined: the member declines (the manager is told)
    open --> done
    open --> dropped
```
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import access
from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.digest import action_params
from bot.engine import FlowHooks
from bot.pause import back_at
from bot.platforms import identity
from bot.ports import CommandHandler
from conversations.actions import ActionRequest, parse_action
from conversations.answers import says_nothing
from conversations.commands import Command
from conversations.events import InboundEvent
from conversations.machine import Reply
from conversations.monthly_review import NAME as MONTHLY
from conversations.render import first_name
from conversations.schedule import zone
from storage import repo
from storage.models import DevelopmentAction, Member, Retro

log = logging.getLogger(__name__)

GROWTH_STEP = "growth"  # the monthly review's question: 1–3 concrete actions, each one becomes an action
RECENTLY_CLOSED = 5  # how many done or dropped actions `/action` still shows


class ActionDesk:
    def __init__(self, calendars: Calendars | None = None) -> None:
        self.calendars = calendars or Calendars()  # when a suggestion or its answer may reach its recipient

    def hooks(self) -> FlowHooks:
        """The monthly review's actions: recorded as the answer is saved, kept in step when it is edited."""
        return FlowHooks(flows=frozenset({MONTHLY}), after_save=self._after_save)

    def commands(self) -> dict[str, CommandHandler]:
        return {"action": lambda s, member, c, event, now: (self.command(s, member, c, event, now), None)}

    # ---------------------------------------------------------------------------------------- from the review

    def _after_save(
        self, s: Session, flow: Any, run: Any, member: Member, step: str, value: Any, now: datetime
    ) -> None:
        if step != GROWTH_STEP:
            return
        assert member.id is not None and run.id is not None  # stored
        texts = [str(v) for v in value or [] if str(v).strip() and not says_nothing(str(v))]  # "none", "无": no action
        repo.set_actions_from(
            s, owner_id=member.id, source="monthly_review", source_run_id=run.id, texts=texts, now=now
        )

    # ---------------------------------------------------------------------------------------- /action

    def command(self, s: Session, member: Member, c: Command, event: InboundEvent, now: datetime) -> list[Reply]:
        today = now.astimezone(zone(member.timezone)).date()
        request = parse_action(c.args, c.text or c.args, today)
        if request.verb == "list":
            return [self.listing(s, member, now)]
        if request.verb == "usage":
            return [Reply("action/usage", {"problem": request.problem, "part": request.text})]
        if request.verb == "add":
            return [self._add(s, member, request, now)]
        if request.verb == "suggest":
            return [self.suggest(s, member, request, platform=event.platform, now=now)]
        assert request.action_id is not None  # parse_action: every other verb names one
        action = self._own(s, member, request.action_id, now)
        if action is None:
            return [Reply("action/not_found", {"id": request.action_id})]
        if request.verb in ("accept", "decline"):
            return [self._decide(s, member, action, request.verb, now)]
        if action.status in ("proposed", "declined"):
            return [Reply("action/not_found", {"id": request.action_id})]
        if request.verb == "note":
            repo.add_action_note(s, action=action, text=request.text, now=now)
            return [Reply("action/noted", {"action": self._params(s, action, member, now)})]
        status = {"done": "done", "drop": "dropped"}[request.verb]
        if action.status != "open":
            return [Reply("action/already", {"action": self._params(s, action, member, now)})]
        repo.set_action_status(s, action=action, status=status, now=now)
        log.info("member %s marked action %s %s", member.id, action.id, status)
        return [Reply("action/closed", {"action": self._params(s, action, member, now)})]

    def listing(self, s: Session, member: Member, now: datetime) -> Reply:
        """`/action`: my open actions (oldest first), suggestions waiting for my answer, the last few closed."""
        assert member.id is not None  # a stored member
        mine = [
            a
            for a in repo.actions_of(
                s, owner_ids=[member.id], statuses=("proposed", "open", "done", "dropped"), shared_only=False
            )
            if self._may(s, member, a, now)
        ]
        notes = repo.action_notes(s, action_ids=[a.id for a in mine])  # type: ignore[misc]  # stored
        closed = sorted((a for a in mine if a.status in ("done", "dropped")), key=lambda a: (a.closed_at, a.id))
        return Reply(
            "action/list",
            {
                "open": [self._params(s, a, member, now, notes) for a in mine if a.status == "open"],
                "proposed": [self._params(s, a, member, now, notes) for a in mine if a.status == "proposed"],
                "closed": [self._params(s, a, member, now, notes) for a in closed[-RECENTLY_CLOSED:]],
            },
        )

    def _add(self, s: Session, member: Member, request: ActionRequest, now: datetime) -> Reply:
        assert member.id is not None  # a stored member
        action = repo.add_action(s, member.id, request.text, "typed", now=now, due=request.due)
        log.info("member %s added action %s", member.id, action.id)
        return Reply("action/added", {"action": self._params(s, action, member, now)})

    # ---------------------------------------------------------------------------------------- suggestions

    def suggest(self, s: Session, manager: Member, request: ActionRequest, *, platform: str, now: datetime) -> Reply:
        """A manager suggests an action to a direct report: stored as a proposal, the report asked by DM."""
        member = identity.member_by_mention(s, platform=platform, token=request.who)
        if member is None or not member.active:
            return Reply("action/unknown_member", {"who": request.who})
        if member.id == manager.id:
            return Reply("action/suggest_yourself")
        if not access.may_member(s, manager, member, access.Part.ACTION_SUGGEST, now=now):
            return Reply("action/suggest_not_yours", {"who": first_name(member.name)})
        assert member.id is not None and manager.id is not None  # stored
        action = repo.add_action(
            s, member.id, request.text, "suggested", now=now, due=request.due, suggested_by=manager.id
        )
        repo.enqueue(
            s,
            dedup_key=f"action:{action.id}:suggested",
            member_id=member.id,
            kind="action",
            body=encode_replies(
                [
                    Reply(
                        "action/suggested",
                        {**self._params(s, action, member, now), "manager": first_name(manager.name)},
                    )
                ]
            ),
            now=now,
            not_before=self.calendars.send_at(member, back_at(member, now)),  # a question: after a pause too
        )
        log.info("manager %s suggested action %s to member %s", manager.id, action.id, member.id)
        return Reply("action/suggestion_sent", {"who": first_name(member.name), "text": action.text, "due": action.due})

    def _decide(self, s: Session, member: Member, action: DevelopmentAction, verb: str, now: datetime) -> Reply:
        if action.status != "proposed":
            return Reply("action/not_proposed", {"action": self._params(s, action, member, now)})
        status = "open" if verb == "accept" else "declined"
        repo.set_action_status(s, action=action, status=status, now=now)
        manager = s.get(Member, action.suggested_by) if action.suggested_by is not None else None
        params = self._params(s, action, member, now)
        if manager is not None and manager.active:
            repo.enqueue(
                s,
                dedup_key=f"action:{action.id}:{status}",
                member_id=manager.id,
                kind="action",
                body=encode_replies(
                    [
                        Reply(
                            f"action/suggestion_{'accepted' if status == 'open' else 'declined'}",
                            {
                                "who": first_name(member.name),
                                "text": action.text,
                            },
                        )
                    ]
                ),
                now=now,
                not_before=self.calendars.send_at(manager, now),
            )
        log.info(
            "member %s %s suggested action %s", member.id, "accepted" if status == "open" else "declined", action.id
        )
        return Reply(
            "action/accepted" if status == "open" else "action/declined",
            {"action": params, "manager": first_name(manager.name) if manager is not None else None},
        )

    # ---------------------------------------------------------------------------------------- helpers

    def _own(self, s: Session, member: Member, action_id: int, now: datetime) -> DevelopmentAction | None:
        """One of the member's own actions that they may see; anyone else's is indistinguishable from none."""
        action = s.get(DevelopmentAction, action_id)
        if action is None or action.owner_id != member.id or not self._may(s, member, action, now):
            return None
        return action

    @staticmethod
    def _may(s: Session, viewer: Member, action: DevelopmentAction, now: datetime) -> bool:
        owner = viewer if viewer.id == action.owner_id else s.get(Member, action.owner_id)
        return owner is not None and access.may_member(
            s, viewer, owner, access.Part.ACTIONS, now=now, action=access.action_facts(s, action)
        )

    @staticmethod
    def _params(
        s: Session,
        action: DevelopmentAction,
        owner: Member,
        now: datetime,
        notes: dict[int, list[Any]] | None = None,
    ) -> dict[str, Any]:
        retro = s.get(Retro, action.retro_id) if action.retro_id is not None else None
        found = notes if notes is not None else repo.action_notes(s, action_ids=[action.id])  # type: ignore[list-item]  # stored
        return {
            **action_params(action, retro, today=now.astimezone(zone(owner.timezone)).date(), now=now),
            "notes": [{"text": n.text, "at": n.created_at} for n in found.get(action.id, [])],  # type: ignore[arg-type]  # stored
        }
