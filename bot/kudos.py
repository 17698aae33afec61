"""The kudos desk: turns `/kudos …` into a stored recognition, a public post and a DM to each recipient."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.platforms import identity
from bot.ports import CommandHandler
from conversations.commands import with_leftover
from conversations.events import InboundEvent
from conversations.kudos import (
    VALUES_MAX_LEN,
    KudosRefusal,
    KudosSettings,
    check_kudos,
    parse_kudos,
    store_values,
    stored_values,
)
from conversations.machine import Reply
from conversations.render import first_name
from conversations.schedule import weekly_period, zone
from storage import repo
from storage.models import Member

log = logging.getLogger(__name__)

WALL_SIZE = 10


def _badge(settings: KudosSettings, key: str | None) -> dict[str, str] | None:
    value = settings.value(key) if key else None
    return {"emoji": value.emoji, "en": value.en, "zh": value.zh} if value else None


def _badges(settings: KudosSettings, stored: str | None) -> list[dict[str, str]]:
    """Every badge of one kudos, in the order they were tagged."""
    return [b for b in (_badge(settings, key) for key in stored_values(stored)) if b]


def _badge_counts(settings: KudosSettings, stored: list[str | None]) -> list[dict[str, Any]]:
    counts = Counter(key for value in stored for key in stored_values(value))
    return [{**b, "count": n} for key, n in counts.most_common() if (b := _badge(settings, key))]


def _refusal(r: KudosRefusal, **extra: Any) -> Reply:
    return Reply(f"kudos/{r.key}", {**r.params, **extra})


class KudosDesk:
    def __init__(self, settings: KudosSettings, calendars: Calendars | None = None) -> None:
        self.settings = settings
        self.calendars = calendars or Calendars()  # when each recipient's DM may go out

    def commands(self) -> dict[str, CommandHandler]:
        return {
            "kudos": lambda s, member, c, event, now: (self.command(s, member, c.args, event, now, text=c.text), None)
        }

    def command(
        self, s: Session, member: Member, args: str, event: InboundEvent, now: datetime, *, text: str | None = None
    ) -> list[Reply]:
        """`/kudos me`, `/kudos wall`, or giving kudos; `args` as read, `text` as typed (the reason is kept so)."""
        head, *rest = args.split(maxsplit=1) or [""]
        if head.lower() in ("me", "我"):
            return with_leftover([self.own(s, member, now)], "/kudos me", "".join(rest))
        if head.lower() in ("wall", "墙", "team"):
            return with_leftover([self.wall(s, member, now)], "/kudos wall", "".join(rest))
        return self.give(s, member, text if text else args, event, now)

    def _values(self) -> list[dict[str, str]]:
        return [{"key": v.key, "emoji": v.emoji, "en": v.en, "zh": v.zh} for v in self.settings.values]

    def give(self, s: Session, giver: Member, args: str, event: InboundEvent, now: datetime) -> list[Reply]:
        parsed = parse_kudos(args)
        if isinstance(parsed, KudosRefusal):
            return [_refusal(parsed, values=self._values())]
        recipients, unknown = identity.members_by_mentions(s, platform=event.platform, tokens=parsed.mentions)
        if unknown is not None:
            return [Reply("kudos/unknown_member", {"who": unknown})]
        values = []
        for tag in parsed.tags:
            value = self.settings.value(tag)
            if value is None:
                return [Reply("kudos/unknown_value", {"tag": tag, "values": self._values()})]
            if value.key not in values:
                values.append(value.key)
        stored = store_values(values)
        if stored is not None and len(stored) > VALUES_MAX_LEN:
            return [Reply("kudos/too_many_values", {"count": len(values)})]
        period = weekly_period(now.astimezone(zone(giver.timezone)).date())
        assert giver.id is not None  # a stored member
        repo.lock_member(s, member_id=giver.id)  # two kudos at once from one giver are counted one after the other
        refusal = check_kudos(
            giver_id=giver.id,
            recipient_ids=[r.id for r in recipients],  # type: ignore[misc]  # stored members: id is set
            given_this_week=repo.kudos_given_in(s, giver_id=giver.id, period=period),
            settings=self.settings,
        )
        if refusal is not None:
            return [_refusal(refusal)]
        channel = self.settings.channel_for(event.platform) or event.channel  # configured, or where it was typed
        repo.add_kudos(
            s,
            giver_id=giver.id,
            recipient_ids=[r.id for r in recipients],  # type: ignore[misc]  # as above
            reason=parsed.reason,
            value=stored,
            channel=channel,
            period=period,
            now=now,
        )
        log.info("kudos from member %s to %d member(s)", giver.id, len(recipients))
        names = [first_name(r.name) for r in recipients]
        common = {
            "giver": first_name(giver.name),
            "names": names,
            "reason": parsed.reason,
            "badges": _badges(self.settings, stored),
        }
        if channel:
            repo.enqueue(
                s,
                dedup_key=f"in:{event.dedup_key}:post",
                member_id=None,
                kind="kudos_post",
                channel=f"{event.platform}:{channel}",
                body=encode_replies([Reply("kudos/post", common)]),
                now=now,
            )
        for r in recipients:
            repo.enqueue(
                s,
                dedup_key=f"in:{event.dedup_key}:to:{r.id}",
                member_id=r.id,
                kind="kudos_received",
                body=encode_replies([Reply("kudos/received", common)]),
                now=now,
                not_before=self.calendars.send_at(r, now),
            )
        return [Reply("kudos/sent", {**common, "channel": channel})]

    def own(self, s: Session, member: Member, now: datetime) -> Reply:
        assert member.id is not None  # a stored member
        received = repo.kudos_received(s, member_ids=[member.id])
        givers = repo.members_by_id(s, ids=[k.giver_id for k, _ in received])
        items = [
            {
                "giver": _giver(givers[k.giver_id]),
                "reason": k.reason,
                "at": k.created_at,
                "badges": _badges(self.settings, k.value),
            }
            for k, _ in received[:WALL_SIZE]
        ]
        return Reply(
            "kudos/me",
            {
                "total": len(received),
                "items": items,
                "badges": _badge_counts(self.settings, [k.value for k, _ in received]),
            },
        )

    def wall(self, s: Session, member: Member, now: datetime) -> Reply:
        team = repo.team_members(s, team=member.team, manager_id=member.manager_id or member.id)
        ids: list[int] = [m.id for m in team]  # type: ignore[misc]  # stored members: id is set
        since = now - timedelta(days=30)
        recent = repo.kudos_received(s, member_ids=ids, since=since)
        people = repo.members_by_id(s, ids=[k.giver_id for k, _ in recent] + [i for _, rs in recent for i in rs])
        items = [
            {
                "giver": _giver(people[k.giver_id]),
                "reason": k.reason,
                "at": k.created_at,
                "names": [first_name(people[i].name) for i in rs],
                "badges": _badges(self.settings, k.value),
            }
            for k, rs in recent[:WALL_SIZE]
        ]
        ranking: list[dict[str, Any]] = []
        if self.settings.rankings:
            counts = Counter(i for _, rs in recent for i in rs if i in ids)
            ranking = [{"name": first_name(people[i].name), "count": n} for i, n in counts.most_common(3)]
        return Reply(
            "kudos/wall",
            {
                "team": member.team or "",
                "total": len(recent),
                "items": items,
                "badges": _badge_counts(self.settings, [k.value for k, _ in recent]),
                "ranking": ranking,
            },
        )


def _giver(member: Member) -> str | None:
    """A giver's name as shown; None (the templates say "a former colleague") once they deleted their data."""
    return None if repo.is_erased(member) else first_name(member.name)
