"""The planner's marks: once a group's runs are all planned, later ticks do not ask for candidates again until
someone is added, reactivated, moved to another time zone or country, or loses a run (/resume) — and then the
member concerned still gets their run within the open window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage import repo
from storage.db import transaction
from storage.models import ConversationRun, Member
from tests.helpers import local, make_harness

TZ = "Europe/London"
ORG = {
    "members": [
        {"handle": "alice", "name": "Alice Martin", "timezone": TZ},
        {"handle": "bo", "name": "Bo Li", "timezone": "America/Los_Angeles"},
        {"handle": "chen", "name": "Chen Chen", "timezone": TZ},
    ]
}
DUE = local(TZ, 2026, 11, 27, 15, 0)  # Friday 15:00 London; 07:00 in Los Angeles, not due there yet


@pytest.fixture
def team(tmp_path, monkeypatch):
    h = make_harness(tmp_path, start=DUE - timedelta(hours=1), config=ORG)
    asked: list[tuple[str, str | None]] = []
    real = repo.plan_candidates

    def counting(session, **kw):
        asked.append((kw["timezone"], kw.get("country")))
        return real(session, **kw)

    monkeypatch.setattr(repo, "plan_candidates", counting)
    h.asked = asked
    yield h
    h.app.close()


def weekly(h, handle):
    return [(r.period, r.status) for r in h.runs(handle) if r.flow == "weekly_checkin"]


def tick_at(h, when):
    h.clock.set(when)
    h.app.tick()


def settle(h):
    """Fan out at DUE, then a tick a minute later: from then on nothing is due in London this week."""
    tick_at(h, DUE)
    tick_at(h, DUE + timedelta(minutes=1))
    assert weekly(h, "alice") == [("2026-W48", "prompted")]
    h.asked.clear()


def test_the_steady_state_asks_for_no_candidates(team):
    settle(team)
    for minutes in range(2, 12):
        tick_at(team, DUE + timedelta(minutes=minutes))
    assert team.asked == []
    assert weekly(team, "alice") == [("2026-W48", "prompted")] and weekly(team, "bo") == []


def test_a_member_added_mid_window_gets_the_run(team):
    settle(team)
    with transaction(team.app.sessions) as s:
        s.add(Member(handle="dee", name="Dee", timezone=TZ, created_at=DUE - timedelta(days=1), updated_at=DUE))
    tick_at(team, DUE + timedelta(minutes=5))
    assert weekly(team, "dee") == [("2026-W48", "prompted")]
    team.asked.clear()
    tick_at(team, DUE + timedelta(minutes=6))
    assert team.asked == []  # planned in full again


def test_a_member_moved_into_an_open_time_zone_gets_the_run(team):
    settle(team)
    team.set_member("bo", timezone=TZ)
    tick_at(team, DUE + timedelta(minutes=5))
    assert weekly(team, "bo") == [("2026-W48", "prompted")]


def test_a_member_moved_to_another_country_gets_the_run(team):
    # A country of his own (its own holiday calendar) makes Bo a group of his own, asked for the first time.
    settle(team)
    team.set_member("bo", timezone=TZ, country="GB")
    tick_at(team, DUE + timedelta(minutes=5))
    assert weekly(team, "bo") == [("2026-W48", "prompted")]
    assert (TZ, "GB") in team.asked


def test_a_member_reactivated_mid_window_gets_the_run(team):
    team.set_member("chen", active=False)
    settle(team)
    assert weekly(team, "chen") == []
    team.set_member("chen", active=True)
    tick_at(team, DUE + timedelta(minutes=5))
    assert weekly(team, "chen") == [("2026-W48", "prompted")]


def test_a_member_who_resumes_mid_window_gets_the_run(team):
    team.clock.set(DUE - timedelta(hours=1))
    team.say("chen", "/pause until 2026-12-08")
    settle(team)
    assert weekly(team, "chen") == [("2026-W48", "skipped")]
    team.clock.set(DUE + timedelta(minutes=4))
    assert "Check-ins are on again" in team.say("chen", "/resume")[0]
    tick_at(team, DUE + timedelta(minutes=5))
    assert weekly(team, "chen") == [("2026-W48", "prompted")]


def test_changes_that_do_not_decide_who_is_due_keep_the_marks(team):
    settle(team)
    team.set_member("alice", name="Alice M.", locale="zh")
    team.say("chen", "/pause until 2026-12-08")
    before = members_revision(team)
    tick_at(team, DUE + timedelta(minutes=5))
    assert team.asked == [] and members_revision(team) == before


@pytest.mark.parametrize(
    "change", [{"timezone": "Asia/Shanghai"}, {"country": "CN"}, {"active": False}, {"created_at": DUE}]
)
def test_every_change_that_decides_who_is_due_sets_a_new_revision(team, change):
    before = members_revision(team)
    team.set_member("alice", **change)
    assert members_revision(team) != before


def test_a_rolled_back_change_sets_no_revision(team):
    before = members_revision(team)
    with pytest.raises(RuntimeError), transaction(team.app.sessions) as s:
        alice = s.exec(select(Member).where(Member.handle == "alice")).one()
        alice.timezone = "Asia/Shanghai"
        s.add(alice)
        s.flush()
        raise RuntimeError("rolled back")
    assert members_revision(team) == before
    with transaction(team.app.sessions) as s:  # the next transaction of that kind writes nothing about members
        s.exec(select(ConversationRun)).all()
    assert members_revision(team) == before


def members_revision(h):
    with transaction(h.app.sessions) as s:
        return repo.members_revision(s)
