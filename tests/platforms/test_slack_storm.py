"""A rate-limit and error storm on a simulated clock: 20 % of calls get 429 with Retry-After (1–30 s), 2 % get
429 without it, 2 % get 503. Nothing is lost, nothing is sent twice, and no call reaches Slack before its
Retry-After has passed (checked by the fake server against the same clock)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from bot.app import Flywheel
from bot.config import parse_config
from bot.platforms.slack.messenger import SlackMessenger
from bot.settings import Settings
from conversations.clock import FrozenClock
from fakes.slack_api import FakeSlack, Scripted
from tests.helpers import local, utc

MEMBERS = 200


def test_storm_of_429s_and_503s(tmp_path):
    rng = random.Random(20261127)
    clock = FrozenClock(utc(2026, 11, 23))
    fake = FakeSlack(clock).start()
    ok_posts: Counter[str] = Counter()

    def storm(call):
        if call.method != "chat.postMessage":
            return None
        roll = rng.random()
        if roll < 0.20:
            return Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(rng.randint(1, 30))})
        if roll < 0.22:
            return Scripted(429, {"ok": False, "error": "ratelimited"})
        if roll < 0.24:
            return Scripted(503, {"ok": False, "error": "service_unavailable"})
        ok_posts[call.params["channel"]] += 1
        return None

    fake.rule = storm
    org = {
        "members": [
            {"handle": f"p{i}", "name": f"P{i}", "slack": f"U{i:04d}", "timezone": "Europe/London"}
            for i in range(MEMBERS)
        ]
    }
    app = Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"),
        clock=clock,
        config=parse_config(org, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )
    try:
        due = local("Europe/London", 2026, 11, 27, 15, 0)
        clock.set(due)
        app.tick()
        for _ in range(200):  # follow the outbox's own retry times, never the wall clock
            if sum(ok_posts.values()) >= MEMBERS:
                break
            nxt = app.next_wakeup(clock.now())
            assert nxt is not None and nxt < due + timedelta(hours=1)
            clock.set(nxt)
            app.deliver_outbox()
        assert ok_posts == Counter({f"U{i:04d}": 1 for i in range(MEMBERS)})  # each prompt exactly once
        assert fake.violations == []  # nobody was called before their Retry-After
        throttled = [c for c in fake.calls if c.method == "chat.postMessage"]
        assert len(throttled) > MEMBERS * 1.15  # the storm really happened
        assert clock.now() - due < timedelta(minutes=10)
    finally:
        app.close()
        fake.stop()


def test_a_crash_between_posting_and_recording_does_not_send_twice(tmp_path):
    """The sender dies after Slack accepted the message but before the outbox says so; after the lease runs out, the
    next sender finds the message (by the outbox id in its metadata) and does not post it again."""
    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    org = {
        "members": [
            {"handle": "ann", "name": "Ann", "slack": "UANN", "timezone": "Europe/London"},
            {"handle": "ben", "name": "Ben", "slack": "UBEN", "timezone": "Europe/London"},
        ]
    }
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}")
    first = Flywheel.build(
        settings,
        clock=clock,
        config=parse_config(org, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )

    class Crash(BaseException):
        pass

    messenger = first.messengers["slack"]
    real = messenger.send
    sent_once: list[int] = []

    def send_then_die(recipient, message):
        if recipient and recipient.address == "UANN" and not sent_once:
            real(recipient, message)  # Slack has it…
            sent_once.append(message.outbox_id)
            raise Crash()  # …and the process dies before recording that
        return real(recipient, message)

    messenger.send = send_then_die
    try:
        first.tick()
    except Crash:
        pass
    first.close()
    assert len(fake.posted("UANN")) == 1
    second = Flywheel.build(
        settings,
        clock=clock,
        config=parse_config(org, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )
    try:
        clock.set(clock.now() + timedelta(minutes=3))  # past the dead sender's lease
        second.tick()
        assert len(fake.posted("UANN")) == 1  # found in the DM history, not sent again
        assert len(fake.posted("UBEN")) == 1
        # both of the dead sender's claimed messages were checked; only Ben's had not gone out
        assert [c.method for c in fake.calls].count("conversations.history") == 2
    finally:
        second.close()
        fake.stop()


def test_the_pump_wakes_when_a_held_back_message_falls_due(tmp_path):
    """After a 429 the pump sleeps until the message's Retry-After, not its whole polling interval."""
    from bot.outbox import MIN_WAIT, OutboxPump

    clock = FrozenClock(utc(2026, 11, 23))
    fake = FakeSlack(clock).start()
    refused: list[str] = []

    def limit(call):
        if call.method == "chat.postMessage" and not refused:
            refused.append(call.params["channel"])
            return Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "2"})
        return None

    fake.rule = limit
    org = {"members": [{"handle": "ana", "name": "Ana", "slack": "U0001", "timezone": "Europe/London"}]}
    app = Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}"),
        clock=clock,
        config=parse_config(org, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )
    pump = OutboxPump(app.outbox, interval=5.0)  # not started: its decisions, on the test's clock
    try:
        assert pump.next_wait() == 5.0  # nothing waits
        clock.set(local("Europe/London", 2026, 11, 27, 15, 0))
        app.tick()  # the check-in is refused once: Retry-After 2 s
        assert refused == ["U0001"]
        assert pump.next_wait() == 2.0
        clock.advance(timedelta(seconds=1.5))
        assert pump.next_wait() == 0.5
        clock.advance(timedelta(seconds=1))
        assert pump.next_wait() == MIN_WAIT  # overdue: at once
        app.deliver_outbox()
        assert pump.next_wait() == 5.0
        assert [c.params["channel"] for c in fake.calls if c.method == "chat.postMessage"] == ["U0001", "U0001"]
    finally:
        app.close()
        fake.stop()
