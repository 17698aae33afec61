"""Engine, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction starts with
`BEGIN IMMEDIATE` so two writers never deadlock on a lock upgrade. PostgreSQL is used as is.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from importlib import resources
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

if TYPE_CHECKING:  # alembic is imported where it is used: most processes never migrate
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger(__name__)

PG_POOL = 12  # PostgreSQL connections a process keeps open (and as many more in a burst)


class _NoResultRows(logging.Filter):
    """SQLAlchemy logs every fetched row at DEBUG; rows hold people's answers, which never go to a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(("Row ", "Col ")))


for _name in ("sqlalchemy.engine.Engine", "sqlalchemy.engine"):
    logging.getLogger(_name).addFilter(_NoResultRows())


def create_db_engine(url: str, *, echo: bool = False) -> sa.Engine:
    """An engine for `url`; SQLite gets WAL, busy_timeout, foreign keys and `BEGIN IMMEDIATE`.

    `hide_parameters` keeps bound values (people's answers) out of error messages and so out of the logs.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url, echo=echo, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30}
        )
        in_memory = parsed.database in (None, "", ":memory:")

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # Connections kept open: one for each of waitress's 8 request threads, the outbox pump, the scheduler and a few
    # more (Socket Mode's and Feishu's listeners). With SQLAlchemy's default of 5, a burst of requests opened and
    # closed a connection each time (~4 ms on loopback, a new server process on PostgreSQL's side).
    return sa.create_engine(
        url, echo=echo, pool_pre_ping=True, hide_parameters=True, pool_size=PG_POOL, max_overflow=PG_POOL
    )


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


class FairLock:
    """A re-entrant lock that serves waiting threads in the order they asked (a ticket lock).

    threading.Lock lets the thread that releases take it straight back: the scheduler, going from one batch to the
    next, kept the writer for a whole fan-out phase while inbound acks waited (p99 380 ms in the benchmark)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> FairLock:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return self
            ticket = self._next_ticket
            self._next_ticket += 1
            while self._serving != ticket:
                self._cond.wait()
            self._owner, self._depth = me, 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._serving += 1
                self._cond.notify_all()


_WRITERS: dict[str, FairLock] = {}
_WRITERS_GUARD = threading.Lock()


def _writer_lock(engine: sa.Engine | None) -> FairLock | None:
    """One lock per SQLite file for the threads of this process (SQLite has one writer at a time anyway).

    Every SQLite transaction starts with `BEGIN IMMEDIATE`, so they run one at a time whatever we do; without this
    lock the waiting threads poll SQLite's busy handler, which sleeps longer and longer (up to 100 ms a time) and
    serves nobody in order: under a fan-out the inbound benchmark saw acks wait over a second. With it a waiting
    thread starts the moment the previous transaction ends, in the order they came. PostgreSQL needs nothing of
    the kind.
    """
    if engine is None or engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    key = os.path.abspath(engine.url.database)
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, FairLock())


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error."""
    lock = _writer_lock(factory.kw.get("bind"))
    with lock if lock is not None else nullcontext():
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _alembic_config(engine: sa.Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _location())
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


@functools.cache
def _scripts(location: str) -> ScriptDirectory:
    """The migration scripts, read once per process (they do not change while it runs)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", location)
    return ScriptDirectory.from_config(cfg)


def _location() -> str:
    return str(resources.files("storage") / "migrations")


def upgrade(engine: sa.Engine) -> None:
    """Apply every migration not yet applied (idempotent; run at every start-up).

    A database already at the head is recognised with one query: running Alembic's environment would import every
    migration module again on each start (about 0.1 s, paid by every test that builds an app)."""
    from alembic import command

    if current_revision(engine) == head_revision(engine):
        return
    command.upgrade(_alembic_config(engine), "head")


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: sa.Engine | None = None) -> str | None:
    """The newest migration this code knows (the same for every engine)."""
    return _scripts(_location()).get_current_head()
