"""Who may see which part of whose data: ONE rule (`may`), asked by everything that shows or acts on another
person's data — the digest, `/me`, the export, `/support`, forms and buttons — and by the "who sees this"
lines of the prompts, so that what a member is told is what happens.

The rule, in words (README, "Who sees what"):

- a member sees all of their own data; a deactivated member or someone Flywheel does not know sees nothing;
- their manager sees the answers of a weekly check-in, monthly review or quarterly talk once it is finished — an
  unfinished one only when its window closes, with what was answered by then — and the obstacles that came from them;
  support requests at once; the manager alone acts on them;
- with `digest.skip_level: true` the manager's manager reads the same as the manager (and acts on nothing);
- retro answers: the participants and whoever started it (or the channel it was started in), as the summary
  shows them; kudos: every member;
- requested feedback (`/feedback ask`): the requester, with each giver's name, and each giver their own words;
  the requester's manager (and manager's manager with skip_level) only once the requester shared it
  (`/feedback share N`); a decline is no one's to see — nobody is told who declined;
- a 1:1's agenda items and shared notes: the two people of the pair; a private note: only the one who wrote it;
- development actions: the owner and their manager (and skip level, as above), like support requests; a retro's
  action its anonymity rule has not let out: its author alone; only a manager suggests one to a direct report;
- charts of one person: the person and whoever reads their digest section; a team's charts: its manager alone,
  and only aggregates of at least `MIN_GROUP` people (a week with fewer shows nothing, never one person's mood);
- a reply between a manager and a report (about one of the report's answers, obstacles or support requests):
  only its author and its recipient, ever; a manager replies only to what they may read of their own reports;
- upward feedback: only the manager it is for, only as a set without names, and only when
  `conversations/replies.py upward_disclosed` says so (the month closed, at least `feedback.upward_min` answered);
  nobody else, not even the manager's manager;
- goals and their key results (a value, never the check-in answer it came from) and what they align to: the member
  and their whole manager chain; their teammates (the same manager) too when the org file sets
  `goals.visible_to_team: true`. The comments on a goal: the member and their manager chain. Agreeing, commenting
  and editing (co-creation): the member and their manager. A team's goals: its manager, the manager's chain and
  everyone who reports to the manager, directly or not (organisation → team → person);
- nobody else: not peers, and not admins for being admins. A deactivated member's data is shown to no one else.

`may` is pure: it takes plain facts (`Person`, `RunFacts`, `RetroFacts`, `ActionFacts`, `FeedbackFacts`,
`OneOnOneFacts`). The helpers at the end read
stored members for it and say whom the notices name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from conversations.render import Audience, first_name
from conversations.replies import upward_disclosed
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
    REPLIES = "replies"  # a private reply about one of the subject's items, or an answer back to one
    REPLY_ACT = "reply_act"  # reply to one of the subject's items (their manager, to what they may read)
    UPWARD = "upward"  # the upward feedback a manager (the subject) received, as a set without names
    REQUESTED_FEEDBACK = "requested_feedback"  # the answers to a member's `/feedback ask` (subject: the requester)
    ONE_ON_ONE = "one_on_one"  # a 1:1's cadence, agenda items and notes (subject: the report of the pair)
    GOALS = "goals"  # a member's goals, their key results and what they align to
    GOAL_COMMENTS = "goal_comments"  # the comments on a member's goals while they are made
    GOALS_ACT = "goals_act"  # agree to, comment on or edit a member's goals (co-creation)
    TEAM_GOALS = "team_goals"  # the goals a manager set for their team


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
class ReplyFacts:
    """The two people of a reply: whoever wrote it and whoever it was sent to."""

    author_id: int
    recipient_id: int


@dataclass(frozen=True)
class UpwardFacts:
    """One month's upward feedback for one manager: how many different reports answered (never who), the
    minimum (`feedback.upward_min`), and whether that month's review has closed for everyone who was asked."""

    manager_id: int
    respondents: int
    minimum: int
    closed: bool


@dataclass(frozen=True)
class RetroFacts:
    participant_ids: frozenset[int]
    started_by: int
    channel: str | None = None


@dataclass(frozen=True)
class FeedbackFacts:
    """A feedback request: who asked, who gave this answer (None: the request itself), whether it was shared."""

    requester_id: int
    giver_id: int | None = None
    shared: bool = False


@dataclass(frozen=True)
class OneOnOneFacts:
    """A 1:1 pair, and for a note, who wrote it and whether it is private."""

    manager_id: int
    member_id: int
    author_id: int | None = None
    private: bool = False


@dataclass(frozen=True)
class ActionFacts:
    """What the rule needs to know about one development action: who wrote it (a retro's author, who may have
    named someone else as its owner) and whether the retro's anonymity rule has let it out."""

    author_id: int | None
    shared: bool


FINISHED = "completed"
MIN_GROUP = 3  # the fewest people an aggregate of a team may be shown for
CHECKIN_FLOWS = ("weekly_checkin", "monthly_review", "quarterly_talk")


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
    feedback: FeedbackFacts | None = None,
    one_on_one: OneOnOneFacts | None = None,
    action: ActionFacts | None = None,
    group_size: int | None = None,
    reply: ReplyFacts | None = None,
    upward: UpwardFacts | None = None,
    chain: tuple[int, ...] = (),
    goals_visible_to_team: bool = False,
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
        feedback: for REQUESTED_FEEDBACK (the subject is the requester).
        one_on_one: for ONE_ON_ONE (the subject is the report of the pair).
        action: for ACTIONS, the one action (without it: the actions already shared).
        group_size: for TEAM_CHARTS, how many people one aggregate is made of (`subject` is the team's manager).
        reply: for REPLIES: its two people (the subject is whose item it is about).
        upward: for UPWARD (the subject is the manager it is for).
        chain: for the goal parts, the subject's managers, nearest first, up to the top (`chain_of`).
        goals_visible_to_team: the org file's `goals.visible_to_team`.
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
    assert viewer is not None
    if part == Part.REPLIES:  # the two people, and only while the one it is about has not left (or is the viewer)
        return (
            reply is not None
            and viewer.id in (reply.author_id, reply.recipient_id)
            and (rel == Relation.SELF or subject.active)
        )
    if part == Part.UPWARD:
        return (
            upward is not None
            and rel == Relation.SELF
            and upward.manager_id == viewer.id
            and upward_disclosed(respondents=upward.respondents, minimum=upward.minimum, closed=upward.closed)
        )
    if part == Part.REPLY_ACT:  # only the report's own manager (not the skip level), to a report still here
        return rel == Relation.MANAGER and subject.active
    if part == Part.REQUESTED_FEEDBACK:
        if feedback is None or feedback.requester_id != subject.id:
            return False
        if rel == Relation.SELF or (feedback.giver_id is not None and viewer.id == feedback.giver_id):
            return True  # the requester; a giver, their own words
        return feedback.shared and subject.active and rel in (Relation.MANAGER, Relation.SKIP_MANAGER)
    if part == Part.ONE_ON_ONE:
        if one_on_one is None or one_on_one.member_id != subject.id:
            return False
        if one_on_one.private:
            return one_on_one.author_id is not None and viewer.id == one_on_one.author_id
        return subject.active and viewer.id in (one_on_one.manager_id, one_on_one.member_id)
    if part in (Part.GOALS, Part.GOAL_COMMENTS, Part.GOALS_ACT, Part.TEAM_GOALS):
        return _may_goals(viewer, subject, part, rel, chain=chain, visible_to_team=goals_visible_to_team)
    if part == Part.KUDOS:
        return True  # public recognition, for every member
    if part == Part.RETRO_ANSWERS:
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


def _may_goals(
    viewer: Person | None, subject: Person, part: Part, rel: Relation, *, chain: tuple[int, ...], visible_to_team: bool
) -> bool:
    assert viewer is not None  # NOBODY is refused before
    if rel == Relation.SELF:
        return True
    if not subject.active:
        return False
    if part == Part.GOALS_ACT:
        return rel == Relation.MANAGER
    if viewer.id in chain:
        return True
    if part == Part.TEAM_GOALS:  # the team below its manager: anyone whose own chain reaches the subject
        return False  # decided with the viewer's chain: `may_see_team_goals`
    teammate = subject.manager_id is not None and viewer.manager_id == subject.manager_id
    return part == Part.GOALS and visible_to_team and teammate


def may_see_team_goals(
    viewer: Person | None, owner: Person, *, owner_chain: tuple[int, ...], viewer_chain: tuple[int, ...]
) -> bool:
    """May `viewer` see the goals `owner` set for their team: `may` for the owner's chain, and everyone below the
    owner (whose own chain reaches them)."""
    if may(viewer, owner, Part.TEAM_GOALS, now=datetime.max, chain=owner_chain):
        return True
    return viewer is not None and viewer.active and owner.active and owner.id in viewer_chain


def chain_of(s: Session, member: Member) -> tuple[int, ...]:
    """The ids of `member`'s managers, nearest first, up to the top (a loop in the reporting lines ends it)."""
    out: list[int] = []
    current = member
    while current.manager_id is not None and current.manager_id not in out and current.manager_id != member.id:
        out.append(current.manager_id)
        boss = s.get(Member, current.manager_id)
        if boss is None:
            break
        current = boss
    return tuple(out)


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
    feedback: FeedbackFacts | None = None,
    one_on_one: OneOnOneFacts | None = None,
    action: ActionFacts | None = None,
    reply: ReplyFacts | None = None,
    upward: UpwardFacts | None = None,
    goals_visible_to_team: bool = False,
) -> bool:
    """`may` for stored members: looks up the subject's manager (and, for goals, the subject's chain) itself."""
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
        feedback=feedback,
        one_on_one=one_on_one,
        action=action,
        reply=reply,
        upward=upward,
        chain=chain_of(s, subject) if part in (Part.GOALS, Part.GOAL_COMMENTS, Part.TEAM_GOALS) else (),
        goals_visible_to_team=goals_visible_to_team,
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
