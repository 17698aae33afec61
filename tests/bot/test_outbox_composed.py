"""The outbox stands on its own: built from what it is given (no `Flywheel`), on the real clock — so its leases are on
the database's clock — it claims, fences, sends and records; a message another sender has taken over is not sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.calendar import Calendars
from bot.codec import encode_replies
from bot.metrics import Metrics
from bot.outbox import Outbox
from bot.platforms.base import OutboundMessage, Recipient, SendResult
from bot.settings import Settings
from conversations.clock import SystemClock
from conversations.machine import Reply
from conversations.render import Renderer
from storage import repo
from storage.db import create_db_engine, session_factory, transaction, upgrade
from storage.models import OutboxMessage


class Recorder:
    platform = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None]] = []
        self.escape = staticmethod(lambda text: text)
        self.before_send = lambda: None

    def send(self, recipient: Recipient, message: OutboundMessage) -> SendResult:
        self.before_send()
        self.sent.append((recipient.address, message.outbox_id))
        return SendResult(message_id=f"m{message.outbox_id}")


@pytest.fixture(params=["sqlite", "postgres"])
def outbox(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url)
    messengers = {"console": Recorder()}
    yield Outbox(
        sessions=session_factory(engine),
        messengers=messengers,
        clock=SystemClock(),
        renderer=Renderer(),
        metrics=Metrics(),
        owner="replica-a",
        calendars=Calendars(messengers=messengers),
        settings=lambda: settings,
    )
    engine.dispose()


def _queue(outbox: Outbox, *keys: str) -> None:
    now = datetime.now(UTC) - timedelta(seconds=1)
    with transaction(outbox.sessions) as s:
        for key in keys:
            repo.enqueue(
                s,
                dedup_key=key,
                member_id=None,
                channel=f"console:{key}",
                kind="reply",
                body=encode_replies([Reply("common/not_understood")]),
                now=now,
            )


def _status(outbox: Outbox) -> dict[str, str]:
    with transaction(outbox.sessions) as s:
        return {row.channel: row.status for row in s.exec(select(OutboxMessage))}


def test_a_composed_outbox_sends_on_the_database_clock(outbox):
    assert outbox.leases_on_db_clock  # the real clock: leases on the database's
    _queue(outbox, "ann", "bo")
    assert outbox.depth() == 2
    assert outbox.deliver() == (2, 0)
    assert sorted(a for a, _ in outbox.messengers["console"].sent) == ["ann", "bo"]
    assert _status(outbox) == {"console:ann": "sent", "console:bo": "sent"}
    assert outbox.next_due() is None and outbox.depth() == 0


def test_what_another_sender_took_over_mid_batch_is_not_sent(outbox):
    _queue(outbox, "ann", "bo", "cy")
    recorder = outbox.messengers["console"]
    elapsed = [0.0]
    outbox.monotonic = lambda: elapsed[0]  # the sender's own monotonic clock, moved by the test

    def take_over_the_rest() -> None:  # while the first message is being sent, another replica takes the rest
        if not recorder.sent:
            elapsed[0] += outbox.fresh + 0.001  # the send stalls: the batch's fence no longer vouches for the rest
            with transaction(outbox.sessions) as s:
                s.execute(
                    OutboxMessage.__table__.update()  # type: ignore[attr-defined]
                    .where(OutboxMessage.channel.in_(["console:bo", "console:cy"]))  # type: ignore[union-attr]
                    .values(lease_owner="replica-b")
                )

    recorder.before_send = take_over_the_rest
    assert outbox.deliver() == (1, 0)
    assert [a for a, _ in recorder.sent] == ["ann"]
    assert _status(outbox) == {"console:ann": "sent", "console:bo": "sending", "console:cy": "sending"}


def test_one_fence_vouches_for_the_rest_of_its_batch_while_it_is_fresh(outbox):
    """One statement confirms and extends the leases of the batch's unsent messages; the next messages go on that
    answer for `fresh` seconds of the sender's monotonic clock, then the next one asks again for the rest."""
    _queue(outbox, "ann", "bo", "cy", "di")
    recorder = outbox.messengers["console"]
    elapsed = [0.0]
    outbox.monotonic = lambda: elapsed[0]
    fences: list[list[int]] = []
    fence = repo.fence_outbox

    def counted(s, *, ids, **kw):
        fences.append(list(ids))
        return fence(s, ids=ids, **kw)

    def bo_stalls() -> None:
        if [a for a, _ in recorder.sent] == ["ann"]:  # sending bo's takes longer than the fence stays fresh
            elapsed[0] += outbox.fresh + 0.001

    recorder.before_send = bo_stalls
    repo.fence_outbox = counted  # type: ignore[assignment]
    try:
        assert outbox.deliver() == (4, 0)
    finally:
        repo.fence_outbox = fence  # type: ignore[assignment]
    ids = [i for _, i in recorder.sent]
    assert [a for a, _ in recorder.sent] == ["ann", "bo", "cy", "di"]
    assert fences == [ids, ids[2:]]  # the whole batch at first; after the stall, what was left of it
    assert _status(outbox) == dict.fromkeys(("console:ann", "console:bo", "console:cy", "console:di"), "sent")
