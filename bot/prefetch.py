"""Batch reads for the scheduler: what delivering a batch of runs would otherwise read run by run.

Profiling the 10,000-member fan-out (docs/benchmarks.md) showed the deliver step spending most of its time in
small per-run queries: the member, whether they are busy with another conversation, last period's run and its
answers, open obstacles and retro actions (the follow-up context), and the run's own answers. `Prefetched` reads
all of them for a whole batch with a handful of IN queries, in the same transaction, before any run of the batch
is touched. It only answers for runs whose member appears once in the batch, so nothing it returns can have been
changed by an earlier run of the same batch; for anything else the caller falls back to its usual query. Each
entry is handed out once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from conversations.flows import Flow
from conversations.schedule import previous_period
from storage import repo
from storage.models import Answer, ConversationRun, DevelopmentAction, Member, Obstacle, Retro
from storage.repo import among


class Prefetched:
    def __init__(
        self, s: Session, runs: Sequence[ConversationRun], flows: Mapping[str, Flow], *, busy: bool = False
    ) -> None:
        self.busy = busy
        counts = Counter(r.member_id for r in runs)
        self.runs: dict[int, ConversationRun] = {r.id: r for r in runs if counts[r.member_id] == 1 and r.flow in flows}  # type: ignore[misc]  # stored runs: id is set
        member_ids = sorted({r.member_id for r in runs})
        # Members into the session's identity map (held here: it keeps only weak references), so that
        # `s.get(Member, id)` needs no query.
        self.members = list(s.exec(select(Member).where(among(s, Member.id, member_ids)))) if member_ids else []
        ids = sorted({r.member_id for r in self.runs.values()})
        self.active: dict[int, ConversationRun | None] = {i: None for i in ids}
        self.answers: dict[int, dict[str, Any]] = {i: {} for i in self.runs}
        self.previous: dict[int, dict[str, Any] | None] = {}
        self.obstacles: dict[int, list[Obstacle]] = {i: [] for i in ids}
        self.actions: dict[int, list[tuple[DevelopmentAction, Retro | None]]] = {i: [] for i in ids}
        if not ids:
            return
        # The conversation each member is in now (repo.active_run, for the whole batch, locked the same way).
        for run in (
            []
            if not busy
            else s.exec(
                select(ConversationRun)
                .where(
                    among(s, ConversationRun.member_id, ids),
                    sa.or_(
                        col(ConversationRun.status).in_(("prompted", "in_progress")),
                        sa.and_(col(ConversationRun.status) == "completed", col(ConversationRun.step).is_not(None)),
                    ),
                )
                .order_by(col(ConversationRun.id))
                .with_for_update()
            )
        ):
            best = self.active[run.member_id]
            if best is None or (run.updated_at, run.id) > (best.updated_at, best.id):
                self.active[run.member_id] = run
        # Answers of the runs themselves, and of each run's previous period (what carries over: last week's plan).
        wanted: dict[tuple[str, int, str], int] = {
            (r.flow, r.member_id, previous_period(r.period)): r.id  # type: ignore[misc]  # stored runs: id is set
            for r in self.runs.values()
            if "steps" not in (r.context or {})
        }
        previous_ids: dict[int, int] = {}
        if wanted:
            for prev in s.exec(
                select(
                    col(ConversationRun.id),
                    col(ConversationRun.flow),
                    col(ConversationRun.member_id),
                    col(ConversationRun.period),
                ).where(
                    among(s, ConversationRun.member_id, ids),
                    col(ConversationRun.period).in_({k[2] for k in wanted}),
                    col(ConversationRun.flow).in_({k[0] for k in wanted}),
                )
            ):
                run_id = wanted.get((prev.flow, prev.member_id, prev.period))  # type: ignore[attr-defined]  # an sa.Row
                if run_id is not None:
                    previous_ids[prev.id] = run_id  # type: ignore[attr-defined]  # an sa.Row: named columns
            self.previous = {run_id: None for run_id in wanted.values()}
            for run_id in previous_ids.values():
                self.previous[run_id] = {}
        for a in s.exec(select(Answer).where(among(s, Answer.run_id, list(self.runs) + list(previous_ids)))):
            if a.run_id in self.answers:
                self.answers[a.run_id][a.step] = a.value
            if a.run_id in previous_ids:
                self.previous[previous_ids[a.run_id]][a.step] = a.value  # type: ignore[index]  # {} for these, above
        needs = {r.flow for r in self.runs.values()}
        if any(a.each == "obstacles" for f in needs for a in flows[f].steps):
            for o in s.exec(
                select(Obstacle)
                .where(among(s, Obstacle.member_id, ids), Obstacle.status == "open")
                .order_by(col(Obstacle.created_at), col(Obstacle.id))
            ):
                self.obstacles[o.member_id].append(o)
        if any(a.each == "actions" for f in needs for a in flows[f].steps):
            for action, retro in repo.open_actions(s, owner_ids=ids):  # the same rule as FollowUps.context
                self.actions[action.owner_id].append((action, retro))

    def covers(self, run: ConversationRun) -> bool:
        """Whether this batch read answers for `run` (and has not handed them out yet)."""
        return run.id in self.runs

    def take_active(self, run: ConversationRun) -> ConversationRun | None:
        assert self.busy, "prefetched without the busy check"
        return self.active.pop(run.member_id, None)

    def take_previous_answers(self, run: ConversationRun) -> dict[str, Any] | None:
        return self.previous.pop(run.id, None)  # type: ignore[arg-type]  # a stored run: id is set

    def take_answers(self, run: ConversationRun) -> dict[str, Any]:
        return self.answers.pop(run.id, {})  # type: ignore[arg-type]  # a stored run: id is set

    def take_followups(
        self, run: ConversationRun
    ) -> tuple[list[Obstacle], list[tuple[DevelopmentAction, Retro | None]]]:
        """Open obstacles (except the ones this run itself reported) and open development actions of the run's member."""
        obstacles = [o for o in self.obstacles.pop(run.member_id, []) if o.source_run_id != run.id]
        return obstacles, self.actions.pop(run.member_id, [])

    def done(self, run: ConversationRun) -> None:
        """Whatever this run did not use is not handed out later."""
        self.runs.pop(run.id, None)  # type: ignore[arg-type]  # a stored run: id is set
