"""Declarative flows: a flow is a named list of questions (`Ask`) plus when it runs.

A step id names its template (`prompts/<flow>/<locale>/<step>.j2`), its stored answer and its action ids.
A step with `each=` is asked about once per item of a context list (last week's priorities, …); its answers are
stored per item as `<step>:<index>`. Steps with the same `group=` are asked together as ONE question listing
all their items (`follow_ups`, conversations/followups.py); a run started before grouping keeps one question per
item. With no items the step is left out. A step with `inserted=True` is only asked when the state machine adds it
(the "is this the same obstacle?" question after a blocker that repeats an open one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from conversations.answers import Actions, Expect, Items, SupportNeed, Text, says_nothing
from conversations.followups import Item
from conversations.goals import GoalSpec, Progress
from conversations.schedule import Schedule, WeeklySchedule


@dataclass(frozen=True)
class Ask:
    id: str
    expects: Expect | GoalSpec | Progress
    optional: bool = False
    each: str | None = None
    requires_manager: bool = False  # left out for someone who has no manager
    group: str | None = None  # `each` steps asked together as one question with this step key
    opens_obstacle: bool = False  # an answer to it opens an obstacle (a blocker), unless it repeats an open one
    inserted: bool = False  # not in the planned questions: the state machine adds it when needed
    # The answer is handed over (`Outcome.detached`) and NOT kept with the run: the run keeps only `GIVEN` (upward
    # feedback, stored apart from its author by bot/replies.py). Once given it cannot be changed from the run.
    detached: bool = False
    needs: str | None = None  # asked only when the run's context has items under this key (key results, …)

    @property
    def choices(self) -> tuple[tuple[str, str], ...]:
        """The buttons this question offers (what each sends, its label key): its answer type's, if it has any."""
        return tuple(getattr(self.expects, "choices", ()))

    def key(self, index: int | None = None) -> str:
        return self.id if index is None else f"{self.id}:{index}"


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[Ask, ...]
    schedule: Schedule | None = field(default_factory=WeeklySchedule)  # None: started on demand only
    reminder_after: timedelta = timedelta(hours=4)
    snooze_for: timedelta = timedelta(hours=2)
    catch_up_within: timedelta = timedelta(hours=6)
    enabled: bool = True
    carry: Mapping[str, str] = field(default_factory=dict)  # context key ← answer of the previous period
    command: str | None = None  # the command (in conversations.commands.COMMANDS) that starts it on demand
    # With no conversation open, `edit` (and an answer typed after the end) goes back to this flow's latest run.
    reopens: bool = False
    titles: Mapping[str, str] = field(default_factory=dict)  # locale → the title of its form ("Weekly check-in")

    def context_from(self, previous_answers: Mapping[str, Any] | None, *, has_manager: bool = True) -> dict[str, Any]:
        """What a new run starts with, carried over from the previous period's answers (steps not yet expanded)."""
        previous = previous_answers or {}
        # A priority of "none" is not a plan to ask about.
        context: dict[str, Any] = {
            key: [item for item in previous.get(step) or [] if not says_nothing(item)]
            for key, step in self.carry.items()
        }
        context["has_manager"] = has_manager
        return context

    def expand(self, context: Mapping[str, Any]) -> tuple[str, ...]:
        """The concrete step keys of one run, given what it was started with."""
        keys: list[str] = []
        for ask in self.steps:
            if ask.inserted or (ask.requires_manager and not context.get("has_manager", True)):
                continue
            if ask.needs is not None and not context.get(ask.needs):
                continue
            if ask.each is None:
                keys.append(ask.key())
            elif ask.group is not None:
                if context.get(ask.each) and ask.group not in keys:
                    keys.append(ask.group)
            else:
                keys.extend(ask.key(i) for i in range(len(context.get(ask.each) or ())))
        return tuple(keys)

    def is_group(self, step_key: str | None) -> bool:
        return step_key is not None and any(a.group == step_key for a in self.steps)

    def group_items(self, step_key: str, context: Mapping[str, Any]) -> list[Item]:
        """The items a grouped question lists, numbered in this order."""
        return [
            Item(ask.key(i), ask.id, str(text))
            for ask in self.steps
            if ask.group == step_key
            for i, text in enumerate(context.get(ask.each or "") or ())
        ]

    def ask_for(self, step_key: str) -> Ask:
        base = step_key.split(":", 1)[0]
        for ask in self.steps:
            if ask.id == base:
                return ask
        if self.is_group(step_key):
            return Ask(step_key, Text(), optional=True)  # answered as a whole by `conversations.followups`
        raise KeyError(f"{self.name} has no step {step_key!r}")

    def counted(self, steps: tuple[str, ...]) -> tuple[str, ...]:
        """The questions a member is told about: an inserted question belongs to the one before it."""
        return tuple(k for k in steps if not self._inserted(k))

    def _inserted(self, step_key: str) -> bool:
        try:
            return self.ask_for(step_key).inserted
        except KeyError:
            return False

    def minutes(self, steps: tuple[str, ...], context: Mapping[str, Any]) -> int:
        """An honest estimate of how long the questions take, in whole minutes (rounded up, at least 1): a number
        or a choice ~10 s, a short text ~45 s, a list ~60 s, a goal with its key results ~90 s, the follow-up list and
        key-result progress 15 s + 6 s per item."""
        seconds = 0
        for key in self.counted(steps):
            if self.is_group(key):
                seconds += 15 + 6 * len(self.group_items(key, context))
                continue
            expects = self.ask_for(key).expects
            seconds += (
                90
                if isinstance(expects, (Actions, GoalSpec))
                else 15 + 6 * len(context.get(self.ask_for(key).needs or "") or ())
                if isinstance(expects, Progress)
                else 60
                if isinstance(expects, (Items, SupportNeed))
                else 45
                if isinstance(expects, Text)
                else 10
            )
        return max(1, -(-seconds // 60))


GIVEN = "given"  # what a run keeps as the answer to a detached question


def step_item(step_key: str) -> int | None:
    """The item index of an `each` step key (`plan_review:1` → 1), or None."""
    _, _, index = step_key.partition(":")
    return int(index) if index else None
