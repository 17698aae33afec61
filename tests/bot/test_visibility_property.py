"""Property: over generated org charts, every command or payload that shows or acts on someone's data gives each
kind of actor exactly what an independent model of "Who sees what" (README) says — no more, no less.

Every answer, obstacle, support request, kudos reason, retro answer, goal, key result, goal comment, team goal (what a
goal serves) and development action (open ones; a withheld retro's, which nobody but its author may see; a manager's
suggestion) carries a sentinel naming whose it is; an
action's outcome is the set of sentinels each address received (outbox messages) or the form it got back. The
model below is written from the README's rules and never calls bot/access.py.

Actors: each member of the chart (so: themselves, peers, managers, managers' managers with and without
skip_level, admins, deactivated members) and a platform user Flywheel does not know.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.platforms.common import build_form
from conversations.events import InboundEvent
from storage import repo
from storage.db import transaction
from storage.models import (
    Answer,
    AnswerReply,
    ConversationRun,
    FeedbackRequest,
    Goal,
    GoalComment,
    KeyResult,
    Member,
    Obstacle,
    OneOnOne,
    OneOnOneItem,
    Retro,
    SupportRequest,
    UpwardFeedback,
    UpwardRespondent,
)
from tests.helpers import local, make_harness

TZ = "Europe/London"
NOW = local(TZ, 2026, 11, 22, 10, 0)  # Sunday: this week's check-in (2026-W47) closes Monday 12:00
DIGEST_AT = local(TZ, 2026, 11, 23, 9, 0)  # Monday's digest, before that window closes
PERIOD = "2026-W47"
QUARTER = "2026-Q4"
STRANGER = "stranger"  # a platform user Flywheel does not know
SENTINEL = re.compile(r"SNT-[A-Z]+-[a-z0-9-]+?-END")
STEPS = ["mood", "wins", "blockers", "priorities", "learning"]


def snt(kind: str, *who: str) -> str:
    return f"SNT-{kind}-{'-'.join(who)}-END"


# ------------------------------------------------------------------------------------------------ the world


@dataclass
class Person:
    manager: str | None
    active: bool
    admin: bool


@dataclass
class World:
    people: dict[str, Person]
    skip_level: bool
    checkin: dict[str, str]  # handle → status of this week's check-in: completed | in_progress | expired
    support: dict[str, str | None]  # handle → the manager recorded on their open request (maybe a stale one)
    kudos: list[tuple[str, str]]  # (giver, recipient)
    retro_starter: str
    retro_people: list[str]
    # Replies (author, recipient) about the recipient's or the author's item: between a report and their manager
    # both ways, and from someone else (a former manager, say) — only the two people may ever see one.
    replies: list[tuple[str, str, str]] = field(default_factory=list)  # (author, recipient, subject)
    upward: list[str] = field(default_factory=list)  # reports who gave their manager upward feedback last month
    # CONSENT: actors with a pending or declined manager request (reporting-line consent, added in parallel)
    # go here — e.g. `pending: list[tuple[str, str]]` of (would-be manager, member) — and into `actors()`.
    pending: list[tuple[str, str]] = field(default_factory=list)
    # Feedback on request: who asked, who answered (one may have declined), whether the requester shared it.
    fb_requester: str = "p0"
    fb_answered: list[str] = field(default_factory=list)
    fb_declined: str | None = None
    fb_shared: bool = False
    # A 1:1 pair (manager, report): a topic by the manager, a shared note by the report, a private note by each.
    pair: tuple[str, str] | None = None
    goals_visible_to_team: bool = False  # the org file's `goals.visible_to_team`

    def handles(self) -> list[str]:
        return list(self.people)

    def actors(self) -> list[str]:
        return self.handles() + [STRANGER]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n = draw(st.integers(min_value=3, max_value=5))
    people: dict[str, Person] = {}
    for i in range(n):
        boss = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=i - 1))) if i else None
        people[f"p{i}"] = Person(
            manager=f"p{boss}" if boss is not None else None,
            active=draw(st.sampled_from([True, True, True, False])),
            admin=draw(st.booleans()),
        )
    handles = list(people)
    checkin = {h: draw(st.sampled_from(["completed", "in_progress", "expired"])) for h in handles}
    support: dict[str, str | None] = {}
    for h in handles:
        if draw(st.booleans()):  # usually recorded for the current manager; sometimes for an earlier one
            support[h] = people[h].manager if draw(st.booleans()) else draw(st.sampled_from(handles + [None]))
    pairs = [(g, r) for g in handles for r in handles if g != r]
    kudos = draw(st.lists(st.sampled_from(pairs), max_size=4, unique=True))
    starter = draw(st.sampled_from(handles))
    retro_people = draw(st.lists(st.sampled_from(handles), min_size=1, max_size=3, unique=True))
    replies: list[tuple[str, str, str]] = []
    for h in handles:
        boss = people[h].manager
        if boss is not None and draw(st.booleans()):
            replies += [(boss, h, h), (h, boss, h)]  # a reply from the digest and the answer back
        if draw(st.booleans()):
            other = draw(st.sampled_from([x for x in handles if x != h]))
            replies.append((other, h, h))  # someone who is not (or no longer) their manager
    upward = [h for h in handles if people[h].manager is not None and draw(st.sampled_from([True, True, False]))]
    requester = draw(st.sampled_from(handles))
    givers = draw(
        st.lists(st.sampled_from([x for x in handles if x != requester]), min_size=1, max_size=3, unique=True)
    )
    declined = draw(st.one_of(st.none(), st.sampled_from(givers)))
    lines = [(p.manager, h) for h, p in people.items() if p.manager is not None]
    pair = draw(st.one_of(st.none(), st.sampled_from(lines))) if lines else None
    world = World(
        people,
        draw(st.booleans()),
        checkin,
        support,
        kudos,
        starter,
        retro_people,
        fb_requester=requester,
        fb_answered=[g for g in givers if g != declined],
        fb_declined=declined,
        fb_shared=draw(st.booleans()),
        replies=replies,
        upward=upward,
        pair=pair,  # type: ignore[arg-type]  # a manager is set on every line drawn
    )
    world.goals_visible_to_team = draw(st.booleans())
    return world


# ------------------------------------------------------------------------------------------------ the model


class Model:
    """What each actor may receive, from the README's "Who sees what" — written independently of bot/access.py."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.status = {h: "open" for h in w.support}
        self.suggested: dict[str, set[str]] = {h: set() for h in w.people}  # proposals waiting in each one's /action

    def alive(self, h: str | None) -> bool:
        return h is not None and h in self.w.people and self.w.people[h].active

    def manager(self, h: str) -> str | None:
        return self.w.people[h].manager

    def finished_or_closed(self, h: str) -> bool:
        return self.w.checkin[h] in ("completed", "expired")

    def section(self, h: str, *, own: bool) -> set[str]:
        """A person's digest section: as their manager reads it, or (own=True) as they read it themselves."""
        out: set[str] = set()
        if own or self.finished_or_closed(h):
            out |= {snt("WIN", h), snt("XTR", h), snt("OBS", h)}
        out.add(snt("ACT", h))  # open development actions: at once, like support requests
        if h in self.w.support and self.status[h] != "resolved":
            out.add(snt("SUP", h))
        return out

    def replies(self, viewer: str, subject: str) -> set[str]:
        """Replies about `subject`'s items that `viewer` sees: only those they wrote or received."""
        return {snt("RPL", a, r) for a, r, s in self.w.replies if s == subject and viewer in (a, r)}

    def upward(self, m: str) -> set[str]:
        """A manager's upward feedback: only theirs, only when at least 3 reports answered (leavers too)."""
        answered = [h for h in self.w.upward if self.manager(h) == m]
        return {snt("UPW", m, f"n{i}") for i in range(len(answered))} if self.alive(m) and len(answered) >= 3 else set()

    def digest(self, m: str) -> set[str]:
        if not self.alive(m):
            return set()
        direct = [h for h in self.w.people if self.alive(h) and self.manager(h) == m]
        out = set().union(*(self.section(h, own=False) | self.replies(m, h) for h in direct)) if direct else set()
        if self.w.skip_level:
            for lead in direct:
                for h in self.w.people:
                    if self.alive(h) and self.manager(h) == lead:
                        out |= self.section(h, own=False) | self.replies(m, h)
        return out  # last month's upward feedback was in an earlier digest; `/upward` shows it

    def gets_digest(self, m: str) -> bool:
        return self.alive(m) and any(self.alive(h) and self.manager(h) == m for h in self.w.people)

    def me(self, a: str) -> set[str]:
        """`/me` and the App Home: exactly what the manager sees — or, with no manager, one's own weeks."""
        if not self.alive(a):
            return set()
        boss = self.manager(a)
        return self.section(a, own=not self.alive(boss)) | self.replies(boss if self.alive(boss) else a, a)

    # Goals (README, "Who sees what"): every person has a goal with a key result and a comment on it (by their
    # manager, or their own with none); everyone who manages someone has a team goal; a personal goal serves the
    # manager's team goal.

    def chain(self, h: str) -> list[str]:
        out: list[str] = []
        boss = self.manager(h)
        while boss is not None and boss not in out:
            out.append(boss)
            boss = self.manager(boss)
        return out

    def manages(self, m: str) -> bool:
        return any(self.manager(h) == m for h in self.w.people)

    def serves(self, h: str) -> set[str]:
        m = self.manager(h)
        return {snt("TGL", m)} if m is not None and self.alive(m) else set()

    def goals_of(self, a: str, h: str) -> set[str]:
        """`/goals @h` as `a`: the goal, its key result and what it serves; the comments for the chain only."""
        if not self.alive(a):
            return set()
        if a != h and not self.alive(h):
            return set()
        chain = a == h or a in self.chain(h)
        teammate = self.manager(h) is not None and self.manager(a) == self.manager(h) and a != h
        if not chain and not (self.w.goals_visible_to_team and teammate):
            return set()
        return {snt("GOL", h), snt("KRS", h)} | self.serves(h) | ({snt("CMT", h)} if chain else set())

    def goals_overview(self, a: str) -> set[str]:
        """`/goals`: mine, my manager's team goal, the team goal I set, my active reports' and (when the org says
        so) my teammates' goals."""
        if not self.alive(a):
            return set()
        out = {snt("GOL", a), snt("KRS", a), snt("CMT", a)} | self.serves(a)
        m = self.manager(a)
        if m is not None and self.alive(m):
            out.add(snt("TGL", m))
        if self.manages(a):
            out.add(snt("TGL", a))
        for h in self.w.people:
            if h != a and self.alive(h) and self.manager(h) == a:
                out |= {snt("GOL", h), snt("KRS", h), snt("CMT", h)} | self.serves(h)
            elif h != a and m is not None and self.manager(h) == m and self.alive(h) and self.w.goals_visible_to_team:
                out |= {snt("GOL", h), snt("KRS", h)} | self.serves(h)
        return out

    def export(self, a: str) -> set[str]:
        if not self.alive(a):
            return set()
        out = {snt("WIN", a), snt("XTR", a), snt("OBS", a)} | ({snt("SUP", a)} if a in self.w.support else set())
        out |= {snt("GOL", a), snt("KRS", a), snt("CMT", a)} | self.serves(a)
        out |= {snt("TGL", a)} if self.manages(a) else set()
        out |= {snt("CMT", h) for h in self.w.people if self.manager(h) == a}  # the comments they wrote
        out |= {snt("KUD", g, r) for g, r in self.w.kudos if a in (g, r)}
        out |= {snt("RPL", x, r) for x, r, _ in self.w.replies if a in (x, r)}
        # feedback: what was given to the requester, and each giver's own words (their conversation)
        out |= {snt("FBK", g, self.w.fb_requester) for g in self.w.fb_answered if a in (g, self.w.fb_requester)}
        out |= self.one_on_one_items(a)
        return out | ({snt("RET", a)} if a in self.w.retro_people else set()) | self.actions(a)

    def actions(self, a: str) -> set[str]:
        """`/action` (and the export): one's own actions — a withheld retro's only if one wrote it oneself — and
        the suggestions waiting for an answer. Never one a withheld retro named someone else for (URB)."""
        if not self.alive(a):
            return set()
        own = {snt("ACT", a)} | ({snt("URA", a)} if a in self.w.retro_people else set())
        return own | self.suggested[a]

    def charts(self, a: str, h: str) -> bool:
        """`/me charts @h`: the person, and whoever reads their digest section (the manager; the manager's manager
        with skip_level, while the manager is active)."""
        if not self.alive(a) or not self.alive(h):
            return False
        m = self.manager(h)
        return a in (h, m) or (self.w.skip_level and self.alive(m) and m is not None and self.manager(m) == a)

    def feedback_list(self, a: str) -> set[str]:
        """`/feedback`: the requester reads every answer; their manager (and the manager's manager with skip_level)
        only once it is shared; never a giver, a peer or anyone who declined."""
        req = self.w.fb_requester
        answers = {snt("FBK", g, req) for g in self.w.fb_answered}
        if not self.alive(a) or not self.alive(req):
            return set()
        if a == req:
            return answers
        boss = self.manager(req)
        managers = {boss} if boss else set()
        if self.w.skip_level and boss is not None and self.alive(boss) and self.manager(boss):
            managers.add(self.manager(boss))
        return answers if self.w.fb_shared and a in managers else set()

    def one_on_one_items(self, a: str) -> set[str]:
        """The 1:1's topic and shared note for the two of the pair (while the report is active); a private note
        only for its writer."""
        if self.w.pair is None or a not in self.w.pair or not self.alive(a):
            return set()
        m, r = self.w.pair
        return {snt("PRV", a)} | ({snt("TOP", m), snt("NOT", r)} if self.alive(r) else set())

    def one_on_one(self, a: str) -> set[str]:
        """`/1on1`: the pair's items and notes as above, and the digest's talking points about the report — what
        the manager may see of them (the report's own data, so the report may too)."""
        if self.w.pair is None or a not in self.w.pair or not self.alive(a) or not self.alive(self.w.pair[1]):
            return set()
        m, r = self.w.pair
        # (talking points name no extra answers and no development actions: those are in the digest's own lines)
        points = self.section(r, own=False) - {snt("XTR", r), snt("ACT", r)} if self.alive(m) else set()
        return self.one_on_one_items(a) | points

    def may_act(self, a: str, h: str) -> bool:
        return self.alive(a) and self.alive(h) and self.manager(h) == a

    def support_list(self, a: str) -> set[str]:
        if not self.alive(a):
            return set()
        out = {snt("SUP", h) for h in self.w.support if self.may_act(a, h) and self.status[h] != "resolved"}
        return out | ({snt("SUP", a)} if a in self.w.support else set())

    def kudos_me(self, a: str) -> set[str]:
        return {snt("KUD", g, r) for g, r in self.w.kudos if r == a} if self.alive(a) else set()

    def kudos_wall(self, a: str) -> set[str]:
        """Kudos are public; the wall shows the actor's team: their manager's reports and that manager."""
        if not self.alive(a):
            return set()
        anchor = self.manager(a) or a
        team = {h for h in self.w.people if self.alive(h) and (self.manager(h) == anchor or h == anchor)}
        return {snt("KUD", g, r) for g, r in self.w.kudos if r in team}

    def form(self, a: str, owner: str) -> set[str]:
        return {snt("WIN", owner), snt("XTR", owner)} if a == owner and self.alive(a) else set()

    def retro_summary(self) -> dict[str, set[str]]:
        answers = {snt("RET", p) for p in self.w.retro_people}
        readers = set(self.w.retro_people) | {self.w.retro_starter}
        return {r: answers for r in readers if self.alive(r)}


# ------------------------------------------------------------------------------------------------ the harness


def build(tmp_path, w: World):
    config = {
        "members": [
            {
                "handle": h,
                "name": f"Name{h[1:]} Family",
                "timezone": TZ,
                **({"manager": p.manager} if p.manager else {}),
            }
            for h, p in w.people.items()
        ],
        "admins": [h for h, p in w.people.items() if p.admin],
        "digest": {"skip_level": w.skip_level},
        "goals": {"visible_to_team": w.goals_visible_to_team},
        # Who sees what, not when: nothing waits for working hours (NOW is a Sunday, made a working day here).
        "calendar": {"working_hours": "00:00-23:59", "workdays": [NOW.date().isoformat()]},
        "flows": {"weekly_checkin": {"extra_questions": [{"id": "learning", "en": "Learned?", "zh": "学到了什么？"}]}},
    }
    h = make_harness(tmp_path, start=NOW, config=config)
    ids: dict[str, int] = {}
    runs: dict[str, int] = {}
    requests: dict[str, int] = {}
    with transaction(h.app.sessions) as s:
        members = {m.handle: m for m in s.exec(select(Member))}
        ids = {k: m.id for k, m in members.items()}  # type: ignore[misc]
        for handle, person in w.people.items():
            member = members[handle]
            member.active = person.active
            s.add(member)
            status = w.checkin[handle]
            closes = local(TZ, 2026, 11, 22, 0, 0) if status == "expired" else local(TZ, 2026, 11, 23, 12, 0)
            run = ConversationRun(
                flow="weekly_checkin",
                member_id=member.id,
                period=PERIOD,
                status=status,
                step="priorities" if status == "in_progress" else None,
                context={
                    "steps": STEPS,
                    "plan": [],
                    "obstacles": [],
                    "actions": [],
                    "has_manager": person.manager is not None,
                },
                due_at=local(TZ, 2026, 11, 20, 15, 0),
                prompt_at=local(TZ, 2026, 11, 20, 15, 0),
                closes_at=closes,
                created_at=NOW,
                updated_at=NOW,
                completed_at=NOW if status == "completed" else None,
            )
            s.add(run)
            s.flush()
            runs[handle] = run.id  # type: ignore[assignment]
            for step, value in (("mood", 3), ("wins", snt("WIN", handle)), ("learning", snt("XTR", handle))):
                s.add(
                    Answer(run_id=run.id, member_id=member.id, step=step, value=value, created_at=NOW, updated_at=NOW)
                )
            s.add(
                Obstacle(
                    member_id=member.id,
                    text=snt("OBS", handle),
                    source_run_id=run.id,
                    source_step="blockers",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            if handle in w.support:
                recorded = w.support[handle]
                request = SupportRequest(
                    member_id=member.id,
                    manager_id=ids[recorded] if recorded else None,
                    kind="decision",
                    text=snt("SUP", handle),
                    created_at=NOW,
                    updated_at=NOW,
                )
                s.add(request)
                s.flush()
                requests[handle] = request.id  # type: ignore[assignment]
        for author, recipient, subject in w.replies:
            wins = s.exec(select(Answer).where(Answer.run_id == runs[subject], Answer.step == "wins")).one()
            s.add(
                AnswerReply(
                    author_id=ids[author],
                    recipient_id=ids[recipient],
                    subject_id=ids[subject],
                    about="answer",
                    about_id=wins.id,
                    step="wins",
                    period=PERIOD,
                    text=snt("RPL", author, recipient),
                    created_at=NOW,
                )
            )
        counts: dict[str, int] = {}
        for handle in w.upward:  # October's reviews, closed for everyone; who answered is counted apart
            boss = w.people[handle].manager
            assert boss is not None
            s.add(
                ConversationRun(
                    flow="monthly_review",
                    member_id=ids[handle],
                    period="2026-10",
                    status="completed",
                    context={"steps": ["growth", "upward"], "upward_to": ids[boss], "upward_min": 3},
                    due_at=local(TZ, 2026, 10, 6, 10, 0),
                    prompt_at=local(TZ, 2026, 10, 6, 10, 0),
                    closes_at=local(TZ, 2026, 10, 13, 10, 0),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            s.add(UpwardRespondent(manager_id=ids[boss], period="2026-10", member_id=ids[handle]))
            n = counts.get(boss, 0)
            counts[boss] = n + 1
            s.add(
                UpwardFeedback(id=f"{boss}-{n}", manager_id=ids[boss], period="2026-10", text=snt("UPW", boss, f"n{n}"))
            )
        team_goals: dict[str, int] = {}
        for handle in w.people:
            if any(p.manager == handle for p in w.people.values()):
                goal = Goal(
                    owner_id=ids[handle],
                    scope="team",
                    quarter=QUARTER,
                    number=1,
                    text=snt("TGL", handle),
                    manager_agreed=True,
                    created_at=NOW,
                    updated_at=NOW,
                    agreed_at=NOW,
                )
                s.add(goal)
                s.flush()
                team_goals[handle] = goal.id  # type: ignore[assignment]
        for handle, person in w.people.items():
            goal = Goal(
                owner_id=ids[handle],
                quarter=QUARTER,
                number=1,
                text=snt("GOL", handle),
                aligned_to=team_goals.get(person.manager) if person.manager else None,
                created_at=NOW,
                updated_at=NOW,
            )  # a draft: no key result of it reaches a digest's hint
            s.add(goal)
            s.flush()
            s.add(KeyResult(goal_id=goal.id, number=1, text=snt("KRS", handle), updated_at=NOW))  # type: ignore[arg-type]
            author = ids[person.manager] if person.manager else ids[handle]
            s.add(GoalComment(goal_id=goal.id, author_id=author, text=snt("CMT", handle), created_at=NOW))  # type: ignore[arg-type]
        for giver, recipient in w.kudos:
            repo.add_kudos(
                s,
                giver_id=ids[giver],
                recipient_ids=[ids[recipient]],
                reason=snt("KUD", giver, recipient),
                value=None,
                channel=None,
                period=PERIOD,
                now=NOW,
            )
        retro = Retro(
            title="Launch",
            channel=None,
            started_by=ids[w.retro_starter],
            anonymous=False,
            due_at=NOW + timedelta(days=1),
            created_at=NOW,
        )
        s.add(retro)
        s.flush()
        for handle in w.retro_people:
            run = ConversationRun(
                flow="retro",
                member_id=ids[handle],
                period=f"retro-{retro.id}",
                status="completed",
                context={
                    "steps": ["goal", "went_well", "went_badly", "actions"],
                    "title": "Launch",
                    "retro_id": retro.id,
                },
                due_at=NOW,
                prompt_at=NOW,
                closes_at=retro.due_at,
                created_at=NOW,
                updated_at=NOW,
            )
            s.add(run)
            s.flush()
            s.add(
                Answer(
                    run_id=run.id,
                    member_id=ids[handle],
                    step="goal",
                    value=snt("RET", handle),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        for handle in w.handles():
            repo.add_action(s, ids[handle], snt("ACT", handle), "typed", now=NOW)
        # A withheld anonymous retro: its actions are shown to nobody but their author, for ever.
        hidden = Retro(
            title="Hidden",
            channel=None,
            started_by=ids[w.retro_starter],
            anonymous=True,
            status="withheld",
            due_at=NOW,
            created_at=NOW,
        )
        s.add(hidden)
        s.flush()
        for handle in w.retro_people:
            run = ConversationRun(
                flow="retro",
                member_id=ids[handle],
                period=f"retro-{hidden.id}",
                status="completed",
                context={"steps": ["goal", "went_well", "went_badly", "actions"], "retro_id": hidden.id},
                due_at=NOW,
                prompt_at=NOW,
                closes_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
            s.add(run)
            s.flush()
            for owner, kind in ((handle, "URA"), (w.retro_starter, "URB")):
                if kind == "URB" and owner == handle:
                    continue
                repo.add_action(
                    s,
                    ids[owner],
                    snt(kind, handle),
                    "retro",
                    now=NOW,
                    source_run_id=run.id,
                    retro_id=hidden.id,
                    shared=False,
                )
        # Feedback on request: the answered colleagues' runs (already delivered), a declined one without answers.
        request = FeedbackRequest(
            requester_id=ids[w.fb_requester],
            topic="Launch",
            created_at=NOW,
            closes_at=NOW + timedelta(days=30),
            shared_at=NOW if w.fb_shared else None,
        )
        s.add(request)
        s.flush()
        for giver in w.fb_answered + ([w.fb_declined] if w.fb_declined else []):
            answered = giver != w.fb_declined
            run = ConversationRun(
                flow="feedback",
                member_id=ids[giver],
                period=f"feedback-{request.id}",
                status="completed" if answered else "skipped",
                context={"steps": ["strengths", "improvement", "next_steps"], "delivered_at": NOW.isoformat()},
                due_at=NOW,
                prompt_at=NOW,
                closes_at=request.closes_at,
                created_at=NOW,
                updated_at=NOW,
            )
            s.add(run)
            s.flush()
            for step in ("strengths", "improvement", "next_steps") if answered else ():
                value = snt("FBK", giver, w.fb_requester) if step == "strengths" else "fine"
                s.add(
                    Answer(run_id=run.id, member_id=ids[giver], step=step, value=value, created_at=NOW, updated_at=NOW)
                )
        if w.pair is not None:
            m, r = w.pair
            pair = OneOnOne(
                manager_id=ids[m],
                member_id=ids[r],
                proposed_by=ids[m],
                cadence="weekly",
                weekday=2,
                at_time="10:00",
                timezone=TZ,
                status="active",
                created_at=NOW,
                next_at=NOW + timedelta(days=30),  # no agenda goes out during the test
            )
            s.add(pair)
            s.flush()
            for author, kind, private, text in (
                (m, "topic", False, snt("TOP", m)),
                (r, "note", False, snt("NOT", r)),
                (m, "note", True, snt("PRV", m)),
                (r, "note", True, snt("PRV", r)),
            ):
                s.add(
                    OneOnOneItem(
                        one_on_one_id=pair.id,  # type: ignore[arg-type]  # flushed
                        author_id=ids[author],
                        kind=kind,
                        private=private,
                        text=text,
                        created_at=NOW,
                    )
                )
    return h, runs, requests


class Observer:
    """Runs one action and returns the sentinels each address received because of it."""

    def __init__(self, h) -> None:
        self.h = h
        self.seq = itertools.count()

    def received(self, act) -> dict[str, set[str]]:
        before = len(self.h.fake.sent)
        act()
        self.h.app.deliver_outbox()
        out: dict[str, set[str]] = {}
        for recipient, message in self.h.fake.sent[before:]:
            found = set(SENTINEL.findall(message.text))
            if found:
                out.setdefault(recipient.address, set()).update(found)
        return out

    def charts(self, actor: str, text: str) -> dict[str, set[str]]:
        """The chart replies (templates) each address received for one command."""
        before = len(self.h.fake.sent)
        self.event(actor, text)
        out: dict[str, set[str]] = {}
        for recipient, message in self.h.fake.sent[before:]:
            for reply in message.replies:
                if reply.template.startswith("charts/"):
                    out.setdefault(recipient.address, set()).add(reply.template)
        return out

    def event(self, actor: str, text: str, kind: str = "command") -> dict[str, set[str]]:
        return self.received(
            lambda: self.h.app.handle(
                InboundEvent(
                    platform="console",
                    user=actor,
                    kind=kind,
                    text=text,
                    dedup_key=f"prop:{next(self.seq)}",
                    replaces="home" if kind == "home" else None,  # as Slack's App Home sets it
                    received_at=self.h.clock.now(),
                )
            )
        )


def expect(address: str, sentinels: set[str]) -> dict[str, set[str]]:
    return {address: sentinels} if sentinels else {}


# ------------------------------------------------------------------------------------------------ the property


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(w=worlds())
def test_every_actor_sees_exactly_what_the_rules_allow(tmp_path_factory, w: World):
    check(tmp_path_factory.mktemp("vis"), w)


def check(tmp_path, w: World) -> None:
    h, runs, requests = build(tmp_path, w)
    model = Model(w)
    see = Observer(h)
    try:
        for actor in w.actors():
            others = [p for p in w.handles() if p != actor]
            why = f"{actor} in {w}"
            # commands that show someone's data
            assert see.event(actor, "/support") == expect(actor, model.support_list(actor)), why
            assert see.event(actor, "/flywheel team") == {}, why  # names only, never answers
            for other in others[:1]:
                # `/me <someone>` never shows that someone: at most the actor's own view, with a word on the rest
                seen = see.event(actor, f"/me {other}")
                assert set(seen) <= {actor} and seen.get(actor, set()) <= model.me(actor), why
            assert see.event(actor, "/me export") == expect(actor, model.export(actor)), why
            for other in [actor, *others]:  # a person's charts: numbers only, so the reply itself is what is seen
                got = see.charts(actor, f"/me charts @{other}")
                if model.charts(actor, other):
                    assert got in ({actor: {"charts/person"}}, {actor: {"charts/none"}}), (why, other)
                else:
                    assert "charts/person" not in set().union(*got.values()), (why, other)
                    assert set(got) <= {actor}, (why, other)
            assert see.event(actor, "/me", kind="home") == expect(actor, model.me(actor)), why  # Slack's App Home
            assert see.event(actor, "/kudos wall") == expect(actor, model.kudos_wall(actor)), why
            assert see.event(actor, "/kudos me") == expect(actor, model.kudos_me(actor)), why
            assert see.event(actor, "/action") == expect(actor, model.actions(actor)), why
            for other in others:  # a suggestion reaches a direct report only from their manager
                sent = see.event(actor, f"/action suggest @{other} {snt('SUG', actor, other)}")
                allowed = model.may_act(actor, other)
                want = {actor: {snt("SUG", actor, other)}, other: {snt("SUG", actor, other)}} if allowed else {}
                assert sent == want, (why, other)
                if allowed:
                    model.suggested[other].add(snt("SUG", actor, other))
            assert see.event(actor, "/upward") == expect(actor, model.upward(actor)), why
            # goals, key results, comments and alignment: /goals, and /goals @someone for everyone
            assert see.event(actor, "/goals") == expect(actor, model.goals_overview(actor)), why
            for other in w.handles():
                assert see.event(actor, f"/goals @{other}") == expect(actor, model.goals_of(actor, other)), (why, other)
            # the support buttons (a Slack button or a Feishu card sends exactly this text), on every request
            for owner, request_id in requests.items():
                allowed = model.may_act(actor, owner)
                want = expect(owner, {snt("SUP", owner)} if allowed else set())  # told who acted, on what
                assert see.event(actor, f"/support {request_id} handle", kind="action") == want, (why, owner)
                if allowed:
                    model.status[owner] = "handling"
            # forms (the Slack modal and the Feishu card form both come from build_form / submit_form) and
            # card values carrying a run id, for every run
            for owner, run_id in runs.items():
                form = build_form(h.app, platform="console", user=actor, run_id=run_id)
                assert set(SENTINEL.findall(repr(form))) == model.form(actor, owner), (why, owner)
                if actor == owner and model.alive(actor):
                    continue  # their own: they may change it (tested elsewhere)
                refused = see.received(
                    lambda actor=actor, run_id=run_id: h.app.submit_form(
                        platform="console",
                        user=actor,
                        run_id=run_id,
                        values={"wins": "HIJACKED"},
                        dedup_key=f"form:{next(see.seq)}",
                    )
                )
                assert refused == {}, (why, owner)
        # a retro summary (started in a DM: it goes to the participants and the starter)
        summary = see.received(lambda: h.app.retros.summarise_due(h.clock.now()))
        assert summary == {r: s for r, s in model.retro_summary().items() if s}, w
        # Monday's digests, skip-level ones included (open actions of reports; never a withheld retro's, never a
        # suggestion not yet accepted)
        h.clock.set(DIGEST_AT)
        digests = see.received(h.app.tick)
        assert digests == {m: model.digest(m) for m in w.handles() if model.gets_digest(m) and model.digest(m)}, w
        # `/reply N` with every number: a reply reaches only one of the actor's own reports, or whoever replied to
        # the actor (an answer back); every other number reaches nothing
        replied_to: dict[str, set[str]] = {}
        for actor in w.actors():
            for n in range(1, 6):
                got = see.event(actor, f"/reply {n} {snt('HJK', actor, str(n))}")
                for address in got:
                    if address == actor:
                        continue
                    assert model.may_act(actor, address) or address in replied_to.get(actor, set()), (actor, n, w)
                    assert model.alive(address), (actor, address, w)
                    replied_to.setdefault(address, set()).add(actor)
        # Requested feedback and 1:1s, as each actor asks for them (after the digest: the talking points are about
        # the week it covered).
        for actor in w.actors():
            why = f"{actor} in {w}"
            assert see.event(actor, "/feedback") == expect(actor, model.feedback_list(actor)), why
            assert see.event(actor, "/1on1") == expect(actor, model.one_on_one(actor)), why
        with transaction(h.app.sessions) as s:  # no one else's form changed anything
            assert "HIJACKED" not in {a.value for a in s.exec(select(Answer).where(Answer.step == "wins"))}
    finally:
        h.app.close()
