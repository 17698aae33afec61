"""Outbound to Slack: the real slack_sdk client against a fake Slack Web API on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import Flywheel
from bot.config import parse_config
from bot.platforms.base import OutboundMessage, Recipient, SendError
from bot.platforms.slack.blocks import mrkdwn_escape, split_text
from bot.platforms.slack.messenger import SlackMessenger
from bot.settings import Settings
from conversations.clock import FrozenClock
from conversations.events import InboundEvent
from fakes.slack_api import FakeSlack, Scripted
from tests.helpers import local, utc

ORG = {
    "members": [
        {"handle": "maria", "name": "Maria", "slack": "UMARIA", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice", "slack": "UALICE", "manager": "maria", "timezone": "Europe/London"},
        {"handle": "bo", "name": "Bo", "slack": "UBO", "manager": "maria", "timezone": "Europe/London"},
        {
            "handle": "chen",
            "name": "陈晨",
            "slack": "UCHEN",
            "manager": "maria",
            "timezone": "Europe/London",
            "locale": "zh",
        },
    ]
}


@pytest.fixture
def slack():
    clock = FrozenClock(utc(2026, 11, 23, 9, 0))
    fake = FakeSlack(clock).start()
    yield fake, clock
    fake.stop()


def make_app(tmp_path, fake, clock):
    messenger = SlackMessenger.from_settings("xoxb-test-token", fake.url)
    return Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"),
        clock=clock,
        config=parse_config(ORG, source="test"),
        messengers={"slack": messenger},
    )


def test_prompts_are_dms_with_answer_buttons_in_each_language(tmp_path, slack):
    fake, clock = slack
    app = make_app(tmp_path, fake, clock)
    try:
        clock.set(local("Europe/London", 2026, 11, 27, 15, 0))
        app.tick()
        posts = {c.params["channel"]: c for c in fake.posted()}
        assert set(posts) == {"UMARIA", "UALICE", "UBO", "UCHEN"}
        alice = posts["UALICE"].params
        assert posts["UALICE"].token == "xoxb-test-token"
        assert alice["blocks"][0]["text"]["text"].startswith("Hi Alice 👋 Time for your weekly check-in")
        buttons = alice["blocks"][-1]["elements"]
        assert [b["value"] for b in buttons][:7] == ["1", "2", "3", "4", "5", "later", "skip"]
        assert buttons[7]["value"].startswith("form:") and buttons[7]["text"]["text"] == "Answer in a form"
        assert [b["text"]["text"] for b in posts["UCHEN"].params["blocks"][-1]["elements"]][-3:] == [
            "稍后",
            "跳过",
            "用表单回答",
        ]
        assert alice["metadata"]["event_type"] == "flywheel_outbox"
    finally:
        app.close()


def test_429_is_retried_only_after_retry_after_and_others_are_not_held_up(tmp_path, slack):
    fake, clock = slack
    fake.rule = lambda call: (
        Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
        if call.params.get("channel") == "UBO" and len(fake.posted("UBO")) == 1
        else None
    )
    app = make_app(tmp_path, fake, clock)
    try:
        due = local("Europe/London", 2026, 11, 27, 15, 0)
        clock.set(due)
        app.tick()
        assert {c.params["channel"] for c in fake.posted()} == {"UMARIA", "UALICE", "UBO", "UCHEN"}
        clock.set(due + timedelta(seconds=6))
        app.tick()
        assert len(fake.posted("UBO")) == 1  # not yet: Retry-After is 7 s
        clock.set(due + timedelta(seconds=7))
        app.tick()
        assert len(fake.posted("UBO")) == 2 and fake.violations == []
        assert [len(fake.posted(u)) for u in ("UMARIA", "UALICE", "UCHEN")] == [1, 1, 1]
    finally:
        app.close()


@pytest.mark.parametrize(
    ("status", "body", "permanent"),
    [
        (200, {"ok": False, "error": "user_not_found"}, True),
        (200, {"ok": False, "error": "channel_not_found"}, True),
        (200, {"ok": False, "error": "not_in_channel"}, True),
        (503, {"ok": False, "error": "service_unavailable"}, False),
        (500, {"ok": False}, False),
    ],
)
def test_errors_are_classified(slack, status, body, permanent):
    fake, _ = slack
    fake.script["chat.postMessage"] = [Scripted(status, body)]
    messenger = SlackMessenger.from_settings("xoxb-t", fake.url)
    with pytest.raises(SendError) as info:
        messenger.send(Recipient("slack", "UX"), OutboundMessage(text="hi"))
    assert info.value.permanent is permanent


def test_user_text_is_escaped_for_mrkdwn_only(tmp_path, slack):
    fake, clock = slack
    app = make_app(tmp_path, fake, clock)
    try:
        app.handle(
            InboundEvent(
                platform="slack",
                user="UALICE",
                kind="message",
                text="/kudos @bo for fixing <!channel> & \"quotes\" 'x'",
                dedup_key="Ev1",
                received_at=clock.now(),
            )
        )
        app.deliver_outbox()
        to_bo = fake.posted("UBO")[0].params["blocks"][0]["text"]["text"]
        assert "&lt;!channel&gt; &amp; \"quotes\" 'x'" in to_bo
    finally:
        app.close()


def test_long_text_is_split_into_sections_and_messages_without_losing_anything(slack):
    fake, _ = slack
    text = "\n".join(f"line {i} " + "z" * 200 for i in range(800))
    SlackMessenger.from_settings("xoxb-t", fake.url).send(Recipient("slack", "UX"), OutboundMessage(text=text))
    sections = [b["text"]["text"] for c in fake.posted() for b in c.params["blocks"]]
    assert all(len(s) <= 3000 for s in sections)
    assert all(len(c.params["blocks"]) <= 50 for c in fake.posted())
    assert len(fake.posted()) >= 2
    assert "\n".join(sections) == text


def test_escape_and_split_units():
    assert mrkdwn_escape("<@U1> & <!here>") == "&lt;@U1&gt; &amp; &lt;!here&gt;"
    assert split_text("") == [""]
    assert "".join(split_text("x" * 6500)) == "x" * 6500


def test_status_is_read_from_users_info(slack):
    fake, _clock = slack
    fake.users = [
        {
            "id": "UALICE",
            "profile": {"status_text": "On vacation", "status_emoji": ":palm_tree:", "status_expiration": 0},
        }
    ]
    messenger = SlackMessenger.from_settings("xoxb-test-token", fake.url)
    assert messenger.status("UALICE") == {
        "status_text": "On vacation",
        "status_emoji": ":palm_tree:",
        "status_expiration": 0,
    }
    assert [c.method for c in fake.calls] == ["users.info"]
    with pytest.raises(SendError):
        messenger.status("UNOBODY")  # user_not_found: the caller treats a failed lookup as "not away"
