"""Development actions as members meet them: from the monthly review, a retro, `/action add` and a manager's
suggestion; followed up in the weekly check-in until done or dropped; shown in `/me`, the digest and `/action` with
their age, and called overdue only once a due date has passed. English and Chinese."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from bot.me import export, forget
from bot.platforms.common import message_rows
from storage.db import transaction
from storage.models import DevelopmentAction, DevelopmentActionNote, Member, OutboxMessage
from tests.helpers import DEMO, answer_retro, in_channel, local, make_harness

LONDON = "Europe/London"
ORG = {**DEMO, "calendar": {"working_hours": "09:00-18:00"}}


def _h(tmp_path, *, start=None):
    return make_harness(tmp_path, start=start or local(LONDON, 2026, 12, 2, 10, 0), config=ORG)


def _actions(h, handle=None):
    with transaction(h.app.sessions) as s:
        query = select(DevelopmentAction).order_by(DevelopmentAction.id)
        if handle is not None:
            owner = s.exec(select(Member).where(Member.handle == handle)).one()
            query = query.where(DevelopmentAction.owner_id == owner.id)
        return [(a.id, a.text, a.source, a.status) for a in s.exec(query)]


def _review(h, handle, growth, *, zh=False):
    """A monthly review on demand, answering its questions until it is done; returns the last texts."""
    text = h.say(handle, "/review")[-1]
    for _ in range(8):
        if "monthly review done" in text or "本月回顾完成" in text:
            return text
        if "look back" in text or "回顾一下" in text:
            reply = "all resolved" if not zh else "都已解决"
        elif "biggest obstacle" in text or "最大障碍" in text:
            reply = "none" if not zh else "无"
        elif "What will you do next month to grow" in text or "下个月你打算做哪些事来成长" in text:
            reply = growth
        else:  # the support question
            reply = "none" if not zh else "无"
        text = h.say(handle, reply)[-1]
    raise AssertionError(f"review did not finish: {text}")


def _answer(listing, words, zh):
    """`1 done 2 still going`: each item of the follow-up list by its text (`words`), anything else done."""
    import re

    done = "完成" if zh else "done"
    found = re.findall(r"^(\d+)\. “(.*)”$", listing, flags=re.M)
    return " ".join(f"{n} {words.get(text.removesuffix(' (Launch)'), done)}" for n, text in found)


def _checkin(h, handle, follow_ups=None, *, zh=False):
    """This week's check-in, answered through; returns the follow-up list it showed (or None) and the summary.
    `follow_ups`: {item text: status word}; items not named are answered done."""
    text = h.say(handle, "/checkin")[-1]
    listing = None
    for _ in range(12):
        if "check-in done" in text or "本周小结完成了" in text:
            return listing, text
        if "a quick look back" in text or "先快速回顾" in text:
            listing = text
            reply = _answer(text, follow_ups or {}, zh)
        elif "How was your week" in text or "这周整体感觉" in text:
            reply = "4"
        elif "What went well" in text or "进展顺利" in text:
            reply = "shipped" if not zh else "上线了"
        elif "in your way" in text or "障碍" in text:
            reply = "none" if not zh else "无"
        elif "top priorities" in text or "最重要的" in text:
            reply = "keep going" if not zh else "继续"
        elif "anything you need" in text or "需要" in text:
            reply = "no" if not zh else "没有"
        else:
            raise AssertionError(f"unexpected question: {text}")
        text = h.say(handle, reply)[-1]
    raise AssertionError(f"check-in did not finish: {text}")


def _friday(day, tz=LONDON):
    return local(tz, 2026, 12, day, 15, 0)


def test_an_action_from_the_monthly_review_comes_back_in_each_check_in_until_done_then_stops(tmp_path):
    h = _h(tmp_path)
    try:
        done = _review(h, "alice", "Give the demo at Friday's team meeting; Pair with Bo on  SQL")
        assert "Development actions: Give the demo at Friday's team meeting; Pair with Bo on  SQL" in done
        assert _actions(h, "alice") == [
            (1, "Give the demo at Friday's team meeting", "monthly_review", "open"),
            (2, "Pair with Bo on  SQL", "monthly_review", "open"),  # exactly as typed
        ]
        h.run_until(_friday(4))
        listing, _ = _checkin(h, "alice", {"Pair with Bo on  SQL": "still going"})
        assert (
            "Your development actions (done / still going / drop):\n"
            "1. “Give the demo at Friday's team meeting”\n2. “Pair with Bo on  SQL”"
        ) in listing
        assert [a[3] for a in _actions(h, "alice")] == ["done", "open"]
        h.run_until(_friday(11))
        listing, _ = _checkin(h, "alice", {"Pair with Bo on  SQL": "drop"})
        assert "Your development actions (done / still going / drop):\n2. “Pair with Bo on  SQL”" in listing
        assert "Give the demo" not in listing
        assert [a[3] for a in _actions(h, "alice")] == ["done", "dropped"]
        h.run_until(_friday(18))
        listing, summary = _checkin(h, "alice")
        assert listing is None or "development actions" not in listing  # nothing open: not asked again
        assert "Pair with Bo" not in summary
    finally:
        h.app.close()


def test_the_review_asks_for_actions_in_chinese_and_the_check_in_follows_them_up_in_chinese(tmp_path):
    h = _h(tmp_path)
    try:
        _review(h, "chen", "周五组会上做一次演示；读完一本 SQL 的书", zh=True)
        assert [a[1] for a in _actions(h, "chen")] == ["周五组会上做一次演示", "读完一本 SQL 的书"]
        h.run_until(_friday(4, "Asia/Shanghai"))
        listing, _ = _checkin(h, "chen", {"读完一本 SQL 的书": "还在进行"}, zh=True)
        assert "你的发展行动（完成 / 还在进行 / 放弃）：\n1. “周五组会上做一次演示”\n2. “读完一本 SQL 的书”" in listing
        assert [a[3] for a in _actions(h, "chen")] == ["done", "open"]
        mine = h.say("chen", "/action")[-1]
        assert "你的发展行动：\n#2 “读完一本 SQL 的书”（来自月度回顾，" in mine
        assert "最近结束的：\n#1 “周五组会上做一次演示”——完成 ✅" in mine
    finally:
        h.app.close()


def test_a_retro_action_is_one_record_in_me_the_digest_the_check_in_and_action(tmp_path):
    h = _h(tmp_path, start=local(LONDON, 2026, 11, 23, 15, 0))  # working hours in London and New York
    try:
        in_channel(h, "maria", '/retro start "Launch" @alice @bo')
        answer_retro(h, "alice", "g", "w", "b", "@alice write the runbook")
        answer_retro(h, "bo", "g", "w", "b", "none")
        [(action_id, text, source, status)] = _actions(h)
        assert (text, source, status) == ("write the runbook", "retro", "open")
        me = "\n".join(h.say("alice", "/me"))
        assert "Development actions still open:\n• “write the runbook” (from the retrospective “Launch”, opened" in me
        assert f"#{action_id} “write the runbook” (from the retrospective “Launch”" in h.say("alice", "/action")[-1]
        h.run_until(local(LONDON, 2026, 11, 27, 15, 0))
        listing, _ = _checkin(h, "alice", {"write the runbook": "still going"})
        assert "Your development actions (done / still going / drop):\n1. “write the runbook (Launch)”" in listing
        h.run_until(local(LONDON, 2026, 11, 30, 9, 30))
        digest = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
        assert "• “write the runbook” (from the retrospective “Launch”, opened 6 days ago)" in digest
        closed = h.say("alice", f"/action done {action_id}")[-1]
        assert closed == "Nice work ✅ “write the runbook” is done."
        assert _actions(h) == [(action_id, "write the runbook", "retro", "done")]  # the same row, closed
        h.run_until(_friday(4))
        listing, _ = _checkin(h, "alice")
        assert listing is None or "write the runbook" not in listing
        assert "write the runbook" not in "\n".join(h.say("alice", "/me"))
    finally:
        h.app.close()


def test_a_manager_suggests_the_member_accepts_one_and_declines_another_and_the_manager_hears_both(tmp_path):
    h = _h(tmp_path, start=local(LONDON, 2026, 12, 2, 20, 0))  # evening: the suggestion waits for working hours
    try:
        sent = h.say("maria", "/action suggest @alice Pair with Bo on the release by 2027-01-15")[-1]
        assert sent.startswith("Sent to Alice: “Pair with Bo on the release” (due Fri 15 Jan 2027).")
        assert h.fake.texts_for("alice") == []
        assert _actions(h, "alice") == [(1, "Pair with Bo on the release", "suggested", "proposed")]
        h.run_until(local(LONDON, 2026, 12, 3, 9, 30))
        [dm] = [m for r, m in h.fake.sent if r.address == "alice"]
        assert dm.text.startswith("Maria suggests a development action for you:\n“Pair with Bo on the release”")
        assert "`/action accept 1` · `/action decline 1`" in dm.text
        # Slack buttons and Feishu card buttons come from these rows; each sends what the member could type
        buttons = [(b.label, b.value) for row in message_rows(dm.replies, "en", None) for b in row.buttons]
        assert buttons == [("Accept", "/action accept 1"), ("Decline", "/action decline 1")]
        # Not yet an action: not followed up, not in the digest
        assert "Pair with Bo" not in "\n".join(h.say("alice", "/me"))
        accepted = h.say("alice", "/action accept 1")[-1]
        assert accepted.startswith("Accepted: “Pair with Bo on the release” is now one of your development actions")
        assert "Alice accepted your suggestion “Pair with Bo on the release”" in h.fake.texts_for("maria")[-1]
        assert _actions(h, "alice")[0][3] == "open"
        h.say("maria", "/action suggest @alice Take over the on-call rota")
        declined = h.say("alice", "/action decline 2")[-1]
        assert declined.startswith("Declined — no problem.")
        assert "Alice decided not to take on “Take over the on-call rota” for now." in h.fake.texts_for("maria")[-1]
        assert [a[3] for a in _actions(h, "alice")] == ["open", "declined"]
        assert h.say("alice", "/action accept 2")[-1].startswith("#2 “Take over the on-call rota” isn't waiting")
        # Only to one's own direct reports; a report cannot suggest to their manager
        assert h.say("alice", "/action suggest @maria Delegate more")[-1] == (
            "You can suggest development actions only to people who report to you, and Maria doesn't."
        )
        assert h.say("bo", "/action accept 1")[-1].startswith("I can't find a development action #1 of yours.")
        h.run_until(_friday(4))
        listing, _ = _checkin(h, "alice", {"Pair with Bo on the release": "still going"})
        assert "“Pair with Bo on the release”" in listing and "on-call" not in listing
    finally:
        h.app.close()


def test_a_suggestion_in_chinese_is_declined_politely(tmp_path):
    h = _h(tmp_path)
    try:
        sent = h.say("maria", "/action suggest @陈晨 下周一前整理一份发布清单")[-1]
        assert sent.startswith("Sent to 陈晨: “整理一份发布清单” (due Mon 7 Dec 2026).")
        h.run_until(local("Asia/Shanghai", 2026, 12, 3, 9, 30))
        [message] = [m for r, m in h.fake.sent if r.address == "chen"]
        buttons = [(b.label, b.value) for row in message_rows(message.replies, "zh", None) for b in row.buttons]
        assert buttons == [("接受", "/action accept 1"), ("拒绝", "/action decline 1")]
        dm = message.text
        assert dm.startswith("Maria 给你建议了一条发展行动：\n“整理一份发布清单”（截止 2026年12月7日（周一））")
        assert h.say("chen", "/action decline 1")[-1].startswith("已婉拒，没关系。我会简单告诉 Maria")
        assert "decided not to take on" not in h.fake.texts_for("maria")[-1]  # 01:30 in London: it waits
        h.run_until(local(LONDON, 2026, 12, 3, 9, 30))
        assert "陈晨 decided not to take on “整理一份发布清单” for now." in h.fake.texts_for("maria")[-1]
    finally:
        h.app.close()


def test_an_action_is_overdue_only_after_its_due_date(tmp_path):
    h = _h(tmp_path)  # Wednesday 2 December
    try:
        added = h.say("alice", "/action add Practise a demo by Friday")[-1]
        assert added.startswith("Added #1: “Practise a demo”, due Fri 4 Dec 2026. I'll ask about it")
        h.say("alice", "/action add Read the SRE book")
        zh = h.say("chen", "/action add 练习一次演讲，截止 周五")[-1]
        assert zh.startswith("已添加 #3：“练习一次演讲”，截止 2026年12月4日（周五）。")
        h.run_until(local(LONDON, 2026, 12, 4, 17, 0))  # the due day itself: not late yet
        mine = h.say("alice", "/action")[-1]
        assert "#1 “Practise a demo” (opened 2 days ago, due Fri 4 Dec 2026)" in mine and "overdue" not in mine
        h.run_until(local(LONDON, 2026, 12, 5, 10, 0))
        mine = h.say("alice", "/action")[-1]
        assert "#1 “Practise a demo” (opened 3 days ago, due Fri 4 Dec 2026 — overdue)" in mine
        assert "#2 “Read the SRE book” (opened 3 days ago)" in mine  # no due date: never overdue
        assert "（3 天前定下，截止 2026年12月4日（周五），已逾期）" in h.say("chen", "/action")[-1]
        h.run_until(local(LONDON, 2026, 12, 7, 9, 30))
        digest = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
        assert "• “Practise a demo” (opened 4 days ago, due Fri 4 Dec 2026 — overdue)" in digest
        assert "• “Read the SRE book” (opened 4 days ago)" in digest
    finally:
        h.app.close()


def test_notes_closing_and_bad_input_get_polite_answers_in_both_languages(tmp_path):
    h = _h(tmp_path)
    try:
        h.say("alice", "/action add Practise a demo")
        assert h.say("alice", "/action note 1 Booked a slot on Friday  ")[-1].startswith("Note added to #1")
        assert "#1 “Practise a demo” (opened today)\n   ↳ Booked a slot on Friday" in h.say("alice", "/action")[-1]
        assert h.say("alice", "/action drop 1")[-1].startswith("Dropped “Practise a demo”.")
        assert h.say("alice", "/action done 1")[-1] == "#1 “Practise a demo” is already dropped."
        assert h.say("alice", "/action done 99")[-1].startswith("I can't find a development action #99 of yours.")
        assert h.say("bo", "/action note 1 sneaky")[-1].startswith("I can't find")  # someone else's: as if none
        assert h.say("alice", "/action add")[-1].startswith("What is the action?")
        assert h.say("alice", "/action add Ship it by 2020-01-01")[-1].startswith("That due date is not after today")
        assert h.say("alice", "/action done")[-1].startswith("Which action?")
        assert h.say("alice", "/action fly")[-1].startswith("I don't know `/action fly`.")
        assert h.say("chen", "/action 完成")[-1].startswith("是哪一条？")
        assert h.say("chen", "/行动")[-1].startswith("你还没有发展行动。")
        with transaction(h.app.sessions) as s:
            assert [n.text for n in s.exec(select(DevelopmentActionNote))] == ["Booked a slot on Friday"]
    finally:
        h.app.close()


def test_the_export_has_them_and_forget_removes_them_with_their_notes(tmp_path):
    h = _h(tmp_path)
    try:
        h.say("alice", "/action add Practise a demo by Friday")
        h.say("alice", "/action note 1 booked")
        h.say("maria", "/action suggest @alice Pair with Bo")
        with transaction(h.app.sessions) as s:
            alice = s.exec(select(Member).where(Member.handle == "alice")).one()
            data = export(s, alice, now=h.clock.now())
        assert [(a["text"], a["status"], a["due"]) for a in data["development_actions"]] == [
            ("Practise a demo", "open", date(2026, 12, 4).isoformat()),
            ("Pair with Bo", "proposed", None),
        ]
        assert data["development_actions"][0]["notes"][0]["text"] == "booked"
        with transaction(h.app.sessions) as s:
            forget(s, s.exec(select(Member).where(Member.handle == "alice")).one(), now=h.clock.now())
        assert _actions(h) == []
        with transaction(h.app.sessions) as s:
            assert list(s.exec(select(DevelopmentActionNote))) == []
            assert all("Pair with Bo" not in str(m.body) for m in s.exec(select(OutboxMessage)))
    finally:
        h.app.close()
