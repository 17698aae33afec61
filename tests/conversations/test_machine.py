"""The transition table, exhaustively: every (status, trigger) pair transitions as specified or is rejected."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from conversations.machine import (
    EDIT_CHOOSING,
    REJECTIONS,
    TRANSITIONS,
    RunEvent,
    RunState,
    Status,
    Trigger,
    advance,
    find_transition,
)
from conversations.render import LOCALES, Renderer
from conversations.weekly_checkin import WEEKLY_CHECKIN as FLOW
from tests.times import utc

NOW = utc(2026, 11, 27, 16, 0)
CLOSES = utc(2026, 11, 30, 12, 0)
CONTEXT = {"plan": ["ship v2"], "has_manager": True}
STEPS = FLOW.expand(CONTEXT)

# A typical run in each status: prompted at the first question, in progress at the second.
CANONICAL = {
    Status.SCHEDULED: RunState(Status.SCHEDULED, None, STEPS, {}, CLOSES, "Europe/London", context=CONTEXT),
    Status.PROMPTED: RunState(Status.PROMPTED, "mood", STEPS, {}, CLOSES, "Europe/London", context=CONTEXT),
    Status.IN_PROGRESS: RunState(
        Status.IN_PROGRESS, "wins", STEPS, {"mood": 4}, CLOSES, "Europe/London", context=CONTEXT
    ),
    Status.COMPLETED: RunState(
        Status.COMPLETED, None, STEPS, {k: "x" for k in STEPS} | {"mood": 4}, CLOSES, "Europe/London", context=CONTEXT
    ),
    Status.SKIPPED: RunState(Status.SKIPPED, None, STEPS, {}, CLOSES, "Europe/London", context=CONTEXT),
    Status.EXPIRED: RunState(Status.EXPIRED, None, STEPS, {"mood": 3}, CLOSES, "Europe/London", context=CONTEXT),
}
TEXT = {Trigger.ANSWER: "4"}

# The specification, written out independently of the table in the code.
EXPECTED = {
    (Status.SCHEDULED, Trigger.DELIVER): (Status.PROMPTED, "mood"),
    (Status.SCHEDULED, Trigger.START): (Status.PROMPTED, "mood"),
    (Status.SCHEDULED, Trigger.SKIP): (Status.SKIPPED, None),
    (Status.SCHEDULED, Trigger.EXPIRE): (Status.EXPIRED, None),
    (Status.PROMPTED, Trigger.START): (Status.PROMPTED, "mood"),
    (Status.PROMPTED, Trigger.ANSWER): (Status.IN_PROGRESS, "wins"),
    (Status.PROMPTED, Trigger.SKIP): (Status.SKIPPED, None),
    (Status.PROMPTED, Trigger.LATER): (Status.PROMPTED, "mood"),
    (Status.PROMPTED, Trigger.REMIND): (Status.PROMPTED, "mood"),
    (Status.PROMPTED, Trigger.EXPIRE): (Status.EXPIRED, None),
    (Status.IN_PROGRESS, Trigger.START): (Status.IN_PROGRESS, "wins"),
    (Status.IN_PROGRESS, Trigger.ANSWER): (Status.IN_PROGRESS, "follow_ups"),
    (Status.IN_PROGRESS, Trigger.BACK): (Status.IN_PROGRESS, "mood"),
    (Status.IN_PROGRESS, Trigger.SKIP): (Status.SKIPPED, None),
    (Status.IN_PROGRESS, Trigger.LATER): (Status.IN_PROGRESS, "wins"),
    (Status.IN_PROGRESS, Trigger.REMIND): (Status.IN_PROGRESS, "wins"),
    (Status.IN_PROGRESS, Trigger.EXPIRE): (Status.EXPIRED, None),
    (Status.COMPLETED, Trigger.EDIT): (Status.COMPLETED, EDIT_CHOOSING),
    (Status.SKIPPED, Trigger.START): (Status.PROMPTED, "mood"),
}

PAIRS = [(s, t) for s in Status for t in Trigger]


@pytest.mark.parametrize(("status", "trigger"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_every_pair_transitions_as_specified_or_is_rejected(status, trigger):
    run = CANONICAL[status]
    outcome = advance(FLOW, run, RunEvent(trigger, TEXT.get(trigger)), NOW)
    if (status, trigger) in EXPECTED:
        assert outcome.accepted, outcome.reason
        assert (outcome.status, outcome.step) == EXPECTED[(status, trigger)]
    else:
        assert not outcome.accepted
        assert (outcome.status, outcome.step) == (run.status, run.step)
        assert outcome.save == {}
        assert outcome.reason == REJECTIONS[(status, trigger)] or (status, trigger) == (Status.COMPLETED, Trigger.EDIT)
        assert [r.template for r in outcome.replies] == [f"weekly_checkin/rejected_{outcome.reason}"]


@pytest.mark.parametrize("flow", ["weekly_checkin", "monthly_review"])
def test_every_rejection_has_a_message_in_every_language(flow):
    renderer = Renderer()
    for reason in set(REJECTIONS.values()) | {"edit_closed"}:
        for locale in LOCALES:
            assert renderer.has_template(flow, locale, f"rejected_{reason}"), (reason, locale)


# Guarded variants: the same pair goes elsewhere when its guard says so.


def test_answering_the_last_question_completes_the_run():
    last = STEPS[-1]
    answers = {k: "x" for k in STEPS[:-1]} | {"mood": 4}
    run = RunState(Status.IN_PROGRESS, last, STEPS, answers, CLOSES, "UTC")
    outcome = advance(FLOW, run, RunEvent(Trigger.ANSWER, "More time with the design team"), NOW)
    assert (outcome.status, outcome.step, outcome.completed) == (Status.COMPLETED, None, True)
    assert outcome.save == {last: "More time with the design team"}
    assert outcome.nudge is None


def test_skip_on_the_optional_last_question_completes_instead_of_skipping():
    answers = {k: "x" for k in STEPS[:-1]}
    run = RunState(Status.IN_PROGRESS, "manager_help", STEPS, answers, CLOSES, "UTC")
    outcome = advance(FLOW, run, RunEvent(Trigger.SKIP), NOW)
    assert (outcome.status, outcome.step) == (Status.COMPLETED, None)
    assert outcome.save == {"manager_help": None}


def test_back_on_the_first_question_is_refused():
    run = RunState(Status.IN_PROGRESS, "mood", STEPS, {"wins": "x"}, CLOSES, "UTC")
    outcome = advance(FLOW, run, RunEvent(Trigger.BACK), NOW)
    assert (outcome.accepted, outcome.reason) == (False, "at_first_question")


def test_answer_after_back_returns_to_the_first_unanswered_question():
    run = RunState(Status.IN_PROGRESS, "mood", STEPS, {"mood": 2, "wins": "w"}, CLOSES, "UTC")
    outcome = advance(FLOW, run, RunEvent(Trigger.ANSWER, "3"), NOW)
    assert (outcome.step, outcome.save) == ("follow_ups", {"mood": 3})


def test_invalid_answer_is_reasked_without_a_transition():
    run = CANONICAL[Status.PROMPTED]
    outcome = advance(FLOW, run, RunEvent(Trigger.ANSWER, "great!"), NOW)
    assert outcome.accepted and not outcome.changed(run)
    assert outcome.reason == "invalid_scale"
    assert [r.template for r in outcome.replies] == ["weekly_checkin/invalid_scale", "weekly_checkin/mood"]


def test_edit_after_the_window_closed_is_refused():
    run = CANONICAL[Status.COMPLETED]
    outcome = advance(FLOW, run, RunEvent(Trigger.EDIT), CLOSES + timedelta(minutes=1))
    assert (outcome.accepted, outcome.reason) == (False, "edit_closed")


def test_edit_with_a_number_goes_straight_to_that_question_and_back_to_completed():
    run = CANONICAL[Status.COMPLETED]
    outcome = advance(FLOW, run, RunEvent(Trigger.EDIT, "2"), NOW)
    assert (outcome.status, outcome.step) == (Status.COMPLETED, "wins")
    editing = replace(run, step="wins")
    done = advance(FLOW, editing, RunEvent(Trigger.ANSWER, "Shipped it"), NOW)
    assert (done.status, done.step, done.save) == (Status.COMPLETED, None, {"wins": "Shipped it"})


def test_expire_while_editing_keeps_the_run_completed():
    run = replace(CANONICAL[Status.COMPLETED], step="wins")
    outcome = advance(FLOW, run, RunEvent(Trigger.EXPIRE), CLOSES)
    assert (outcome.accepted, outcome.status, outcome.step, outcome.save) == (True, Status.COMPLETED, None, {})


def test_snooze_refused_when_the_window_closes_first():
    run = CANONICAL[Status.PROMPTED]
    outcome = advance(FLOW, run, RunEvent(Trigger.LATER), CLOSES - timedelta(minutes=30))
    assert (outcome.accepted, outcome.reason) == (False, "too_late_to_snooze")


def test_restart_of_a_skipped_run_with_answers_resumes_at_the_first_unanswered():
    run = RunState(Status.SKIPPED, None, STEPS, {"mood": 3, "wins": "w"}, CLOSES, "UTC")
    outcome = advance(FLOW, run, RunEvent(Trigger.START), NOW)
    assert (outcome.status, outcome.step) == (Status.IN_PROGRESS, "follow_ups")
    closed = advance(FLOW, run, RunEvent(Trigger.START), CLOSES)
    assert (closed.accepted, closed.reason) == (False, "window_closed")


def test_every_transition_in_the_table_is_reachable():
    cases = [
        *[(CANONICAL[s], RunEvent(t, TEXT.get(t)), NOW) for s, t in EXPECTED],
        (
            RunState(Status.IN_PROGRESS, STEPS[-1], STEPS, {k: 1 for k in STEPS[:-1]}, CLOSES, "UTC"),
            RunEvent(Trigger.ANSWER, "x"),
            NOW,
        ),
        (RunState(Status.PROMPTED, "mood", ("mood",), {}, CLOSES, "UTC"), RunEvent(Trigger.ANSWER, "3"), NOW),
        (
            RunState(Status.IN_PROGRESS, "manager_help", STEPS, {k: 1 for k in STEPS[:-1]}, CLOSES, "UTC"),
            RunEvent(Trigger.SKIP),
            NOW,
        ),
        (
            RunState(Status.PROMPTED, "manager_help", STEPS, {k: 1 for k in STEPS[:-1]}, CLOSES, "UTC"),
            RunEvent(Trigger.SKIP),
            NOW,
        ),
        (
            RunState(Status.IN_PROGRESS, "manager_help", ("manager_help", "mood"), {}, CLOSES, "UTC"),
            RunEvent(Trigger.SKIP),
            NOW,
        ),
        (
            RunState(Status.PROMPTED, "manager_help", ("manager_help", "mood"), {}, CLOSES, "UTC"),
            RunEvent(Trigger.SKIP),
            NOW,
        ),
        (replace(CANONICAL[Status.COMPLETED], step="wins"), RunEvent(Trigger.ANSWER, "x"), NOW),
        (replace(CANONICAL[Status.COMPLETED], step="wins"), RunEvent(Trigger.SKIP), NOW),
        (replace(CANONICAL[Status.COMPLETED], step="wins"), RunEvent(Trigger.EXPIRE), CLOSES),
        (replace(CANONICAL[Status.COMPLETED], step="wins"), RunEvent(Trigger.START), NOW),
        (RunState(Status.SKIPPED, None, STEPS, {"mood": 3}, CLOSES, "UTC"), RunEvent(Trigger.START), NOW),
    ]
    used = {find_transition(FLOW, run, event, now) for run, event, now in cases}
    assert set(TRANSITIONS) <= used


@pytest.mark.parametrize("status", [Status.PROMPTED, Status.IN_PROGRESS])
@pytest.mark.parametrize("trigger", [Trigger.ANSWER, Trigger.BACK, Trigger.SKIP, Trigger.LATER, Trigger.START])
def test_nothing_is_accepted_after_the_window_closed_even_before_the_tick_expires_the_run(status, trigger):
    outcome = advance(FLOW, CANONICAL[status], RunEvent(trigger, "4"), CLOSES)
    assert (outcome.accepted, outcome.reason, outcome.save) == (False, "window_closed", {})


def test_an_edit_answer_after_the_window_closed_is_refused():
    run = replace(CANONICAL[Status.COMPLETED], step="wins")
    outcome = advance(FLOW, run, RunEvent(Trigger.ANSWER, "late change"), CLOSES)
    assert (outcome.accepted, outcome.reason, outcome.save) == (False, "edit_closed", {})
