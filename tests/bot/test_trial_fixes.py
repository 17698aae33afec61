"""Fixes from a new user's trial, each as people met it: "none" / "无" to the review's actions question makes no
action; `/me` counts an action's age from now; `/action note 6` and `/action suggest @bo` without words get their own
hint; "仍然存在" for an action in the look-back; a detached answer (feedback for the manager) is not offered for
editing. English and Chinese."""

from __future__ import annotations

from conversations.followups import Item, parse_follow_ups
from tests.bot.test_actions import LONDON, _actions, _friday, _h, _review
from tests.helpers import local, make_harness


def _review_with(h, handle, replies):
    """A monthly review on demand; `replies`: {words in the question: the answer}, in the order asked."""
    texts = [h.say(handle, "/review")[-1]]
    for _ in range(10):
        text = texts[-1]
        if "monthly review done" in text or "本月回顾完成" in text:
            return texts
        reply = next((r for q, r in replies.items() if q in text), None)
        assert reply is not None, text
        texts.append(h.say(handle, reply)[-1])
    raise AssertionError(f"review did not finish: {texts[-1]}")


def test_none_to_the_actions_question_makes_no_action_in_either_language(tmp_path):
    h = _h(tmp_path)
    try:
        done = _review(h, "bo", "none")
        assert "Development actions: none" in done
        done = _review(h, "chen", "无", zh=True)
        assert "发展行动：无" in done
        assert _actions(h) == []
        assert "Development actions still open" not in "\n".join(h.say("bo", "/me"))
        assert h.say("chen", "/action")[-1].startswith("你还没有发展行动。")
        # an edit from real actions to "none" takes them away again
        _review(h, "alice", "Give the demo on Friday")
        assert [a[1] for a in _actions(h, "alice")] == ["Give the demo on Friday"]
        h.say("alice", "edit")
        assert "What will you do next month to grow?" in h.say("alice", "3")[-1]
        assert "Development actions: Nothing." in h.say("alice", "Nothing.")[-1]
        assert _actions(h, "alice") == []
        h.run_until(local(LONDON, 2026, 12, 7, 9, 30))  # Monday: the digest lists no action "none" / "无"
        digest = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
        assert "👤 Bo" in digest and "Development actions still open" not in digest
    finally:
        h.app.close()


def test_me_shows_an_action_added_today_as_opened_today_as_action_does(tmp_path):
    h = _h(tmp_path)  # Wednesday 2 December; the next digest is on Monday
    try:
        h.say("alice", "/action add Practise a demo")
        assert "“Practise a demo” (opened today)" in h.say("alice", "/action")[-1]
        me = "\n".join(h.say("alice", "/me"))
        assert "Development actions still open:\n• “Practise a demo” (opened today)" in me
        h.say("chen", "/action add 练习一次演讲")
        assert "“练习一次演讲”（今天定下）" in "\n".join(h.say("chen", "/me"))
    finally:
        h.app.close()


def test_a_note_or_a_suggestion_without_words_gets_its_own_hint(tmp_path):
    h = _h(tmp_path)
    try:
        h.say("alice", "/action add Practise a demo")
        note = h.say("alice", "/action note 1")[-1]
        assert note.startswith("What does the note say? Write it after the number, e.g. `/action note 1 ")
        suggestion = h.say("maria", "/action suggest @bo")[-1]
        assert suggestion.startswith("What do you suggest? Write it after the name, e.g. `/action suggest @alice ")
        assert "What is the action?" not in note + suggestion
        assert h.say("chen", "/action note 1")[-1].startswith("备注要写什么？写在编号后面，例如 `/action note 1 ")
        assert h.say("chen", "/action suggest @bo")[-1].startswith("你想建议什么？写在名字后面")
        assert _actions(h) == [(1, "Practise a demo", "typed", "open")]  # nothing added, no note
    finally:
        h.app.close()


def test_still_there_for_an_action_in_the_chinese_look_back_means_still_going(tmp_path):
    h = _h(tmp_path)
    try:
        _review_with(
            h,
            "chen",
            {
                "回顾一下": "都已解决",
                "最大障碍": "测试环境不稳定",
                "需要": "无",
                "下个月你打算做哪些事来成长": "读完一本 SQL 的书",
                "Maria有哪些做法": "跳过",
            },
        )
        h.run_until(_friday(4, "Asia/Shanghai"))
        listing = h.say("chen", "/checkin")[-1]
        for reply in ("4", "上线了"):  # the mood, what went well, then the look back
            if "先快速回顾" not in listing:
                listing = h.say("chen", reply)[-1]
        assert "1. “测试环境不稳定”" in listing and "2. “读完一本 SQL 的书”" in listing
        wrong = h.say("chen", "1 完成 2 部分完成")[0]
        assert "第 2 项看不懂“部分完成”：这一项可以回复 完成 / 还在进行 / 放弃。" in wrong
        assert "例如 `2 还在进行`" in wrong and "仍然存在 3" not in wrong  # an example the bot takes for that item
        assert _actions(h, "chen")[0][3] == "open"
        taken = h.say("chen", "1 完成 2 仍然存在")[-1]  # as said of the obstacle: for the action, still going
        assert "看不懂" not in taken and "先快速回顾" not in taken  # recorded; on to the next question
        assert _actions(h, "chen") == [(1, "读完一本 SQL 的书", "monthly_review", "open")]
    finally:
        h.app.close()


def test_the_feedback_for_the_manager_is_not_offered_for_editing(tmp_path):
    h = _h(tmp_path)
    try:
        answers = {
            "look back": "all resolved",
            "biggest obstacle": "none",
            "support": "none",
            "What will you do next month to grow": "Give the demo",
            "what should Maria keep doing": "More 1:1 time please",
        }
        asked = _review_with(h, "alice", answers)
        done = asked[-1]
        # All actions in one message; the question about the manager is separate and can be left out
        assert any("Put them all in this one message, one per line" in q for q in asked)
        assert any("a separate question about your manager, and optional" in q for q in asked)
        assert any("Reply `skip` to leave it out: your review is complete without it." in q for q in asked)
        assert "· Feedback for your manager: sent without your name, so it can't be changed" in done
        menu = h.say("alice", "edit")[-1]
        assert "Which answer would you like to change?" in menu
        assert "· Feedback for your manager: sent without your name, so it can't be changed" in menu
        assert "4. Feedback" not in menu and "Your answer so far" not in menu
        picked = h.say("alice", "4")
        assert picked[0].startswith("Your feedback for Maria was stored without your name, so it can no longer")
        assert "Your answer so far" not in "\n".join(picked)
        assert (
            h.say("alice", "5")[-1] == "Please reply with a number from 1 to 3, or `skip` to keep everything as it is."
        )
        assert "What will you do next month to grow?" in h.say("alice", "3")[-1]
        zh = {
            "回顾一下": "都已解决",
            "最大障碍": "无",
            "需要": "无",
            "下个月你打算做哪些事来成长": "读完一本书",
            "Maria有哪些做法": "多一些一对一",
        }
        asked = _review_with(h, "chen", zh)
        done = asked[-1]
        assert any("请把它们都写在同一条消息里，每行一条" in q for q in asked)
        assert any("最后一题是关于经理的单独问题，可以不答" in q and "回复 `skip`（跳过）即可不答" in q for q in asked)
        assert "· 给经理的反馈：已不署名发出，无法修改" in done
        assert "4. 给经理" not in h.say("chen", "修改")[-1]
        assert h.say("chen", "4")[0].startswith("你给Maria的反馈已经不署名保存")
        assert h.say("chen", "修改 4")[0].startswith("你给Maria的反馈已经不署名保存")  # named with the command too
    finally:
        h.app.close()


def test_none_to_the_quarterly_talks_actions_step_makes_no_action_either(tmp_path):
    h = make_harness(tmp_path, start=local(LONDON, 2027, 1, 6, 11, 0))  # the talk taken on demand
    try:
        for handle, answers in (
            ("alice", ("Fixed the flaky CI", "Faster onboarding; KR guide published", "none", "none", "none", "none")),
            ("chen", ("修好了不稳定的 CI", "更快的入职；KR 写好入职指南", "无", "无", "无", "无")),
        ):
            h.say(handle, "/quarter")
            for text in answers:
                h.say(handle, text)
        assert _actions(h) == []
    finally:
        h.app.close()


def test_still_words_of_an_obstacle_mean_still_going_for_an_action():
    items = [Item("obstacle_status:0", "obstacle_status", "flaky CI"), Item("retro_action:0", "retro_action", "read")]
    assert parse_follow_ups("1 完成 2 仍然存在", items) == {"obstacle_status:0": "resolved", "retro_action:0": "open"}
    assert parse_follow_ups("1 still 2 still", items) == {"obstacle_status:0": "still", "retro_action:0": "open"}
