"""1:1s with a shared agenda (`/1on1`, bot/oneonone.py): a weekly cadence between a manager in London and a report in
Shanghai across the New Year holidays of both countries, agendas in each person's working time and language, items
carried over until ticked, notes shared or private, action items as development actions, and pauses."""

from __future__ import annotations

import re

from sqlmodel import select

from bot.me import export, forget
from conversations.calendar import is_working_time
from storage.db import transaction
from storage.models import DevelopmentAction, Member, OneOnOne, OneOnOneItem
from tests.helpers import make_harness, utc

ORG = {
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London", "country": "GB"},
        {"handle": "alice", "name": "Alice Martin", "manager": "maria", "timezone": "Europe/London", "country": "GB"},
        {
            "handle": "chen",
            "name": "陈晨",
            "manager": "maria",
            "timezone": "Asia/Shanghai",
            "locale": "zh",
            "country": "CN",
        },
    ]
}
START = utc(2025, 12, 29, 10, 0)  # Monday; Thursday 1 January is a public holiday in both countries


def _agendas(h, handle, since=0):
    return [
        (m.text, at)
        for (r, m), at in list(zip(h.fake.sent, h.fake.sent_at, strict=True))[since:]
        if r.address == handle and m.kind == "oneonone_agenda"
    ]


def _member(h, handle):
    with transaction(h.app.sessions) as s:
        return s.exec(select(Member).where(Member.handle == handle)).one()


def test_a_weekly_one_on_one_across_holidays_and_time_zones_carries_items_until_ticked(tmp_path):
    h = make_harness(tmp_path, start=START, config=ORG)
    try:
        proposed = h.say("maria", "/1on1 propose weekly thu 10:00 @chen")
        assert proposed[0].startswith("Suggested to 陈晨: a 1:1 every Thursday, starting Thu 1 Jan, 10:00")
        assert not [m for r, m in h.fake.sent if r.address == "chen"]  # 18:00 in Shanghai: after working hours
        h.run_until(utc(2025, 12, 30, 1, 0))  # 09:00 on Tuesday in Shanghai
        proposal = [m for r, m in h.fake.sent if r.address == "chen" and m.kind == "oneonone_proposed"]
        assert proposal and "Maria 提议和你定期一对一：每周四，第一次在1月1日（周四）18:00" in proposal[0].text
        assert "/1on1 accept 1" in proposal[0].text
        assert "每周四" in h.say("chen", "/一对一 接受")[0]
        h.say("chen", "/一对一 添加 值班安排")  # item 1
        h.say("maria", "/1on1 add @chen the Q1 goals")  # item 2
        with transaction(h.app.sessions) as s:
            pair = s.exec(select(OneOnOne)).one()
            assert (pair.status, pair.timezone, pair.next_at) == ("active", "Europe/London", utc(2026, 1, 1, 10))

        # 1 January is a holiday in both countries, 2 January still one in China: the 1:1 moves to Monday 5
        # January, same time, and both agendas say so — each in its own time zone and language.
        h.run_until(utc(2026, 1, 5, 12, 0))
        accepted = [
            (m.text, at)
            for (r, m), at in zip(h.fake.sent, h.fake.sent_at, strict=True)
            if r.address == "maria" and m.kind == "oneonone_accepted"
        ]
        assert accepted[0][0].startswith("✅ 陈晨 accepted: your 1:1 is every Thursday")
        assert accepted[0][1] == utc(2025, 12, 30, 9, 0)  # told at the start of Maria's working day
        ((maria_agenda, maria_at),) = _agendas(h, "maria")
        ((chen_agenda, chen_at),) = _agendas(h, "chen")
        assert maria_agenda.startswith(
            "🗓️ Your 1:1 with 陈晨: Mon 5 Jan, 10:00 — moved from Thu 1 Jan, 10:00, a holiday or day off for one of you."
        )
        assert chen_agenda.startswith("🗓️ 你和 Maria 的一对一：1月5日（周一）18:00（原定1月1日（周四）18:00")
        assert "1. 值班安排（陈晨）" in chen_agenda and "2. the Q1 goals（Maria）" in chen_agenda
        assert "Added since last time:\n1. 值班安排 (陈晨)\n2. the Q1 goals (Maria)" in maria_agenda
        # Sent a day ahead, each in their own working time: Sunday 4 January is a working day in China.
        maria, chen = _member(h, "maria"), _member(h, "chen")
        assert utc(2026, 1, 4, 10) <= maria_at < utc(2026, 1, 5, 10) and is_working_time(
            h.app.calendars.of(maria), maria.timezone, maria_at
        )
        assert utc(2026, 1, 4, 0) <= chen_at < utc(2026, 1, 5, 10) and is_working_time(
            h.app.calendars.of(chen), chen.timezone, chen_at
        )

        # After it: one item ticked, notes shared and private, an action item, a new topic.
        assert "已勾掉 ✅ 第 1 项" in h.say("chen", "/一对一 完成 1")[0]
        assert "already ticked" in h.say("maria", "/1on1 done 1")[0]
        h.say("maria", "/1on1 note @chen agreed to split the rota")
        h.say("maria", "/1on1 note private @chen seemed tired")
        h.say("chen", "/1on1 note private 想问问晋升")
        assert "同时已记为一项成长行动" in h.say("chen", "/1on1 action 写值班手册")[0]  # item 6
        h.say("maria", "/1on1 add @chen the offsite")  # item 7

        mark = len(h.fake.sent)
        h.run_until(utc(2026, 1, 8, 12, 0))
        ((maria_agenda, _),) = _agendas(h, "maria", mark)
        assert maria_agenda.startswith("🗓️ Your 1:1 with 陈晨: Thu 8 Jan, 10:00.\n")
        assert "moved" not in maria_agenda
        assert "Still open from before:\n2. the Q1 goals (Maria)\n" in maria_agenda
        assert "Added since last time:\n6. ✅ Action: 写值班手册 (陈晨)\n7. the offsite (Maria)" in maria_agenda
        assert "值班安排" not in maria_agenda.replace("写值班手册", "")  # ticked: gone
        assert "tired" not in maria_agenda and "晋升" not in maria_agenda  # notes are not agenda items

        # Notes: shared ones for both, a private one only for its writer.
        maria_view, chen_view = h.say("maria", "/1on1")[0], h.say("chen", "/1on1")[0]
        assert "agreed to split the rota" in maria_view and "agreed to split the rota" in chen_view
        assert "seemed tired" in maria_view and "seemed tired" not in chen_view
        assert "想问问晋升" in chen_view and "想问问晋升" not in maria_view

        # Ticking the action item closes the development action too; the carried topic stays until ticked.
        h.say("maria", "/1on1 done 6")
        with transaction(h.app.sessions) as s:
            action = s.exec(select(DevelopmentAction).where(DevelopmentAction.source == "one_on_one")).one()
            assert (action.owner_id, action.text, action.status) == (chen.id, "写值班手册", "done")
        mark = len(h.fake.sent)
        h.run_until(utc(2026, 1, 15, 12, 0))
        ((chen_agenda, _),) = _agendas(h, "chen", mark)
        assert "之前还没完成的：\n2. the Q1 goals（Maria）\n7. the offsite（Maria）" in chen_agenda
        assert "写值班手册" not in chen_agenda

        # A paused report gets no agenda; the manager still does.
        h.say("chen", "/pause 2026-01-30")
        mark = len(h.fake.sent)
        h.run_until(utc(2026, 1, 22, 12, 0))
        assert _agendas(h, "chen", mark) == []
        assert len(_agendas(h, "maria", mark)) == 1
    finally:
        h.app.close()


def test_a_one_on_one_with_no_day_for_both_before_the_next_is_skipped_and_items_carry_over(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 9, 28, 9, 0), config=ORG)  # China's National Day week follows
    try:
        h.say("chen", "/一对一 提议 每周 周四 10点")  # 10:00 in Shanghai (03:00 in London, the day-level check)
        h.say("maria", "/1on1 accept")
        h.say("maria", "/1on1 add @chen budget")
        h.run_until(utc(2026, 10, 1, 1, 0))
        shown = h.say("chen", "/一对一")[0]
        assert "下次在10月8日（周四）10:00（10月1日（周四）10:00那次因假期或休息取消）" in shown
        h.run_until(utc(2026, 10, 9, 12, 0))
        chen_texts = [m.text for r, m in h.fake.sent if r.address == "chen" and m.kind == "oneonone_agenda"]
        assert any(t.startswith("这次没有一对一：原定10月1日（周四）10:00") for t in chen_texts), chen_texts
        assert any("1. budget（Maria）" in t and "10月8日（周四）10:00" in t for t in chen_texts)
    finally:
        h.app.close()


def test_proposals_commands_and_bad_input(tmp_path):
    h = make_harness(tmp_path, start=START, config=ORG)
    try:
        assert "With whom?" in h.say("maria", "/1on1 propose weekly mon 10:00")[0]
        assert "didn't get the cadence" in h.say("alice", "/1on1 propose sometimes mon 10:00")[0]
        assert "didn't get the cadence" in h.say("alice", "/1on1 propose weekly funday 10:00")[0]
        assert "neither your manager nor reports to you" in h.say("alice", "/1on1 propose weekly mon 10:00 @chen")[0]
        assert "no regular 1:1" in h.say("alice", "/1on1 add the rota")[0]
        assert "no 1:1 proposal waiting" in h.say("maria", "/1on1 accept")[0]
        h.say("alice", "/1on1 propose monthly fri 15:00")
        assert "no 1:1 proposal waiting" in h.say("alice", "/1on1 accept")[0]  # not one's own
        decline = h.say("maria", "/1on1 decline")
        assert decline == ["Declined — Alice has been told."]
        assert any("would rather not" in m.text for r, m in h.fake.sent if r.address == "alice")
        h.say("alice", "/1on1 propose monthly fri 15:00")
        accepted = h.say("maria", "/1on1 accept 2")[0]
        assert "on the first Friday of each month, the first on Fri 2 Jan, 15:00" in accepted
        assert "Which item?" in h.say("alice", "/1on1 done")[0]
        assert "no open agenda item 99" in h.say("alice", "/1on1 done 99")[0]
        h.say("chen", "/一对一 提议 每两周 周二 9点半")
        h.say("maria", "/1on1 accept")
        assert "which one?" in h.say("maria", "/1on1 add the rota")[0]
        assert re.search(r"Added as item \d+", h.say("maria", "/1on1 add @alice the rota")[0])
        assert "每两周的周二" in h.say("chen", "/一对一")[0]
        assert "不会再发议程" in h.say("chen", "/一对一 停止")[0]
        with transaction(h.app.sessions) as s:
            statuses = sorted(p.status for p in s.exec(select(OneOnOne)))
            assert statuses == ["active", "declined", "stopped"]
    finally:
        h.app.close()


def test_export_and_forget_cover_cadences_items_and_notes(tmp_path):
    h = make_harness(tmp_path, start=START, config=ORG)
    try:
        h.say("alice", "/1on1 propose weekly wed 11:00")
        h.say("maria", "/1on1 accept")
        h.say("alice", "/1on1 add career path")
        h.say("alice", "/1on1 note private nervous about it")
        h.say("maria", "/1on1 note private ask about the move")
        with transaction(h.app.sessions) as s:
            alice = s.exec(select(Member).where(Member.handle == "alice")).one()
            mine = export(s, alice, now=h.clock.now())["one_on_ones"]
            texts = [i["text"] for i in mine[0]["items"]]
            assert mine[0]["cadence"] == "weekly" and mine[0]["time"] == "11:00"
            assert texts == ["career path", "nervous about it"]  # never the manager's private note
            assert forget(s, alice, now=h.clock.now())["one_on_ones"] == 1
        with transaction(h.app.sessions) as s:
            assert s.exec(select(OneOnOne)).all() == [] and s.exec(select(OneOnOneItem)).all() == []
    finally:
        h.app.close()
