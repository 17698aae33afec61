"""`/action …` read in English and Chinese, due dates taken off the end, and when an action is overdue. Pure."""

from __future__ import annotations

from datetime import date

import pytest

from conversations.actions import ActionRequest, overdue, parse_action, split_due

WED = date(2026, 12, 2)


@pytest.mark.parametrize(
    "typed, text, due",
    [
        ("Practise a demo by 2027-01-15", "Practise a demo", date(2027, 1, 15)),
        ("Practise a demo by Friday", "Practise a demo", date(2026, 12, 4)),
        ("Practise by next monday.", "Practise", date(2026, 12, 7)),
        ("Read a book by Martin Fowler", "Read a book by Martin Fowler", None),  # not a day: kept whole
        ("Pair with  Bo", "Pair with  Bo", None),  # as typed, spaces too
        ("练习演讲，截止 周五", "练习演讲", date(2026, 12, 4)),
        ("练习演讲 截止2027年1月15日", "练习演讲", date(2027, 1, 15)),
        ("周五前完成一次演示", "完成一次演示", date(2026, 12, 4)),
        ("完成一次演示 下周一前", "完成一次演示", date(2026, 12, 7)),
        ("学到了新东西", "学到了新东西", None),
    ],
)
def test_a_due_date_is_taken_off_the_end_and_the_rest_kept_as_typed(typed, text, due):
    assert split_due(typed, WED) == (text, due, False)


@pytest.mark.parametrize("typed", ["Ship it by 2020-01-01", "Ship it by today", "发布 截止 昨天"])
def test_a_due_date_not_after_today_is_refused_not_kept_in_the_text(typed):
    assert parse_action(f"add {typed}", f"add {typed}", WED) == ActionRequest("usage", problem="bad_due")


@pytest.mark.parametrize(
    "args, expected",
    [
        ("", ActionRequest("list")),
        ("完成 3", ActionRequest("done", action_id=3)),
        ("drop #3", ActionRequest("drop", action_id=3)),
        ("放弃 3", ActionRequest("drop", action_id=3)),
        ("note 3 went  well", ActionRequest("note", action_id=3, text="went  well")),
        ("备注 3", ActionRequest("usage", problem="no_note", text="3")),
        ("suggest @alice", ActionRequest("usage", problem="no_suggestion")),
        ("accept 7", ActionRequest("accept", action_id=7)),
        ("拒绝 7", ActionRequest("decline", action_id=7)),
        ("done", ActionRequest("usage", problem="no_id")),
        ("done 3 please", ActionRequest("usage", problem="extra", text="please")),
        ("suggest Pair with Bo", ActionRequest("usage", problem="no_who")),
        ("suggest @alice Pair by Friday", ActionRequest("suggest", text="Pair", due=date(2026, 12, 4), who="@alice")),
        ("add", ActionRequest("usage", problem="no_text")),
        ("fly", ActionRequest("usage", problem="unknown", text="fly")),
    ],
)
def test_subcommands_in_both_languages(args, expected):
    assert parse_action(args, args, WED) == expected


def test_overdue_only_once_the_due_date_has_passed():
    assert not overdue(None, date(2030, 1, 1))
    assert not overdue(date(2026, 12, 4), date(2026, 12, 4))
    assert overdue(date(2026, 12, 4), date(2026, 12, 5))
