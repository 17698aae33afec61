"""Replies (issue 16, part 1) on the console: a manager replies from the digest, the member answers back, only the
two of them ever see it, the numbers cannot reach anyone else's answers, and a specific thank-you counts toward the
digest's thanks nudge."""

from __future__ import annotations

from sqlmodel import select

from bot.me import export, forget
from conversations.replies import is_specific_thanks, parse_reply
from storage.db import transaction
from storage.models import AnswerReply, Member, ReplyRef
from tests.helpers import local, make_harness

ORG = {
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice Martin", "manager": "maria", "timezone": "Europe/London"},
        {"handle": "bo", "name": "Bo Li", "manager": "maria", "timezone": "Europe/London"},
        {"handle": "chen", "name": "陈晨", "manager": "maria", "timezone": "Asia/Shanghai", "locale": "zh"},
        {"handle": "olga", "name": "Olga Ivanova", "timezone": "Europe/London"},
        {"handle": "pat", "name": "Pat Kim", "manager": "olga", "timezone": "Europe/London"},
    ]
}


def _check_in(h, handle, wins, blockers="none", plans="Finish the API", needs="none"):
    for text in ("/checkin", "4", wins, blockers, plans, needs):
        h.say(handle, text)


def _digest(h, handle):
    return "\n".join(m.text for r, m in h.fake.sent if r.address == handle and m.kind == "digest")


def _harness(tmp_path):
    h = make_harness(tmp_path, start=local("Europe/London", 2026, 11, 27, 15, 0), config=ORG)
    _check_in(h, "alice", "Shipped the onboarding flow", "no staging access")
    _check_in(h, "chen", "上线了新的支付流程")
    _check_in(h, "pat", "Closed the audit")
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 5))  # Monday's digests
    return h


def _ref(h, manager, target_text):
    """The number in `manager`'s digest shown after `target_text`."""
    digest = _digest(h, manager)
    line = next(line for line in digest.splitlines() if target_text in line)
    return int(line.rsplit("[", 1)[1].rstrip("]"))


def test_a_reply_round_trip_on_the_console_and_only_the_two_see_it(tmp_path):
    h = _harness(tmp_path)
    try:
        n = _ref(h, "maria", "Shipped the onboarding flow")
        sent = h.say("maria", f"/reply {n} Thanks for shipping onboarding, it cut our support tickets")
        assert sent and "Sent to Alice, privately" in sent[0] and "Shipped the onboarding flow" in sent[0]
        got = [m.text for r, m in h.fake.sent if r.address == "alice"][-1]
        assert "Maria replied about your answer “wins”" in got
        assert "“Thanks for shipping onboarding, it cut our support tickets”" in got
        back = int(got.split("/reply ")[1].split(" ")[0])
        h.say("alice", f"/reply {back} Glad it helped! Staging access would speed up the next one")
        to_maria = [m.text for r, m in h.fake.sent if r.address == "maria"][-1]
        assert "Alice answered your reply" in to_maria and "Staging access would speed up" in to_maria
        again = int(to_maria.split("/reply ")[1].split(" ")[0])
        h.say("maria", f"/reply {again} I'll ask IT today")
        assert "I'll ask IT today" in [m.text for r, m in h.fake.sent if r.address == "alice"][-1]

        # Shown next to the answer in /me and in the next digest — to the two of them, never to anyone else.
        me = "\n".join(h.say("alice", "/me"))
        assert "Replies (only the two of you see them)" in me and "I'll ask IT today" in me
        h.run_until(local("Europe/London", 2026, 12, 7, 9, 5))
        assert "Glad it helped!" in _digest(h, "maria")
        for other in ("bo", "chen", "olga", "pat"):
            everything = "\n".join(m.text for r, m in h.fake.sent if r.address == other)
            assert "Glad it helped" not in everything and "ask IT" not in everything
            assert "Staging access would" not in "\n".join(h.say(other, "/me"))
        with transaction(h.app.sessions) as s:
            rows = list(s.exec(select(AnswerReply).order_by(AnswerReply.id)))
            assert [(r.author_id, r.recipient_id) for r in rows] == [(1, 2), (2, 1), (1, 2)]
            assert rows[0].text == "Thanks for shipping onboarding, it cut our support tickets"  # as typed
            assert rows[1].in_reply_to == rows[0].id and rows[0].thanks and not rows[1].thanks
    finally:
        h.app.close()


def test_numbers_are_each_readers_own_and_cannot_reach_someone_elses_answers(tmp_path):
    h = _harness(tmp_path)
    try:
        n = _ref(h, "maria", "Shipped the onboarding flow")
        # Olga's own numbers name her report's items; Maria's number means nothing to her, nor to a peer or Alice.
        olga_n = _ref(h, "olga", "Closed the audit")
        m = _ref(h, "maria", "no staging access")
        assert m != olga_n  # (Olga has numbers of her own: her 1 is Pat's wins)
        for who, number in (("olga", m), ("bo", n), ("chen", n), ("bo", m)):
            out = h.say(who, f"/reply {number} let me in")
            assert out and ("nothing numbered" in out[0] or "没有你可以回复" in out[0]), out
        assert "nothing numbered" in h.say("maria", "/reply 999 hello")[0]
        assert "Sent to Pat" in h.say("olga", f"/reply {olga_n} Well done on the audit, that was a lot of work")[0]
        assert "type the item's number" in h.say("maria", "/reply hello")[0]
        assert "type the item's number" in h.say("maria", f"/reply {n}")[0]
        # Someone who no longer reports to Maria cannot be replied to through an old number.
        h.set_member("alice", manager_id=5)
        assert "nothing numbered" in h.say("maria", f"/reply {n} still there?")[0]
        with transaction(h.app.sessions) as s:
            assert [r.author_id for r in s.exec(select(AnswerReply))] == [5]
    finally:
        h.app.close()


def test_in_chinese_and_thanks_count_toward_the_nudge(tmp_path):
    h = _harness(tmp_path)
    try:
        digest = _digest(h, "maria")
        assert "You gave 0 kudos last week" in digest
        n = _ref(h, "maria", "上线了新的支付流程")
        h.say("maria", f"/reply {n} 谢谢你把支付流程顺利上线，客户反馈很好")
        got = [m.text for r, m in h.fake.sent if r.address == "chen"][-1]
        assert "Maria回复了你的" in got and "“亮点”回答" in got and "只有你们两个人能看到" in got
        back = int(got.split("/reply ")[1].split(" ")[0])
        h.say("chen", f"/回复 {back} 谢谢！")
        assert "陈晨 answered your reply" in [m.text for r, m in h.fake.sent if r.address == "maria"][-1]
        a = _ref(h, "maria", "Shipped the onboarding flow")
        h.say("maria", f"/reply {a} Thanks — the onboarding flow is already helping new customers")
        h.say("maria", f"/reply {a} Thanks!")  # kind, not specific: does not count
        h.run_until(local("Europe/London", 2026, 12, 7, 9, 5))
        latest = [m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest"][-1]
        assert "You sent 0 kudos and 2 specific thank-yous in replies last week" in "\n".join(
            m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest"
        ), latest
        assert "谢谢你把支付流程顺利上线" in "\n".join(h.say("chen", "/me"))
    finally:
        h.app.close()


def test_export_and_forget_cover_replies(tmp_path):
    h = _harness(tmp_path)
    try:
        n = _ref(h, "maria", "Shipped the onboarding flow")
        h.say("maria", f"/reply {n} Thanks for shipping onboarding, it cut our support tickets")
        with transaction(h.app.sessions) as s:
            alice = s.exec(select(Member).where(Member.handle == "alice")).one()
            data = export(s, alice)
            assert [r["text"] for r in data["replies"]] == [
                "Thanks for shipping onboarding, it cut our support tickets"
            ]
            assert data["replies"][0]["from"] == "maria" and data["replies"][0]["to"] == "alice"
            counts = forget(s, alice)
            assert counts["replies"] == 1
        with transaction(h.app.sessions) as s:
            assert list(s.exec(select(AnswerReply))) == []
            assert {r.target.split(":")[0] for r in s.exec(select(ReplyRef)) if r.member_id == 1} == {
                "answer"
            }  # Chen's
            assert all(r.member_id != 2 for r in s.exec(select(ReplyRef)))
        assert "nothing numbered" in h.say("maria", f"/reply {n} hello?")[0]
    finally:
        h.app.close()


def test_reading_the_command_and_what_counts_as_specific_thanks():
    assert parse_reply("3 great", "3 great") is not None
    assert parse_reply("３ 好的", "３ 好的").number == 3
    assert parse_reply("#3 a  <b>", "#3 a  <b>").text == "a  <b>"
    assert parse_reply("x y", "x y") is None and parse_reply("3", "3") is None
    assert is_specific_thanks("Thanks for untangling the release notes")
    assert is_specific_thanks("谢谢你把支付流程顺利上线")
    assert not is_specific_thanks("Thanks!") and not is_specific_thanks("谢谢！")
    assert not is_specific_thanks("Can we talk about the release tomorrow?")
