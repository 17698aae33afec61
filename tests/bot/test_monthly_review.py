"""The monthly review as a new user meets it: without a manager, unsure how to answer the support question,
asking for it after this month's has closed, and reading the summary."""

from __future__ import annotations

import logging

from sqlmodel import select

from storage.db import transaction
from storage.models import OutboxMessage
from tests.helpers import DEMO, local, make_harness

ORG = {
    **DEMO,
    "admins": ["root"],
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice Martin", "timezone": "Europe/London"},
        {"handle": "chen", "name": "陈晨", "manager": "maria", "timezone": "Asia/Shanghai", "locale": "zh"},
        {"handle": "root", "name": "Ada Admin", "timezone": "Europe/London"},
    ],
}


def _harness(tmp_path, *, day=2, hour=10):
    return make_harness(tmp_path, start=local("Europe/London", 2026, 12, day, hour, 0), config=ORG)


def test_someone_without_a_manager_finishes_the_review_and_gets_the_summary(tmp_path):
    h = _harness(tmp_path)
    try:
        h.say("maria", "/review")
        h.say("maria", "none")
        texts = h.say("maria", "coaching")
        assert len(texts) == 1 and "monthly review done ✅" in texts[0]
        assert "Support needed" not in texts[0]  # the question was not asked
        assert "has gone to" not in texts[0]
        with transaction(h.app.sessions) as s:
            assert [m.kind for m in s.exec(select(OutboxMessage).where(OutboxMessage.status == "failed"))] == []
    finally:
        h.app.close()


def test_a_message_that_cannot_be_rendered_is_logged_as_a_bug_and_admins_hear_whose_it_was(
    tmp_path, caplog, monkeypatch
):
    from conversations.render import Renderer

    h = _harness(tmp_path)
    real = Renderer.render

    def broken(self, reply, audience):
        if reply.template == "monthly_review/summary":
            raise ValueError("secret-words-typed-by-maria")
        return real(self, reply, audience)

    try:
        h.say("maria", "/review")
        h.say("maria", "none")
        monkeypatch.setattr(Renderer, "render", broken)
        with caplog.at_level(logging.DEBUG):
            h.say("maria", "secret-words-typed-by-maria")
        monkeypatch.setattr(Renderer, "render", real)
        assert "secret-words-typed-by-maria" not in caplog.text
        assert "monthly_review/summary" in caplog.text and "ValueError" in caplog.text
        h.run_until(local("Europe/London", 2026, 12, 2, 12, 0))
        alerts = h.fake.texts_for("root")
        assert len(alerts) == 1
        assert "Maria Rossi (maria)" in alerts[0] and "alice" not in alerts[0]
        assert "cannot be delivered" not in alerts[0] and "bug" in alerts[0]
    finally:
        h.app.close()


def test_the_words_after_a_bare_kind_number_complete_the_support_need(tmp_path):
    h = _harness(tmp_path)
    try:
        h.say("chen", "/review")
        h.say("chen", "staging")
        h.say("chen", "2")
        texts = h.say("chen", "someone to grant staging access")
        assert "请先写支持类型的编号" not in "\n".join(texts)
        assert "下个月" in texts[-1]  # on to the growth question
        run = [r for r in h.runs("chen") if r.flow == "monthly_review"][0]
        assert h.answers(run.id)["support"] == {"kind": "resources", "text": "someone to grant staging access"}
    finally:
        h.app.close()


def test_after_a_bare_kind_number_a_person_can_still_change_the_kind_or_say_none(tmp_path):
    h = make_harness(
        tmp_path,
        start=local("Europe/London", 2026, 12, 2, 10, 0),
        config={**ORG, "members": [{**m, "manager": "maria"} if m["handle"] == "alice" else m for m in ORG["members"]]},
    )
    try:
        h.say("alice", "/review")
        h.say("alice", "staging")
        asked = h.say("alice", "2")
        assert "resources" in "\n".join(asked) and "a few words" in "\n".join(asked).lower()
        h.say("alice", "3 a mentor for on-call")
        run = [r for r in h.runs("alice") if r.flow == "monthly_review"][0]
        assert h.answers(run.id)["support"] == {"kind": "coaching", "text": "a mentor for on-call"}
        h.say("alice", "SQL")
        h.say("alice", "skip")  # the optional question about the manager (upward feedback)
        h.say("alice", "edit 2")
        h.say("alice", "1")
        h.say("alice", "none")
        assert h.answers(run.id)["support"] is None
    finally:
        h.app.close()


def test_review_after_this_months_window_closed_says_so_and_keeps_next_months(tmp_path):
    h = make_harness(tmp_path, start=local("Europe/London", 2026, 12, 9, 10, 0), config=ORG)
    try:
        text = "\n".join(h.say("alice", "/review"))
        assert "Tue 8 Dec" in text and "Tue 5 Jan" in text
        assert "12 Jan" not in text
        zh = "\n".join(h.say("chen", "/review"))
        assert "已经截止" in zh and "1月5日" in zh
        assert [r for r in h.runs("alice") if r.flow == "monthly_review"] == []
        h.run_until(local("Europe/London", 2027, 1, 5, 10, 30))
        assert [at.date().isoformat() for _, at in h.prompts("alice", flow="monthly_review")] == ["2027-01-05"]
    finally:
        h.app.close()


def test_checkin_between_monday_noon_and_friday_starts_this_weeks(tmp_path):
    h = make_harness(tmp_path, start=local("Europe/London", 2026, 12, 9, 10, 0), config=ORG)
    try:
        assert "this week's check-in" in "\n".join(h.say("alice", "/checkin"))
        assert [(r.period, r.closes_at) for r in h.runs("alice")] == [
            ("2026-W50", local("Europe/London", 2026, 12, 14, 12, 0))
        ]
    finally:
        h.app.close()


def test_the_summary_names_the_kind_of_support_once_and_keeps_the_words_as_typed(tmp_path):
    h = make_harness(
        tmp_path,
        start=local("Europe/London", 2026, 12, 2, 10, 0),
        config={**ORG, "members": [{**m, "manager": "maria"} if m["handle"] == "alice" else m for m in ORG["members"]]},
    )
    try:
        h.say("alice", "/review")
        h.say("alice", "the vendor")
        h.say("alice", "1 a decision on the vendor")
        h.say("alice", "negotiation")
        summary = h.say("alice", "skip")[-1]  # the optional question about the manager
        line = next(ln for ln in summary.splitlines() if "Support" in ln)
        assert line.count("decision") == 2  # once as the kind, once in her own words
        assert "“a decision on the vendor”" in line
        h.say("chen", "/review")
        h.say("chen", "没有")
        h.say("chen", "1 选哪家供应商")
        h.say("chen", "谈判")
        zh = h.say("chen", "跳过")[-1]
        line = next(ln for ln in zh.splitlines() if "支持" in ln and "类型" in ln)
        assert "选哪家供应商" in line and line.count("决策") == 1
    finally:
        h.app.close()


def test_changing_the_support_answer_shows_it_as_it_was_typed(tmp_path):
    h = make_harness(
        tmp_path,
        start=local("Europe/London", 2026, 12, 2, 10, 0),
        config={**ORG, "members": [{**m, "manager": "maria"} if m["handle"] == "alice" else m for m in ORG["members"]]},
    )
    try:
        for text in ("/review", "the vendor", "1 a decision on the vendor", "negotiation", "skip"):
            h.say("alice", text)
        asked = h.say("alice", "edit 2")[-1]
        assert "“1 a decision on the vendor”" in asked and "'kind'" not in asked
    finally:
        h.app.close()
