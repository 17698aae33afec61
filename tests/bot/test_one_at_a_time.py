"""One conversation at a time per member: a new conversation waits while another is under way, the member is told
(once) that it is next, and no answer ever lands in the wrong conversation."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from conversations.events import InboundEvent
from storage.db import transaction
from storage.models import Answer, ConversationRun
from tests.helpers import local


def start_retro(h, by, text, key):
    h._seq += 1
    h.app.handle(
        InboundEvent(
            platform="console",
            user=by,
            kind="command",
            channel="#product",
            text=text,
            dedup_key=key,
            received_at=h.clock.now(),
        )
    )
    h.app.deliver_outbox()


def step_of(h, text):
    with transaction(h.app.sessions) as s:
        return [(s.get(ConversationRun, a.run_id).flow, a.step) for a in s.exec(select(Answer)) if a.value == text]


def test_a_retro_started_while_bo_thinks_about_his_answer_does_not_take_it(harness):
    """Bo's bug: he answered the mood, took 40 minutes over his wins, and a retro question that arrived meanwhile
    took the answer meant for the check-in."""
    h = harness
    h.run_until(local("America/New_York", 2026, 11, 27, 15, 0))
    h.say("bo", "4")
    h.clock.set(h.clock.now() + timedelta(minutes=40))
    start_retro(h, "maria", '/retro start "Launch" @alice @bo', "retro-bo")
    h.run_until(h.clock.now() + timedelta(minutes=5))  # ticks in between must not deliver it either
    told = h.fake.texts_for("bo")[-1]
    assert "Maria started a retrospective on “Launch”" in told and "once you have finished your weekly check-in" in told
    assert "What was the goal" not in "\n".join(h.fake.texts_for("bo"))
    reply = h.say("bo", "We shipped the importer")
    assert step_of(h, "We shipped the importer") == [("weekly_checkin", "wins")]
    assert reply[0].startswith("(3/5) Is anything in your way")
    h.say("bo", "none")
    assert len([t for t in h.fake.texts_for("bo") if "📌" in t]) == 1  # told once, not on every message
    h.say("bo", "a; b")
    last = h.say("bo", "no")[0]
    assert "check-in done ✅" in last and "Maria started a retrospective on “Launch”" in last


def test_a_reminder_of_an_older_conversation_does_not_pull_answers_away(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))  # Alice's check-in, untouched
    h.clock.set(local("Europe/London", 2026, 11, 27, 17, 30))
    start_retro(h, "maria", '/retro start "Launch" @alice @bo', "retro-a")  # the check-in went quiet: delivered
    assert "What was the goal" in h.fake.texts_for("alice")[-1]
    h.say("alice", "Launch by Friday")
    h.run_until(local("Europe/London", 2026, 11, 27, 19, 20))  # the check-in's 4-hour reminder fell due at 19:00
    assert "(1/5) How was your week" not in h.fake.texts_for("alice")[-1]  # not re-asked while she is in the retro
    h.say("alice", "Pairing went well")
    assert step_of(h, "Pairing went well") == [("retro", "went_well")]


def test_a_conversation_held_back_goes_out_once_the_member_has_been_quiet_for_two_hours(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    h.say("alice", "4")
    start_retro(h, "bo", '/retro start "Launch" @alice @bo', "retro-q")
    h.run_until(h.clock.now() + timedelta(minutes=100))
    assert "What was the goal" not in h.fake.texts_for("alice")[-1]
    h.run_until(h.clock.now() + timedelta(minutes=31))
    assert "Bo started a retrospective on “Launch”" in h.fake.texts_for("alice")[-1]
    assert "What was the goal" in h.fake.texts_for("alice")[-1]
