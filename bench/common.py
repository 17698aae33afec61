"""What every benchmark shares: throw-away databases, a generated organisation, the fake Slack Web API (with
Slack-like limits when asked), timing helpers and the result table."""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.config import parse_config
from conversations.clock import UTC
from conversations.schedule import zone
from fakes.slack_api import Call, FakeSlack, Scripted

PG_URL = os.environ.get(
    "FLYWHEEL_BENCH_POSTGRES",
    os.environ.get("FLYWHEEL_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)
TZ = "Europe/London"
# Friday 27 Nov 2026, 15:00 London: the weekly check-in falls due for everyone in the generated org at once.
DUE = datetime(2026, 11, 27, 15, 0, tzinfo=zone(TZ)).astimezone(UTC)


def quiet_logs() -> None:
    """The bot logs every transition at INFO; at 10,000 members that is the benchmark's own noise. Waitress warns
    "task queue depth" for every request that waits for a thread; the latency figures say that better."""
    logging.basicConfig(level=logging.WARNING)
    for name in ("bot", "conversations", "storage", "slack_sdk", "slack_bolt", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh database URL for one benchmark, removed afterwards: a temporary SQLite file, or a new PostgreSQL
    database on the local server (like the tests' `postgres_url` fixture) dropped with FORCE at the end."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    if kind != "postgres":
        raise ValueError(kind)
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"flywheel_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def slack_id(i: int) -> str:
    return f"U{i:06d}"


def org(members: int, *, managers: int = 0, tz: str = TZ) -> dict[str, Any]:
    """`members` people with Slack ids; with `managers`, the first `managers` people manage the rest round-robin."""
    people = []
    for i in range(members):
        person: dict[str, Any] = {"handle": f"m{i}", "name": f"Member{i} Test", "slack": slack_id(i), "timezone": tz}
        if managers and i >= managers:
            person["manager"] = f"m{i % managers}"
        people.append(person)
    return {"members": people}


def org_config(members: int, *, managers: int = 0):
    return parse_config(org(members, managers=managers), source="bench")


class LimitedSlack:
    """A `FakeSlack.rule` with Slack-like limits on `chat.postMessage`, on the fake's (simulated) clock: at most
    `per_channel` messages per channel per second and `workspace` per second in all; over a limit the answer is
    429 with `Retry-After: 1`, as Slack gives it. Counts what it refused."""

    def __init__(self, *, workspace: int, per_channel: int = 1) -> None:
        self.workspace = workspace
        self.per_channel = per_channel
        self.second: int | None = None
        self.in_second = 0
        self.channel_second: dict[str, tuple[int, int]] = {}
        self.refused = 0

    def __call__(self, call: Call) -> Scripted | None:
        if call.method != "chat.postMessage" or call.at is None:
            return None
        second = int(call.at.timestamp())
        if second != self.second:
            self.second, self.in_second = second, 0
        channel = str(call.params.get("channel"))
        last, count = self.channel_second.get(channel, (None, 0))
        count = count if last == second else 0
        if self.in_second >= self.workspace or count >= self.per_channel:
            self.refused += 1
            return Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
        self.in_second += 1
        self.channel_second[channel] = (second, count + 1)
        return None


def start_fake(clock: Any = None) -> FakeSlack:
    return FakeSlack(clock).start()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Result:
    """One benchmark on one database: named figures, the targets and whether they were met."""

    bench: str
    db: str
    figures: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "db": self.db,
            "figures": self.figures,
            "targets": self.targets,
            "notes": self.notes,
        }


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits)
