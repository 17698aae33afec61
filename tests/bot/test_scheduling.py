"""The scheduler with a controllable clock: one prompt per member per week, reminders, expiry, downtime."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlmodel import select

from conversations.schedule import weekly_period, zone
from storage.db import transaction
from storage.models import RunTransition
from tests.helpers import local, make_harness, utc

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Shanghai", "Asia/Kolkata"]
ORG = {"members": [{"handle": f"m{i}", "name": f"Member {i}", "timezone": tz} for i, tz in enumerate(ZONES)]}


@pytest.fixture
def team(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 11, 23, 0, 0), config=ORG)
    yield h
    h.app.close()


@pytest.mark.timeout(400)  # about 1,800 ticks: over a minute of CPU on its own, longer beside the other worker
def test_two_years_of_weekly_prompts_at_three_pm_local_across_dst(team):
    end = utc(2028, 11, 22)
    team.run_until(end)
    for i, tz in enumerate(ZONES):
        sent = [at.astimezone(zone(tz)) for _, at in team.prompts(f"m{i}")]
        weeks = Counter(weekly_period(t.date()) for t in sent)
        assert all(n == 1 for n in weeks.values()), (tz, [w for w, n in weeks.items() if n > 1])
        assert all((t.weekday(), t.hour, t.minute) == (4, 15, 0) for t in sent), tz
        first = date(2026, 11, 27)
        expected = {
            weekly_period(first + timedelta(weeks=k))
            for k in range(105)
            if (first + timedelta(weeks=k)) < end.astimezone(zone(tz)).date()
        }
        assert set(weeks) == expected, tz
    # Every unanswered run got exactly one reminder and expired at Monday noon.
    runs = [r for r in team.runs("m3") if r.flow == "weekly_checkin"]
    assert {r.status for r in runs} == {"expired"}
    assert all(r.reminded for r in runs)
    reminders = [at for (r, m), at in zip(team.fake.sent, team.fake.sent_at, strict=True) if m.kind == "remind"]
    assert len(reminders) == sum(len(team.runs(f"m{i}")) for i in range(len(ZONES)))
    # The monthly review: once a month, the first Tuesday at 10:00 local.
    monthly = [at.astimezone(zone("Asia/Kolkata")) for _, at in team.prompts("m4", flow="monthly_review")]
    assert len(monthly) == 24
    assert all((t.weekday(), t.day <= 7, t.hour, t.minute) == (1, True, 10, 0) for t in monthly)


def _reminders(h, handle, tz):
    return [
        at.astimezone(zone(tz))
        for (r, m), at in zip(h.fake.sent, h.fake.sent_at, strict=True)
        if m.kind == "remind" and r.address == handle
    ]


def test_reminder_after_four_hours_of_silence(team):
    tz = "Asia/Kolkata"
    team.run_until(local(tz, 2026, 11, 26, 10, 0))
    team.say("m4", "/checkin")  # Thursday 10:00: four hours later is still working time
    team.run_until(local(tz, 2026, 11, 26, 16, 0))
    assert [(t.day, t.hour, t.minute) for t in _reminders(team, "m4", tz)] == [(26, 14, 0)]


def test_reminder_waits_for_working_time(team):
    tz = "Asia/Kolkata"
    team.run_until(local(tz, 2026, 11, 27, 17, 0))
    team.say("m4", "4")  # activity at 17:00: 21:00 is after work, so the reminder waits for Monday 09:00
    team.run_until(local(tz, 2026, 11, 30, 12, 0))
    assert [(t.day, t.hour, t.minute) for t in _reminders(team, "m4", tz)] == [(30, 9, 0)]


def test_window_close_expires_the_run_and_keeps_its_answers(team):
    tz = "Europe/London"
    team.run_until(local(tz, 2026, 11, 27, 15, 0))
    team.say("m1", "4")
    team.say("m1", "Paired with the new hire")
    team.run_until(local(tz, 2026, 11, 30, 12, 0))
    run = team.runs("m1")[0]
    assert run.status == "expired"
    assert team.answers(run.id) == {"mood": 4, "wins": "Paired with the new hire"}
    assert "kept the 2 answers" in team.fake.texts_for("m1")[-1]


def test_time_zone_change_mid_week_gives_neither_duplicate_nor_skip(team):
    # m3 was prompted in Shanghai on Friday, then moves to New York: no second prompt that week.
    team.run_until(local("Asia/Shanghai", 2026, 11, 27, 16, 0))
    assert len(team.prompts("m3")) == 1
    team.set_member("m3", timezone="America/New_York")
    # m0 in New York moves to Shanghai on Friday morning New York time, after Shanghai's 15:00 has passed.
    team.run_until(local("America/New_York", 2026, 11, 27, 10, 0))
    assert team.prompts("m0") == []
    team.set_member("m0", timezone="Asia/Shanghai")
    team.run_until(utc(2026, 12, 12))
    for handle in ("m0", "m3"):
        assert len(team.prompts(handle)) == 3, handle
        prompted = [r.period for r in team.runs(handle) if r.flow == "weekly_checkin" and r.prompted_at]
        assert prompted == ["2026-W48", "2026-W49", "2026-W50"], handle
    # The late prompt for m0 waited for working time (Monday 09:00) instead of arriving at 23:00 in Shanghai.
    late = team.prompts("m0")[0][1].astimezone(zone("Asia/Shanghai"))
    assert (late.day, late.hour) == (30, 9)


def test_short_downtime_is_caught_up_once(team, caplog):
    tz = "Europe/London"
    team.run_until(local(tz, 2026, 11, 27, 14, 50))
    team.clock.set(local(tz, 2026, 11, 27, 17, 0))  # the bot was down for 2 h 10 min
    team.app.tick()
    team.app.tick()
    assert [at for _, at in team.prompts("m1")] == [local(tz, 2026, 11, 27, 17, 0)]


def test_long_downtime_is_skipped_and_logged(team, caplog):
    tz = "Europe/London"
    team.run_until(local(tz, 2026, 11, 27, 14, 50))
    team.clock.set(local(tz, 2026, 11, 28, 10, 0))  # down for 19 h, longer than the 6 h grace
    with caplog.at_level(logging.WARNING):
        team.app.tick()
    assert team.prompts("m1") == []
    assert any(
        "while Flywheel was not running" in r.getMessage() and "Europe/London" in r.getMessage() for r in caplog.records
    )
    team.run_until(local(tz, 2026, 12, 4, 16, 0))
    assert [weekly_period(at.date()) for _, at in team.prompts("m1")] == ["2026-W49"]
    missed = team.runs("m1")[0]
    assert (missed.period, missed.status) == ("2026-W48", "skipped")
    with transaction(team.app.sessions) as s:
        assert [t.trigger for t in s.exec(select(RunTransition).where(RunTransition.run_id == missed.id))] == ["missed"]


def test_paused_member_is_not_prompted_until_the_date(team):
    team.say("m1", "/pause until 2026-12-08")
    team.run_until(utc(2026, 12, 12))
    assert [weekly_period(at.date()) for _, at in team.prompts("m1")] == ["2026-W50"]
    assert len(team.prompts("m2")) == 3


def test_ticks_are_idempotent(team):
    team.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    for _ in range(5):
        team.app.tick()
    assert len(team.prompts("m1")) == 1


def test_a_week_missed_during_downtime_can_still_be_taken_on_demand(team):
    tz = "Europe/London"
    team.run_until(local(tz, 2026, 11, 27, 14, 50))
    team.clock.set(local(tz, 2026, 11, 28, 10, 0))
    team.app.tick()
    replies = team.say("m1", "/checkin")
    assert replies[0].startswith("Here's this week's check-in, Member: 4 short questions, about 3 minutes.")
    assert [(r.period, r.status) for r in team.runs("m1")] == [("2026-W48", "prompted")]
