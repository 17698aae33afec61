"""The fence before every send (`repo.fence_outbox`) and leases on the database's clock (`db_clock`, `repo.db_now`).

A sender about to post a claimed message confirms, in one statement, that it still holds the message under a lease
that has not run out, and extends it. On the database's clock, the replica's own idea of the time plays no part in
whose lease holds: a replica whose clock runs ahead cannot take a live lease over, and one whose clock lags cannot
keep trusting a lease that has run out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import repo
from storage.db import create_db_engine, session_factory, transaction, upgrade
from storage.models import Member, OutboxMessage

LEASE = timedelta(seconds=120)


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    with transaction(session_factory(engine)) as s:
        s.add(Member(handle="ana", name="Ana", timezone="UTC", locale="en", created_at=now, updated_at=now))
    yield session_factory(engine)
    engine.dispose()


def _queue(sessions, key: str, *, status: str = "pending", lease_until=None, owner=None) -> int:
    now = datetime.now(UTC)
    with transaction(sessions) as s:
        row = OutboxMessage(
            dedup_key=key,
            member_id=1,
            kind="deliver",
            body={},
            status=status,
            next_attempt_at=now - timedelta(minutes=1),
            lease_until=lease_until,
            lease_owner=owner,
            attempts=1 if status == "sending" else 0,
            created_at=now,
        )
        s.add(row)
        s.flush()
        return row.id


def _row(sessions, outbox_id: int) -> OutboxMessage:
    with transaction(sessions) as s:
        row = s.get(OutboxMessage, outbox_id)
        assert row is not None
        return row


def _fence(sessions, outbox_id: int, owner: str, now: datetime | None) -> bool:
    with transaction(sessions) as s:
        return repo.fence_outbox(s, ids=[outbox_id], owner=owner, lease=LEASE, now=now) == {outbox_id}


def test_the_fence_passes_only_the_holder_of_a_live_lease_and_extends_it(sessions):
    app_now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # the app's clock: a test's, nowhere near the real one
    mine = _queue(sessions, "mine", status="sending", owner="me", lease_until=app_now + timedelta(seconds=10))
    assert not _fence(sessions, mine, "other", app_now)
    assert _row(sessions, mine).lease_until == app_now + timedelta(seconds=10)  # untouched
    assert _fence(sessions, mine, "me", app_now)
    assert _row(sessions, mine).lease_until == app_now + LEASE  # extended from now
    assert not _fence(sessions, mine, "me", app_now + LEASE + timedelta(seconds=1))  # run out: not ours to send
    done = _queue(sessions, "done", status="sent", owner="me", lease_until=app_now + LEASE)
    assert not _fence(sessions, done, "me", app_now)


def test_on_the_database_clock_the_fence_ignores_the_replicas_own_time(sessions):
    real = datetime.now(UTC)
    live = _queue(sessions, "live", status="sending", owner="me", lease_until=real + timedelta(seconds=30))
    gone = _queue(sessions, "gone", status="sending", owner="me", lease_until=real - timedelta(seconds=1))
    assert _fence(sessions, live, "me", None)
    until = _row(sessions, live).lease_until
    assert real + LEASE - timedelta(seconds=5) < until < datetime.now(UTC) + LEASE + timedelta(seconds=5)
    assert not _fence(sessions, gone, "me", None)  # a lagging replica would still believe in it
    assert _row(sessions, gone).lease_until == real - timedelta(seconds=1)


def test_a_claim_on_the_database_clock_neither_takes_a_live_lease_early_nor_misses_a_dead_one(sessions):
    real = datetime.now(UTC)
    live = _queue(sessions, "live", status="sending", owner="other", lease_until=real + timedelta(seconds=60))
    dead = _queue(sessions, "dead", status="sending", owner="other", lease_until=real - timedelta(seconds=1))
    due = _queue(sessions, "due")
    ahead = real + timedelta(hours=1)  # this replica's clock runs an hour ahead: everything looks expired to it
    with transaction(sessions) as s:
        claimed = repo.claim_outbox(s, now=ahead, owner="me", lease=LEASE, limit=10, db_clock=True)
    assert {r.id for r in claimed} == {dead, due}
    assert {r.id: r.last_error for r in claimed} == {dead: "lease_expired", due: None}
    for r in claimed:  # the new leases run from the database's now, not from the replica's
        assert real + LEASE - timedelta(seconds=5) < r.lease_until < datetime.now(UTC) + LEASE + timedelta(seconds=5)
    assert _row(sessions, live).lease_owner == "other"
    assert _fence(sessions, dead, "me", None) and not _fence(sessions, dead, "other", None)
