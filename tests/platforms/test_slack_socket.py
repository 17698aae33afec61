"""Socket Mode reaches the same handlers with the same envelopes, acknowledged first; workspace discovery."""

from __future__ import annotations

import functools
import logging

from slack_sdk import WebClient
from slack_sdk.socket_mode.request import SocketModeRequest
from sqlmodel import select

from bot.platforms.slack import bolt_app
from bot.platforms.slack.directory import sync_users, workspace_users
from bot.platforms.slack.socket import handle_envelope
from storage.db import transaction
from storage.models import Answer, Member
from tests.platforms.test_slack_http import env  # noqa: F401  (the same app, fake Slack and clock)


class FakeSocketClient:
    def __init__(self):
        self.acks = []
        self.logger = logging.getLogger("tests.socket")

    def send_socket_mode_response(self, response):
        self.acks.append(response.envelope_id)


def test_envelopes_are_acked_and_handled_like_http(env):  # noqa: F811
    app, fake, client, clock = env
    app.tick()
    socket = FakeSocketClient()
    bolt = bolt_app.build(app, client=app.messengers["slack"].client, poke=app.deliver_outbox)
    on_request = functools.partial(handle_envelope, bolt)
    event = {
        "type": "event_callback",
        "event_id": "EvS1",
        "team_id": "T1",
        "event": {"type": "message", "channel_type": "im", "user": "UALICE", "text": "4", "ts": "1.1", "channel": "D1"},
    }
    on_request(socket, SocketModeRequest(type="events_api", envelope_id="env-1", payload=event))
    on_request(socket, SocketModeRequest(type="events_api", envelope_id="env-2", payload=event, retry_attempt=1))
    on_request(
        socket,
        SocketModeRequest(
            type="slash_commands",
            envelope_id="env-3",
            payload={
                "command": "/kudos",
                "text": "<@UBO> for pairing",
                "user_id": "UALICE",
                "channel_id": "C0PRODUCT",
                "trigger_id": "trig-s",
            },
        ),
    )
    on_request(
        socket,
        SocketModeRequest(
            type="interactive",
            envelope_id="env-4",
            payload={
                "type": "block_actions",
                "user": {"id": "UALICE"},
                "team": {"id": "T1"},
                "actions": [{"action_id": "weekly_checkin:later", "value": "later", "action_ts": "9.9"}],
            },
        ),
    )
    on_request(socket, SocketModeRequest(type="hello", envelope_id="env-5", payload="not a dict"))
    assert socket.acks == ["env-1", "env-2", "env-3", "env-4", "env-5"]
    with transaction(app.sessions) as s:
        assert [a.value for a in s.exec(select(Answer))] == [4]
    texts = [c.params["blocks"][0]["text"]["text"] for c in fake.posted("UALICE")]
    assert texts[-1].startswith("No problem — I'll come back to you")
    assert any(t.startswith("Thank you for recognising Bo") for t in texts)


def test_workspace_discovery_skips_bots_and_deactivated_users(env):  # noqa: F811
    app, fake, client, clock = env
    fake.users = [
        {"id": "UALICE", "name": "alice", "real_name": "Alice Martin", "tz": "Europe/Paris", "locale": "en-US"},
        {
            "id": "UNEW",
            "name": "wang.fang",
            "real_name": "王芳",
            "tz": "Asia/Shanghai",
            "locale": "zh-CN",
            "team_id": "T1",
        },
        {"id": "UNEW2", "name": "alice", "real_name": "Another Alice", "tz": "Mars/Base"},
        {"id": "UBOT", "name": "deploybot", "is_bot": True},
        {"id": "USLACKBOT", "name": "slackbot"},
        {"id": "UBO", "name": "bo", "deleted": True},
    ]
    web = WebClient(token="xoxb-t", base_url=fake.url)
    with transaction(app.sessions) as s:
        counts = sync_users(s, workspace_users(web), default_timezone="UTC", default_locale="en", now=clock.now())
    assert counts == {"added": 2, "updated": 1, "deactivated": 1, "skipped": 2}
    with transaction(app.sessions) as s:
        by_id = {m.account("slack"): m for m in s.exec(select(Member))}
    assert (by_id["UNEW"].handle, by_id["UNEW"].locale, by_id["UNEW"].timezone) == ("wang.fang", "zh", "Asia/Shanghai")
    assert by_id["UNEW2"].handle == "alice2" and by_id["UNEW2"].timezone == "UTC"
    assert by_id["UALICE"].timezone == "Europe/Paris" and by_id["UALICE"].manager_id is not None  # org file kept
    assert by_id["UBO"].active is False
    assert [c.params.get("include_locale") for c in fake.calls if c.method == "users.list"] in (["true"], [True], ["1"])
