"""One scheduler per SQLite file: an advisory file lock next to the database. PostgreSQL needs none (the
scheduler is safe to run in several replicas there)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url


class AlreadyRunningError(RuntimeError):
    def __init__(self, path: Path, pid: str) -> None:
        super().__init__(
            f"another Flywheel process (pid {pid or 'unknown'}) is already running the scheduler on "
            f"{path}. With SQLite, run one process; for several, use PostgreSQL (DATABASE_URL)."
        )
        self.path = path
        self.pid = pid


class SchedulerLock:
    def __init__(self, handle: IO[str] | None) -> None:
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def acquire_scheduler_lock(database_url: str) -> SchedulerLock:
    """Take the SQLite file's scheduler lock, or raise AlreadyRunningError. A no-op for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return SchedulerLock(None)
    db = Path(url.database).resolve()
    path = db.with_name(db.name + ".scheduler.lock")
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip()
        handle.close()
        raise AlreadyRunningError(db, pid) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return SchedulerLock(handle)
