"""Retrospectives: private answers, one summary where it started, anonymity, and actions that come back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage.db import transaction
from storage.models import DevelopmentAction
from tests.bot.test_digest import run_checkin
from tests.helpers import DEMO, answer_retro, in_channel, local, make_harness, posts, utc

# A team spread from New York to Shanghai: these tests are about retros, so everyone's working day is the whole
# day (when retro questions wait for working hours is tested in tests/bot/test_calendar.py).
ALL_DAY = {**DEMO, "calendar": {"working_hours": "00:00-23:59"}}


@pytest.fixture
def harness(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 11, 23, 9, 0), config=ALL_DAY)
    yield h
    h.app.close()


def test_named_retro_end_to_end_with_actions_followed_up(harness):
    h = harness
    in_channel(h, "alice", '/retro start "Checkout redesign" @alice @bo')
    assert posts(h)[0].startswith("🔁 Alice started a retrospective on “Checkout redesign” with Alice and Bo.")
    assert "(1/4) What was the goal" in h.fake.texts_for("bo")[-1]
    answer_retro(h, "alice", "Ship by Nov 20; shipped Nov 24", "Pairing", "Late QA", "@bo add a smoke test")
    assert len(posts(h)) == 1  # not everyone has answered yet
    refused = h.say("bo", "x") and h.say("bo", "y") and h.say("bo", "z") and h.say("bo", "@nobody fix it")
    assert refused[0].startswith("I could not find @nobody to own that action.")
    h.say("bo", "@alice write the checklist; @bo fix alerts")
    summary = posts(h)[-1]
    assert summary.startswith("🔁 Retrospective: “Checkout redesign” · 2 of 2 answered")
    assert "• Alice: Ship by Nov 20; shipped Nov 24" in summary and "• Bo: x" in summary
    assert "🛠️ Actions\n• Bo: add a smoke test\n• Alice: write the checklist\n• Bo: fix alerts" in summary
    # Bo's actions come back in his weekly check-in until done.
    h.run_until(local("America/New_York", 2026, 11, 27, 15, 0))
    run_checkin(h, "bo")
    texts = "\n".join(h.fake.texts_for("bo"))
    assert (
        "Your development actions (done / still going / drop):\n1. “add a smoke test "
        "(Checkout redesign)”\n2. “fix alerts (Checkout redesign)”" in texts
    )
    with transaction(h.app.sessions) as s:
        states = {a.text: a.status for a in s.exec(select(DevelopmentAction))}
    assert states == {"add a smoke test": "done", "fix alerts": "done", "write the checklist": "open"}


def test_anonymous_retro_below_the_threshold_shows_nothing(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Q4 planning" @alice @bo @chen anonymous due 24h')
    answer_retro(h, "alice", "SECRET-A goal", "SECRET-A well", "SECRET-A badly", "@alice SECRET-A action")
    answer_retro(h, "bo", "SECRET-B goal", "SECRET-B well", "SECRET-B badly", "@bo SECRET-B action")
    assert len(posts(h)) == 1  # chen has not answered
    h.run_until(h.clock.now() + timedelta(hours=24))
    summary = posts(h)[-1]
    assert summary.startswith(
        "🔁 Retrospective: “Q4 planning” · 3 invited · anonymous\n"
        "Fewer than 3 people answered, so to keep everyone anonymous nothing is shared"
    )
    assert "SECRET" not in summary and "2" not in summary  # not even how many answered
    assert "The retrospective has closed." not in "".join(h.fake.texts_for("chen"))  # nothing to keep: no answers


def test_anonymous_retro_at_the_threshold_shows_answers_without_names(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Q4 planning" @alice @bo @chen anonymous')
    answer_retro(h, "chen", "按时上线", "沟通顺畅", "测试环境不稳定", "@chen 整理测试数据")
    answer_retro(h, "alice", "Goal A", "Well A", "Badly A", "@alice do A")
    answer_retro(h, "bo", "Goal B", "Well B", "Badly B", "@bo do B")
    summary = posts(h)[-1]
    assert "3 of 3 answered · anonymous" in summary
    assert "• Goal A\n• Goal B\n• 按时上线" in summary  # sorted, no names
    assert "Alice:" not in summary.split("🛠️")[0] and "陈晨:" not in summary.split("🛠️")[0]


def test_retro_in_chinese_and_refusals(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 11, 25, 10, 0), config=ALL_DAY)
    try:
        assert h.say("chen", "/复盘 开始")[0].startswith("发起复盘：")
        assert (
            h.say("chen", '/retro start "发布" @nobody')[0] == "找不到 @nobody。请用成员的账号来 @ 对方，例如 @alice。"
        )
        assert h.say("chen", '/retro start "发布" @bo due 30d')[0].startswith("截止时间需要在 1 小时到 14 天之间")
        started = h.say("chen", '/retro start "发布复盘" @chen @bo')
        assert started[0].startswith("已发起复盘“发布复盘”，参与者：陈晨、Bo。")
        assert "(1/4) 目标是什么？最终结果如何？" in started[0]
        answer_retro(h, "chen", "按时上线", "沟通顺畅", "测试环境不稳定", "整理测试数据")
        assert "每项行动开头都需要写明负责人" in h.fake.texts_for("chen")[-1]
        h.say("chen", "@chen 整理测试数据")
        answer_retro(h, "bo", "ship", "good", "bad", "@bo fix")
        # Started in a DM: everyone involved gets the summary privately, in their own language.
        assert h.fake.texts_for("chen")[-1].startswith("🔁 复盘：“发布复盘” · 2 人中 2 人回答")
        assert h.fake.texts_for("bo")[-1].startswith("🔁 Retrospective: “发布复盘” · 2 of 2 answered")
    finally:
        h.app.close()


def test_retro_actions_show_in_the_owners_managers_digest_with_their_age_until_done_and_never_as_overdue(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Launch" @alice @bo')
    answer_retro(h, "alice", "g", "w", "b", "@alice write the runbook")
    answer_retro(h, "bo", "g", "w", "b", "@bo fix alerts")
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 0))
    first = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
    assert "Development actions still open:\n• “write the runbook” (from the retrospective “Launch”, opened " in first
    h.run_until(local("America/New_York", 2026, 12, 4, 15, 0))
    run_checkin(h, "bo", action="done")
    h.fake.clear()
    h.run_until(local("Europe/London", 2026, 12, 14, 9, 0))
    digest = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
    assert (
        "Development actions still open:\n• “write the runbook” (from the retrospective “Launch”, opened 2 weeks ago)"
        in digest
    )
    assert "fix alerts" not in digest  # done in Bo's check-in
    assert "overdue" not in digest  # no due date: only its age


def test_retro_answers_that_say_nothing_show_nothing(harness):
    h = harness
    in_channel(h, "alice", '/retro start "Billing" @alice @chen')
    answer_retro(h, "alice", "Ship billing; shipped", "none", "Late QA", "none")
    answer_retro(h, "chen", "按时上线", "1:1 结对很有用", "没什么", "无")
    summary = posts(h)[-1]
    assert "✅ Keep\n• 陈晨: 1:1 结对很有用\n" in summary  # Alice's "none" is not something to keep
    assert "⚠️ Did not go well\n• Alice: Late QA" in summary and "没什么" not in summary
    assert "🛠️ Actions" not in summary
    with transaction(h.app.sessions) as s:
        assert list(s.exec(select(DevelopmentAction))) == []


def test_the_retro_summary_in_a_channel_speaks_the_organisations_language(tmp_path):
    members = [{**m, "locale": m.get("locale", "en")} for m in DEMO["members"]]  # Alice and Bo read English
    h = make_harness(
        tmp_path,
        start=utc(2026, 11, 25, 10, 0),
        config={**DEMO, "members": members, "defaults": {"locale": "zh"}, "calendar": {"working_hours": "00:00-23:59"}},
    )
    try:
        in_channel(h, "alice", '/retro start "Checkout" @alice @bo')
        assert posts(h)[0].startswith("🔁 Alice")  # the announcement
        assert "复盘" in posts(h)[0]
        answer_retro(h, "alice", "g", "w", "b", "none")
        answer_retro(h, "bo", "g", "w", "b", "none")
        assert posts(h)[-1].startswith("🔁 复盘：“Checkout”")
    finally:
        h.app.close()


def test_the_same_action_written_by_two_people_is_one_action(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Launch" @alice @bo @chen')
    answer_retro(h, "alice", "g", "w", "b", "@bo Add a smoke test.; @alice write the runbook")
    answer_retro(h, "bo", "g", "w", "b", "@bo add a  smoke test")
    with transaction(h.app.sessions) as s:
        assert sorted(a.text for a in s.exec(select(DevelopmentAction))) == ["Add a smoke test.", "write the runbook"]
    alice_run = next(r for r in h.runs("alice") if r.flow == "retro")
    with transaction(h.app.sessions) as s:  # Alice's answer changes (as an edit would): Bo still wrote it, it stays
        run = s.get(type(alice_run), alice_run.id)
        h.app.retros.record_actions(
            s, run=run, value=[{"owner": "@alice", "text": "write the runbook"}], now=h.clock.now(), platform="console"
        )
    with transaction(h.app.sessions) as s:
        assert sorted(a.text for a in s.exec(select(DevelopmentAction))) == ["add a  smoke test", "write the runbook"]
    answer_retro(h, "chen", "g", "w", "b", "无")
    summary = posts(h)[-1]
    assert summary.count("smoke test") == 1
