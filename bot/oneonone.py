"""1:1s with a shared agenda (`/1on1`): a manager–report pair agrees a cadence, both get the agenda by DM before
each 1:1, and either side records what came of it. Pure parts (parsing, dates, how a holiday moves a meeting) are
in conversations/oneonone.py; who reads which item or note is bot/access.py `may` (Part.ONE_ON_ONE); when a DM
goes, bot/calendar.py `Calendars.send_at`.

Decided here (and said in the README and in the DMs):
- a meeting on a day that is not a working day for one of the two (a public holiday, the organisation's day off)
  moves to the next day that is one for both, at the same time; the agenda says it moved. With no such day before
  the next meeting it is skipped, both are told, and everything carries over;
- the agenda goes out from a day before the meeting, at each person's next working time; someone paused gets no
  agenda (the other still does);
- topics and action items come back on every agenda until ticked (`/1on1 done N`); notes are shared with the
  other side, or with `private`, read only by their writer;
- an action item becomes a development action of the report (`repo.add_action`, source "one_on_one"), open at once
  — it was agreed in the meeting, and the report may drop it like any other; it then follows up in their check-ins
  too, and ticking it on either side closes both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot import access
from bot.calendar import Calendars, paused_until
from bot.codec import encode_replies
from bot.digest import snapshot
from bot.platforms import identity
from bot.ports import CommandHandler
from conversations.calendar import is_working_day
from conversations.commands import Command
from conversations.digest import talking_points
from conversations.events import InboundEvent
from conversations.machine import Reply
from conversations.oneonone import (
    AGENDA_AHEAD,
    HELD_AFTER,
    Cadence,
    OneOnOneCommand,
    Placed,
    first_meeting,
    following_meeting,
    parse,
    place,
)
from conversations.render import first_name
from conversations.schedule import zone
from storage import repo
from storage.models import DevelopmentAction, Member, OneOnOne, OneOnOneItem

log = logging.getLogger(__name__)

OPEN = ("proposed", "active")
NOTES_SHOWN = 5
CLOSED_ACTION = ("done", "dropped", "declined")


def cadence_of(pair: OneOnOne) -> Cadence:
    hour, minute = (int(x) for x in pair.at_time.split(":"))
    return Cadence(pair.cadence, pair.weekday, time(hour, minute))


def pair_facts(pair: OneOnOne, item: OneOnOneItem | None = None) -> access.OneOnOneFacts:
    return access.OneOnOneFacts(
        pair.manager_id,
        pair.member_id,
        item.author_id if item is not None else None,
        bool(item.private) if item is not None else False,
    )


class OneOnOnes:
    def __init__(
        self,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
        calendars: Calendars,
    ) -> None:
        self.transaction = transaction
        self.calendars = calendars

    def commands(self) -> dict[str, CommandHandler]:
        return {"1on1": lambda s, member, c, event, now: (self.command(s, member, c, event, now), None)}

    # ---------------------------------------------------------------------------------------- the rule, asked

    def _may(self, s: Session, viewer: Member, pair: OneOnOne, now: datetime, item: OneOnOneItem | None = None) -> bool:
        subject = s.get(Member, pair.member_id)
        return subject is not None and access.may_member(
            s, viewer, subject, access.Part.ONE_ON_ONE, now=now, one_on_one=pair_facts(pair, item)
        )

    # ---------------------------------------------------------------------------------------- commands

    def command(self, s: Session, member: Member, c: Command, event: InboundEvent, now: datetime) -> list[Reply]:
        parsed = parse(c.args, c.text or c.args)
        if isinstance(parsed, str):
            return [Reply(f"oneonone/{parsed}")]
        if parsed.verb == "propose":
            return [self.propose(s, member, parsed, event, now)]
        if parsed.verb == "done":
            return [self.tick_item(s, member, parsed.number or 0, now)]
        pair_or_reply = self._pair(s, member, parsed, event, now)
        if isinstance(pair_or_reply, Reply):
            return [pair_or_reply]
        pair = pair_or_reply
        if parsed.verb == "show":
            return [self.show(s, member, pair, now)]
        if parsed.verb in ("accept", "decline"):
            return [self.decide(s, member, pair, parsed.verb, now)]
        if parsed.verb == "stop":
            return [self.stop(s, member, pair, now)]
        return [self.add(s, member, pair, parsed, now)]

    def _pairs(self, s: Session, member: Member, statuses: tuple[str, ...] = OPEN) -> list[OneOnOne]:
        return pairs_of(s, member, statuses)

    def _pair(
        self, s: Session, member: Member, parsed: OneOnOneCommand, event: InboundEvent, now: datetime
    ) -> OneOnOne | Reply:
        """The pair a command is about: the one numbered or named, or the member's only one."""
        statuses = ("proposed",) if parsed.verb in ("accept", "decline") else OPEN
        pairs = [p for p in self._pairs(s, member, statuses) if self._may(s, member, p, now)]
        if parsed.verb in ("accept", "decline"):
            pairs = [p for p in pairs if p.proposed_by != member.id]
        elif parsed.verb != "show" and parsed.verb != "stop":
            pairs = [p for p in pairs if p.status == "active"]
        if parsed.number is not None:
            pairs = [p for p in pairs if p.id == parsed.number]
        if parsed.mention is not None:
            other = identity.member_by_mention(s, platform=event.platform, token=parsed.mention)
            if other is None:
                return Reply("oneonone/unknown_member", {"who": parsed.mention})
            pairs = [p for p in pairs if other.id in (p.manager_id, p.member_id)]
        if not pairs:
            key = "no_proposal" if parsed.verb in ("accept", "decline") else "no_pair"
            return Reply(f"oneonone/{key}")
        if len(pairs) > 1:
            people = repo.members_by_id(
                s, ids=[p.member_id if p.manager_id == member.id else p.manager_id for p in pairs]
            )
            return Reply(
                "oneonone/which",
                {
                    "names": [first_name(m.name) for m in people.values()],
                    "handles": [m.handle for m in people.values()],
                },
            )
        return pairs[0]

    def propose(self, s: Session, member: Member, parsed: OneOnOneCommand, event: InboundEvent, now: datetime) -> Reply:
        assert parsed.cadence is not None and member.id is not None
        if parsed.mention is not None:
            other = identity.member_by_mention(s, platform=event.platform, token=parsed.mention)
            if other is None or not other.active:
                return Reply("oneonone/unknown_member", {"who": parsed.mention})
        else:
            reports = list(s.exec(select(Member).where(Member.manager_id == member.id, Member.active == sa.true())))
            manager = s.get(Member, member.manager_id) if member.manager_id else None
            candidates = ([manager] if manager is not None and manager.active else []) + reports
            if len(candidates) != 1:
                return Reply("oneonone/propose_whom")
            other = candidates[0]
        manager_id: int | None
        report_id: int | None
        if other.manager_id == member.id:
            manager_id, report_id = member.id, other.id
        elif member.manager_id == other.id:
            manager_id, report_id = other.id, member.id
        else:
            return Reply("oneonone/not_your_line", {"who": first_name(other.name)})
        assert report_id is not None and manager_id is not None
        for old in s.exec(
            select(OneOnOne).where(
                OneOnOne.manager_id == manager_id, OneOnOne.member_id == report_id, OneOnOne.status == "proposed"
            )
        ):
            old.status, old.decided_at = "stopped", now  # a new proposal replaces one not answered yet
            s.add(old)
        pair = OneOnOne(
            manager_id=manager_id,
            member_id=report_id,
            proposed_by=member.id,
            cadence=parsed.cadence.every,
            weekday=parsed.cadence.weekday,
            at_time=parsed.cadence.at.strftime("%H:%M"),
            timezone=member.timezone,
            created_at=now,
        )
        s.add(pair)
        s.flush()
        first = first_meeting(parsed.cadence, member.timezone, now)
        params = {
            "id": pair.id,
            "who": first_name(member.name),
            "every": pair.cadence,
            "weekday": pair.weekday,
            "first": first,
        }
        repo.enqueue(
            s,
            dedup_key=f"1on1:{pair.id}:proposed",
            member_id=other.id,
            kind="oneonone_proposed",
            body=encode_replies([Reply("oneonone/proposal", params)]),
            now=now,
            not_before=self.calendars.send_at(other, now),
        )
        log.info("1:1 %s proposed by member %s", pair.id, member.id)
        return Reply("oneonone/proposed", {**params, "who": first_name(other.name)})

    def decide(self, s: Session, member: Member, pair: OneOnOne, verb: str, now: datetime) -> Reply:
        proposer = s.get(Member, pair.proposed_by)
        assert proposer is not None
        pair.decided_at = now
        if verb == "decline":
            pair.status = "declined"
            s.add(pair)
            self._tell(s, proposer, pair, "declined", {"who": first_name(member.name)}, now)
            return Reply("oneonone/decline_done", {"who": first_name(proposer.name)})
        for old in s.exec(
            select(OneOnOne).where(
                OneOnOne.manager_id == pair.manager_id,
                OneOnOne.member_id == pair.member_id,
                OneOnOne.status == "active",
                OneOnOne.id != pair.id,
            )
        ):  # the new cadence replaces the old; the old one's open items carry over to it
            old.status = "stopped"
            s.add(old)
            for item in s.exec(select(OneOnOneItem).where(OneOnOneItem.one_on_one_id == old.id)):
                item.one_on_one_id = pair.id  # type: ignore[assignment]  # a stored pair: id is set
                s.add(item)
            pair.last_at = old.last_at
        pair.status = "active"
        pair.next_at = first_meeting(cadence_of(pair), pair.timezone, now)
        s.add(pair)
        params = {"who": first_name(member.name), "every": pair.cadence, "weekday": pair.weekday, "first": pair.next_at}
        self._tell(s, proposer, pair, "accepted", params, now)
        log.info("1:1 %s accepted", pair.id)
        return Reply("oneonone/accept_done", {**params, "who": first_name(proposer.name)})

    def stop(self, s: Session, member: Member, pair: OneOnOne, now: datetime) -> Reply:
        pair.status, pair.decided_at = "stopped", now
        s.add(pair)
        other = s.get(Member, pair.member_id if pair.manager_id == member.id else pair.manager_id)
        if other is not None:
            self._tell(s, other, pair, "stopped", {"who": first_name(member.name)}, now)
        return Reply("oneonone/stop_done", {"who": first_name(other.name) if other else None})

    def _tell(self, s: Session, to: Member, pair: OneOnOne, what: str, params: dict[str, Any], now: datetime) -> None:
        if not to.active:
            return
        repo.enqueue(
            s,
            dedup_key=f"1on1:{pair.id}:{what}",
            member_id=to.id,
            kind=f"oneonone_{what}",
            body=encode_replies([Reply(f"oneonone/{what}", params)]),
            now=now,
            not_before=self.calendars.send_at(to, now),
        )

    def add(self, s: Session, member: Member, pair: OneOnOne, parsed: OneOnOneCommand, now: datetime) -> Reply:
        assert member.id is not None and pair.id is not None
        kind = {"add": "topic", "note": "note", "action": "action"}[parsed.verb]
        item = OneOnOneItem(
            one_on_one_id=pair.id,
            author_id=member.id,
            kind=kind,
            text=parsed.text,
            private=parsed.private and kind == "note",
            created_at=now,
        )
        s.add(item)
        s.flush()
        became = None
        if kind == "action":  # the report's development action: followed up in their check-ins too
            action = repo.add_action(s, pair.member_id, parsed.text, "one_on_one", now=now, source_ref=str(pair.id))
            item.action_ref = became = str(action.id)
            s.add(item)
        other = s.get(Member, pair.member_id if pair.manager_id == member.id else pair.manager_id)
        return Reply(
            f"oneonone/{kind}_added",
            {
                "id": item.id,
                "private": item.private,
                "who": first_name(other.name) if other else None,
                "next": self._placed(s, pair).at if pair.next_at else None,
                "action": became,
            },
        )

    def tick_item(self, s: Session, member: Member, number: int, now: datetime) -> Reply:
        item = s.get(OneOnOneItem, number)
        pair = s.get(OneOnOne, item.one_on_one_id) if item is not None else None
        if item is None or pair is None or item.kind == "note" or not self._may(s, member, pair, now, item):
            return Reply("oneonone/item_not_found", {"id": number})
        if item.done_at is not None:
            return Reply("oneonone/item_already_done", {"id": number, "text": item.text})
        item.done_at, item.done_by = now, member.id
        s.add(item)
        action = self._action(s, item)
        if action is not None and action.status not in CLOSED_ACTION:
            repo.set_action_status(s, action=action, status="done", now=now)
        return Reply("oneonone/item_done", {"id": number, "text": item.text})

    @staticmethod
    def _action(s: Session, item: OneOnOneItem) -> DevelopmentAction | None:
        return s.get(DevelopmentAction, int(item.action_ref)) if item.action_ref and item.action_ref.isdigit() else None

    # ---------------------------------------------------------------------------------------- the agenda

    def _works(self, s: Session, pair: OneOnOne) -> Callable[[datetime], bool]:
        """Whether an instant falls on a working day for both people, each on their own calendar."""
        people = [m for m in (s.get(Member, pair.manager_id), s.get(Member, pair.member_id)) if m is not None]

        def works(at: datetime) -> bool:
            return all(is_working_day(self.calendars.of(m), at.astimezone(zone(m.timezone)).date()) for m in people)

        return works

    def _placed(self, s: Session, pair: OneOnOne) -> Placed:
        assert pair.next_at is not None
        nxt = following_meeting(cadence_of(pair), pair.timezone, pair.next_at)
        return place(pair.next_at, nxt, pair.timezone, self._works(s, pair))

    def agenda(self, s: Session, viewer: Member, pair: OneOnOne, now: datetime) -> dict[str, Any]:
        """The agenda as `viewer` may read it: open topics and action items (carried over, or added since last
        time), and the talking points from the digest about the report, worded for both."""
        items = list(
            s.exec(
                select(OneOnOneItem)
                .where(
                    OneOnOneItem.one_on_one_id == pair.id,
                    col(OneOnOneItem.kind).in_(("topic", "action")),
                    col(OneOnOneItem.done_at).is_(None),
                )
                .order_by(col(OneOnOneItem.id))
            )
        )
        people = repo.members_by_id(s, ids=[pair.manager_id, pair.member_id])
        shown = [i for i in items if self._may(s, viewer, pair, now, i)]
        # An action item closed as a development action (in a check-in, `/action done`) is off the agenda too.
        shown = [i for i in shown if (a := self._action(s, i)) is None or a.status not in CLOSED_ACTION]

        def row(i: OneOnOneItem) -> dict[str, Any]:
            author = people.get(i.author_id)
            return {"id": i.id, "text": i.text, "kind": i.kind, "by": first_name(author.name) if author else None}

        carried = [row(i) for i in shown if pair.last_at is not None and i.created_at <= pair.last_at]
        new = [row(i) for i in shown if pair.last_at is None or i.created_at > pair.last_at]
        manager, report = people.get(pair.manager_id), people.get(pair.member_id)
        points: list[dict[str, Any]] = []
        if manager is not None and report is not None and report.active:
            # What the digest suggests for the next 1:1 — read as the manager may (bot/access.py), so the member,
            # whose own data it is, may read all of it too.
            reports, _ = snapshot(
                s, reports=[report], timezone=manager.timezone, now=now, viewer=manager, calendars=self.calendars
            )
            points = [{"key": p.key, **p.params} for r in reports for p in talking_points(r)]
        other = manager if viewer.id == pair.member_id else report
        return {
            "id": pair.id,
            "with": first_name(other.name) if other else None,
            "report": first_name(report.name) if report else None,
            "is_manager": viewer.id == pair.manager_id,
            "carried": carried,
            "new": new,
            "points": points,
        }

    def show(self, s: Session, member: Member, pair: OneOnOne, now: datetime) -> Reply:
        """`/1on1`: the cadence, the next meeting, the agenda as it stands and the latest notes one may read."""
        params = self.agenda(s, member, pair, now)
        notes = [
            n
            for n in s.exec(
                select(OneOnOneItem)
                .where(OneOnOneItem.one_on_one_id == pair.id, OneOnOneItem.kind == "note")
                .order_by(col(OneOnOneItem.id).desc())
            )
            if self._may(s, member, pair, now, n)
        ][:NOTES_SHOWN]
        people = repo.members_by_id(s, ids=[pair.manager_id, pair.member_id])
        placed = self._placed(s, pair) if pair.status == "active" and pair.next_at else None
        return Reply(
            "oneonone/show",
            {
                **params,
                "status": pair.status,
                "every": pair.cadence,
                "weekday": pair.weekday,
                "next": (placed.at or following_meeting(cadence_of(pair), pair.timezone, pair.next_at))
                if placed is not None and pair.next_at is not None
                else None,
                "moved_from": pair.next_at if placed is not None and placed.moved else None,
                "skipped": pair.next_at if placed is not None and placed.at is None else None,
                "proposed_by_me": pair.proposed_by == member.id,
                "notes": [
                    {
                        "text": n.text,
                        "private": n.private,
                        "by": first_name(people[n.author_id].name) if n.author_id in people else None,
                        "at": n.created_at,
                    }
                    for n in notes
                ],
            },
        )

    def process_due(self, now: datetime) -> int:
        """Queue the agendas that are due, and move each pair on to its next meeting once one is past."""
        sent = 0
        with self.transaction() as s:
            # Nothing is due for a pair before a day ahead of its planned meeting (a move only makes it later).
            due = select(OneOnOne.id).where(OneOnOne.status == "active", col(OneOnOne.next_at) <= now + AGENDA_AHEAD)
            ids = list(s.exec(due))
        for pair_id in ids:
            with self.transaction() as s:
                pair = s.exec(
                    select(OneOnOne)
                    .where(OneOnOne.id == pair_id, OneOnOne.status == "active")
                    .with_for_update(skip_locked=True)
                ).first()
                if pair is None:
                    continue
                for _ in range(60):  # a long outage: catch up meeting by meeting, without sending old agendas
                    if pair.next_at is None:
                        break
                    placed = self._placed(s, pair)
                    planned = pair.next_at
                    nxt = following_meeting(cadence_of(pair), pair.timezone, planned)
                    end = (placed.at or planned) + HELD_AFTER
                    if now >= end:
                        if placed.at is not None:
                            pair.last_at = placed.at
                        pair.next_at = nxt
                        continue
                    if pair.agenda_for != planned and now >= (placed.at or planned) - AGENDA_AHEAD:
                        sent += self._send_agenda(s, pair, placed, now)
                        pair.agenda_for = planned
                    break
                s.add(pair)
        return sent

    def _send_agenda(self, s: Session, pair: OneOnOne, placed: Placed, now: datetime) -> int:
        assert pair.next_at is not None
        sent = 0
        for member_id in (pair.manager_id, pair.member_id):
            person = s.get(Member, member_id)
            if person is None or not person.active or paused_until(person, now) is not None:
                continue  # someone paused gets no agenda, as they get no check-in
            if placed.at is None:
                reply = Reply(
                    "oneonone/skipped",
                    {"planned": pair.next_at, "next": following_meeting(cadence_of(pair), pair.timezone, pair.next_at)},
                )
                at = now
            else:
                params = self.agenda(s, person, pair, now)
                reply = Reply(
                    "oneonone/agenda",
                    {**params, "at": placed.at, "moved_from": pair.next_at if placed.moved else None},
                )
                at = max(now, placed.at - AGENDA_AHEAD)
            repo.enqueue(
                s,
                dedup_key=f"1on1:{pair.id}:agenda:{pair.next_at.isoformat()}:{member_id}",
                member_id=member_id,
                kind="oneonone_agenda",
                body=encode_replies([reply]),
                now=now,
                not_before=self.calendars.send_at(person, at),
            )
            sent += 1
        return sent

    def wakeups(self, s: Session, after: datetime) -> list[datetime]:
        """When `process_due` next has something to do (the console's `/clock` fast-forwards to these)."""
        out = []
        for pair in s.exec(select(OneOnOne).where(OneOnOne.status == "active", col(OneOnOne.next_at).is_not(None))):
            placed = self._placed(s, pair)
            meeting = placed.at or pair.next_at
            assert meeting is not None
            if pair.agenda_for != pair.next_at:  # its agenda is still to go: from a day before (or now, if later)
                out.append(max(after, meeting - AGENDA_AHEAD))
            else:
                out.append(max(after, meeting + HELD_AFTER))
        return out


def pairs_of(s: Session, member: Member, statuses: tuple[str, ...] = OPEN) -> list[OneOnOne]:
    """The 1:1s `member` is part of (either side), in these statuses."""
    return list(
        s.exec(
            select(OneOnOne)
            .where(
                sa.or_(col(OneOnOne.manager_id) == member.id, col(OneOnOne.member_id) == member.id),
                col(OneOnOne.status).in_(statuses),
            )
            .order_by(col(OneOnOne.id))
        )
    )


# ------------------------------------------------------------------------------------------------ own data


def export(s: Session, member: Member, now: datetime) -> dict[str, Any]:
    """The member's 1:1 cadences and every agenda item and note of them they may read (their own private
    notes; never the other side's)."""
    pairs = pairs_of(s, member, ("proposed", "active", "declined", "stopped"))
    people = repo.members_by_id(s, ids=[p.manager_id for p in pairs] + [p.member_id for p in pairs])
    out = []
    for pair in pairs:
        items = s.exec(select(OneOnOneItem).where(OneOnOneItem.one_on_one_id == pair.id).order_by(col(OneOnOneItem.id)))
        out.append(
            {
                "id": pair.id,
                "manager": people[pair.manager_id].handle,
                "member": people[pair.member_id].handle,
                "cadence": pair.cadence,
                "weekday": pair.weekday,
                "time": pair.at_time,
                "timezone": pair.timezone,
                "status": pair.status,
                "items": [
                    {
                        "id": i.id,
                        "kind": i.kind,
                        "text": i.text,
                        "private": i.private,
                        "by": people[i.author_id].handle if i.author_id in people else None,
                        "at": i.created_at.isoformat(),
                        "done_at": i.done_at.isoformat() if i.done_at else None,
                    }
                    for i in items
                    if access.may_member(
                        s,
                        member,
                        people[pair.member_id],
                        access.Part.ONE_ON_ONE,
                        now=now,
                        one_on_one=pair_facts(pair, i),
                    )
                ],
            }
        )
    return {"one_on_ones": out}


def forget(s: Session, member: Member) -> int:
    """Delete every 1:1 the member is part of, with all its items and notes: a 1:1's record is about both
    people and cannot be kept with one side gone (the other side's private notes about it go too)."""
    ids = [
        p.id
        for p in s.exec(
            select(OneOnOne).where(sa.or_(col(OneOnOne.manager_id) == member.id, col(OneOnOne.member_id) == member.id))
        )
    ]
    s.execute(
        sa.delete(OneOnOneItem).where(
            sa.or_(col(OneOnOneItem.one_on_one_id).in_(ids), col(OneOnOneItem.author_id) == member.id)
        )
    )
    s.execute(sa.delete(OneOnOne).where(col(OneOnOne.id).in_(ids)))
    return len(ids)
