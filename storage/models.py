"""The tables. Times are UTC (`UTCDateTime`); JSON columns are mutation-tracked so in-place edits are saved."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import relationship
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, json_dict


def _utc(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Member(SQLModel, table=True):
    """A person Flywheel talks to. `handle` is the stable key used by the console and the org file."""

    __tablename__ = "member"

    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    timezone: str = Field(max_length=64)
    locale: str = Field(default="en", max_length=8)
    manager_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    team: str | None = Field(default=None, max_length=200, index=True)
    paused_until: date | None = Field(default=None)
    country: str | None = Field(default=None, max_length=8)  # public holidays kept (ISO 3166); None: org default
    active: bool = Field(default=True)
    # Who vouches for this person: "file" (the organisation file: taken off it → deactivated), "slack" or "feishu"
    # (the platform's directory), None (added by a command, or before this was recorded).
    source: str | None = Field(default=None, max_length=16)
    # Who set the reporting line (`manager_id`): "file" or "feishu" (only they may change it; see
    # repo.line_set_by), "chat" (the member accepted a request), "admin" (/flywheel manager), None (no manager).
    manager_source: str | None = Field(default=None, max_length=16)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    # The member's accounts on the chat platforms, one row each; loaded with the member in one query per batch of
    # members (selectin), so reading an address never costs a query per member.
    # The member's accounts on the chat platforms, one row each (`MemberIdentity`, mapped below): loaded with the
    # member in one query per batch of members (selectin), so reading an address never costs a query per member.
    identities: ClassVar[Any]

    def account(self, platform: str) -> str | None:
        """This member's id on `platform` (the console knows people by their handle)."""
        if platform == CONSOLE:
            return self.handle
        return next((i.external_id for i in self.identities or () if i.platform == platform), None)

    def accounts(self) -> list[tuple[str, str]]:
        """(platform, id) of every account of this member, the console's handle first."""
        return [(CONSOLE, self.handle), *((i.platform, i.external_id) for i in self.identities or ())]

    def set_account(self, platform: str, external_id: str | None, *, workspace: str | None = None) -> None:
        """Record (or with None, forget) this member's id on `platform`."""
        row = next((i for i in self.identities if i.platform == platform), None)
        if external_id is None:
            if row is not None:
                self.identities.remove(row)
        elif row is None:
            self.identities.append(MemberIdentity(platform=platform, external_id=external_id, workspace=workspace))
        else:
            row.external_id = external_id
            row.workspace = workspace or row.workspace


CONSOLE = "console"  # its accounts are the members' handles: no identity rows


class MemberIdentity(SQLModel, table=True):
    """One account of a member on one chat platform (a Slack user id, a Feishu open_id, …): a new platform is new
    rows, never a new column. An account belongs to one member; a member has at most one account per platform."""

    __tablename__ = "member_identity"
    __table_args__ = (
        sa.UniqueConstraint("platform", "external_id", name="uq_member_identity_account"),
        sa.UniqueConstraint("member_id", "platform", name="uq_member_identity_member_platform"),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: int | None = Field(default=None, foreign_key="member.id", nullable=False)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    workspace: str | None = Field(default=None, max_length=64)  # e.g. the Slack team the account belongs to


Member.identities = relationship(  # mapped after both classes exist (see Member.identities)
    MemberIdentity,
    back_populates="member",
    lazy="selectin",
    cascade="all, delete-orphan",
    order_by="MemberIdentity.id",
)
MemberIdentity.member = relationship(Member, back_populates="identities")  # as above


class ConversationRun(SQLModel, table=True):
    """One conversation of one flow with one member for one period, e.g. weekly_checkin / alice / 2026-W48.

    `status` and `step` are the state machine; `context` holds what the flow was started with (last week's
    plan, …) and the concrete list of steps.
    """

    __tablename__ = "conversation_run"
    __table_args__ = (
        sa.UniqueConstraint("flow", "member_id", "period", name="uq_run_flow_member_period"),
        sa.Index("ix_run_flow_period_member", "flow", "period", "member_id"),  # the planner: a period's runs
        sa.Index("ix_run_status_prompt_at", "status", "prompt_at"),
        sa.Index("ix_run_status_nudge", "status", "next_nudge_at"),
        sa.Index("ix_run_status_closes", "status", "closes_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    flow: str = Field(max_length=64)
    member_id: int = Field(foreign_key="member.id", index=True)
    period: str = Field(max_length=32)
    status: str = Field(max_length=16)
    step: str | None = Field(default=None, max_length=96)
    context: dict = Field(default_factory=dict, sa_column=json_dict())
    due_at: datetime = _utc()
    prompt_at: datetime = _utc()
    closes_at: datetime = _utc()
    next_nudge_at: datetime | None = _utc(default=None, nullable=True)
    nudge_kind: str | None = Field(default=None, max_length=16)
    reminded: bool = Field(default=False)
    prompted_at: datetime | None = _utc(default=None, nullable=True)
    last_activity_at: datetime | None = _utc(default=None, nullable=True)
    completed_at: datetime | None = _utc(default=None, nullable=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Answer(SQLModel, table=True):
    """One answer to one step of a run; editing replaces the value and bumps `updated_at`."""

    __tablename__ = "answer"
    __table_args__ = (sa.UniqueConstraint("run_id", "step", name="uq_answer_run_step"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="conversation_run.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    step: str = Field(max_length=96)
    value: Any = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    note: str | None = Field(default=None, max_length=1000)  # the member's later note, shown with the answer
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class RunTransition(SQLModel, table=True):
    """Every state change of every run, with its time: the audit trail and the restart point."""

    __tablename__ = "run_transition"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="conversation_run.id", index=True)
    trigger: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    from_step: str | None = Field(default=None, max_length=96)
    to_step: str | None = Field(default=None, max_length=96)
    at: datetime = _utc()


class OutboxMessage(SQLModel, table=True):
    """A message to deliver: pending → sending → sent | failed. `dedup_key` makes enqueueing idempotent."""

    __tablename__ = "outbox_message"
    # What the claim reads, in the order it reads it (see repo.claim_outbox).
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=160, unique=True)
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    channel: str | None = Field(default=None, max_length=128)
    run_id: int | None = Field(default=None, foreign_key="conversation_run.id", index=True)
    kind: str = Field(max_length=32)
    body: dict = Field(default_factory=dict, sa_column=json_dict())
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _utc()
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _utc(default=None, nullable=True)
    last_error: str | None = Field(default=None, max_length=200)
    platform_message_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(default=None, nullable=True)


class ProcessedEvent(SQLModel, table=True):
    """Inbound events already handled: a retried or replayed delivery finds its key here and has no effect."""

    __tablename__ = "processed_event"

    dedup_key: str = Field(primary_key=True, max_length=200)
    platform: str = Field(max_length=16)
    received_at: datetime = _utc(index=True)


class SchedulerState(SQLModel, table=True):
    """Small shared facts of the scheduler, e.g. when the last tick ran (to tell a downtime from a quiet spell)."""

    __tablename__ = "scheduler_state"

    key: str = Field(primary_key=True, max_length=64)
    at: datetime | None = _utc(default=None, nullable=True)
    value: str | None = Field(default=None, max_length=200)


class Kudos(SQLModel, table=True):
    """One recognition, stored exactly as typed. `period` is the giver's ISO week (for the weekly limit)."""

    __tablename__ = "kudos"

    id: int | None = Field(default=None, primary_key=True)
    giver_id: int = Field(foreign_key="member.id", index=True)
    reason: str = Field(max_length=4000)
    value: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=160)
    period: str = Field(max_length=16, index=True)
    created_at: datetime = _utc(index=True)


class KudosRecipient(SQLModel, table=True):
    __tablename__ = "kudos_recipient"
    __table_args__ = (sa.UniqueConstraint("kudos_id", "member_id", name="uq_kudos_recipient"),)

    id: int | None = Field(default=None, primary_key=True)
    kudos_id: int = Field(foreign_key="kudos.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)


class Obstacle(SQLModel, table=True):
    """Something in a member's way, from a check-in's blockers or a monthly review, followed up until resolved."""

    __tablename__ = "obstacle"
    __table_args__ = (sa.UniqueConstraint("source_run_id", "source_step", name="uq_obstacle_source"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    text: str = Field(max_length=4000)
    status: str = Field(default="open", max_length=16, index=True)  # open | resolved | irrelevant
    source_run_id: int | None = Field(default=None, foreign_key="conversation_run.id")
    source_step: str | None = Field(default=None, max_length=96)
    times_reported: int = Field(default=1)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    closed_at: datetime | None = _utc(default=None, nullable=True)


class SupportRequest(SQLModel, table=True):
    """A member's request for support, sent to their manager at once; the member hears when the manager acts."""

    __tablename__ = "support_request"
    __table_args__ = (sa.UniqueConstraint("source_run_id", name="uq_support_source"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    manager_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    kind: str = Field(max_length=16)  # decision | resources | coaching | other_team
    text: str = Field(max_length=4000)
    status: str = Field(default="open", max_length=16, index=True)  # open | handling | one_on_one | resolved
    source_run_id: int | None = Field(default=None, foreign_key="conversation_run.id")
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    acted_at: datetime | None = _utc(default=None, nullable=True)


class Retro(SQLModel, table=True):
    """A project retrospective: answers collected privately by DM, one summary posted where it started."""

    __tablename__ = "retro"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    channel: str | None = Field(default=None, max_length=160)  # "platform:channel" of the summary
    started_by: int = Field(foreign_key="member.id", index=True)
    anonymous: bool = Field(default=False)
    # collecting | summarised (closed, its answers shared) | withheld (closed below `retro.anonymous_min`:
    # nothing of it reaches anyone but each answer's author; conversations.retro.disclosed is the rule)
    status: str = Field(default="collecting", max_length=16, index=True)
    due_at: datetime = _utc(index=True)
    created_at: datetime = _utc()
    summarised_at: datetime | None = _utc(default=None, nullable=True)


ACTION_SOURCES = ("monthly_review", "quarterly", "retro", "one_on_one", "typed", "suggested")
# proposed (a manager's suggestion, not yet answered) → open (accepted) | declined; open → done | dropped.
ACTION_STATUSES = ("proposed", "open", "done", "dropped", "declined")


class DevelopmentAction(SQLModel, table=True):
    """One concrete thing a member means to do to grow, followed up in their check-ins until done or dropped.

    Wherever it came from (`source`: a monthly review, the quarterly talk, a retro, a 1:1, typed with `/action add`,
    or a manager's suggestion the member accepted) it is this one record; `text` is exactly as typed. A retro's
    action is shown to nobody but its author until the retro's anonymity rule lets it out (`shared_at`, set by
    bot/retro.py from conversations.retro.disclosed); every other action is shared when it is made."""

    __tablename__ = "development_action"
    __table_args__ = (sa.Index("ix_development_action_owner_status", "owner_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="member.id", index=True)
    text: str = Field(max_length=1000)
    source: str = Field(max_length=16)  # ACTION_SOURCES
    # The conversation it came from: the monthly review or quarterly talk run, or the retro answers' author run.
    source_run_id: int | None = Field(default=None, foreign_key="conversation_run.id", index=True)
    retro_id: int | None = Field(default=None, foreign_key="retro.id", index=True)  # source "retro"
    source_ref: str | None = Field(default=None, max_length=64)  # any other reference, e.g. a 1:1's id
    due: date | None = Field(default=None)  # optional; "overdue" only once it has passed
    status: str = Field(default="open", max_length=16, index=True)  # ACTION_STATUSES
    suggested_by: int | None = Field(default=None, foreign_key="member.id")  # the manager who suggested it
    created_at: datetime = _utc()
    opened_at: datetime | None = _utc(default=None, nullable=True)  # when it became open (a suggestion: accepted)
    closed_at: datetime | None = _utc(default=None, nullable=True)  # done, dropped or declined
    shared_at: datetime | None = _utc(default=None, nullable=True)  # see above: None → its author alone


class DevelopmentActionNote(SQLModel, table=True):
    """A note the owner added to one of their actions (`/action note N …`), exactly as typed."""

    __tablename__ = "development_action_note"

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="development_action.id", index=True)
    text: str = Field(max_length=1000)
    created_at: datetime = _utc()


class AuditRecord(SQLModel, table=True):
    """Every time someone other than the person reads or deletes their answers: who, whose, what, when."""

    __tablename__ = "audit_record"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, index=True)  # None: an admin at the command line
    subject_id: int = Field(index=True)
    # digest | support_list | flag | forget | self_delete | manager_requested | manager_accepted | manager_declined
    # | manager_cancelled | manager_expired | manager_set_by_admin
    what: str = Field(max_length=32)
    part: str | None = Field(default=None, max_length=200)  # which part ("2026-W48", "#12"), ids: never content
    at: datetime = _utc(index=True)


class ManagerRequest(SQLModel, table=True):
    """Someone asked to become a member's manager. Nothing changes until the member accepts:
    pending → accepted | declined | cancelled (by the requester) | expired (after seven days)."""

    __tablename__ = "manager_request"

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    manager_id: int = Field(foreign_key="member.id", index=True)  # the proposed manager
    requested_by: int = Field(foreign_key="member.id")
    status: str = Field(default="pending", max_length=16, index=True)
    created_at: datetime = _utc()
    expires_at: datetime = _utc(index=True)
    decided_at: datetime | None = _utc(default=None, nullable=True)


class AnswerFlag(SQLModel, table=True):
    """A member's flag that one of their answers (or a hint about them in the digest) is wrong, with why; their
    manager is asked to acknowledge it, and the flag is shown with the answer wherever it appears."""

    __tablename__ = "answer_flag"

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    manager_id: int | None = Field(default=None, index=True)  # who was asked to acknowledge it
    run_id: int | None = Field(default=None, foreign_key="conversation_run.id", index=True)
    step: str | None = Field(default=None, max_length=96)  # an answer: run and step
    hint: str | None = Field(default=None, max_length=32)  # or a digest hint: its key
    period: str = Field(max_length=32)  # the answer's period, or the digest week the hint was about
    reason: str = Field(max_length=1000)
    created_at: datetime = _utc()
    acknowledged_at: datetime | None = _utc(default=None, nullable=True)
    acknowledged_by: int | None = Field(default=None)


class DeletionRequest(SQLModel, table=True):
    """A member asked to delete their data (`/me delete`); the code must come back before `expires_at`."""

    __tablename__ = "deletion_request"

    member_id: int = Field(primary_key=True, foreign_key="member.id")
    code: str = Field(max_length=8)
    expires_at: datetime = _utc()


class ErasedAccount(SQLModel, table=True):
    """A chat account whose owner deleted their data: only a one-way fingerprint, so Flywheel can tell them so if
    they write again, and so neither the organisation file nor a directory sync brings them back unasked."""

    __tablename__ = "erased_account"

    fingerprint: str = Field(primary_key=True, max_length=64)  # sha256 of "platform:id"
    member_id: int = Field(index=True)  # the scrubbed, inactive member row
    locale: str = Field(default="en", max_length=8)
    erased_at: datetime = _utc()


class AnswerReply(SQLModel, table=True):
    """A private reply between a member and their manager about one of the member's items (an answer, an obstacle,
    a support request), or an answer back to such a reply. Only `author_id` and `recipient_id` ever see it
    (bot/access.py `may`, Part.REPLIES); `subject_id` is whose item it is about."""

    __tablename__ = "answer_reply"

    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(foreign_key="member.id", index=True)
    recipient_id: int = Field(foreign_key="member.id", index=True)
    subject_id: int = Field(foreign_key="member.id", index=True)
    about: str = Field(max_length=16)  # answer | obstacle | support
    about_id: int  # the answer's, obstacle's or support request's id
    step: str | None = Field(default=None, max_length=96)  # an answer: which question (wins, blockers, …)
    period: str | None = Field(default=None, max_length=32)  # an answer: its week or month
    in_reply_to: int | None = Field(default=None, foreign_key="answer_reply.id")
    text: str = Field(max_length=4000)  # exactly as typed
    thanks: bool = Field(default=False)  # a specific thank-you (counts toward the digest's thanks nudge)
    created_at: datetime = _utc(index=True)


class ReplyRef(SQLModel, table=True):
    """The numbers a member types to reply (`/reply 3 …`): each member has their own numbers, so a number can only
    ever reach something that was shown to that member. `target` is `answer:12`, `obstacle:4`, `support:7` or
    `reply:9`; whether the member may still reply to it is asked of bot/access.py again at every use."""

    __tablename__ = "reply_ref"
    __table_args__ = (sa.UniqueConstraint("member_id", "target", name="uq_reply_ref_target"),)

    member_id: int = Field(foreign_key="member.id", primary_key=True)
    number: int = Field(sa_column_kwargs={"autoincrement": False}, primary_key=True)
    target: str = Field(max_length=48)
    created_at: datetime = _utc()


class UpwardFeedback(SQLModel, table=True):
    """One answer to the monthly review's upward question, for a manager and a month, with NOTHING that links it to
    its author: no member id, no time, a random key (not a sequence), and on SQLite no rowid (rows are kept in the
    order of the random key). Who answered is counted apart, in `upward_respondent`."""

    __tablename__ = "upward_feedback"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: str = Field(primary_key=True, max_length=32)  # uuid4 hex
    manager_id: int = Field(foreign_key="member.id", index=True)
    period: str = Field(max_length=32)
    text: str = Field(max_length=4000)  # exactly as typed


class UpwardRespondent(SQLModel, table=True):
    """Who gave upward feedback to which manager in which month: counted to decide whether the set may be shown
    (`feedback.upward_min`), never linked to a text (no time, no order)."""

    __tablename__ = "upward_respondent"
    __table_args__ = ({"sqlite_with_rowid": False},)

    manager_id: int = Field(foreign_key="member.id", primary_key=True)
    period: str = Field(primary_key=True, max_length=32)
    member_id: int = Field(foreign_key="member.id", primary_key=True, index=True)


class UpwardAnswer(SQLModel, table=True):
    """A manager's answer to their team's upward feedback of one month; sent to everyone who was asked."""

    __tablename__ = "upward_answer"

    id: int | None = Field(default=None, primary_key=True)
    manager_id: int = Field(foreign_key="member.id", index=True)
    period: str = Field(max_length=32)
    text: str = Field(max_length=4000)
    created_at: datetime = _utc()


class FeedbackRequest(SQLModel, table=True):
    """A member asked one to three colleagues for feedback (Strengths / Improvement / Next steps) about a topic.
    Each colleague's answers are a `feedback` run (period `feedback-<id>`): skipping it is the silent decline.
    Only the requester reads the answers (with the giver's name) — their managers too once `shared_at` is set
    (bot/access.py `may`, Part.REQUESTED_FEEDBACK)."""

    __tablename__ = "feedback_request"

    id: int | None = Field(default=None, primary_key=True)
    requester_id: int = Field(foreign_key="member.id", index=True)
    topic: str = Field(max_length=200)  # as typed
    status: str = Field(default="open", max_length=16, index=True)  # open | closed
    created_at: datetime = _utc()
    closes_at: datetime = _utc(index=True)
    closed_at: datetime | None = _utc(default=None, nullable=True)
    shared_at: datetime | None = _utc(default=None, nullable=True)  # `/feedback share N`: their managers may read


class OneOnOne(SQLModel, table=True):
    """A manager–report pair's 1:1 cadence: proposed by either side, accepted by the other. `next_at` is the next
    planned meeting (UTC; a holiday moves the one it falls on), `agenda_for` the meeting whose agenda was queued,
    `last_at` the last meeting held (what "since last time" means)."""

    __tablename__ = "one_on_one"

    id: int | None = Field(default=None, primary_key=True)
    manager_id: int = Field(foreign_key="member.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    proposed_by: int = Field(foreign_key="member.id")
    cadence: str = Field(max_length=16)  # weekly | biweekly | monthly
    weekday: int  # 0 = Monday
    at_time: str = Field(max_length=5)  # "HH:MM", in `timezone` (the proposer's)
    timezone: str = Field(max_length=64)
    status: str = Field(default="proposed", max_length=16, index=True)  # proposed | active | declined | stopped
    created_at: datetime = _utc()
    decided_at: datetime | None = _utc(default=None, nullable=True)
    next_at: datetime | None = _utc(default=None, nullable=True, index=True)
    agenda_for: datetime | None = _utc(default=None, nullable=True)
    last_at: datetime | None = _utc(default=None, nullable=True)


class OneOnOneItem(SQLModel, table=True):
    """Something on a 1:1's agenda or in its record: a `topic` either side added (`/1on1 add`), a `note` on what
    was said (shared, or `private`: only its author ever reads it), or an `action` (a follow-up, carried until
    ticked). Topics and actions come back on every agenda until `done_at` is set (`/1on1 done N`)."""

    __tablename__ = "one_on_one_item"

    id: int | None = Field(default=None, primary_key=True)
    one_on_one_id: int = Field(foreign_key="one_on_one.id", index=True)
    author_id: int = Field(foreign_key="member.id", index=True)
    kind: str = Field(max_length=16)  # topic | note | action
    text: str = Field(max_length=1000)  # as typed
    private: bool = Field(default=False)
    created_at: datetime = _utc()
    done_at: datetime | None = _utc(default=None, nullable=True)
    done_by: int | None = Field(default=None)
    action_ref: str | None = Field(default=None, max_length=64)  # the development action it became, if any


class Goal(SQLModel, table=True):
    """One goal of one quarter: a member's own (`scope` personal, made with their manager in the quarterly talk) or
    a team's (`scope` team, owned by the team's manager). It may align to a goal one level up (`aligned_to`).
    Co-creation: each side's agreement is kept; an edit by one side clears the other's; agreed when both agree."""

    __tablename__ = "goal"
    __table_args__ = (sa.UniqueConstraint("owner_id", "scope", "quarter", "number", name="uq_goal_owner_quarter"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="member.id", index=True)
    scope: str = Field(default="personal", max_length=16)  # personal | team
    quarter: str = Field(max_length=8, index=True)  # 2027-Q1
    number: int = Field(default=1)  # 1–3, in the order they were set
    text: str = Field(max_length=1000)
    aligned_to: int | None = Field(default=None, foreign_key="goal.id", index=True)
    member_agreed: bool = Field(default=True)
    manager_agreed: bool = Field(default=False)
    source_run_id: int | None = Field(default=None, foreign_key="conversation_run.id")
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    agreed_at: datetime | None = _utc(default=None, nullable=True)  # both sides agreed: one of the quarter's goals


class KeyResult(SQLModel, table=True):
    """A measurable result of a goal: a number from `start` to `target` in `unit`, or done / not done (`target`
    None). `current` is its latest value (the weekly check-in), `done` for the done / not done kind."""

    __tablename__ = "key_result"

    id: int | None = Field(default=None, primary_key=True)
    goal_id: int = Field(foreign_key="goal.id", index=True)
    number: int = Field(default=1)
    text: str = Field(max_length=1000)
    start: float | None = Field(default=None)
    target: float | None = Field(default=None)
    unit: str | None = Field(default=None, max_length=32)
    current: float | None = Field(default=None)
    done: bool = Field(default=False)
    learning: str | None = Field(default=None, max_length=1000)  # the quarterly talk's line about it, as typed
    updated_at: datetime = _utc()


class GoalComment(SQLModel, table=True):
    """A comment on a goal while it is made (the manager's on a draft, or the member's reply), stored as typed."""

    __tablename__ = "goal_comment"

    id: int | None = Field(default=None, primary_key=True)
    goal_id: int = Field(foreign_key="goal.id", index=True)
    author_id: int = Field(foreign_key="member.id", index=True)
    text: str = Field(max_length=2000)
    created_at: datetime = _utc()
