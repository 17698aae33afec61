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
