"""Inbound de-duplication on both databases: the first delivery of an event counts, the second does not (on
PostgreSQL psycopg reports the row count of a one-row insert as -1, which once made every event a duplicate)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage import repo
from storage.db import create_db_engine, session_factory, transaction, upgrade

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_an_event_is_new_once(database, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'p.db'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    upgrade(engine)
    try:
        with transaction(session_factory(engine)) as s:
            first = repo.mark_processed(s, dedup_key="slack:ev:1", platform="slack", now=NOW)
            again = repo.mark_processed(s, dedup_key="slack:ev:1", platform="slack", now=NOW)
        with transaction(session_factory(engine)) as s:
            later = repo.mark_processed(s, dedup_key="slack:ev:1", platform="slack", now=NOW)
            other = repo.mark_processed(s, dedup_key="slack:ev:2", platform="slack", now=NOW)
    finally:
        engine.dispose()
    assert (first, again, later, other) == (True, False, False, True)
