"""HTTP mode: signed requests in the exact shapes Slack sends, through the WSGI endpoint, and the bot's answers
through the real slack_sdk client to a fake Slack Web API."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from bot.app import Flywheel
from bot.config import parse_config
from bot.platforms.slack.messenger import SlackMessenger
from bot.settings import Settings
from bot.web import create_wsgi
from conversations.clock import FrozenClock
from fakes.slack_api import FakeSlack, Scripted
from storage.db import transaction
from storage.models import Answer, Kudos, Member
from tests.helpers import local
from tests.platforms.test_slack_messenger import ORG

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def sign(body: bytes, ts: str, secret: str = SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()


class Client:
    def __init__(self, wsgi, now):
        self.wsgi = wsgi
        self.now = now

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        ts: str | None = None,
        signature: str | None = None,
        retry: int | None = None,
    ) -> tuple[int, bytes]:
        ts = ts if ts is not None else str(int(self.now()))
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/slack/events",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
            "HTTP_X_SLACK_SIGNATURE": signature if signature is not None else sign(body, ts),
        }
        if retry is not None:
            environ["HTTP_X_SLACK_RETRY_NUM"] = str(retry)
        status = {}

        def start_response(s, headers):
            status["code"] = int(s.split()[0])

        out = b"".join(self.wsgi(environ, start_response))
        return status["code"], out

    def command(self, user: str, command: str, text: str, channel: str = "D0ALICE", **kw) -> tuple[int, bytes]:
        form = {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else "product",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T1/1/x",
            "trigger_id": kw.pop("trigger_id", f"trig-{time.monotonic_ns()}"),
        }
        return self.post(urlencode(form).encode(), "application/x-www-form-urlencoded", **kw)

    def dm(self, user: str, text: str, event_id: str, **kw) -> tuple[int, bytes]:
        payload = {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(self.now()),
            "event": {
                "type": "message",
                "channel_type": "im",
                "user": user,
                "text": text,
                "ts": f"{self.now():.6f}",
                "channel": "D0" + user,
                "event_ts": f"{self.now():.6f}",
                "client_msg_id": event_id.lower(),
            },
        }
        return self.post(json.dumps(payload).encode(), "application/json", **kw)

    def press(
        self,
        user: str,
        value: str,
        action_ts: str,
        step: str = "mood",
        *,
        button: dict | None = None,
        block_id: str | None = None,
        **kw,
    ) -> tuple[int, bytes]:
        # The ids Flywheel gives its buttons (bot/platforms/common.py): answers name the question they answer.
        if button is not None:  # a button element as Flywheel posted it, in its actions block
            action_id, value = button["action_id"], button["value"]
        elif value.startswith("/support"):
            action_id, block_id = "support:handle:1", "support:1"
        elif value.startswith("form:"):
            action_id, block_id = "form:open:1", f"weekly_checkin:{step}"
        elif value == "edit":
            action_id, block_id = "weekly_checkin:edit", "weekly_checkin:edit"
        else:
            action_id = f"weekly_checkin:{value}" if value in ("later", "skip") else f"weekly_checkin:answer:{value}"
            block_id = f"weekly_checkin:{step}"
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": "t." + action_ts,
            "team": {"id": "T1"},
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "D0" + user},
            "channel": {"id": "D0" + user},
            "response_url": "https://hooks.slack.com/actions/T1/1/x",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": {"type": "plain_text", "text": value},
                    "value": value,
                    "type": "button",
                    "action_ts": action_ts,
                }
            ],
        }
        return self.post(
            urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded", **kw
        )


@pytest.fixture
def env(tmp_path):
    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    app = Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"),
        clock=clock,
        config=parse_config({**ORG, "kudos": {"channel": "C0KUDOS"}}, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )
    wsgi = create_wsgi(app, slack_signing_secret=SECRET, poke=app.deliver_outbox, now=lambda: clock.now().timestamp())
    yield app, fake, Client(wsgi, lambda: clock.now().timestamp()), clock
    app.close()
    fake.stop()


def texts(fake, channel):
    return [c.params["blocks"][0]["text"]["text"] for c in fake.posted(channel)]


def test_weekly_check_in_in_the_dm_with_buttons_and_text(env):
    app, fake, client, clock = env
    app.tick()
    assert texts(fake, "UALICE")[0].startswith("Hi Alice 👋")
    assert client.press("UALICE", "4", "1700000001.1")[0] == 200
    assert texts(fake, "UALICE")[-1].startswith("(2/5) What went well")
    for i, answer in enumerate(["Shipped &lt;the&gt; importer &amp; docs", "none", "ship v2; write docs"]):
        assert client.dm("UALICE", answer, f"Ev{i}")[0] == 200
    client.press("UALICE", "skip", "1700000002.2", step="manager_help")  # the optional last question
    assert "check-in done ✅" in texts(fake, "UALICE")[-1]
    assert "Shipped &lt;the&gt; importer &amp; docs" in texts(fake, "UALICE")[-1]  # escaped once, for mrkdwn
    with transaction(app.sessions) as s:
        wins = s.exec(select(Answer).where(Answer.step == "wins")).one().value
    assert wins == "Shipped <the> importer & docs"  # stored as typed


def test_a_button_on_an_older_question_does_not_answer_the_current_one(env):
    app, fake, client, clock = env
    app.tick()
    client.press("UALICE", "4", "1700000001.1")
    assert texts(fake, "UALICE")[-1].startswith("(2/5) What went well")
    client.press("UALICE", "2", "1700000001.2")  # the mood buttons again, now that the question is "wins"
    assert "already been answered" in texts(fake, "UALICE")[-1]
    with transaction(app.sessions) as s:
        assert [(a.step, a.value) for a in s.exec(select(Answer))] == [("mood", 4)]
    client.dm("UALICE", "Shipped it", "Ev1")
    with transaction(app.sessions) as s:
        assert sorted(a.step for a in s.exec(select(Answer))) == ["mood", "wins"]


def test_retries_and_replays_have_no_second_effect(env):
    app, fake, client, clock = env
    app.tick()
    before = len(fake.posted("UALICE"))
    assert client.press("UALICE", "4", "1700000009.9")[0] == 200
    assert client.press("UALICE", "4", "1700000009.9")[0] == 200  # the same press delivered twice
    client.dm("UALICE", "Shipped it", "Ev1")
    for retry in (1, 2, 3):
        assert client.dm("UALICE", "Shipped it", "Ev1", retry=retry)[0] == 200
    assert len(fake.posted("UALICE")) == before + 2
    with transaction(app.sessions) as s:
        assert {a.step: a.value for a in s.exec(select(Answer))} == {"mood": 4, "wins": "Shipped it"}


def test_slash_commands_kudos_in_a_channel(env):
    app, fake, client, clock = env
    code, body = client.command("UALICE", "/kudos", "<@UBO|bo> for the deploy fix #teamwork", channel="C0PRODUCT")
    assert (code, body) == (200, b"")
    assert texts(fake, "C0KUDOS") == ["🎉 Alice → Bo · 🙌 Teamwork\n“for the deploy fix”"]
    assert texts(fake, "UBO")[-1].startswith("🎉 Kudos from Alice: “for the deploy fix”")
    client.command("UBO", "/flywheel", "")
    assert texts(fake, "UBO")[-1].startswith("Flywheel keeps a light, regular conversation")


@pytest.mark.parametrize("case", ["bad", "stale", "future", "non_numeric", "missing", "wrong_secret", "empty"])
def test_bad_signatures_get_401_store_nothing_and_log_no_body(env, case, caplog):
    app, fake, client, clock = env
    caplog.set_level(logging.DEBUG)
    body = urlencode(
        {
            "command": "/kudos",
            "text": "<@UBO> for SENTINEL-BODY",
            "user_id": "UALICE",
            "channel_id": "C1",
            "trigger_id": "t1",
        }
    ).encode()
    now = int(clock.now().timestamp())
    ts, sig = {
        "bad": (str(now), "v0=" + "0" * 64),
        "stale": (str(now - 301), sign(body, str(now - 301))),
        "future": (str(now + 301), sign(body, str(now + 301))),
        "non_numeric": ("yesterday", sign(body, "yesterday")),
        "missing": ("", ""),
        "wrong_secret": (str(now), sign(body, str(now), "another-secret")),
        "empty": (str(now), "v0="),
    }[case]
    code, out = client.post(body, "application/x-www-form-urlencoded", ts=ts, signature=sig)
    assert (code, out) == (401, b'{"ok":false,"error":"invalid_request"}')
    with transaction(app.sessions) as s:
        assert s.exec(select(Kudos)).all() == []
    assert "SENTINEL-BODY" not in caplog.text
    assert fake.calls == []


def test_malformed_but_signed_bodies_get_400_and_huge_ones_413(env):
    app, fake, client, clock = env
    for body, ctype in (
        (b"{not json", "application/json"),
        (b"payload=%7Bbroken", "application/x-www-form-urlencoded"),
        (b"hello=world", "application/x-www-form-urlencoded"),
        (b"[1,2]", "application/json"),
    ):
        assert client.post(body, ctype)[0] == 400
    big = b"x" * (1024 * 1024 + 1)
    assert client.post(big, "application/json")[0] == 413


def test_url_verification_and_health(env):
    app, fake, client, clock = env
    code, out = client.post(
        json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}).encode(), "application/json"
    )
    assert (code, json.loads(out)) == (200, {"challenge": "abc123"})
    status = {}
    out = b"".join(client.wsgi({"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz"}, lambda s, h: status.update(code=s)))
    assert status["code"].startswith("200") and json.loads(out)["database"] is True


def test_support_request_buttons_reach_the_manager_and_the_member_hears_back(env):
    app, fake, client, clock = env
    clock.set(local("Europe/London", 2026, 12, 1, 10, 0))  # December's review is open
    client.command("UALICE", "/review", "")
    client.dm("UALICE", "none", "EvR1")
    client.dm("UALICE", "2 two more days of QA", "EvR2")
    request = fake.posted("UMARIA")[-1].params
    assert request["blocks"][0]["text"]["text"].startswith("🙋 Alice is asking for support: resources.")
    buttons = request["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["I'll handle it", "Let's discuss in our 1:1", "Resolved"]
    payload_value = buttons[0]["value"]
    assert client.press("UMARIA", payload_value, "1700000100.1")[0] == 200
    assert texts(fake, "UMARIA")[-1] == "Done — Alice has been told that you are handling it."
    assert texts(fake, "UALICE")[-1].startswith("👍 Maria is handling your request: “two more days of QA”")


def test_app_home_shows_the_members_own_view(env):
    app, fake, client, clock = env
    payload = {
        "type": "event_callback",
        "event_id": "EvHome1",
        "team_id": "T1",
        "event": {"type": "app_home_opened", "user": "UCHEN", "channel": "D0CHEN", "tab": "home", "event_ts": "1.1"},
    }
    assert client.post(json.dumps(payload).encode(), "application/json")[0] == 200
    published = [c for c in fake.calls if c.method == "views.publish"]
    assert len(published) == 1 and published[0].params["user_id"] == "UCHEN"
    view = published[0].params["view"]
    assert view["type"] == "home" and view["blocks"][0]["text"]["text"].startswith(
        "🪞 陈晨，这是 Flywheel 里关于你的内容。"
    )
    assert fake.posted("UCHEN") == []  # not a DM
    payload["event"]["tab"] = "messages"
    payload["event_id"] = "EvHome2"
    client.post(json.dumps(payload).encode(), "application/json")
    assert len([c for c in fake.calls if c.method == "views.publish"]) == 1


def submission(user: str, view: dict, values: dict) -> dict:
    state = {}
    for block in view["blocks"]:
        step = block["block_id"]
        if step not in values:
            continue
        if block["element"]["type"] == "static_select":
            state[step] = {
                "value": {
                    "type": "static_select",
                    "selected_option": {"text": {"type": "plain_text", "text": values[step]}, "value": values[step]},
                }
            }
        else:
            state[step] = {"value": {"type": "plain_text_input", "value": values[step]}}
    return {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": user},
        "api_app_id": "A1",
        "trigger_id": f"t-{len(str(values))}",
        "view": {
            "id": "V1",
            "hash": f"h-{hash(str(values))}",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": state},
        },
    }


def test_weekly_check_in_answered_in_the_form(env):
    app, fake, client, clock = env
    app.tick()
    client.dm("UALICE", "4", "EvF0")  # one answer typed first: the form comes pre-filled with it
    prompt = fake.posted("UALICE")[0].params
    form_button = [b for b in prompt["blocks"][-1]["elements"] if b["value"].startswith("form:")][0]
    assert client.press("UALICE", form_button["value"], "1700000200.1")[0] == 200
    opened = [c for c in fake.calls if c.method == "views.open"]
    assert len(opened) == 1 and opened[0].params["trigger_id"].startswith("t.")
    view = opened[0].params["view"]
    assert [b["block_id"] for b in view["blocks"]] == ["mood", "wins", "blockers", "priorities", "manager_help"]
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "4"
    assert view["blocks"][0]["label"]["text"].startswith("(1/5) How was your week")
    too_many = submission(
        "UALICE", view, {"mood": "3", "wins": "Shipped", "blockers": "none", "priorities": "a; b; c; d"}
    )
    code, out = client.post(urlencode({"payload": json.dumps(too_many)}).encode(), "application/x-www-form-urlencoded")
    assert code == 200 and json.loads(out) == {
        "response_action": "errors",
        "errors": {"priorities": "That's 4 — please pick at most 3, so they stay priorities."},
    }
    with transaction(app.sessions) as s:
        assert {a.step: a.value for a in s.exec(select(Answer))} == {"mood": 4}  # nothing saved from the bad form
    good = submission(
        "UALICE",
        view,
        {"mood": "3", "wins": "Shipped <it> & more", "blockers": "none", "priorities": "a; b", "manager_help": "no"},
    )
    code, out = client.post(urlencode({"payload": json.dumps(good)}).encode(), "application/x-www-form-urlencoded")
    assert (code, out) == (200, b"")
    with transaction(app.sessions) as s:
        answers = {a.step: a.value for a in s.exec(select(Answer))}
    assert answers == {
        "mood": 3,
        "wins": "Shipped <it> & more",
        "blockers": None,
        "priorities": ["a", "b"],
        "manager_help": None,
    }
    assert "check-in done ✅" in texts(fake, "UALICE")[-1]
    # The same submission delivered again changes nothing.
    client.post(urlencode({"payload": json.dumps(good)}).encode(), "application/x-www-form-urlencoded")
    assert sum("check-in done" in t for t in texts(fake, "UALICE")) == 1


def test_someone_elses_form_cannot_be_opened_or_submitted(env):
    app, fake, client, clock = env
    app.tick()
    run_id = int(
        [b for b in fake.posted("UALICE")[0].params["blocks"][-1]["elements"] if b["value"].startswith("form:")][0][
            "value"
        ].split(":")[1]
    )
    client.press("UBO", f"form:{run_id}", "1700000300.1")
    assert [c for c in fake.calls if c.method == "views.open"] == []
    forged = submission(
        "UBO",
        {
            "callback_id": "flywheel_form",
            "private_metadata": str(run_id),
            "blocks": [{"block_id": "wins", "element": {"type": "plain_text_input"}}],
        },
        {"wins": "forged"},
    )
    assert client.post(urlencode({"payload": json.dumps(forged)}).encode(), "application/x-www-form-urlencoded") == (
        200,
        b"",
    )
    with transaction(app.sessions) as s:
        assert s.exec(select(Answer)).all() == []


def test_flywheel_command_manages_teams_in_chat_with_the_members_consent(tmp_path):
    clock = FrozenClock(local("Europe/London", 2026, 11, 25, 10, 0))
    fake = FakeSlack(clock).start()
    members = [
        {"handle": "ada", "name": "Ada", "slack": "UADA"},
        {"handle": "lee", "name": "Lee", "slack": "ULEE"},
        {"handle": "kim", "name": "Kim", "slack": "UKIM"},
    ]
    app = Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"),
        clock=clock,
        config=parse_config({"members": members, "admins": ["ada"]}, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )
    client = Client(
        create_wsgi(app, slack_signing_secret=SECRET, poke=app.deliver_outbox, now=lambda: clock.now().timestamp()),
        lambda: clock.now().timestamp(),
    )

    def managers() -> dict[str, str | None]:
        with transaction(app.sessions) as s:
            people = {m.id: m.handle for m in s.exec(select(Member))}
            return {m.handle: people.get(m.manager_id) for m in s.exec(select(Member))}

    try:
        client.command("ULEE", "/flywheel", "team add <@UKIM|kim>")
        assert texts(fake, "ULEE")[-1].startswith("I've asked Kim to confirm. Nothing changes until they accept")
        assert managers()["kim"] is None
        ask = fake.posted("UKIM")[-1].params
        assert ask["blocks"][0]["text"]["text"].startswith("👋 Lee would like you to report to them in Flywheel.")
        row = [b for b in ask["blocks"] if b["type"] == "actions"][0]
        assert row["block_id"] == "team:1"
        assert [(e["text"]["text"], e["value"]) for e in row["elements"]] == [
            ("Accept", "/flywheel accept 1"),
            ("Decline", "/flywheel decline 1"),
        ]
        # Someone else pressing Kim's Accept button (a forwarded message, say) changes nothing.
        client.press("UADA", "", "1700000100.1", button=row["elements"][0], block_id=row["block_id"])
        assert texts(fake, "UADA")[-1].startswith("I couldn't find a request #1 waiting for your answer.")
        assert managers()["kim"] is None
        assert client.press("UKIM", "", "1700000100.2", button=row["elements"][0], block_id=row["block_id"])[0] == 200
        assert texts(fake, "UKIM")[-1] == (
            "Done: you now report to Lee in Flywheel. From now on Lee sees your "
            "check-ins, reviews and support requests. Your open support requests went "
            "to Lee too."
        )
        assert texts(fake, "ULEE")[-1].startswith("✅ Kim accepted: they now report to you in Flywheel.")
        assert managers()["kim"] == "lee"
        client.command("UKIM", "/flywheel", "team add <@ULEE|lee>")
        assert texts(fake, "UKIM")[-1] == (
            "I didn't ask Lee: you report to them (directly or further up), so that would "
            "make a loop in the reporting lines."
        )
        client.command("ULEE", "/flywheel", "manager <@UKIM> <@UADA>")
        assert texts(fake, "ULEE")[-1].startswith("Only a Flywheel admin can set someone's manager.")
        client.command("UADA", "/flywheel", "manager <@ULEE> <@UADA>")
        assert texts(fake, "UADA")[-1] == "Lee now reports to Ada in Flywheel."
        assert texts(fake, "ULEE")[-1].startswith(
            "Ada, a Flywheel admin, made themselves your manager. From now on Ada"
        )
        client.command("UADA", "/flywheel", "team")
        assert texts(fake, "UADA")[-1] == "Your direct reports: Lee."
        client.command("UADA", "/flywheel", "")
        assert texts(fake, "UADA")[-1].startswith("Flywheel keeps a light, regular conversation")
    finally:
        app.close()
        fake.stop()


def test_the_admin_hears_once_when_someone_cannot_be_reached(tmp_path):
    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    fake.rule = lambda call: (
        Scripted(200, {"ok": False, "error": "user_not_found"}) if call.params.get("channel") == "UGONE" else None
    )
    members = [{"handle": "ada", "name": "Ada", "slack": "UADA"}, {"handle": "gone", "name": "Gone", "slack": "UGONE"}]
    app = Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"),
        clock=clock,
        config=parse_config({"members": members, "admins": ["ada"]}, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )
    try:
        app.tick()
        clock.set(local("Europe/London", 2026, 11, 27, 19, 0))
        app.tick()  # the reminder fails too
        alerts = [t for t in texts(fake, "UADA") if t.startswith("⚠️")]
        assert alerts == [
            "⚠️ Messages to gone cannot be delivered (user_not_found). Flywheel will keep trying new "
            "messages, but you may want to check that person's account or the channel. "
            "(You will hear about this once.)"
        ]
    finally:
        app.close()
        fake.stop()


def test_retro_summary_goes_into_the_thread_of_the_announcement(env):
    app, fake, client, clock = env
    client.command("UMARIA", "/retro", 'start "Launch" <@UALICE|alice> <@UBO|bo>', channel="C0PRODUCT")
    announce = fake.posted("C0PRODUCT")[0]
    assert announce.params["blocks"][0]["text"]["text"].startswith("🔁 Maria started a retrospective on “Launch”")
    for user, prefix in (("UALICE", "A"), ("UBO", "B")):
        for i, text in enumerate(["goal", "well", "badly", f"<@{user}> fix {prefix}"]):
            client.dm(user, f"{prefix} {text}" if i < 3 else text, f"Ev{user}{i}")
    summary = fake.posted("C0PRODUCT")[-1].params
    with transaction(app.sessions) as s:
        from storage.models import OutboxMessage

        announced_ts = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "retro_announce")).one()
    assert announced_ts.platform_message_id and summary["thread_ts"] == announced_ts.platform_message_id
    assert summary["blocks"][0]["text"]["text"].startswith("🔁 Retrospective: “Launch” · 2 of 2 answered")
    assert "• Alice: fix A" in summary["blocks"][0]["text"]["text"]


def test_a_digest_with_a_support_request_answered_by_a_button_press(env):
    app, fake, client, clock = env
    clock.set(local("Europe/London", 2026, 12, 1, 10, 0))
    app.tick()
    client.dm("UBO", "none", "EvD1")
    client.dm("UBO", "1 a decision on the vendor", "EvD2")
    client.dm("UBO", "negotiation", "EvD3")
    clock.set(local("Europe/London", 2026, 12, 7, 9, 0))
    app.tick()
    digest = [c for c in fake.posted("UMARIA") if "📋" in c.params["blocks"][0]["text"]["text"]][-1].params
    contexts = [b for b in digest["blocks"] if b["type"] == "context"]
    assert contexts[0]["elements"][0]["text"] == "#1 Bo: “a decision on the vendor”"
    actions = [b for b in digest["blocks"] if b["type"] == "actions" and b["block_id"] == "support:1"][0]
    resolved = [e for e in actions["elements"] if e["text"]["text"] == "Resolved"][0]
    assert client.press("UMARIA", resolved["value"], "1700000400.1")[0] == 200
    assert texts(fake, "UBO")[-1].startswith("✅ Maria marked your request as resolved: “a decision on the vendor”")


def test_completed_check_in_offers_an_edit_button(env):
    app, fake, client, clock = env
    app.tick()
    for i, answer in enumerate(["4", "w", "none", "a", "no"]):
        client.dm("UALICE", answer, f"EvE{i}")
    done = fake.posted("UALICE")[-1].params
    assert done["blocks"][-1]["elements"][0]["value"] == "edit"
    client.press("UALICE", "edit", "1700000500.1")
    assert "Which answer would you like to change?" in texts(fake, "UALICE")[-1]


def test_slack_specifics_from_the_review(env):
    app, fake, client, clock = env
    # `/me` is reserved by Slack: `/flywheel me` is the member's own view, with no manager buttons on it.
    client.command("UBO", "/flywheel", "me")
    mine = fake.posted("UBO")[-1].params
    assert mine["blocks"][0]["text"]["text"].startswith("🪞 Here's what Flywheel has about you, Bo.")
    assert not any(b["type"] == "actions" for b in mine["blocks"])
    # Kudos typed in a private channel or a group DM are not posted there (the bot can't); recipients still hear.
    client.command("UALICE", "/kudos", "<@UBO|bo> for the review <#C0TEAM|teamwork>", channel="G0PRIVATE")
    assert fake.posted("G0PRIVATE") == []
    assert (
        fake.posted("C0KUDOS")[-1].params["blocks"][0]["text"]["text"]
        == "🎉 Alice → Bo · 🙌 Teamwork\n“for the review”"
    )
    # ssl_check, and a timestamp that only looks numeric
    assert client.post(b"ssl_check=1&token=x", "application/x-www-form-urlencoded", signature="") == (200, b"")
    assert client.post(b"command=/kudos", "application/x-www-form-urlencoded", ts="\u00b2")[0] == 401
    # An answer sent with a file attached is still an answer.
    app.tick()
    payload = {
        "type": "event_callback",
        "event_id": "EvFile",
        "team_id": "T1",
        "event": {
            "type": "message",
            "subtype": "file_share",
            "channel_type": "im",
            "user": "UALICE",
            "text": "4",
            "ts": "1.2",
            "channel": "D0UALICE",
            "files": [{"id": "F1"}],
        },
    }
    client.post(json.dumps(payload).encode(), "application/json")
    with transaction(app.sessions) as s:
        assert [a.value for a in s.exec(select(Answer)) if a.step == "mood"] == [4]


def test_metrics_in_prometheus_text_format(env):
    app, fake, client, clock = env
    app.tick()
    client.dm("UALICE", "4", "EvM1")
    client.dm("UALICE", "4", "EvM1", retry=1)
    client.post(b"x", "application/json", signature="v0=bad")
    status = {}
    out = b"".join(
        client.wsgi({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics"}, lambda s, h: status.update(code=s, headers=h))
    ).decode()
    assert status["code"].startswith("200")
    assert 'flywheel_messages_sent_total{kind="deliver"} 4.0' in out
    assert 'flywheel_answers_received_total{flow="weekly_checkin"} 1.0' in out
    assert 'flywheel_inbound_events_total{outcome="handled",platform="slack"} 1.0' in out
    assert 'flywheel_inbound_events_total{outcome="duplicate",platform="slack"} 1.0' in out
    assert 'flywheel_inbound_events_total{outcome="bad_signature",platform="slack"} 1.0' in out
    assert 'flywheel_ack_seconds_count{platform="slack"} 3.0' in out
    assert "flywheel_outbox_depth 0.0" in out


def seed_obstacles(app, handle, *texts_):
    from storage import repo
    from storage.models import Obstacle

    now = app.clock.now()
    with transaction(app.sessions) as s:
        member = repo.member_by_handle(s, handle=handle)
        for text in texts_:
            s.add(Obstacle(member_id=member.id, text=text, created_at=now, updated_at=now))


def test_the_follow_up_list_has_a_button_row_per_item_and_each_press_records_that_item(env):
    from storage.models import Obstacle

    app, fake, client, clock = env
    seed_obstacles(app, "alice", "security sign-off", "flaky <CI>")
    app.tick()
    client.press("UALICE", "4", "1700000001.1")
    client.dm("UALICE", "Shipped it", "Ev1")
    blocks = fake.posted("UALICE")[-1].params["blocks"]
    rows = {b["block_id"]: b for b in blocks if b["type"] == "actions"}
    assert list(rows) == ["weekly_checkin:follow_ups#1", "weekly_checkin:follow_ups#2", "weekly_checkin:follow_ups"]
    notes = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert notes == ["1. “security sign-off”", "2. “flaky &lt;CI&gt;”"]  # the item above its buttons, escaped
    second = rows["weekly_checkin:follow_ups#2"]["elements"]
    assert [(e["text"]["text"], e["value"]) for e in second] == [
        ("Resolved", "2 resolved"),
        ("Still blocking", "2 still"),
        ("No longer relevant", "2 no longer relevant"),
    ]
    assert [e["value"] for e in rows["weekly_checkin:follow_ups"]["elements"]] == ["all done", "later", "skip"]
    still = next(e for e in second if e["value"] == "2 still")
    client.press("UALICE", "", "1700000002.1", button=still, block_id="weekly_checkin:follow_ups#2")
    assert texts(fake, "UALICE")[-1].startswith("Noted for 2 ✏️")
    first = next(e for e in rows["weekly_checkin:follow_ups#1"]["elements"] if e["value"] == "1 resolved")
    client.press("UALICE", "", "1700000002.2", button=first, block_id="weekly_checkin:follow_ups#1")  # same message
    assert texts(fake, "UALICE")[-1].startswith("(4/6) Is anything in your way")
    with transaction(app.sessions) as s:
        assert {o.text: o.status for o in s.exec(select(Obstacle))} == {
            "security sign-off": "resolved",
            "flaky <CI>": "open",
        }
        assert {a.step: a.value for a in s.exec(select(Answer)) if ":" in a.step} == {
            "obstacle_status:0": "resolved",
            "obstacle_status:1": "still",
        }
    client.press("UALICE", "", "1700000002.3", button=first, block_id="weekly_checkin:follow_ups#1")
    assert "already been answered" in texts(fake, "UALICE")[-1]  # the list is behind us now
