"""The follow-up list answered in one message: `parse_follow_ups`, and the machine around it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.answers import Invalid
from conversations.followups import Item, parse_follow_ups
from conversations.machine import RunEvent, RunState, Status, Trigger, advance
from conversations.monthly_review import MONTHLY_REVIEW
from conversations.weekly_checkin import WEEKLY_CHECKIN
from tests.times import utc

ITEMS = [
    Item("plan_review:0", "plan_review", "ship"),
    Item("plan_review:1", "plan_review", "hire"),
    Item("obstacle_status:0", "obstacle_status", "CI"),
    Item("obstacle_status:1", "obstacle_status", "SSO"),
    Item("retro_action:0", "retro_action", "runbook"),
]


def _each(*statuses: str) -> dict[str, str]:
    """Every item of ITEMS, in order, with these statuses."""
    return {i.step: s for i, s in zip(ITEMS, statuses, strict=True)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "1 done 2 partly 3 still 4 drop 5 not yet",
            {
                "plan_review:0": "done",
                "plan_review:1": "partly",
                "obstacle_status:0": "still",
                "obstacle_status:1": "irrelevant",
                "retro_action:0": "open",
            },
        ),
        (
            "1完成2部分完成3仍然存在4不再相关5还没",
            {
                "plan_review:0": "done",
                "plan_review:1": "partly",
                "obstacle_status:0": "still",
                "obstacle_status:1": "irrelevant",
                "retro_action:0": "open",
            },
        ),
        ("3 still", {"obstacle_status:0": "still"}),
        ("1-2 done, 4 resolved", {"plan_review:0": "done", "plan_review:1": "done", "obstacle_status:1": "resolved"}),
        ("1, 2 not done", {"plan_review:0": "not_done", "plan_review:1": "not_done"}),
        ("all done", _each("done", "done", "resolved", "resolved", "done")),
        ("都完成了", _each("done", "done", "resolved", "resolved", "done")),
        ("All done, except 3 still", _each("done", "done", "still", "resolved", "done")),
        ("１ 完成。", {"plan_review:0": "done"}),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_follow_ups(text, ITEMS) == expected


@pytest.mark.parametrize(
    ("text", "problem", "item_no"),
    [
        ("", "empty", 0),
        ("maybe later?", "empty", 0),
        ("9 done", "number", 9),
        ("3 partly", "word", 3),
        ("1 2", "word", 1),
        ("all still", "word", 1),
        ("1 done 4 hmm", "word", 4),
    ],
)
def test_garbage_names_its_problem_and_records_nothing(text, problem, item_no):
    with pytest.raises(Invalid) as raised:
        parse_follow_ups(text, ITEMS)
    assert (raised.value.key, raised.value.params["problem"], raised.value.params["item_no"]) == (
        "invalid_follow_ups",
        problem,
        item_no,
    )


WORDS = {
    "plan_review": {"done": ["done", "完成"], "partly": ["partly", "部分完成"], "not_done": ["not done", "未完成"]},
    "obstacle_status": {
        "resolved": ["resolved", "已解决"],
        "still": ["still", "仍然存在"],
        "irrelevant": ["drop", "不再相关"],
    },
    "retro_action": {
        "done": ["done", "完成"],
        "open": ["not yet", "still going", "还没", "还在进行"],
        "dropped": ["drop", "放弃"],
    },
}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_numbered_answer_in_either_language_reads_back_as_given(data):
    """Property: every item given a status, in any order and language, with any spacing, reads back exactly."""
    order = data.draw(st.permutations(range(len(ITEMS))))
    chosen = {}
    parts = []
    for index in order:
        item = ITEMS[index]
        status = data.draw(st.sampled_from(sorted(WORDS[item.kind])))
        word = data.draw(st.sampled_from(WORDS[item.kind][status]))
        chosen[item.step] = status
        parts.append(f"{index + 1}{data.draw(st.sampled_from(['', ' ', '. ', ': ']))}{word}")
    text = data.draw(st.sampled_from([" ", ", ", "; ", "\n", "，"])).join(parts)
    assert parse_follow_ups(text, ITEMS) == chosen


NOW = utc(2026, 12, 4, 16, 0)
CLOSES = utc(2026, 12, 7, 12, 0)
CONTEXT = {
    "plan": ["ship", "hire"],
    "obstacles": ["CI", "SSO", "no designer"],
    "obstacle_ids": [1, 2, 3],
    "actions": ["runbook (Launch)", "alerts (Launch)"],
    "has_manager": True,
}


def test_three_obstacles_two_priorities_two_actions_are_one_question():
    steps = WEEKLY_CHECKIN.expand(CONTEXT)
    assert steps == ("mood", "wins", "follow_ups", "blockers", "priorities", "manager_help")
    assert WEEKLY_CHECKIN.minutes(steps, CONTEXT) == 5
    assert MONTHLY_REVIEW.expand(CONTEXT) == ("follow_ups", "biggest_obstacle", "support", "growth", "upward")
    assert WEEKLY_CHECKIN.expand({"has_manager": True}) == ("mood", "wins", "blockers", "priorities", "manager_help")


def run_at(step, answers=None, status=Status.IN_PROGRESS, context=CONTEXT):
    steps = WEEKLY_CHECKIN.expand(context)
    return RunState(status, step, steps, answers or {"mood": 4, "wins": "w"}, CLOSES, "UTC", context=context)


def test_a_partial_answer_is_recorded_and_the_question_stays_until_skip():
    out = advance(WEEKLY_CHECKIN, run_at("follow_ups"), RunEvent(Trigger.ANSWER, "3 still"), NOW)
    assert (out.status, out.step, dict(out.save)) == (Status.IN_PROGRESS, "follow_ups", {"obstacle_status:0": "still"})
    assert out.replies[0].params["lead"] == "follow_ups_noted" and out.replies[0].params["noted"] == [3]
    after = run_at("follow_ups", {"mood": 4, "wins": "w", "obstacle_status:0": "still"})
    out = advance(WEEKLY_CHECKIN, after, RunEvent(Trigger.SKIP), NOW)
    assert (out.status, out.step, dict(out.save)) == (Status.IN_PROGRESS, "blockers", {"follow_ups": None})


def test_a_complete_answer_moves_on_and_marks_the_question_answered():
    out = advance(WEEKLY_CHECKIN, run_at("follow_ups"), RunEvent(Trigger.ANSWER, "all done"), NOW)
    assert (out.status, out.step) == (Status.IN_PROGRESS, "blockers")
    assert out.save["follow_ups"] == {
        "plan_review:0": "done",
        "plan_review:1": "done",
        "obstacle_status:0": "resolved",
        "obstacle_status:1": "resolved",
        "obstacle_status:2": "resolved",
        "retro_action:0": "done",
        "retro_action:1": "done",
    }


def test_a_blocker_that_repeats_an_open_obstacle_adds_one_question_numbered_as_the_blocker():
    run = run_at("blockers", {"mood": 4, "wins": "w", "follow_ups": None})
    out = advance(WEEKLY_CHECKIN, run, RunEvent(Trigger.ANSWER, "  sso!"), NOW)
    assert (out.step, out.context["same_as"]) == ("same_obstacle", {"step": "blockers", "index": 1, "text": "SSO"})
    assert out.context["steps"][3:5] == ["blockers", "same_obstacle"]
    assert (out.replies[0].params["number"], out.replies[0].params["total"]) == (4, 6)
    closed = run_at("blockers", {"mood": 4, "wins": "w", "follow_ups": None, "obstacle_status:1": "resolved"})
    assert advance(WEEKLY_CHECKIN, closed, RunEvent(Trigger.ANSWER, "SSO"), NOW).step == "priorities"


def test_a_bare_yes_or_no_to_several_items_closes_none_of_them():
    """Found trying it: "yes" to the look-back marked every item done and the open obstacle resolved."""
    items = [
        Item(step="plan_review:0", kind="plan_review", text="Fix bug"),
        Item(step="obstacle_status:0", kind="obstacle_status", text="No staging access"),
    ]
    for answer in ("yes", "Yes", "no", "是", "ok"):
        with pytest.raises(Invalid):
            parse_follow_ups(answer, items)
    assert parse_follow_ups("all done 2 still", items) == {"plan_review:0": "done", "obstacle_status:0": "still"}
    assert parse_follow_ups("yes", items[:1]) == {"plan_review:0": "done"}  # one item: no doubt which
