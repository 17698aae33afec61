"""`/flywheel` — help, and reporting lines typed in chat. A line changes only with the member's consent: a would-be
manager asks (`/flywheel team add @a @b`) and each person accepts or declines (`/flywheel accept 7`, the same text
their Accept button sends); until they accept, nothing about them reaches the one who asked. An admin sets a line
directly (`/flywheel manager @member @manager`). Lines the organisation file or the Feishu directory set belong to
them (repo.line_set_by) and are changed there, not in chat. Every step is audited.

```mermaid
stateDiagram-v2
    [*] --> pending: team add
    pending --> accepted: member accepts (the line changes)
    pending --> declined: member declines
    pending --> cancelled: requester withdraws / the line became the file's or directory's
    pending --> expired: seven days pass (tick, or an answer that comes too late)
```
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.digest import direct_reports
from bot.platforms import identity
from bot.ports import CommandHandler
from conversations.commands import with_leftover
from conversations.events import InboundEvent
from conversations.machine import Reply
from conversations.render import first_name
from storage import repo
from storage.models import ManagerRequest, Member

log = logging.getLogger(__name__)

REQUEST_LIFETIME = timedelta(days=7)
EXPIRE_BATCH = 200

# What the member (or the requester) may type; a button sends the first word of each.
ANSWERS = {
    "accept": "accepted",
    "接受": "accepted",
    "同意": "accepted",
    "decline": "declined",
    "拒绝": "declined",
    "不同意": "declined",
    "cancel": "cancelled",
    "withdraw": "cancelled",
    "取消": "cancelled",
    "撤回": "cancelled",
}
# Which status a request may move to from which, and who may move it there (as data, one table).
TRANSITIONS = {
    ("pending", "accepted"): "member",
    ("pending", "declined"): "member",
    ("pending", "cancelled"): "requester",
    ("pending", "expired"): "clock",
}
AUDIT_WHAT = {
    "pending": "manager_requested",
    "accepted": "manager_accepted",
    "declined": "manager_declined",
    "cancelled": "manager_cancelled",
    "expired": "manager_expired",
    "admin": "manager_set_by_admin",
}


def commands(*, admins: Sequence[str], calendars: Calendars) -> dict[str, CommandHandler]:
    """`/flywheel …`: the team and its manager requests (and, for admins, setting someone's manager)."""
    return {
        "flywheel": lambda s, member, c, event, now: (
            command(s, member, c.args, event, now, admins=admins, calendars=calendars),
            None,
        )
    }


def command(
    s: Session,
    actor: Member,
    args: str,
    event: InboundEvent,
    now: datetime,
    *,
    admins: Sequence[str],
    calendars: Calendars | None = None,
) -> list[Reply]:
    """`calendars` decides when the others involved are told (their working time: bot/calendar.py `send_at`)."""
    cal = calendars or Calendars()
    words = args.split()
    if not words or words[0].lower() in ("help", "帮助"):
        return with_leftover([Reply("common/help")], "/flywheel help", " ".join(words[1:]))
    verb = words[0].lower()
    if verb == "team" and len(words) == 1:
        return [_team_list(s, actor, now)]
    if verb == "team" and len(words) >= 3 and words[1].lower() == "add":
        return _ask(s, actor, words[2:], event, now, admins, cal)
    if verb == "manager" and len(words) == 3:
        return _admin_set(s, actor, words[1:], event, now, admins, cal)
    if verb in ANSWERS and len(words) == 2 and re.fullmatch(r"#?[0-9]{1,9}", words[1]):
        return _answer(s, actor, int(words[1].lstrip("#")), ANSWERS[verb], now, admins, cal)
    return [Reply("team/usage")]


# ------------------------------------------------------------------------------------------------ asking


def _team_list(s: Session, actor: Member, now: datetime) -> Reply:
    assert actor.id is not None  # a stored member
    names = [first_name(m.name) for m in direct_reports(s, manager_id=actor.id)]
    waiting = repo.pending_manager_requests(s, requested_by=actor.id, now=now)
    people = repo.members_by_id(s, ids=[r.member_id for r in waiting])
    return Reply(
        "team/list",
        {
            "names": names,
            "waiting": [
                {"id": r.id, "who": first_name(people[r.member_id].name), "expires": r.expires_at} for r in waiting
            ],
        },
    )


def _ask(
    s: Session,
    actor: Member,
    tokens: Sequence[str],
    event: InboundEvent,
    now: datetime,
    admins: Sequence[str],
    cal: Calendars,
) -> list[Reply]:
    """A would-be manager asks each person to report to them: one request each, nothing changes yet."""
    # One by one: whoever can be asked is asked; for each of the others, the reply says why not.
    people: list[Member] = []
    unknown: list[str] = []
    yourself = False
    loops: list[str] = []
    for token in tokens:
        person = identity.member_by_mention(s, platform=event.platform, token=token)
        if person is None or not person.active:
            unknown.append(token)
        elif person.id == actor.id:
            yourself = True
        elif any(p.id == person.id for p in people) or first_name(person.name) in loops:
            continue
        elif _manages(s, person, actor):
            loops.append(first_name(person.name))
        else:
            people.append(person)
    asked: list[str] = []
    already: list[str] = []
    waiting: list[str] = []
    fixed: dict[str, list[Member]] = {}
    for person in people:
        assert person.id is not None and actor.id is not None  # stored members
        owner = repo.line_set_by(person)
        if person.manager_id == actor.id:
            already.append(first_name(person.name))
        elif owner is not None:
            fixed.setdefault(owner, []).append(person)
        elif _still_pending(s, member_id=person.id, manager_id=actor.id, now=now):
            waiting.append(first_name(person.name))
        else:
            request = repo.add_manager_request(
                s,
                member_id=person.id,
                manager_id=actor.id,
                requested_by=actor.id,
                now=now,
                expires_at=now + REQUEST_LIFETIME,
            )
            _audit(s, request, actor_id=actor.id, what=AUDIT_WHAT["pending"], old=person.manager_id, now=now)
            current = s.get(Member, person.manager_id) if person.manager_id else None
            _tell(
                s,
                person.id,
                f"manager_request:{request.id}:ask",
                "team/request",
                {
                    "id": request.id,
                    "manager": first_name(actor.name),
                    "current": first_name(current.name) if current else None,
                    "expires": request.expires_at,
                },
                now,
                cal,
            )
            asked.append(first_name(person.name))
            log.info("member %s asked member %s to report to them (request %s)", actor.id, person.id, request.id)
    replies = [_line_fixed(s, found, owner, admins) for owner, found in fixed.items()]
    if asked:
        replies.insert(0, Reply("team/requested", {"names": asked}))
    if waiting:
        replies.append(Reply("team/already_asked", {"names": waiting}))
    if already:
        replies.append(Reply("team/already_yours", {"names": already}))
    if yourself:
        replies.append(Reply("team/not_yourself"))
    if loops:
        replies.append(Reply("team/loop_people", {"names": loops}))
    replies.extend(Reply("team/unknown", {"who": token}) for token in unknown)
    return replies


def _still_pending(s: Session, *, member_id: int, manager_id: int, now: datetime) -> bool:
    """Is this request already waiting for an answer? One whose time is up (and the tick has not seen yet) expires
    now, so the one who asked hears of it before asking again, not after."""
    found = repo.pending_manager_requests(s, member_id=member_id, manager_id=manager_id)
    for request in found:
        if now >= request.expires_at:
            expire(s, request, now, None)  # told to the one asking again, who is acting now: at once
    return any(r.status == "pending" for r in found)


def _line_fixed(
    s: Session, people: Sequence[Member], owner: str, admins: Sequence[str], *, yours: bool = False
) -> Reply:
    """Why these lines cannot be changed in chat, and who can change them, where (`yours`: said to the member)."""
    names = [
        first_name(a.name) for a in (repo.member_by_handle(s, handle=h) for h in admins) if a is not None and a.active
    ]
    return Reply(
        "team/line_fixed",
        {"names": [first_name(p.name) for p in people], "source": owner, "admins": names, "yours": yours},
    )


# ------------------------------------------------------------------------------------------------ answering


def _answer(
    s: Session, actor: Member, request_id: int, status: str, now: datetime, admins: Sequence[str], cal: Calendars
) -> list[Reply]:
    """Accept, decline (the member named in the request) or withdraw (the one who asked) one request."""
    request = repo.lock_manager_request(s, request_id=request_id)
    who_may = TRANSITIONS[("pending", status)]
    mine = request is not None and (request.member_id if who_may == "member" else request.requested_by) == actor.id
    if request is None or not mine:
        # Someone else's request is indistinguishable from a missing one: nothing leaks.
        return [Reply("team/request_not_found", {"id": request_id})]
    if request.status == "pending" and now >= request.expires_at:
        expire(s, request, now, cal)
    if request.status != "pending":
        return [Reply("team/request_closed", {"id": request.id, "status": request.status})]
    member, manager = s.get(Member, request.member_id), s.get(Member, request.manager_id)
    assert member is not None and manager is not None
    assert member.id is not None and manager.id is not None  # stored members
    if status == "declined":
        _decide(s, request, "declined", actor_id=actor.id, now=now)
        _tell(
            s,
            request.requested_by,
            f"manager_request:{request.id}:declined",
            "team/request_declined",
            {"who": first_name(member.name)},
            now,
            cal,
        )
        return [Reply("team/declined", {"manager": first_name(manager.name)})]
    if status == "cancelled":
        _decide(s, request, "cancelled", actor_id=actor.id, now=now)
        _tell(
            s,
            member.id,
            f"manager_request:{request.id}:cancelled",
            "team/request_cancelled",
            {"id": request.id, "manager": first_name(manager.name)},
            now,
            cal,
        )
        return [Reply("team/cancelled", {"who": first_name(member.name)})]
    # Accepting: what was true when the request was made may no longer be.
    owner = repo.line_set_by(member)
    if owner is not None or not manager.active or _manages(s, member, manager):
        _decide(s, request, "cancelled", actor_id=actor.id, now=now)
        if owner is not None:
            return [_line_fixed(s, [member], owner, admins, yours=True)]
        return [
            Reply("team/loop" if manager.active else "team/request_closed", {"id": request.id, "status": "cancelled"})
        ]
    old = s.get(Member, member.manager_id) if member.manager_id else None
    _decide(s, request, "accepted", actor_id=actor.id, now=now)
    repo.set_manager(s, member, manager.id, source="chat", now=now)
    key = f"manager_request:{request.id}:accepted"
    _tell(s, manager.id, f"{key}:new", "team/request_accepted", {"who": first_name(member.name)}, now, cal)
    if old is not None and old.id != manager.id:
        assert old.id is not None  # a stored member
        _tell(
            s,
            old.id,
            f"{key}:old",
            "team/moved_away",
            {"who": first_name(member.name), "manager": first_name(manager.name), "by": None},
            now,
            cal,
        )
    log.info("member %s accepted request %s: now reports to member %s", member.id, request.id, manager.id)
    return [
        Reply(
            "team/accepted",
            {
                "manager": first_name(manager.name),
                "previous": first_name(old.name) if old and old.id != manager.id else None,
            },
        )
    ]


def expire(s: Session, request: ManagerRequest, now: datetime, cal: Calendars | None) -> None:
    """A request nobody answered in time: expired, audited, and the one who asked is told (at their working time;
    `cal` None: they are the one acting now)."""
    member = s.get(Member, request.member_id)
    _decide(s, request, "expired", actor_id=None, now=now)
    _tell(
        s,
        request.requested_by,
        f"manager_request:{request.id}:expired",
        "team/request_expired",
        {"who": first_name(member.name) if member else "?", "days": REQUEST_LIFETIME.days},
        now,
        cal,
    )
    log.info("manager request %s expired unanswered", request.id)


def expire_due(s: Session, *, now: datetime, calendars: Calendars | None = None) -> int:
    """The scheduler's part: every pending request past its time expires (in batches, rows locked)."""
    done = 0
    while True:
        batch = repo.manager_requests_expiring(s, now=now, limit=EXPIRE_BATCH)
        for request in batch:
            expire(s, request, now, calendars or Calendars())
        done += len(batch)
        if len(batch) < EXPIRE_BATCH:
            return done


def _decide(s: Session, request: ManagerRequest, status: str, *, actor_id: int | None, now: datetime) -> None:
    """Move a pending request on (before the line itself changes: the audit names the manager it had)."""
    assert ("pending", status) in TRANSITIONS and request.status == "pending"
    request.status, request.decided_at = status, now
    s.add(request)
    member = s.get(Member, request.member_id)
    _audit(s, request, actor_id=actor_id, what=AUDIT_WHAT[status], old=member.manager_id if member else None, now=now)


# ------------------------------------------------------------------------------------------------ admins


def _admin_set(
    s: Session,
    actor: Member,
    tokens: Sequence[str],
    event: InboundEvent,
    now: datetime,
    admins: Sequence[str],
    cal: Calendars,
) -> list[Reply]:
    """An admin sets someone's manager directly (no consent needed); all three people are told."""
    if actor.handle not in admins:
        return [Reply("team/admins_only")]
    people, unknown = identity.members_by_mentions(s, platform=event.platform, tokens=tokens)
    if unknown is not None:
        return [Reply("team/unknown", {"who": unknown})]
    if len(people) == 1 and len(tokens) == 2:  # the same person named twice
        return [Reply("team/same_person", {"who": first_name(people[0].name)})]
    if len(people) != 2:
        return [Reply("team/usage")]
    person, manager = people
    assert person.id is not None and manager.id is not None  # stored members
    if _manages(s, person, manager) or person.id == manager.id:
        return [Reply("team/loop")]
    owner = repo.line_set_by(person)
    if owner is not None:
        return [_line_fixed(s, [person], owner, admins)]
    if person.manager_id == manager.id:
        return [Reply("team/manager_set", {"who": first_name(person.name), "manager": first_name(manager.name)})]
    old = s.get(Member, person.manager_id) if person.manager_id else None
    repo.audit_change(
        s,
        actor_id=actor.id,
        subject_id=person.id,
        what=AUDIT_WHAT["admin"],
        part=f"manager {old.id if old else 'none'} -> {manager.id}",
        now=now,
    )
    repo.set_manager(s, person, manager.id, source="admin", now=now)
    key, by = f"in:{event.dedup_key}:line:{person.id}", first_name(actor.name)
    if person.id != actor.id:
        _tell(
            s,
            person.id,
            f"{key}:member",
            "team/set_for_you",
            {
                "manager": first_name(manager.name),
                "previous": first_name(old.name) if old else None,
                "by": by,
                "themselves": manager.id == actor.id,
            },
            now,
            cal,
        )
    if manager.id != actor.id:
        _tell(s, manager.id, f"{key}:new", "team/new_report", {"who": first_name(person.name), "by": by}, now, cal)
    if old is not None and old.id != actor.id:
        assert old.id is not None  # a stored member
        _tell(
            s,
            old.id,
            f"{key}:old",
            "team/moved_away",
            {"who": first_name(person.name), "manager": first_name(manager.name), "by": by},
            now,
            cal,
        )
    log.info("admin %s set the manager of member %s to %s", actor.id, person.id, manager.id)
    return [Reply("team/manager_set", {"who": first_name(person.name), "manager": first_name(manager.name)})]


# ------------------------------------------------------------------------------------------------ helpers


def _tell(
    s: Session, member_id: int, key: str, template: str, params: dict[str, Any], now: datetime, cal: Calendars | None
) -> None:
    """A DM about a reporting line: to someone other than who acted, at their working time (bot/calendar.py
    `send_at`); `cal` None only for the one acting now."""
    repo.enqueue(
        s,
        dedup_key=key,
        member_id=member_id,
        kind="team",
        body=encode_replies([Reply(template, params)]),
        now=now,
        not_before=cal.send_at_id(s, member_id, now) if cal is not None else None,
    )


def _audit(
    s: Session, request: ManagerRequest, *, actor_id: int | None, what: str, old: int | None, now: datetime
) -> None:
    repo.audit_change(
        s,
        actor_id=actor_id,
        subject_id=request.member_id,
        what=what,
        part=f"request {request.id}: manager {old if old is not None else 'none'} -> {request.manager_id}",
        now=now,
    )


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
