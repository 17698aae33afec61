"""Scheduled work: one `tick` plans due runs, delivers, reminds and expires them in batches under row locks, runs
what else is due (retro summaries, expired team requests, manager digests, retention), then drains the outbox.
Nothing is sent inside a database transaction. Safe to run concurrently in several replicas and to repeat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from bot import team
from bot.calendar import AWAY_RECHECK, Calendars, away_candidates, paused_until
from bot.codec import encode_replies
from bot.digest import DIGEST_SCHEDULE, digest_time, managers
from bot.engine import Batch, RunEngine, run_row
from bot.foreground import Foreground
from bot.ports import TickReport
from bot.prefetch import Prefetched
from conversations.calendar import (
    CalendarSettings,
    is_working_time,
    next_working_time,
    pause_in_force,
    working_occurrence,
)
from conversations.clock import Clock
from conversations.flows import Flow
from conversations.machine import Trigger
from conversations.schedule import WeeklySchedule, zone
from storage import repo
from storage.models import ConversationRun, Member

log = logging.getLogger(__name__)

BATCH = 200
BATCH_WHILE_SERVING = 25  # ... when a request is being answered in this process: its locks are held for less
YIELD_AFTER = 0.02  # seconds a delivery batch may hold its transaction while someone's request waits in this process
PROCESSED_KEEP = timedelta(hours=48)  # Feishu retries for up to 6 h; Slack for 5 min


class Ticker:
    def __init__(
        self,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
        clock: Clock,
        flows: Mapping[str, Flow],
        runs: RunEngine,
        calendars: Calendars,
        calendar_settings: CalendarSettings,
        owner: str,
        retention_days: Callable[[], int],
        away_lookup: Callable[[], bool],
        summarise_retros: Callable[[datetime], object],
        send_digests: Callable[[datetime, datetime | None], int],
        deliver_outbox: Callable[[], tuple[int, int]],
        foreground: Foreground | None = None,
        features: Sequence[Callable[[datetime], object]] = (),
        wakeups: Sequence[Callable[[Session, datetime], list[datetime]]] = (),
    ) -> None:
        self.transaction = transaction
        self.clock = clock
        self.flows = flows
        self.runs = runs
        self.calendars = calendars
        self.calendar_settings = calendar_settings
        self.owner = owner
        self.retention_days = retention_days  # `RETENTION_DAYS`, as set now
        self.away_lookup = away_lookup  # whether a platform's status can say someone is away
        self.summarise_retros = summarise_retros
        self.send_digests = send_digests
        self.deliver_outbox = deliver_outbox
        self.foreground = foreground or Foreground()  # requests being answered in this process go first
        self.features = tuple(features)  # features' own timed work (feedback requests closing, 1:1 agendas)
        self.wakeups = tuple(wakeups)  # when that work next falls due

    def tick(self) -> TickReport:
        """One pass of the scheduler. Safe to run concurrently in several replicas and to repeat."""
        now = self.clock.now()
        report = TickReport()
        with self.transaction() as s:
            state = repo.get_state(s, key="tick")
            last_tick = state.at if state is not None else None
        self._plan(now, last_tick, report)
        report.expired = self._process("expire", Trigger.EXPIRE, now)
        self.summarise_retros(now)
        for feature in self.features:
            feature(now)
        with self.transaction() as s:
            team.expire_due(s, now=now, calendars=self.calendars)  # manager requests nobody answered within seven days
        away = self._away_members(now)
        report.delivered = self._process("deliver", Trigger.DELIVER, now, away)
        report.reminded = self._process("remind", Trigger.REMIND, now, away)
        report.digests = self.send_digests(now, last_tick)  # (held for each manager's working time)
        with self.transaction() as s:
            repo.set_state(s, key="tick", at=now, value=self.owner)
            repo.prune_processed(s, older_than=now - PROCESSED_KEEP)
            kept = repo.get_state(s, key="retention")
            if kept is None or kept.at is None or now - kept.at >= timedelta(hours=1):
                days = self.retention_days()
                deleted = repo.delete_answers_before(s, cutoff=now - timedelta(days=days))
                repo.set_state(s, key="retention", at=now)
                if deleted:
                    log.info("retention: deleted %d answers older than %d days", deleted, days)
        sent, failed = self.deliver_outbox()
        report.sent, report.failed = sent, failed
        return report

    def _occurrences(self, flow: Flow, tz: str, country: str | None, now: datetime):  # noqa: ANN202 - a generator of occurrences
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

    # ------------------------------------------------------------------------------------ planning

    def _plan(self, now: datetime, last_tick: datetime | None, report: TickReport) -> None:
        """Insert the runs that are due; the unique (flow, member, period) key makes this idempotent.

        Members are grouped by time zone and holiday calendar (country): each group's occurrence is moved off its
        holidays (`working_occurrence`); a week without a working day gets no run at all. A paused member's week
        is recorded as skipped, marked paused, so it does not count as missed. Inserted BATCH members at a time,
        each batch in its own short transaction: on SQLite one long planning transaction (10,000 members) would
        hold every inbound event back until it ends."""
        with self.transaction() as s:
            marks = repo.plan_marks(s)  # groups planned in full are not asked again until who is due changes
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
        with self.transaction() as s:
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
            with self.transaction() as s:
                contexts = {mid: {"paused_until": until.isoformat()} for mid, until in paused.items()}  # type: ignore[union-attr]  # a pause in force has an end
                self._insert_skipped(s, flow, occ, list(paused), "paused", now, contexts)
        for chunk in (ids[i : i + BATCH] for i in range(0, len(ids), BATCH)):
            self.foreground.give_way()
            with self.transaction() as s:
                if down:
                    # Recorded as skipped, so the member can still take it with /checkin while it is open.
                    self._insert_skipped(s, flow, occ, chunk, "missed", now)
                    continue
                rows = [
                    run_row(flow, mid, occ.period, due=occ.due, prompt_at=prompt_at, closes=occ.closes, now=now)
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
                last_tick.isoformat(),  # type: ignore[union-attr]  # `down` implies a last tick
                flow.catch_up_within,
            )

    def _insert_skipped(
        self,
        s: Session,
        flow: Flow,
        occ: Any,
        member_ids: list[int],
        trigger: str,
        now: datetime,
        contexts: Mapping[int, dict[str, Any]] | None = None,
    ) -> None:
        """Runs of `occ` recorded as skipped for these members (paused, or missed while Flywheel was down), each
        with its transition from nothing to skipped."""
        rows = []
        for mid in member_ids:
            row = run_row(
                flow, mid, occ.period, due=occ.due, prompt_at=occ.due, closes=occ.closes, now=now, status="skipped"
            )
            if contexts is not None and mid in contexts:
                row["context"] = contexts[mid]
            rows.append(row)
        repo.insert_runs(s, rows=rows)
        run_ids = s.exec(  # type: ignore[call-overload]  # sqlmodel's exec takes SQLAlchemy's select too
            sa.select(col(ConversationRun.id)).where(
                col(ConversationRun.flow) == flow.name,
                ConversationRun.period == occ.period,
                col(ConversationRun.member_id).in_(member_ids),
            )
        ).scalars()
        repo.insert_transitions(
            s,
            rows=[
                {
                    "run_id": run_id,
                    "trigger": trigger,
                    "from_status": None,
                    "to_status": "skipped",
                    "from_step": None,
                    "to_step": None,
                    "at": now,
                }
                for run_id in run_ids
            ],
        )

    # ------------------------------------------------------------------------ delivering, reminding, expiring

    def _process(self, kind: str, trigger: Trigger, now: datetime, away: frozenset[int] = frozenset()) -> int:
        """Deliver, remind or expire what is due, BATCH runs per transaction. While a request is being answered in
        this process (`bot/foreground.py`) a batch takes fewer runs (a member's answer waits for the lock on their
        conversation while a batch holds it), and a batch is cut short, committed with what it has done, once it
        has held its transaction for YIELD_AFTER with a request waiting: the rest stays due for the next batch."""
        done = 0
        while True:
            self.foreground.give_way()
            cut_short = False
            limit = BATCH_WHILE_SERVING if self.foreground.busy else BATCH
            with self.transaction() as s:
                runs = repo.runs_due(s, now=now, kind=kind, limit=limit)
                batch = Batch(Prefetched(s, runs, self.flows, busy=trigger == Trigger.DELIVER))
                queued: list[dict[str, Any]] = []
                started = time.monotonic()
                for index, run in enumerate(runs):
                    if index and self.foreground.busy and time.monotonic() - started >= YIELD_AFTER:
                        cut_short = True  # at least one run per batch: the fan-out always moves on
                        break
                    member = s.get(Member, run.member_id)
                    assert member is not None
                    until = paused_until(member, now)
                    if trigger == Trigger.DELIVER and (not member.active or until is not None):
                        self.runs.apply(s, run, member, Trigger.SKIP, None, now, by_member=False, batch=batch)
                        if until is not None:
                            run.context = {**(run.context or {}), "paused_until": until.isoformat()}
                            s.add(run)
                        continue
                    if self._hold(run, member, trigger, now, member.id in away):
                        s.add(run)
                        continue
                    if trigger in (Trigger.DELIVER, Trigger.REMIND):
                        current = self.runs.busy_with_other(s, run, now, batch)
                        if current is not None:
                            # One conversation at a time: a reply must never land in the wrong one. This run waits
                            # until the member finishes (then `then_next` starts it) or goes quiet for a while.
                            self.runs.hold_back(s, run, member, current, now)
                            continue
                    marker = run.next_nudge_at.isoformat() if trigger == Trigger.REMIND and run.next_nudge_at else ""
                    replies = self.runs.apply(s, run, member, trigger, None, now, by_member=False, batch=batch)
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
                batch.flush(s)  # the batch's changes of state, in one statement too
            if len(runs) < limit and not cut_short:
                return done

    def _hold(self, run: ConversationRun, member: Member, trigger: Trigger, now: datetime, away: bool) -> bool:
        """Hold a prompt or a reminder back (moving its time) when the member is paused, away or outside their
        working time. Outside working time, a prompt whose window would close first goes now (a reminder is
        dropped); someone whose status says they are away is not prompted at all until it clears."""
        if trigger not in (Trigger.DELIVER, Trigger.REMIND):
            return False
        if trigger == Trigger.REMIND and (not member.active or paused_until(member, now) is not None):
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
        if not self.calendar_settings.away_status or not self.away_lookup():
            return frozenset()
        with self.transaction() as s:
            due = away_candidates(s, now)
        return frozenset(mid for mid, user in due if self.calendars.away(user, now))

    def next_wakeup(self, after: datetime) -> datetime | None:
        """The next instant at which `tick` has something to do (used to fast-forward the console's clock)."""
        with self.transaction() as s:
            times = repo.next_times(s, after=after)
            groups = repo.member_calendars(s)
            for m in managers(s):  # a digest waits for the manager's working time (a holiday Monday)
                for occ in (DIGEST_SCHEDULE.latest(m.timezone, after), DIGEST_SCHEDULE.next_after(m.timezone, after)):
                    if (at := digest_time(self.calendars, m, occ.due)) > after:
                        times.append(at)
            for wakeup in self.wakeups:
                times.extend(wakeup(s, after))
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
