"""Feedback on request (`/feedback`, bot/feedback.py): a round trip with one colleague answering and one declining,
what the requester, their manager and a peer each see, and when the requester learns how many answered."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from bot.me import export, forget
from storage.db import transaction
from storage.models import Answer, ConversationRun, FeedbackRequest, Member
from tests.helpers import make_harness, utc

START = utc(2026, 11, 24, 14, 0)  # a Tuesday: working time in London and New York, evening in Shanghai


def _member(h, handle):
    with transaction(h.app.sessions) as s:
        return s.exec(select(Member).where(Member.handle == handle)).one()


def _texts(h, handle, since=0):
    return [m.text for r, m in h.fake.sent[since:] if r.address == handle]


def test_a_request_round_trip_with_a_decline_tells_nobody_who_declined(tmp_path):
    h = make_harness(tmp_path, start=START)
    try:
        out = h.say("alice", "/feedback ask @bo @chen about the checkout launch")
        assert "Asked Bo, 陈晨 for feedback on “the checkout launch” (request 1)" in out[0]
        bo_dm = _texts(h, "bo")
        assert "Alice would like your feedback on “the checkout launch”" in bo_dm[-1]
        assert "is not told who declined" in bo_dm[-1]
        assert _texts(h, "chen") == []  # 22:00 in Shanghai: the questions wait for chen's working time
        assert h.say("bo", "You explained the plan <!channel> clearly") == [
            "(2/3) Improvement: what could Alice do differently or better?"
        ]
        h.say("bo", "More demos to sales")
        assert "your feedback on “the checkout launch” is on its way" in h.say("bo", "Pair with QA earlier")[0]
        received = _texts(h, "alice")[-1]
        assert "New feedback on “the checkout launch” (request 1) — only you read this." in received
        assert "From Bo:" in received and "Strengths: You explained the plan <!channel> clearly" in received

        h.run_until(utc(2026, 11, 25, 2, 0))  # 10:00 in Shanghai
        assert "Alice 想听听你对“the checkout launch”的反馈" in _texts(h, "chen")[-1]
        h.say("chen", "做事很细")  # one answer, then a change of mind
        mark = len(h.fake.sent)
        assert "你婉拒了关于“the checkout launch”的反馈请求" in h.say("chen", "跳过")[0]
        h.app.tick()
        assert _texts(h, "alice", mark) == []  # a decline tells the requester nothing
        with transaction(h.app.sessions) as s:
            chen_run = s.exec(select(ConversationRun).where(ConversationRun.flow == "feedback")).all()[1]
            assert chen_run.status == "skipped"
            assert s.exec(select(Answer).where(Answer.run_id == chen_run.id)).all() == []  # nothing kept

        # Everyone has responded, but one declined: the request stays open until its due time, so the count
        # that comes then cannot say, by its timing, that someone said no.
        h.run_until(utc(2026, 11, 30, 13, 0))
        assert not any("has closed" in t for t in _texts(h, "alice", mark))
        h.run_until(utc(2026, 12, 1, 15, 0))
        closed = [t for t in _texts(h, "alice", mark) if "has closed" in t]
        assert closed == [
            "Your request for feedback on “the checkout launch” has closed: 1 of 2 answered. `/feedback` shows them "
            "all; `/feedback share 1` lets your manager read them."
        ]
        assert "陈晨" not in closed[0]

        # Only the requester reads it: not their manager, not a peer, not the one who declined.
        listed = h.say("alice", "/feedback")[0]
        assert "closed, 1 of 2 answered · only you read this" in listed and "Pair with QA earlier" in listed
        for other in ("maria", "bo", "chen"):
            seen = h.say(other, "/feedback")
            assert not any("Pair with QA" in t or "“the checkout launch”" in t for t in seen), (other, seen)
        mark = len(h.fake.sent)
        assert h.say("alice", "/feedback share 1") == [
            "Shared: Maria can now read the feedback on “the checkout launch”, with the givers' names, and what "
            "comes in later."
        ]
        h.run_until(h.clock.now() + timedelta(hours=1))
        shared = _texts(h, "maria", mark)
        assert len(shared) == 1 and "Alice shared with you the feedback" in shared[0] and "From Bo:" in shared[0]
        assert "Pair with QA earlier" in h.say("maria", "/feedback")[0]
        assert not any("Pair with QA" in t for t in h.say("bo", "/feedback"))  # still not a peer
        assert "already shared" in h.say("alice", "/feedback share 1")[0]
    finally:
        h.app.close()


def test_a_request_everyone_answered_closes_at_once(tmp_path):
    h = make_harness(tmp_path, start=START)
    try:
        h.say("maria", "/feedback ask @alice about running the offsite")
        for text in ("calm chairing", "shorter agenda", "send notes the same day"):
            h.say("alice", text)
        assert any("has closed: 1 of 1 answered" in t for t in _texts(h, "maria"))
        with transaction(h.app.sessions) as s:
            assert s.exec(select(FeedbackRequest)).one().status == "closed"
    finally:
        h.app.close()


def test_bad_requests_get_a_polite_answer_in_the_members_language(tmp_path):
    h = make_harness(tmp_path, start=START)
    try:
        assert "at most three colleagues" in h.say("alice", "/feedback ask @bo @chen @maria @alice about x")[0]
        assert "can't ask yourself" in h.say("alice", "/feedback ask @alice about x")[0]
        assert "don't know @nobody" in h.say("alice", "/feedback ask @nobody about x")[0]
        assert "/feedback ask @alice @bo about" in h.say("alice", "/feedback ask @bo")[0]
        assert "/feedback share 3" in h.say("alice", "/feedback share")[0]
        assert "no request for feedback numbered 9" in h.say("alice", "/feedback share 9")[0]
        assert "一次最多请三位同事" in h.say("chen", "/反馈 请求 @bo @alice @maria @chen 关于 上线")[0]
        assert "你还没有请同事给过反馈" in h.say("chen", "/反馈")[0]
        with transaction(h.app.sessions) as s:
            assert s.exec(select(FeedbackRequest)).all() == []
    finally:
        h.app.close()


def test_export_and_forget_cover_requests_and_the_answers_given(tmp_path):
    h = make_harness(tmp_path, start=START)
    try:
        h.say("alice", "/feedback ask @bo about the launch")
        for text in ("clear plan", "more demos", "pair with QA"):
            h.say("bo", text)
        with transaction(h.app.sessions) as s:
            alice, bo = (s.exec(select(Member).where(Member.handle == x)).one() for x in ("alice", "bo"))
            mine = export(s, alice, now=h.clock.now())["feedback_requested"]
            assert mine[0]["topic"] == "the launch" and mine[0]["answers"][0]["strengths"] == "clear plan"
            assert mine[0]["answers"][0]["giver"] == "bo"
            given = json.dumps(export(s, bo, now=h.clock.now())["conversations"])
            assert "clear plan" in given  # the giver's own words are in the giver's export
            assert export(s, bo, now=h.clock.now())["feedback_requested"] == []
            counts = forget(s, alice, now=h.clock.now())
            assert counts["feedback_requests"] == 1
        with transaction(h.app.sessions) as s:
            assert s.exec(select(FeedbackRequest)).all() == []
            assert s.exec(select(ConversationRun).where(ConversationRun.flow == "feedback")).all() == []
            assert not any(a.value == "clear plan" for a in s.exec(select(Answer)))
    finally:
        h.app.close()


def test_slack_and_feishu_offer_no_thanks_a_form_and_accept_decline_buttons():
    """What both platforms show (bot/platforms/common.py): a feedback question's buttons decline with "No thanks"
    (sending `skip`, as typed), the first question offers the whole request as a form, and a 1:1 proposal has
    Accept / Decline sending the commands the message names."""
    from bot.platforms.common import message_rows
    from conversations.feedback import FEEDBACK
    from conversations.machine import Reply, RunState, Status, ask

    run = RunState(Status.PROMPTED, "strengths", ("strengths", "improvement", "next_steps"), {}, START, "UTC")
    question = ask(FEEDBACK, run, "strengths", {}, lead="intro")
    for locale, label in (("en", "No thanks"), ("zh", "不用了")):
        (row,) = message_rows([question], locale, run_id=7)
        assert [(b.label, b.value) for b in row.buttons if b.value == "skip"] == [(label, "skip")]
        assert any(b.value == "form:7" for b in row.buttons)
    (proposal,) = message_rows([Reply("oneonone/proposal", {"id": 3})], "zh", run_id=None)
    assert [(b.label, b.value) for b in proposal.buttons] == [("接受", "/1on1 accept 3"), ("拒绝", "/1on1 decline 3")]
