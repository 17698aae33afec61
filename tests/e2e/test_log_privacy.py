"""At FLYWHEEL_LOG_LEVEL=DEBUG a real `flywheel run` writes nothing of what people said and no secret — neither in
its own lines nor in those of slack_sdk, lark-oapi, urllib3, websockets or waitress — on Slack (HTTP and Socket
Mode in one process) and on Feishu (long connection and HTTP callbacks in one process). Everything the process
writes, stdout and stderr, is read as it writes it."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

from bot.platforms.feishu.inbound import encrypt
from fakes.feishu_api import Scripted
from fakes.feishu_ws import FakeLongConnection
from fakes.slack_api import FakeSlack
from fakes.slack_socket import FakeSocketMode
from tests.e2e.process import Bot, clean_env, free_port
from tests.e2e.test_sigterm import SECRET, SLACK_USERS, feishu_fake, feishu_message, slack_command

ANSWER = "my-answer-sentinel-4b1d"  # what a member types
KUDOS = "kudos-reason-sentinel-9e2c"  # a reason that goes out again in the messages the bot sends
BOT_TOKEN = "xoxb-bot-token-sentinel-1111"
APP_TOKEN = "xapp-app-token-sentinel-2222"
APP_SECRET = "feishu-app-secret-sentinel-3333"
TENANT_TOKEN = "t-tenant-token-sentinel-4444"
KEY = "feishu-encrypt-key-sentinel"


def wait_for(predicate, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # polling a real subprocess; no scheduled behaviour depends on this
    return False


def stopped(bot: Bot) -> str:
    bot.sigterm()
    assert bot.wait_exit() == 0, bot.text
    return bot.text


def test_slack_at_debug(tmp_path):
    fake = FakeSlack().start()
    fake.users = SLACK_USERS
    sockets = FakeSocketMode(fake).start()
    port = free_port()
    bot = Bot(
        ["run"],
        clean_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.url,
            PORT=str(port),
            DATABASE_URL=f"sqlite:///{tmp_path / 'f.db'}",
            FLYWHEEL_LOG_LEVEL="DEBUG",
            FLYWHEEL_TICK_SECONDS="300",
        ),
        tmp_path,
    )
    try:
        bot.wait_text("Flywheel is running")
        sockets.wait_connected()
        # Socket Mode: a DM whose text is what the member wrote
        sockets.ack(
            sockets.push(
                "events_api",
                {
                    "type": "event_callback",
                    "event_id": "EvPriv1",
                    "team_id": "T1",
                    "event": {
                        "type": "message",
                        "channel_type": "im",
                        "user": "UALICE",
                        "text": ANSWER,
                        "ts": "1.1",
                        "channel": "DALICE",
                    },
                },
            )
        )
        # HTTP: a kudos whose reason goes out again in two chat.postMessage calls
        body, headers = slack_command(f"<@UBO> {KUDOS}")
        with urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers, method="POST"),
            timeout=10,
        ) as r:
            assert r.status == 200
        # The kudos goes out in its channel post at once (Bo's own DM may wait for his working hours), and Alice gets
        # the reply to her DM and the thanks for the kudos.
        assert wait_for(
            lambda: (
                any(KUDOS in json.dumps(c.params) for c in fake.calls if c.method == "chat.postMessage")
                and len(fake.posted("UALICE")) >= 2
            )
        )
        text = stopped(bot)
    finally:
        bot.kill()
        sockets.stop()
        fake.stop()
    assert "DEBUG" in text or "INFO bot." in text  # the log was written at all
    leaks = [
        s
        for s in (ANSWER, KUDOS, BOT_TOKEN, APP_TOKEN, SECRET, "bot-token-sentinel", "app-token-sentinel")
        if s in text
    ]
    assert leaks == [], text


def kudos_out(fake, db) -> bool:
    """The kudos reached 王芳 — or, outside her working hours, waits for them in the outbox (bot/calendar.py
    `Calendars.send_at`): this test runs on the wall clock, whatever the time of day."""
    if any(KUDOS in t for t in fake.texts("ou_wang")):
        return True
    with sqlite3.connect(db) as conn:
        (held,) = conn.execute(
            "SELECT count(*) FROM outbox_message WHERE status = 'pending' AND next_attempt_at > datetime('now') "
            "AND member_id IN (SELECT member_id FROM member_identity WHERE external_id = 'ou_wang')"
        ).fetchone()
    return held > 0


def test_feishu_at_debug(tmp_path):
    fake = feishu_fake()
    fake.script["POST /open-apis/auth/v3/tenant_access_token/internal"] = [
        Scripted(200, {"code": 0, "msg": "ok", "tenant_access_token": TENANT_TOKEN, "expire": 7200})
    ]
    ws = FakeLongConnection(fake, app_secret=APP_SECRET).start()
    port = free_port()
    bot = Bot(
        ["run"],
        clean_env(
            FEISHU_APP_ID="cli_priv",
            FEISHU_APP_SECRET=APP_SECRET,
            FEISHU_DOMAIN=fake.url,
            FEISHU_ENCRYPT_KEY=KEY,
            FEISHU_VERIFICATION_TOKEN="vt",
            PORT=str(port),
            DATABASE_URL=f"sqlite:///{tmp_path / 'f.db'}",
            FLYWHEEL_LOG_LEVEL="DEBUG",
            FLYWHEEL_TICK_SECONDS="300",
        ),
        tmp_path,
    )
    try:
        bot.wait_text("Flywheel is running")
        link = ws.wait_connected(timeout=15)
        ticket = parse_qs(urlsplit(link.conn.request.path).query)  # type: ignore[union-attr]
        # the long connection: a message whose text is what the member wrote
        assert ws.ack(ws.push(feishu_message(ANSWER, 1)), timeout=10).code == 200
        # HTTP callbacks: a kudos whose reason goes out again as cards
        event = feishu_message(f"/kudos @_user_1 {KUDOS}", 2)
        event["event"]["message"]["mentions"] = [{"key": "@_user_1", "name": "王芳", "id": {"open_id": "ou_wang"}}]
        body = json.dumps({"encrypt": encrypt(KEY, json.dumps(event).encode(), os.urandom(16))}).encode()
        ts, nonce = str(int(time.time())), "nonce-priv"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/feishu/events",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Lark-Request-Timestamp": ts,
                "X-Lark-Request-Nonce": nonce,
                "X-Lark-Signature": hashlib.sha256(f"{ts}{nonce}{KEY}".encode() + body).hexdigest(),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
        assert wait_for(lambda: kudos_out(fake, tmp_path / "f.db") and len(fake.sent("ou_li")) >= 2)
        assert any(c.token == TENANT_TOKEN for c in fake.calls)  # the bot did use the sentinel token
        text = stopped(bot)
    finally:
        bot.kill()
        ws.stop()
        fake.stop()
    assert "DEBUG" in text or "INFO bot." in text
    secrets = [ANSWER, KUDOS, APP_SECRET, TENANT_TOKEN, KEY, ticket["access_key"][0], ticket["ticket"][0]]
    assert [s for s in secrets if s in text] == [], text
