import pytest

from conversations.answers import Actions, Invalid, Items, PlanStatus, Scale, SupportNeed, Text, says_nothing
from conversations.commands import AnswerText, Command, Keyword, interpret, parse_pause
from conversations.machine import Trigger
from tests.times import utc


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        (" 5 ", 5),
        ("４", 4),
        ("3/5", 3),
        ("4 out of 5", 4),
        ("三", 3),
        ("5分", 5),
        ("2️⃣", 2),
        ("1", 1),
        ("four", 4),
        ("Four", 4),
        ("one", 1),
        ("five/5", 5),
        ("four out of five", 4),
        ("４ out of ５", 4),
        ("３/５", 3),
        ("4/五", 4),
    ],
)
def test_mood_accepts_what_people_type(text, value):
    assert Scale(1, 5).parse(text) == value


@pytest.mark.parametrize(
    "text", ["0", "6", "great", "", "3.5", "-1", "4 or 5", "１０", "six", "zero", "fourteen", "for", "one two"]
)
def test_mood_rejects_anything_else_with_a_reask(text):
    with pytest.raises(Invalid) as info:
        Scale(1, 5).parse(text)
    assert (info.value.key, info.value.params) == ("invalid_scale", {"lo": 1, "hi": 5})


def test_priorities_split_on_lines_semicolons_and_bullets():
    assert Items(1, 3).parse("- a\n* b\n3. c") == ["a", "b", "c"]
    assert Items(1, 3).parse("写文档；修 bug") == ["写文档", "修 bug"]
    assert Items(1, 3).parse("one thing, with a comma") == ["one thing, with a comma"]
    with pytest.raises(Invalid) as info:
        Items(1, 3).parse("a; b; c; d")
    assert info.value.key == "invalid_items_many"
    with pytest.raises(Invalid):
        Items(1, 3).parse(" ; ")


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("1:1s with everyone; 2FA rollout", ["1:1s with everyone", "2FA rollout"]),
        ("1:1 prep with Maria", ["1:1 prep with Maria"]),
        ("10:30 standup\n-5% churn\n3.5 days of QA", ["10:30 standup", "-5% churn", "3.5 days of QA"]),
        ("1. ship it\n2) test it\n3: tell people", ["ship it", "test it", "tell people"]),
        ("1、写文档\n（2）修 bug\n• 10:30 评审", ["写文档", "修 bug", "10:30 评审"]),
        ("a; b\r\nc", ["a", "b", "c"]),
        ("  *bold* plan  ", ["*bold* plan"]),
    ],
)
def test_priorities_keep_what_was_typed_and_split_only_on_documented_separators(text, items):
    assert Items(1, 3).parse(text) == items


@pytest.mark.parametrize(
    "word",
    [
        "none",
        "None.",
        "no",
        "n/a",
        "N/A",
        "-",
        "—",
        "nothing much",
        "Nothing much!",
        "nope",
        "na",
        "nothing to report",
        "ｎｏｎｅ",
        "  NONE  ",
        "无",
        "没有",
        "暂无",
        "暂时没有",
        "没什么",
        "没什么亮点",
        "没什么亮点。",
        "没有阻碍",
        "没",
    ],
)
def test_answers_that_say_nothing(word):
    assert says_nothing(word)
    assert Text(none_means_empty=True).parse(word) is None
    assert SupportNeed().parse(word) is None
    assert Actions().parse(word) == []


@pytest.mark.parametrize(
    "text",
    [
        "no staging access",
        "nothing works on staging",
        "No one reviews my PRs",
        "none of the tests pass",
        "nothing much, but the CI is slow",
        "knowing",
        "没有测试环境",
        "无法登录",
        "没什么人帮忙",
        "暂无预算批准",
        "1:1",
        "no.thing",
    ],
)
def test_sentences_that_merely_contain_no_say_something(text):
    assert not says_nothing(text)
    assert Text(none_means_empty=True).parse(text) == text


def test_text_is_stored_exactly_as_typed():
    hostile = "<!channel> {{ 7*7 }} '; DROP TABLE answer; -- @all <at id=all></at>"
    assert Text().parse(hostile) == hostile
    with pytest.raises(Invalid):
        Text().parse("   ")
    with pytest.raises(Invalid):
        Text(max_len=10).parse("x" * 11)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("done", "done"),
        ("Done!", "done"),
        ("完成", "done"),
        ("partly", "partly"),
        ("部分完成", "partly"),
        ("not done", "not_done"),
        ("未完成", "not_done"),
        ("3", "not_done"),
    ],
)
def test_plan_status(text, status):
    assert PlanStatus().parse(text) == status


def test_interpret_commands_keywords_and_answers():
    assert interpret("/checkin") == Command("checkin")
    assert interpret("/pause until 2026-12-01") == Command("pause", "until 2026-12-01")
    assert interpret("/签到") == Command("checkin")  # the old word keeps working
    assert interpret("/小结") == Command("checkin")
    assert interpret("/frobnicate") == Command("/frobnicate", "", known=False)
    assert interpret("skip") == Keyword(Trigger.SKIP)
    assert interpret("Later.") == Keyword(Trigger.LATER)
    assert interpret("返回") == Keyword(Trigger.BACK)
    assert interpret("edit 3") == Keyword(Trigger.EDIT, "3")
    assert interpret("修改 2") == Keyword(Trigger.EDIT, "2")
    assert interpret("帮助") == Keyword("help")
    assert interpret("skip the standup next week") == AnswerText("skip the standup next week")


def test_pause_dates():
    today = utc(2026, 11, 25).date()
    assert str(parse_pause("until 2026-12-01", today)) == "2026-12-01"
    assert str(parse_pause("2026年12月1日", today)) == "2026-12-01"
    assert str(parse_pause("2w", today)) == "2026-12-09"
    assert parse_pause("until 2026-11-01", today) is None  # in the past
    assert parse_pause("until someday", today) is None
    assert parse_pause("2026-02-30", today) is None
    assert parse_pause("3h", today) is None


def test_a_bare_kind_of_support_is_held_and_the_next_words_alone_complete_it():
    with pytest.raises(Invalid) as bare:
        SupportNeed().parse("2")
    assert (bare.value.key, bare.value.params) == ("invalid_support_detail", {"pending": "resources"})
    assert SupportNeed().parse("  someone to grant staging access ", pending="resources") == {
        "kind": "resources",
        "text": "someone to grant staging access",
    }
    assert SupportNeed().parse("3 a mentor", pending="resources") == {"kind": "coaching", "text": "a mentor"}
    assert SupportNeed().parse("none", pending="resources") is None
    with pytest.raises(Invalid) as words:
        SupportNeed().parse("someone to grant staging access")
    assert words.value.key == "invalid_support"
