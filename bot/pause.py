"""`/pause until …` and `/resume`: no prompts until a date (open conversations stop reminding), and back on."""

from __future__ import annotations

import logging
from datetime import datetime, time

from sqlmodel import Session

from bot.calendar import paused_until
from bot.ports import CommandHandler
from conversations.commands import Command, parse_pause, with_leftover
from conversations.events import InboundEvent
from conversations.machine import Reply
from conversations.schedule import zone
from storage import repo
from storage.models import Member

log = logging.getLogger(__name__)


def commands() -> dict[str, CommandHandler]:
    def resume_command(
        s: Session, member: Member, c: Command, event: InboundEvent, now: datetime
    ) -> tuple[list[Reply], None]:
        return with_leftover([resume(s, member, now)], "/resume", c.args), None

    return {"pause": lambda s, member, c, event, now: ([pause(s, member, c.args, now)], None), "resume": resume_command}


def pause(s: Session, member: Member, args: str, now: datetime) -> Reply:
    today = now.astimezone(zone(member.timezone)).date()
    until = parse_pause(args, today)
    if until is None:
        return Reply("common/pause_invalid")
    member.paused_until = until
    member.updated_at = now
    s.add(member)
    assert member.id is not None  # a stored member
    for run in repo.open_runs(s, member_id=member.id):
        # A pause stops the open conversations' reminders; what was answered stays, and they may still finish.
        run.next_nudge_at, run.nudge_kind = None, None
        run.context = {**(run.context or {}), "paused_until": until.isoformat()}
        s.add(run)
    log.info("member %s paused until %s", member.id, until)
    return Reply("common/paused", {"until": until})


def resume(s: Session, member: Member, now: datetime) -> Reply:
    today = now.astimezone(zone(member.timezone)).date()
    if member.paused_until is None or member.paused_until <= today:
        return Reply("common/not_paused")
    member.paused_until = None
    member.updated_at = now
    s.add(member)
    assert member.id is not None  # a stored member
    repo.drop_paused_weeks(s, member_id=member.id, now=now)  # this week's check-in comes after all
    return Reply("common/resumed")


def back_at(member: Member, now: datetime) -> datetime:
    """When something that asks the member for an answer (not a notice) may reach them: now, or when their pause
    ends (midnight of `paused_until`, their time; bot/calendar.py `send_at` then waits for their working hours)."""
    until = paused_until(member, now)
    if until is None:
        return now
    return max(now, datetime.combine(until, time(0, 0), tzinfo=zone(member.timezone)))
