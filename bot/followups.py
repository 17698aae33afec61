"""Where one conversation feeds the next, so that feedback turns into action:

- a blocker in a check-in, or the biggest obstacle in a monthly review, becomes an open obstacle;
- open obstacles are asked about again in the next check-in and review until resolved or no longer relevant;
- a support need from the monthly review reaches the manager at once; the member hears when the manager acts.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from bot import access
from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.engine import FlowHooks
from bot.ports import CommandHandler
from conversations.answers import SupportNeed
from conversations.events import InboundEvent
from conversations.flows import Flow, step_item
from conversations.machine import Reply
from conversations.render import first_name
from storage import repo
from storage.models import ConversationRun, DevelopmentAction, Member, Obstacle, Retro, SupportRequest

log = logging.getLogger(__name__)

ACTION_STEP = (
    "action"  # the weekly check-in's question about each open development action (conversations/weekly_checkin.py)
)
ACTION_ANSWERS = {"done": "done", "open": "open", "still": "open", "dropped": "dropped", "drop": "dropped"}

SUPPORT_ACTIONS = {
    "handle": "handling",
    "handling": "handling",
    "mine": "handling",
    "我来": "handling",
    "处理": "handling",
    "1on1": "one_on_one",
    "1:1": "one_on_one",
    "discuss": "one_on_one",
    "one_on_one": "one_on_one",
    "面谈": "one_on_one",
    "一对一": "one_on_one",
    "resolved": "resolved",
    "done": "resolved",
    "已解决": "resolved",
    "解决": "resolved",
}


class FollowUps:
    def __init__(self, calendars: Calendars | None = None) -> None:
        self.calendars = calendars or Calendars()  # when a notice may reach its recipient

    def hooks(self) -> FlowHooks:
        """For the runs of every flow: what is still open as context, and what an answer opens or closes."""
        return FlowHooks(
            context=lambda s, flow, member, run, pre: self.context(
                s, flow=flow, member=member, run=run, preloaded=pre.take_followups(run) if pre is not None else None
            ),
            after_save=lambda s, flow, run, member, step, value, now: self.after_save(
                s, flow=flow, run=run, member=member, step=step, value=value, now=now
            ),
        )

    def context(
        self,
        s: Session,
        *,
        flow: Flow,
        member: Member,
        run: ConversationRun,
        preloaded: tuple[list[Obstacle], list[tuple[DevelopmentAction, Retro | None]]] | None = None,
    ) -> dict[str, Any]:
        """Extra context a new run starts with: the member's obstacles that are still open, and open retro actions.
        `preloaded`: the same two lists, already read for a whole batch (bot/prefetch.py)."""
        context: dict[str, Any] = {}
        if any(a.each == "obstacles" for a in flow.steps):
            found = (
                preloaded[0]
                if preloaded is not None
                else repo.open_obstacles(s, member_id=member.id, exclude_run_id=run.id)  # type: ignore[arg-type]  # stored
            )
            context.update({"obstacles": [o.text for o in found], "obstacle_ids": [o.id for o in found]})
        if any(a.each == "actions" for a in flow.steps):
            actions = (
                preloaded[1] if preloaded is not None else repo.open_actions(s, owner_ids=[member.id])  # type: ignore[list-item]  # stored
            )  # only what a retro let out
            context.update(
                {
                    "actions": [f"{a.text} ({r.title})" if r is not None else a.text for a, r in actions],
                    "action_ids": [a.id for a, _ in actions],
                }
            )
        return context

    def after_save(
        self, s: Session, *, flow: Flow, run: ConversationRun, member: Member, step: str, value: Any, now: datetime
    ) -> None:
        """What the flow's question declares an answer sets off: an obstacle opened (`Ask.opens_obstacle`) or
        followed up, a retro action done, a support request (a `SupportNeed` answer) sent to the manager."""
        base = step.split(":", 1)[0]
        try:
            asked = flow.ask_for(base)
        except KeyError:
            asked = None
        if asked is not None and asked.opens_obstacle:
            if (run.context.get("same_as") or {}).get("step") == step:
                return  # it repeats an open obstacle: the member is asked whether it is the same one first
            self._record_obstacle(s, run, member, step, value, now)
        elif base == "same_obstacle":
            self._same_obstacle(s, run, member, value, now)
        elif base == "obstacle_status":
            self._update_obstacle(s, run, step, value, now)
        elif base == ACTION_STEP:
            index, ids = step_item(step), run.context.get("action_ids") or []
            action = s.get(DevelopmentAction, ids[index]) if index is not None and index < len(ids) else None
            if action is not None and action.owner_id == member.id and action.status in ("open", "done", "dropped"):
                repo.set_action_status(s, action=action, status=ACTION_ANSWERS.get(str(value), "open"), now=now)
        elif asked is not None and isinstance(asked.expects, SupportNeed):
            self._record_support(s, run, member, value, now)

    # ---------------------------------------------------------------------------------------- obstacles

    def _record_obstacle(
        self, s: Session, run: ConversationRun, member: Member, step: str, value: Any, now: datetime
    ) -> None:
        assert run.id is not None and member.id is not None  # stored
        existing = repo.obstacle_from(s, run_id=run.id, step=step)
        if value is None:
            if existing is not None and existing.status == "open":
                existing.status, existing.closed_at, existing.updated_at = "irrelevant", now, now
                s.add(existing)
            return
        if existing is None:
            existing = Obstacle(
                member_id=member.id,
                text=str(value),
                source_run_id=run.id,
                source_step=step,
                created_at=now,
                updated_at=now,
            )
        existing.text, existing.status, existing.closed_at, existing.updated_at = str(value), "open", None, now
        s.add(existing)

    def _same_obstacle(self, s: Session, run: ConversationRun, member: Member, value: Any, now: datetime) -> None:
        """Yes: the open obstacle is reported once more (and no duplicate is opened); no: a new obstacle."""
        same_as = run.context.get("same_as") or {}
        source = same_as.get("step")
        if not source:
            return
        assert run.id is not None  # a stored run
        said = repo.answers_of(s, run_id=run.id)
        if value != "same":
            self._record_obstacle(s, run, member, source, said.get(source), now)
            return
        duplicate = repo.obstacle_from(s, run_id=run.id, step=source)  # opened by an earlier answer to this run
        if duplicate is not None:
            s.delete(duplicate)
        ids = run.context.get("obstacle_ids") or []
        index = same_as.get("index")
        obstacle = s.get(Obstacle, ids[index]) if isinstance(index, int) and index < len(ids) else None
        if obstacle is None or obstacle.member_id != member.id:
            return
        if said.get(f"obstacle_status:{index}") != "still" and run.context.get("same_counted") != obstacle.id:
            obstacle.times_reported += 1  # not twice in one conversation ("still" above, or answering again)
            run.context = {**run.context, "same_counted": obstacle.id}
            s.add(run)
        obstacle.status, obstacle.closed_at, obstacle.updated_at = "open", None, now
        s.add(obstacle)

    def _update_obstacle(self, s: Session, run: ConversationRun, step: str, value: Any, now: datetime) -> None:
        index = step_item(step)
        ids = run.context.get("obstacle_ids") or []
        if index is None or index >= len(ids):
            return
        obstacle = s.get(Obstacle, ids[index])
        if obstacle is None:
            return
        if value == "still":
            if obstacle.status == "open":
                obstacle.times_reported += 1
            obstacle.status, obstacle.closed_at = "open", None
        else:
            obstacle.status, obstacle.closed_at = str(value), now
        obstacle.updated_at = now
        s.add(obstacle)

    # ---------------------------------------------------------------------------------------- support requests

    def _record_support(self, s: Session, run: ConversationRun, member: Member, value: Any, now: datetime) -> None:
        assert run.id is not None and member.id is not None  # stored
        existing = repo.support_from(s, run_id=run.id)
        if value is None:
            if existing is not None and existing.status == "open":
                existing.status, existing.updated_at = "resolved", now
                s.add(existing)
            return
        is_new = existing is None
        if existing is None:
            existing = SupportRequest(
                member_id=member.id,
                manager_id=member.manager_id,
                kind=value["kind"],
                text=value["text"],
                source_run_id=run.id,
                created_at=now,
                updated_at=now,
            )
        existing.kind, existing.text, existing.updated_at = value["kind"], value["text"], now
        s.add(existing)
        s.flush()
        manager = s.get(Member, member.manager_id) if member.manager_id is not None else None
        if is_new and manager is not None and access.may_member(s, manager, member, access.Part.SUPPORT_ACT, now=now):
            repo.enqueue(
                s,
                dedup_key=f"support:{existing.id}:new",
                member_id=member.manager_id,
                kind="support_new",
                body=encode_replies([Reply("support/new_request", self._params(existing, member))]),
                now=now,
                not_before=self.calendars.send_at_id(s, member.manager_id, now),
            )
            log.info("support request %s from member %s sent to manager %s", existing.id, member.id, member.manager_id)

    @staticmethod
    def _params(request: SupportRequest, member: Member) -> dict[str, Any]:
        return {
            "id": request.id,
            "who": first_name(member.name),
            "kind": request.kind,
            "text": request.text,
            "status": request.status,
            "since": request.created_at,
        }

    def commands(self) -> dict[str, CommandHandler]:
        return {"support": lambda s, member, c, event, now: (self.support_command(s, member, c.args, event, now), None)}

    def support_command(self, s: Session, actor: Member, args: str, event: InboundEvent, now: datetime) -> list[Reply]:
        """`/support` lists requests (a manager's from their reports, or one's own);
        `/support 12 handle|1on1|resolved`."""
        words = args.split()
        if not words:
            # Requests this manager may answer now (bot/access.py): their current reports', whoever was their
            # manager when the request was made.
            reports = list(s.exec(select(Member).where(Member.manager_id == actor.id)))
            people: dict[int, Member] = {m.id: m for m in reports}  # type: ignore[misc]  # stored members: id is set
            mine = [
                r
                for r in repo.support_requests(s, member_ids=list(people))
                if access.may_member(s, actor, people[r.member_id], access.Part.SUPPORT_ACT, now=now)
            ]
            for member_id in {r.member_id for r in mine}:
                repo.audit(
                    s,
                    actor_id=actor.id,
                    subject_ids=[member_id],
                    what=repo.AUDIT_READS["support_list"],
                    now=now,
                    part=", ".join(f"#{r.id}" for r in mine if r.member_id == member_id),
                )
            own = (
                repo.support_requests(s, member_id=actor.id, open_only=False)[-5:]
                if access.may_member(s, actor, actor, access.Part.SUPPORT, now=now)
                else []
            )
            return [
                Reply(
                    "support/list",
                    {
                        "to_me": [self._params(r, people[r.member_id]) for r in mine],
                        "mine": [self._params(r, actor) for r in own],
                    },
                )
            ]
        if len(words) != 2 or not re.fullmatch(r"#?[0-9]{1,9}", words[0]) or words[1].lower() not in SUPPORT_ACTIONS:
            return [Reply("support/usage")]
        request = s.get(SupportRequest, int(words[0].lstrip("#")))
        member = s.get(Member, request.member_id) if request is not None else None
        if (
            request is None
            or member is None
            or not access.may_member(s, actor, member, access.Part.SUPPORT_ACT, now=now)
        ):
            # Someone else's request is indistinguishable from a missing one: nothing leaks.
            return [Reply("support/not_found", {"id": words[0].lstrip("#")})]
        status = SUPPORT_ACTIONS[words[1].lower()]
        request.status, request.acted_at, request.updated_at = status, now, now
        s.add(request)
        repo.enqueue(
            s,
            dedup_key=f"in:{event.dedup_key}:support:{request.id}",
            member_id=member.id,
            kind="support_acted",
            body=encode_replies(
                [Reply(f"support/acted_{status}", {**self._params(request, member), "manager": first_name(actor.name)})]
            ),
            now=now,
            not_before=self.calendars.send_at(member, now),
        )
        log.info("support request %s marked %s by manager %s", request.id, status, actor.id)
        return [Reply("support/acted_ok", {**self._params(request, member), "status": status})]
