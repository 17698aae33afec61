"""The running bot: wires storage, flows, the renderer and the platforms, and does the I/O around the pure core.

Inbound: `handle(event)` de-duplicates, interprets the text, advances the member's run and queues replies,
all in one transaction. Scheduled work: `tick()` plans due runs, delivers, reminds and expires them in
batches under row locks, then drains the outbox. Nothing is sent inside a database transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from bot import access, me, newcomers, own_data, team
from bot.calendar import AWAY_RECHECK, Calendars, away_candidates, paused_until
from bot.codec import encode_replies
from bot.config import DEFAULT_FLOWS, OrgConfig, load_config, sync_members
from bot.digest import DIGEST_SCHEDULE, managers, send_due_digests
from bot.followups import FollowUps
from bot.kudos import KudosDesk
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from bot.platforms.base import Messenger
from bot.platforms.directory import Directory, Lookup
from bot.prefetch import Prefetched
from bot.retro import RetroDesk
from bot.settings import Settings
from conversations.answers import Invalid
from conversations.calendar import (
    CalendarSettings,
    is_working_time,
    next_working_time,
    pause_in_force,
    working_occurrence,
)
from conversations.clock import Clock, SystemClock
from conversations.commands import AnswerText, Command, Keyword, interpret, parse_pause, with_leftover
from conversations.events import InboundEvent
from conversations.flows import Flow
from conversations.kudos import KudosSettings
from conversations.machine import (
    KEEP,
    Outcome,
    Reply,
    RunEvent,
    RunState,
    Status,
    Trigger,
    advance,
    ask,
)
from conversations.monthly_review import NAME as MONTHLY
from conversations.render import Audience, Renderer
from conversations.retro import ANONYMOUS_MIN
from conversations.retro import NAME as RETRO_NAME
from conversations.schedule import WeeklySchedule, on_demand, previous_period, zone
from conversations.turns import has_attention
from conversations.weekly_checkin import NAME as WEEKLY
from storage import repo
from storage.db import create_db_engine, session_factory, transaction, upgrade
from storage.models import ConversationRun, Member, RunTransition

log = logging.getLogger(__name__)

BATCH = 200
PROCESSED_KEEP = timedelta(hours=48)  # Feishu retries for up to 6 h; Slack for 5 min
BUSY_WINDOW = timedelta(minutes=30)  # how often a conversation held back (conversations/turns.py) is looked at again


def _stale_press(run: ConversationRun | None, values: Mapping[str, str]) -> bool:
    """A button on an older message: the question it answers is behind us, so it must not answer this one."""
    return bool(values.get("step")) and (
        run is None or run.flow != values.get("flow") or (run.step or "") != values["step"]
    )


class _FormRefused(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form refused")
        self.errors = errors


@dataclass
class TickReport:
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


@dataclass
class Flywheel(OutboxSender):
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
    calendar_settings: CalendarSettings = field(default_factory=CalendarSettings)
    org_locale: str | None = None  # `defaults.locale` in the org file
    org_members: tuple[Any, ...] = ()  # the org file's members (`MemberSpec`), as read at start
    metrics: Metrics = field(default_factory=Metrics)
    connections: dict[str, Callable[[], bool]] = field(default_factory=dict)  # live links to platforms, for /healthz
    directories: dict[str, Directory] = field(default_factory=dict)  # platforms whose directory is a source of members
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)
        self._renderers: dict[str, Renderer] = {}
        self.calendars = Calendars(self.calendar_settings, self.messengers)
        self.kudos = KudosDesk(self.kudos_settings, self.calendars)
        self.followups = FollowUps(self.calendars)
        self.retros = RetroDesk(self)

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
            org_locale=config.locale if config else None,
            org_members=config.members if config else (),
            directories=dict(directories or {}),
            calendar_settings=config.calendar if config else CalendarSettings(),
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

    def outbox_depth(self) -> int:
        with transaction(self.sessions) as s:
            return repo.outbox_depth(s)

    def transaction(self):  # noqa: ANN201
        """One unit of work on the bot's database."""
        return transaction(self.sessions)

    # ------------------------------------------------------------------------------------ inbound

    def handle(self, event: InboundEvent) -> bool:
        """Act on one inbound event; False when it was a duplicate (a platform retry or a replay).

        Never raises because of what a person typed: if acting on it fails, the event is still recorded (so a
        platform retry does not fail again) and the person is told, politely, that it did not work."""
        try:
            try:
                handled = self._handle(event)
            except newcomers.LookUpFirst:  # someone not synced yet: ask their platform, outside any transaction
                handled = self._handle(event, newcomers.look_up(self, event))
            self.metrics.inbound.labels(event.platform, "handled" if handled else "duplicate").inc()
            return handled
        except sa.exc.OperationalError:
            self.metrics.inbound.labels(event.platform, "database_down").inc()
            raise  # the database is unreachable: let the platform retry later
        except Exception:  # noqa: BLE001
            self.metrics.inbound.labels(event.platform, "error").inc()
            log.exception("could not act on a %s %s; telling the sender", event.platform, event.kind)
            now = self.clock.now()
            with transaction(self.sessions) as s:
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
        with transaction(self.sessions) as s:
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
                    if looked_up is None and newcomers.can_look_up(self, event):
                        raise newcomers.LookUpFirst()  # rolls this transaction back; handled again after the lookup
                    reply, locale = newcomers.refusal(s, self, event, member, looked_up)
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
            if replies:
                # The App Home tab (and the like) is published in place rather than sent as a DM.
                kind = "home" if event.kind == "home" else "reply"
                repo.enqueue(
                    s,
                    dedup_key=f"in:{event.dedup_key}",
                    member_id=member.id,
                    run_id=run_id,
                    kind=kind,
                    body=encode_replies(replies),
                    now=now,
                )
            run = s.get(ConversationRun, run_id) if run_id is not None else None
            answered_retro = run is not None and run.flow == RETRO_NAME
        if answered_retro:
            self.retros.summarise_due(now)  # the last participant's answer posts the summary at once
        return True

    def _dispatch(
        self, s: Session, member: Member, event: InboundEvent, now: datetime
    ) -> tuple[list[Reply], int | None]:
        intent = interpret(event.text)
        if isinstance(intent, Command):
            if not intent.known:
                return [Reply("common/unknown_command", {"command": intent.name})], None
            if intent.name in ("checkin", "review"):
                replies, run_id = self._start(s, member, now, WEEKLY if intent.name == "checkin" else MONTHLY)
                return with_leftover(replies, f"/{intent.name}", intent.args), run_id
            if intent.name == "support":
                return self.followups.support_command(s, member, intent.args, event, now), None
            if intent.name == "pause":
                return [self._pause(s, member, intent.args, now)], None
            if intent.name == "resume":
                return with_leftover([self._resume(s, member, now)], "/resume", intent.args), None
            if intent.name == "me":
                owned = own_data.command(
                    s,
                    member,
                    intent.args,
                    event,
                    now,  # delete, access, flag, ack, …
                    text=intent.text,
                    calendars=self.calendars,
                )
                if owned is not None:
                    return owned, None
                if intent.args.strip():  # `export` and what follows it (own_data.command has the rest)
                    rest = intent.args.split(maxsplit=1)[1:]
                    return with_leftover([me.export_reply(s, member, now=now)], "/me export", "".join(rest)), None
                return me.view(
                    s, member, now, self.kudos_settings, skip_level=self.skip_level, calendars=self.calendars
                ), None
            if intent.name == "flywheel":
                return team.command(
                    s, member, intent.args, event, now, admins=self.admins, calendars=self.calendars
                ), None
            if intent.name == "note":
                return [me.add_note(s, member, intent.args, now, text=intent.text)], None
            if intent.name == "retro":
                return self.retros.command(s, member, intent.args, event, now, text=intent.text), None
            if intent.name == "kudos":
                return self.kudos.command(s, member, intent.args, event, now, text=intent.text), None
            return with_leftover([Reply("common/help")], "/help", intent.args), None
        if isinstance(intent, Keyword) and intent.trigger == "help":
            return [Reply("common/help")], None
        run = repo.active_run(s, member_id=member.id)
        if _stale_press(run, event.values):
            return [Reply("common/stale_button")], None
        if isinstance(intent, Keyword):
            trigger = Trigger(intent.trigger)
            if trigger == Trigger.EDIT and run is None:
                run = repo.run_to_edit(s, member_id=member.id, now=now) or repo.latest_run(
                    s, member_id=member.id, flow=WEEKLY
                )
            if run is None:
                return [Reply("common/rejected_nothing_open", {})], None
            return self._then_next(
                s, run, member, self._apply(s, run, member, trigger, intent.arg or None, now, by_member=True), now
            ), run.id
        assert isinstance(intent, AnswerText)
        if run is None:
            recent = repo.latest_run(s, member_id=member.id, flow=WEEKLY, open_at=now)
            if recent is not None and recent.status == Status.COMPLETED.value:
                return self._apply(s, recent, member, Trigger.ANSWER, intent.text, now, by_member=True), recent.id
            return [Reply("common/rejected_nothing_open", {})], None
        replies = self._apply(s, run, member, Trigger.ANSWER, intent.text, now, by_member=True)
        return self._then_next(s, run, member, replies, now), run.id

    def _then_next(
        self, s: Session, run: ConversationRun, member: Member, replies: list[Reply], now: datetime
    ) -> list[Reply]:
        """When one conversation ends while another is waiting (a check-in and a retro, say), go on to it."""
        if run.status not in (Status.COMPLETED, Status.SKIPPED) or run.step is not None:
            return replies
        waiting = repo.active_run(s, member_id=member.id) or repo.next_waiting_run(s, member_id=member.id, now=now)
        if waiting is None or waiting.id == run.id:
            return replies
        return replies + self._apply(s, waiting, member, Trigger.START, None, now, by_member=False)

    def _start(self, s: Session, member: Member, now: datetime, flow_name: str) -> tuple[list[Reply], int | None]:
        """Start (or show again) a flow on demand: `/checkin`, `/review`."""
        flow = self.flows.get(flow_name)
        if flow is None or not flow.enabled or flow.schedule is None:
            return [Reply("common/flow_off")], None
        run = repo.active_run(s, member_id=member.id)
        if run is None or run.flow != flow_name:
            run = repo.latest_run(s, member_id=member.id, flow=flow_name, open_at=now)
        if run is None:
            occ = on_demand(flow.schedule, member.timezone, now)
            if occ is None:  # this period's has closed: say when it did and when the next one comes
                nxt = flow.schedule.next_after(member.timezone, now)
                real = working_occurrence(
                    nxt, self.calendars.of(member), member.timezone, weekly=isinstance(flow.schedule, WeeklySchedule)
                )
                closed = flow.schedule.for_period_containing(member.timezone, now).closes
                return [
                    Reply(f"{flow.name}/between_windows", {"closed_at": closed, "opens_at": (real or nxt).due})
                ], None
            repo.insert_runs(
                s, rows=[self._run_row(flow, member.id, occ.period, due=now, prompt_at=now, closes=occ.closes, now=now)]
            )
            run = repo.run_for_period(s, flow=flow_name, member_id=member.id, period=occ.period)
            assert run is not None
            if run.closes_at <= now:  # that period exists and is over
                return [Reply(f"{flow.name}/rejected_window_closed", {})], run.id
        return self._apply(s, run, member, Trigger.START, None, now, by_member=True), run.id

    def _pause(self, s: Session, member: Member, args: str, now: datetime) -> Reply:
        today = now.astimezone(zone(member.timezone)).date()
        until = parse_pause(args, today)
        if until is None:
            return Reply("common/pause_invalid")
        member.paused_until = until
        member.updated_at = now
        s.add(member)
        for run in repo.open_runs(s, member_id=member.id):
            # A pause stops the open conversations' reminders; what was answered stays, and they may still finish.
            run.next_nudge_at, run.nudge_kind = None, None
            run.context = {**(run.context or {}), "paused_until": until.isoformat()}
            s.add(run)
        log.info("member %s paused until %s", member.id, until)
        return Reply("common/paused", {"until": until})

    def _resume(self, s: Session, member: Member, now: datetime) -> Reply:
        today = now.astimezone(zone(member.timezone)).date()
        if member.paused_until is None or member.paused_until <= today:
            return Reply("common/not_paused")
        member.paused_until = None
        member.updated_at = now
        s.add(member)
        repo.drop_paused_weeks(s, member_id=member.id, now=now)  # this week's check-in comes after all
        return Reply("common/resumed")

    # ------------------------------------------------------------------------------------ the state machine, persisted

    def _state(self, s: Session, run: ConversationRun, member: Member) -> RunState:
        flow = self.flows[run.flow]
        pre = Prefetched.of(s, run)  # read for the whole batch by the scheduler, else read here
        if "steps" not in (run.context or {}):
            if pre is not None:
                prev_answers = pre.take_previous_answers(run)
                preloaded = pre.take_followups(run)
            else:
                previous = repo.run_for_period(
                    s, flow=run.flow, member_id=run.member_id, period=previous_period(run.period)
                )
                prev_answers = repo.answers_of(s, run_id=previous.id) if previous is not None else None
                preloaded = None
            context = flow.context_from(prev_answers, has_manager=member.manager_id is not None)
            context.update(self.followups.context(s, flow=flow, member=member, run=run, preloaded=preloaded))
            context["steps"] = list(flow.expand(context))
            run.context = context
        known = {a.id for a in flow.steps} | {a.group for a in flow.steps if a.group}
        steps = tuple(k for k in run.context["steps"] if k.split(":", 1)[0] in known) or flow.expand(run.context)
        answers = pre.take_answers(run) if pre is not None else repo.answers_of(s, run_id=run.id)
        if pre is not None:
            pre.done(run)
        return RunState(
            status=Status(run.status),
            step=run.step,
            steps=steps,
            answers=answers,
            closes_at=run.closes_at,
            timezone=member.timezone,
            reminded=run.reminded,
            nudge_kind=run.nudge_kind,
            context=dict(run.context),
            calendar=self.calendars.of(member),
        )

    def _apply(
        self,
        s: Session,
        run: ConversationRun,
        member: Member,
        trigger: Trigger,
        text: str | None,
        now: datetime,
        *,
        by_member: bool,
    ) -> list[Reply]:
        if run.flow not in self.flows:
            log.warning("run %s belongs to flow %s, which is not configured", run.id, run.flow)
            return [Reply("common/rejected_nothing_open", {})]
        return list(self._advance(s, run, member, trigger, text, now, by_member=by_member).replies)

    def _advance(
        self,
        s: Session,
        run: ConversationRun,
        member: Member,
        trigger: Trigger,
        text: str | None,
        now: datetime,
        *,
        by_member: bool = True,
    ) -> Outcome:
        """Run one event through the state machine for a stored run and persist what it decides."""
        flow = self.flows[run.flow]
        state = self._state(s, run, member)
        if trigger == Trigger.ANSWER and run.flow == RETRO_NAME and run.step == "actions":
            refusal = self._check_actions(s, flow, state, member, text)
            if refusal is not None:
                return Outcome(trigger, state.status, state.step, reason="unknown_owner", replies=tuple(refusal))
        outcome = advance(flow, state, RunEvent(trigger, text), now)
        self._persist(s, run, member, state, outcome, now, by_member=by_member)
        return outcome

    # ------------------------------------------------------------------------------------ forms

    def form_for(self, *, platform: str, user: str, run_id: int) -> tuple[Flow, RunState, Member] | None:
        """What a form for one run needs: the flow, the run's state (questions, answers so far) and its member."""
        with transaction(self.sessions) as s:
            member = repo.member_by_platform_id(s, platform=platform, user_id=user)
            run = s.get(ConversationRun, run_id)
            if not self._may_answer(s, member, run):
                return None
            assert member is not None and run is not None
            if run.status == Status.SCHEDULED.value:
                self._apply(s, run, member, Trigger.START, None, self.clock.now(), by_member=True)
            return self.flows[run.flow], self._state(s, run, member), member

    def _may_answer(self, s: Session, member: Member | None, run: ConversationRun | None) -> bool:
        """May this platform user open or fill in this run (a form, a button carrying its id)? Only its own,
        active member may (bot/access.py); someone else's run is indistinguishable from a missing one."""
        if run is None or run.flow not in self.flows:
            return False
        subject = s.get(Member, run.member_id)
        return subject is not None and access.may_member(
            s, member, subject, access.Part.ANSWER_RUN, now=self.clock.now(), run=run
        )

    def answers_current_question(self, *, platform: str, user: str, flow: str, step: str) -> bool:
        """Would a button for this question answer the conversation the user is in now? (No: an older message.)"""
        with transaction(self.sessions) as s:
            member = repo.member_by_platform_id(s, platform=platform, user_id=user)
            run = repo.active_run(s, member_id=member.id) if member is not None else None
            return not _stale_press(run, {"flow": flow, "step": step})

    def member_locale(self, platform: str, user: str) -> str:
        """The language to answer a platform user in: theirs if they are a member, else the organisation's."""
        with transaction(self.sessions) as s:
            member = repo.member_by_platform_id(s, platform=platform, user_id=user)
            return member.locale if member is not None else self.channel_locale(platform)

    def audience_for(self, member: Member) -> Audience:
        """Who a message to `member` is for, with the names the "who sees this" lines use (bot/access.py)."""
        with transaction(self.sessions) as s:
            stored = s.get(Member, member.id)
            assert stored is not None
            return access.audience(s, stored, skip_level=self.skip_level)

    def submit_form(
        self, *, platform: str, user: str, run_id: int, values: Mapping[str, str], dedup_key: str
    ) -> dict[str, str]:
        """Answer several questions of one run at once (a form). Each answer goes through the state machine exactly
        as if it had been typed, in question order. Returns {step: message} for answers that do not fit — and
        then nothing at all is saved."""
        now = self.clock.now()
        errors: dict[str, str] = {}
        try:
            with transaction(self.sessions) as s:
                if not repo.mark_processed(s, dedup_key=dedup_key, platform=platform, now=now):
                    return {}
                member = repo.member_by_platform_id(s, platform=platform, user_id=user)
                run = repo.lock_run(s, run_id=run_id)
                if not self._may_answer(s, member, run):
                    raise _FormRefused({"": "not_yours"})
                assert member is not None and run is not None
                replies: list[Reply] = []
                for step in self._state(s, run, member).steps:
                    text = (values.get(step) or "").strip()
                    if not text:
                        continue
                    if run.step != step and run.status != Status.SCHEDULED.value:
                        run.step = step  # a form may answer in any order; the machine sees one question at a time
                    outcome = self._advance(s, run, member, Trigger.ANSWER, text, now)
                    if not outcome.accepted:
                        raise _FormRefused({step: self._text_of(s, member, outcome.replies[:1])})
                    if outcome.reason is not None:  # did not parse: the re-ask's first line is the reason
                        errors[step] = self._text_of(s, member, outcome.replies[:1])
                    replies = list(outcome.replies)
                if errors:
                    raise _FormRefused(errors)
                if run.step is not None and run.status == Status.COMPLETED.value:
                    run.step = None  # a form edit never leaves the run half-way through an edit
                    s.add(run)
                if replies:
                    repo.enqueue(
                        s,
                        dedup_key=f"in:{dedup_key}",
                        member_id=member.id,
                        run_id=run.id,
                        kind="reply",
                        body=encode_replies(replies),
                        now=now,
                    )
        except _FormRefused as refused:
            return refused.errors
        return {}

    def _text_of(self, s: Session, member: Member, replies: Sequence[Reply]) -> str:
        audience = access.audience(s, member, skip_level=self.skip_level)
        return "\n".join(self.renderer.render(r, audience) for r in replies)

    def _check_actions(
        self, s: Session, flow: Flow, state: RunState, member: Member, text: str | None
    ) -> list[Reply] | None:
        """Retro actions name their owners; an owner Flywheel doesn't know is asked about before anything is saved."""
        try:
            actions = flow.ask_for("actions").expects.parse(text or "")
        except Invalid:
            return None  # the state machine re-asks with the parser's own message
        refusal = self.retros.validate_actions(s, platform=self._platform_of(member), actions=actions)
        return None if refusal is None else [refusal, ask(flow, state, "actions", state.answers)]

    def _platform_of(self, member: Member) -> str:
        recipient = self._recipient(member)
        return recipient.platform if recipient else "console"

    def _persist(
        self,
        s: Session,
        run: ConversationRun,
        member: Member,
        before: RunState,
        outcome: Outcome,
        now: datetime,
        *,
        by_member: bool,
    ) -> None:
        if not outcome.accepted:
            log.info("run %s: %s rejected in %s (%s)", run.id, outcome.trigger, before.status, outcome.reason)
            return
        if outcome.save and by_member:
            self.metrics.answers.labels(run.flow).inc(len(outcome.save))
        if outcome.context:  # a question added or taken out, or half an answer kept (None: let go): before the
            context = dict(run.context or {})  # answers, whose effects depend on it
            for key, value in outcome.context.items():
                if value is None:
                    context.pop(key, None)
                else:
                    context[key] = value
            run.context = context
        for step, value in outcome.save.items():
            repo.save_answer(s, run=run, step=step, value=value, now=now)
            if run.flow == RETRO_NAME and step == "actions":
                self.retros.record_actions(s, run=run, value=value, now=now, platform=self._platform_of(member))
            else:
                self.followups.after_save(s, run=run, member=member, step=step, value=value, now=now)
        if outcome.status != before.status or outcome.step != before.step:
            from_status, from_step = run.status, run.step
            run.status, run.step = outcome.status.value, outcome.step
            repo.add_transition(
                s, run=run, trigger=outcome.trigger.value, from_status=from_status, from_step=from_step, now=now
            )
            log.info(
                "run %s (%s %s): %s → %s via %s", run.id, run.flow, run.period, from_status, run.status, outcome.trigger
            )
        if outcome.nudge != KEEP:
            if outcome.nudge is None:
                run.next_nudge_at, run.nudge_kind = None, None
            else:
                run.next_nudge_at, run.nudge_kind = outcome.nudge  # type: ignore[misc]
        if outcome.reminded:
            run.reminded = True
        if outcome.completed and run.completed_at is None:
            run.completed_at = now
        if run.prompted_at is None and outcome.status in (Status.PROMPTED, Status.IN_PROGRESS):
            run.prompted_at = now
        if by_member:
            run.last_activity_at = now
        run.updated_at = now
        s.add(run)

    # ------------------------------------------------------------------------------------ scheduled work

    def _run_row(
        self,
        flow: Flow,
        member_id: int,
        period: str,
        *,
        due: datetime,
        prompt_at: datetime,
        closes: datetime,
        now: datetime,
        status: str = "scheduled",
    ) -> dict[str, Any]:
        return {
            "flow": flow.name,
            "member_id": member_id,
            "period": period,
            "status": status,
            "step": None,
            "context": {},
            "due_at": due,
            "prompt_at": prompt_at,
            "closes_at": closes,
            "reminded": False,
            "created_at": now,
            "updated_at": now,
        }

    def tick(self) -> TickReport:
        """One pass of the scheduler. Safe to run concurrently in several replicas and to repeat."""
        now = self.clock.now()
        report = TickReport()
        with transaction(self.sessions) as s:
            state = repo.get_state(s, key="tick")
            last_tick = state.at if state is not None else None
        self._plan(now, last_tick, report)
        report.expired = self._process("expire", Trigger.EXPIRE, now)
        self.retros.summarise_due(now)
        with transaction(self.sessions) as s:
            team.expire_due(s, now=now, calendars=self.calendars)  # manager requests nobody answered within seven days
        away = self._away_members(now)
        report.delivered = self._process("deliver", Trigger.DELIVER, now, away)
        report.reminded = self._process("remind", Trigger.REMIND, now, away)
        report.digests = send_due_digests(self, now, last_tick)  # (held for each manager's working time)
        with transaction(self.sessions) as s:
            repo.set_state(s, key="tick", at=now, value=self.owner)
            repo.prune_processed(s, older_than=now - PROCESSED_KEEP)
            kept = repo.get_state(s, key="retention")
            if kept is None or kept.at is None or now - kept.at >= timedelta(hours=1):
                deleted = repo.delete_answers_before(s, cutoff=now - timedelta(days=self.settings.retention_days))
                repo.set_state(s, key="retention", at=now)
                if deleted:
                    log.info("retention: deleted %d answers older than %d days", deleted, self.settings.retention_days)
        sent, failed = self.deliver_outbox()
        report.sent, report.failed = sent, failed
        return report

    def _occurrences(self, flow: Flow, tz: str, country: str | None, now: datetime):  # noqa: ANN202
        """This and the coming occurrence of `flow` for members in `tz` with `country`, each as it really falls
        on their calendar (moved off a holiday; None in a week without a working day)."""
        assert flow.schedule is not None
        cal = self.calendar_settings.for_member(country)
        weekly = isinstance(flow.schedule, WeeklySchedule)
        seen = set()
        for occ in (flow.schedule.latest(tz, now), flow.schedule.next_after(tz, now)):
            if occ.period in seen:
                continue
            seen.add(occ.period)
            yield working_occurrence(occ, cal, tz, weekly=weekly)

    def _plan(self, now: datetime, last_tick: datetime | None, report: TickReport) -> None:
        """Insert the runs that are due; the unique (flow, member, period) key makes this idempotent.

        Members are grouped by time zone and holiday calendar (country): each group's occurrence is moved off its
        holidays (`working_occurrence`); a week without a working day gets no run at all. A paused member's week
        is recorded as skipped, marked paused, so it does not count as missed. Inserted BATCH members at a time,
        each batch in its own short transaction: on SQLite one long planning transaction (10,000 members) would
        hold every inbound event back until it ends."""
        with transaction(self.sessions) as s:
            marks = repo.plan_marks(s)  # groups planned in full are not asked again until members change
        for flow in self.flows.values():
            if not flow.enabled or flow.schedule is None:
                continue
            for tz, country in marks.groups:
                for occ in self._occurrences(flow, tz, country, now):
                    if occ is None or occ.due > now or now >= occ.closes:
                        continue
                    if not marks.planned(flow.name, occ.period, occ.due, tz, country):
                        self._plan_group(flow, tz, country, occ, now, last_tick, report)
                        marks.mark(flow.name, occ.period, occ.due, tz, country)

    def _plan_group(
        self,
        flow: Flow,
        tz: str,
        country: str | None,
        occ: Any,
        now: datetime,
        last_tick: datetime | None,
        report: TickReport,
    ) -> None:
        local_today = now.astimezone(zone(tz)).date()
        with transaction(self.sessions) as s:
            candidates = repo.plan_candidates(
                s, flow=flow.name, period=occ.period, timezone=tz, due=occ.due, country=country
            )
        if not candidates:
            return
        paused = {mid: until for mid, until in candidates if pause_in_force(until, local_today) is not None}
        ids = [mid for mid, _ in candidates if mid not in paused]
        down = last_tick is not None and occ.due > last_tick and now - occ.due > flow.catch_up_within
        cal = self.calendar_settings.for_member(country)
        prompt_at = max(occ.due, next_working_time(cal, tz, now)) if now > occ.due else occ.due
        if paused:
            with transaction(self.sessions) as s:
                rows = []
                for mid, until in paused.items():
                    row = self._run_row(
                        flow,
                        mid,
                        occ.period,
                        due=occ.due,
                        prompt_at=occ.due,
                        closes=occ.closes,
                        now=now,
                        status="skipped",
                    )
                    row["context"] = {"paused_until": until.isoformat()}
                    rows.append(row)
                repo.insert_runs(s, rows=rows)
                for run_id in s.exec(
                    sa.select(ConversationRun.id).where(  # type: ignore[call-overload]
                        ConversationRun.flow == flow.name,
                        ConversationRun.period == occ.period,
                        ConversationRun.member_id.in_(list(paused)),
                    )
                ).scalars():  # type: ignore[attr-defined]
                    s.add(RunTransition(run_id=run_id, trigger="paused", from_status=None, to_status="skipped", at=now))
        for chunk in (ids[i : i + BATCH] for i in range(0, len(ids), BATCH)):
            with transaction(self.sessions) as s:
                if down:
                    # Recorded as skipped, so the member can still take it with /checkin while it is open.
                    rows = [
                        self._run_row(
                            flow,
                            mid,
                            occ.period,
                            due=occ.due,
                            prompt_at=occ.due,
                            closes=occ.closes,
                            now=now,
                            status="skipped",
                        )
                        for mid in chunk
                    ]
                    repo.insert_runs(s, rows=rows)
                    for run_id in s.exec(
                        sa.select(ConversationRun.id).where(  # type: ignore[call-overload]
                            ConversationRun.flow == flow.name,
                            ConversationRun.period == occ.period,
                            ConversationRun.member_id.in_(chunk),
                        )
                    ).scalars():  # type: ignore[attr-defined]
                        s.add(
                            RunTransition(
                                run_id=run_id, trigger="missed", from_status=None, to_status="skipped", at=now
                            )
                        )
                    continue
                rows = [
                    self._run_row(flow, mid, occ.period, due=occ.due, prompt_at=prompt_at, closes=occ.closes, now=now)
                    for mid in chunk
                ]
                report.planned += repo.insert_runs(s, rows=rows)
        if down and ids:
            report.missed += len(ids)
            log.warning(
                "%s %s for %d member(s) in %s was due at %s while Flywheel was not running "
                "(last tick %s); skipped, because catching up is allowed only within %s",
                flow.name,
                occ.period,
                len(ids),
                tz,
                occ.due.isoformat(),
                last_tick.isoformat(),
                flow.catch_up_within,
            )

    def _process(self, kind: str, trigger: Trigger, now: datetime, away: frozenset[int] = frozenset()) -> int:
        done = 0
        while True:
            with transaction(self.sessions) as s:
                runs = repo.runs_due(s, now=now, kind=kind, limit=BATCH)
                Prefetched(s, runs, self.flows, busy=trigger == Trigger.DELIVER).install(s)
                queued: list[dict[str, Any]] = []
                for run in runs:
                    member = s.get(Member, run.member_id)
                    assert member is not None
                    until = paused_until(member, now)
                    if trigger == Trigger.DELIVER and (not member.active or until is not None):
                        self._apply(s, run, member, Trigger.SKIP, None, now, by_member=False)
                        if until is not None:
                            run.context = {**(run.context or {}), "paused_until": until.isoformat()}
                            s.add(run)
                        continue
                    if self._hold(run, member, trigger, now, member.id in away):
                        s.add(run)
                        continue
                    if trigger in (Trigger.DELIVER, Trigger.REMIND):
                        current = self._busy_with_other(s, run, now)
                        if current is not None:
                            # One conversation at a time: a reply must never land in the wrong one. This run waits
                            # until the member finishes (then `_then_next` starts it) or goes quiet for a while.
                            self.hold_back(s, run, member, current, now)
                            continue
                    marker = run.next_nudge_at.isoformat() if trigger == Trigger.REMIND and run.next_nudge_at else ""
                    replies = self._apply(s, run, member, trigger, None, now, by_member=False)
                    if trigger == Trigger.REMIND and run.next_nudge_at is not None and run.next_nudge_at <= now:
                        run.next_nudge_at, run.nudge_kind = None, None  # never loop on a refused nudge
                        s.add(run)
                    if replies:
                        queued.append(
                            repo.outbox_row_for(
                                dedup_key=f"run:{run.id}:{trigger.value}:{marker}",
                                member_id=member.id,
                                run_id=run.id,
                                kind=trigger.value,
                                body=encode_replies(replies),
                                now=now,
                                not_before=self.calendars.send_at(member, now) if trigger == Trigger.EXPIRE else None,
                            )
                        )
                    done += 1
                repo.enqueue_many(s, rows=queued)  # one statement for the batch, in the same transaction
            if len(runs) < BATCH:
                return done

    def _hold(self, run: ConversationRun, member: Member, trigger: Trigger, now: datetime, away: bool) -> bool:
        """Hold a prompt or a reminder back (moving its time) when the member is paused, away or outside their
        working time. Outside working time, a prompt whose window would close first goes now (a reminder is
        dropped); someone whose status says they are away is not prompted at all until it clears."""
        if trigger not in (Trigger.DELIVER, Trigger.REMIND):
            return False
        if trigger == Trigger.REMIND and (not member.active or self._paused(member, now)):
            run.next_nudge_at, run.nudge_kind = None, None
            return True
        cal = self.calendars.of(member, away=away)
        if is_working_time(cal, member.timezone, now):
            return False
        at = now + AWAY_RECHECK if away else next_working_time(cal, member.timezone, now)
        if trigger == Trigger.DELIVER:
            if at >= run.closes_at and not away:
                return False  # better late in the day than never; someone away is simply not prompted
            run.prompt_at = at
        elif at < run.closes_at:
            run.next_nudge_at = at
        else:
            run.next_nudge_at, run.nudge_kind = None, None
        return True

    def _away_members(self, now: datetime) -> frozenset[int]:
        """Members whose Slack status says they are away, among those with a prompt or reminder due (looked up
        outside any transaction, cached for a few minutes)."""
        if not self.calendar_settings.away_status or "slack" not in self.messengers:
            return frozenset()
        with transaction(self.sessions) as s:
            due = away_candidates(s, now)
        return frozenset(mid for mid, user in due if self.calendars.away(user, now))

    @staticmethod
    def _paused(member: Member, now: datetime) -> bool:
        return paused_until(member, now) is not None

    def _busy_with_other(self, s: Session, run: ConversationRun, now: datetime) -> ConversationRun | None:
        """The other conversation the member is in now (`conversations.turns.has_attention`), if any."""
        pre = Prefetched.of(s, run) if run.status == Status.SCHEDULED.value else None
        current = (
            pre.take_active(run) if pre is not None else repo.active_run(s, member_id=run.member_id, other_than=run.id)
        )
        if current is None or current.id == run.id:
            return None
        return (
            current
            if has_attention(status=current.status, step=current.step, moved_at=current.updated_at, now=now)
            else None
        )

    def hold_back(
        self, s: Session, run: ConversationRun, member: Member, current: ConversationRun, now: datetime
    ) -> None:
        """Let `run` wait while the member is in `current`; a new one is announced to them once, as next."""
        if run.status == Status.SCHEDULED.value:
            run.prompt_at = now + BUSY_WINDOW
            context = run.context or {}
            repo.enqueue(
                s,
                dedup_key=f"run:{run.id}:waiting",
                member_id=member.id,
                kind="waiting",
                body=encode_replies(
                    [
                        Reply(
                            "common/waiting_next",
                            {
                                "flow": run.flow,
                                "current": current.flow,
                                "title": context.get("title"),
                                "starter": context.get("starter"),
                            },
                        )
                    ]
                ),
                now=now,
            )
        else:  # a reminder of a conversation the member is not in now would pull their next answer into it
            run.next_nudge_at = self.calendars.send_at(member, now + BUSY_WINDOW)
        s.add(run)

    def next_wakeup(self, after: datetime) -> datetime | None:
        """The next instant at which `tick` has something to do (used to fast-forward the console's clock)."""
        with transaction(self.sessions) as s:
            times = repo.next_times(s, after=after)
            groups = repo.member_calendars(s)
            times.extend(DIGEST_SCHEDULE.next_after(m.timezone, after).due for m in managers(s))
        for flow in self.flows.values():
            if flow.enabled and flow.schedule is not None:
                for tz, country in groups:
                    # the coming occurrences as they really fall (a holiday moves one earlier, even before now)
                    at = after
                    for _ in range(3):
                        real = [o for o in self._occurrences(flow, tz, country, at) if o is not None and o.due > after]
                        if real:
                            times.append(min(o.due for o in real))
                            break
                        at = flow.schedule.next_after(tz, at).due
        return min(times) if times else None
