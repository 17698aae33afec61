"""Inbound messages: de-duplication, unknown senders, hostile text, commands."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import select

from conversations.events import InboundEvent
from storage.db import transaction
from storage.models import Answer, OutboxMessage, ProcessedEvent
from tests.helpers import local, make_harness, utc


def test_a_retried_event_has_no_second_effect(harness):
    harness.say("alice", "/checkin")
    first = harness.say("alice", "4", key="evt-1")
    again = harness.say("alice", "4", key="evt-1")  # the platform delivers the same event again
    assert first and again == []
    with transaction(harness.app.sessions) as s:
        assert len(list(s.exec(select(Answer)))) == 1
        assert s.get(ProcessedEvent, "evt-1") is not None


def test_processed_keys_are_kept_long_enough_for_feishu_retries_then_pruned(harness):
    harness.say("alice", "/help", key="evt-old")
    harness.clock.set(harness.clock.now() + __import__("datetime").timedelta(hours=8, minutes=1))
    harness.app.tick()
    with transaction(harness.app.sessions) as s:
        assert s.get(ProcessedEvent, "evt-old") is not None  # ≥ 8 h
    harness.clock.set(harness.clock.now() + __import__("datetime").timedelta(hours=48))
    harness.app.tick()
    with transaction(harness.app.sessions) as s:
        assert s.get(ProcessedEvent, "evt-old") is None


def test_unknown_sender_gets_a_polite_answer_and_nothing_is_stored(harness):
    harness.app.handle(
        InboundEvent(
            platform="console",
            user="mallory",
            kind="message",
            text="4",
            dedup_key="u-1",
            received_at=harness.clock.now(),
        )
    )
    harness.app.deliver_outbox()
    recipient, message = harness.fake.sent[-1]
    assert recipient.address == "mallory"
    assert message.text.startswith("I don't know you yet")
    with transaction(harness.app.sessions) as s:
        assert list(s.exec(select(Answer))) == []


def test_hostile_text_is_stored_literally_and_never_interpreted(harness):
    harness.say("alice", "/checkin")
    harness.say("alice", "5")
    hostile = "<!channel> @all {{ 7*7 }} {% raw %} '); DROP TABLE answer; --"
    replies = harness.say("alice", hostile)
    assert replies and "(3/5)" in replies[0]
    harness.say("alice", "back")
    shown = harness.fake.texts_for("alice")[-1]
    assert hostile in shown and "49" not in shown
    with transaction(harness.app.sessions) as s:
        assert [a.value for a in s.exec(select(Answer).where(Answer.step == "wins"))] == [hostile]


def test_answers_with_nothing_open_get_a_hint(harness):
    assert "nothing waiting for your answer" in harness.say("alice", "4")[0]
    assert "nothing waiting for your answer" in harness.say("alice", "back")[0]
    assert "don't know /nope" in harness.say("alice", "/nope")[0]


def test_checkin_after_completing_offers_edit_and_no_second_run(harness):
    harness.say("alice", "/checkin")
    for answer in ("4", "good", "none", "a; b", "no"):
        harness.say("alice", answer)
    assert "already checked in this week" in harness.say("alice", "/checkin")[0]
    assert "already checked in" in harness.say("alice", "5")[0]
    assert len(harness.runs("alice")) == 1


def test_member_without_a_manager_is_not_asked_what_they_need_from_one(harness):
    replies = harness.say("maria", "/checkin")
    assert "(1/4)" in replies[0]


def test_pause_and_resume(harness):
    assert "no check-ins until Mon 7 Dec 2026" in harness.say("alice", "/pause until 2026-12-07")[0]
    assert "couldn't read that" in harness.say("alice", "/pause until yesterday")[0]
    assert "Check-ins are on again" in harness.say("alice", "/resume")[0]
    assert "already on" in harness.say("alice", "/resume")[0]


def test_concurrent_answers_from_two_threads_are_serialised(harness):
    harness.say("alice", "/checkin")
    barrier = threading.Barrier(2)

    def answer(key: str) -> None:
        barrier.wait()
        harness.app.handle(
            InboundEvent(
                platform="console",
                user="alice",
                kind="message",
                text="4",
                dedup_key=key,
                received_at=harness.clock.now(),
            )
        )

    threads = [threading.Thread(target=answer, args=(f"t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with transaction(harness.app.sessions) as s:
        steps = sorted(a.step for a in s.exec(select(Answer)))
        assert steps == ["mood", "wins"]  # the second "4" answered the second question, nothing was lost


def test_failed_sends_are_retried_with_backoff_and_others_still_get_theirs(tmp_path):
    from bot.platforms.base import SendError

    h = make_harness(tmp_path, start=utc(2026, 11, 23))
    calls = {"n": 0}

    def flaky(recipient, message):
        if recipient.address == "bo":
            calls["n"] += 1
            return SendError("ratelimited", retry_after=30) if calls["n"] == 1 else None
        if recipient.address == "chen":
            return SendError("user_not_found", permanent=True)
        return None

    h.fake.fail_with = flaky
    try:
        h.run_until(local("Asia/Shanghai", 2026, 11, 27, 15, 0))
        h.run_until(local("America/New_York", 2026, 11, 27, 15, 0))
        prompted = sorted(r.address for r, m in h.fake.sent if m.kind == "deliver")
        assert prompted == ["alice", "maria"]  # bo waits for Retry-After; chen's failed for good
        h.run_until(local("America/New_York", 2026, 11, 27, 15, 1))
        sent = zip(h.fake.sent, h.fake.sent_at, strict=True)
        bo = [at for (r, m), at in sent if r.address == "bo" and m.kind == "deliver"]
        assert bo == [local("America/New_York", 2026, 11, 27, 15, 0, 30)]  # exactly after Retry-After
        with transaction(h.app.sessions) as s:
            by_status = {(m.kind, m.status) for m in s.exec(select(OutboxMessage))}
        assert ("deliver", "failed") in by_status  # chen's, not retried
    finally:
        h.app.close()


def test_checkin_on_monday_morning_is_last_weeks_until_its_window_closes(harness):
    harness.clock.set(local("Europe/London", 2026, 11, 30, 9, 0))
    harness.say("alice", "/checkin")
    harness.clock.set(local("Europe/London", 2026, 11, 30, 13, 0))
    harness.app.tick()
    harness.say("alice", "/checkin")
    assert [(r.period, r.status) for r in harness.runs("alice")] == [("2026-W48", "expired"), ("2026-W49", "prompted")]


def test_answers_never_reach_the_logs_even_at_debug(harness, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        harness.say("alice", "/checkin")
        for answer in (
            "4",
            "SENTINEL-WIN-7731",
            "SENTINEL-BLOCKER-1142",
            "SENTINEL-PLAN-A; SENTINEL-PLAN-B",
            "SENTINEL-NEED-5521",
        ):
            harness.say("alice", answer)
        harness.clock.set(harness.clock.now() + __import__("datetime").timedelta(days=7))
        harness.app.tick()
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert "sqlalchemy.engine.Engine" in {r.name for r in caplog.records}  # the SQL was logged, its values were not
    assert "SENTINEL" not in caplog.text


def test_finishing_one_conversation_goes_on_to_the_next_waiting_one(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 1, 10, 0))  # the monthly review is waiting
    h.say("alice", "/checkin")
    for answer in ("4", "good", "none", "a; b"):
        h.say("alice", answer)
    last = h.say("alice", "no")[0]
    assert "Thanks, Alice — check-in done ✅" in last
    assert last.endswith("(1/4) What is the biggest obstacle in your way right now? Reply “none” if nothing is.")


def test_a_new_conversation_never_steals_the_reply_meant_for_the_current_one(harness):
    from storage.models import Retro  # noqa: F401

    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    h.say("alice", "4")  # mid-check-in, now on "wins"
    h._seq += 1
    h.app.handle(
        InboundEvent(
            platform="console",
            user="bo",
            kind="command",
            channel="#product",
            text='/retro start "Launch" @alice @bo',
            dedup_key="retro-1",
            received_at=h.clock.now(),
        )
    )
    h.app.deliver_outbox()
    told = h.fake.texts_for("alice")[-1]  # held back while she is answering; she is told it comes next
    assert "What was the goal" not in told and "once you have finished your weekly check-in" in told
    reply = h.say("alice", "SECRET: interviewing elsewhere")
    assert reply[0].startswith("(3/5) Is anything in your way")
    with transaction(h.app.sessions) as s:
        assert [a.step for a in s.exec(select(Answer)) if a.value == "SECRET: interviewing elsewhere"] == ["wins"]
    for answer in ("none", "a; b"):
        h.say("alice", answer)
    last = h.say("alice", "no")[0]
    assert "check-in done ✅" in last and "Bo started a retrospective on “Launch”" in last


def test_a_held_back_conversation_is_delivered_once_the_member_goes_quiet(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    h.say("alice", "4")
    h.app.handle(
        InboundEvent(
            platform="console",
            user="bo",
            kind="command",
            channel="#product",
            text='/retro start "Launch" @alice @bo',
            dedup_key="retro-2",
            received_at=h.clock.now(),
        )
    )
    h.run_until(h.clock.now() + timedelta(hours=2, minutes=1))  # conversations.turns.HOLD
    assert "(1/4) What was the goal" in h.fake.texts_for("alice")[-1]


def test_paused_members_are_not_sent_runs_planned_before_the_pause(harness):
    from bot.engine import run_row
    from conversations.weekly_checkin import WEEKLY_CHECKIN
    from storage import repo

    h = harness
    due = local("Europe/London", 2026, 11, 27, 15, 0)
    with transaction(h.app.sessions) as s:
        alice = repo.member_by_handle(s, handle="alice")
        repo.insert_runs(
            s,
            rows=[
                run_row(
                    WEEKLY_CHECKIN,
                    alice.id,
                    "2026-W48",
                    due=due,
                    prompt_at=due,
                    closes=due + timedelta(days=3),
                    now=h.clock.now(),
                )
            ],
        )
    h.say("alice", "/pause until 2026-12-10")
    h.clock.set(due)
    h.app.tick()
    assert [r.status for r in h.runs("alice") if r.flow == "weekly_checkin"] == ["skipped"]
    assert all("weekly check-in" not in t for t in h.fake.texts_for("alice"))


ODD_INPUTS = [
    "/pause 999999999w",
    "/pause 3000000d",
    '/retro start "X" @bo due 99999999999w',
    "9" * 5000,
    "/support 99999999999999999999 handle",
    "/support ፩ handle",
    "/note 2026-W48 ፩ x",
    "/note W፩ wins x",
    "edit ፩",
    "/kudos @bo for " + "x" * 5000,
    "\x00\x01\x02",
    "/",
    "/ ",
    "@",
    "#",
    "‮",
    "/kudos @",
    '/retro start "unclosed @bo',
    "/me export extra words",
    "/note W99 wins x",
]


def test_odd_input_never_raises_and_always_gets_an_answer(harness):
    h = harness
    h.say("alice", "/checkin")
    for i, text in enumerate(ODD_INPUTS):
        replies = h.say("alice", text, key=f"odd-{i}")
        assert replies, text
    h.say("alice", "edit ፩", key="odd-edit-again")
    assert h.say("alice", "4")  # the check-in still works afterwards


def test_an_internal_failure_is_recorded_and_answered_politely(harness, monkeypatch):
    h = harness
    monkeypatch.setattr(h.app.inbound, "_dispatch", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    assert h.say("alice", "4", key="boom-1")[0].startswith("Sorry — I couldn't do that.")
    assert h.say("alice", "4", key="boom-1") == []  # the retry is recognised, not failed again


def test_checkin_while_editing_a_finished_checkin_goes_on_with_the_edit(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 12, 2, 9, 0))  # a Wednesday; this check-in closes Mon 7 Dec
    try:
        h.say("alice", "/checkin")
        for answer in ("4", "good", "none", "a; b", "no"):
            h.say("alice", answer)
        choose = h.say("alice", "edit")[0]
        again = h.say("alice", "/checkin")
        assert again and "closed" not in again[0] and "Which answer" in choose
        assert again[0].splitlines()[-1] == choose.splitlines()[-1]  # the same choice, asked again
        h.say("alice", "1")
        asked = h.say("alice", "/checkin")[0]
        assert "closed" not in asked and "(1/5)" in asked  # still on the mood, which is being changed
        assert "Updated" in h.say("alice", "2")[0]
        assert h.answers(h.runs("alice")[0].id)["mood"] == 2
    finally:
        h.app.close()


def test_back_while_editing_an_open_checkin_does_not_say_it_closed(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 12, 2, 9, 0))
    try:
        h.say("alice", "/checkin")
        for answer in ("4", "good", "none", "a; b", "no"):
            h.say("alice", answer)
        h.say("alice", "edit 2")
        assert "closed" not in h.say("alice", "back")[0]
    finally:
        h.app.close()


def test_edit_after_finishing_a_retro_edits_the_retro(harness):
    from tests.bot.test_retro import answer_retro, in_channel

    h = harness
    in_channel(h, "alice", '/retro start "Checkout redesign" @alice @bo')
    answer_retro(h, "alice", "Ship by Nov 20", "Pairing", "Late QA", "@bo add a smoke test")
    before = [(r.flow, r.status) for r in h.runs("alice")]
    reply = h.say("alice", "edit")
    assert reply and "1 goal" in reply[0]  # the retro's answers, not the weekly check-in
    assert [(r.flow, r.status) for r in h.runs("alice")] == before
    h.say("alice", "1")
    assert "Updated" in h.say("alice", "Ship by Nov 24")[0]
    retro_run = next(r for r in h.runs("alice") if r.flow == "retro")
    assert h.answers(retro_run.id)["goal"] == "Ship by Nov 24"


def test_words_after_a_command_that_were_not_understood_are_named(harness):
    export = harness.say("alice", "/me export please")
    assert export[0].startswith("Here is everything Flywheel stores about you") and '"handle": "alice"' in export[0]
    assert "/me export" in export[-1] and "“please”" in export[-1]
    mention = harness.say("alice", "/me export @bo")
    assert '"handle": "alice"' in mention[0] and '"handle": "bo"' not in mention[0] and "“@bo”" in mention[-1]
    for command in ("/kudos me", "/kudos wall", "/me rejoin", "/resume", "/flywheel help", "/help", "/checkin"):
        replies = harness.say("alice", f"{command} thanks a lot")
        assert "“thanks a lot”" in "\n".join(replies), command
    for command in ("/me export", "/kudos me", "/resume"):  # nothing left over: no note
        assert "“" not in "\n".join(harness.say("alice", command)), command
    chen = harness.say("chen", "/我 导出 谢谢")
    assert "“谢谢”" in chen[-1] and "/me export" in chen[-1]


def test_commands_that_take_exact_arguments_answer_extra_words_with_their_usage(harness):
    for extra, usage in (
        ("/support 1 handle please", "/support x"),
        ("/pause 2w please", "/pause whenever"),
        ("/retro repost 3 please", "/retro repost x"),
        ("/flywheel team please", "/flywheel nonsense"),
        ("/me access 2 please", "/me access x y"),
    ):
        got = harness.say("maria", extra)
        assert got and got[0].split("“")[0] == harness.say("maria", usage)[0].split("“")[0], extra
