"""Who may see which part of whose data: ONE rule (`may`), asked by everything that shows or acts on another
person's data — the digest, `/me`, the export, `/support`, forms and buttons — and by the "who sees this"
lines of the prompts, so that what a member is told is what happens.

The rule, in words (README, "Who sees what"):

- a member sees all of their own data; a deactivated member or someone Flywheel does not know sees nothing;
- their manager sees the answers of a weekly check-in or monthly review once it is finished — an unfinished
  one only when its window closes, with what was answered by then — and the obstacles that came from them;
  support requests at once; the manager alone acts on them;
- with `digest.skip_level: true` the manager's manager reads the same as the manager (and acts on nothing);
- retro answers: the participants and whoever started it (or the channel it was started in), as the summary
  shows them; kudos: every member;
- development actions: the owner and their manager (and skip level, as above), like support requests; a retro's
  action its anonymity rule has not let out: its author alone; only a manager suggests one to a direct report;
- charts of one person: the person and whoever reads their digest section; a team's charts: its manager alone,
  and only aggregates of at least `MIN_GROUP` people (a week with fewer shows nothing, never one person's mood);
- nobody else: not peers, and not admins for being admins. A deactivated member's data is shown to no one else.

`may` is pure: it takes plain facts (`Person`, `RunFacts`, `RetroFacts`, `ActionFacts`). The helpers at the end read
stored members for it and say whom the notices name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from conversations.render import Audience, first_name
from storage.models import ConversationRun, DevelopmentAction, Member, Retro


class Part(StrEnum):
    RUN_ANSWERS = "run_answers"  # the answers of one check-in / review run (any step, extra questions too)
    OBSTACLES = "obstacles"  # open obstacles, from blockers and reviews
    SUPPORT = "support"  # support requests, to read
    SUPPORT_ACT = "support_act"  # support requests, to answer (`/support 12 handle`)
    ANSWER_RUN = "answer_run"  # open, fill in or change a run (forms, buttons carrying a run id)
    RETRO_ANSWERS = "retro_answers"  # a retro's summary of answers
    ACTIONS = "actions"  # the development actions someone owns (a retro's: see ActionFacts)
    ACTION_SUGGEST = "action_suggest"  # suggest a development action to someone (`/action suggest @alice …`)
    KUDOS = "kudos"  # kudos given and received
    PROFILE = "profile"  # handle, time zone, manager: the export
    CHARTS = "charts"  # one person's charts (mood, check-in rhythm, development actions): like their digest section
    TEAM_CHARTS = "team_charts"  # a team's aggregates: its manager alone, each from at least MIN_GROUP people


class Relation(StrEnum):
    SELF = "self"
    MANAGER = "manager"
    SKIP_MANAGER = "skip_manager"  # the manager's manager, with digest.skip_level on
    OTHER = "other"  # a peer, an admin, anyone else who is a member
    NOBODY = "nobody"  # a deactivated member, or a platform user Flywheel does not know


@dataclass(frozen=True)
class Person:
    id: int
    manager_id: int | None = None
    active: bool = True


@dataclass(frozen=True)
class RunFacts:
    """What the rule needs to know about a run: whose, which flow, finished or not, and when it closes."""

    member_id: int
    flow: str
    status: str
    closes_at: datetime


@dataclass(frozen=True)
class RetroFacts:
    participant_ids: frozenset[int]
    started_by: int
    channel: str | None = None


@dataclass(frozen=True)
class ActionFacts:
    """What the rule needs to know about one development action: who wrote it (a retro's author, who may have
    named someone else as its owner) and whether the retro's anonymity rule has let it out."""

    author_id: int | None
    shared: bool


FINISHED = "completed"
MIN_GROUP = 3  # the fewest people an aggregate of a team may be shown for
CHECKIN_FLOWS = ("weekly_checkin", "monthly_review")


def person(member: Member | None) -> Person | None:
    if member is None:
        return None
    assert member.id is not None, "a stored member"
    return Person(member.id, member.manager_id, bool(member.active))


def run_facts(run: ConversationRun) -> RunFacts:
    return RunFacts(run.member_id, run.flow, run.status, run.closes_at)


def retro_facts(retro: Retro, participant_ids: Iterable[int]) -> RetroFacts:
    return RetroFacts(frozenset(participant_ids), retro.started_by, retro.channel)


def relation(
    viewer: Person | None, subject: Person, *, subject_manager: Person | None = None, skip_level: bool = False
) -> Relation:
    """How `viewer` stands to `subject`. `subject_manager` (the subject's manager) is needed to recognise a
    manager's manager."""
    if viewer is None or not viewer.active:
        return Relation.NOBODY
    if viewer.id == subject.id:
        return Relation.SELF
    if subject.manager_id is not None and subject.manager_id == viewer.id:
        return Relation.MANAGER
    if (
        skip_level
        and subject_manager is not None
        and subject_manager.id == subject.manager_id
        and subject_manager.active
        and subject_manager.manager_id == viewer.id
    ):
        return Relation.SKIP_MANAGER
    return Relation.OTHER


def released(run: RunFacts, now: datetime) -> bool:
    """Are a run's answers shown to the manager yet: finished, or its window has closed."""
    return run.status == FINISHED or now >= run.closes_at


def may(
    viewer: Person | None,
    subject: Person,
    part: Part,
    *,
    now: datetime,
    skip_level: bool = False,
    subject_manager: Person | None = None,
    run: RunFacts | None = None,
    retro: RetroFacts | None = None,
    action: ActionFacts | None = None,
    group_size: int | None = None,
) -> bool:
    """May `viewer` see (or, for the *_ACT / ANSWER_RUN parts, act on) this `part` of `subject`'s data?

    Args:
        viewer: who is asking; None for a platform user Flywheel does not know.
        subject: whose data it is.
        part: which data.
        now: the moment it would be shown (the digest's send time for a digest).
        skip_level: the org file's `digest.skip_level`.
        subject_manager: the subject's manager, to recognise their manager (skip level).
        run: for RUN_ANSWERS, ANSWER_RUN and OBSTACLES (the run an obstacle came from, if any).
        retro: for RETRO_ANSWERS.
        action: for ACTIONS, the one action (without it: the actions already shared).
        group_size: for TEAM_CHARTS, how many people one aggregate is made of (`subject` is the team's manager).
    """
    if part == Part.TEAM_CHARTS:
        return (
            viewer is not None
            and viewer.active
            and viewer.id == subject.id
            and group_size is not None
            and group_size >= MIN_GROUP
        )
    rel = relation(viewer, subject, subject_manager=subject_manager, skip_level=skip_level)
    if rel == Relation.NOBODY:
        return False
    if part == Part.KUDOS:
        return True  # public recognition, for every member
    if part == Part.RETRO_ANSWERS:
        assert viewer is not None
        return retro is not None and (
            retro.channel is not None or viewer.id in retro.participant_ids or viewer.id == retro.started_by
        )
    if part == Part.SUPPORT_ACT:
        return rel == Relation.MANAGER and subject.active  # not the member themselves, not the skip level
    if part == Part.ACTION_SUGGEST:
        return rel == Relation.MANAGER and subject.active  # a direct report, by their manager
    if part == Part.ACTIONS and action is not None and not action.shared:
        # a retro's action its anonymity rule has not let out (or never will): its author's alone
        return viewer is not None and viewer.id == action.author_id
    if rel == Relation.SELF:
        return True
    if not subject.active or rel == Relation.OTHER:
        return False  # peers and admins see nothing; a member who left is shown to no one else
    # the manager, or the manager's manager with skip_level
    if part in (Part.ANSWER_RUN, Part.PROFILE):
        return False
    if part in (Part.SUPPORT, Part.ACTIONS, Part.CHARTS):
        return True
    if part == Part.OBSTACLES:
        return run is None or (run.member_id == subject.id and released(run, now))
    assert part == Part.RUN_ANSWERS
    return run is not None and run.member_id == subject.id and run.flow in CHECKIN_FLOWS and released(run, now)


# ------------------------------------------------------------------------------------------------ with a session


def may_member(
    s: Session,
    viewer: Member | None,
    subject: Member,
    part: Part,
    *,
    now: datetime,
    skip_level: bool = False,
    run: ConversationRun | None = None,
    retro: RetroFacts | None = None,
    action: ActionFacts | None = None,
) -> bool:
    """`may` for stored members: looks up the subject's manager itself."""
    boss = s.get(Member, subject.manager_id) if subject.manager_id and skip_level else None
    subj = person(subject)
    assert subj is not None
    return may(
        person(viewer),
        subj,
        part,
        now=now,
        skip_level=skip_level,
        subject_manager=person(boss),
        run=run_facts(run) if run is not None else None,
        retro=retro,
        action=action,
    )


def action_facts(s: Session, action: DevelopmentAction) -> ActionFacts:
    """What the rule needs about a stored action: its author (a retro's: whoever's answers named it) and whether
    it is shared."""
    author: int | None = action.owner_id
    if action.source == "retro" and action.source_run_id is not None:
        run = s.get(ConversationRun, action.source_run_id)
        author = run.member_id if run is not None else None
    return ActionFacts(author, shared=action.shared_at is not None)


def seen_by(s: Session, member: Member, *, skip_level: bool) -> list[Member]:
    """Who, besides the member, sees the answers of their finished check-ins and reviews: the people the "who
    sees this" lines name. Found by asking the rule about each candidate (the manager, the manager's manager)."""
    assert member.id is not None, "a stored member"
    finished = RunFacts(member.id, CHECKIN_FLOWS[0], FINISHED, datetime.max)
    manager = s.get(Member, member.manager_id) if member.manager_id else None
    # (without skip_level the rule never lets the manager's manager read, so they are not even looked up)
    boss = s.get(Member, manager.manager_id) if skip_level and manager is not None and manager.manager_id else None
    subject = person(member)
    assert subject is not None
    return [
        c
        for c in (manager, boss)
        if c is not None
        and c.id != member.id
        and may(
            person(c),
            subject,
            Part.RUN_ANSWERS,
            now=datetime.max,
            skip_level=skip_level,
            subject_manager=person(manager),
            run=finished,
        )
    ]


def audience(s: Session, member: Member, *, skip_level: bool) -> Audience:
    """Who a message to `member` is for, with the names the "who sees this" lines use."""
    manager = s.get(Member, member.manager_id) if member.manager_id else None
    return Audience(
        member.locale,
        member.timezone,
        member.name,
        first_name(manager.name) if manager else None,
        seen_by=tuple(first_name(m.name) for m in seen_by(s, member, skip_level=skip_level)),
    )
