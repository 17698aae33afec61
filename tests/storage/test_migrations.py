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
