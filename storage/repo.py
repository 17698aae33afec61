"""Repository functions: keyword-only, each takes the session. No business rules here, only data access."""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload
from sqlmodel import Session, col, select

from storage.models import (
    ACTION_SOURCES,
    ACTION_STATUSES,
    CONSOLE,
    Answer,
    AnswerFlag,
    AnswerReply,
    AuditRecord,
    ConversationRun,
    DevelopmentAction,
    DevelopmentActionNote,
    ErasedAccount,
    Goal,
    GoalComment,
    KeyResult,
    Kudos,
    KudosRecipient,
    ManagerRequest,
    Member,
    MemberIdentity,
    Obstacle,
    OutboxMessage,
    ProcessedEvent,
    Retro,
    RunTransition,
    SchedulerState,
    SupportRequest,
)
from storage.types import UTCDateTime

# A member's accounts (`Member.identities`) loaded with the member, in one round trip: each inbound event reads them.
_WITH_ACCOUNTS = joinedload(Member.identities)

OPEN = ("scheduled", "prompted", "in_progress")


def among(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """`column IN (values)`; on PostgreSQL `column = ANY(%(array)s)`: one short statement however many values, so
    psycopg's and the server's statement caches keep it (an IN list of 50 is parsed anew every time)."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.literal(values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def insert_ignore(
    session: Session, model: type, rows: Sequence[dict[str, Any]], *, conflict: Sequence[str], counted: bool = True
) -> int:
    """INSERT … ON CONFLICT DO NOTHING (SQLite and PostgreSQL); returns how many rows were new (with
    `counted=False`, 0: the driver's row count is not reliable)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets __table__ on table models at runtime
    stmt = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    if counted:  # RETURNING gives back only the rows inserted
        # Counted from RETURNING even for one row: with SQLAlchemy 2.1 and psycopg an INSERT's rowcount is -1, which
        # made every inbound event on PostgreSQL look like one seen before.
        returning = stmt.returning(*table.primary_key.columns)
        return len(session.execute(returning, dict(rows[0]) if len(rows) == 1 else list(rows)).all())
    session.execute(stmt, list(rows))
    return 0


# ------------------------------------------------------------------------------------------ inbound events


def mark_processed(session: Session, *, dedup_key: str, platform: str, now: datetime) -> bool:
    """Record an inbound event; False when it was seen before (a retry or a replay)."""
    return (
        insert_ignore(
            session,
            ProcessedEvent,
            [{"dedup_key": dedup_key, "platform": platform, "received_at": now}],
            conflict=["dedup_key"],
        )
        == 1
    )


def prune_processed(session: Session, *, older_than: datetime) -> int:
    result = session.execute(sa.delete(ProcessedEvent).where(col(ProcessedEvent.received_at) < older_than))
    return result.rowcount or 0  # type: ignore[attr-defined]  # a DELETE's result is a CursorResult


# ------------------------------------------------------------------------------------------ members

MEMBER_SYNC_LOCK = 0x466C7977_0001  # a PostgreSQL advisory lock key: "Flyw" + 1


def lock_member_sync(session: Session) -> None:
    """Writers of the member list (the org file at start-up, the Slack directory) take turns until commit.

    Several replicas start at once on PostgreSQL; without this, each inserts the same new members and all but one
    die on the unique key. SQLite needs nothing: `BEGIN IMMEDIATE` already serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MEMBER_SYNC_LOCK})


def member_by_handle(session: Session, *, handle: str) -> Member | None:
    """With the member's accounts in the same query: the inbound path reads them for every event."""
    return session.exec(select(Member).where(Member.handle == handle).options(_WITH_ACCOUNTS)).unique().first()


def listed_by_directory(member: Member, *, source: str) -> None:
    """A platform's directory lists this person: active, and theirs to vouch for unless the organisation file
    still does (someone taken off the file but still in the workspace stays, as the directory's)."""
    if member.source != "file" or not member.active:
        member.source = source
    member.active = True


def members_from_file(session: Session) -> list[Member]:
    return list(session.exec(select(Member).where(Member.source == "file")))


def member_by_platform_id(session: Session, *, platform: str, user_id: str) -> Member | None:
    """The member whose account on `platform` is `user_id` (on the console: whose handle it is)."""
    if platform == CONSOLE:
        return member_by_handle(session, handle=user_id)
    return (
        session.exec(
            select(Member)
            .join(MemberIdentity, MemberIdentity.member_id == Member.id)  # type: ignore[arg-type]  # SQLModel types == as bool
            .where(MemberIdentity.platform == platform, MemberIdentity.external_id == user_id)
            .options(_WITH_ACCOUNTS)
        )
        .unique()
        .first()
    )


def members_by_platform_ids(session: Session, *, platform: str, user_ids: Iterable[str]) -> dict[str, Member]:
    """Members by their accounts on `platform`, in one query (with their identities: one more)."""
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    if platform == CONSOLE:
        return {m.handle: m for m in session.exec(select(Member).where(among(session, Member.handle, wanted)))}
    rows = session.exec(
        select(MemberIdentity.external_id, Member)
        .join(Member, MemberIdentity.member_id == Member.id)  # type: ignore[arg-type]  # SQLModel types == as bool
        .where(MemberIdentity.platform == platform, among(session, MemberIdentity.external_id, wanted))
    )
    return {external_id: member for external_id, member in rows}


def members_on(session: Session, *, platform: str) -> dict[str, Member]:
    """Every member with an account on `platform`, by that account (a directory sync compares its list with it)."""
    rows = session.exec(
        select(MemberIdentity.external_id, Member)
        .join(Member, MemberIdentity.member_id == Member.id)  # type: ignore[arg-type]  # SQLModel types == as bool
        .where(MemberIdentity.platform == platform)
    )
    return {external_id: member for external_id, member in rows}


def member_by_name(session: Session, *, name: str) -> Member | None:
    """`alice` / `陈晨`: the member with this handle, else the one with exactly this name."""
    found = session.exec(select(Member).where(Member.handle == name.lower())).first()
    if found is None:
        found = session.exec(select(Member).where(Member.name == name)).first()
    return found


def lock_member(session: Session, *, member_id: int) -> None:
    session.exec(select(Member.id).where(Member.id == member_id).with_for_update()).first()


def member_calendars(session: Session) -> list[tuple[str, str | None]]:
    """The distinct (time zone, country) pairs of active members: who shares a schedule and a holiday calendar."""
    rows = session.exec(select(Member.timezone, Member.country).where(Member.active == sa.true()).distinct())
    return sorted(((tz, country) for tz, country in rows), key=lambda r: (r[0], r[1] or ""))


# ------------------------------------------------------------------------------------------ planning marks
#
# Who is due a run changes only when a member is added, deleted, reactivated or deactivated, moves to another time
# zone or country, or loses a run (/resume drops the weeks recorded as paused; erasure). Database triggers
# (migration 0015) set a new random `members_revision` (in scheduler_state) in the same transaction as any such
# write, whoever makes it: the ORM, a bulk statement or raw SQL. The planner reads the revision first, then asks for
# candidates; once a (flow, period, due, time zone, country) group has been planned in full, it is marked with that
# revision and not asked again while the revision stands: a tick's plan step then costs what is due, not one
# anti-join over all stored members per group and tick. A change committed in between sets another revision, so
# the group is asked again on the next tick. The marks are kept in this process, per engine (a restart or another
# replica asks once).

MEMBERS_REVISION = "members_revision"
PlanKey = tuple[str, str, datetime, str, str | None]  # flow, period, due, time zone, country
_MARKS: weakref.WeakKeyDictionary[Any, dict[PlanKey, str | None]] = weakref.WeakKeyDictionary()
_GROUPS: weakref.WeakKeyDictionary[Any, tuple[str | None, list[tuple[str, str | None]]]] = weakref.WeakKeyDictionary()
_MAX_MARKS = 10_000  # weeks go by; past that many, start afresh (one full look per open group)


def members_revision(session: Session) -> str | None:
    """The current revision of who may be due a run (None: nothing has changed it since this was introduced)."""
    return session.exec(select(SchedulerState.value).where(SchedulerState.key == MEMBERS_REVISION)).first()


class PlanMarks:
    """The planner's view for one tick: the revision read before anything else, the member groups (cached per
    revision), and which groups were already planned in full under that revision."""

    def __init__(self, revision: str | None, groups: list[tuple[str, str | None]], done: dict[PlanKey, Any]) -> None:
        self.revision, self.groups, self._done = revision, groups, done

    def planned(self, flow: str, period: str, due: datetime, timezone: str, country: str | None) -> bool:
        key = (flow, period, due, timezone, country)
        return key in self._done and self._done[key] == self.revision

    def mark(self, flow: str, period: str, due: datetime, timezone: str, country: str | None) -> None:
        """Every candidate of this group had its run inserted (call after the inserts committed)."""
        self._done[(flow, period, due, timezone, country)] = self.revision


def plan_marks(session: Session) -> PlanMarks:
    """Read the revision (first: a change committed after this read sets another one), then the member groups."""
    engine = session.get_bind()
    revision = members_revision(session)
    cached = _GROUPS.get(engine)
    if cached is not None and cached[0] == revision:
        groups = cached[1]
    else:
        groups = member_calendars(session)
        _GROUPS[engine] = (revision, groups)
    done = _MARKS.setdefault(engine, {})
    if len(done) > _MAX_MARKS or any(r != revision for r in done.values()):
        done.clear()
    return PlanMarks(revision, groups, done)


# ------------------------------------------------------------------------------------------ runs


def plan_candidates(
    session: Session, *, flow: str, period: str, timezone: str, due: datetime, country: str | None = None
) -> list[tuple[int, date | None]]:
    """(id, paused_until) of active members in `timezone` with `country` (None: no country of their own) who
    joined before `due` and have no run for the period. Paused members are included: their week is recorded.

    `NOT IN (the period's runs)`, not a correlated NOT EXISTS: PostgreSQL plans it as one hashed subplan over the
    period's runs (ix_run_flow_period_member), linear in members. With NOT EXISTS and no statistics yet (the first
    hour after a large import, before autoanalyze) it chose a nested loop that scanned every run of the period for
    every member: 22 s for 10,000 members, quadratic."""
    has_run = select(ConversationRun.member_id).where(ConversationRun.flow == flow, ConversationRun.period == period)
    query = (
        select(col(Member.id), col(Member.paused_until))
        .where(
            Member.active == sa.true(),
            Member.timezone == timezone,
            Member.created_at <= due,
            col(Member.country).is_(None) if country is None else col(Member.country) == country,
            col(Member.id).not_in(has_run),  # member_id is NOT NULL: NOT IN is NOT EXISTS
        )
        .order_by(col(Member.id))
    )
    return [(i, until) for i, until in session.exec(query)]  # type: ignore[misc]  # stored members: id is set


def insert_runs(session: Session, *, rows: Sequence[dict[str, Any]]) -> int:
    return insert_ignore(session, ConversationRun, rows, conflict=["flow", "member_id", "period"])


def run_for_period(session: Session, *, flow: str, member_id: int, period: str) -> ConversationRun | None:
    return session.exec(
        select(ConversationRun).where(
            ConversationRun.flow == flow, ConversationRun.member_id == member_id, ConversationRun.period == period
        )
    ).first()


def lock_run(session: Session, *, run_id: int) -> ConversationRun | None:
    """Re-read a run under a row lock (PostgreSQL); SQLite already holds the write lock for the transaction."""
    return session.exec(
        select(ConversationRun)
        .where(ConversationRun.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def active_run(session: Session, *, member_id: int, other_than: int | None = None) -> ConversationRun | None:
    """The conversation a reply from this member belongs to: open and prompted, or a completed one being edited.
    `other_than`: leave that run out (the member's other conversation, if any)."""
    query = (
        select(ConversationRun)
        .where(
            ConversationRun.member_id == member_id,
            ConversationRun.id != (other_than or 0),
            sa.or_(
                col(ConversationRun.status).in_(("prompted", "in_progress")),
                sa.and_(col(ConversationRun.status) == "completed", col(ConversationRun.step).is_not(None)),
            ),
        )
        .order_by(col(ConversationRun.updated_at).desc(), col(ConversationRun.id).desc())
        .with_for_update()
    )
    return session.exec(query).first()


def open_runs(session: Session, *, member_id: int) -> list[ConversationRun]:
    """The member's runs that are not over yet (scheduled, prompted or in progress), locked."""
    return list(
        session.exec(
            select(ConversationRun)
            .where(col(ConversationRun.member_id) == member_id, col(ConversationRun.status).in_(OPEN))
            .order_by(col(ConversationRun.id))
            .with_for_update()
        )
    )


def drop_paused_weeks(session: Session, *, member_id: int, now: datetime) -> int:
    """Forget the weeks recorded as paused whose window is still open and that were never started, so that the
    planner prompts for them again (used by /resume). Returns how many."""
    runs = [
        r
        for r in session.exec(
            select(ConversationRun)
            .where(
                ConversationRun.member_id == member_id,
                ConversationRun.status == "skipped",
                ConversationRun.closes_at > now,
                col(ConversationRun.prompted_at).is_(None),
            )
            .with_for_update()
        )
        if (r.context or {}).get("paused_until") and not answers_of(session, run_id=r.id)  # type: ignore[arg-type]  # a stored run
    ]
    ids = [r.id for r in runs]
    if ids:
        session.execute(sa.delete(RunTransition).where(col(RunTransition.run_id).in_(ids)))
        session.execute(sa.delete(ConversationRun).where(col(ConversationRun.id).in_(ids)))
    return len(ids)


def next_waiting_run(session: Session, *, member_id: int, now: datetime) -> ConversationRun | None:
    """A conversation that was held back while the member was busy with another one."""
    return session.exec(
        select(ConversationRun)
        .where(
            ConversationRun.member_id == member_id,
            ConversationRun.status == "scheduled",
            ConversationRun.closes_at > now,
            ConversationRun.due_at <= now,
        )
        .order_by(col(ConversationRun.prompt_at), col(ConversationRun.id))
        .with_for_update()
    ).first()


def run_to_edit(session: Session, *, member_id: int, now: datetime) -> ConversationRun | None:
    """The conversation `edit` means when none is open: the one finished last among those still open for changes,
    else the one finished last (whose window has closed, as the member is then told)."""
    query = (
        select(ConversationRun)
        .where(ConversationRun.member_id == member_id, ConversationRun.status == "completed")
        .order_by(
            sa.case((col(ConversationRun.closes_at) > now, 0), else_=1),
            col(ConversationRun.completed_at).desc().nulls_last(),
            col(ConversationRun.id).desc(),
        )
        .limit(1)
    )
    return session.exec(query.with_for_update()).first()


def latest_run(
    session: Session,
    *,
    member_id: int,
    flow: str,
    statuses: Iterable[str] | None = None,
    open_at: datetime | None = None,
    lock: bool = True,
) -> ConversationRun | None:
    query = select(ConversationRun).where(ConversationRun.member_id == member_id, ConversationRun.flow == flow)
    if statuses is not None:
        query = query.where(col(ConversationRun.status).in_(tuple(statuses)))
    if open_at is not None:
        query = query.where(ConversationRun.closes_at > open_at)
    query = query.order_by(col(ConversationRun.due_at).desc(), col(ConversationRun.id).desc()).limit(1)
    return session.exec(query.with_for_update() if lock else query).first()


def runs_due(session: Session, *, now: datetime, kind: str, limit: int) -> list[ConversationRun]:
    """Runs with work due now, locked for this transaction (PostgreSQL skips rows another replica holds)."""
    query = select(ConversationRun)
    if kind == "deliver":
        query = query.where(
            ConversationRun.status == "scheduled", ConversationRun.prompt_at <= now, ConversationRun.closes_at > now
        ).order_by(col(ConversationRun.prompt_at))
    elif kind == "remind":
        query = query.where(
            col(ConversationRun.status).in_(("prompted", "in_progress")),
            col(ConversationRun.next_nudge_at) <= now,
            ConversationRun.closes_at > now,
        ).order_by(col(ConversationRun.next_nudge_at))
    elif kind == "expire":
        query = query.where(
            ConversationRun.closes_at <= now,
            sa.or_(
                col(ConversationRun.status).in_(OPEN),
                sa.and_(col(ConversationRun.status) == "completed", col(ConversationRun.step).is_not(None)),
            ),
        ).order_by(col(ConversationRun.closes_at))
    else:
        raise ValueError(kind)
    return list(session.exec(query.limit(limit).with_for_update(skip_locked=True)))


def answers_of(session: Session, *, run_id: int) -> dict[str, Any]:
    return {a.step: a.value for a in session.exec(select(Answer).where(Answer.run_id == run_id))}


def save_answer(
    session: Session, *, run: ConversationRun, step: str, value: Any, now: datetime, known: Iterable[str] | None = None
) -> None:
    """Store one answer, or replace it. `known`: the steps the run had answers for when it was read under its lock.
    A step not among them is written in one statement without being looked up first (one round trip fewer on every
    answer); it is an upsert all the same, so a `known` that missed a row replaces it rather than failing."""
    assert run.id is not None  # a stored run
    if known is not None and step not in known:
        dialect = session.get_bind().dialect.name
        table = Answer.__table__  # type: ignore[attr-defined]  # SQLModel sets __table__ on table models at runtime
        insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        row = {"run_id": run.id, "member_id": run.member_id, "step": step, "value": value}
        session.execute(
            insert.values(**row, created_at=now, updated_at=now).on_conflict_do_update(
                index_elements=["run_id", "step"], set_={"value": value, "updated_at": now}
            )
        )
        return
    existing = session.exec(select(Answer).where(Answer.run_id == run.id, Answer.step == step)).first()
    if existing is None:
        session.add(
            Answer(run_id=run.id, member_id=run.member_id, step=step, value=value, created_at=now, updated_at=now)
        )
    else:
        existing.value = value
        existing.updated_at = now
        session.add(existing)


def transition_row(
    *,
    run: ConversationRun,
    trigger: str,
    from_status: str | None,
    from_step: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A change of a run's state (the run as it is now), as a row for `insert_transitions`."""
    return {
        "run_id": run.id,
        "trigger": trigger,
        "from_status": from_status,
        "to_status": run.status,
        "from_step": from_step,
        "to_step": run.step,
        "at": now,
    }


def insert_transitions(session: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Record changes of runs' states (rows from `transition_row`), all of them in one statement: the history is only
    read afterwards, and a scheduler batch moves 200 runs at once."""
    if rows:
        session.execute(sa.insert(RunTransition.__table__), list(rows))  # type: ignore[attr-defined]  # SQLModel sets __table__ on table models at runtime


# ------------------------------------------------------------------------------------------ outbox


def outbox_row_for(
    *,
    dedup_key: str,
    member_id: int | None,
    kind: str,
    body: dict[str, Any],
    now: datetime,
    run_id: int | None = None,
    channel: str | None = None,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """An outbox row; `not_before` holds it until then (the recipient's working time, bot/calendar.py)."""
    return {
        "dedup_key": dedup_key,
        "member_id": member_id,
        "run_id": run_id,
        "kind": kind,
        "body": body,
        "channel": channel,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": max(now, not_before) if not_before is not None else now,
        "created_at": now,
    }


def enqueue(
    session: Session,
    *,
    dedup_key: str,
    member_id: int | None,
    kind: str,
    body: dict[str, Any],
    now: datetime,
    run_id: int | None = None,
    channel: str | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Queue a message (held until `not_before` if given); False when one with the same `dedup_key` was queued."""
    return (
        insert_ignore(
            session,
            OutboxMessage,
            [
                outbox_row_for(
                    dedup_key=dedup_key,
                    member_id=member_id,
                    kind=kind,
                    body=body,
                    now=now,
                    run_id=run_id,
                    channel=channel,
                    not_before=not_before,
                )
            ],
            conflict=["dedup_key"],
        )
        == 1
    )


def enqueue_many(session: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Queue several messages (rows from `outbox_row_for`) in one statement; ones queued before are left alone."""
    insert_ignore(session, OutboxMessage, rows, conflict=["dedup_key"], counted=False)


def db_now(session: Session) -> Any:
    """The database's own clock, as a SQL expression of the stored kind (naive UTC): what leases are measured on,
    so that every replica reads one clock however far its own runs ahead or behind. PostgreSQL: `clock_timestamp()`
    (the instant the expression is evaluated, not the transaction's start) in UTC. SQLite: `strftime('now')` in UTC —
    SQLite runs inside the process, so this is the host's clock, the same one for every process on the file."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.timezone("UTC", sa.func.clock_timestamp())
    return sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now")  # the stored format, to the millisecond


def _lease_end(session: Session, start: Any, lease: timedelta) -> Any:
    """`start` (a `db_now` expression) plus `lease`, in the stored kind."""
    if session.get_bind().dialect.name == "postgresql":
        return start + sa.bindparam("lease", lease, type_=sa.Interval)
    return sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now", f"+{lease.total_seconds():.3f} seconds")


def claim_outbox(
    session: Session, *, now: datetime, owner: str, lease: timedelta, limit: int, db_clock: bool = False
) -> list[Any]:
    """Take due messages (and ones whose sender's lease ran out) for sending, in one statement; commit before
    sending. Returns the claimed rows as they now are (`id`, `body`, `attempts`, … as attributes), oldest due first.

    Due first, then by id: the order of the `ix_outbox_due` index, so PostgreSQL reads the first `limit` entries and
    stops instead of sorting every unsent message. Messages whose lease ran out are claimed in the same statement
    (at most `limit` of them besides), so a dead sender's batch is not left behind a long queue.

    `now` decides what is due. Leases — which have run out, and until when the new ones hold — are on the database's
    clock with `db_clock` (`db_now`; as `fence_outbox` reads them), else on `now`."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]  # SQLModel sets __table__ on table models at runtime
    c = table.c
    lease_now = db_now(session) if db_clock else now
    lease_until = _lease_end(session, lease_now, lease) if db_clock else now + lease
    due = sa.and_(c.status == "pending", c.next_attempt_at <= now)
    expired = sa.and_(c.status == "sending", c.lease_until < lease_now)

    def pick(condition: Any) -> Any:
        return sa.select(c.id).where(condition).order_by(c.next_attempt_at, c.id).limit(limit)

    if session.get_bind().dialect.name == "postgresql":
        # `id = ANY(ARRAY(…) || ARRAY(…))`: with `id IN (…) OR id IN (…)` PostgreSQL scans the whole table.
        expired_ids, due_ids = (
            sa.func.array(pick(x).with_for_update(skip_locked=True).scalar_subquery()) for x in (expired, due)
        )
        chosen = c.id == sa.func.any(expired_ids.op("||")(due_ids))
    else:  # SQLite: one writer at a time (BEGIN IMMEDIATE), nothing to lock or skip
        chosen = sa.or_(c.id.in_(pick(expired).scalar_subquery()), c.id.in_(pick(due).scalar_subquery()))
    # SET expressions see the old row: a row still 'sending' had a sender that died after claiming it — it may or
    # may not have gone out, which `last_error` remembers.
    rows = session.execute(
        sa.update(table)
        .where(chosen)
        .values(
            last_error=sa.case((c.status == "sending", "lease_expired"), else_=c.last_error),
            status="sending",
            lease_owner=owner,
            lease_until=lease_until,
            attempts=c.attempts + 1,
        )
        .returning(*table.c)
    ).all()
    return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))


def fence_outbox(
    session: Session, *, ids: Sequence[int], owner: str, lease: timedelta, now: datetime | None
) -> set[int]:
    """Immediately before sending claimed messages: which of `ids` does `owner` still hold under a lease that has not
    run out? Their leases are extended to `lease` from now, in the same statement (one round trip), and their ids
    returned; the others are left as they are: another sender took them over, or may at any moment — do not send
    them. `now` None: the database's clock (`db_now`), as the claim used with `db_clock`. It runs before sends, so
    the statement is built once per database and kind of clock, and executed on the session's connection directly."""
    if not ids:
        return set()
    dialect = session.get_bind().dialect.name
    db_clock = now is None
    statement = _FENCES.get((dialect, db_clock))
    if statement is None:
        statement = _FENCES[(dialect, db_clock)] = _fence_statement(session, db_clock=db_clock)
    params: dict[str, Any] = {"fence_ids": list(ids), "fence_owner": owner}
    if now is None:
        params["fence_lease"] = lease if dialect == "postgresql" else f"+{lease.total_seconds():.3f} seconds"
    else:
        params["fence_now"], params["fence_until"] = now, now + lease
    return {row[0] for row in session.connection().execute(statement, params)}


_FENCES: dict[tuple[str, bool], Any] = {}


def _fence_statement(session: Session, *, db_clock: bool) -> Any:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]  # SQLModel sets __table__ on table models at runtime
    c = table.c
    if not db_clock:
        clock: Any = sa.bindparam("fence_now", type_=UTCDateTime)
        until: Any = sa.bindparam("fence_until", type_=UTCDateTime)
    elif session.get_bind().dialect.name == "postgresql":
        clock = db_now(session)
        until = clock + sa.bindparam("fence_lease", type_=sa.Interval)
    else:
        clock = db_now(session)
        until = sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now", sa.bindparam("fence_lease", type_=sa.String))
    statement = sa.update(table).where(
        c.id.in_(sa.bindparam("fence_ids", expanding=True)),
        c.lease_owner == sa.bindparam("fence_owner"),
        c.status == "sending",
        c.lease_until > clock,
    )
    if session.get_bind().dialect.name == "postgresql":
        # This transaction's commit does not wait for its WAL to reach the disk (`synchronous_commit` off, for this
        # transaction only): one flush per message sent would cost more than the send. Other senders see the new
        # lease at once either way; only a database crash within a fraction of a second could lose the extension,
        # leaving the lease as claimed — and a message taken over after that is checked on the platform first.
        statement = statement.where(
            sa.select(sa.func.set_config("synchronous_commit", "off", True)).scalar_subquery() == "off"
        )
    return statement.values(lease_until=until).returning(c.id)


def unclaim_outbox(session: Session, *, ids: Sequence[int], owner: str) -> None:
    """Give claimed messages back unsent (they were not attempted): pending again, as they were before the claim."""
    rows = session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.id).in_(ids),
            OutboxMessage.lease_owner == owner,
            OutboxMessage.status == "sending",
        )
    )
    for row in rows:
        row.status, row.lease_owner, row.lease_until = "pending", None, None
        row.attempts = max(row.attempts - 1, 0)
        session.add(row)


def mark_sent(session: Session, *, sent: Sequence[tuple[int, str | None]], owner: str, now: datetime) -> dict[int, str]:
    """Record delivered messages — (outbox id, platform message id) — still leased by `owner`, in one statement.
    Returns {id: kind} of those recorded (a message whose lease another sender took over is theirs to record).
    What was said lives in the answers, so the body is emptied (and a `farewell`'s address too)."""
    if not sent:
        return {}
    c = OutboxMessage.__table__.c  # type: ignore[attr-defined]  # SQLModel sets __table__ on table models at runtime
    ids = [i for i, _ in sent]
    if session.get_bind().dialect.name == "postgresql":  # two arrays: the same short statement for any batch
        message_id = sa.text(
            "(CAST(:message_ids AS VARCHAR[]))[array_position(CAST(:sent_ids AS INTEGER[]), outbox_message.id)]"
        ).bindparams(
            sa.bindparam("message_ids", [m for _, m in sent], type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("sent_ids", ids, type_=postgresql.ARRAY(sa.Integer)),
        )
    else:
        message_ids = {i: m for i, m in sent if m is not None}
        message_id = sa.case(message_ids, value=c.id, else_=None) if message_ids else None  # type: ignore[assignment]  # any SQL expression (or None: unchanged) will do
    result = session.execute(
        sa.update(OutboxMessage.__table__)  # type: ignore[attr-defined]  # SQLModel sets __table__ on table models at runtime
        .where(among(session, c.id, ids), c.lease_owner == owner, c.status == "sending")
        .values(
            status="sent",
            sent_at=now,
            body={},
            lease_owner=None,
            lease_until=None,
            platform_message_id=message_id,
            # A farewell went to the chat account of someone whose data was deleted: keep no trace of it.
            channel=sa.case((c.kind == "farewell", None), else_=c.channel),
        )
        .returning(c.id, c.kind)
    )
    return {r.id: r.kind for r in result}


def leased_outbox(session: Session, *, ids: Sequence[int], owner: str) -> dict[int, OutboxMessage]:
    """The given messages that `owner` still holds under its lease, to record what happened to them."""
    if not ids:
        return {}
    return {
        r.id: r  # type: ignore[misc]  # stored messages: id is set
        for r in session.exec(
            select(OutboxMessage).where(
                among(session, OutboxMessage.id, ids),
                OutboxMessage.lease_owner == owner,
                OutboxMessage.status == "sending",
            )
        )
    }


def next_outbox_due(session: Session) -> datetime | None:
    """The soonest `next_attempt_at` of a pending message (read from the `ix_outbox_due` index)."""
    return session.exec(
        select(sa.func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == "pending")
    ).first()


def outbox_depth(session: Session) -> int:
    return session.exec(
        select(sa.func.count()).select_from(OutboxMessage).where(col(OutboxMessage.status).in_(("pending", "sending")))
    ).one()


def outbox_row(session: Session, *, outbox_id: int) -> OutboxMessage | None:
    return session.get(OutboxMessage, outbox_id)


# ------------------------------------------------------------------------------------------ scheduler state


def get_state(session: Session, *, key: str) -> SchedulerState | None:
    return session.get(SchedulerState, key)


def set_state(session: Session, *, key: str, at: datetime | None = None, value: str | None = None) -> None:
    """Insert or overwrite one fact. An upsert, because replicas ticking for the first time together would otherwise
    both insert the row and one tick would fail on the primary key."""
    table = SchedulerState.__table__  # type: ignore[attr-defined]  # SQLModel sets __table__ on table models at runtime
    insert = postgresql.insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(table)
    session.execute(
        insert.values(key=key, at=at, value=value).on_conflict_do_update(
            index_elements=["key"], set_={"at": at, "value": value}
        )
    )
    session.expire_all()  # a SchedulerState already loaded in this session must not hide the new values


def next_times(session: Session, *, after: datetime) -> list[datetime]:
    """The soonest stored instants after `after` at which some run or message has work to do."""
    out: list[datetime] = []
    for column, where in (
        (col(ConversationRun.prompt_at), col(ConversationRun.status) == "scheduled"),
        (col(ConversationRun.next_nudge_at), col(ConversationRun.status).in_(("prompted", "in_progress"))),
        (
            col(ConversationRun.closes_at),
            sa.or_(
                col(ConversationRun.status).in_(OPEN),
                sa.and_(col(ConversationRun.status) == "completed", col(ConversationRun.step).is_not(None)),
            ),
        ),
        (col(OutboxMessage.next_attempt_at), col(OutboxMessage.status) == "pending"),
        (col(ManagerRequest.expires_at), col(ManagerRequest.status) == "pending"),
    ):
        value = session.exec(select(sa.func.min(column)).where(where, column > after)).first()
        if value is not None:
            out.append(value if value.tzinfo else value.replace(tzinfo=after.tzinfo))
    return out


# ------------------------------------------------------------------------------------------ kudos


def kudos_given_in(session: Session, *, giver_id: int, period: str) -> int:
    return session.exec(
        select(sa.func.count()).select_from(Kudos).where(Kudos.giver_id == giver_id, Kudos.period == period)
    ).one()


def add_kudos(
    session: Session,
    *,
    giver_id: int,
    recipient_ids: Sequence[int],
    reason: str,
    value: str | None,
    channel: str | None,
    period: str,
    now: datetime,
) -> Kudos:
    kudos = Kudos(giver_id=giver_id, reason=reason, value=value, channel=channel, period=period, created_at=now)
    session.add(kudos)
    session.flush()
    assert kudos.id is not None  # set by the flush
    for member_id in recipient_ids:
        session.add(KudosRecipient(kudos_id=kudos.id, member_id=member_id))
    return kudos


def kudos_received(
    session: Session, *, member_ids: Sequence[int], since: datetime | None = None, limit: int | None = None
) -> list[tuple[Kudos, list[int]]]:
    """Kudos any of `member_ids` received, newest first, each with all of its recipients."""
    query = (
        select(Kudos)
        .join(KudosRecipient, col(KudosRecipient.kudos_id) == col(Kudos.id))
        .where(col(KudosRecipient.member_id).in_(list(member_ids)))
        .distinct()
        .order_by(col(Kudos.created_at).desc(), col(Kudos.id).desc())
    )
    if since is not None:
        query = query.where(Kudos.created_at >= since)
    if limit is not None:
        query = query.limit(limit)
    found = list(session.exec(query))
    recipients: dict[int, list[int]] = {k.id: [] for k in found}  # type: ignore[misc]  # stored kudos: id is set
    if found:
        for row in session.exec(
            select(KudosRecipient)
            .where(col(KudosRecipient.kudos_id).in_(list(recipients)))
            .order_by(col(KudosRecipient.id))
        ):
            recipients[row.kudos_id].append(row.member_id)
    return [(k, recipients[k.id]) for k in found]  # type: ignore[index]  # as above


def members_and_managers(session: Session, *, ids: Iterable[int]) -> dict[int, Member]:
    """These members and their managers, by id (a second query only for managers not among them)."""
    found = members_by_id(session, ids=ids)
    found.update(
        members_by_id(
            session,
            ids=[m.manager_id for m in found.values() if m.manager_id is not None and m.manager_id not in found],
        )
    )
    return found


def members_by_id(session: Session, *, ids: Iterable[int]) -> dict[int, Member]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    query = select(Member).where(among(session, Member.id, wanted)).options(_WITH_ACCOUNTS)  # one round trip
    return {m.id: m for m in session.exec(query).unique()}  # type: ignore[misc]  # stored: id is set


def by_name(members: Iterable[Member]) -> list[Member]:
    """People in the order they are shown: by name ignoring case ("ana" next to "Ana", not after "Zoe"), equal
    names by id. Sorted here, not in SQL, so that it is the same on every database whatever its collation (and
    `ORDER BY name` alone leaves equal names in whatever order the database happens to read them)."""
    return sorted(members, key=lambda m: (m.name.casefold(), m.id))


def team_members(session: Session, *, team: str | None, manager_id: int | None) -> list[Member]:
    """The people on a team: by team name, or else the manager's direct reports and the manager; by name."""
    query = select(Member).where(Member.active == sa.true())
    if team:
        query = query.where(Member.team == team)
    elif manager_id is not None:
        query = query.where(sa.or_(col(Member.manager_id) == manager_id, col(Member.id) == manager_id))
    return by_name(session.exec(query))


# ------------------------------------------------------------------------------------------ development actions


class ActionError(ValueError):
    """An action that cannot be stored as asked (unknown source, empty text); callers check before."""


ACTION_TEXT_MAX = 1000


def add_action(
    session: Session,
    owner_id: int,
    text: str,
    source: str,
    *,
    now: datetime,
    due: date | None = None,
    source_run_id: int | None = None,
    retro_id: int | None = None,
    source_ref: str | None = None,
    suggested_by: int | None = None,
    shared: bool = True,
) -> DevelopmentAction:
    """Record one development action for `owner_id`, `text` exactly as typed, and return it (flushed: its id set).

    `source`: monthly_review | quarterly | retro | one_on_one | typed | suggested. With `suggested_by` (a manager's
    member id) it is a proposal (status "proposed") until the owner accepts it (`decide_suggestion`); otherwise it
    is open at once. `shared=False` (a retro not yet summarised): nobody but its author sees it until
    `shared_at` is set. Nothing is sent here: a suggestion's DM is bot/actions.py's."""
    if source not in ACTION_SOURCES:
        raise ActionError(f"unknown source {source!r}")
    if not text.strip():
        raise ActionError("empty text")
    proposed = suggested_by is not None
    action = DevelopmentAction(
        owner_id=owner_id,
        text=text[:ACTION_TEXT_MAX],
        source=source,
        source_run_id=source_run_id,
        retro_id=retro_id,
        source_ref=source_ref,
        due=due,
        status="proposed" if proposed else "open",
        suggested_by=suggested_by,
        created_at=now,
        opened_at=None if proposed else now,
        shared_at=now if shared else None,
    )
    session.add(action)
    session.flush()
    return action


def set_actions_from(
    session: Session, *, owner_id: int, source: str, source_run_id: int, texts: Sequence[str], now: datetime
) -> list[DevelopmentAction]:
    """The actions one conversation's answer names (a monthly review's, a quarterly talk's), after the answer was
    given or edited: an action whose text is still there is kept as it is (its status too), one no longer named is
    deleted, a new one is added. Returns them in the answer's order."""
    before = list(
        session.exec(
            select(DevelopmentAction)
            .where(DevelopmentAction.source_run_id == source_run_id, DevelopmentAction.source == source)
            .order_by(col(DevelopmentAction.id))
        )
    )
    by_text = {a.text: a for a in before}
    kept: list[DevelopmentAction] = []
    for text in texts:
        found = by_text.pop(text, None)
        kept.append(
            found
            if found is not None
            else add_action(session, owner_id, text, source, now=now, source_run_id=source_run_id)
        )
    for gone in by_text.values():
        delete_actions(session, ids=[gone.id])  # type: ignore[list-item]  # stored
    return kept


def delete_actions(session: Session, *, ids: Sequence[int]) -> int:
    """Delete these actions and their notes; returns how many actions."""
    if not ids:
        return 0
    session.execute(sa.delete(DevelopmentActionNote).where(col(DevelopmentActionNote.action_id).in_(ids)))
    return session.execute(sa.delete(DevelopmentAction).where(col(DevelopmentAction.id).in_(ids))).rowcount or 0  # type: ignore[attr-defined]


def actions_of(
    session: Session,
    *,
    owner_ids: Sequence[int],
    statuses: Sequence[str] = ("open",),
    shared_only: bool = True,
    shared_before: datetime | None = None,
) -> list[DevelopmentAction]:
    """These owners' actions in `statuses`, oldest first. `shared_only`: only those the retro anonymity rule let
    out (every action that is not a retro's is shared when made) — what check-ins, digests and /me show;
    `shared_before`: only those shared at or before then."""
    if not owner_ids:
        return []
    query = select(DevelopmentAction).where(
        among(session, DevelopmentAction.owner_id, owner_ids), col(DevelopmentAction.status).in_(statuses)
    )
    if shared_only:
        query = query.where(col(DevelopmentAction.shared_at).is_not(None))
    if shared_before is not None:
        query = query.where(col(DevelopmentAction.shared_at) <= shared_before)
    return list(session.exec(query.order_by(col(DevelopmentAction.created_at), col(DevelopmentAction.id))))


def open_actions(
    session: Session, *, owner_ids: Sequence[int], shared_before: datetime | None = None
) -> list[tuple[DevelopmentAction, Retro | None]]:
    """Open actions of these owners that others may know of (a retro's only once its anonymity rule let it out:
    `shared_at`, recorded by bot/retro.py from conversations.retro.disclosed), oldest first, each with its retro
    (None unless it came from one). Every path that shows actions — check-ins, their preloading, digests, /me —
    reads them here; `shared_before`: only those shared at or before then."""
    found = actions_of(session, owner_ids=owner_ids, shared_before=shared_before)
    wanted = {a.retro_id for a in found if a.retro_id is not None}
    retros = {r.id: r for r in session.exec(select(Retro).where(col(Retro.id).in_(wanted)))} if wanted else {}
    return [(a, retros.get(a.retro_id) if a.retro_id is not None else None) for a in found]


def action_notes(session: Session, *, action_ids: Sequence[int]) -> dict[int, list[DevelopmentActionNote]]:
    """The notes of these actions, oldest first, by action id."""
    out: dict[int, list[DevelopmentActionNote]] = {i: [] for i in action_ids}
    if action_ids:
        query = select(DevelopmentActionNote).where(among(session, DevelopmentActionNote.action_id, action_ids))
        for note in session.exec(query.order_by(col(DevelopmentActionNote.id))):
            out[note.action_id].append(note)
    return out


def add_action_note(session: Session, *, action: DevelopmentAction, text: str, now: datetime) -> DevelopmentActionNote:
    note = DevelopmentActionNote(action_id=action.id, text=text[:ACTION_TEXT_MAX], created_at=now)  # type: ignore[arg-type]  # stored
    session.add(note)
    return note


def set_action_status(session: Session, *, action: DevelopmentAction, status: str, now: datetime) -> None:
    """open | done | dropped (the owner) — or, for a proposal, open (accepted) | declined."""
    if status not in ACTION_STATUSES:
        raise ActionError(f"unknown status {status!r}")
    if status == "open":
        action.opened_at = action.opened_at or now
        action.closed_at = None
    else:
        action.closed_at = now
    action.status = status
    session.add(action)


# ------------------------------------------------------------------------------------------ obstacles and support


def open_obstacles(session: Session, *, member_id: int, exclude_run_id: int | None = None) -> list[Obstacle]:
    query = select(Obstacle).where(Obstacle.member_id == member_id, Obstacle.status == "open")
    if exclude_run_id is not None:
        query = query.where(
            sa.or_(col(Obstacle.source_run_id).is_(None), col(Obstacle.source_run_id) != exclude_run_id)
        )
    return list(session.exec(query.order_by(col(Obstacle.created_at), col(Obstacle.id))))


def obstacle_from(session: Session, *, run_id: int, step: str) -> Obstacle | None:
    return session.exec(select(Obstacle).where(Obstacle.source_run_id == run_id, Obstacle.source_step == step)).first()


LISTED_LINES = ("file", "feishu")  # where a reporting line is owned by the organisation, not by chat


def line_set_by(member: Member) -> str | None:
    """Who owns this person's reporting line: "file" (the organisation file names their manager) or "feishu" (the
    Feishu directory's leader_user_id) — then nobody may change it from chat — or None: chat may, with consent."""
    if member.manager_id is not None and member.manager_source in LISTED_LINES:
        return member.manager_source
    return None


def set_manager(session: Session, member: Member, manager_id: int | None, *, source: str | None, now: datetime) -> None:
    """Change someone's manager; `source` says who set the line (see Member.manager_source). Their open support
    requests go with them: the new manager can act on them, the old one no longer can."""
    source = source if manager_id is not None else None
    if member.manager_id == manager_id and member.manager_source == source:
        return
    if member.manager_id != manager_id:
        session.execute(
            sa.update(SupportRequest)
            .where(col(SupportRequest.member_id) == member.id, col(SupportRequest.status) != "resolved")
            .values(manager_id=manager_id)
        )
    member.manager_id, member.manager_source, member.updated_at = manager_id, source, now
    session.add(member)


def listed_line(session: Session, member: Member, manager_id: int | None, *, source: str, now: datetime) -> None:
    """The organisation file or a directory (`source`) states this person's manager (None: it names none). What it
    names wins; naming none clears only a line it set itself, so a line the member accepted in chat stays."""
    if manager_id is not None or member.manager_source == source:
        set_manager(session, member, manager_id, source=source, now=now)


def support_from(session: Session, *, run_id: int) -> SupportRequest | None:
    return session.exec(select(SupportRequest).where(SupportRequest.source_run_id == run_id)).first()


def support_requests(
    session: Session,
    *,
    manager_id: int | None = None,
    member_id: int | None = None,
    member_ids: Sequence[int] | None = None,
    open_only: bool = True,
) -> list[SupportRequest]:
    query = select(SupportRequest)
    if manager_id is not None:
        query = query.where(SupportRequest.manager_id == manager_id)
    if member_id is not None:
        query = query.where(SupportRequest.member_id == member_id)
    if member_ids is not None:
        if not member_ids:
            return []
        query = query.where(among(session, SupportRequest.member_id, member_ids))
    if open_only:
        query = query.where(SupportRequest.status != "resolved")
    return list(session.exec(query.order_by(col(SupportRequest.created_at), col(SupportRequest.id))))


# ------------------------------------------------------------------------------------------ manager requests


def add_manager_request(
    session: Session, *, member_id: int, manager_id: int, requested_by: int, now: datetime, expires_at: datetime
) -> ManagerRequest:
    request = ManagerRequest(
        member_id=member_id,
        manager_id=manager_id,
        requested_by=requested_by,
        status="pending",
        created_at=now,
        expires_at=expires_at,
    )
    session.add(request)
    session.flush()
    return request


def lock_manager_request(session: Session, *, request_id: int) -> ManagerRequest | None:
    """Re-read a request under a row lock, so an answer and the expiry (or two presses) cannot both decide it."""
    return session.exec(
        select(ManagerRequest)
        .where(ManagerRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def pending_manager_requests(
    session: Session,
    *,
    member_id: int | None = None,
    manager_id: int | None = None,
    requested_by: int | None = None,
    now: datetime | None = None,
) -> list[ManagerRequest]:
    """Requests still waiting for the member's answer, oldest first; with `now`, only those not yet expired (the
    tick may not have marked them)."""
    query = select(ManagerRequest).where(ManagerRequest.status == "pending")
    if member_id is not None:
        query = query.where(ManagerRequest.member_id == member_id)
    if manager_id is not None:
        query = query.where(ManagerRequest.manager_id == manager_id)
    if requested_by is not None:
        query = query.where(ManagerRequest.requested_by == requested_by)
    if now is not None:
        query = query.where(ManagerRequest.expires_at > now)
    return list(session.exec(query.order_by(col(ManagerRequest.created_at), col(ManagerRequest.id))))


def manager_requests_expiring(session: Session, *, now: datetime, limit: int) -> list[ManagerRequest]:
    """Pending requests whose time is up, locked (PostgreSQL skips rows another replica holds)."""
    return list(
        session.exec(
            select(ManagerRequest)
            .where(ManagerRequest.status == "pending", ManagerRequest.expires_at <= now)
            .order_by(col(ManagerRequest.expires_at), col(ManagerRequest.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


# ------------------------------------------------------------------------------------------ audit and retention

# What an audit record says happened (`AuditRecord.what`). Reads of a member's data — the records `/me access`
# lists — are these; the rest ("forget", and the reporting-line steps of bot/team.py) are not reads.
AUDIT_READS = {"digest": "digest", "support_list": "support_list", "flag": "flag"}
READ_KINDS = frozenset(AUDIT_READS.values())


def audit(
    session: Session,
    *,
    actor_id: int | None,
    subject_ids: Iterable[int],
    what: str,
    now: datetime,
    part: str | None = None,
) -> None:
    """Record that `actor_id` read (or deleted) these people's answers (`part`: which). Reading one's own is not
    recorded."""
    for subject in set(subject_ids):
        if subject != actor_id:
            session.add(
                AuditRecord(actor_id=actor_id, subject_id=subject, what=what, at=now, part=part[:200] if part else None)
            )


def audit_change(
    session: Session, *, actor_id: int | None, subject_id: int, what: str, part: str, now: datetime
) -> None:
    """Record a change to someone's reporting line, or a step towards one — also when they made it themselves.
    `part` names ids only (`request 7: manager 2 -> 5`), never what anyone wrote."""
    session.add(AuditRecord(actor_id=actor_id, subject_id=subject_id, what=what, part=part[:200], at=now))


def delete_answers_before(session: Session, *, cutoff: datetime) -> int:
    """Retention: answers to conversations that fell due before `cutoff` are deleted."""
    old_runs = select(ConversationRun.id).where(ConversationRun.due_at < cutoff)
    result = session.execute(sa.delete(Answer).where(col(Answer.run_id).in_(old_runs)))
    # Flags go with their answers; audit records of reads, too, once as old as the answers that were read.
    session.execute(
        sa.delete(AnswerFlag).where(
            sa.or_(
                col(AnswerFlag.run_id).in_(old_runs),
                col(AnswerFlag.created_at) < cutoff,
            )
        )
    )
    session.execute(sa.delete(AuditRecord).where(col(AuditRecord.at) < cutoff))
    # Replies are conversations about answers: they go at the same age (answers back first, then what they answer).
    old_replies = select(AnswerReply.id).where(col(AnswerReply.created_at) < cutoff)
    session.execute(
        sa.update(AnswerReply).where(col(AnswerReply.in_reply_to).in_(old_replies)).values(in_reply_to=None)
    )
    session.execute(sa.delete(AnswerReply).where(col(AnswerReply.created_at) < cutoff))
    return result.rowcount or 0  # type: ignore[attr-defined]  # a DELETE's result is a CursorResult


# ------------------------------------------------------------------------------------------ people's own data


def account_fingerprint(*, platform: str, user_id: str) -> str:
    """A one-way fingerprint of a chat account (console handles count as accounts), kept after a deletion."""
    return hashlib.sha256(f"{platform}:{user_id}".encode()).hexdigest()


def erased_account(session: Session, *, platform: str, user_id: str | None) -> ErasedAccount | None:
    """The deletion this account's owner asked for, if they did (None: never, or they asked to rejoin)."""
    if not user_id:
        return None
    return session.get(ErasedAccount, account_fingerprint(platform=platform, user_id=user_id))


def is_erased(member: Member) -> bool:
    """A row kept only so others' history keeps its shape: its person's data was deleted (`bot/me.py forget`)."""
    return member.handle == f"deleted-{member.id}"


def flags_of(session: Session, *, member_ids: Sequence[int], periods: Sequence[str] | None = None) -> list[AnswerFlag]:
    """These members' flags on their answers and hints (only for `periods` if given), oldest first."""
    if not member_ids:
        return []
    query = select(AnswerFlag).where(among(session, AnswerFlag.member_id, member_ids))
    if periods is not None:
        query = query.where(among(session, AnswerFlag.period, periods))
    return list(session.exec(query.order_by(col(AnswerFlag.created_at), col(AnswerFlag.id))))


# ------------------------------------------------------------------------------------------ goals and key results


def goals_of(
    session: Session, *, owner_ids: Sequence[int], quarter: str, scope: str = "personal", agreed_only: bool = False
) -> list[Goal]:
    """These members' goals of one quarter (their own, or with scope "team" the goals they set for their team),
    by owner and number."""
    if not owner_ids:
        return []
    query = select(Goal).where(among(session, Goal.owner_id, owner_ids), Goal.quarter == quarter, Goal.scope == scope)
    if agreed_only:
        query = query.where(col(Goal.agreed_at).is_not(None))
    return list(session.exec(query.order_by(col(Goal.owner_id), col(Goal.number))))


def key_results_of(session: Session, *, goal_ids: Sequence[int]) -> dict[int, list[KeyResult]]:
    """The key results of these goals, by goal, in their order."""
    out: dict[int, list[KeyResult]] = {g: [] for g in goal_ids}
    if goal_ids:
        query = select(KeyResult).where(among(session, KeyResult.goal_id, goal_ids))
        for kr in session.exec(query.order_by(col(KeyResult.goal_id), col(KeyResult.number))):
            out[kr.goal_id].append(kr)
    return out


def goal_comments_of(session: Session, *, goal_ids: Sequence[int]) -> dict[int, list[GoalComment]]:
    """The comments on these goals, by goal, oldest first."""
    out: dict[int, list[GoalComment]] = {g: [] for g in goal_ids}
    if goal_ids:
        query = select(GoalComment).where(among(session, GoalComment.goal_id, goal_ids))
        for c in session.exec(query.order_by(col(GoalComment.created_at), col(GoalComment.id))):
            out[c.goal_id].append(c)
    return out


def delete_goals(session: Session, *, goal_ids: Sequence[int]) -> int:
    """Delete these goals with their key results and comments; goals aligned to them align to nothing now."""
    if not goal_ids:
        return 0
    ids = list(goal_ids)
    session.execute(sa.update(Goal).where(col(Goal.aligned_to).in_(ids)).values(aligned_to=None))
    session.execute(sa.delete(GoalComment).where(col(GoalComment.goal_id).in_(ids)))
    session.execute(sa.delete(KeyResult).where(col(KeyResult.goal_id).in_(ids)))
    return session.execute(sa.delete(Goal).where(col(Goal.id).in_(ids))).rowcount or 0  # type: ignore[attr-defined]  # a DELETE's result is a CursorResult
