"""Shared test helpers for the bot: an app on a temporary SQLite file, a fake messenger and a movable clock.

It imports bot/ and storage/, so tests/conversations must not use it: their helpers are in tests/times.py
(re-exported here for the bot's tests)."""

from __future__ import annotations

import functools
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from bot.app import Flywheel
from bot.config import OrgConfig, parse_config
from bot.platforms.base import FakeMessenger
from bot.settings import Settings
from conversations.clock import FrozenClock
from conversations.events import InboundEvent
from storage.db import create_db_engine, transaction, upgrade
from storage.models import Answer, ConversationRun, Member
from tests.times import local, utc, weeks

__all__ = ["DEMO", "Harness", "answer_retro", "in_channel", "local", "make_harness", "posts", "utc", "weeks"]

DEMO = {
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice Martin", "manager": "maria", "timezone": "Europe/London"},
        {"handle": "bo", "name": "Bo Li", "manager": "maria", "timezone": "America/New_York"},
        {"handle": "chen", "name": "陈晨", "manager": "maria", "timezone": "Asia/Shanghai", "locale": "zh"},
    ]
}


@dataclass
class Harness:
    app: Flywheel
    clock: FrozenClock
    fake: FakeMessenger
    _seq: int = 0

    def say(self, handle: str, text: str, *, key: str | None = None) -> list[str]:
        """Send a DM as `handle`, deliver the replies, and return the texts the member received."""
        before = len(self.fake.sent)
        self._seq += 1
        self.app.handle(
            InboundEvent(
                platform="console",
                user=handle,
                kind="message",
                text=text,
                dedup_key=key or f"test:{self._seq}",
                received_at=self.clock.now(),
            )
        )
        self.app.deliver_outbox()
        return [m.text for r, m in self.fake.sent[before:] if r.address == handle]

    def run_until(self, end: datetime, *, max_steps: int = 100000) -> None:
        """Advance the clock to `end`, ticking at every instant where work falls due."""
        for _ in range(max_steps):
            nxt = self.app.next_wakeup(self.clock.now())
            if nxt is None or nxt > end:
                break
            self.clock.set(nxt)
            self.app.tick()
        self.clock.set(end)
        self.app.tick()

    def prompts(self, handle: str | None = None, flow: str = "weekly_checkin") -> list[tuple[str, datetime]]:
        """(handle, sent at) of every first question of `flow` sent by the scheduler."""
        return [
            (r.address, at)
            for (r, m), at in zip(self.fake.sent, self.fake.sent_at, strict=True)
            if m.kind == "deliver"
            and m.replies[0].template.startswith(f"{flow}/")
            and (handle is None or r.address == handle)
        ]

    def runs(self, handle: str) -> list[ConversationRun]:
        with transaction(self.app.sessions) as s:
            member = s.exec(select(Member).where(Member.handle == handle)).one()
            return list(
                s.exec(
                    select(ConversationRun)
                    .where(ConversationRun.member_id == member.id)
                    .order_by(ConversationRun.due_at)
                )
            )

    def answers(self, run_id: int) -> dict[str, Any]:
        with transaction(self.app.sessions) as s:
            return {a.step: a.value for a in s.exec(select(Answer).where(Answer.run_id == run_id))}

    def set_member(self, handle: str, **changes: Any) -> None:
        with transaction(self.app.sessions) as s:
            member = s.exec(select(Member).where(Member.handle == handle)).one()
            for key, value in changes.items():
                if key == "accounts":  # {platform: user id}
                    for platform, user_id in value.items():
                        member.set_account(platform, user_id)
                else:
                    setattr(member, key, value)
            s.add(member)


def make_harness(
    tmp_path: Path, *, start: datetime, config: dict | None = None, database_url: str | None = None
) -> Harness:
    clock = FrozenClock(start)
    fake = FakeMessenger(platform="console", clock=clock)
    if database_url is None:
        shutil.copyfile(_migrated_sqlite(), tmp_path / "flywheel.db")
    settings = Settings(database_url=database_url or f"sqlite:///{tmp_path / 'flywheel.db'}")
    org: OrgConfig = parse_config(config or DEMO, source="test")
    app = Flywheel.build(settings, clock=clock, config=org, messengers={"console": fake})
    return Harness(app=app, clock=clock, fake=fake)


@functools.cache
def _migrated_sqlite() -> Path:
    """An empty SQLite database at the newest migration, made once per test process and copied for each harness.

    Migrating from nothing takes most of a second; the app's own start-up still runs `upgrade`, which finds the
    copy at the head (tests/storage/test_migrations.py migrates from nothing)."""
    path = Path(tempfile.mkdtemp(prefix="flywheel-template-")) / "flywheel.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closed: the write-ahead log is checkpointed into the file
    assert not path.with_name("flywheel.db-wal").exists() or not path.with_name("flywheel.db-wal").stat().st_size
    return path


# Retrospectives: a command typed in a channel, what a channel shows, and one person's four answers.


def in_channel(h, handle, text, channel="#product"):
    h._seq += 1
    h.app.handle(
        InboundEvent(
            platform="console",
            user=handle,
            kind="command",
            text=text,
            channel=channel,
            dedup_key=f"chan:{h._seq}",
            received_at=h.clock.now(),
        )
    )
    h.app.deliver_outbox()


def posts(h, channel="#product"):
    return [m.text for r, m in h.fake.sent if r.address == channel]


def answer_retro(h, handle, goal, well, badly, actions):
    for text in (goal, well, badly, actions):
        h.say(handle, text)
