"""`flywheel run` in Slack HTTP mode as an admin would start it, against a fake Slack on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from conversations.calendar import WorkCalendar, next_working_time
from fakes.slack_api import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # polling a real subprocess; no scheduled behaviour depends on this
    return False


def wait_healthy(proc: subprocess.Popen, port: int) -> dict:
    """Wait until the bot answers /healthz (200, or 503 when something is down) and return what it says."""
    seen: list[dict] = []

    def answered() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                seen.append(json.loads(r.read()))
        except urllib.error.HTTPError as err:
            seen.append(json.loads(err.read()))
        except OSError:
            return False
        return True

    assert wait_for(answered), proc.stderr.read() if proc.poll() is not None else "no health"
    return seen[-1]


def test_run_in_http_mode_discovers_members_and_answers_a_signed_command(tmp_path):
    fake = FakeSlack().start()
    fake.users = [
        {"id": "UALICE", "name": "alice", "real_name": "Alice Martin", "tz": "Europe/London", "locale": "en-GB"},
        {"id": "UBO", "name": "bo", "real_name": "Bo Li", "tz": "America/New_York", "locale": "en-US"},
    ]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FEISHU_", "FLYWHEEL_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-e2e",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.url,
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
        assert wait_healthy(proc, port)["ok"] is True
        body = urlencode(
            {
                "command": "/kudos",
                "text": "<@UBO> for the release notes",
                "user_id": "UALICE",
                "channel_id": "C0GENERAL",
                "channel_name": "general",
                "team_id": "T1",
                "trigger_id": "trig-e2e",
            }
        ).encode()
        ts = str(int(time.time()))
        sig = "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/slack/events",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sig,
            },
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        assert wait_for(lambda: len(fake.posted("C0GENERAL")) == 1)
        # Bo's DM goes out in his working hours (09:00–18:00 in New York on working days): now, or held till then.
        with sqlite3.connect(tmp_path / "f.db") as db:
            created, due = db.execute(
                "SELECT created_at, next_attempt_at FROM outbox_message WHERE kind = 'kudos_received'"
            ).fetchone()
        created, due = (datetime.fromisoformat(str(v)).replace(tzinfo=UTC) for v in (created, due))
        assert due == next_working_time(WorkCalendar(), "America/New_York", created)
        if due == created:
            assert wait_for(lambda: len(fake.posted("UBO")) == 1)
            assert fake.posted("UBO")[0].params["text"].startswith("🎉 Kudos from Alice: “for the release notes”")
        else:
            assert fake.posted("UBO") == []
        assert fake.posted("C0GENERAL")[0].token == "xoxb-e2e"
        bad = urllib.request.Request(
            f"http://127.0.0.1:{port}/slack/events",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": "nope",
                "X-Slack-Signature": sig,
            },
        )
        try:
            urllib.request.urlopen(bad, timeout=5)
            raise AssertionError("expected 401")
        except urllib.error.HTTPError as err:
            assert err.code == 401
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        fake.stop()


def test_a_web_replica_answers_someone_no_worker_has_synced_yet(tmp_path):
    fake = FakeSlack().start()
    fake.users = [{"id": "UNEW", "name": "sam", "real_name": "Sam Lee", "tz": "America/New_York", "locale": "en-US"}]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FEISHU_", "FLYWHEEL_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-e2e",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.url,
            "PORT": str(port),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "web"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_healthy(proc, port)["database"] is True
        assert not any(c.method == "users.list" for c in fake.calls)  # a web replica never syncs the directory
        body = json.dumps(
            {
                "type": "event_callback",
                "event_id": "EvWeb1",
                "team_id": "T1",
                "event": {
                    "type": "message",
                    "channel_type": "im",
                    "user": "UNEW",
                    "text": "/help",
                    "ts": "1.1",
                    "channel": "D0UNEW",
                },
            }
        ).encode()
        ts = str(int(time.time()))
        sig = "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/slack/events",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        assert wait_for(lambda: len(fake.posted("UNEW")) == 1)
        assert fake.posted("UNEW")[0].params["text"].startswith("Flywheel keeps a light, regular conversation")
        assert [c.params.get("user") for c in fake.calls if c.method == "users.info"] == ["UNEW"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        fake.stop()
