"""Who sees which answer, and what members are told about it (bot/access.py): the findings of the new-user trial,
each in English and in Chinese."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.digest import build_reports, digest_replies
from conversations.render import Audience
from storage.db import transaction
from storage.models import ConversationRun, Member
from tests.helpers import local, make_harness

TZ = "Europe/London"
SH = "Asia/Shanghai"
DEFAULTS = {
    "mood": "4",
    "wins": "fine",
    "plan_review": "done",
    "obstacle_status": "resolved",
    "retro_action": "done",
    "blockers": "none",
    "priorities": "ship it",
    "manager_help": "no",
}


def team(*, zh: bool, extra: bool = False) -> dict:
    """A manager and two reports, in one language; optionally an extra question from the org file."""
    tz, loc = (SH, "zh") if zh else (TZ, "en")
    names = ("王芳", "陈晨", "李雷") if zh else ("Maria Rossi", "Alice Martin", "Bo Li")
    config: dict = {
        "members": [
            {"handle": "boss", "name": names[0], "timezone": tz, "locale": loc},
            {"handle": "amy", "name": names[1], "manager": "boss", "timezone": tz, "locale": loc},
            {"handle": "ben", "name": names[2], "manager": "boss", "timezone": tz, "locale": loc},
        ]
    }
    if extra:
        config["flows"] = {
            "weekly_checkin": {
                "extra_questions": [{"id": "learning", "en": "What did you learn this week?", "zh": "这周学到了什么？"}]
            }
        }
    return config


def active_step(h, handle: str) -> str | None:
    runs = [r for r in h.runs(handle) if r.flow == "weekly_checkin"]
    return runs[-1].step if runs and runs[-1].status in ("prompted", "in_progress") else None


def answer_until_done(h, handle: str, answers: dict[str, str], *, stop_before: str | None = None) -> None:
    """Answer the open check-in question by question (in any language), up to `stop_before` if given."""
    for _ in range(30):
        step = active_step(h, handle)
        if step is None or step.split(":", 1)[0] == stop_before:
            return
        base = step.split(":", 1)[0]
        h.say(handle, answers.get(base, DEFAULTS.get(base, "fine")))
    raise AssertionError("the check-in did not finish")


def digest_for(h, handle: str) -> str:
    return "\n\n".join(m.text for r, m in h.fake.sent if r.address == handle and m.kind == "digest")


def rendered_reports(h, handle: str, now) -> str:
    """The digest `handle` would get at `now`, as text."""
    with transaction(h.app.sessions) as s:
        manager = s.exec(select(Member).where(Member.handle == handle)).one()
        reports, params = build_reports(s, manager=manager, now=now)
        audience = Audience(manager.locale, manager.timezone, manager.name)
        return "\n".join(h.app.renderer.render(r, audience) for r in digest_replies(reports, params))


# ------------------------------------------------------------------------------------- the unfinished check-in


def _unfinished(tmp_path, *, zh: bool):
    tz = SH if zh else TZ
    h = make_harness(tmp_path, start=local(tz, 2026, 11, 23, 9, 0), config=team(zh=zh))
    h.run_until(local(tz, 2026, 11, 27, 15, 0))  # Friday: the check-in is delivered
    intro = h.fake.texts_for("amy")[0]
    h.say("amy", "4")
    h.say("amy", "HALF-WAY-WINS")  # wins answered; the rest never is
    assert active_step(h, "amy") is not None
    h.run_until(local(tz, 2026, 11, 30, 9, 0))  # Monday's digest, before the window closes at noon
    return h, intro


def test_an_unfinished_checkin_is_not_in_the_digest_and_the_intro_says_when_it_would_be(tmp_path):
    h, intro = _unfinished(tmp_path, zh=False)
    try:
        assert (
            "Maria will see your answers once you finish — or, if you don't, the answers you gave by the time "
            "it closes (Mon 30 Nov, 12:00). Nothing is posted to a channel."
        ) in intro
        digest = digest_for(h, "boss")
        assert "👤 Alice · check-in started, not finished" in digest
        assert "The answers show here once the check-in is finished, or when it closes." in digest
        assert "HALF-WAY-WINS" not in digest
        assert "HALF-WAY-WINS" not in h.say("amy", "/me")[0]  # /me shows what Maria sees, so not this either
        h.run_until(local(TZ, 2026, 11, 30, 12, 0))  # the window closes: what was answered is now shown
        assert "Maria can see them now" in h.fake.texts_for("amy")[-1]
        assert "HALF-WAY-WINS" in rendered_reports(h, "boss", local(TZ, 2026, 11, 30, 12, 30))
    finally:
        h.app.close()


def test_an_unfinished_checkin_in_chinese(tmp_path):
    h, intro = _unfinished(tmp_path, zh=True)
    try:
        assert (
            "你完成后，王芳会看到你的回答；如果没有完成，截止时（11月30日（周一）12:00）已填写的回答也会被看到。"
            in intro
        )
        digest = digest_for(h, "boss")
        assert "👤 陈晨 · 每周小结还没填完" in digest
        assert "填完后（或截止时）这里才会显示回答。" in digest
        assert "HALF-WAY-WINS" not in digest
        h.run_until(local(SH, 2026, 11, 30, 12, 0))
        assert "王芳 现在可以看到" in h.fake.texts_for("amy")[-1]
        assert "HALF-WAY-WINS" in rendered_reports(h, "boss", local(SH, 2026, 11, 30, 12, 30))
    finally:
        h.app.close()


def test_a_finished_checkin_is_in_the_digest_at_once(tmp_path):
    h = make_harness(tmp_path, start=local(TZ, 2026, 11, 23, 9, 0), config=team(zh=False))
    try:
        h.run_until(local(TZ, 2026, 11, 27, 15, 0))
        answer_until_done(h, "amy", {"wins": "DONE-WINS"})
        h.run_until(local(TZ, 2026, 11, 30, 9, 0))
        assert "“DONE-WINS”" in digest_for(h, "boss")
    finally:
        h.app.close()


# ------------------------------------------------------------------------------------- a member without a manager


def test_a_member_without_a_manager_is_told_nobody_else_sees_their_answers(tmp_path):
    h = make_harness(tmp_path, start=local(TZ, 2026, 12, 1, 9, 0), config=team(zh=False))
    try:
        review = h.say("boss", "/review")[0]
        assert "You have no manager in Flywheel, so nobody else sees your answers." in review
        assert "manager sees" not in review and "will see your answers" not in review
        checkin = h.say("boss", "/checkin")
        assert "You have no manager in Flywheel, so nobody else sees your answers." in "\n".join(checkin)
        help_text = h.say("boss", "/help")[0]
        assert "your check-in and review answers — only you (you have no manager in Flywheel)." in help_text
        # …and the one with a manager hears who, from the same rule
        assert "Maria will see your answers once you finish" in h.say("amy", "/review")[0]
    finally:
        h.app.close()


def test_a_member_without_a_manager_in_chinese(tmp_path):
    h = make_harness(tmp_path, start=local(SH, 2026, 12, 1, 9, 0), config=team(zh=True))
    try:
        review = h.say("boss", "/review")[0]
        assert "你在 Flywheel 里没有经理，所以除了你自己没有人会看到你的回答。" in review
        assert "你的经理会看到你的回答" not in review
        assert "你完成后，王芳会看到你的回答" in h.say("amy", "/review")[0]
    finally:
        h.app.close()


def test_a_manager_taken_off_the_chart_is_no_longer_named(tmp_path):
    h = make_harness(tmp_path, start=local(TZ, 2026, 12, 1, 9, 0), config=team(zh=False))
    try:
        h.set_member("boss", active=False)  # left: gets no digest, so must not be named as a reader
        review = h.say("amy", "/review")[0]
        assert "nobody else sees your answers" in review and "Maria" not in review
    finally:
        h.app.close()


@pytest.mark.parametrize("skip_level", [True, False])
def test_skip_level_readers_are_named_when_they_read(tmp_path, skip_level):
    config = team(zh=False)
    config["members"].insert(0, {"handle": "vp", "name": "Vera Stone", "timezone": TZ})
    config["members"][1]["manager"] = "vp"
    config["digest"] = {"skip_level": skip_level}
    h = make_harness(tmp_path, start=local(TZ, 2026, 12, 1, 9, 0), config=config)
    try:
        named = "Maria and Vera will see" if skip_level else "Maria will see"
        assert f"{named} your answers once you finish" in h.say("amy", "/review")[0]
        assert "Vera will see your answers once you finish" in h.say("boss", "/review")[0]
        me = h.say("amy", "/me")[0]
        assert ("(and Vera, their manager)" in me) == skip_level
    finally:
        h.app.close()


# ------------------------------------------------------------------------------------- extra questions


def _extra(tmp_path, *, zh: bool):
    tz = SH if zh else TZ
    h = make_harness(tmp_path, start=local(tz, 2026, 11, 23, 9, 0), config=team(zh=zh, extra=True))
    h.run_until(local(tz, 2026, 11, 27, 15, 0))
    answer_until_done(h, "amy", {"learning": "EXTRA-ANSWER <b>{{ x }}</b>"})
    summary = h.fake.texts_for("amy")[-1]
    me = h.say("amy", "/me")[0]
    h.run_until(local(tz, 2026, 11, 30, 9, 0))
    return h, summary, me


def test_extra_questions_answers_are_where_the_notice_says(tmp_path):
    h, summary, me = _extra(tmp_path, zh=False)
    try:
        assert "What did you learn this week?: EXTRA-ANSWER <b>{{ x }}</b>" in summary
        assert "Maria will see these answers" in summary
        shown = "What did you learn this week? “EXTRA-ANSWER <b>{{ x }}</b>”"  # exactly as typed
        assert shown in digest_for(h, "boss")
        assert shown in me
        assert shown not in digest_for(h, "amy") and "EXTRA-ANSWER" not in "".join(h.fake.texts_for("ben"))
    finally:
        h.app.close()


def test_extra_questions_answers_in_chinese(tmp_path):
    h, summary, me = _extra(tmp_path, zh=True)
    try:
        assert "这周学到了什么？：EXTRA-ANSWER" in summary
        assert "这些回答只有你和王芳能看到" in summary
        shown = "这周学到了什么？ “EXTRA-ANSWER <b>{{ x }}</b>”"
        assert shown in digest_for(h, "boss")
        assert shown in me
    finally:
        h.app.close()


def test_the_digest_reads_nothing_of_a_run_it_may_not_show(tmp_path):
    """The rule is applied where the data is read: the Week of an unfinished run carries its status alone."""
    h, _ = _unfinished(tmp_path, zh=False)
    try:
        with transaction(h.app.sessions) as s:
            boss = s.exec(select(Member).where(Member.handle == "boss")).one()
            reports, _ = build_reports(s, manager=boss, now=local(TZ, 2026, 11, 30, 9, 0))
            run = s.exec(select(ConversationRun).where(ConversationRun.status == "in_progress")).one()
        amy = next(r for r in reports if r.name == "Alice")
        assert (amy.weeks[0].period, amy.weeks[0].status, amy.weeks[0].mood, amy.weeks[0].wins) == (
            run.period,
            "in_progress",
            None,
            None,
        )
    finally:
        h.app.close()
