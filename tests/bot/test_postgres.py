"""The same scheduler on PostgreSQL, with two replicas ticking against one database."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from bot.app import Flywheel
from bot.config import parse_config
from bot.platforms.base import FakeMessenger
from bot.settings import Settings
from conversations.clock import FrozenClock
from tests.helpers import local, utc

ORG = {
    "members": [
        {
            "handle": f"p{i}",
            "name": f"Person {i}",
            "timezone": ["Europe/London", "Asia/Shanghai", "America/New_York"][i % 3],
        }
        for i in range(60)
    ]
}


def test_two_replicas_prompt_each_member_exactly_once_per_week(postgres_url):
    clock = FrozenClock(utc(2026, 11, 23))
    config = parse_config(ORG, source="test")
    fakes = [FakeMessenger(clock=clock), FakeMessenger(clock=clock)]
    apps = [
        Flywheel.build(Settings(database_url=postgres_url), clock=clock, config=config, messengers={"console": fake})
        for fake in fakes
    ]
    try:
        for week in range(3):
            for tz, hour in (("Asia/Shanghai", 15), ("Europe/London", 15), ("America/New_York", 15)):
                clock.set(local(tz, 2026, 11, 27, hour, 0) + timedelta(weeks=week))
                barrier = threading.Barrier(2)
                planned: list[int] = []

                def tick(app: Flywheel, barrier: threading.Barrier, planned: list[int]) -> None:
                    barrier.wait()
                    planned.append(app.tick().planned)

                threads = [threading.Thread(target=tick, args=(app, barrier, planned)) for app in apps]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                assert sum(planned) == 20  # this zone's members, each planned by one of the two (counted right)
            clock.set(local("America/New_York", 2026, 11, 30, 12, 0) + timedelta(weeks=week))
            for app in apps:
                app.tick()
        prompts = Counter(r.address for fake in fakes for r, m in fake.sent if m.kind == "deliver")
        assert prompts == {f"p{i}": 3 for i in range(60)}
    finally:
        for app in apps:
            app.close()


def test_a_process_keeps_enough_postgresql_connections_for_its_request_threads(postgres_url):
    """Waitress's 8 request threads, the outbox pump and the scheduler each hold one: with SQLAlchemy's default of
    5, bursts opened and closed a connection (~4 ms) per request (docs/benchmarks.md, session 7)."""
    from storage.db import create_db_engine

    engine = create_db_engine(postgres_url)
    try:
        assert engine.pool.size() >= 10
    finally:
        engine.dispose()
