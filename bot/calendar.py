"""The members' calendars at run time: the organisation's settings, each member's country and (on Slack) whether
their status says they are away. The rules themselves are in `conversations/calendar.py`.

`send_at` is the one place that decides when a DM that is not an answer to something the person just did may go
out (kudos received, retro questions, support-request notices, digests): at the recipient's next working time.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from conversations.calendar import (
    CalendarSettings,
    WorkCalendar,
    away_from_status,
    next_working_time,
    pause_in_force,
    week_has_working_day,
)
from conversations.schedule import zone
from storage.models import ConversationRun, Member, MemberIdentity

log = logging.getLogger(__name__)

AWAY_CACHE = timedelta(minutes=10)  # how long a looked-up status is trusted
AWAY_RECHECK = timedelta(hours=1)  # an away member's prompt is looked at again after this


@dataclass
class Calendars:
    settings: CalendarSettings = field(default_factory=CalendarSettings)
    # platform name → Messenger; a messenger with `status(user_id)` can tell whether someone is away
    messengers: Mapping[str, Any] = field(default_factory=dict)
    monotonic: Callable[[], float] = _time.monotonic
    _away: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def of(self, member: Member, *, away: bool = False) -> WorkCalendar:
        """The member's working calendar."""
        return self.settings.for_member(getattr(member, "country", None), away=away)

    def send_at(self, member: Member | None, now: datetime) -> datetime:
        """When a DM to `member` that they did not just ask for may be sent: now, or their next working time."""
        if member is None:
            return now
        return next_working_time(self.of(member), member.timezone, now)

    def week_off(self, member: Member, period: str) -> bool:
        """A week without a single working day for this member: it had no check-in, and nothing was missed."""
        return not week_has_working_day(self.of(member), period)

    def send_at_id(self, s: Session, member_id: int | None, now: datetime) -> datetime:
        return self.send_at(s.get(Member, member_id) if member_id is not None else None, now)

    # ------------------------------------------------------------------------------------ away (Slack status)

    def away(self, user: str | None, now: datetime) -> bool:
        """Does this Slack user's status say they are away? Looked up at most every `AWAY_CACHE`; any failure
        counts as "not away" (a prompt is better than a silent week)."""
        messenger = self.messengers.get("slack")
        if not self.settings.away_status or messenger is None or not user or not hasattr(messenger, "status"):
            return False
        cached = self._away.get(user)
        if cached is not None and self.monotonic() - cached[0] < AWAY_CACHE.total_seconds():
            return cached[1]
        try:
            status = messenger.status(user) or {}
            away = away_from_status(
                status.get("status_emoji"), status.get("status_text"), status.get("status_expiration"), now
            )
        except Exception:  # noqa: BLE001 - optional: never let a status lookup stop a prompt
            log.warning("could not read the Slack status of user %s; prompting as usual", user)
            away = False
        self._away[user] = (self.monotonic(), away)
        return away


def paused_until(member: Member, now: datetime) -> date | None:
    """Until when the member is paused, while the pause lasts (their local date); None when not paused or over."""
    return pause_in_force(member.paused_until, now.astimezone(zone(member.timezone)).date())


def away_candidates(s: Session, now: datetime) -> list[tuple[int, str]]:
    """(member id, Slack user id) of Slack members with a prompt or a reminder due now."""
    deliver = sa.and_(col(ConversationRun.status) == "scheduled", col(ConversationRun.prompt_at) <= now)
    remind = sa.and_(
        col(ConversationRun.status).in_(("prompted", "in_progress")),
        col(ConversationRun.next_nudge_at) <= now,
    )
    query = (
        select(Member.id, MemberIdentity.external_id)
        .join(MemberIdentity, col(MemberIdentity.member_id) == col(Member.id))
        .join(ConversationRun, col(ConversationRun.member_id) == col(Member.id))
        .where(
            col(MemberIdentity.platform) == "slack",
            col(ConversationRun.closes_at) > now,
            sa.or_(deliver, remind),
        )
        .distinct()
    )
    return [(i, u) for i, u in s.exec(query) if i is not None and u is not None]
