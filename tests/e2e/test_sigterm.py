"""SIGTERM — how Heroku, Kubernetes and systemd stop a process — in every kind of process and mode, each a real
`python -m bot …` against fake platforms on loopback: it stops taking work, finishes what it has in hand (an HTTP
request half received, the message being sent), hands back the outbox messages it claimed and did not start
(pending again, no lease: another replica sends them at once, not 120 s later), releases its lock and exits 0
within 10 s."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from urllib.parse import urlencode

import pytest

from bot.locks import acquire_scheduler_lock
from bot.platforms.feishu.inbound import encrypt
from fakes.feishu_api import FakeFeishu
from fakes.feishu_ws import FakeLongConnection
from fakes.slack_api import FakeSlack
from fakes.slack_socket import FakeSocketMode
from tests.e2e.process import Bot, HalfSent, clean_env, free_port, outbox, seed_outbox

SECRET = "sigterm-signing-secret"
KEY = "sigterm-encrypt-key"
PEOPLE = [
    {"handle": "alice", "name": "Alice Martin", "accounts": {"slack": "UALICE"}},
    {"handle": "bo", "name": "Bo Li", "accounts": {"slack": "UBO"}},
]
SLACK_USERS = [
    {"id": "UALICE", "name": "alice", "real_name": "Alice Martin", "tz": "UTC"},
    {"id": "UBO", "name": "bo", "real_name": "Bo Li", "tz": "UTC"},
]


def slack_command(text: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode(
        {
            "command": "/kudos",
            "text": text,
            "user_id": "UALICE",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "team_id": "T1",
            "trigger_id": "trig",
        }
    ).encode()
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sig,
    }


class Gate:
    """Holds every chat.postMessage at the fake Slack until released: Slack has the message, the sender waits."""

    def __init__(self, fake: FakeSlack) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        fake.gate = self

    def __call__(self, call, answer) -> None:
        if call.method == "chat.postMessage":
            self.entered.set()
            assert self.released.wait(20)


def assert_handed_back(database_url: str, seeded: list[int]) -> None:
    """The message in hand when SIGTERM came was sent; every other one claimed is pending again, unleased, with
    the attempt it never made given back."""
    rows = outbox(database_url)
    assert rows[seeded[0]].status == "sent"
    rest = [rows[i] for i in seeded[1:]]
    assert [(r.status, r.lease_owner, r.lease_until, r.attempts) for r in rest] == [("pending", None, None, 0)] * len(
        rest
    )


def assert_nothing_leased(database_url: str) -> None:
    assert [r.id for r in outbox(database_url).values() if r.status == "sending" or r.lease_owner] == []


@pytest.mark.parametrize("command", ["run", "web"])
def test_slack_http_finishes_the_request_in_hand_and_hands_back_claimed_messages(tmp_path, command, request):
    """`run` (scheduler, SQLite: its lock) and `web` (a replica, on PostgreSQL) in Slack HTTP mode."""
    db = f"sqlite:///{tmp_path / 'f.db'}" if command == "run" else request.getfixturevalue("postgres_url")
    seeded = seed_outbox(db, PEOPLE, per_person=3)
    fake = FakeSlack().start()
    fake.users = SLACK_USERS
    gate = Gate(fake)
    port = free_port()
    bot = Bot(
        [command],
        clean_env(
            SLACK_BOT_TOKEN="xoxb-sigterm",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.url,
            PORT=str(port),
            DATABASE_URL=db,
            FLYWHEEL_TICK_SECONDS="300",
        ),
        tmp_path,
    )
    try:
        bot.wait_text("Flywheel is running")
        assert gate.entered.wait(15), bot.text  # the pump claimed the batch and is sending its first message
        body, headers = slack_command("<@UBO> for staying late")
        in_hand = HalfSent(port, "/slack/events", body, headers)
        bot.sigterm()
        bot.wait_text("Flywheel is stopping")
        status, _ = in_hand.finish()
        gate.released.set()
        assert bot.wait_exit() == 0, bot.text
    finally:
        gate.released.set()
        bot.kill()
        fake.stop()
    assert status == 200
    assert [c.params["channel"] for c in fake.posted()] == ["UALICE"]  # the first claimed; nothing after SIGTERM
    assert_handed_back(db, seeded)
    kudos = [r for r in outbox(db).values() if r.kind != "admin_alert"]
    assert kudos and {(r.status, r.lease_owner) for r in kudos} == {("pending", None)}  # queued, for another replica
    if command == "run":
        acquire_scheduler_lock(db).release()  # free at once (it raises if another process holds it)


def test_slack_socket_mode(tmp_path):
    db = f"sqlite:///{tmp_path / 'f.db'}"
    seeded = seed_outbox(db, PEOPLE, per_person=2)
    fake = FakeSlack().start()
    fake.users = SLACK_USERS
    sockets = FakeSocketMode(fake).start()
    gate = Gate(fake)
    bot = Bot(
        ["run"],
        clean_env(
            SLACK_BOT_TOKEN="xoxb-sigterm",
            SLACK_APP_TOKEN="xapp-sigterm",
            SLACK_API_URL=fake.url,
            DATABASE_URL=db,
            FLYWHEEL_TICK_SECONDS="300",
        ),
        tmp_path,
    )
    try:
        bot.wait_text("Flywheel is running")
        sockets.wait_connected()
        assert gate.entered.wait(15), bot.text
        envelope = sockets.push(
            "slash_commands",
            {
                "command": "/kudos",
                "text": "<@UBO> for the demo",
                "user_id": "UALICE",
                "channel_id": "C0GENERAL",
                "team_id": "T1",
                "trigger_id": "trig",
            },
        )
        assert sockets.ack(envelope)["envelope_id"] == envelope
        bot.sigterm()
        bot.wait_text("Flywheel is stopping")
        gate.released.set()
        assert bot.wait_exit() == 0, bot.text
        assert sockets.wait_closed(5)  # it said goodbye
    finally:
        gate.released.set()
        bot.kill()
        sockets.stop()
        fake.stop()
    assert_handed_back(db, seeded)
    assert any(r.kind != "admin_alert" for r in outbox(db).values())  # the kudos was taken before it stopped
    assert_nothing_leased(db)
    acquire_scheduler_lock(db).release()


FEISHU_USERS = [
    {
        "open_id": "ou_wang",
        "name": "王芳",
        "leader_user_id": "",
        "time_zone": "Asia/Shanghai",
        "department_ids": ["od_eng"],
        "status": {"is_resigned": False},
    },
    {
        "open_id": "ou_li",
        "name": "李雷",
        "leader_user_id": "ou_wang",
        "time_zone": "Asia/Shanghai",
        "department_ids": ["od_eng"],
        "status": {"is_resigned": False},
    },
]


def feishu_message(text: str, n: int = 1) -> dict:
    return {
        "schema": "2.0",
        "header": {
            "event_id": f"ev-{n}",
            "token": "vt",
            "event_type": "im.message.receive_v1",
            "create_time": "1",
            "tenant_key": "t",
            "app_id": "cli_sig",
        },
        "event": {
            "sender": {"sender_id": {"open_id": "ou_li"}, "sender_type": "user"},
            "message": {
                "message_id": f"om_{n}",
                "chat_id": "oc_x",
                "chat_type": "p2p",
                "message_type": "text",
                "content": json.dumps({"text": text}, ensure_ascii=False),
                "mentions": [],
            },
        },
    }


def feishu_fake() -> FakeFeishu:
    fake = FakeFeishu().start()
    fake.departments = [{"open_department_id": "od_eng", "name": "工程部", "parent_department_id": "0"}]
    fake.users = FEISHU_USERS
    return fake


def test_feishu_long_connection_and_http_callbacks(tmp_path):
    """One process on both Feishu transports (lark-oapi takes seconds to import: one start keeps this file short)."""
    db = f"sqlite:///{tmp_path / 'f.db'}"
    fake = feishu_fake()
    ws = FakeLongConnection(fake).start()
    port = free_port()
    bot = Bot(
        ["run"],
        clean_env(
            FEISHU_APP_ID="cli_sig",
            FEISHU_APP_SECRET="feishu-sig-secret",
            FEISHU_DOMAIN=fake.url,
            FEISHU_ENCRYPT_KEY=KEY,
            FEISHU_VERIFICATION_TOKEN="vt",
            PORT=str(port),
            DATABASE_URL=db,
            FLYWHEEL_TICK_SECONDS="300",
        ),
        tmp_path,
    )
    try:
        bot.wait_text("Flywheel is running")
        link = ws.wait_connected(timeout=15)
        assert ws.ack(ws.push(feishu_message("/help", 1)), timeout=10).code == 200
        body = json.dumps(
            {"encrypt": encrypt(KEY, json.dumps(feishu_message("/help", 2)).encode(), os.urandom(16))}
        ).encode()
        ts, nonce = str(int(time.time())), "nonce-sig"
        in_hand = HalfSent(
            port,
            "/feishu/events",
            body,
            {
                "Content-Type": "application/json",
                "X-Lark-Request-Timestamp": ts,
                "X-Lark-Request-Nonce": nonce,
                "X-Lark-Signature": hashlib.sha256(f"{ts}{nonce}{KEY}".encode() + body).hexdigest(),
            },
        )
        bot.sigterm()
        bot.wait_text("Flywheel is stopping")
        status, _ = in_hand.finish()
        assert bot.wait_exit() == 0, bot.text
        assert link.closed.wait(5)  # it closed the connection: Feishu pushes what is unacknowledged elsewhere
    finally:
        bot.kill()
        ws.stop()
        fake.stop()
    assert status == 200
    replies = [r for r in outbox(db).values() if r.kind == "reply"]
    assert len(replies) == 2  # both messages were taken: one by each transport
    assert_nothing_leased(db)
    acquire_scheduler_lock(db).release()


def test_console_without_a_terminal(tmp_path):
    """`flywheel run` with no credentials on a pipe (a container with no tty): the console, stopped by SIGTERM while
    it waits for input."""
    db = f"sqlite:///{tmp_path / 'f.db'}"
    bot = Bot(["run"], clean_env(DATABASE_URL=db), tmp_path)
    try:
        bot.wait_text("Flywheel console")
        bot.proc.stdin.write("/who\n")
        bot.proc.stdin.flush()
        bot.wait_text("chen")
        bot.sigterm()
        assert bot.wait_exit() == 0, bot.text
    finally:
        bot.kill()
    acquire_scheduler_lock(db).release()
