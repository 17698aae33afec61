"""Slack through slack-bolt: what our guard in front of Bolt keeps (401 for every bad request, 400 for a signed one
that is not Slack's, nothing of it logged), what Bolt alone would get wrong, and Socket Mode through Bolt's adapter."""

from __future__ import annotations

import functools
import json
import logging
from urllib.parse import urlencode

import pytest
from slack_sdk.socket_mode.request import SocketModeRequest
from sqlmodel import select

from bot.platforms.slack import bolt_app
from bot.platforms.slack.socket import handle_envelope
from storage.db import transaction
from storage.models import Answer, Kudos
from tests.platforms.test_slack_http import env, sign, submission, texts  # noqa: F401  (the same app and fake Slack)

REJECTED = b'{"ok":false,"error":"invalid_request"}'
SENTINEL = "SENTINEL-typed-by-a-person"


def leaked(caplog) -> list[str]:
    """Records at WARNING and above (what bot/logs.py lets through from libraries) that carry what was typed."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and (SENTINEL in r.getMessage() or SENTINEL in (r.exc_text or ""))
    ]


@pytest.mark.parametrize("case", ["non_ascii_signature", "non_utf8_body", "long_timestamp", "spaces"])
def test_what_stock_bolt_answers_500_to_is_a_401(env, case, caplog):  # noqa: F811
    app, fake, client, clock = env
    caplog.set_level(logging.DEBUG)
    body = urlencode({"command": "/kudos", "text": f"<@UBO> {SENTINEL}", "user_id": "UALICE"}).encode()
    now = str(int(clock.now().timestamp()))
    ts, sig = {
        "non_ascii_signature": (now, "v0=é" + "0" * 63),
        "non_utf8_body": (now, None),
        "long_timestamp": ("0" * 13 + now, sign(body, "0" * 13 + now)),
        "spaces": (f" {now}", sign(body, f" {now}")),
    }[case]
    if case == "non_utf8_body":
        body = b"\xff\xfe" + body
        sig = sign(body, now)  # signed with our secret, yet not text: not from Slack
    assert client.post(body, "application/x-www-form-urlencoded", ts=ts, signature=sig) == (401, REJECTED)
    with transaction(app.sessions) as s:
        assert s.exec(select(Kudos)).all() == []
    assert SENTINEL not in caplog.text
    assert fake.calls == []


def test_a_command_whose_text_says_payload_is_still_a_command(env):  # noqa: F811
    """Bolt's own form parser reads any body containing "payload" as an interaction and drops it."""
    app, fake, client, clock = env
    assert client.command("UALICE", "/kudos", "<@UBO|bo> for the payload fix", channel="C0PRODUCT") == (200, b"")
    assert len(texts(fake, "C0KUDOS")) == 1 and "“for the payload fix”" in texts(fake, "C0KUDOS")[0]


def test_nothing_asks_slack_who_we_are(env):  # noqa: F811
    """No auth.test, neither when the app is built nor on a request: a replica works while Slack's API is away."""
    app, fake, client, clock = env
    bolt_app.build(app, client=app.messengers["slack"].client)
    client.command("UBO", "/flywheel", "")
    client.dm("UALICE", "hello", "EvA1")
    assert fake.calls and "auth.test" not in [c.method for c in fake.calls]


def test_requests_bolt_has_no_listener_for_or_cannot_read_log_nothing_typed(env, caplog):  # noqa: F811
    app, fake, client, clock = env
    caplog.set_level(logging.DEBUG)
    other_event = {
        "type": "event_callback",
        "event_id": "EvX1",
        "team_id": "T1",
        "event": {"type": "reaction_added", "user": "UALICE", "reaction": SENTINEL, "item": {"type": "message"}},
    }
    assert client.post(json.dumps(other_event).encode(), "application/json") == (200, b"")
    shortcut = {"type": "shortcut", "callback_id": SENTINEL, "trigger_id": "t1", "user": {"id": "UALICE"}}
    form = urlencode({"payload": json.dumps(shortcut)}).encode()
    assert client.post(form, "application/x-www-form-urlencoded") == (200, b"")
    closed = {"type": "view_closed", "user": {"id": "UALICE"}, "view": {"id": "V1", "callback_id": SENTINEL}}
    assert (
        client.post(urlencode({"payload": json.dumps(closed)}).encode(), "application/x-www-form-urlencoded")[0] == 200
    )
    # Listeners refusing what is not in Slack's shape: a 400, and the error handler logs no payload
    bad_button = {
        "type": "block_actions",
        "user": {"id": "UALICE"},
        "actions": [{"action_id": "form:open:1", "value": "form:" + SENTINEL, "action_ts": "1.1"}],
    }
    form = urlencode({"payload": json.dumps(bad_button)}).encode()
    assert client.post(form, "application/x-www-form-urlencoded") == (400, REJECTED)
    no_user = urlencode({"command": "/kudos", "text": SENTINEL}).encode()
    assert client.post(no_user, "application/x-www-form-urlencoded") == (400, REJECTED)
    no_type = {"type": "event_callback", "event_id": "EvX2", "event": {"text": SENTINEL}}
    assert client.post(json.dumps(no_type).encode(), "application/json") == (200, b"")  # ignored, as before
    assert leaked(caplog) == []
    assert [c.method for c in fake.calls if c.method != "auth.test"] == []


def test_a_listener_failing_is_still_acknowledged_and_logs_nothing_typed(env, caplog):  # noqa: F811
    app, fake, client, clock = env
    caplog.set_level(logging.DEBUG)

    def broken(event):
        raise RuntimeError("the database is away")

    app.handle = broken
    assert client.dm("UALICE", SENTINEL, "EvBroken", retry=1) == (200, b"")
    assert any("handling a Slack message failed (retry 1)" in r.getMessage() for r in caplog.records)
    assert leaked(caplog) == []


class FakeSocketClient:
    def __init__(self):
        self.responses = []
        self.logger = logging.getLogger("tests.socket")

    def send_socket_mode_response(self, response):
        self.responses.append(response)


def test_socket_mode_form_errors_travel_in_the_ack_and_every_envelope_is_acked(env):  # noqa: F811
    app, fake, client, clock = env
    app.tick()
    socket = FakeSocketClient()
    on_request = functools.partial(handle_envelope, bolt_app.build(app, client=app.messengers["slack"].client))
    prompt = fake.posted("UALICE")[0].params
    form_button = [b for b in prompt["blocks"][-1]["elements"] if b["value"].startswith("form:")][0]
    press = {
        "type": "block_actions",
        "user": {"id": "UALICE"},
        "team": {"id": "T1"},
        "trigger_id": "t.form",
        "actions": [{"action_id": form_button["action_id"], "value": form_button["value"], "action_ts": "2.2"}],
    }
    on_request(socket, SocketModeRequest(type="interactive", envelope_id="e1", payload=press))
    view = [c for c in fake.calls if c.method == "views.open"][0].params["view"]
    too_many = submission("UALICE", view, {"mood": "3", "wins": "w", "blockers": "none", "priorities": "a; b; c; d"})
    on_request(socket, SocketModeRequest(type="interactive", envelope_id="e2", payload=too_many))
    on_request(socket, SocketModeRequest(type="interactive", envelope_id="e3", payload={"type": "block_actions"}))
    on_request(socket, SocketModeRequest(type="events_api", envelope_id="e4", payload={"type": "app_rate_limited"}))
    assert [r.envelope_id for r in socket.responses] == ["e1", "e2", "e3", "e4"]
    assert socket.responses[1].payload == {
        "response_action": "errors",
        "errors": {"priorities": "That's 4 — please pick at most 3, so they stay priorities."},
    }
    with transaction(app.sessions) as s:
        assert s.exec(select(Answer)).all() == []
