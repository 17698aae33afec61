"""Holidays, working hours, pauses and away statuses, end to end with the controllable clock."""

from __future__ import annotations

import json

from bot.platforms.base import FakeMessenger
from conversations.schedule import zone
from tests.helpers import local, make_harness, utc

ORG = {
    "defaults": {"country": "GB"},
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice Martin", "manager": "maria", "timezone": "Europe/London"},
        {
            "handle": "chen",
            "name": "陈晨",
            "manager": "maria",
            "timezone": "Asia/Shanghai",
            "locale": "zh",
            "country": "CN",
        },
    ],
}
LONDON, SHANGHAI = "Europe/London", "Asia/Shanghai"


def _harness(tmp_path, start, **extra):
    return make_harness(tmp_path, start=start, config={**ORG, **extra})


def _prompts(h, handle, tz, flow="weekly_checkin"):
    return [at.astimezone(zone(tz)).replace(tzinfo=None) for _, at in h.prompts(handle, flow=flow)]


def _sent(h, handle, kind, tz):
    return [
        at.astimezone(zone(tz)).replace(tzinfo=None)
        for (r, m), at in zip(h.fake.sent, h.fake.sent_at, strict=True)
        if r.address == handle and m.kind == kind
    ]


def _sent_with_template(h, handle, kind, tz):
    return [
        (at.astimezone(zone(tz)).replace(tzinfo=None), m.replies[0].template if m.replies else "")
        for (r, m), at in zip(h.fake.sent, h.fake.sent_at, strict=True)
        if r.address == handle and m.kind == kind
    ]


def _digest_sections(h, manager="maria"):
    text = "\n".join(m.text for r, m in h.fake.sent if r.address == manager and m.kind == "digest")
    return {part.split(" ·", 1)[0].strip(): part for part in text.split("👤")[1:]}


def test_christmas_and_new_years_day_move_to_the_thursday_before(tmp_path):
    h = _harness(tmp_path, utc(2026, 12, 20))
    h.run_until(utc(2027, 1, 3))
    prompts = _prompts(h, "alice", LONDON)
    assert [(t.month, t.day, t.hour) for t in prompts] == [(12, 24, 15), (12, 31, 15)]
    assert [r.period for r in h.runs("alice") if r.flow == "weekly_checkin"] == ["2026-W52", "2026-W53"]
    h.app.close()


def test_custom_holiday_from_the_org_file(tmp_path):
    h = _harness(tmp_path, utc(2026, 11, 30), calendar={"holidays": ["2026-12-04"]})
    h.run_until(utc(2026, 12, 6))
    assert [(t.day, t.hour) for t in _prompts(h, "alice", LONDON)] == [(3, 15)]
    assert [(t.day, t.hour) for t in _prompts(h, "chen", SHANGHAI)] == [(3, 15)]  # the org's days are everyone's
    h.app.close()


def test_china_golden_week_and_a_make_up_saturday(tmp_path):
    h = _harness(tmp_path, utc(2026, 9, 21))
    h.run_until(local(SHANGHAI, 2026, 10, 9, 17, 0))
    # Mid-Autumn (Fri 25 Sep) → Thu 24; National Day (Fri 2 Oct) → Wed 30 Sep; Fri 9 Oct is a working day.
    assert [(t.month, t.day, t.hour) for t in _prompts(h, "chen", SHANGHAI)] == [(9, 24, 15), (9, 30, 15), (10, 9, 15)]
    # Alice in London keeps her Fridays.
    assert [(t.month, t.day) for t in _prompts(h, "alice", LONDON)] == [(9, 25), (10, 2)]
    # The monthly review's first Tuesday (6 Oct) is a holiday: it comes on Thursday 8 Oct, the next working day.
    assert [(t.month, t.day, t.hour) for t in _prompts(h, "chen", SHANGHAI, "monthly_review")] == [(10, 8, 10)]
    # `later` at Friday 17:00: two hours is after work; Saturday 10 Oct is a make-up working day (调休), so 09:00.
    while h.runs("chen")[-1].status != "prompted" or h.runs("chen")[-1].flow != "weekly_checkin":
        h.say("chen", "skip")  # leave the monthly review so the reply goes to the check-in
    reply = h.say("chen", "later")
    assert reply and "10月10日" in reply[0], reply
    h.run_until(local(SHANGHAI, 2026, 10, 12, 12, 0))
    after_later = [
        (t.day, t.hour)
        for t, template in _sent_with_template(h, "chen", "remind", SHANGHAI)
        if (t.month, t.day) >= (10, 9) and template.startswith("weekly_checkin/")
    ]
    # The snooze ends at 09:00; its reminder is due 4 h later, but the quarterly talk's reminder at 12:00 has the
    # member's attention for two hours (conversations/turns.py HOLD), so it comes at 14:00, the same day.
    assert after_later[:2] == [(10, 9), (10, 14)]
    h.app.close()


def test_a_week_without_a_working_day_has_no_check_in_and_is_not_missed(tmp_path):
    h = _harness(tmp_path, utc(2026, 1, 26))
    h.run_until(local(LONDON, 2026, 2, 23, 10, 0))
    periods = [r.period for r in h.runs("chen") if r.flow == "weekly_checkin"]
    assert periods == ["2026-W05", "2026-W06", "2026-W07"]  # W08 is the Spring Festival: no run at all
    sections = _digest_sections(h)
    assert "No check-in for three weeks" in sections["Alice"]  # she missed W06–W08: asked about
    assert "No check-in for three weeks" not in sections["陈晨"]  # W08 had no working day: nothing missed
    assert "no working day that week" in sections["陈晨"]
    h.app.close()


def test_pause_during_an_open_check_in_stops_its_reminder(tmp_path):
    h = _harness(tmp_path, utc(2026, 11, 23))
    h.run_until(local(LONDON, 2026, 11, 27, 16, 0))
    assert len(_prompts(h, "alice", LONDON)) == 1
    h.say("alice", "/pause 2w")
    h.run_until(local(LONDON, 2026, 11, 30, 13, 0))
    assert _sent(h, "alice", "remind", LONDON) == []
    assert len(_sent(h, "chen", "remind", SHANGHAI)) == 1  # an unpaused member is reminded
    h.app.close()


def test_paused_weeks_are_not_missed_and_the_digest_says_until_when(tmp_path):
    h = _harness(tmp_path, utc(2026, 11, 23))
    h.say("alice", "/pause until 2026-12-15")
    h.run_until(local(LONDON, 2026, 12, 14, 10, 0))
    assert _prompts(h, "alice", LONDON) == []
    sections = _digest_sections(h)
    assert "No check-in for three weeks" not in sections["Alice"]
    assert "paused until" in sections["Alice"]
    assert "No check-in for three weeks" in sections["陈晨"]  # silent, not paused: asked about
    assert "paused until" in "\n".join(h.say("alice", "/me"))
    assert json.loads(h.say("alice", "/me export")[0].split("\n", 1)[1].strip("`\n"))["profile"]["paused_until"]
    # Once the pause is over, neither /me nor the export shows it.
    h.run_until(local(LONDON, 2026, 12, 16, 10, 0))
    shown = "\n".join(h.say("alice", "/me"))
    assert "paused until" not in shown
    # the charts keep the weeks that were paused as paused (never as missed)
    assert "• Checked in: ‖‖‖" in shown and "paused paused paused" in shown
    export = h.say("alice", "/me export")[0]
    assert json.loads(export.split("\n", 1)[1].strip("`\n"))["profile"]["paused_until"] is None
    h.app.close()


def test_kudos_at_four_in_the_morning_waits_until_nine(tmp_path):
    h = _harness(tmp_path, local(SHANGHAI, 2026, 12, 2, 4, 0))
    reply = h.say("alice", "/kudos @chen for the release notes")  # Alice's own reply comes at once
    assert reply and "陈晨" in reply[0]
    assert _sent(h, "chen", "kudos_received", SHANGHAI) == []
    h.run_until(local(SHANGHAI, 2026, 12, 2, 10, 0))
    assert _sent(h, "chen", "kudos_received", SHANGHAI) == [
        local(SHANGHAI, 2026, 12, 2, 9, 0).astimezone(zone(SHANGHAI)).replace(tzinfo=None)
    ]
    h.app.close()


def test_later_on_friday_evening_snoozes_to_monday_morning(tmp_path):
    h = _harness(tmp_path, utc(2026, 11, 23))
    h.run_until(local(LONDON, 2026, 11, 27, 19, 0))
    reply = h.say("alice", "later")
    assert reply and "Mon 30 Nov, 09:00" in reply[0], reply
    h.run_until(local(LONDON, 2026, 11, 30, 11, 0))
    assert _sent(h, "alice", "remind", LONDON) == [
        local(LONDON, 2026, 11, 30, 9, 0).astimezone(zone(LONDON)).replace(tzinfo=None)
    ]
    h.app.close()


class _Slack(FakeMessenger):
    """A Slack stand-in that also answers `status` (users.info's profile status)."""

    def __init__(self, clock, statuses):
        super().__init__(platform="slack", clock=clock)
        self.statuses = statuses
        self.lookups = 0

    def status(self, user_id):
        self.lookups += 1
        found = self.statuses.get(user_id)
        if isinstance(found, Exception):
            raise found
        return found or {}


def test_slack_away_status_holds_prompts_until_it_clears(tmp_path):
    members = [dict(m) for m in ORG["members"]]
    members[1]["slack"], members[2]["slack"] = "UALICE", "UCHEN"
    h = make_harness(
        tmp_path, start=utc(2026, 11, 23), config={**ORG, "members": members, "calendar": {"away_status": True}}
    )
    statuses = {
        "UALICE": {"status_emoji": ":palm_tree:", "status_text": "", "status_expiration": 0},
        "UCHEN": RuntimeError("users.info failed"),
    }
    slack = _Slack(h.clock, statuses)
    h.app.messengers.clear()  # (the same mapping the calendars read)
    h.app.messengers["slack"] = slack
    h.app.calendars.monotonic = lambda: h.clock.now().timestamp()
    h.run_until(local(LONDON, 2026, 11, 27, 15, 30))
    assert [r.address for r, m in slack.sent if m.kind == "deliver"] == ["UCHEN"]  # a failed lookup: prompted
    assert h.runs("alice")[0].status == "scheduled"
    statuses["UALICE"] = {"status_emoji": "", "status_text": "", "status_expiration": 0}
    h.run_until(local(LONDON, 2026, 11, 27, 17, 0))
    delivered = [(r.address, at) for (r, m), at in zip(slack.sent, slack.sent_at, strict=True) if m.kind == "deliver"]
    assert delivered[1] == ("UALICE", local(LONDON, 2026, 11, 27, 16, 0))  # looked at again an hour later
    assert slack.lookups <= 4  # cached: not a lookup per tick
    h.app.close()


def test_a_retro_question_outside_working_hours_waits(tmp_path):
    h = _harness(tmp_path, local(LONDON, 2026, 12, 2, 14, 0))  # 22:00 in Shanghai
    h.say("alice", '/retro start "Release" @alice @chen due 48h')
    assert _sent(h, "chen", "deliver", SHANGHAI) == []
    h.run_until(local(SHANGHAI, 2026, 12, 3, 12, 0))
    assert _sent(h, "chen", "deliver", SHANGHAI) == [
        local(SHANGHAI, 2026, 12, 3, 9, 0).astimezone(zone(SHANGHAI)).replace(tzinfo=None)
    ]
    h.app.close()


def test_resuming_mid_week_brings_this_weeks_check_in(tmp_path):
    h = _harness(tmp_path, utc(2026, 11, 23))
    h.say("alice", "/pause 2w")
    h.run_until(local(LONDON, 2026, 11, 27, 16, 0))
    assert _prompts(h, "alice", LONDON) == []
    assert [(r.period, r.status) for r in h.runs("alice")] == [("2026-W48", "skipped")]
    h.say("alice", "/resume")
    h.run_until(local(LONDON, 2026, 11, 27, 16, 1))
    assert [(t.day, t.hour) for t in _prompts(h, "alice", LONDON)] == [(27, 16)]
    h.app.close()


def test_a_digest_moved_off_a_holiday_says_the_weeks_check_ins_have_closed(tmp_path):
    """Monday 28 December is a day off: the digest comes on Tuesday, after the week's check-ins closed at Monday
    noon. It must not say they are still open, nor that someone who never answered has "not checked in yet"."""
    h = _harness(tmp_path, utc(2026, 12, 21), calendar={"holidays": ["2026-12-28"]})
    h.run_until(local(LONDON, 2026, 12, 29, 10, 0))
    digest = _digest_sections(h)
    header = next(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
    assert "This week's check-ins have closed." in header, header
    assert "stay open" not in header and "not checked in yet" not in "\n".join(digest.values()), digest
    assert "no check-in" in digest["Alice"], digest
    h.app.close()


def test_a_monday_digest_says_until_when_check_ins_stay_open(tmp_path):
    h = _harness(tmp_path, utc(2026, 11, 30))
    h.run_until(local(LONDON, 2026, 12, 7, 10, 0))
    header = next(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
    assert "Check-ins stay open until Mon 7 Dec, 12:00, so a few may still come in." in header, header
    h.app.close()
