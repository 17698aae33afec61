"""What the layers around the bot need of it, and nothing more: the platforms (Slack, Feishu, the console, the web
server, the scheduler) and the features depend on these narrow shapes, never on the composed app (bot/app.py),
which provides all of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from conversations.clock import Clock
from conversations.commands import Command
from conversations.events import InboundEvent
from conversations.flows import Flow
from conversations.machine import Reply, RunState
from conversations.render import Audience, Renderer
from storage.models import Member

if TYPE_CHECKING:  # annotations only
    from bot.calendar import Calendars
    from bot.foreground import Foreground
    from bot.metrics import Metrics
    from bot.platforms.base import Messenger
    from bot.settings import Settings


# What a command does, inside the event's transaction: (replies, the run they belong to, if any). Each feature
# declares its commands (`commands()`), and the app registers them (bot/inbound.py `Commands`).
CommandHandler = Callable[[Session, Member, Command, InboundEvent, datetime], tuple[list[Reply], int | None]]


@dataclass
class TickReport:
    """What one tick did (bot/ticker.py), for the scheduler's log line and the console."""

    planned: int = 0
    missed: int = 0
    delivered: int = 0
    reminded: int = 0
    expired: int = 0
    sent: int = 0
    failed: int = 0
    digests: int = 0

    def total(self) -> int:
        return self.planned + self.delivered + self.reminded + self.expired + self.sent + self.digests


class Transactions(Protocol):
    def transaction(self) -> AbstractContextManager[Session]:
        """One unit of work on the bot's database."""
        ...


class Inbound(Protocol):
    """What a platform's event listener needs: the time, and somewhere to hand a person's event."""

    clock: Clock

    def handle(self, event: InboundEvent) -> bool: ...


class FormSource(Protocol):
    """What builds a form (bot/platforms/common.py `build_form`)."""

    renderer: Renderer

    def form_for(self, *, platform: str, user: str, run_id: int) -> tuple[Flow, RunState, Member] | None: ...

    def audience_for(self, member: Member) -> Audience: ...


class Forms(FormSource, Protocol):
    """What a platform's forms and buttons need."""

    def submit_form(
        self, *, platform: str, user: str, run_id: int, values: Mapping[str, str], dedup_key: str
    ) -> dict[str, str]: ...

    def answers_current_question(self, *, platform: str, user: str, flow: str, step: str) -> bool: ...

    def member_locale(self, platform: str, user: str) -> str: ...


class Chat(Inbound, Forms, Protocol):
    """A chat platform: events in, forms and buttons, and the messengers (a Slack form opens through its client)."""

    messengers: dict[str, Messenger]


class Ticking(Protocol):
    """What runs the scheduled work."""

    settings: Settings

    def tick(self) -> TickReport: ...


class Outbox(Protocol):
    def deliver_outbox(self, *, limit: int = ...) -> tuple[int, int]: ...

    def next_outbox_due(self) -> datetime | None: ...

    def outbox_depth(self) -> int: ...


class Server(Chat, Outbox, Protocol):
    """The web server (bot/web.py): inbound events, forms, the outbox pump, metrics and health."""

    engine: sa.Engine
    metrics: Metrics
    foreground: Foreground  # requests being answered, which background work gives way to (bot/foreground.py)
    connections: dict[str, Callable[[], bool]]


class Console(Inbound, Ticking, Outbox, Protocol):
    """The local console: talks as any member and moves time."""

    sessions: sessionmaker[Session]
    owner: str

    def next_wakeup(self, after: datetime) -> datetime | None: ...


class DigestSender(Transactions, Protocol):
    """What queues the managers' digests (bot/digest.py `send_due_digests`)."""

    skip_level: bool
    calendars: Calendars
    renderer: Renderer
    upward_min: int
