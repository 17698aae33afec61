"""What the platforms ask about forms and buttons: the questions of one run (a form), several answers at once, whether
a button still answers the current question, and who a message is for. Every answer goes through the run engine,
exactly as if it had been typed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager

from sqlmodel import Session

from bot import access
from bot.codec import encode_replies
from bot.engine import RunEngine
from conversations.clock import Clock
from conversations.flows import Flow
from conversations.machine import Reply, RunState, Status, Trigger
from conversations.render import Audience, Renderer
from storage import repo
from storage.models import ConversationRun, Member


def stale_press(run: ConversationRun | None, values: Mapping[str, str]) -> bool:
    """A button on an older message: the question it answers is behind us, so it must not answer this one."""
    return bool(values.get("step")) and (
        run is None or run.flow != values.get("flow") or (run.step or "") != values["step"]
    )


class _FormRefusedError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form refused")
        self.errors = errors


class Forms:
    def __init__(
        self,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
        clock: Clock,
        runs: RunEngine,
        renderer: Renderer,
        skip_level: bool,
        channel_locale: Callable[[str | None], str],
    ) -> None:
        self.transaction = transaction
        self.clock = clock
        self.runs = runs
        self.renderer = renderer
        self.skip_level = skip_level
        self.channel_locale = channel_locale  # the organisation's language on a platform

    def form_for(self, *, platform: str, user: str, run_id: int) -> tuple[Flow, RunState, Member] | None:
        """What a form for one run needs: the flow, the run's state (questions, answers so far) and its member."""
        with self.transaction() as s:
            member = repo.member_by_platform_id(s, platform=platform, user_id=user)
            run = s.get(ConversationRun, run_id)
            if not self._may_answer(s, member, run):
                return None
            assert member is not None and run is not None
            if run.status == Status.SCHEDULED.value:
                self.runs.apply(s, run, member, Trigger.START, None, self.clock.now(), by_member=True)
            return self.runs.flows[run.flow], self.runs.state(s, run, member), member

    def _may_answer(self, s: Session, member: Member | None, run: ConversationRun | None) -> bool:
        """May this platform user open or fill in this run (a form, a button carrying its id)? Only its own,
        active member may (bot/access.py); someone else's run is indistinguishable from a missing one."""
        if run is None or run.flow not in self.runs.flows:
            return False
        subject = s.get(Member, run.member_id)
        return subject is not None and access.may_member(
            s, member, subject, access.Part.ANSWER_RUN, now=self.clock.now(), run=run
        )

    def answers_current_question(self, *, platform: str, user: str, flow: str, step: str) -> bool:
        """Would a button for this question answer the conversation the user is in now? (No: an older message.)"""
        with self.transaction() as s:
            member = repo.member_by_platform_id(s, platform=platform, user_id=user)
            run = repo.active_run(s, member_id=member.id) if member is not None else None  # type: ignore[arg-type]  # a stored member
            return not stale_press(run, {"flow": flow, "step": step})

    def member_locale(self, platform: str, user: str) -> str:
        """The language to answer a platform user in: theirs if they are a member, else the organisation's."""
        with self.transaction() as s:
            member = repo.member_by_platform_id(s, platform=platform, user_id=user)
            return member.locale if member is not None else self.channel_locale(platform)

    def audience_for(self, member: Member) -> Audience:
        """Who a message to `member` is for, with the names the "who sees this" lines use (bot/access.py)."""
        with self.transaction() as s:
            stored = s.get(Member, member.id)
            assert stored is not None
            return access.audience(s, stored, skip_level=self.skip_level)

    def submit_form(
        self, *, platform: str, user: str, run_id: int, values: Mapping[str, str], dedup_key: str
    ) -> dict[str, str]:
        """Answer several questions of one run at once (a form). Each answer goes through the state machine exactly
        as if it had been typed, in question order. Returns {step: message} for answers that do not fit — and
        then nothing at all is saved."""
        now = self.clock.now()
        errors: dict[str, str] = {}
        try:
            with self.transaction() as s:
                if not repo.mark_processed(s, dedup_key=dedup_key, platform=platform, now=now):
                    return {}
                member = repo.member_by_platform_id(s, platform=platform, user_id=user)
                run = repo.lock_run(s, run_id=run_id)
                if not self._may_answer(s, member, run):
                    raise _FormRefusedError({"": "not_yours"})
                assert member is not None and run is not None
                replies: list[Reply] = []
                for step in self.runs.state(s, run, member).steps:
                    text = (values.get(step) or "").strip()
                    if not text:
                        continue
                    if run.step != step and run.status != Status.SCHEDULED.value:
                        run.step = step  # a form may answer in any order; the machine sees one question at a time
                    outcome = self.runs.advance(s, run, member, Trigger.ANSWER, text, now)
                    if not outcome.accepted:
                        raise _FormRefusedError({step: self._text_of(s, member, outcome.replies[:1])})
                    if outcome.reason is not None:  # did not parse: the re-ask's first line is the reason
                        errors[step] = self._text_of(s, member, outcome.replies[:1])
                    replies = list(outcome.replies)
                if errors:
                    raise _FormRefusedError(errors)
                if run.step is not None and run.status == Status.COMPLETED.value:
                    run.step = None  # a form edit never leaves the run half-way through an edit
                    s.add(run)
                if replies:
                    repo.enqueue(
                        s,
                        dedup_key=f"in:{dedup_key}",
                        member_id=member.id,
                        run_id=run.id,
                        kind="reply",
                        body=encode_replies(replies),
                        now=now,
                    )
        except _FormRefusedError as refused:
            return refused.errors
        return {}

    def _text_of(self, s: Session, member: Member, replies: Sequence[Reply]) -> str:
        audience = access.audience(s, member, skip_level=self.skip_level)
        return "\n".join(self.renderer.render(r, audience) for r in replies)
