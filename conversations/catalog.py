"""Every flow Flywheel knows, by name: the built-in ones, and any other defined with `define` (one registration,
next to the flow's own module and prompts). What a platform shows of a question it only has by name (its buttons,
bot/platforms/common.py) is looked up here."""

from __future__ import annotations

from conversations.feedback import FEEDBACK
from conversations.flows import Flow
from conversations.monthly_review import MONTHLY_REVIEW
from conversations.quarterly_talk import QUARTERLY_TALK
from conversations.retro import RETRO
from conversations.weekly_checkin import WEEKLY_CHECKIN

BUILT_IN: tuple[Flow, ...] = (WEEKLY_CHECKIN, MONTHLY_REVIEW, RETRO, FEEDBACK, QUARTERLY_TALK)

_KNOWN: dict[str, Flow] = {f.name: f for f in BUILT_IN}


def define(flow: Flow) -> Flow:
    """Make a flow known by name (its buttons, its form's title); returns it."""
    _KNOWN[flow.name] = flow
    return flow


def named(name: str) -> Flow | None:
    return _KNOWN.get(name)


def choices(flow: str, step: str) -> tuple[tuple[str, str], ...]:
    """The buttons of question `step` (a step key or a step id) of the flow named `flow`; none if unknown."""
    found = named(flow)
    if found is None:
        return ()
    try:
        return found.ask_for(step).choices
    except KeyError:
        return ()
