"""Inbound: one neutral `InboundEvent` at a time. `handle` de-duplicates it, interprets the text, runs the command
(from the registry the features fill, `Commands`) or advances the member's run, and queues the replies, all in one
transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from bot import own_data
from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.engine import RunEngine, run_row
from bot.forms import stale_press
from bot.metrics import Metrics
from bot.newcomers import LookUpFirst, Newcomers
from bot.platforms.directory import Lookup
from bot.ports import CommandHandler
from conversations.calendar import working_occurrence
from conversations.clock import Clock
from conversations.commands import COMMANDS, AnswerText, Command, Keyword, interpret, with_leftover
from conversations.events import InboundEvent
from conversations.flows import Flow
from conversations.machine import Reply, Status, Trigger
from conversations.schedule import WeeklySchedule, on_demand
from storage import repo
from storage.models import ConversationRun, Member

log = logging.getLogger(__name__)


class Commands:
    """The handlers of the commands in `conversations.commands.COMMANDS`, each registered by its feature."""

    def __init__(self) -> None:
        self.handlers: dict[str, CommandHandler] = {}

    def register(self, handlers: Mapping[str, CommandHandler]) -> None:
        for name, handler in handlers.items():
            if name not in COMMANDS:
                raise ValueError(f"/{name} is not in conversations.commands.COMMANDS")
            if name in self.handlers:
                raise ValueError(f"/{name} is registered twice")
            self.handlers[name] = handler

    def __iter__(self):  # noqa: ANN204 - iterates over the command names
        return iter(self.handlers)


class Starts:
    """`/checkin`, `/review`: start (or show again) the flow that declares the command (`Flow.command`)."""

    def __init__(self, flows: Mapping[str, Flow], runs: RunEngine, calendars: Calendars) -> None:
        self.flows = flows
        self.runs = runs
        self.calendars = calendars

    def commands(self, names: Iterable[str]) -> dict[str, CommandHandler]:
        return {name: self._handler(name) for name in names}

    def _handler(self, name: str) -> CommandHandler:
        def start(
            s: Session, member: Member, command: Command, event: InboundEvent, now: datetime
        ) -> tuple[list[Reply], int | None]:
            flow = next((f for f in self.flows.values() if f.command == name), None)
            replies, run_id = self.start(s, member, now, flow)
            return with_leftover(replies, f"/{name}", command.args), run_id

        return start

    def start(self, s: Session, member: Member, now: datetime, flow: Flow | None) -> tuple[list[Reply], int | None]:
        if flow is None or not flow.enabled or flow.schedule is None:
            return [Reply("common/flow_off")], None
        assert member.id is not None  # a stored member
        run = repo.active_run(s, member_id=member.id)
        if run is None or run.flow != flow.name:
            run = repo.latest_run(s, member_id=member.id, flow=flow.name, open_at=now)
        if run is None:
            occ = on_demand(flow.schedule, member.timezone, now)
            if occ is None:  # this period's has closed: say when it did and when the next one comes
                closed = flow.schedule.for_period_containing(member.timezone, now).closes
                return [self._between_windows(flow, member, now, closed, had=False)], None
            repo.insert_runs(
                s, rows=[run_row(flow, member.id, occ.period, due=now, prompt_at=now, closes=occ.closes, now=now)]
            )
            run = repo.run_for_period(s, flow=flow.name, member_id=member.id, period=occ.period)
            assert run is not None
            if run.closes_at <= now:  # that period's scheduled one is over
                if run.status in (Status.EXPIRED.value, Status.SKIPPED.value) and now < occ.closes:
                    # never had: on demand it is open for longer (the quarterly talk, until the quarter ends)
                    run.status, run.step, run.closes_at, run.reminded = Status.SCHEDULED.value, None, occ.closes, False
                    run.prompt_at, run.next_nudge_at = now, None
                    s.add(run)
                else:
                    had = run.status == Status.COMPLETED.value
                    return [self._between_windows(flow, member, now, run.closes_at, had=had)], run.id
        return self.runs.apply(s, run, member, Trigger.START, None, now, by_member=True), run.id

    def _between_windows(self, flow: Flow, member: Member, now: datetime, closed: datetime, *, had: bool) -> Reply:
        """Refused: when this period's closed, and when the next one comes."""
        assert flow.schedule is not None
        nxt = flow.schedule.next_after(member.timezone, now)
        real = working_occurrence(
            nxt, self.calendars.of(member), member.timezone, weekly=isinstance(flow.schedule, WeeklySchedule)
        )
        return Reply(f"{flow.name}/between_windows", {"closed_at": closed, "opens_at": (real or nxt).due, "had": had})


class Inbound:
    def __init__(
        self,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
        clock: Clock,
        metrics: Metrics,
        runs: RunEngine,
        commands: Commands,
        newcomers: Newcomers,
        edit_fallback: str | None,
    ) -> None:
        self.transaction = transaction
        self.clock = clock
        self.metrics = metrics
        self.runs = runs
        self.commands = commands
        self.newcomers = newcomers
        # the flow whose latest run `edit` (and an answer after the end) goes back to when no run is open
        self.edit_fallback = edit_fallback

    def handle(self, event: InboundEvent) -> bool:
        """Act on one inbound event; False when it was a duplicate (a platform retry or a replay).

        Never raises because of what a person typed: if acting on it fails, the event is still recorded (so a
        platform retry does not fail again) and the person is told, politely, that it did not work."""
        try:
            try:
                handled = self._handle(event)
            except LookUpFirst:  # someone not synced yet: ask their platform, outside any transaction
                handled = self._handle(event, self.newcomers.look_up(event))
            self.metrics.inbound.labels(event.platform, "handled" if handled else "duplicate").inc()
            return handled
        except sa.exc.OperationalError:
            self.metrics.inbound.labels(event.platform, "database_down").inc()
            raise  # the database is unreachable: let the platform retry later
        except Exception:
            self.metrics.inbound.labels(event.platform, "error").inc()
            log.exception("could not act on a %s %s; telling the sender", event.platform, event.kind)
            now = self.clock.now()
            with self.transaction() as s:
                if not repo.mark_processed(s, dedup_key=event.dedup_key, platform=event.platform, now=now):
                    return False
                member = repo.member_by_platform_id(s, platform=event.platform, user_id=event.user)
                repo.enqueue(
                    s,
                    dedup_key=f"in:{event.dedup_key}",
                    member_id=member.id if member else None,
                    channel=None if member else f"{event.platform}:{event.user}",
                    kind="reply",
                    body=encode_replies([Reply("common/not_understood")]),
                    now=now,
                )
            return True

    def _handle(self, event: InboundEvent, looked_up: Lookup | None = None) -> bool:
        now = self.clock.now()
        with self.transaction() as s:
            if not repo.mark_processed(s, dedup_key=event.dedup_key, platform=event.platform, now=now):
                log.info("duplicate %s event ignored (key %s)", event.platform, event.dedup_key)
                return False
            member = repo.member_by_platform_id(s, platform=event.platform, user_id=event.user)
            if member is None or not member.active:
                # Someone who deleted their data is told so (and how to rejoin); anyone else may simply be new.
                reply, kind, locale, tz = own_data.unknown_sender(
                    s, platform=event.platform, user=event.user, text=event.text
                )
                if kind != "farewell":
                    if looked_up is None and self.newcomers.can_look_up(event):
                        raise LookUpFirst()  # rolls this transaction back; handled again after the lookup
                    reply, locale = self.newcomers.refusal(s, event, member, looked_up)
                log.info("message from unknown %s user %s", event.platform, event.user)
                repo.enqueue(
                    s,
                    dedup_key=f"in:{event.dedup_key}",
                    member_id=None,
                    kind=kind,
                    channel=f"{event.platform}:{event.user}",
                    body={
                        **encode_replies([reply]),
                        **({"locale": locale} if locale else {}),
                        **({"timezone": tz} if tz and kind == "farewell" else {}),
                    },
                    now=now,
                )
                return True
            replies, run_id = self._dispatch(s, member, event, now)
            # Read before the replies are queued: the run just changed is still in the session (its change not yet
            # flushed), so this costs no query; after the flush it may have been let go and would be read again.
            run = s.get(ConversationRun, run_id) if run_id is not None else None
            if replies:
                kind = event.replaces or "reply"  # a panel the platform shows (Slack's App Home) is replaced in place
                repo.enqueue(
                    s,
                    dedup_key=f"in:{event.dedup_key}",
                    member_id=member.id,
                    run_id=run_id,
                    kind=kind,
                    body=encode_replies(replies),
                    now=now,
                )
            answered = run.flow if run is not None else None
        if answered is not None:
            self.runs.answered(answered, now)  # e.g. the last participant's answer posts a retro's summary at once
        return True

    def _dispatch(
        self, s: Session, member: Member, event: InboundEvent, now: datetime
    ) -> tuple[list[Reply], int | None]:
        intent = interpret(event.text)
        if isinstance(intent, Command):
            if not intent.known:
                return [Reply("common/unknown_command", {"command": intent.name})], None
            handler = self.commands.handlers.get(intent.name)
            if handler is None:  # `help`, or a feature that is not set up: the list of what there is
                return with_leftover([Reply("common/help")], "/help", intent.args), None
            return handler(s, member, intent, event, now)
        if isinstance(intent, Keyword) and intent.trigger == "help":
            return [Reply("common/help")], None
        assert member.id is not None  # a stored member
        run = repo.active_run(s, member_id=member.id)
        if stale_press(run, event.values):
            return [Reply("common/stale_button")], None
        if isinstance(intent, Keyword):
            trigger = Trigger(intent.trigger)
            if trigger == Trigger.EDIT and run is None:
                run = repo.run_to_edit(s, member_id=member.id, now=now) or (
                    repo.latest_run(s, member_id=member.id, flow=self.edit_fallback) if self.edit_fallback else None
                )
            if run is None:
                return [Reply("common/rejected_nothing_open", {})], None
            return self.runs.then_next(
                s, run, member, self.runs.apply(s, run, member, trigger, intent.arg or None, now, by_member=True), now
            ), run.id
        assert isinstance(intent, AnswerText)
        if run is None:
            recent = (
                repo.latest_run(s, member_id=member.id, flow=self.edit_fallback, open_at=now)
                if self.edit_fallback
                else None
            )
            if recent is not None and recent.status == Status.COMPLETED.value:
                return self.runs.apply(s, recent, member, Trigger.ANSWER, intent.text, now, by_member=True), recent.id
            return [Reply("common/rejected_nothing_open", {})], None
        replies = self.runs.apply(s, run, member, Trigger.ANSWER, intent.text, now, by_member=True)
        return self.runs.then_next(s, run, member, replies, now), run.id
