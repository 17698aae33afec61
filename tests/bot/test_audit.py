"""Audit records for reads of other people's answers, and the retention setting."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import select

from bot.cli import main
from storage.db import transaction
from storage.models import Answer, AuditRecord, Member
from tests.bot.test_digest import run_checkin
from tests.helpers import local


def records(h):
    with transaction(h.app.sessions) as s:
        handles = {m.id: m.handle for m in s.exec(select(Member))}
        return sorted(
            (handles.get(r.actor_id, "admin"), handles[r.subject_id], r.what) for r in s.exec(select(AuditRecord))
        )


def test_digest_builds_and_manager_views_are_audited_and_own_reads_are_not(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 0))
    assert records(h) == [("maria", "alice", "digest"), ("maria", "bo", "digest"), ("maria", "chen", "digest")]
    h.say("alice", "/me")
    h.say("alice", "/me export")
    h.clock.set(local("Europe/London", 2026, 12, 1, 10, 0))  # December's review is open
    h.say("alice", "/review")
    h.say("alice", "none")
    h.say("alice", "3 a course on negotiation")
    h.say("alice", "/support")  # her own: not recorded
    h.say("maria", "/support")
    assert [r for r in records(h) if r[2] != "digest"] == [("maria", "alice", "support_list")]


def test_deletion_on_request_is_audited(harness, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", harness.app.settings.database_url)
    for name in ("SLACK_BOT_TOKEN", "FEISHU_APP_ID", "FLYWHEEL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert main(["forget", "bo", "--yes"]) == 0
    assert ("admin", "deleted-3", "forget") in records(harness)


def test_retention_deletes_old_answers_in_the_tick(harness):
    h = harness
    h.app.settings = replace(h.app.settings, retention_days=30)
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice")
    h.run_until(local("Europe/London", 2026, 12, 20, 12, 0))
    with transaction(h.app.sessions) as s:
        assert s.exec(select(Answer)).all() != []  # 23 days: kept
    h.run_until(local("Europe/London", 2027, 1, 1, 12, 0))
    with transaction(h.app.sessions) as s:
        assert [a for a in s.exec(select(Answer)) if a.created_at < local("Europe/London", 2026, 11, 28)] == []
