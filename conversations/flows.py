"""Declarative flows: a flow is a named list of questions (`Ask`) plus when it runs.

A step id names its template (`prompts/<flow>/<locale>/<step>.j2`), its stored answer and its action ids.
A step with `each=` is asked once per item of a context list (last week's priorities, …), as
`<step>:<index>`; with no items it is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping

from conversations.answers import Expect, says_nothing
from conversations.schedule import Schedule, WeeklySchedule


@dataclass(frozen=True)
class Ask:
    id: str
    expects: Expect
    optional: bool = False
    each: str | None = None
    requires_manager: bool = False  # left out for someone who has no manager

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

    def context_from(self, previous_answers: Mapping[str, Any] | None, *, has_manager: bool = True) -> dict[str, Any]:
        """What a new run starts with, carried over from the previous period's answers (steps not yet expanded)."""
        previous = previous_answers or {}
        # A priority of "none" is not a plan to ask about.
        context: dict[str, Any] = {key: [item for item in previous.get(step) or [] if not says_nothing(item)]
                                   for key, step in self.carry.items()}
        context["has_manager"] = has_manager
        return context

    def expand(self, context: Mapping[str, Any]) -> tuple[str, ...]:
        """The concrete step keys of one run, given what it was started with."""
        keys: list[str] = []
        for ask in self.steps:
            if ask.requires_manager and not context.get("has_manager", True):
                continue
            if ask.each is None:
                keys.append(ask.key())
            else:
                keys.extend(ask.key(i) for i in range(len(context.get(ask.each) or ())))
        return tuple(keys)

    def ask_for(self, step_key: str) -> Ask:
        base = step_key.split(":", 1)[0]
        for ask in self.steps:
            if ask.id == base:
                return ask
        raise KeyError(f"{self.name} has no step {step_key!r}")


def step_item(step_key: str) -> int | None:
    """The item index of an `each` step key (`plan_review:1` → 1), or None."""
    _, _, index = step_key.partition(":")
    return int(index) if index else None
