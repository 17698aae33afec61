"""Stopping (SIGTERM): the sender finishes the message in hand, records it, and hands back the rest of its claimed
batch — pending again, unleased, the attempt it never made given back — and starts nothing more."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.codec import encode_replies
from conversations.machine import Reply
from storage import repo
from storage.db import transaction
from storage.models import Member, OutboxMessage
from tests.helpers import make_harness, utc


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_stopping_in_the_middle_of_a_batch_hands_back_what_was_not_started(database, tmp_path, request):
    url = request.getfixturevalue("postgres_url") if database == "postgres" else None
    h = make_harness(tmp_path, start=utc(2026, 11, 24, 10, 0), database_url=url)
    try:
        with transaction(h.app.sessions) as s:
            members = list(s.exec(select(Member).order_by(Member.id)))
            for m in members:
                repo.enqueue(
                    s,
                    dedup_key=f"t:{m.id}",
                    member_id=m.id,
                    kind="admin_alert",
                    now=h.clock.now(),
                    body=encode_replies([Reply("common/admin_send_failed", {"who": "x", "reason": "y"})]),
                )

        def stop_during_the_second(recipient, message):
            if len(h.fake.sent) == 1:
                h.app.stop_sending()  # the signal arrives while the second message is being sent
            return None

        h.fake.fail_with = stop_during_the_second
        assert h.app.deliver_outbox() == (2, 0)
        assert h.app.deliver_outbox() == (0, 0)  # and nothing more is started
        with transaction(h.app.sessions) as s:
            rows = list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)))
            states = [(r.status, r.lease_owner, r.lease_until, r.attempts) for r in rows]
        assert len(rows) == len(members) == 4
        assert states[:2] == [("sent", None, None, 1)] * 2
        assert states[2:] == [("pending", None, None, 0)] * 2
    finally:
        h.app.close()
