"""Property: over generated org charts, every command or payload that shows or acts on someone's data gives each
kind of actor exactly what an independent model of "Who sees what" (README) says — no more, no less.

Every answer, obstacle, support request, kudos reason, retro answer and development action (open ones; a withheld
retro's, which nobody but its author may see; a manager's suggestion) carries a sentinel naming whose it is; an
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
from storage.models import Answer, ConversationRun, Member, Obstacle, Retro, SupportRequest
from tests.helpers import local, make_harness

TZ = "Europe/London"
NOW = local(TZ, 2026, 11, 22, 10, 0)  # Sunday: this week's check-in (2026-W47) closes Monday 12:00
DIGEST_AT = local(TZ, 2026, 11, 23, 9, 0)  # Monday's digest, before that window closes
PERIOD = "2026-W47"
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
    # CONSENT: actors with a pending or declined manager request (reporting-line consent, added in parallel)
    # go here — e.g. `pending: list[tuple[str, str]]` of (would-be manager, member) — and into `actors()`.
    pending: list[tuple[str, str]] = field(default_factory=list)

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
    return World(people, draw(st.booleans()), checkin, support, kudos, starter, retro_people)


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

    def digest(self, m: str) -> set[str]:
        if not self.alive(m):
            return set()
        direct = [h for h in self.w.people if self.alive(h) and self.manager(h) == m]
        out = set().union(*(self.section(h, own=False) for h in direct)) if direct else set()
        if self.w.skip_level:
            for lead in direct:
                for h in self.w.people:
                    if self.alive(h) and self.manager(h) == lead:
                        out |= self.section(h, own=False)
        return out

    def gets_digest(self, m: str) -> bool:
        return self.alive(m) and any(self.alive(h) and self.manager(h) == m for h in self.w.people)

    def me(self, a: str) -> set[str]:
        """`/me` and the App Home: exactly what the manager sees — or, with no manager, one's own weeks."""
        if not self.alive(a):
            return set()
        return self.section(a, own=not self.alive(self.manager(a)))

    def export(self, a: str) -> set[str]:
        if not self.alive(a):
            return set()
        out = {snt("WIN", a), snt("XTR", a), snt("OBS", a)} | ({snt("SUP", a)} if a in self.w.support else set())
        out |= {snt("KUD", g, r) for g, r in self.w.kudos if a in (g, r)}
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
        with transaction(h.app.sessions) as s:  # no one else's form changed anything
            assert "HIJACKED" not in {a.value for a in s.exec(select(Answer).where(Answer.step == "wins"))}
    finally:
        h.app.close()
