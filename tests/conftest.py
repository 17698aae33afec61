import os
import uuid

import pytest
import sqlalchemy as sa


@pytest.fixture
def harness(tmp_path):
    # Imported here, not at the top: this conftest is loaded for tests/conversations too, which must not import
    # bot/ or storage/ (tests/test_layering.py).
    from tests.helpers import make_harness
    from tests.times import utc

    h = make_harness(tmp_path, start=utc(2026, 11, 23, 9, 0))
    yield h
    h.app.close()


PG_URL = os.environ.get("FLYWHEEL_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.

    Skipped when no server is reachable on a developer machine; CI (CI=true) starts one and fails instead.
    """
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"flywheel_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc.orig}")
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
