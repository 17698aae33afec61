"""The run state machine: a transition table as data, and `advance`, a pure function of (flow, run, event, now).

```mermaid
stateDiagram-v2
    [*] --> scheduled
    scheduled --> prompted: deliver / start
    scheduled --> skipped: skip
    scheduled --> expired: expire
    prompted --> in_progress: answer (more steps)
    prompted --> completed: answer (last step)
    in_progress --> completed: answer (last step)
    prompted --> skipped: skip
    in_progress --> skipped: skip
    prompted --> expired: expire
    in_progress --> expired: expire
    skipped --> prompted: start (no answers yet)
    skipped --> in_progress: start (has answers)
    completed --> completed: edit / answer or start while editing
```

Every (status, trigger) pair not in `TRANSITIONS` is rejected with a reason; the caller tells the member
why, politely, and stores nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from conversations.answers import Invalid, keyword, says_nothing
from conversations.calendar import WorkCalendar, next_working_time
from conversations.flows import GIVEN, Flow, step_item
from conversations.followups import parse_follow_ups
from conversations.schedule import quiet_adjust
from conversations.similarity import says_the_same


class Status(StrEnum):
    SCHEDULED = "scheduled"
    PROMPTED = "prompted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    EXPIRED = "expired"


OPEN_STATUSES = (Status.SCHEDULED, Status.PROMPTED, Status.IN_PROGRESS)


class Trigger(StrEnum):
    DELIVER = "deliver"  # the scheduler sends the first question
    START = "start"  # the member asks for it (/checkin)
    ANSWER = "answer"
    BACK = "back"
    SKIP = "skip"
    LATER = "later"
    REMIND = "remind"  # the scheduler's nudge: the silence reminder or the end of a snooze
    EXPIRE = "expire"  # the answer window closed
    EDIT = "edit"


EDIT_CHOOSING = "__edit__"
MEMBER_TRIGGERS = frozenset(
    {Trigger.ANSWER, Trigger.BACK, Trigger.SKIP, Trigger.LATER, Trigger.START, Trigger.EDIT}
)  # step of a completed run while the member picks which answer to change


@dataclass(frozen=True)
class Transition:
    source: Status
    trigger: Trigger
    dest: Status
    when: str | None = None  # name of a guard in `_GUARDS`; None = always


TRANSITIONS: tuple[Transition, ...] = (
    Transition(Status.SCHEDULED, Trigger.DELIVER, Status.PROMPTED),
    Transition(Status.SCHEDULED, Trigger.START, Status.PROMPTED),
    Transition(Status.SCHEDULED, Trigger.SKIP, Status.SKIPPED),
    Transition(Status.SCHEDULED, Trigger.EXPIRE, Status.EXPIRED),
    Transition(Status.PROMPTED, Trigger.START, Status.PROMPTED),
    Transition(Status.PROMPTED, Trigger.ANSWER, Status.COMPLETED, when="answers_last_step"),
    Transition(Status.PROMPTED, Trigger.ANSWER, Status.IN_PROGRESS),
    Transition(Status.PROMPTED, Trigger.SKIP, Status.COMPLETED, when="skips_last_optional_step"),
    Transition(Status.PROMPTED, Trigger.SKIP, Status.IN_PROGRESS, when="on_optional_step"),
    Transition(Status.PROMPTED, Trigger.SKIP, Status.SKIPPED),
    Transition(Status.PROMPTED, Trigger.LATER, Status.PROMPTED, when="window_left_for_snooze"),
    Transition(Status.PROMPTED, Trigger.REMIND, Status.PROMPTED),
    Transition(Status.PROMPTED, Trigger.EXPIRE, Status.EXPIRED),
    Transition(Status.IN_PROGRESS, Trigger.START, Status.IN_PROGRESS),
    Transition(Status.IN_PROGRESS, Trigger.ANSWER, Status.COMPLETED, when="answers_last_step"),
    Transition(Status.IN_PROGRESS, Trigger.ANSWER, Status.IN_PROGRESS),
    Transition(Status.IN_PROGRESS, Trigger.BACK, Status.IN_PROGRESS, when="has_previous_step"),
    Transition(Status.IN_PROGRESS, Trigger.SKIP, Status.COMPLETED, when="skips_last_optional_step"),
    Transition(Status.IN_PROGRESS, Trigger.SKIP, Status.IN_PROGRESS, when="on_optional_step"),
    Transition(Status.IN_PROGRESS, Trigger.SKIP, Status.SKIPPED),
    Transition(Status.IN_PROGRESS, Trigger.LATER, Status.IN_PROGRESS, when="window_left_for_snooze"),
    Transition(Status.IN_PROGRESS, Trigger.REMIND, Status.IN_PROGRESS),
    Transition(Status.IN_PROGRESS, Trigger.EXPIRE, Status.EXPIRED),
    Transition(Status.COMPLETED, Trigger.EDIT, Status.COMPLETED, when="window_open"),
    Transition(Status.COMPLETED, Trigger.START, Status.COMPLETED, when="editing_in_window"),
    Transition(Status.COMPLETED, Trigger.ANSWER, Status.COMPLETED, when="editing_in_window"),
    Transition(Status.COMPLETED, Trigger.SKIP, Status.COMPLETED, when="editing"),
    Transition(Status.COMPLETED, Trigger.EXPIRE, Status.COMPLETED, when="editing"),
    Transition(Status.SKIPPED, Trigger.START, Status.IN_PROGRESS, when="window_open_with_answers"),
    Transition(Status.SKIPPED, Trigger.START, Status.PROMPTED, when="window_open"),
)

# Why a pair was refused, for the member-facing message (`prompts/common/<locale>/rejected_<reason>.j2`).
REJECTIONS: dict[tuple[Status, Trigger], str] = {}
for _status in Status:
    for _trigger in Trigger:
        REJECTIONS[(_status, _trigger)] = "nothing_open"
for _status in (Status.PROMPTED, Status.IN_PROGRESS):
    REJECTIONS[(_status, Trigger.DELIVER)] = "already_delivered"
    REJECTIONS[(_status, Trigger.EDIT)] = "edit_not_yet"
    REJECTIONS[(_status, Trigger.LATER)] = "too_late_to_snooze"
REJECTIONS[(Status.PROMPTED, Trigger.BACK)] = "at_first_question"
REJECTIONS[(Status.IN_PROGRESS, Trigger.BACK)] = "at_first_question"
REJECTIONS[(Status.SCHEDULED, Trigger.ANSWER)] = "not_started"
REJECTIONS[(Status.SCHEDULED, Trigger.BACK)] = "not_started"
REJECTIONS[(Status.SCHEDULED, Trigger.LATER)] = "not_started"
REJECTIONS[(Status.SCHEDULED, Trigger.EDIT)] = "edit_not_yet"
REJECTIONS[(Status.SCHEDULED, Trigger.REMIND)] = "not_started"
for _trigger in (
    Trigger.ANSWER,
    Trigger.SKIP,
    Trigger.BACK,
    Trigger.LATER,
    Trigger.START,
    Trigger.REMIND,
    Trigger.DELIVER,
):
    REJECTIONS[(Status.COMPLETED, _trigger)] = "already_completed"
REJECTIONS[(Status.COMPLETED, Trigger.EDIT)] = "edit_closed"
REJECTIONS[(Status.COMPLETED, Trigger.EXPIRE)] = "already_completed"
for _trigger in Trigger:
    REJECTIONS[(Status.SKIPPED, _trigger)] = "was_skipped"
    REJECTIONS[(Status.EXPIRED, _trigger)] = "window_closed"
REJECTIONS[(Status.SKIPPED, Trigger.START)] = "window_closed"


@dataclass(frozen=True)
class RunState:
    """What `advance` needs to know about one run (built by the caller from the stored row)."""

    status: Status
    step: str | None
    steps: tuple[str, ...]
    answers: Mapping[str, Any]
    closes_at: datetime
    timezone: str
    reminded: bool = False
    nudge_kind: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    calendar: WorkCalendar | None = None  # the member's working calendar; None: only the night is avoided

    def working_time(self, at: datetime) -> datetime:
        """`at`, or the member's next working time after it: when a nudge may reach them."""
        if self.calendar is None:
            return quiet_adjust(at, self.timezone)
        return next_working_time(self.calendar, self.timezone, at)


@dataclass(frozen=True)
class RunEvent:
    trigger: Trigger
    text: str | None = None  # ANSWER: the reply; EDIT: which answer (number or step id), optional


@dataclass(frozen=True)
class Reply:
    """A message for the member, named by template; rendered later in the member's locale."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)


KEEP = "keep"  # `Outcome.nudge` value meaning: leave the stored nudge as it is


@dataclass(frozen=True)
class Outcome:
    trigger: Trigger
    status: Status
    step: str | None
    accepted: bool = True
    reason: str | None = None  # rejection reason, or the Invalid key when an answer did not parse
    save: Mapping[str, Any] = field(default_factory=dict)
    replies: tuple[Reply, ...] = ()
    nudge: tuple[datetime, str] | None | str = KEEP
    reminded: bool = False
    completed: bool = False
    context: Mapping[str, Any] = field(default_factory=dict)  # run context keys to set (None: remove them)
    # Answers to detached questions (`Ask.detached`): handed to the flow's hooks, never saved with the run, which
    # saves `GIVEN` in their place (`save`).
    detached: Mapping[str, Any] = field(default_factory=dict)

    def changed(self, before: RunState) -> bool:
        return self.accepted and (self.status != before.status or self.step != before.step or bool(self.save))


# ---------------------------------------------------------------------------------------------- guards


def _current_is_last(flow: Flow, run: RunState, answers: Mapping[str, Any]) -> bool:
    return _next_unanswered(run, answers, after=run.step) is None


def _next_unanswered(run: RunState, answers: Mapping[str, Any], *, after: str | None) -> str | None:
    steps = run.steps
    start = steps.index(after) + 1 if after in steps else 0
    for key in steps[start:]:
        if key not in answers:
            return key
    for key in steps[:start]:
        if key not in answers and key != after:
            return key
    return None


def _on_optional(flow: Flow, run: RunState) -> bool:
    return run.step is not None and run.step != EDIT_CHOOSING and flow.ask_for(run.step).optional


_GUARDS: dict[str, Callable[[Flow, RunState, RunEvent, datetime], bool]] = {
    "answers_last_step": lambda f, r, e, n: r.step is not None and _current_is_last(f, r, {**r.answers, r.step: True}),
    "on_optional_step": lambda f, r, e, n: _on_optional(f, r),
    "skips_last_optional_step": lambda f, r, e, n: (
        _on_optional(f, r) and r.step is not None and _current_is_last(f, r, {**r.answers, r.step: None})
    ),
    "has_previous_step": lambda f, r, e, n: r.step in r.steps and r.steps.index(r.step) > 0,
    "window_open": lambda f, r, e, n: n < r.closes_at,
    "window_open_with_answers": lambda f, r, e, n: n < r.closes_at and any(k in r.answers for k in r.steps),
    "window_left_for_snooze": lambda f, r, e, n: _snooze_until(f, r, n) is not None,
    "editing": lambda f, r, e, n: r.step is not None,
    "editing_in_window": lambda f, r, e, n: r.step is not None and n < r.closes_at,
}


def find_transition(flow: Flow, run: RunState, event: RunEvent, now: datetime) -> Transition | None:
    """The first transition of the table that applies, or None (the pair is rejected)."""
    for t in TRANSITIONS:
        if (
            t.source == run.status
            and t.trigger == event.trigger
            and (t.when is None or _GUARDS[t.when](flow, run, event, now))
        ):
            return t
    return None


# ---------------------------------------------------------------------------------------------- timing


def _reminder_at(flow: Flow, run: RunState, base: datetime) -> tuple[datetime, str] | None:
    if run.reminded:
        return None
    at = run.working_time(base + flow.reminder_after)
    return (at, "reminder") if at < run.closes_at else None


def _snooze_until(flow: Flow, run: RunState, now: datetime) -> datetime | None:
    at = run.working_time(now + flow.snooze_for)
    return at if at < run.closes_at else None


# ---------------------------------------------------------------------------------------------- advance


def _item_text(flow: Flow, run: RunState, step: str) -> Any:
    """The context item an `each` step asks about (e.g. one of last week's priorities), or None."""
    item = step_item(step)
    items = run.context.get(flow.ask_for(step).each or "") or []
    return items[item] if item is not None and item < len(items) else None


PENDING = "pending"  # run context: half an answer kept for the next reply, {"step": …, "value": …}


def _pending(run: RunState, step: str | None) -> Any:
    """Half an answer to `step` from the member's previous reply (a kind of support without its words), or None."""
    held = run.context.get(PENDING)
    return held.get("value") if isinstance(held, Mapping) and held.get("step") == step else None


def _asked(run: RunState) -> str:
    """The step a run in progress (or being changed, or reminded) is on: it has one from its first question."""
    assert run.step is not None, "a run that was asked has a step"
    return run.step


def ask(
    flow: Flow,
    run: RunState,
    step: str,
    answers: Mapping[str, Any],
    *,
    lead: str | None = None,
    editing: bool = False,
    pending: Any = None,
) -> Reply:
    """The reply that asks `step`, with its position and any answer already given (or half given: `pending`)."""
    item = step_item(step)
    counted = flow.counted(run.steps)
    position = run.steps.index(step) if step in run.steps else 0
    number = max(1, sum(1 for k in run.steps[: position + 1] if k in counted))  # an inserted one: its source's
    extra: dict[str, Any] = {}
    if flow.is_group(step):
        extra["items"] = [
            {"number": n, "kind": i.kind, "text": i.text, "status": answers.get(i.step), "answered": i.step in answers}
            for n, i in enumerate(flow.group_items(step, run.context), start=1)
        ]
    if flow.ask_for(step).needs is not None:  # what the question is about (the key results it asks for)
        extra["listed"] = list(run.context.get(flow.ask_for(step).needs or "") or ())
    if flow.ask_for(step).inserted:
        extra["obstacle"] = (run.context.get("same_as") or {}).get("text")
    return Reply(
        f"{flow.name}/{flow.ask_for(step).id}",
        {
            **extra,
            "step": step,
            "number": number,
            "total": len(counted),
            "minutes": flow.minutes(run.steps, run.context),
            "item": _item_text(flow, run, step),
            "item_number": (item or 0) + 1,
            "item_total": len(run.context.get(flow.ask_for(step).each or "") or ()),
            "current": answers.get(step),
            "has_current": step in answers,
            "optional": flow.ask_for(step).optional,
            "editing": editing,
            "pending": pending if pending is not None else _pending(run, step),
            "lead": lead,
            "closes_at": run.closes_at,
            "title": run.context.get("title"),  # what the conversation is about, for flows that have one (retros)
            "period": run.context.get("period"),  # the period it is about, for flows that set one (a talk's quarter)
            "starter": run.context.get("starter"),
            "anonymous": bool(run.context.get("anonymous")),
            "anonymous_min": run.context.get("anonymous_min"),  # how many must answer before anything is shown
            "upward_min": run.context.get("upward_min"),  # the same, for upward feedback (bot/replies.py)
        },
    )


def about(run: RunState) -> dict[str, Any]:
    """What every message about a run may name: what it is about (a retro's title) and when it closes."""
    return {"title": run.context.get("title"), "closes_at": run.closes_at}


def advance(flow: Flow, run: RunState, event: RunEvent, now: datetime) -> Outcome:
    """Decide what happens to `run` when `event` arrives at `now`. Pure: no I/O, no clock of its own.
    Every reply carries `about(run)`, so a template may name the run whatever the reply is."""
    outcome = _decide(flow, run, event, now)
    base = about(run)
    return replace(outcome, replies=tuple(Reply(r.template, {**base, **r.params}) for r in outcome.replies))


def _decide(flow: Flow, run: RunState, event: RunEvent, now: datetime) -> Outcome:
    if (
        event.trigger in MEMBER_TRIGGERS
        and run.status in (Status.PROMPTED, Status.IN_PROGRESS)
        and now >= run.closes_at
    ):
        # The window closed but the tick has not expired the run yet (or a platform retry arrived late).
        return Outcome(
            event.trigger,
            run.status,
            run.step,
            accepted=False,
            reason="window_closed",
            replies=(Reply(f"{flow.name}/rejected_window_closed", {"closes_at": run.closes_at}),),
        )
    transition = find_transition(flow, run, event, now)
    if transition is None:
        reason = REJECTIONS[(run.status, event.trigger)]
        if (
            run.status == Status.COMPLETED
            and (event.trigger == Trigger.EDIT or run.step is not None)
            and now >= run.closes_at
        ):
            reason = "edit_closed"
        return Outcome(
            event.trigger,
            run.status,
            run.step,
            accepted=False,
            reason=reason,
            replies=(Reply(f"{flow.name}/rejected_{reason}", {"closes_at": run.closes_at}),),
        )
    handler = _HANDLERS[event.trigger]
    return handler(flow, run, event, now, transition)


def _deliver(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    first = run.steps[0]
    lead = "intro" if event.trigger == Trigger.DELIVER else "intro_on_demand"
    return Outcome(
        event.trigger,
        t.dest,
        first,
        replies=(ask(flow, run, first, run.answers, lead=lead),),
        nudge=_reminder_at(flow, run, now),
    )


def _start(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    if run.status == Status.SCHEDULED:
        return _deliver(flow, run, event, now, t)
    if run.status == Status.COMPLETED:  # asked for again while changing an answer: go on with the change
        if run.step == EDIT_CHOOSING:
            return Outcome(
                event.trigger,
                t.dest,
                run.step,
                replies=(Reply(f"{flow.name}/summary", _summary_params(flow, run, run.answers, "choose")),),
            )
        return Outcome(
            event.trigger,
            t.dest,
            run.step,
            replies=(ask(flow, run, _asked(run), run.answers, lead="continue", editing=True),),
        )
    if run.status == Status.SKIPPED:
        step = _next_unanswered(run, run.answers, after=None) or run.steps[-1]
        lead = "resumed" if t.dest == Status.IN_PROGRESS else "intro_on_demand"
        return Outcome(
            event.trigger,
            t.dest,
            step,
            replies=(ask(flow, run, step, run.answers, lead=lead),),
            nudge=_reminder_at(flow, run, now),
        )
    return Outcome(
        event.trigger, t.dest, run.step, replies=(ask(flow, run, _asked(run), run.answers, lead="continue"),)
    )


def _answer(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    if run.step == EDIT_CHOOSING:
        return _choose_edit(flow, run, event, now, t)
    if flow.is_group(run.step):
        return _answer_group(flow, run, event, now, t)
    pending = _pending(run, run.step)
    if pending is not None:  # the words that complete the half answer of the previous reply
        return _store_answer(
            flow, run, event, now, t, lambda ask_: ask_.expects.parse(event.text or "", pending=pending)
        )
    return _store_answer(flow, run, event, now, t, lambda ask_: ask_.expects.parse(event.text or ""))


def _answer_group(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    """The follow-up list answered in one message. Items it names are recorded (each under its own key, as one
    question per item used to be); the others keep their status. While some are still unanswered the question
    stays, showing what was recorded, so that buttons can be pressed one item at a time; `skip` goes on."""
    step = run.step
    assert step is not None
    items = flow.group_items(step, run.context)
    try:
        statuses = parse_follow_ups(event.text or "", items)
    except Invalid as invalid:
        return Outcome(
            event.trigger,
            run.status,
            step,
            reason=invalid.key,
            replies=(Reply(f"{flow.name}/{invalid.key}", invalid.params), ask(flow, run, step, run.answers)),
        )
    answers = {**run.answers, **statuses}
    done = all(i.step in answers for i in items)
    save: dict[str, Any] = dict(statuses)
    if done or run.status == Status.COMPLETED:
        save[step] = {i.step: answers[i.step] for i in items if i.step in answers}
    if run.status == Status.COMPLETED:  # an edit
        return Outcome(
            event.trigger,
            Status.COMPLETED,
            None,
            save=save,
            replies=(Reply(f"{flow.name}/summary", _summary_params(flow, run, {**answers, **save}, "edited")),),
        )
    if not done:
        again = ask(flow, run, step, answers, lead="follow_ups_noted")
        noted = [n for n, i in enumerate(items, start=1) if i.step in statuses]
        return Outcome(
            event.trigger,
            Status.IN_PROGRESS,
            step,
            save=save,
            nudge=_reminder_at(flow, run, now),
            replies=(Reply(again.template, {**again.params, "noted": noted}),),
        )
    answers = {**answers, **save}
    nxt = _next_unanswered(run, answers, after=step)
    if nxt is None:
        return Outcome(
            event.trigger,
            Status.COMPLETED,
            None,
            save=save,
            nudge=None,
            completed=True,
            replies=(Reply(f"{flow.name}/summary", _summary_params(flow, run, answers, "completed")),),
        )
    return Outcome(
        event.trigger,
        Status.IN_PROGRESS,
        nxt,
        save=save,
        replies=(ask(flow, run, nxt, answers),),
        nudge=_reminder_at(flow, run, now),
    )


def _repeated_obstacle(flow: Flow, run: RunState, step: str, value: Any) -> dict[str, Any] | None:
    """The open obstacle a new blocker repeats (`conversations.similarity.says_the_same`), or None. Obstacles this
    run has just closed do not count."""
    if value is None or not flow.ask_for(step).opens_obstacle:
        return None
    for index, text in enumerate(run.context.get("obstacles") or []):
        if run.answers.get(f"obstacle_status:{index}") in ("resolved", "irrelevant"):
            continue
        if says_the_same(str(value), str(text)):
            return {"step": step, "index": index, "text": str(text)}
    return None


def _with_same_question(
    flow: Flow, run: RunState, step: str, match: dict[str, Any] | None
) -> tuple[RunState, dict[str, Any] | None]:
    """The run with the "same obstacle?" question put in right after `step` (or taken out again)."""
    inserted = next((a.id for a in flow.steps if a.inserted), None)
    if inserted is None:
        return run, None
    steps = [k for k in run.steps if k != inserted]
    if match is not None:
        steps.insert(steps.index(step) + 1, inserted)
    elif inserted not in run.steps and not run.context.get("same_as"):
        return run, None
    context = {**run.context, "steps": steps, "same_as": match}
    return replace(run, steps=tuple(steps), context=context), {"steps": steps, "same_as": match}


def _store_answer(
    flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition, parse: Callable[[Any], Any]
) -> Outcome:
    step = run.step
    assert step is not None
    ask_ = flow.ask_for(step)
    try:
        said = (event.text or "").strip()
        if ask_.optional and event.trigger == Trigger.ANSWER and said and says_nothing(said):
            value = None
        else:
            value = parse(ask_)
    except Invalid as invalid:
        if "pending" in invalid.params:  # half an answer: kept, and the question asks only for the rest
            held = invalid.params["pending"]
            return Outcome(
                event.trigger,
                run.status,
                step,
                reason=invalid.key,
                context={PENDING: {"step": step, "value": held}},
                replies=(ask(flow, run, step, run.answers, pending=held),),
            )
        reask = ask(flow, run, step, run.answers)
        return Outcome(
            event.trigger,
            run.status,
            step,
            reason=invalid.key,
            replies=(Reply(f"{flow.name}/{invalid.key}", invalid.params), reask),
        )
    detached: dict[str, Any] = {}
    if ask_.detached:
        if run.answers.get(step) == GIVEN:  # handed over already: nothing links it to the run any more
            completed = run.status == Status.COMPLETED  # an edit: leave it
            return Outcome(
                event.trigger,
                run.status,
                None if completed else step,
                accepted=completed,
                reason="detached_given",
                replies=(Reply(f"{flow.name}/{ask_.id}_given"),),
            )
        if value is not None:
            detached, value = {step: value}, GIVEN
    answers = {**run.answers, step: value}
    context: dict[str, Any] = {PENDING: None} if PENDING in run.context else {}  # a half answer is complete now
    if flow.ask_for(step).opens_obstacle:
        run, same = _with_same_question(flow, run, step, _repeated_obstacle(flow, run, step, value))
        context.update(same or {})
    if context.get("same_as") is not None:  # ask whether it is the same one before anything else
        asked = context["steps"][context["steps"].index(step) + 1]
        status = Status.COMPLETED if run.status == Status.COMPLETED else Status.IN_PROGRESS
        return Outcome(
            event.trigger,
            status,
            asked,
            save={step: value},
            detached=detached,
            context=context,
            replies=(ask(flow, run, asked, answers, editing=run.status == Status.COMPLETED),),
            nudge=KEEP if status == Status.COMPLETED else _reminder_at(flow, run, now),
        )
    if run.status == Status.COMPLETED:  # an edit
        return Outcome(
            event.trigger,
            Status.COMPLETED,
            None,
            save={step: value},
            detached=detached,
            context=context,
            replies=(Reply(f"{flow.name}/summary", _summary_params(flow, run, answers, "edited")),),
        )
    nxt = _next_unanswered(run, answers, after=step)
    if nxt is None:
        return Outcome(
            event.trigger,
            Status.COMPLETED,
            None,
            save={step: value},
            detached=detached,
            nudge=None,
            completed=True,
            context=context,
            replies=(Reply(f"{flow.name}/summary", _summary_params(flow, run, answers, "completed")),),
        )
    lead = "skipped_question" if value is None and event.trigger == Trigger.SKIP else None
    return Outcome(
        event.trigger,
        Status.IN_PROGRESS,
        nxt,
        save={step: value},
        detached=detached,
        context=context,
        replies=(ask(flow, run, nxt, answers, lead=lead),),
        nudge=_reminder_at(flow, run, now),
    )


def _summary_params(flow: Flow, run: RunState, answers: Mapping[str, Any], mode: str) -> dict[str, Any]:
    rows = []
    for number, key in enumerate(run.steps, start=1):
        row = {
            "number": number,
            "step": key,
            "id": flow.ask_for(key).id,
            "value": answers.get(key),
            "answered": key in answers,
            "item": _item_text(flow, run, key),
            "locked": _locked(flow, key, answers),  # sent without a name: shown, never offered to change
        }
        if flow.is_group(key):
            row["items"] = [
                {"kind": i.kind, "text": i.text, "status": answers.get(i.step)}
                for i in flow.group_items(key, run.context)
            ]
            row["answered"] = key in answers or any(i.step in answers for i in flow.group_items(key, run.context))
        if flow.ask_for(key).inserted:
            row["item"] = (run.context.get("same_as") or {}).get("text")
        rows.append(row)
    # Every question of the flow is named, those left out of this run (no manager, nothing to follow up) as None:
    # a template may ask about any of them whoever the run is for.
    named = {ask_.id: None for ask_ in flow.steps}
    return {
        "rows": rows,
        "answers": {**named, **{k: answers.get(k) for k in run.steps}},
        "mode": mode,
        "closes_at": run.closes_at,
        "title": run.context.get("title"),
    }


def _locked(flow: Flow, step: str, answers: Mapping[str, Any]) -> bool:
    """A detached answer handed over already (`Ask.detached`): nothing links it to the run, so it cannot be edited."""
    return flow.ask_for(step).detached and answers.get(step) == GIVEN


def _choose_edit(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    target = _edit_target(run, event.text)
    if target is not None and _locked(flow, target, run.answers):
        return Outcome(
            event.trigger,
            run.status,
            EDIT_CHOOSING,
            reason="detached_given",
            replies=(
                Reply(f"{flow.name}/{flow.ask_for(target).id}_given"),
                Reply(f"{flow.name}/summary", _summary_params(flow, run, run.answers, "choose")),
            ),
        )
    if target is None:
        editable = [n for n, key in enumerate(run.steps, start=1) if not _locked(flow, key, run.answers)]
        return Outcome(
            event.trigger,
            run.status,
            EDIT_CHOOSING,
            reason="invalid_edit_choice",
            replies=(Reply(f"{flow.name}/invalid_edit_choice", {"total": max(editable, default=len(run.steps))}),),
        )
    return Outcome(
        event.trigger, Status.COMPLETED, target, replies=(ask(flow, run, target, run.answers, editing=True),)
    )


def _edit_target(run: RunState, text: str | None) -> str | None:
    word = keyword(text or "")
    if re.fullmatch(r"[0-9]{1,3}", word) and 1 <= int(word) <= len(run.steps):
        return run.steps[int(word) - 1]
    return word if word in run.steps else None


def _edit(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    if event.text:
        target = _edit_target(run, event.text)
        if target is not None and _locked(flow, target, run.answers):  # `edit 4`: told why not, then the menu
            return _choose_edit(flow, run, event, now, t)
        if target is not None:
            return Outcome(
                event.trigger, Status.COMPLETED, target, replies=(ask(flow, run, target, run.answers, editing=True),)
            )
    params = _summary_params(flow, run, run.answers, "choose")
    return Outcome(event.trigger, Status.COMPLETED, EDIT_CHOOSING, replies=(Reply(f"{flow.name}/summary", params),))


def _back(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    previous = run.steps[run.steps.index(run.step) - 1]
    return Outcome(event.trigger, t.dest, previous, replies=(ask(flow, run, previous, run.answers, lead="back"),))


def _skip(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    if run.status == Status.COMPLETED:  # leave the edit, keep the answer
        return Outcome(event.trigger, Status.COMPLETED, None, replies=(Reply(f"{flow.name}/edit_cancelled"),))
    if t.dest != Status.SKIPPED:  # an optional question: skip just that one
        return _store_answer(flow, run, event, now, t, lambda _ask: None)
    kept = sum(1 for k in run.steps if k in run.answers)
    return Outcome(
        event.trigger,
        Status.SKIPPED,
        None,
        nudge=None,
        replies=(Reply(f"{flow.name}/skipped", {"kept": kept, "closes_at": run.closes_at}),),
    )


def _later(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    until = _snooze_until(flow, run, now)
    assert until is not None
    return Outcome(
        event.trigger,
        t.dest,
        run.step,
        nudge=(until, "snooze"),
        replies=(Reply(f"{flow.name}/snoozed", {"until": until, "timezone": run.timezone}),),
    )


def _remind(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    if run.nudge_kind == "snooze":
        return Outcome(
            event.trigger,
            t.dest,
            run.step,
            nudge=_reminder_at(flow, run, now),
            replies=(ask(flow, run, _asked(run), run.answers, lead="snooze_over"),),
        )
    return Outcome(
        event.trigger,
        t.dest,
        run.step,
        nudge=None,
        reminded=True,
        replies=(ask(flow, run, _asked(run), run.answers, lead="reminder"),),
    )


def _expire(flow: Flow, run: RunState, event: RunEvent, now: datetime, t: Transition) -> Outcome:
    if run.status == Status.COMPLETED:
        return Outcome(event.trigger, Status.COMPLETED, None)
    kept = sum(1 for k in run.steps if k in run.answers)
    replies = (Reply(f"{flow.name}/expired", {"kept": kept}),) if kept and run.status != Status.SCHEDULED else ()
    return Outcome(event.trigger, Status.EXPIRED, None, nudge=None, replies=replies)


_HANDLERS: dict[Trigger, Callable[[Flow, RunState, RunEvent, datetime, Transition], Outcome]] = {
    Trigger.DELIVER: _deliver,
    Trigger.START: _start,
    Trigger.ANSWER: _answer,
    Trigger.BACK: _back,
    Trigger.SKIP: _skip,
    Trigger.LATER: _later,
    Trigger.REMIND: _remind,
    Trigger.EXPIRE: _expire,
    Trigger.EDIT: _edit,
}
