"""A message that may already be in Slack is never posted blindly again.

`chat.postMessage` has no idempotency key. Whenever an attempt may have reached Slack without us learning so — the
sender died (its lease ran out), the answer was lost (connection dropped, timeout, 5xx) — the next attempt first
looks for the outbox id in the DM history, and keeps doing so until one attempt has a definite outcome.
"""

from __future__ import annotations

from datetime import timedelta

from bot.app import Flywheel
from bot.config import parse_config
from bot.platforms.slack.messenger import SlackMessenger
from bot.settings import Settings
from conversations.clock import FrozenClock
from fakes.slack_api import FakeSlack, Scripted
from tests.helpers import local

ORG = {"members": [{"handle": "ann", "name": "Ann", "slack": "UANN", "timezone": "Europe/London"}]}


def _app(tmp_path, clock, fake):
    return Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"),
        clock=clock,
        config=parse_config(ORG, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )


def _methods(fake: FakeSlack) -> list[str]:
    return [c.method for c in fake.calls if c.method in ("chat.postMessage", "conversations.history")]


def test_a_lost_answer_is_neither_retried_by_the_sdk_nor_reposted_blindly(tmp_path):
    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    dropped: list[str] = []

    def drop_first_post(call, answer):
        if call.method == "chat.postMessage" and not dropped:
            dropped.append(call.params["channel"])
            return False  # Slack has the message; the connection dies before the answer
        return None

    fake.gate = drop_first_post
    app = _app(tmp_path, clock, fake)
    try:
        app.tick()
        assert dropped == ["UANN"]
        assert len(fake.delivered) == 1  # the SDK did not quietly post it a second time
        for _ in range(3):  # the outbox retries (after its backoff) and finds it in the DM history
            clock.advance(timedelta(minutes=1))
            app.deliver_outbox()
        assert len(fake.posted("UANN")) == 1 and len(fake.delivered) == 1
        assert _methods(fake) == ["chat.postMessage", "conversations.history"]
        assert app.outbox_depth() == 0
    finally:
        app.close()
        fake.stop()


def test_a_reconciliation_that_fails_is_tried_again_before_posting(tmp_path):
    """The sender died after Slack took the message; its successor's history lookup is rate-limited. The attempt
    after that must still look first, not post."""
    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    first = _app(tmp_path, clock, fake)

    class Crash(BaseException):
        pass

    def send_then_die(outbox_id, recipient, message):
        first.messengers["slack"].send(recipient, message)
        raise Crash()

    first.outbox._attempt = send_then_die  # type: ignore[method-assign]
    try:
        first.tick()
    except Crash:
        pass
    first.close()
    second = _app(tmp_path, clock, fake)
    try:
        fake.script["conversations.history"] = [
            Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"})
        ]
        clock.advance(timedelta(minutes=3))  # past the dead sender's lease
        second.deliver_outbox()
        clock.advance(timedelta(seconds=6))
        second.deliver_outbox()
        assert len(fake.posted("UANN")) == 1
        assert _methods(fake) == ["chat.postMessage", "conversations.history", "conversations.history"]
        assert second.outbox_depth() == 0
    finally:
        second.close()
        fake.stop()


def test_a_definite_refusal_is_retried_without_a_lookup(tmp_path):
    """A 429 on the post itself means Slack did not take it: the retry just posts (no history call)."""
    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    fake.script["chat.postMessage"] = [Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"})]
    app = _app(tmp_path, clock, fake)
    try:
        app.tick()
        clock.advance(timedelta(seconds=4))
        app.deliver_outbox()
        assert _methods(fake) == ["chat.postMessage", "chat.postMessage"]
        assert len(fake.delivered) == 1 and app.outbox_depth() == 0
    finally:
        app.close()
        fake.stop()


def test_a_slow_sender_stops_before_its_lease_runs_out_under_it(tmp_path):
    """Slack answers slowly (10 s a post on the test clock). Replica A claimed 20 messages under a 120 s lease;
    by its 13th post that lease has run out and replica B, ticking meanwhile, may take the rest over. A must not
    go on posting messages that are no longer its own: each member still gets exactly one."""
    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    org = {
        "members": [
            {"handle": f"p{i}", "name": f"P{i}", "slack": f"U{i:03d}", "timezone": "Europe/London"} for i in range(20)
        ]
    }
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}")
    a, b = (
        Flywheel.build(
            settings,
            clock=clock,
            config=parse_config(org, source="test"),
            messengers={"slack": SlackMessenger.from_settings(token, fake.url)},
        )
        for token in ("xoxb-a", "xoxb-b")
    )
    posts_by_a: list[str] = []

    def slow_slack(call, answer):
        if call.method == "chat.postMessage" and call.token == "xoxb-a":
            posts_by_a.append(call.params["channel"])
            clock.advance(timedelta(seconds=10))
            if len(posts_by_a) == 13:
                b.deliver_outbox()  # B's pump runs while A is still busy
        return None

    fake.gate = slow_slack
    try:
        a.tick()
        b.deliver_outbox()
        a.deliver_outbox()
        assert sorted(c.params["channel"] for c, _ts in fake.delivered) == [f"U{i:03d}" for i in range(20)]
        assert a.outbox_depth() == 0
    finally:
        a.close()
        b.close()
        fake.stop()
