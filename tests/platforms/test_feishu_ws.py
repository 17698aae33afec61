"""The Feishu long connection end to end: the bot's `LongConnection` (the real `lark.ws.Client`, in its own thread
and loop) against a fake long-connection server on loopback (fakes/feishu_ws.py) — bootstrap, WebSocket,
protobuf frames, acks — with replies going to the fake Open API, and /healthz following the connection."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select

from bot.platforms.feishu import longconn
from bot.web import health
from fakes.feishu_api import Scripted
from fakes.feishu_ws import FakeLongConnection
from storage.db import transaction
from storage.models import Answer
from tests.platforms.test_feishu import buttons, env  # noqa: F401  (the same app, fake Open API and clock)

SECRET = "app-secret-sentinel"
ENDPOINT = "POST /callback/ws/endpoint"


@pytest.fixture
def ws(env):  # noqa: F811
    server = FakeLongConnection(env.fake, app_secret=SECRET, reconnect_interval=1, reconnect_nonce=0).start()
    yield server
    server.stop()


@pytest.fixture
def connect(env, ws):  # noqa: F811
    """Start the bot's long connection the way `flywheel serve` does (its /healthz included); stopped after."""
    links: list[longconn.LongConnection] = []

    def start() -> longconn.LongConnection:
        link = longconn.start(env.events, app_id=env.app_id, app_secret=SECRET, domain=env.fake.url)
        env.app.connections["feishu"] = link.up
        links.append(link)
        return link

    yield start
    for link in links:
        link.stop()
        assert link.thread is not None and not link.thread.is_alive()


def connected(env, ws, text: str = "/help", who: str = "ou_chen"):  # noqa: F811
    """Push a message and wait for its ack: once lark answers a frame, it has finished (re)connecting."""
    ack = ws.ack(ws.push(env.message(who, text)))
    env.events.wait_idle()
    return ack


def health_of(env) -> tuple[bool, bool]:  # noqa: F811
    report = health(env.app)
    return report["ok"], report["connections"]["feishu"]


# -------------------------------------------------------------------------------------------------- messages


def test_a_message_is_acked_at_once_and_answered_through_the_open_api(env, ws, connect):  # noqa: F811
    link = connect()
    first = ws.wait_connected()
    bootstrap = ws.bootstraps[0]
    assert bootstrap.body == {"AppID": env.app_id, "AppSecret": SECRET}
    ack = ws.ack(ws.push(env.message("ou_bo", "/checkin"), message_id="frame-1"))
    assert ack.code == 200 and ack.data is None and ack.seconds < 1  # acknowledged before the work is done
    assert ack.headers["message_id"] == "frame-1" and "biz_rt" in ack.headers and ack.headers["type"] == "event"
    env.events.wait_idle()
    sent = env.fake.sent("ou_bo")
    assert len(sent) == 1 and sent[0].query["receive_id_type"] == "open_id"  # im.v1.message.create to Bo
    assert sent[0].body["msg_type"] == "interactive"
    assert "1" in [b["value"]["v"] for b in buttons(sent[0].card)]  # the check-in's first question
    # a large event comes in several frames (sum/seq): lark puts them together and answers the last one only
    large = env.message("ou_bo", "4")
    large["event"]["message"]["user_agent"] = "Mozilla/5.0 " + "很长" * 3000
    mid = ws.push(large, parts=3)
    assert ws.ack(mid).code == 200 and [a.message_id for a in ws.acks].count(mid) == 1
    env.events.wait_idle()
    assert env.fake.texts("ou_bo")[-1].startswith("(2/5)")
    with transaction(env.app.sessions) as s:
        assert [(a.step, a.value) for a in s.exec(select(Answer))] == [("mood", 4)]
    assert link.up() and ws.current is first and len(ws.links) == 1
    assert first.pings == 1  # lark pinged once on connecting (answered with a pong carrying the ClientConfig)


def test_a_redelivered_event_is_acked_each_time_and_acted_on_once(env, ws, connect):  # noqa: F811
    env.app.tick()
    connect()
    ws.wait_connected()
    told = len(env.fake.sent("ou_alice"))
    event = env.message("ou_alice", "4", event_id="ev-again", message_id="om_again")
    ws.push(event, message_id="frame-again")
    ws.push(event, message_id="frame-again")  # Feishu re-pushes an event it holds unacknowledged
    other = ws.push(event)  # and the same event under another frame id
    assert [ws.ack("frame-again", nth=n).code for n in (1, 2)] + [ws.ack(other).code] == [200, 200, 200]
    assert len(ws.acks) == 3 and {a.code for a in ws.acks} == {200}
    env.events.wait_idle()
    assert len(env.fake.sent("ou_alice")) == told + 1  # one answer to one message
    with transaction(env.app.sessions) as s:
        assert [(a.step, a.value) for a in s.exec(select(Answer))] == [("mood", 4)]


def test_a_card_action_is_answered_in_the_ack(env, ws, connect):  # noqa: F811
    env.app.tick()
    connect()
    ws.wait_connected()
    four = next(b for b in buttons(env.fake.sent("ou_alice")[0].card) if b["value"]["v"] == "4")
    ack = ws.ack(ws.push(env.card_action("ou_alice", four["value"])))
    assert ack.code == 200 and ack.data["toast"]["type"] == "success"  # base64 JSON in the ack's data
    assert "✓ Your answer: 4" in json.dumps(ack.data["card"], ensure_ascii=False)
    garbage = ws.ack(ws.push(b"not json"))  # (not UTF-8 at all: lark itself fails and never answers)
    assert garbage.code == 200 and garbage.data is None  # dropped, but answered: Feishu must not keep re-pushing


# -------------------------------------------------------------------------------------------------- health


def test_health_is_down_until_the_first_connection_is_open(env, ws, connect):  # noqa: F811
    ws.hold()  # the bootstrap is answered; the WebSocket handshake waits
    link = connect()
    ws.wait_handshakes(1)
    assert link.thread is not None and link.thread.is_alive()
    assert not link.up() and health_of(env) == (False, False)
    ws.release()
    ws.wait_connected()
    connected(env, ws)
    assert link.up() and health_of(env) == (True, True)


def test_health_follows_the_connection_down_and_up_again(env, ws, connect):  # noqa: F811
    link = connect()
    ws.wait_connected()
    connected(env, ws)
    assert health_of(env) == (True, True)
    # The server closes the connection (a Feishu deploy); it is busy once, then lets the client back in.
    env.fake.script[ENDPOINT] = [Scripted(200, {"code": 1, "msg": "system busy"})]
    ws.hold()
    dropped = time.monotonic()
    ws.drop()
    ws.wait_handshakes(2)  # after a refused bootstrap and one ReconnectInterval (1 s, from ClientConfig)
    assert not link.up() and health_of(env) == (False, False)
    ws.release()
    ws.wait_connected(2)
    connected(env, ws, "/help")
    assert link.up() and health_of(env) == (True, True)
    assert 1 <= time.monotonic() - dropped < 5
    assert [c.method for c in env.fake.calls].count(ENDPOINT) == 3
    # The network goes away without a close frame: noticed, reconnected, and events flow again.
    ws.drop(abrupt=True)
    ws.wait_connected(3)
    before = len(env.fake.sent("ou_alice"))
    assert connected(env, ws, "/help", who="ou_alice").code == 200
    assert len(env.fake.sent("ou_alice")) == before + 1
    assert link.up() and health_of(env) == (True, True) and len(ws.bootstraps) == 3


def test_stop_closes_the_connection_and_does_not_reconnect(env, ws, connect):  # noqa: F811
    link = connect()
    opened = ws.wait_connected()
    connected(env, ws)
    link.stop()
    assert opened.closed.wait(5)
    assert link.thread is not None and not link.thread.is_alive()
    assert not link.up() and health_of(env) == (False, False)
    assert len(ws.bootstraps) == 1 and len(ws.links) == 1  # no reconnection
