"""`/flywheel` — help, and reporting lines typed in chat: a manager adds their team (`/flywheel team add @a @b`),
an admin sets someone's manager (`/flywheel manager @member @manager`). The org file, where one is used, wins at
the next start for the people it names."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Sequence

from sqlmodel import Session, select

from bot.digest import direct_reports
from conversations.events import InboundEvent
from conversations.machine import Reply
from conversations.render import first_name
from storage import repo
from storage.models import Member

log = logging.getLogger(__name__)


def command(s: Session, actor: Member, args: str, event: InboundEvent, now: datetime, *,
            admins: Sequence[str]) -> Reply:
    words = args.split()
    if not words or words[0].lower() in ("help", "帮助"):
        return Reply("common/help")
    verb = words[0].lower()
    if verb == "team" and len(words) == 1:
        names = [first_name(m.name) for m in direct_reports(s, manager_id=actor.id)]
        return Reply("team/list", {"names": names})
    if verb == "team" and len(words) >= 3 and words[1].lower() == "add":
        people, unknown = repo.members_by_mentions(s, platform=event.platform, tokens=words[2:])
        if unknown is not None:
            return Reply("team/unknown", {"who": unknown})
        if any(p.id == actor.id for p in people) or any(_manages(s, p, actor) for p in people):
            return Reply("team/loop")
        for person in people:
            repo.set_manager(s, person, actor.id, now=now)
            s.add(person)
        log.info("member %s added %d people to their team", actor.id, len(people))
        return Reply("team/added", {"names": [first_name(p.name) for p in people]})
    if verb == "manager" and len(words) == 3:
        if actor.handle not in admins:
            return Reply("team/admins_only")
        people, unknown = repo.members_by_mentions(s, platform=event.platform, tokens=words[1:])
        if unknown is not None:
            return Reply("team/unknown", {"who": unknown})
        if len(people) != 2:
            return Reply("team/usage")
        person, manager = people
        if _manages(s, person, manager) or person.id == manager.id:
            return Reply("team/loop")
        repo.set_manager(s, person, manager.id, now=now)
        s.add(person)
        log.info("admin %s set the manager of member %s to %s", actor.id, person.id, manager.id)
        return Reply("team/manager_set", {"who": first_name(person.name), "manager": first_name(manager.name)})
    return Reply("team/usage")


def _manages(s: Session, person: Member, other: Member) -> bool:
    """Is `person` somewhere above `other` in the reporting line (which would make a loop)?"""
    seen: set[int] = set()
    current = other.manager_id
    while current is not None and current not in seen:
        if current == person.id:
            return True
        seen.add(current)
        current = s.exec(select(Member.manager_id).where(Member.id == current)).first()
    return False
