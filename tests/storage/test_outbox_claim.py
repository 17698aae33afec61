"""The outbox claim: which messages it takes, in which order, what it marks, and (PostgreSQL) that it reads its
index instead of sorting every unsent message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from storage import repo
from storage.db import create_db_engine, session_factory, transaction, upgrade
from storage.models import Member, OutboxMessage

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
LEASE = timedelta(seconds=120)


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        s.add(Member(handle="ana", name="Ana", timezone="UTC", locale="en", created_at=NOW, updated_at=NOW))
    yield session_factory(engine)
    engine.dispose()


def _queue(
    sessions,
    key: str,
    *,
    due: datetime,
    status: str = "pending",
    lease_until: datetime | None = None,
    owner: str | None = None,
    last_error: str | None = None,
) -> int:
    with transaction(sessions) as s:
        row = OutboxMessage(
            dedup_key=key,
            member_id=1,
            kind="deliver",
            body={"key": key},
            status=status,
            next_attempt_at=due,
            lease_until=lease_until,
            lease_owner=owner,
            last_error=last_error,
            attempts=1 if status == "sending" else 0,
            created_at=NOW,
        )
        s.add(row)
        s.flush()
        return row.id


def _claim(sessions, owner: str, limit: int) -> list:
    with transaction(sessions) as s:
        return repo.claim_outbox(s, now=NOW, owner=owner, lease=LEASE, limit=limit)


def test_claims_due_messages_oldest_due_first_and_never_a_live_lease(sessions):
    late = _queue(sessions, "late", due=NOW - timedelta(seconds=5))
    early = _queue(sessions, "early", due=NOW - timedelta(minutes=5))
    same_a = _queue(sessions, "same-a", due=NOW - timedelta(minutes=1))
    same_b = _queue(sessions, "same-b", due=NOW - timedelta(minutes=1))
    _queue(sessions, "future", due=NOW + timedelta(seconds=1))
    _queue(sessions, "sent", due=NOW - timedelta(hours=1), status="sent")
    _queue(sessions, "failed", due=NOW - timedelta(hours=1), status="failed")
    _queue(
        sessions,
        "live",
        due=NOW - timedelta(hours=1),
        status="sending",
        owner="other",
        lease_until=NOW + timedelta(seconds=30),
    )

    first = _claim(sessions, "me", 3)
    assert [r.id for r in first] == [early, same_a, same_b]
    assert {(r.status, r.lease_owner, r.lease_until, r.attempts) for r in first} == {("sending", "me", NOW + LEASE, 1)}
    assert [r.body for r in first] == [{"key": "early"}, {"key": "same-a"}, {"key": "same-b"}]
    assert [r.id for r in _claim(sessions, "you", 3)] == [late]
    assert _claim(sessions, "you", 3) == []  # the rest: not due, done, or leased by someone alive
    with sessions() as s:
        stored = {r.dedup_key: (r.status, r.lease_owner) for r in s.exec(sa.select(OutboxMessage)).scalars()}
    assert stored["early"] == ("sending", "me") and stored["late"] == ("sending", "you")
    assert stored["future"] == ("pending", None) and stored["live"] == ("sending", "other")


def test_a_dead_senders_messages_come_back_marked_uncertain_with_the_queue(sessions):
    queued = [_queue(sessions, f"q{i}", due=NOW - timedelta(minutes=1)) for i in range(3)]
    dead = _queue(
        sessions,
        "dead",
        due=NOW - timedelta(minutes=10),
        status="sending",
        owner="gone",
        lease_until=NOW - timedelta(seconds=1),
        last_error="timeout",
    )
    rows = _claim(sessions, "me", 2)
    # The expired one is taken besides `limit` due ones, so a long queue cannot keep it waiting.
    assert [r.id for r in rows] == [dead, *queued[:2]]
    taken = {r.id: r for r in rows}
    assert taken[dead].last_error == "lease_expired" and taken[dead].attempts == 2
    assert taken[queued[0]].last_error is None and taken[queued[0]].attempts == 1
    assert [r.id for r in _claim(sessions, "me", 2)] == [queued[2]]


def test_postgres_claim_reads_the_index_without_sorting_the_queue(postgres_url):
    engine = create_db_engine(postgres_url)
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as s:
            s.add(Member(handle="ana", name="Ana", timezone="UTC", locale="en", created_at=NOW, updated_at=NOW))
        with engine.begin() as conn:  # a fan-out's worth of queued messages, and history behind them
            conn.execute(
                sa.insert(OutboxMessage.__table__),
                [
                    {
                        "dedup_key": f"m{i}",
                        "member_id": 1,
                        "kind": "deliver",
                        "body": {},
                        "attempts": 0,
                        "status": "sent" if i < 3000 else "pending",
                        "next_attempt_at": NOW - timedelta(minutes=1),
                        "created_at": NOW,
                    }
                    for i in range(6000)
                ],
            )
            conn.exec_driver_sql("ANALYZE outbox_message")
        seen: list[tuple[str, dict]] = []

        @sa.event.listens_for(engine, "before_cursor_execute")
        def capture(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().startswith("UPDATE outbox_message"):
                seen.append((statement, parameters))

        assert len(_claim(sessions, "me", 50)) == 50
        statement, parameters = seen[0]
        with engine.connect() as conn:
            plan = json.dumps(conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar())
        assert "ix_outbox_due" in plan
        assert '"Sort"' not in plan and "Seq Scan" not in plan
    finally:
        engine.dispose()


def test_delivered_messages_are_recorded_with_their_own_platform_ids_only_under_our_lease(sessions):
    ids = [_queue(sessions, f"d{i}", due=NOW - timedelta(minutes=1)) for i in range(4)]
    assert len(_claim(sessions, "me", 4)) == 4
    with transaction(sessions) as s:  # another sender took the last one over meanwhile
        s.get(OutboxMessage, ids[3]).lease_owner = "other"
    later = NOW + timedelta(seconds=3)
    with transaction(sessions) as s:
        recorded = repo.mark_sent(
            s,
            sent=[(ids[0], "1700000000.000100"), (ids[1], None), (ids[2], "om_abc"), (ids[3], "1700000000.000400")],
            owner="me",
            now=later,
        )
    assert recorded == {ids[0]: "deliver", ids[1]: "deliver", ids[2]: "deliver"}
    with sessions() as s:
        rows = {r.id: r for r in s.exec(sa.select(OutboxMessage)).scalars()}
    assert [rows[i].platform_message_id for i in ids] == ["1700000000.000100", None, "om_abc", None]
    assert [rows[i].status for i in ids] == ["sent", "sent", "sent", "sending"]
    assert rows[ids[0]].sent_at == later and rows[ids[0]].body == {} and rows[ids[0]].lease_owner is None
    assert rows[ids[3]].body == {"key": "d3"} and rows[ids[3]].lease_owner == "other"
