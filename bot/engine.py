"""The run engine: loads a stored run, runs one event through the state machine and persists what it decides.

Features add to the runs of their flows through `FlowHooks` (registered once, when the app is composed), so the
engine special-cases no flow: extra context a new run starts with (open obstacles, retro actions), a check of an
answer before the machine sees it (a retro action's owner must be someone Flywheel knows), what saving an answer
sets off (an obstacle opened, an action recorded), and what follows once a member has answered (a retro summary).

Every call happens inside the caller's transaction (`s`). A scheduler batch passes a `Batch`: what was read for the
whole batch at once (bot/prefetch.py), and the state changes collected to be written in one statement before its
commit. Without one, each change is written as it happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.metrics import Metrics
from bot.prefetch import Prefetched
from conversations.flows import Flow
from conversations.machine import (
    KEEP,
    Outcome,
    Reply,
    RunEvent,
    RunState,
    Status,
    Trigger,
    advance,
)
from conversations.schedule import previous_period
from conversations.turns import has_attention
from storage import repo
from storage.models import ConversationRun, Member

log = logging.getLogger(__name__)

BUSY_WINDOW = timedelta(minutes=30)  # how often a conversation held back (conversations/turns.py) is looked at again

ContextHook = Callable[[Session, Flow, Member, ConversationRun, Prefetched | None], Mapping[str, Any]]
# (reason, replies) refusing an answer before the machine sees it; None lets it through
CheckHook = Callable[[Session, Flow, ConversationRun, RunState, Member, str | None], tuple[str, list[Reply]] | None]
SaveHook = Callable[[Session, Flow, ConversationRun, Member, str, Any, datetime], None]
AnsweredHook = Callable[[datetime], object]


@dataclass(frozen=True)
class FlowHooks:
    """What a feature adds to the runs of `flows` (of every flow when None)."""

    flows: frozenset[str] | None = None
    context: ContextHook | None = None  # extra context a new run starts with; a prefetched batch may hold it
    check_answer: CheckHook | None = None  # an answer refused before the machine sees it (nothing is saved)
    after_save: SaveHook | None = None  # an answer was saved (in the same transaction)
    after_answer: AnsweredHook | None = None  # a member answered such a run (after the transaction's commit)
    # the answer to a detached question (`Ask.detached`), which the run does not keep: the hook stores it apart
    take_detached: SaveHook | None = None

    def covers(self, flow: str) -> bool:
        return self.flows is None or flow in self.flows


@dataclass
class Batch:
    """One scheduler batch: what was read for all its runs at once, and the changes of state written at its end."""

    prefetched: Prefetched | None = None
    transitions: list[dict[str, Any]] = field(default_factory=list)

    def flush(self, s: Session) -> None:
        """Write the collected changes of state (one statement); call before the batch's transaction commits."""
        repo.insert_transitions(s, rows=self.transitions)
        self.transitions = []


def run_row(
    flow: Flow,
    member_id: int,
    period: str,
    *,
    due: datetime,
    prompt_at: datetime,
    closes: datetime,
    now: datetime,
    status: str = "scheduled",
) -> dict[str, Any]:
    """A new run of `flow`, as a row for `repo.insert_runs`."""
    return {
        "flow": flow.name,
        "member_id": member_id,
        "period": period,
        "status": status,
        "step": None,
        "context": {},
        "due_at": due,
        "prompt_at": prompt_at,
        "closes_at": closes,
        "reminded": False,
        "created_at": now,
        "updated_at": now,
    }


class RunEngine:
    def __init__(self, flows: Mapping[str, Flow], calendars: Calendars, metrics: Metrics) -> None:
        self.flows = flows
        self.calendars = calendars
        self.metrics = metrics
        self.hooks: list[FlowHooks] = []

    def register(self, *hooks: FlowHooks) -> None:
        self.hooks.extend(hooks)

    def _hooks(self, flow: str) -> Iterable[FlowHooks]:
        return (h for h in self.hooks if h.covers(flow))

    def answered(self, flow: str, now: datetime) -> None:
        """A member answered a run of `flow` (its transaction committed): what follows, e.g. a retro's summary."""
        for hook in self._hooks(flow):
            if hook.after_answer is not None:
                hook.after_answer(now)

    # ------------------------------------------------------------------------------------ loading

    def state(self, s: Session, run: ConversationRun, member: Member, batch: Batch | None = None) -> RunState:
        flow = self.flows[run.flow]
        pre = batch.prefetched if batch is not None else None
        pre = pre if pre is not None and pre.covers(run) else None  # read for the whole batch, else read here
        if "steps" not in (run.context or {}):
            if pre is not None:
                prev_answers = pre.take_previous_answers(run)
            else:
                previous = repo.run_for_period(
                    s, flow=run.flow, member_id=run.member_id, period=previous_period(run.period)
                )
                prev_answers = repo.answers_of(s, run_id=previous.id) if previous is not None else None  # type: ignore[arg-type]  # a stored run
            context = flow.context_from(prev_answers, has_manager=member.manager_id is not None)
            for hook in self._hooks(run.flow):
                if hook.context is not None:
                    context.update(hook.context(s, flow, member, run, pre))
            context["steps"] = list(flow.expand(context))
            run.context = context
        known = {a.id for a in flow.steps} | {a.group for a in flow.steps if a.group}
        steps = tuple(k for k in run.context["steps"] if k.split(":", 1)[0] in known) or flow.expand(run.context)
        answers = pre.take_answers(run) if pre is not None else repo.answers_of(s, run_id=run.id)  # type: ignore[arg-type]  # a stored run
        if pre is not None:
            pre.done(run)
        return RunState(
            status=Status(run.status),
            step=run.step,
            steps=steps,
            answers=answers,
            closes_at=run.closes_at,
            timezone=member.timezone,
            reminded=run.reminded,
            nudge_kind=run.nudge_kind,
            context=dict(run.context),
            calendar=self.calendars.of(member),
        )

    # ------------------------------------------------------------------------------------ applying

    def apply(
        self,
        s: Session,
        run: ConversationRun,
        member: Member,
        trigger: Trigger,
        text: str | None,
        now: datetime,
        *,
        by_member: bool,
        batch: Batch | None = None,
    ) -> list[Reply]:
        if run.flow not in self.flows:
            log.warning("run %s belongs to flow %s, which is not configured", run.id, run.flow)
            return [Reply("common/rejected_nothing_open", {})]
        return list(self.advance(s, run, member, trigger, text, now, by_member=by_member, batch=batch).replies)

    def advance(
        self,
        s: Session,
        run: ConversationRun,
        member: Member,
        trigger: Trigger,
        text: str | None,
        now: datetime,
        *,
        by_member: bool = True,
        batch: Batch | None = None,
    ) -> Outcome:
        """Run one event through the state machine for a stored run and persist what it decides."""
        flow = self.flows[run.flow]
        state = self.state(s, run, member, batch)
        if trigger == Trigger.ANSWER:
            for hook in self._hooks(run.flow):
                refusal = hook.check_answer(s, flow, run, state, member, text) if hook.check_answer else None
                if refusal is not None:
                    reason, replies = refusal
                    return Outcome(trigger, state.status, state.step, reason=reason, replies=tuple(replies))
        outcome = advance(flow, state, RunEvent(trigger, text), now)
        self.persist(s, run, member, state, outcome, now, by_member=by_member, batch=batch)
        return outcome

    def persist(
        self,
        s: Session,
        run: ConversationRun,
        member: Member,
        before: RunState,
        outcome: Outcome,
        now: datetime,
        *,
        by_member: bool,
        batch: Batch | None = None,
    ) -> None:
        if not outcome.accepted:
            log.info("run %s: %s rejected in %s (%s)", run.id, outcome.trigger, before.status, outcome.reason)
            return
        if outcome.save and by_member:
            self.metrics.answers.labels(run.flow).inc(len(outcome.save))
        if outcome.context:  # a question added or taken out, or half an answer kept (None: let go): before the
            context = dict(run.context or {})  # answers, whose effects depend on it
            for key, value in outcome.context.items():
                if value is None:
                    context.pop(key, None)
                else:
                    context[key] = value
            run.context = context
        flow = self.flows[run.flow]
        for step, value in outcome.detached.items():
            takers = [h.take_detached for h in self._hooks(run.flow) if h.take_detached is not None]
            assert takers, f"{run.flow}: nobody takes the detached answer to {step}"  # it would be lost
            for take in takers:
                take(s, flow, run, member, step, value, now)
        for step, value in outcome.save.items():
            repo.save_answer(s, run=run, step=step, value=value, now=now, known=before.answers)
            for hook in self._hooks(run.flow):
                if hook.after_save is not None:
                    hook.after_save(s, flow, run, member, step, value, now)
        if outcome.status != before.status or outcome.step != before.step:
            from_status, from_step = run.status, run.step
            run.status, run.step = outcome.status.value, outcome.step
            row = repo.transition_row(
                run=run, trigger=outcome.trigger.value, from_status=from_status, from_step=from_step, now=now
            )
            if batch is not None:
                batch.transitions.append(row)
            else:
                repo.insert_transitions(s, rows=[row])
            log.info(
                "run %s (%s %s): %s → %s via %s", run.id, run.flow, run.period, from_status, run.status, outcome.trigger
            )
        if outcome.nudge != KEEP:
            if outcome.nudge is None:
                run.next_nudge_at, run.nudge_kind = None, None
            else:
                run.next_nudge_at, run.nudge_kind = outcome.nudge  # type: ignore[str-unpack, assignment]  # not KEEP here: (when, kind)
        if outcome.reminded:
            run.reminded = True
        if outcome.completed and run.completed_at is None:
            run.completed_at = now
        if run.prompted_at is None and outcome.status in (Status.PROMPTED, Status.IN_PROGRESS):
            run.prompted_at = now
        if by_member:
            run.last_activity_at = now
        run.updated_at = now
        s.add(run)

    # ------------------------------------------------------------------------------------ one conversation at a time

    def then_next(
        self, s: Session, run: ConversationRun, member: Member, replies: list[Reply], now: datetime
    ) -> list[Reply]:
        """When one conversation ends while another is waiting (a check-in and a retro, say), go on to it."""
        if run.status not in (Status.COMPLETED, Status.SKIPPED) or run.step is not None:
            return replies
        assert member.id is not None  # a stored member
        waiting = repo.active_run(s, member_id=member.id) or repo.next_waiting_run(s, member_id=member.id, now=now)
        if waiting is None or waiting.id == run.id:
            return replies
        return replies + self.apply(s, waiting, member, Trigger.START, None, now, by_member=False)

    def busy_with_other(
        self, s: Session, run: ConversationRun, now: datetime, batch: Batch | None = None
    ) -> ConversationRun | None:
        """The other conversation the member is in now (`conversations.turns.has_attention`), if any."""
        pre = batch.prefetched if batch is not None and run.status == Status.SCHEDULED.value else None
        current = (
            pre.take_active(run)
            if pre is not None and pre.covers(run)
            else repo.active_run(s, member_id=run.member_id, other_than=run.id)
        )
        if current is None or current.id == run.id:
            return None
        return (
            current
            if has_attention(status=current.status, step=current.step, moved_at=current.updated_at, now=now)
            else None
        )

    def _titles(self, name: str) -> dict[str, str]:
        flow = self.flows.get(name)
        return dict(flow.titles) if flow is not None else {}

    def hold_back(
        self, s: Session, run: ConversationRun, member: Member, current: ConversationRun, now: datetime
    ) -> None:
        """Let `run` wait while the member is in `current`; a new one is announced to them once, as next."""
        if run.status == Status.SCHEDULED.value:
            run.prompt_at = now + BUSY_WINDOW
            context = run.context or {}
            repo.enqueue(
                s,
                dedup_key=f"run:{run.id}:waiting",
                member_id=member.id,
                kind="waiting",
                body=encode_replies(
                    [
                        Reply(
                            "common/waiting_next",
                            {
                                "flow": run.flow,
                                "current": current.flow,
                                "titles": self._titles(run.flow),  # locale → title: the reader's is shown
                                "current_titles": self._titles(current.flow),
                                "title": context.get("title"),
                                "starter": context.get("starter"),
                            },
                        )
                    ]
                ),
                now=now,
            )
        else:  # a reminder of a conversation the member is not in now would pull their next answer into it
            run.next_nudge_at = self.calendars.send_at(member, now + BUSY_WINDOW)
        s.add(run)
