"""The running bot, composed: storage, flows, the renderer and the platforms around the parts that do the work.

- `runs` (bot/engine.py): loads, applies and persists runs; features add to their flows' runs through hooks.
- `inbound` (bot/inbound.py): one neutral event at a time, commands from the registry the features fill.
- `ticker` (bot/ticker.py): scheduled work — plans due runs, delivers, reminds and expires them in batches.
- `forms` (bot/forms.py): what the platforms ask about forms and buttons.
- the outbox (bot/outbox.py): sends what the others queued. Nothing is sent inside a database transaction.

This module only composes them; the methods below hand over to them, so the platforms (through bot/ports.py)
and the tests keep one object to talk to. The layers, the seams and one check-in traced end to end:
docs/architecture.md.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from bot import own_data, pause, team
from bot.actions import ActionDesk
from bot.calendar import Calendars
from bot.config import DEFAULT_FLOWS, OrgConfig, load_config, sync_members
from bot.digest import send_due_digests
from bot.engine import RunEngine
from bot.feedback import FeedbackDesk
from bot.followups import FollowUps
from bot.foreground import Foreground
from bot.forms import Forms
from bot.goals import GoalsDesk
from bot.inbound import Commands, Inbound, Starts
from bot.kudos import KudosDesk
from bot.metrics import Metrics
from bot.newcomers import Newcomers
from bot.oneonone import OneOnOnes
from bot.outbox import OUTBOX_CLAIM, Outbox
from bot.platforms.base import Messenger, Recipient
from bot.platforms.directory import Directory
from bot.replies import Conversations
from bot.retro import RetroDesk
from bot.settings import Settings
from bot.ticker import Ticker, TickReport
from conversations.calendar import CalendarSettings
from conversations.clock import Clock, SystemClock
from conversations.commands import COMMANDS, Command, with_leftover
from conversations.events import InboundEvent
from conversations.flows import Flow
from conversations.kudos import KudosSettings
from conversations.machine import Reply, RunState
from conversations.render import Audience, Renderer
from conversations.replies import UPWARD_MIN
from conversations.retro import ANONYMOUS_MIN
from storage.db import create_db_engine, session_factory, transaction, upgrade
from storage.models import Member

log = logging.getLogger(__name__)


@dataclass
class Flywheel:
    settings: Settings
    engine: sa.Engine
    clock: Clock
    flows: Mapping[str, Flow]
    renderer: Renderer
    messengers: dict[str, Messenger] = field(default_factory=dict)
    kudos_settings: KudosSettings = field(default_factory=KudosSettings)
    skip_level: bool = False
    admins: tuple[str, ...] = ()
    retro_anonymous_min: int = ANONYMOUS_MIN  # `retro.anonymous_min` in the org file
    upward_min: int = UPWARD_MIN  # `feedback.upward_min` in the org file
    calendar_settings: CalendarSettings = field(default_factory=CalendarSettings)
    goals_visible_to_team: bool = False  # `goals.visible_to_team` in the org file
    org_locale: str | None = None  # `defaults.locale` in the org file
    org_members: tuple[Any, ...] = ()  # the org file's members (`MemberSpec`), as read at start
    metrics: Metrics = field(default_factory=Metrics)
    foreground: Foreground = field(default_factory=Foreground)  # requests being answered; background gives way
    connections: dict[str, Callable[[], bool]] = field(default_factory=dict)  # live links to platforms, for /healthz
    directories: dict[str, Directory] = field(default_factory=dict)  # platforms whose directory is a source of members
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)
        self.calendars = Calendars(self.calendar_settings, self.messengers)
        self.outbox = Outbox(
            sessions=self.sessions,
            messengers=self.messengers,
            clock=self.clock,
            renderer=self.renderer,
            metrics=self.metrics,
            owner=self.owner,
            calendars=self.calendars,
            settings=lambda: self.settings,  # read at each use: it may be replaced while the app runs
            admins=self.admins,
            skip_level=self.skip_level,
            org_locale=self.org_locale,
            # Leases on the database's clock when the app runs on the real one; on a clock that tests or the
            # console move themselves, on that clock (bot/outbox.py, `Outbox`).
            leases_on_db_clock=isinstance(self.clock, SystemClock),
            foreground=self.foreground,
        )
        self.runs = RunEngine(self.flows, self.calendars, self.metrics)
        self.kudos = KudosDesk(self.kudos_settings, self.calendars)
        self.followups = FollowUps(self.calendars)
        self.actions = ActionDesk(self.calendars)
        self.retros = RetroDesk(
            transaction=self.transaction,
            calendars=self.calendars,
            runs=self.runs,
            anonymous_min=lambda: self.retro_anonymous_min,
            platform_of=self._platform_of,
        )
        self.feedback = FeedbackDesk(
            transaction=self.transaction, calendars=self.calendars, runs=self.runs, skip_level=self.skip_level
        )
        self.one_on_ones = OneOnOnes(transaction=self.transaction, calendars=self.calendars)
        self.conversations = Conversations(
            calendars=self.calendars, skip_level=self.skip_level, upward_min=lambda: self.upward_min
        )
        self.goals = GoalsDesk(self.calendars, visible_to_team=lambda: self.goals_visible_to_team)
        # Each feature adds to the runs of its flows, and declares its commands, here and nowhere else.
        self.runs.register(
            self.followups.hooks(),
            self.retros.hooks(),
            self.actions.hooks(),
            self.conversations.hooks(),
            self.feedback.hooks(),
            self.goals.hooks(),
        )
        self.commands = Commands()
        self.commands.register({"help": _help})
        self.commands.register(Starts(self.flows, self.runs, self.calendars).commands(("checkin", "review", "quarter")))
        self.commands.register(pause.commands())
        self.commands.register(self.kudos.commands())
        self.commands.register(self.retros.commands())
        self.commands.register(self.followups.commands())
        self.commands.register(self.actions.commands())
        self.commands.register(self.conversations.commands())
        self.commands.register(self.goals.commands())
        self.commands.register(
            own_data.commands(kudos=self.kudos_settings, skip_level=self.skip_level, calendars=self.calendars)
        )
        self.commands.register(team.commands(admins=self.admins, calendars=self.calendars))
        self.commands.register(self.feedback.commands())
        self.commands.register(self.one_on_ones.commands())
        missing = set(COMMANDS) - set(self.commands)
        assert not missing, f"commands without a handler: {sorted(missing)}"
        self.inbound = Inbound(
            transaction=self.transaction,
            clock=self.clock,
            metrics=self.metrics,
            runs=self.runs,
            commands=self.commands,
            newcomers=Newcomers(
                transaction=self.transaction,
                clock=self.clock,
                directories=self.directories,
                admins=self.admins,
                org_members=self.org_members,
            ),
            edit_fallback=next((f.name for f in self.flows.values() if f.reopens), None),
        )
        self.forms = Forms(
            transaction=self.transaction,
            clock=self.clock,
            runs=self.runs,
            renderer=self.renderer,
            skip_level=self.skip_level,
            channel_locale=self.channel_locale,
        )
        self.ticker = Ticker(
            transaction=self.transaction,
            clock=self.clock,
            flows=self.flows,
            runs=self.runs,
            calendars=self.calendars,
            calendar_settings=self.calendar_settings,
            owner=self.owner,
            retention_days=lambda: self.settings.retention_days,
            away_lookup=lambda: "slack" in self.messengers,
            summarise_retros=self.retros.summarise_due,
            send_digests=lambda now, last_tick: send_due_digests(self, now, last_tick),
            deliver_outbox=self.deliver_outbox,
            foreground=self.foreground,
            features=(self.feedback.process_due, self.one_on_ones.process_due),
            wakeups=(self.feedback.wakeups, self.one_on_ones.wakeups),
        )

    # ------------------------------------------------------------------------------------ construction

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        config: OrgConfig | None = None,
        messengers: dict[str, Messenger] | None = None,
        migrate: bool = True,
        directories: dict[str, Directory] | None = None,
    ) -> Flywheel:
        """Connect to the database (applying migrations), load the org file and sync its members."""
        engine = create_db_engine(settings.database_url)
        if migrate:
            upgrade(engine)
        if config is None and settings.config_path:
            config = load_config(
                settings.config_path, default_timezone=settings.timezone, default_locale=settings.locale
            )
        flows = dict(config.flows) if config else dict(DEFAULT_FLOWS)
        renderer = Renderer(overrides=config.question_texts if config else None)
        app = cls(
            settings=settings,
            engine=engine,
            clock=clock or SystemClock(),
            flows=flows,
            renderer=renderer,
            messengers=dict(messengers or {}),
            kudos_settings=config.kudos if config else KudosSettings(),
            skip_level=config.skip_level if config else False,
            admins=config.admins if config else (),
            retro_anonymous_min=config.retro_anonymous_min if config else ANONYMOUS_MIN,
            upward_min=config.upward_min if config else UPWARD_MIN,
            org_locale=config.locale if config else None,
            org_members=config.members if config else (),
            directories=dict(directories or {}),
            calendar_settings=config.calendar if config else CalendarSettings(),
            goals_visible_to_team=config.goals_visible_to_team if config else False,
        )
        if config is not None:
            with transaction(app.sessions) as s:
                counts = sync_members(s, config, now=app.clock.now())
            log.info(
                "organisation loaded from %s: %d new, %d updated members",
                config.source,
                counts["created"],
                counts["updated"],
            )
            if counts["deactivated"]:
                log.warning(
                    "%d member(s) no longer in %s were deactivated: they get no more prompts, and "
                    "what they said is kept (flywheel forget HANDLE deletes it)",
                    counts["deactivated"],
                    config.source,
                )
        return app

    def close(self) -> None:
        self.engine.dispose()

    # The outbox (bot/outbox.py) is `self.outbox`; these hand on to it for the callers and tests that ask the app.

    def deliver_outbox(self, *, limit: int = OUTBOX_CLAIM) -> tuple[int, int]:
        return self.outbox.deliver(limit=limit)

    def next_outbox_due(self) -> datetime | None:
        return self.outbox.next_due()

    def outbox_depth(self) -> int:
        return self.outbox.depth()

    def stop_sending(self) -> None:
        self.outbox.stop_sending()

    def channel_locale(self, platform: str | None) -> str:
        return self.outbox.channel_locale(platform)

    def _recipient(self, member: Member) -> Recipient | None:
        return self.outbox.recipient(member)

    def transaction(self):  # noqa: ANN201 - the context manager storage.db.transaction returns
        """One unit of work on the bot's database."""
        return transaction(self.sessions)  # (looked up here, so that bench/server.py --trace sees every one)

    # ------------------------------------------------------------------------------------ the parts, handed over to

    def handle(self, event: InboundEvent) -> bool:
        """Act on one inbound event (bot/inbound.py); False when it was a duplicate."""
        with self.foreground.serving():
            return self.inbound.handle(event)

    def tick(self) -> TickReport:
        """One pass of the scheduler (bot/ticker.py). Safe to run concurrently in several replicas and to repeat."""
        return self.ticker.tick()

    def next_wakeup(self, after: datetime) -> datetime | None:
        """The next instant at which `tick` has something to do (used to fast-forward the console's clock)."""
        return self.ticker.next_wakeup(after)

    def form_for(self, *, platform: str, user: str, run_id: int) -> tuple[Flow, RunState, Member] | None:
        return self.forms.form_for(platform=platform, user=user, run_id=run_id)

    def submit_form(
        self, *, platform: str, user: str, run_id: int, values: Mapping[str, str], dedup_key: str
    ) -> dict[str, str]:
        with self.foreground.serving():
            return self.forms.submit_form(
                platform=platform, user=user, run_id=run_id, values=values, dedup_key=dedup_key
            )

    def answers_current_question(self, *, platform: str, user: str, flow: str, step: str) -> bool:
        return self.forms.answers_current_question(platform=platform, user=user, flow=flow, step=step)

    def member_locale(self, platform: str, user: str) -> str:
        return self.forms.member_locale(platform, user)

    def audience_for(self, member: Member) -> Audience:
        return self.forms.audience_for(member)

    def _platform_of(self, member: Member) -> str:
        recipient = self._recipient(member)
        return recipient.platform if recipient else "console"


def _help(s: Session, member: Member, command: Command, event: InboundEvent, now: datetime) -> tuple[list[Reply], None]:
    return with_leftover([Reply("common/help")], "/help", command.args), None
