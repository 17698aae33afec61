"""Goals and key results, made together: the quarterly talk's draft, the manager's agreement and comments, team
goals and alignment, and key-result progress in the weekly check-in.

- The quarterly talk (conversations/quarterly_talk.py) writes each goal as a draft the member agrees to; when the
  talk is finished the draft goes to the manager, who agrees (`/goals agree @bo 1`) or comments (`/goals comment @bo
  1 …`). Either may edit (`/goals edit …`) until both agree: an edit by one side asks the other again. A goal both
  agreed to is one of the quarter's goals (`Goal.agreed_at`). Without a manager, the member's word is enough.
- A manager sets the team's goals (`/goals team …`); a personal goal may align to one of the manager's team goals,
  a team goal to one of the manager's manager's (`/goals align …`).
- The talk's 1–3 development actions become development-action records (storage/repo.py `set_actions_from`).
- While the member has agreed key results this quarter, the weekly check-in asks for their progress in one grouped
  question; the answer updates each key result (`KeyResult.current`).

Who may see or act on what is asked of bot/access.py `may`; when a DM to someone else may go, of
bot/calendar.py `Calendars.send_at`.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bot import access
from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.engine import FlowHooks
from bot.platforms import identity
from bot.ports import CommandHandler
from bot.prefetch import Prefetched
from conversations.answers import Invalid, says_nothing
from conversations.commands import Command, after_words
from conversations.events import InboundEvent
from conversations.flows import Flow
from conversations.goals import MAX_GOALS, GoalSpec, Progress, applied, check_progress, number_text
from conversations.machine import Reply, RunState, ask
from conversations.mentions import MENTION
from conversations.quarterly_talk import GOAL_STEPS, LAST_KEY_RESULTS
from conversations.quarterly_talk import NAME as QUARTERLY
from conversations.render import first_name
from conversations.schedule import planned_period, previous_period, quarterly_period, zone
from conversations.weekly_checkin import NAME as WEEKLY
from storage import repo
from storage.models import ConversationRun, Goal, GoalComment, KeyResult, Member

log = logging.getLogger(__name__)
MAX_COMMENT = 2000  # characters in one comment on a goal (the column's size)

PROGRESS_STEPS = {WEEKLY: "key_results", QUARTERLY: "last_quarter"}
CONTEXT_KEYS = {WEEKLY: "key_results", QUARTERLY: LAST_KEY_RESULTS}

# `/goals <word> …`, in both languages
_WORDS = {
    "team": "team",
    "团队": "team",
    "agree": "agree",
    "同意": "agree",
    "comment": "comment",
    "评论": "comment",
    "意见": "comment",
    "edit": "edit",
    "修改": "edit",
    "set": "edit",
    "设定": "edit",
    "align": "align",
    "对齐": "align",
}
_REMOVE = {"none", "remove", "delete", "删除", "无", "不要了"}


def current_quarter(member: Member, now: datetime) -> str:
    return quarterly_period(now.astimezone(zone(member.timezone)).date())


def quarter_in_hand(s: Session, member: Member, now: datetime) -> str:
    """The quarter whose goals `/goals` shows and changes for `member`: this one, or — in its last weeks, once a
    talk has planned the next one (conversations/schedule.py `planned_period`) — the next one."""
    day = now.astimezone(zone(member.timezone)).date()
    current, planned = quarterly_period(day), planned_period(day)
    if planned != current and member.id is not None and repo.goals_of(s, owner_ids=[member.id], quarter=planned):
        return planned
    return current


def kr_params(kr: KeyResult, label: int) -> dict[str, Any]:
    return {
        "number": label,
        "id": kr.id,
        "text": kr.text,
        "start": kr.start,
        "target": kr.target,
        "unit": kr.unit,
        "current": kr.current,
        "done": kr.done,
        "done_kind": kr.target is None,
        "shown": _value_text(kr),
    }


def _value_text(kr: KeyResult) -> str:
    """`45 / 60 %` for a measured key result; `done` / `not_done` for the other kind (the templates word it)."""
    if kr.target is None:
        return "done" if kr.done else "not_done"
    value = kr.current if kr.current is not None else kr.start
    return f"{number_text(value)} / {number_text(kr.target)}{(' ' + kr.unit) if kr.unit else ''}"


class GoalsDesk:
    def __init__(
        self,
        calendars: Calendars | None = None,
        *,
        visible_to_team: Callable[[], bool] = lambda: False,
    ) -> None:
        self.calendars = calendars or Calendars()
        self.visible_to_team = visible_to_team
        # key results read for a whole scheduler batch, by quarter (gone with the batch)
        self._batches: weakref.WeakKeyDictionary[Prefetched, dict[str, dict[int, list[dict[str, Any]]]]] = (
            weakref.WeakKeyDictionary()
        )

    # ---------------------------------------------------------------------------------------- flow hooks

    def hooks(self) -> FlowHooks:
        return FlowHooks(
            flows=frozenset({WEEKLY, QUARTERLY}),
            context=lambda s, flow, member, run, pre: self.context(s, flow, member, run, pre),
            check_answer=self.check_answer,
            after_save=self.after_save,
        )

    def context(
        self, s: Session, flow: Flow, member: Member, run: ConversationRun, pre: Prefetched | None = None
    ) -> dict[str, Any]:
        """A check-in lists this quarter's agreed key results; a quarterly talk, the last quarter's. In a scheduler
        batch (`pre`), the key results of every member of the batch are read at once, on the first run that asks."""
        assert member.id is not None  # a stored member
        if flow.name == WEEKLY:
            quarter = quarterly_period(run.due_at.astimezone(zone(member.timezone)).date())
        elif flow.name == QUARTERLY:
            quarter = previous_period(run.period)
        else:
            return {}
        if pre is not None:
            read = self._batches.setdefault(pre, {})
            if quarter not in read:
                read[quarter] = self._listed(s, [m.id for m in pre.members if m.id is not None], quarter)
            listed = read[quarter].get(member.id, [])
        else:
            listed = self._listed(s, [member.id], quarter).get(member.id, [])
        key = CONTEXT_KEYS[flow.name]
        extra = {"period": run.period} if flow.name == QUARTERLY else {}  # the quarter the talk plans
        return {key: listed, f"{key}_quarter": quarter, **extra}

    @staticmethod
    def _listed(s: Session, owner_ids: list[int], quarter: str) -> dict[int, list[dict[str, Any]]]:
        """Each member's agreed key results of `quarter`, numbered as the check-in lists them: two queries for all."""
        goals = repo.goals_of(s, owner_ids=owner_ids, quarter=quarter, agreed_only=True)
        krs = repo.key_results_of(s, goal_ids=[g.id for g in goals])  # type: ignore[misc]  # stored goals
        out: dict[int, list[dict[str, Any]]] = {}
        for g in goals:  # by owner, then number
            for kr in krs[g.id]:  # type: ignore[index]  # stored goals
                mine = out.setdefault(g.owner_id, [])
                mine.append({**kr_params(kr, len(mine) + 1), "goal": g.text})
        return out

    def check_answer(
        self, s: Session, flow: Flow, run: ConversationRun, state: RunState, member: Member, text: str | None
    ) -> tuple[str, list[Reply]] | None:
        """Progress that names a key result the question did not list (or a number for a done / not done one) is
        refused with the reason; anything else the question's own parser decides."""
        step = state.step
        if step is None or step != PROGRESS_STEPS.get(flow.name) or says_nothing(text or ""):
            return None
        try:
            value = Progress().parse(text or "")
        except Invalid:
            return None  # the machine re-asks with its own message
        try:
            check_progress(value, list(state.context.get(CONTEXT_KEYS[flow.name]) or ()))
        except Invalid as invalid:
            return invalid.key, [
                Reply(f"{flow.name}/{invalid.key}", invalid.params),
                ask(flow, state, step, state.answers),
            ]
        return None

    def after_save(
        self, s: Session, flow: Flow, run: ConversationRun, member: Member, step: str, value: Any, now: datetime
    ) -> None:
        if step == PROGRESS_STEPS.get(flow.name):
            self._record_progress(s, run, CONTEXT_KEYS[flow.name], value, now)
        elif flow.name == QUARTERLY and step in GOAL_STEPS:
            self._draft_goal(s, run, member, GOAL_STEPS.index(step) + 1, value, now)
        elif flow.name == QUARTERLY and step == "actions":  # 1–3 development actions, one record each
            assert member.id is not None and run.id is not None  # stored
            texts = [str(v) for v in value or () if not says_nothing(str(v))]  # "none", "无": no action
            repo.set_actions_from(s, owner_id=member.id, source="quarterly", source_run_id=run.id, texts=texts, now=now)
        if flow.name == QUARTERLY and self._finished(s, run, step):
            if not (run.context or {}).get("draft_sent") or step in GOAL_STEPS:  # once, and again for a new goal
                run.context = {**(run.context or {}), "draft_sent": True}
                s.add(run)
                self._send_draft(s, member, run.period, now, reason="talk", run=run)

    def _record_progress(self, s: Session, run: ConversationRun, key: str, value: Any, now: datetime) -> None:
        listed = list((run.context or {}).get(key) or ())
        for number, given in (value or {}).items():
            index = int(number) - 1
            if not 0 <= index < len(listed):
                continue
            kr = s.get(KeyResult, listed[index]["id"])
            if kr is None:
                continue
            kr.current, kr.done = applied({"start": kr.start, "target": kr.target, "current": kr.current}, given)
            kr.updated_at = now
            s.add(kr)

    def _finished(self, s: Session, run: ConversationRun, step: str) -> bool:
        """Has the talk just been answered to the end (every question, the optional ones skipped or not)?"""
        assert run.id is not None  # a stored run
        steps = (run.context or {}).get("steps") or ()
        answered = repo.answers_of(s, run_id=run.id)
        return bool(steps) and all(k in answered for k in steps) and step in steps

    def _draft_goal(
        self, s: Session, run: ConversationRun, member: Member, number: int, value: Any, now: datetime
    ) -> None:
        assert member.id is not None  # a stored member
        existing = self._goal(s, member.id, run.period, number)
        if value is None:
            if existing is not None and existing.agreed_at is None:
                repo.delete_goals(s, goal_ids=[existing.id])  # type: ignore[list-item]  # stored
            return
        self._write_goal(s, member, run.period, number, value, now, existing=existing, by_manager=False)
        if existing is None:
            goal = self._goal(s, member.id, run.period, number)
            if goal is not None:
                goal.source_run_id = run.id
                s.add(goal)

    @staticmethod
    def _goal(s: Session, owner_id: int, quarter: str, number: int, scope: str = "personal") -> Goal | None:
        return s.exec(
            select(Goal).where(
                Goal.owner_id == owner_id, Goal.quarter == quarter, Goal.number == number, Goal.scope == scope
            )
        ).first()

    def _write_goal(
        self,
        s: Session,
        owner: Member,
        quarter: str,
        number: int,
        value: Mapping[str, Any],
        now: datetime,
        *,
        existing: Goal | None,
        by_manager: bool,
        scope: str = "personal",
    ) -> Goal:
        """Create or replace a goal and its key results (values already reported are kept for a key result typed
        the same). The side that wrote it agrees; the other side is asked again. Without a manager the member's
        word is enough."""
        assert owner.id is not None  # a stored member
        goal = existing or Goal(owner_id=owner.id, scope=scope, quarter=quarter, number=number, text="", created_at=now)
        goal.text = str(value["text"])
        solo = scope == "team" or owner.manager_id is None
        goal.member_agreed, goal.manager_agreed = (True, True) if solo else (not by_manager, by_manager)
        goal.agreed_at = now if solo else None
        goal.updated_at = now
        s.add(goal)
        s.flush()
        assert goal.id is not None
        old = {kr.text: kr for kr in repo.key_results_of(s, goal_ids=[goal.id])[goal.id]}
        for kr in old.values():
            s.delete(kr)
        s.flush()
        for n, spec in enumerate(value.get("key_results") or (), start=1):
            kept = old.get(spec["text"])
            s.add(
                KeyResult(
                    goal_id=goal.id,
                    number=n,
                    text=spec["text"],
                    start=spec.get("start"),
                    target=spec.get("target"),
                    unit=spec.get("unit"),
                    current=kept.current if kept is not None and kept.target == spec.get("target") else None,
                    done=bool(kept.done) if kept is not None and kept.target == spec.get("target") else False,
                    updated_at=now,
                )
            )
        s.flush()
        return goal

    # ---------------------------------------------------------------------------------------- telling the other side

    def _send_draft(
        self,
        s: Session,
        member: Member,
        quarter: str,
        now: datetime,
        *,
        reason: str,
        run: ConversationRun | None = None,
    ) -> None:
        """The member's goals of `quarter` to their manager, to agree to or comment on (nothing without a manager),
        with the strengths the talk named when the rule lets the manager read the talk's answers."""
        assert member.id is not None  # a stored member
        manager = s.get(Member, member.manager_id) if member.manager_id is not None else None
        if manager is None or not access.may_member(s, manager, member, access.Part.GOALS_ACT, now=now):
            return
        goals = self._goals_view(s, [member], quarter, comments=True)
        if not goals:
            return
        strengths: list[str] = []
        # The talk is finished in this transaction (every question answered), though its row says so only after
        # the hook: asked as the finished run it is.
        finished = access.RunFacts(member.id, QUARTERLY, access.FINISHED, run.closes_at) if run is not None else None
        subject = access.person(member)
        assert subject is not None
        if run is not None and access.may(
            access.person(manager), subject, access.Part.RUN_ANSWERS, now=now, run=finished
        ):
            strengths = list(repo.answers_of(s, run_id=run.id).get("strengths") or ())  # type: ignore[arg-type]  # stored
        repo.enqueue(
            s,
            dedup_key=f"goals:{member.id}:{quarter}:{reason}:{now.isoformat()}",
            member_id=manager.id,
            kind="goals_draft",
            body=encode_replies(
                [
                    Reply(
                        "goals/draft_for_manager",
                        {
                            "who": first_name(member.name),
                            "handle": member.handle,
                            "goals": goals,
                            "reason": reason,
                            "strengths": strengths,
                        },
                    )
                ]
            ),
            now=now,
            not_before=self.calendars.send_at(manager, now),
        )

    def _tell(self, s: Session, to: Member, template: str, params: Mapping[str, Any], now: datetime, key: str) -> None:
        repo.enqueue(
            s,
            dedup_key=key,
            member_id=to.id,
            kind="goals",
            body=encode_replies([Reply(template, dict(params))]),
            now=now,
            not_before=self.calendars.send_at(to, now),
        )

    # ---------------------------------------------------------------------------------------- reading

    def _goals_view(
        self, s: Session, owners: Sequence[Member], quarter: str, *, comments: bool, scope: str = "personal"
    ) -> list[dict[str, Any]]:
        ids = [m.id for m in owners if m.id is not None]
        names = {m.id: first_name(m.name) for m in owners}
        goals = repo.goals_of(s, owner_ids=ids, quarter=quarter, scope=scope)
        gids: list[int] = [g.id for g in goals if g.id is not None]
        krs = repo.key_results_of(s, goal_ids=gids)
        said = repo.goal_comments_of(s, goal_ids=gids) if comments else {}
        targets = served_goals(s, goals)
        authors = repo.members_by_id(s, ids=list({c.author_id for cs in said.values() for c in cs}))
        out = []
        for g in goals:
            assert g.id is not None
            target = targets.get(g.aligned_to) if g.aligned_to else None
            out.append(
                {
                    "id": g.id,
                    "number": g.number,
                    "owner": names.get(g.owner_id),
                    "text": g.text,
                    "agreed": g.agreed_at is not None,
                    "member_agreed": g.member_agreed,
                    "manager_agreed": g.manager_agreed,
                    "key_results": [kr_params(kr, n) for n, kr in enumerate(krs[g.id], start=1)],
                    "comments": [
                        {"who": first_name(authors[c.author_id].name) if c.author_id in authors else "", "text": c.text}
                        for c in said.get(g.id, [])
                    ],
                    "aligned_to": target.text if target is not None else None,
                    "aligned_number": target.number if target is not None else None,
                }
            )
        return out

    def overview(self, s: Session, actor: Member, now: datetime) -> Reply:
        """`/goals`: my goals, my team's goals (my manager's) and what they align to; with `visible_to_team`, my
        teammates' goals; as a manager, the goals I set for my team and my reports' goals."""
        assert actor.id is not None  # a stored member
        quarter = quarter_in_hand(s, actor, now)
        manager = s.get(Member, actor.manager_id) if actor.manager_id is not None else None
        mine = self._goals_view(s, [actor], quarter, comments=True)
        team = self._team_goals_for(s, actor, manager, quarter) if manager is not None else []
        own_team = self._goals_view(s, [actor], quarter, comments=False, scope="team")
        reports = [
            m
            for m in s.exec(select(Member).where(Member.manager_id == actor.id, Member.active == True))  # noqa: E712 - SQL
            if access.may_member(s, actor, m, access.Part.GOALS, now=now)
        ]
        theirs = self._goals_view(s, reports, quarter, comments=True)
        peers: list[dict[str, Any]] = []
        if manager is not None:
            teammates = [
                m
                for m in s.exec(select(Member).where(Member.manager_id == manager.id, Member.id != actor.id))
                if access.may_member(
                    s, actor, m, access.Part.GOALS, now=now, goals_visible_to_team=self.visible_to_team()
                )
            ]
            peers = self._goals_view(s, teammates, quarter, comments=False)
        return Reply(
            "goals/overview",
            {
                "quarter": quarter,
                "mine": mine,
                "team": team,
                "manager": first_name(manager.name) if manager is not None else None,
                "own_team": own_team,
                "reports": theirs,
                "peers": peers,
                "has_manager": manager is not None,
            },
        )

    def _team_goals_for(self, s: Session, viewer: Member, owner: Member, quarter: str) -> list[dict[str, Any]]:
        if not access.may_see_team_goals(
            access.person(viewer),
            access.person(owner),  # type: ignore[arg-type]  # a stored member
            owner_chain=access.chain_of(s, owner),
            viewer_chain=access.chain_of(s, viewer),
        ):
            return []
        return self._goals_view(s, [owner], quarter, comments=False, scope="team")

    def of_someone(self, s: Session, actor: Member, subject: Member, now: datetime) -> Reply:
        """`/goals @bo`: Bo's goals, if the rule lets the actor see them (else the same answer as for no one)."""
        vis = self.visible_to_team()
        if not access.may_member(s, actor, subject, access.Part.GOALS, now=now, goals_visible_to_team=vis):
            return Reply("goals/not_found", {})
        quarter = quarter_in_hand(s, subject, now)
        comments = access.may_member(s, actor, subject, access.Part.GOAL_COMMENTS, now=now)
        return Reply(
            "goals/of_someone",
            {
                "who": first_name(subject.name),
                "quarter": quarter,
                "goals": self._goals_view(s, [subject], quarter, comments=comments),
            },
        )

    # ---------------------------------------------------------------------------------------- the command

    def commands(self) -> dict[str, CommandHandler]:
        return {"goals": lambda s, member, c, event, now: (self.command(s, member, c, event, now), None)}

    def command(self, s: Session, actor: Member, command: Command, event: InboundEvent, now: datetime) -> list[Reply]:
        words = command.args.split()
        if not words:
            return [self.overview(s, actor, now)]
        verb = _WORDS.get(words[0].lower())
        if verb is None:
            if len(words) == 1 and MENTION.fullmatch(words[0]):
                subject = identity.member_by_mention(s, platform=event.platform, token=words[0])
                return [
                    self.of_someone(s, actor, subject, now) if subject is not None else Reply("goals/not_found", {})
                ]
            return [Reply("goals/usage")]
        rest = after_words(command.text or command.args, 1)
        try:
            if verb == "team":
                return self._team(s, actor, rest, now)
            if verb == "align":
                return self._align(s, actor, rest.split(), now)
            subject, rest = self._subject(s, actor, rest, event)
            if subject is None:
                return [Reply("goals/not_found", {})]
            if verb == "agree":
                return self._agree(s, actor, subject, rest, event, now)
            if verb == "comment":
                return self._comment(s, actor, subject, rest, event, now)
            return self._edit(s, actor, subject, rest, event, now)
        except Invalid as invalid:
            return [Reply(f"goals/{invalid.key}", invalid.params)]

    def _subject(self, s: Session, actor: Member, rest: str, event: InboundEvent) -> tuple[Member | None, str]:
        """Whose goals a command is about: someone mentioned first (`@bo …`), else the actor's own."""
        head = rest.split(maxsplit=1)[0] if rest.strip() else ""
        if head and MENTION.fullmatch(head):
            return identity.member_by_mention(s, platform=event.platform, token=head), after_words(rest, 1)
        return actor, rest

    def _number(self, word: str, most: int = MAX_GOALS) -> int:
        if not re.fullmatch(r"[#tT]?[0-9]{1,2}", word) or not 1 <= int(word.lstrip("#tT")) <= most:
            raise Invalid("invalid_goal_number", most=most)
        return int(word.lstrip("#tT"))

    def _may_act(self, s: Session, actor: Member, subject: Member, now: datetime) -> bool:
        return access.may_member(s, actor, subject, access.Part.GOALS_ACT, now=now)

    def _agree(
        self, s: Session, actor: Member, subject: Member, rest: str, event: InboundEvent, now: datetime
    ) -> list[Reply]:
        if not self._may_act(s, actor, subject, now):
            return [Reply("goals/not_found", {})]
        quarter = quarter_in_hand(s, subject, now)
        goals = repo.goals_of(s, owner_ids=[subject.id], quarter=quarter)  # type: ignore[list-item]  # stored
        if rest.strip():
            number = self._number(rest.split()[0])
            goals = [g for g in goals if g.number == number]
        if not goals:
            return [Reply("goals/none_to_agree", {"quarter": quarter})]
        by_manager = actor.id != subject.id
        for g in goals:
            if by_manager:
                g.manager_agreed = True
            else:
                g.member_agreed = True
            if g.member_agreed and g.manager_agreed and g.agreed_at is None:
                g.agreed_at = now
            g.updated_at = now
            s.add(g)
        other = s.get(Member, subject.manager_id) if not by_manager and subject.manager_id else subject
        numbers = [g.number for g in goals]
        agreed = [g.number for g in goals if g.agreed_at is not None]
        waiting = [g.number for g in goals if g.agreed_at is None]
        if other is not None and other.id != actor.id:
            self._tell(
                s,
                other,
                "goals/agreed_by_other",
                {
                    "who": first_name(actor.name),
                    "numbers": numbers,
                    "agreed": agreed,
                    "owner": first_name(subject.name),
                    "own": other.id == subject.id,
                    "by_owner": actor.id == subject.id,  # the member agreed to their own goals
                    "handle": subject.handle,  # for the command the reader can send
                    "waiting": [g.number for g in goals if g.agreed_at is None],
                    "ahead": quarter != current_quarter(subject, now),  # goals a late talk set for the next quarter
                },
                now,
                f"in:{event.dedup_key}:goals:agree",
            )
        return [
            Reply(
                "goals/agree_ok",
                {
                    "numbers": numbers,
                    "agreed": agreed,
                    "waiting": waiting,
                    "own": not by_manager,
                    "who": first_name(subject.name),
                    "ahead": quarter != current_quarter(subject, now),
                },
            )
        ]

    def _comment(
        self, s: Session, actor: Member, subject: Member, rest: str, event: InboundEvent, now: datetime
    ) -> list[Reply]:
        if not self._may_act(s, actor, subject, now):
            return [Reply("goals/not_found", {})]
        parts = rest.split(maxsplit=1)
        if len(parts) < 2:
            return [Reply("goals/usage")]
        number = self._number(parts[0])
        goal = self._goal(s, subject.id, quarter_in_hand(s, subject, now), number)  # type: ignore[arg-type]  # stored
        if goal is None:
            return [Reply("goals/no_such_goal", {"number": number})]
        text = after_words(rest, 1)
        if len(text) > MAX_COMMENT:  # refused whole, never cut: what people type is kept as typed
            return [Reply("common/invalid_too_long", {"max": MAX_COMMENT})]
        s.add(GoalComment(goal_id=goal.id, author_id=actor.id, text=text, created_at=now))  # type: ignore[arg-type]  # stored
        other = s.get(Member, subject.manager_id) if actor.id == subject.id and subject.manager_id else subject
        if other is not None and other.id != actor.id:
            self._tell(
                s,
                other,
                "goals/comment_received",
                {
                    "who": first_name(actor.name),
                    "number": number,
                    "goal": goal.text,
                    "text": text,
                    "own": other.id == subject.id,
                    "handle": subject.handle,
                    "owner": first_name(subject.name),
                },
                now,
                f"in:{event.dedup_key}:goals:comment",
            )
        return [
            Reply(
                "goals/comment_ok", {"number": number, "who": first_name(subject.name), "own": actor.id == subject.id}
            )
        ]

    def _edit(
        self, s: Session, actor: Member, subject: Member, rest: str, event: InboundEvent, now: datetime
    ) -> list[Reply]:
        if not self._may_act(s, actor, subject, now):
            return [Reply("goals/not_found", {})]
        parts = rest.split(maxsplit=1)
        if len(parts) < 2:
            return [Reply("goals/usage")]
        number = self._number(parts[0])
        quarter = quarter_in_hand(s, subject, now)
        existing = self._goal(s, subject.id, quarter, number)  # type: ignore[arg-type]  # stored
        typed = after_words(rest, 1)
        by_manager = actor.id != subject.id
        if says_nothing(typed) or typed.strip().lower() in _REMOVE:
            if existing is None:
                return [Reply("goals/no_such_goal", {"number": number})]
            repo.delete_goals(s, goal_ids=[existing.id])  # type: ignore[list-item]  # stored
            return [Reply("goals/removed", {"number": number})]
        if existing is None and number > 1 and self._goal(s, subject.id, quarter, number - 1) is None:  # type: ignore[arg-type]  # stored
            raise Invalid("invalid_goal_gap", number=number - 1)
        goal = self._write_goal(
            s, subject, quarter, number, GoalSpec().parse(typed), now, existing=existing, by_manager=by_manager
        )
        other = s.get(Member, subject.manager_id) if not by_manager and subject.manager_id else subject
        if other is not None and other.id != actor.id:
            self._tell(
                s,
                other,
                "goals/edited_by_other",
                {
                    "who": first_name(actor.name),
                    "goal": next(
                        g for g in self._goals_view(s, [subject], quarter, comments=False) if g["id"] == goal.id
                    ),
                    "own": other.id == subject.id,
                    "handle": subject.handle,
                    "owner": first_name(subject.name),
                },
                now,
                f"in:{event.dedup_key}:goals:edit",
            )
        return [
            Reply(
                "goals/edit_ok",
                {
                    "number": number,
                    "agreed": goal.agreed_at is not None,
                    "own": not by_manager,
                    "who": first_name(subject.name),
                    "ahead": quarter != current_quarter(subject, now),
                },
            )
        ]

    def _team(self, s: Session, actor: Member, rest: str, now: datetime) -> list[Reply]:
        """`/goals team <goal>` adds one of the team's goals; `/goals team 2 <goal>` replaces the second;
        `/goals team 2 none` removes it. Only someone with reports sets team goals."""
        assert actor.id is not None  # a stored member
        has_reports = s.exec(select(Member.id).where(Member.manager_id == actor.id, Member.active == True)).first()  # noqa: E712 - SQL
        if has_reports is None:
            return [Reply("goals/team_no_reports")]
        quarter = current_quarter(actor, now)
        words = rest.split(maxsplit=1)
        if not words:
            return [Reply("goals/usage")]
        existing_goals = repo.goals_of(s, owner_ids=[actor.id], quarter=quarter, scope="team")
        if re.fullmatch(r"[#tT]?[0-9]{1,2}", words[0]):
            number, typed = self._number(words[0]), after_words(rest, 1)
            existing = next((g for g in existing_goals if g.number == number), None)
            if not typed.strip():
                return [Reply("goals/usage")]
            if typed.strip().lower() in _REMOVE or says_nothing(typed):
                if existing is None:
                    return [Reply("goals/no_such_goal", {"number": number})]
                repo.delete_goals(s, goal_ids=[existing.id])  # type: ignore[list-item]  # stored
                return [Reply("goals/removed", {"number": number, "team": True})]
            if existing is None and number != len(existing_goals) + 1:
                raise Invalid("invalid_goal_gap", number=len(existing_goals) + 1)
        else:
            number, typed, existing = len(existing_goals) + 1, rest, None
            if number > MAX_GOALS:
                raise Invalid("invalid_team_goals_many", most=MAX_GOALS)
        self._write_goal(
            s, actor, quarter, number, GoalSpec().parse(typed), now, existing=existing, by_manager=True, scope="team"
        )
        return [Reply("goals/team_ok", {"number": number, "quarter": quarter})]

    def _align(self, s: Session, actor: Member, words: list[str], now: datetime) -> list[Reply]:
        """`/goals align 2 1`: my goal 2 serves my manager's team goal T1; `/goals align team 1 2`: my team's goal
        T1 serves my manager's team goal T2; `none` in place of the second number undoes it."""
        assert actor.id is not None  # a stored member
        scope = "personal"
        if words and _WORDS.get(words[0].lower()) == "team":
            scope, words = "team", words[1:]
        if len(words) != 2:
            return [Reply("goals/usage")]
        quarter = current_quarter(actor, now)
        goal = self._goal(s, actor.id, quarter, self._number(words[0]), scope)
        if goal is None:
            return [Reply("goals/no_such_goal", {"number": words[0].lstrip("#tT")})]
        if words[1].lower() in _REMOVE:
            goal.aligned_to, goal.updated_at = None, now
            s.add(goal)
            return [Reply("goals/align_ok", {"number": goal.number, "target": None, "team": scope == "team"})]
        manager = s.get(Member, actor.manager_id) if actor.manager_id is not None else None
        target = (
            self._goal(s, manager.id, quarter, self._number(words[1]), "team")  # type: ignore[arg-type]  # stored
            if manager is not None
            else None
        )
        if target is None or manager is None:
            return [Reply("goals/no_team_goal", {"number": words[1].lstrip("#tT"), "has_manager": manager is not None})]
        goal.aligned_to, goal.updated_at = target.id, now
        s.add(goal)
        return [Reply("goals/align_ok", {"number": goal.number, "target": target.text, "team": scope == "team"})]


def served_goals(s: Session, goals: Sequence[Goal]) -> dict[int | None, Goal]:
    """The goals these goals serve, by id: only those whose owner is an active member (a deactivated member's
    data is shown to no one else, bot/access.py)."""
    ids = [g.aligned_to for g in goals if g.aligned_to is not None]
    if not ids:
        return {}
    found = list(s.exec(select(Goal).where(col(Goal.id).in_(ids))))
    owners = repo.members_by_id(s, ids=list({g.owner_id for g in found}))
    return {g.id: g for g in found if g.owner_id in owners and owners[g.owner_id].active}
