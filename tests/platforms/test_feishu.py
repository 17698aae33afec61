"""Feishu end to end: the real lark-oapi client against a fake Feishu Open API on loopback, and inbound v2 events in
Feishu's exact shapes — plain through the long-connection handler, signed and encrypted through `POST /feishu/events`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid as uuidlib
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import Flywheel
from bot.config import parse_config
from bot.platforms.base import OutboundMessage, Recipient, SendError
from bot.platforms.feishu import cards, directory
from bot.platforms.feishu.callbacks import FeishuCallbacks
from bot.platforms.feishu.events import FeishuEvents
from bot.platforms.feishu.inbound import encrypt
from bot.platforms.feishu.longconn import Handler
from bot.platforms.feishu.messenger import FeishuMessenger, build_client
from bot.settings import Settings
from bot.web import create_wsgi
from conversations.clock import FrozenClock
from fakes.feishu_api import FakeFeishu, Scripted
from storage.db import transaction
from storage.models import Answer, Kudos, Member
from tests.helpers import local

KEY = "encrypt-key-sentinel"
TOKEN = "verification-token-sentinel"
ORG = {
    "members": [
        {"handle": "maria", "name": "王玛丽", "feishu": "ou_maria", "timezone": "Asia/Shanghai", "locale": "zh"},
        {"handle": "alice", "name": "Alice", "feishu": "ou_alice", "manager": "maria", "timezone": "Asia/Shanghai"},
        {
            "handle": "bo",
            "name": "张博",
            "feishu": "ou_bo",
            "manager": "maria",
            "timezone": "Asia/Shanghai",
            "locale": "zh",
        },
        {
            "handle": "chen",
            "name": "陈晨",
            "feishu": "ou_chen",
            "manager": "maria",
            "timezone": "Asia/Shanghai",
            "locale": "zh",
        },
    ]
}


class Env:
    def __init__(self, tmp_path, org=ORG) -> None:
        self.clock = FrozenClock(local("Asia/Shanghai", 2026, 11, 27, 15, 0))
        self.fake = FakeFeishu(self.clock).start()
        self.app_id = f"cli_{uuidlib.uuid4().hex[:10]}"  # the SDK caches tokens per app id, process-wide
        self.messenger = FeishuMessenger(build_client(self.app_id, "app-secret-sentinel", self.fake.url), self.app_id)
        self.app = Flywheel.build(
            Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"),
            clock=self.clock,
            config=parse_config(org, source="test"),
            messengers={"feishu": self.messenger},
        )
        self.events = FeishuEvents(self.app, poke=self.app.deliver_outbox)
        self.handler = Handler(self.events)  # what lark.ws.Client calls for each frame
        self.callbacks = FeishuCallbacks(self.events, encrypt_key=KEY, verification_token=TOKEN)
        self.wsgi = create_wsgi(
            self.app,
            slack_signing_secret=None,
            poke=self.app.deliver_outbox,
            now=lambda: self.clock.now().timestamp(),
            feishu=self.callbacks,
        )
        self._n = 0

    def close(self) -> None:
        self.events.close()
        self.app.close()
        self.fake.stop()

    # ---------------------------------------------------------------------------------------------- payloads

    def next_id(self) -> str:
        self._n += 1
        return f"{self._n:08d}"

    def message(
        self,
        open_id: str,
        text: str,
        *,
        chat_type: str = "p2p",
        chat_id: str | None = None,
        mentions: list[dict] | None = None,
        message_id: str | None = None,
        event_id: str | None = None,
    ) -> dict:
        n = self.next_id()
        ms = str(int(self.clock.now().timestamp() * 1000))
        return {
            "schema": "2.0",
            "header": {
                "event_id": event_id or f"ev{n}",
                "token": TOKEN,
                "create_time": ms,
                "event_type": "im.message.receive_v1",
                "tenant_key": "tenant1",
                "app_id": self.app_id,
            },
            "event": {
                "sender": {
                    "sender_id": {"union_id": f"on_{open_id}", "user_id": None, "open_id": open_id},
                    "sender_type": "user",
                    "tenant_key": "tenant1",
                },
                "message": {
                    "message_id": message_id or f"om_in{n}",
                    "root_id": "",
                    "parent_id": "",
                    "create_time": ms,
                    "update_time": ms,
                    "chat_id": chat_id or f"oc_p2p_{open_id}",
                    "thread_id": "",
                    "chat_type": chat_type,
                    "message_type": "text",
                    "content": json.dumps({"text": text}, ensure_ascii=False),
                    "mentions": mentions or [],
                    "user_agent": "Mozilla/5.0 Lark/7.30",
                },
            },
        }

    def card_action(
        self,
        open_id: str,
        value: dict,
        *,
        form_value: dict | None = None,
        event_id: str | None = None,
        message_id: str = "om_000001",
    ) -> dict:
        n = self.next_id()
        action = {"value": value, "tag": "button"}
        if form_value is not None:
            action.update({"form_value": form_value, "name": "save"})
        return {
            "schema": "2.0",
            "header": {
                "event_id": event_id or f"evc{n}",
                "token": TOKEN,
                "create_time": str(int(self.clock.now().timestamp() * 1e6)),
                "event_type": "card.action.trigger",
                "tenant_key": "tenant1",
                "app_id": self.app_id,
            },
            "event": {
                "operator": {"tenant_key": "tenant1", "user_id": None, "open_id": open_id, "union_id": "on_x"},
                "token": "c-token",
                "action": action,
                "host": "im_message",
                "context": {"open_message_id": message_id, "open_chat_id": f"oc_p2p_{open_id}"},
            },
        }

    # ---------------------------------------------------------------------------------------------- transports

    def over_long_connection(self, payload: dict):
        answer = self.handler._do_without_validation(json.dumps(payload, ensure_ascii=False).encode())
        self.events.wait_idle()
        return answer

    @staticmethod
    def sealed(payload: dict | bytes) -> bytes:
        """The body Feishu sends when an Encrypt Key is set."""
        plain = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        return json.dumps({"encrypt": encrypt(KEY, plain, os.urandom(16))}).encode()

    def post(
        self,
        payload: dict | bytes,
        *,
        ts: int | None = None,
        nonce: str | None = None,
        signature: str | None = None,
        sign: bool = True,
        body: bytes | None = None,
    ) -> tuple[int, dict | bytes]:
        body = body if body is not None else self.sealed(payload)
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/feishu/events",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
            "wsgi.input": io.BytesIO(body),
        }
        if sign:
            ts = ts if ts is not None else int(self.clock.now().timestamp())
            nonce = nonce or uuidlib.uuid4().hex
            signature = signature or hashlib.sha256(f"{ts}{nonce}{KEY}".encode() + body).hexdigest()
            environ.update(
                {
                    "HTTP_X_LARK_REQUEST_TIMESTAMP": str(ts),
                    "HTTP_X_LARK_REQUEST_NONCE": nonce,
                    "HTTP_X_LARK_SIGNATURE": signature,
                }
            )
        status: list[str] = []
        out = b"".join(self.wsgi(environ, lambda s, h: status.append(s)))
        code = int(status[0].split()[0])
        try:
            return code, json.loads(out)
        except ValueError:
            return code, out


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()


def buttons(card: dict) -> list[dict]:
    return [b for e in card["elements"] if e.get("tag") == "action" for b in e["actions"]]


# -------------------------------------------------------------------------------------------------- conversations


def test_check_in_by_text_over_the_long_connection_in_both_languages(env):
    env.app.tick()
    alice, bo = env.fake.sent("ou_alice"), env.fake.sent("ou_bo")
    assert alice[0].body["msg_type"] == "interactive" and alice[0].query["receive_id_type"] == "open_id"
    assert alice[0].body["uuid"].startswith("flywheel-")
    assert env.fake.texts("ou_alice")[0].startswith("Hi Alice 👋")
    assert env.fake.texts("ou_bo")[0].startswith("博") or "每周小结" in env.fake.texts("ou_bo")[0]
    assert [b["value"]["v"] for b in buttons(alice[0].card)][:7] == ["1", "2", "3", "4", "5", "later", "skip"]
    assert [b["text"]["content"] for b in buttons(bo[0].card)][-3:] == ["稍后", "跳过", "用表单回答"]
    for text in ["4", "Shipped <at id=all></at> the importer & docs", "none", "ship v2; write docs", "skip"]:
        assert env.over_long_connection(env.message("ou_alice", text)) is None  # acknowledged at once
    done = env.fake.texts("ou_alice")[-1]
    assert "check-in done ✅" in done
    assert "&lt;at id=all&gt;&lt;/at&gt;" in done and "<at" not in done  # shown literally, mentions nobody
    with transaction(env.app.sessions) as s:
        wins = s.exec(select(Answer).where(Answer.step == "wins")).one().value
    assert wins == "Shipped <at id=all></at> the importer & docs"  # stored as typed


def test_retries_are_deduplicated_on_event_id_and_message_id(env):
    env.app.tick()
    first = env.message("ou_alice", "4", event_id="ev-retry", message_id="om_once")
    env.over_long_connection(first)
    before = len(env.fake.sent("ou_alice"))
    for _ in range(3):  # Feishu's retries at +15 s, +5 min, +1 h: the same event again
        env.clock.advance(timedelta(minutes=20))
        env.over_long_connection(first)
    env.over_long_connection(env.message("ou_alice", "4", event_id="ev-other", message_id="om_once"))  # re-pushed
    env.clock.advance(timedelta(hours=6))
    assert env.post(first)[0] == 200  # and through HTTP, 6 h later
    assert len(env.fake.sent("ou_alice")) == before
    with transaction(env.app.sessions) as s:
        assert [a.step for a in s.exec(select(Answer))] == ["mood"]


def test_check_in_by_card_buttons_updates_the_card_in_place(env):
    env.app.tick()
    four = next(b for b in buttons(env.fake.sent("ou_alice")[0].card) if b["value"]["v"] == "4")
    answer = env.over_long_connection(env.card_action("ou_alice", four["value"]))
    assert answer["toast"]["type"] == "success"
    updated = answer["card"]["data"]
    assert not buttons(updated) and "✓ Your answer: 4" in json.dumps(updated, ensure_ascii=False)
    assert env.fake.texts("ou_alice")[-1].startswith("(2/5) What went well")
    told = len(env.fake.sent("ou_alice"))
    stale = env.over_long_connection(env.card_action("ou_alice", {**four["value"], "v": "2", "l": "2"}))
    assert "card" not in stale and "already" in stale["toast"]["content"]  # an old card cannot answer "wins"
    env.events.wait_idle()
    env.app.deliver_outbox()
    assert len(env.fake.sent("ou_alice")) == told  # the toast says it; not a chat message as well
    with transaction(env.app.sessions) as s:
        assert [(a.step, a.value) for a in s.exec(select(Answer))] == [("mood", 4)]


def test_check_in_in_the_form_card_with_errors_shown_in_place(env):
    env.app.tick()
    form_button = next(b for b in buttons(env.fake.sent("ou_bo")[0].card) if b["value"]["v"].startswith("form:"))
    opened = env.over_long_connection(env.card_action("ou_bo", form_button["value"]))
    form = opened["card"]["data"]["elements"][1]
    assert form["tag"] == "form"
    submit = next(e for e in form["elements"] if e.get("action_type") == "form_submit")
    names = [e["name"] for e in form["elements"] if e.get("tag") in ("input", "select_static")]
    values = dict(zip(names, ["4", "修好了部署", "无", "发布 v2；写文档", ""], strict=True))
    # a value that does not fit is shown on the form again, and nothing at all is saved
    bad = env.over_long_connection(env.card_action("ou_bo", submit["value"], form_value={**values, "q0": "9"}))
    assert bad["toast"]["type"] == "error" and bad["card"]["data"]["elements"][1]["tag"] == "form"
    with transaction(env.app.sessions) as s:
        assert s.exec(select(Answer)).all() == []
    ok = env.over_long_connection(env.card_action("ou_bo", submit["value"], form_value=values))
    assert ok["toast"]["content"] == "已记录"
    with transaction(env.app.sessions) as s:
        saved = {a.step: a.value for a in s.exec(select(Answer))}
    assert saved["mood"] == 4 and saved["wins"] == "修好了部署" and saved["priorities"] == ["发布 v2", "写文档"]
    other = env.over_long_connection(env.card_action("ou_alice", submit["value"], form_value=values))
    assert other["toast"]["type"] == "error"  # someone else's form


def test_kudos_in_a_group_with_mentions_posts_there_and_tells_the_recipient(env):
    mentions = [
        {
            "key": "@_user_1",
            "id": {"union_id": "on_bot", "user_id": None, "open_id": "ou_flywheel_bot"},
            "name": "Flywheel",
            "tenant_key": "tenant1",
        },
        {
            "key": "@_user_2",
            "id": {"union_id": "on_bo", "user_id": None, "open_id": "ou_bo"},
            "name": "张博",
            "tenant_key": "tenant1",
        },
    ]
    text = "@_user_1 /kudos @_user_2 连夜修好了部署 <at id=all></at> @所有人 #协作"
    env.over_long_connection(env.message("ou_alice", text, chat_type="group", chat_id="oc_team", mentions=mentions))
    post = env.fake.sent("oc_team")
    assert len(post) == 1 and post[0].query["receive_id_type"] == "chat_id"
    content = post[0].body["content"]
    assert "张博" in content and "🙌 团队协作" in content  # the value's badge
    assert "<at" not in content and "&lt;at id=all&gt;" in content
    assert any("Alice" in t and "连夜修好了部署" in t for t in env.fake.texts("ou_bo"))  # the recipient hears
    with transaction(env.app.sessions) as s:
        kudos = s.exec(select(Kudos)).one()
    assert "<at id=all></at> @所有人" in kudos.reason
    # group chatter that is not a command is left alone
    env.over_long_connection(
        env.message("ou_alice", "@_user_1 谢谢", chat_type="group", chat_id="oc_team", mentions=mentions[:1])
    )
    assert len(env.fake.sent("oc_team")) == 1


def test_retro_in_a_group_summary_in_the_thread(env):
    mentions = [
        {"key": f"@_user_{i}", "id": {"open_id": oid}, "name": name, "tenant_key": "t"}
        for i, (oid, name) in enumerate([("ou_bot", "Flywheel"), ("ou_bo", "张博"), ("ou_chen", "陈晨")], 1)
    ]
    env.over_long_connection(
        env.message(
            "ou_alice",
            '@_user_1 /retro start "上线复盘" @_user_2 @_user_3',
            chat_type="group",
            chat_id="oc_team",
            mentions=mentions,
        )
    )
    announce = env.fake.sent("oc_team")
    assert len(announce) == 1 and "上线复盘" in announce[0].body["content"]
    for who in ("ou_bo", "ou_chen"):
        assert any("上线复盘" in t for t in env.fake.texts(who))
    for who in ("ou_bo", "ou_chen"):
        for text in ["4", "测试做得早", "发布窗口太晚", "@alice 提前一天冻结代码"]:
            env.over_long_connection(env.message(who, text))
    replies = [c for c in env.fake.calls if c.path.endswith("/reply")]
    announcement = next(mid for c, mid in env.fake.delivered if c.body.get("receive_id") == "oc_team")
    assert replies and replies[-1].path.split("/")[-2] == announcement  # in the announcement's thread
    assert "测试做得早" in replies[-1].body["content"]


def test_digest_card_support_button_reaches_the_member(env):
    env.clock.set(local("Asia/Shanghai", 2026, 12, 1, 10, 0))  # the monthly review opens
    env.app.tick()
    for text in ["none", "1 a decision on the vendor", "negotiation"]:
        env.over_long_connection(env.message("ou_alice", text))
    env.clock.set(local("Asia/Shanghai", 2026, 12, 7, 9, 0))  # Monday: digests
    env.app.tick()
    digest = [c for c in env.fake.sent("ou_maria") if "📋" in c.body["content"]][-1].card
    notes = [e["elements"][0]["content"] for e in digest["elements"] if e["tag"] == "note"]
    assert notes[0] == "#1 Alice: “a decision on the vendor”"
    resolved = next(b for b in buttons(digest) if b["value"]["v"] == "/support 1 resolved")
    assert resolved["text"]["content"] == "已解决"  # the manager reads Chinese
    answer = env.over_long_connection(env.card_action("ou_maria", resolved["value"]))
    assert answer["toast"]["type"] == "success"
    assert env.fake.texts("ou_alice")[-1].startswith("✅ 王玛丽 marked your request as resolved: “a decision on")


# -------------------------------------------------------------------------------------------------- HTTP callbacks


def test_http_callbacks_are_verified_before_decryption_and_all_failures_look_the_same(env, caplog):
    env.app.tick()
    payload = env.message("ou_alice", "4")
    now = int(env.clock.now().timestamp())
    rejected = [
        env.post(payload, signature="0" * 64),  # wrong signature
        env.post(payload, ts=now - 301),  # stale
        env.post(payload, ts=now + 301),  # from the future
        env.post(payload, ts=None, nonce=None, signature=None, sign=False),  # unsigned event
        env.post(b"", body=json.dumps({"encrypt": "AAAA" * 8}).encode()),  # bad padding, correctly signed
        env.post(b"", body=b"not json at all"),
        env.post(b"", body=json.dumps({"encrypt": "%%%"}).encode()),
    ]
    assert {code for code, _ in rejected} == {401} and len({json.dumps(b) for _, b in rejected}) == 1
    with transaction(env.app.sessions) as s:
        assert s.exec(select(Answer)).all() == []
    body = env.sealed(payload)
    code, _ = env.post(payload, ts=now, nonce="n-1", body=body)
    assert code == 200
    replayed = env.post(payload, ts=now, nonce="n-1", body=body)  # the very same request again
    assert replayed[0] == 401
    wrong_token = json.loads(json.dumps(payload))
    wrong_token["header"]["token"] = "nope"
    assert env.post(wrong_token)[0] == 401
    huge = env.post(b"", body=b"{" + b" " * (1024 * 1024 + 1) + b"}")
    assert huge[0] == 413
    logged = caplog.text
    for secret in (KEY, TOKEN, "app-secret-sentinel", "Shipped"):
        assert secret not in logged
    with transaction(env.app.sessions) as s:
        assert [a.value for a in s.exec(select(Answer))] == [4]


def test_url_verification_and_card_action_over_http(env):
    code, body = env.post({"challenge": "ch-123", "token": TOKEN, "type": "url_verification"}, sign=False)
    assert (code, body) == (200, {"challenge": "ch-123"})
    assert env.post({"challenge": "x", "token": "wrong", "type": "url_verification"}, sign=False)[0] == 401
    env.app.tick()
    three = next(b for b in buttons(env.fake.sent("ou_alice")[0].card) if b["value"]["v"] == "3")
    code, body = env.post(env.card_action("ou_alice", three["value"]))
    assert code == 200 and "✓ Your answer: 3" in json.dumps(body["card"], ensure_ascii=False)


def test_callbacks_refuse_to_exist_without_an_encrypt_key(env):
    with pytest.raises(ValueError, match="FEISHU_ENCRYPT_KEY"):
        FeishuCallbacks(env.events, encrypt_key="", verification_token=TOKEN)


# -------------------------------------------------------------------------------------------------- outbound


def test_429_waits_for_the_reset_and_the_uuid_makes_a_resend_harmless(env):
    env.fake.script["POST /open-apis/im/v1/messages"] = [
        Scripted(429, {"code": 99991400, "msg": "request trigger frequency limit"}, {"x-ogw-ratelimit-reset": "7"}),
        Scripted(503, {"code": 500, "msg": "busy"}),
    ]
    env.app.tick()
    assert env.fake.violations == []
    env.clock.advance(timedelta(seconds=8))
    env.app.deliver_outbox()
    env.clock.advance(timedelta(seconds=30))
    env.app.deliver_outbox()
    assert env.fake.violations == []
    assert {r: len(env.fake.sent(r)) for r in ("ou_maria", "ou_alice", "ou_bo", "ou_chen")} == {
        "ou_maria": 1,
        "ou_alice": 1,
        "ou_bo": 1,
        "ou_chen": 1,
    }
    # A sender that died after Feishu accepted the message: the next attempt carries the same uuid.
    message = OutboundMessage(text="hello", outbox_id=999, uncertain=True)
    first = env.messenger.send(Recipient("feishu", "ou_alice"), message)
    again = env.messenger.send(Recipient("feishu", "ou_alice"), message)
    assert first.message_id == again.message_id
    assert sum(1 for c in env.fake.sent("ou_alice") if c.body.get("uuid") == "flywheel-999-0") == 1


def test_tenant_token_is_cached_refreshed_and_replaced_when_rejected(tmp_path):
    clock = FrozenClock(local("Asia/Shanghai", 2026, 11, 27, 15, 0))
    fake = FakeFeishu(clock).start()
    try:
        app_id = f"cli_{uuidlib.uuid4().hex[:10]}"
        messenger = FeishuMessenger(build_client(app_id, "s", fake.url), app_id)
        for i in range(3):
            messenger.send(Recipient("feishu", "ou_a"), OutboundMessage(text=f"m{i}"))
        assert fake.tokens_issued == 1  # one token for many sends
        fake.script["POST /open-apis/im/v1/messages"] = [
            Scripted(400, {"code": 99991663, "msg": "Invalid access token for authorization."})
        ]
        with pytest.raises(SendError) as failed:
            messenger.send(Recipient("feishu", "ou_a"), OutboundMessage(text="x"))
        assert not failed.value.permanent  # retried, with a fresh token
        messenger.send(Recipient("feishu", "ou_a"), OutboundMessage(text="y"))
        assert fake.tokens_issued == 2 and fake.calls[-1].token == "t-2"
        short = FakeFeishu(clock, token_expire=600).start()  # a token this close to expiry is refreshed every time
        try:
            short_id = f"cli_{uuidlib.uuid4().hex[:10]}"
            m2 = FeishuMessenger(build_client(short_id, "s", short.url), short_id)
            m2.send(Recipient("feishu", "ou_a"), OutboundMessage(text="1"))
            m2.send(Recipient("feishu", "ou_a"), OutboundMessage(text="2"))
            assert short.tokens_issued == 2
        finally:
            short.stop()
        fake.script["POST /open-apis/im/v1/messages"] = [Scripted(400, {"code": 230013, "msg": "no availability"})]
        with pytest.raises(SendError) as permanent:
            messenger.send(Recipient("feishu", "ou_gone"), OutboundMessage(text="z"))
        assert permanent.value.permanent
    finally:
        fake.stop()


def test_long_messages_become_several_cards_each_under_30_kb():
    text = "\n".join(f"第{i}行：" + "很长的总结文字" * 40 for i in range(200))
    built = cards.build_cards(text, (), "zh")
    assert len(built) > 1
    assert all(cards.size(c) <= cards.CARD_LIMIT for c in built)
    shown = "\n".join(e["content"] for c in built for e in c["elements"] if e["tag"] == "markdown")
    assert shown.replace("\n", "") == text.replace("\n", "")  # nothing lost


# -------------------------------------------------------------------------------------------------- organisation


def contact_user(open_id, name, *, leader="", tz="Asia/Shanghai", dept="od_eng", resigned=False, email=None):
    return {
        "open_id": open_id,
        "union_id": f"on_{open_id}",
        "name": name,
        "en_name": "",
        "email": email or "",
        "leader_user_id": leader,
        "time_zone": tz,
        "department_ids": [dept],
        "status": {
            "is_frozen": False,
            "is_resigned": resigned,
            "is_activated": True,
            "is_exited": False,
            "is_unjoin": False,
        },
    }


def test_org_sync_from_the_contact_api(tmp_path):
    env = Env(
        tmp_path,
        org={"members": [{"handle": "lead", "name": "文件里的名字", "feishu": "ou_lead", "timezone": "Europe/London"}]},
    )
    try:
        env.fake.departments = [
            {"open_department_id": "od_eng", "name": "工程部", "parent_department_id": "0"},
            {"open_department_id": "od_ops", "name": "运维", "parent_department_id": "od_eng"},
        ]
        env.fake.users = [
            contact_user("ou_lead", "李领导"),
            contact_user("ou_wu", "吴工", leader="ou_lead", email="wu@example.com"),
            contact_user("ou_zhou", "周运维", leader="ou_wu", dept="od_ops", tz="Not/AZone"),
            contact_user("ou_left", "已离职", leader="ou_lead", resigned=True),
        ]
        env.fake.users += [contact_user(f"ou_p{i}", f"员工{i}", leader="ou_lead") for i in range(60)]  # 2 pages
        client = env.messenger.client
        people, names = directory.read_organisation(client)
        with transaction(env.app.sessions) as s:
            counts = directory.sync_users(
                s,
                people,
                names,
                default_timezone="Asia/Shanghai",
                default_locale="zh",
                now=env.clock.now(),
                managed_by_file={"ou_lead"},
            )
        assert counts["added"] == 62 and counts["kept"] == 1
        with transaction(env.app.sessions) as s:
            m = {x.account("feishu"): x for x in s.exec(select(Member))}
            assert m["ou_lead"].name == "文件里的名字" and m["ou_lead"].timezone == "Europe/London"  # the file wins
            assert m["ou_wu"].manager_id == m["ou_lead"].id and m["ou_wu"].handle == "wu"
            assert m["ou_zhou"].manager_id == m["ou_wu"].id and m["ou_zhou"].team == "运维"
            assert m["ou_zhou"].timezone == "Asia/Shanghai" and m["ou_zhou"].locale == "zh"
            assert "ou_left" not in m
        env.fake.users = [u for u in env.fake.users if u["open_id"] != "ou_zhou"]
        env.fake.users[1]["status"]["is_resigned"] = True  # 吴工 leaves
        people, names = directory.read_organisation(client)
        with transaction(env.app.sessions) as s:
            counts = directory.sync_users(
                s,
                people,
                names,
                default_timezone="Asia/Shanghai",
                default_locale="zh",
                now=env.clock.now(),
                managed_by_file={"ou_lead"},
            )
        assert counts["deactivated"] == 2
        env.app.tick()
        assert env.fake.sent("ou_wu") == [] and env.fake.sent("ou_zhou") == []  # no longer prompted
        assert len(env.fake.sent("ou_p1")) == 1
    finally:
        env.close()


def test_the_long_connection_acks_before_the_work_is_done(env):
    import threading

    started, release = threading.Event(), threading.Event()
    real_handle = env.app.handle

    def slow_handle(event):
        started.set()
        release.wait(10)
        return real_handle(event)

    env.app.handle = slow_handle  # type: ignore[method-assign]
    answered = threading.Event()
    caller = threading.Thread(
        target=lambda: (
            env.handler._do_without_validation(json.dumps(env.message("ou_alice", "/help")).encode()),
            answered.set(),
        )
    )
    caller.start()
    assert answered.wait(5) and started.wait(5)  # the frame is answered while the event is still being handled
    assert not release.is_set()
    release.set()
    env.events.wait_idle()
    caller.join()
    assert env.fake.texts("ou_alice")  # and the work happened after the ack


def test_the_long_connection_runs_in_its_own_thread_and_health_sees_it_down(env):
    import asyncio

    from bot.platforms.feishu import longconn

    main_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(main_loop)
    try:
        link = longconn.start(env.events, app_id=env.app_id, app_secret="app-secret-sentinel", domain=env.fake.url)
        assert link.thread is not None and link.thread.name == "feishu-long-connection"
        link.thread.join(10)  # the fake offers no long connection: the client gives up, the thread ends
        assert not link.thread.is_alive() and not link.up()
        bootstrap = [c for c in env.fake.calls if c.path == "/callback/ws/endpoint"]
        assert bootstrap and bootstrap[0].body["AppID"] == env.app_id
        assert not main_loop.is_closed() and not main_loop.is_running()  # this thread's loop was left alone
    finally:
        asyncio.set_event_loop(None)
        main_loop.close()


def test_a_request_to_report_is_answered_with_the_card_button_and_directory_lines_stay_the_directorys(tmp_path):
    org = {
        "members": [
            {"handle": "lead", "name": "李领导", "feishu": "ou_lead", "timezone": "Asia/Shanghai", "locale": "zh"},
            {"handle": "ops", "name": "运维管理员", "feishu": "ou_ops", "timezone": "Asia/Shanghai", "locale": "zh"},
        ],
        "admins": ["ops"],
    }
    env = Env(tmp_path, org=org)

    def sync() -> None:
        people, names = directory.read_organisation(env.messenger.client)
        with transaction(env.app.sessions) as s:
            directory.sync_users(
                s,
                people,
                names,
                default_timezone="Asia/Shanghai",
                default_locale="zh",
                now=env.clock.now(),
                managed_by_file={"ou_lead", "ou_ops"},
            )

    def line(handle: str) -> tuple[str | None, str | None]:
        with transaction(env.app.sessions) as s:
            people = {m.id: m for m in s.exec(select(Member))}
            m = next(p for p in people.values() if p.handle == handle)
            return (people[m.manager_id].handle if m.manager_id else None), m.manager_source

    try:
        env.fake.departments = [{"open_department_id": "od_eng", "name": "工程部", "parent_department_id": "0"}]
        env.fake.users = [
            contact_user("ou_lead", "李领导"),
            contact_user("ou_ops", "运维管理员"),
            contact_user("ou_wu", "吴工", email="wu@example.com"),
            contact_user("ou_zhou", "周运维", leader="ou_lead", email="zhou@example.com"),
        ]
        sync()
        assert line("wu") == (None, None) and line("zhou") == ("lead", "feishu")

        env.over_long_connection(env.message("ou_lead", "/flywheel team add @wu"))
        assert env.fake.texts("ou_lead")[-1].startswith("已请 吴工 确认。对方接受之前不会有任何改变")
        accept, decline = buttons(env.fake.sent("ou_wu")[-1].card)
        assert (accept["text"]["content"], accept["value"]["v"]) == ("接受", "/flywheel accept 1")
        assert (decline["text"]["content"], decline["value"]["v"]) == ("拒绝", "/flywheel decline 1")
        assert line("wu") == (None, None)  # nothing changes before the answer
        # Someone else pressing the button is refused, and nothing changes.
        env.over_long_connection(env.card_action("ou_ops", accept["value"]))
        assert env.fake.texts("ou_ops")[-1].startswith("没有找到等待你回复的请求 #1。")
        assert line("wu") == (None, None)
        answer = env.over_long_connection(env.card_action("ou_wu", accept["value"]))
        assert answer["toast"]["type"] == "success"
        assert env.fake.texts("ou_wu")[-1].startswith("好了：你现在在 Flywheel 中向 李领导 汇报。")
        assert env.fake.texts("ou_lead")[-1].startswith("✅ 吴工 已接受：现在在 Flywheel 中向你汇报。")
        assert line("wu") == ("lead", "chat")
        sync()  # the directory names no leader for 吴工: the line he accepted stays
        assert line("wu") == ("lead", "chat")

        # 周运维's line is the directory's: nobody changes it in chat, not even an admin.
        fixed = (
            "周运维的经理来自飞书通讯录（通讯录中设置的直属上级），不能在聊天中修改。请飞书企业管理员在通讯录中修改，"
            "Flywheel 会在一天内同步。"
        )
        env.over_long_connection(env.message("ou_ops", "/flywheel team add @zhou"))
        assert env.fake.texts("ou_ops")[-1] == fixed
        env.over_long_connection(env.message("ou_ops", "/flywheel manager @zhou @ops"))
        assert env.fake.texts("ou_ops")[-1] == fixed
        assert line("zhou") == ("lead", "feishu")
        # The directory naming a leader wins over chat; naming none later clears only its own line.
        env.fake.users[2]["leader_user_id"] = "ou_ops"
        env.fake.users[3]["leader_user_id"] = ""
        sync()
        assert line("wu") == ("ops", "feishu") and line("zhou") == (None, None)
    finally:
        env.close()


def test_the_follow_up_card_has_buttons_per_item_and_a_press_keeps_the_others(env):
    from storage import repo
    from storage.models import Obstacle

    now = env.clock.now()
    with transaction(env.app.sessions) as s:
        bo = repo.member_by_handle(s, handle="bo")
        for text in ("测试环境不稳定", "缺少设计资源"):
            s.add(Obstacle(member_id=bo.id, text=text, created_at=now, updated_at=now))
    env.app.tick()
    for text in ("4", "发布顺利"):
        env.over_long_connection(env.message("ou_bo", text))
    card = env.fake.sent("ou_bo")[-1].card
    assert "还没关闭的障碍（已解决 / 仍然存在 / 不再相关）" in env.fake.texts("ou_bo")[-1]
    notes = [e["elements"][0]["content"] for e in card["elements"] if e.get("tag") == "note"]
    assert notes == ["1. “测试环境不稳定”", "2. “缺少设计资源”"]
    pressable = [(b["text"]["content"], b["value"]["v"]) for b in buttons(card)]
    assert pressable[:6] == [
        ("已解决", "1 resolved"),
        ("仍然存在", "1 still"),
        ("不再相关", "1 no longer relevant"),
        ("已解决", "2 resolved"),
        ("仍然存在", "2 still"),
        ("不再相关", "2 no longer relevant"),
    ]
    assert pressable[6:] == [("都完成了", "all done"), ("稍后", "later"), ("跳过", "skip")]
    still = next(b for b in buttons(card) if b["value"]["v"] == "2 still")
    answer = env.over_long_connection(env.card_action("ou_bo", still["value"]))
    assert answer["toast"]["type"] == "success" and "card" not in answer  # item 1's buttons stay on the card
    env.app.deliver_outbox()
    assert env.fake.texts("ou_bo")[-1].startswith("已记下第 2 项 ✏️")
    resolved = next(b for b in buttons(card) if b["value"]["v"] == "1 resolved")
    env.over_long_connection(env.card_action("ou_bo", resolved["value"]))
    env.app.deliver_outbox()
    assert "(4/6) 现在有没有什么障碍" in env.fake.texts("ou_bo")[-1]
    with transaction(env.app.sessions) as s:
        assert {o.text: o.status for o in s.exec(select(Obstacle))} == {
            "测试环境不稳定": "resolved",
            "缺少设计资源": "open",
        }
