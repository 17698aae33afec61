"""`flywheel run` for a company on Slack *and* Feishu, started as an admin would, against fake Slack and Feishu
servers on loopback: both directories are read, and a signed, encrypted Feishu callback is acted on."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

from bot.platforms.feishu.inbound import encrypt
from conversations.calendar import WorkCalendar, next_working_time
from fakes.feishu_api import FakeFeishu
from fakes.slack_api import FakeSlack
from tests.e2e.test_slack_run import free_port, wait_for, wait_healthy

KEY = "e2e-encrypt-key"


def test_one_process_serves_slack_and_feishu(tmp_path):
    slack, feishu = FakeSlack().start(), FakeFeishu().start()
    slack.users = [{"id": "UALICE", "name": "alice", "real_name": "Alice Martin", "tz": "Europe/London"}]
    feishu.departments = [{"open_department_id": "od_eng", "name": "工程部", "parent_department_id": "0"}]
    feishu.users = [
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
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FEISHU_", "FLYWHEEL_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-e2e",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": slack.url,
            "FEISHU_APP_ID": "cli_e2e",
            "FEISHU_APP_SECRET": "feishu-secret",
            "FEISHU_DOMAIN": feishu.url,
            "FEISHU_ENCRYPT_KEY": KEY,
            "FEISHU_VERIFICATION_TOKEN": "vt",
            "PORT": str(port),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = wait_healthy(proc, port)
        assert health["database"] is True and health["platforms"] == ["feishu", "slack"]
        # the fake offers no long connection: the bot keeps serving callbacks, and /healthz says the link is down
        assert wait_for(lambda: wait_healthy(proc, port)["connections"] == {"feishu": False})
        assert wait_for(lambda: any(c.path.endswith("find_by_department") for c in feishu.calls))
        assert any(c.method == "users.list" for c in slack.calls)
        event = {
            "schema": "2.0",
            "header": {
                "event_id": "ev-e2e",
                "token": "vt",
                "event_type": "im.message.receive_v1",
                "create_time": "1",
                "tenant_key": "t",
                "app_id": "cli_e2e",
            },
            "event": {
                "sender": {"sender_id": {"open_id": "ou_li"}, "sender_type": "user"},
                "message": {
                    "message_id": "om_e2e",
                    "chat_id": "oc_x",
                    "chat_type": "p2p",
                    "message_type": "text",
                    "content": json.dumps({"text": "/kudos @_user_1 谢谢你带我熟悉代码 #成长"}),
                    "mentions": [{"key": "@_user_1", "name": "王芳", "id": {"open_id": "ou_wang"}}],
                },
            },
        }
        body = json.dumps({"encrypt": encrypt(KEY, json.dumps(event).encode(), os.urandom(16))}).encode()
        ts, nonce = str(int(time.time())), "nonce-e2e"
        headers = {
            "Content-Type": "application/json",
            "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": hashlib.sha256(f"{ts}{nonce}{KEY}".encode() + body).hexdigest(),
        }
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/feishu/events", data=body, method="POST", headers=headers
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200

        # 王芳's DM goes out in her working hours (09:00–18:00 in Shanghai on working days): now, or held till then.
        def queued() -> tuple[datetime, datetime] | None:
            with sqlite3.connect(tmp_path / "f.db") as db:
                row = db.execute(
                    "SELECT created_at, next_attempt_at FROM outbox_message WHERE kind = 'kudos_received'"
                ).fetchone()
            return (
                None
                if row is None
                else tuple(  # type: ignore[return-value]
                    datetime.fromisoformat(str(v)).replace(tzinfo=UTC) for v in row
                )
            )

        assert wait_for(lambda: queued() is not None)
        created, due = queued()  # type: ignore[misc]
        assert due == next_working_time(WorkCalendar(), "Asia/Shanghai", created)
        if due == created:
            assert wait_for(lambda: len(feishu.sent("ou_wang")) == 1)
            assert feishu.texts("ou_wang")[0].startswith(
                "🎉 李雷 给你点了赞：“谢谢你带我熟悉代码”"
            )  # in Chinese by default
        else:
            assert feishu.sent("ou_wang") == []
        try:  # the same request again is a replay
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{port}/feishu/events", data=body, method="POST", headers=headers
                ),
                timeout=5,
            )
            raise AssertionError("expected 401")
        except urllib.error.HTTPError as err:
            assert err.code == 401
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        slack.stop()
        feishu.stop()
    assert "feishu-secret" not in err and KEY not in err and "你带我熟悉代码" not in err
