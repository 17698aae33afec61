"""Migrations create exactly the tables the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import create_db_engine, current_revision, head_revision, session_factory, transaction, upgrade
from storage.models import Member


def _assert_matches_models(engine: sa.Engine) -> None:
    upgrade(engine)
    upgrade(engine)  # idempotent: a second start changes nothing
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_sqlite_migrations_match_the_models(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        _assert_matches_models(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_postgres_migrations_match_the_models(postgres_url):
    engine = create_db_engine(postgres_url)
    try:
        _assert_matches_models(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_datetimes_come_back_as_aware_utc(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        shanghai = timezone(timedelta(hours=8))
        when = datetime(2026, 11, 27, 15, 0, tzinfo=shanghai)
        with transaction(session_factory(engine)) as s:
            s.add(Member(handle="x", name="X", timezone="Asia/Shanghai", created_at=when, updated_at=when))
        with transaction(session_factory(engine)) as s:
            row = s.exec(sa.select(Member)).scalars().one()
            assert row.created_at == when
            assert row.created_at.tzinfo == UTC
            assert row.created_at.hour == 7
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_0009_records_who_set_the_lines_already_stored(backend, tmp_path, request):
    from alembic import command

    from storage.db import _alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    try:
        command.upgrade(_alembic_config(engine), "0008")
        now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
        with engine.begin() as conn:
            for i, (source, manager) in enumerate(
                [("file", None), ("file", 1), ("feishu", 1), ("slack", 1), (None, 1)], start=1
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO member (id, handle, name, timezone, locale, active, source, "
                        "manager_id, created_at, updated_at) VALUES (:id, :h, :h, 'UTC', 'en', true, "
                        ":source, :manager, :now, :now)"
                    ),
                    {"id": i, "h": f"m{i}", "source": source, "manager": manager, "now": now},
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT manager_source FROM member ORDER BY id")).scalars().all()
        assert rows == [None, "file", "feishu", "chat", "chat"]
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_0013_moves_every_members_accounts_into_identity_rows_and_back(backend, tmp_path, request):
    from alembic import command

    from storage.db import _alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    try:
        config = _alembic_config(engine)
        command.upgrade(config, "0012")
        now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
        people = [  # id, slack user, slack team, feishu open_id, manager
            (1, "UALICE", "T1", None, None),
            (2, None, None, "ou_bo", 1),
            (3, "UCHEN", "T1", "ou_chen", 1),
            (4, None, None, None, 3),
        ]
        with engine.begin() as conn:
            for i, slack, team, feishu, manager in people:
                conn.execute(
                    sa.text(
                        "INSERT INTO member (id, handle, name, timezone, locale, active, manager_id, slack_user_id, "
                        "slack_team_id, feishu_open_id, country, created_at, updated_at) VALUES (:id, :h, :h, 'UTC', "
                        "'en', true, :manager, :slack, :team, :feishu, 'CN', :now, :now)"
                    ),
                    {
                        "id": i,
                        "h": f"m{i}",
                        "manager": manager,
                        "slack": slack,
                        "team": team,
                        "feishu": feishu,
                        "now": now,
                    },
                )
            conn.execute(  # a row elsewhere that points at a member: the rebuild must keep it valid
                sa.text(
                    "INSERT INTO kudos (id, giver_id, reason, period, created_at) VALUES (1, 3, 'thanks', '2026-W48', "
                    ":now)"
                ),
                {"now": now},
            )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT member_id, platform, external_id, workspace FROM member_identity "
                    "ORDER BY member_id, platform"
                )
            ).all()
            members = conn.execute(sa.text("SELECT id, handle, manager_id, country FROM member ORDER BY id")).all()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("member")}
        assert [tuple(r) for r in rows] == [
            (1, "slack", "UALICE", "T1"),
            (2, "feishu", "ou_bo", None),
            (3, "feishu", "ou_chen", None),
            (3, "slack", "UCHEN", "T1"),
        ]
        assert [tuple(m) for m in members] == [
            (1, "m1", None, "CN"),
            (2, "m2", 1, "CN"),
            (3, "m3", 1, "CN"),
            (4, "m4", 3, "CN"),
        ]
        assert not columns & {"slack_user_id", "slack_team_id", "feishu_open_id"}
        with transaction(session_factory(engine)) as s:  # the models read what the migration wrote
            chen = s.get(Member, 3)
            assert (chen.account("slack"), chen.account("feishu"), chen.account("console")) == (
                "UCHEN",
                "ou_chen",
                "m3",
            )
        if backend == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        command.downgrade(config, "0012")
        with engine.connect() as conn:
            back = conn.execute(
                sa.text("SELECT id, slack_user_id, slack_team_id, feishu_open_id, manager_id FROM member ORDER BY id")
            ).all()
        assert [tuple(r) for r in back] == [
            (i, slack, team, feishu, manager) for i, slack, team, feishu, manager in people
        ]
        upgrade(engine)  # and forward again
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_0016_moves_retro_actions_into_development_actions_and_back(backend, tmp_path, request):
    """Retro actions become development actions (one kind of thing) with their status, times and anonymity verdict
    (`shared_at`: unshared stays unshared); downgrading moves the retro ones back and drops the others."""
    from alembic import command

    from storage import repo
    from storage.db import _alembic_config
    from storage.models import DevelopmentAction

    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    try:
        config = _alembic_config(engine)
        command.upgrade(config, "0015")
        now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
        later = now + timedelta(days=3)
        with engine.begin() as conn:
            for i in (1, 2):
                conn.execute(
                    sa.text(
                        "INSERT INTO member (id, handle, name, timezone, locale, active, created_at, updated_at) "
                        "VALUES (:id, :h, :h, 'UTC', 'en', true, :now, :now)"
                    ),
                    {"id": i, "h": f"m{i}", "now": now},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO retro (id, title, started_by, anonymous, status, due_at, created_at) "
                    "VALUES (1, 'Launch', 1, false, 'summarised', :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO conversation_run (id, flow, member_id, period, status, context, due_at, prompt_at, "
                    "closes_at, reminded, created_at, updated_at) VALUES (1, 'retro', 1, 'retro-1', 'completed', "
                    "'{}', :now, :now, :now, false, :now, :now)"
                ),
                {"now": now},
            )
            for i, owner, text, status, done_at, shared_at in (
                (1, 1, "write the runbook", "open", None, now),
                (2, 2, "fix  alerts", "done", later, now),
                (3, 2, "withheld one", "open", None, None),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO retro_action (id, retro_id, owner_id, author_run_id, text, status, created_at, "
                        "done_at, shared_at) VALUES (:i, 1, :owner, 1, :text, :status, :now, :done, :shared)"
                    ),
                    {
                        "i": i,
                        "owner": owner,
                        "text": text,
                        "status": status,
                        "now": now,
                        "done": done_at,
                        "shared": shared_at,
                    },
                )
        upgrade(engine)
        with transaction(session_factory(engine)) as s:
            moved = [
                (a.owner_id, a.text, a.source, a.source_run_id, a.retro_id, a.status, a.closed_at, a.shared_at)
                for a in s.exec(sa.select(DevelopmentAction).order_by(DevelopmentAction.id)).scalars()
            ]
            assert moved == [
                (1, "write the runbook", "retro", 1, 1, "open", None, now),
                (2, "fix  alerts", "retro", 1, 1, "done", later, now),
                (2, "withheld one", "retro", 1, 1, "open", None, None),
            ]
            assert [a.text for a, _ in repo.open_actions(s, owner_ids=[1, 2])] == ["write the runbook"]
            repo.add_action(s, 2, "Practise a demo", "typed", now=now)
            dropped = repo.add_action(s, 1, "dropped one", "retro", now=now, retro_id=1, source_run_id=1)
            repo.set_action_status(s, action=dropped, status="dropped", now=later)
        with engine.connect() as conn:
            assert "retro_action" not in sa.inspect(conn).get_table_names()
        command.downgrade(config, "0015")
        with engine.connect() as conn:
            back = conn.execute(
                sa.text("SELECT owner_id, author_run_id, text, status, shared_at IS NULL FROM retro_action ORDER BY id")
            ).all()
            tables = sa.inspect(conn).get_table_names()
        assert [tuple(r) for r in back] == [
            (1, 1, "write the runbook", "open", False),
            (2, 1, "fix  alerts", "done", False),
            (2, 1, "withheld one", "open", True),
            (1, 1, "dropped one", "done", False),  # closed either way
        ]
        assert "development_action" not in tables and "development_action_note" not in tables
        upgrade(engine)  # and up again
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_0018_replies_and_upward_feedback_go_down_and_up_again(backend, tmp_path, request):
    from alembic import command

    from storage.db import _alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    tables = {"answer_reply", "reply_ref", "upward_feedback", "upward_respondent", "upward_answer"}
    try:
        config = _alembic_config(engine)
        upgrade(engine)
        assert tables <= set(sa.inspect(engine).get_table_names())
        command.downgrade(config, "0015")
        assert not tables & set(sa.inspect(engine).get_table_names())
        _assert_matches_models(engine)  # and up again, matching the models
        if backend == "sqlite":  # no rowid: the texts are kept in the order of their random keys
            with engine.connect() as conn:
                sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'upward_feedback'").scalar()
            assert "WITHOUT ROWID" in sql
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_0019_feedback_requests_and_one_on_ones_go_up_and_down(backend, tmp_path, request):
    from alembic import command

    from storage.db import _alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    tables = {"feedback_request", "one_on_one", "one_on_one_item"}
    try:
        config = _alembic_config(engine)
        upgrade(engine)
        now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO member (id, handle, name, timezone, locale, active, created_at, updated_at) VALUES "
                    "(1, 'm', 'M', 'UTC', 'en', true, :now, :now), (2, 'r', 'R', 'UTC', 'en', true, :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO feedback_request (requester_id, topic, status, created_at, closes_at) "
                    "VALUES (2, 'launch', 'open', :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO one_on_one (id, manager_id, member_id, proposed_by, cadence, weekday, at_time, "
                    "timezone, status, created_at) VALUES (1, 1, 2, 1, 'weekly', 2, '10:00', 'UTC', 'active', :now)"
                ),
                {"now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO one_on_one_item (one_on_one_id, author_id, kind, text, private, created_at) "
                    "VALUES (1, 2, 'note', 'mine only', true, :now)"
                ),
                {"now": now},
            )
        command.downgrade(config, "0016")
        assert tables.isdisjoint(sa.inspect(engine).get_table_names())
        upgrade(engine)
        assert tables <= set(sa.inspect(engine).get_table_names())
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_0017_adds_goals_key_results_and_comments_and_takes_them_away_again(backend, tmp_path, request):
    from alembic import command

    from storage.db import _alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    try:
        config = _alembic_config(engine)
        command.upgrade(config, "0016")
        assert not {"goal", "key_result", "goal_comment"} & set(sa.inspect(engine).get_table_names())
        upgrade(engine)
        now = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
        with engine.begin() as conn:
            for i, manager in ((1, None), (2, 1)):
                conn.execute(
                    sa.text(
                        "INSERT INTO member (id, handle, name, timezone, locale, active, manager_id, created_at, "
                        "updated_at) VALUES (:id, :h, :h, 'UTC', 'en', true, :m, :now, :now)"
                    ),
                    {"id": i, "h": f"m{i}", "m": manager, "now": now},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO goal (id, owner_id, scope, quarter, number, text, member_agreed, manager_agreed, "
                    "created_at, updated_at) VALUES (1, 1, 'team', '2027-Q1', 1, 'Happier customers', true, true, "
                    ":now, :now), (2, 2, 'personal', '2027-Q1', 1, 'Faster onboarding', true, false, :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(sa.text("UPDATE goal SET aligned_to = 1 WHERE id = 2"))
            conn.execute(
                sa.text(
                    "INSERT INTO key_result (goal_id, number, text, start, target, unit, done, updated_at) "
                    "VALUES (2, 1, 'activation 40 to 60 %', 40, 60, '%', false, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO goal_comment (goal_id, author_id, text, created_at) "
                    "VALUES (2, 1, 'Could it be 65?', :now)"
                ),
                {"now": now},
            )
        with transaction(session_factory(engine)) as s:  # the models read what was written
            from storage import repo

            goals = repo.goals_of(s, owner_ids=[2], quarter="2027-Q1")
            assert [(g.text, g.aligned_to) for g in goals] == [("Faster onboarding", 1)]
            assert [k.target for k in repo.key_results_of(s, goal_ids=[2])[2]] == [60.0]
            assert [c.text for c in repo.goal_comments_of(s, goal_ids=[2])[2]] == ["Could it be 65?"]
        command.downgrade(config, "0016")
        assert not {"goal", "key_result", "goal_comment"} & set(sa.inspect(engine).get_table_names())
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
        assert {"goal", "key_result", "goal_comment"} <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
