"""Upward feedback (issue 16, part 2): the monthly review's optional question about the manager. The manager sees the
answers only as a set without names, only once the month's review has closed for everyone, and only when at least
`feedback.upward_min` reports answered — below that nothing, not even a count. Nothing links a text to its author:
not the run's answers, not the outbox, not the logs, not the table the text is in."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from sqlmodel import select

from bot.me import export, forget
from storage.db import transaction
from storage.models import Answer, Member, OutboxMessage, UpwardFeedback, UpwardRespondent
from tests.helpers import local, make_harness

TEAM = ("alice", "bo", "dan", "chen")
ORG = {
    "feedback": {"upward_min": 3},
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice Martin", "manager": "maria", "timezone": "Europe/London"},
        {"handle": "bo", "name": "Bo Li", "manager": "maria", "timezone": "America/New_York"},
        {"handle": "dan", "name": "Dan Brown", "manager": "maria", "timezone": "Europe/London"},
        {"handle": "chen", "name": "陈晨", "manager": "maria", "timezone": "Asia/Shanghai", "locale": "zh"},
    ],
}
TEXTS = {
    "alice": "Keep the Friday demos; share the roadmap earlier",
    "bo": "Keep shielding us from meetings, please explain decisions more",
    "dan": "Keep the 1:1s; less context switching would help",
    "chen": "保持每周的一对一；希望更早告诉我们优先级的变化",
}
REVIEWS_CLOSED = local("America/New_York", 2026, 12, 8, 10, 1)  # the last review of December (New York) has closed
CLOSED = local("Etc/GMT+12", 2027, 1, 1, 0, 1)  # ... and December is over everywhere
NEXT_DIGEST = local("Europe/London", 2027, 1, 4, 9, 30)  # the first Monday digest after that


def _review(h, handle, upward):
    """This month's review, answered to the end; `upward` is the answer to the last question (or `skip`)."""
    h.say(handle, "/review")
    h.say(handle, "none")  # biggest obstacle
    h.say(handle, "none")  # support
    h.say(handle, "public speaking")  # growth
    return h.say(handle, upward)


def _harness(tmp_path):
    return make_harness(tmp_path, start=local("Europe/London", 2026, 12, 1, 10, 30), config=ORG)


def _everything_sent_to(h, handle):
    return "\n".join(m.text for r, m in h.fake.sent if r.address == handle)


def test_members_are_told_exactly_who_sees_what_before_answering(tmp_path):
    h = _harness(tmp_path)
    try:
        h.say("alice", "/review")
        h.say("alice", "none")
        h.say("alice", "none")
        asked = h.say("alice", "public speaking")[-1]
        assert "what should Maria keep doing, and what could they do differently?" in asked
        assert "only all together, without names" in asked and "at least 3 of the team answered" in asked
        assert "nothing is shown, not even how many answered" in asked
        h.say("chen", "/review")
        h.say("chen", "无")
        h.say("chen", "无")
        zh = h.say("chen", "公开演讲")[-1]
        assert "不署名汇总" in zh and "至少要有 3 位同事回答" in zh and "连有几个人回答也不显示" in zh
    finally:
        h.app.close()


def test_below_k_nothing_is_shown_not_even_a_count(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    h = _harness(tmp_path)
    try:
        for who in ("alice", "bo"):
            done = _review(h, who, TEXTS[who])[-1]
            assert "Feedback for your manager: sent without your name" in done
        _review(h, "dan", "skip")
        _review(h, "chen", "无")  # says nothing: not counted, nothing stored
        h.run_until(CLOSED)
        nothing = h.say("maria", "/upward")[0]
        assert "There is no upward feedback to show you" in nothing
        h.run_until(NEXT_DIGEST)
        to_maria = _everything_sent_to(h, "maria")
        assert "Upward feedback" not in to_maria and "roadmap" not in to_maria and "2 of" not in to_maria
        with transaction(h.app.sessions) as s:
            assert s.exec(select(sa.func.count()).select_from(UpwardRespondent)).one() == 2
            assert sorted(f.text for f in s.exec(select(UpwardFeedback))) == sorted([TEXTS["alice"], TEXTS["bo"]])
        _assert_unlinkable(h, caplog)
    finally:
        h.app.close()


def test_at_k_the_set_is_shown_without_names_after_the_month_closed_and_the_answer_reaches_everyone_asked(
    tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    h = _harness(tmp_path)
    try:
        for who in ("alice", "bo", "chen"):
            _review(h, who, TEXTS[who])
        _review(h, "dan", "skip")
        # An answer once given cannot be changed or taken back through the run: nothing links it to the run.
        h.say("bo", "edit 4")
        assert "can no longer be changed or taken back" in h.say("bo", "Actually, all is fine")[0]
        assert "There is no upward feedback" in h.say("maria", "/upward")[0]  # not before the month closed
        h.run_until(REVIEWS_CLOSED)
        assert "There is no upward feedback" in h.say("maria", "/upward")[0]  # nor before December is over
        h.run_until(CLOSED)
        shown = h.say("maria", "/upward")[0]
        for who in ("alice", "bo", "chen"):
            assert TEXTS[who] in shown
        for name in ("Alice", "Bo", "陈晨", "Dan"):
            assert name not in shown
        h.run_until(NEXT_DIGEST)
        digest = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
        assert "Upward feedback from your team (2026-12)" in digest and TEXTS["bo"] in digest
        sent = h.say("maria", "/upward answer Thank you all — I'll share the roadmap at the start of each month")[0]
        assert "Sent to the 4 people who were asked" in sent
        h.run_until(local("America/New_York", 2027, 1, 4, 9, 30))  # in everyone's working hours
        for who in TEAM:  # everyone who was asked, whether they answered or not
            assert "share the roadmap at the start of each month" in _everything_sent_to(h, who)
        assert "回应了团队的向上反馈" in _everything_sent_to(h, "chen")
        with transaction(h.app.sessions) as s:
            maria = s.exec(select(Member).where(Member.handle == "maria")).one()
            assert [a["text"] for a in export(s, maria)["upward_answers_written"]] == [
                "Thank you all — I'll share the roadmap at the start of each month"
            ]
            alice = s.exec(select(Member).where(Member.handle == "alice")).one()
            mine = export(s, alice)
            assert mine["upward_feedback_given"] == [{"to": "maria", "period": "2026-12", "text": None}]
            assert TEXTS["alice"] not in str(mine)
            # forgetting Alice: the record that she answered goes; her text stays (nothing links it to her)
            assert forget(s, alice)["upward_given"] == 1
        with transaction(h.app.sessions) as s:
            assert TEXTS["alice"] in [f.text for f in s.exec(select(UpwardFeedback))]
        _assert_unlinkable(h, caplog)
    finally:
        h.app.close()


@pytest.mark.parametrize("leaves_after_answering", [True, False])
def test_a_report_who_leaves_mid_period(tmp_path, leaves_after_answering):
    """Decision (README): an answer given before leaving counts — it was given while a report, and the group it is
    hidden in does not change when someone leaves. Someone who leaves before answering is simply not counted."""
    h = _harness(tmp_path)
    try:
        _review(h, "alice", TEXTS["alice"])
        _review(h, "chen", TEXTS["chen"])
        if leaves_after_answering:
            _review(h, "bo", TEXTS["bo"])
        h.set_member("bo", active=False)  # left the company (taken off the org file)
        h.run_until(CLOSED)
        shown = h.say("maria", "/upward")[0]
        if leaves_after_answering:
            assert TEXTS["bo"] in shown and TEXTS["alice"] in shown
        else:
            assert "There is no upward feedback" in shown and TEXTS["alice"] not in shown
    finally:
        h.app.close()


def test_a_manager_sees_only_their_own_and_the_manager_s_manager_sees_nothing(tmp_path):
    org = {
        **ORG,
        "digest": {"skip_level": True},
        "members": [{"handle": "vp", "name": "Vera Park", "timezone": "Europe/London"}]
        + [dict(m, manager="vp") if m["handle"] == "maria" else m for m in ORG["members"]],
    }
    h = make_harness(tmp_path, start=local("Europe/London", 2026, 12, 1, 10, 30), config=org)
    try:
        for who in ("alice", "bo", "chen"):
            _review(h, who, TEXTS[who])
        h.run_until(CLOSED)
        assert TEXTS["alice"] in h.say("maria", "/upward")[0]
        for other in ("vp", "alice", "dan"):
            out = "\n".join(h.say(other, "/upward"))
            assert TEXTS["alice"] not in out and "roadmap" not in out
        h.run_until(NEXT_DIGEST)
        assert "roadmap" not in _everything_sent_to(h, "vp")
    finally:
        h.app.close()


def _assert_unlinkable(h, caplog):
    """No path from a text to its author: the run keeps only "given", no log line holds the text, a message holding
    it went to the manager alone (the set), and the text's table has no member, no time and no insertion order."""
    with transaction(h.app.sessions) as s:
        texts = [f.text for f in s.exec(select(UpwardFeedback))]
        assert texts
        assert {a.value for a in s.exec(select(Answer).where(Answer.step == "upward"))} <= {"given", None}
        maria = s.exec(select(Member).where(Member.handle == "maria")).one()
        for message in s.exec(select(OutboxMessage)):
            if any(text in str(message.body) for text in texts):
                assert message.member_id == maria.id and message.run_id is None, message
        assert {c.name for c in UpwardFeedback.__table__.columns} == {"id", "manager_id", "period", "text"}
    for text in texts:
        assert text not in caplog.text
    with h.app.engine.connect() as conn:  # SQLite: no rowid to order the texts by
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'upward_feedback'").scalar()
        assert "WITHOUT ROWID" in sql


def test_the_form_of_a_review_leaves_out_feedback_already_given_and_can_still_be_saved(tmp_path):
    from bot.platforms.common import build_form

    h = _harness(tmp_path)
    try:
        _review(h, "alice", TEXTS["alice"])
        run = next(r for r in h.runs("alice") if r.flow == "monthly_review")
        form = build_form(h.app, platform="console", user="alice", run_id=run.id)
        assert form is not None and [f.step for f in form.fields] == ["biggest_obstacle", "support", "growth"]
        values = {f.step: f.current or "" for f in form.fields} | {"growth": "negotiation"}
        assert h.app.submit_form(platform="console", user="alice", run_id=run.id, values=values, dedup_key="f1") == {}
        assert h.answers(run.id)["growth"] == ["negotiation"] and h.answers(run.id)["upward"] == "given"
        with transaction(h.app.sessions) as s:
            assert [f.text for f in s.exec(select(UpwardFeedback))] == [TEXTS["alice"]]
    finally:
        h.app.close()
