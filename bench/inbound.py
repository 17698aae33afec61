"""Inbound latency in HTTP mode: 50 requests/s of signed slash commands, button presses and DM answers (Slack's
payload shapes, as in tests/platforms/test_slack_http.py) for 60 s, while fan-outs of the weekly check-in to 2,000
members run back to back in the same process. Floor: a bare Bolt app that only acks, behind the same waitress.
Latency is measured by the client, from the instant a request was due to be sent (an open-loop schedule, so a
slow server cannot hide its slowness by slowing the client) to the end of the response."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from bench.common import Result, percentile, slack_id
from bench.proc import Server
from bench.server import SECRET

FORM = "application/x-www-form-urlencoded"


def sign(body: bytes, ts: str) -> str:
    return "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()


def dm(user: str, text: str, event_id: str, now: float) -> tuple[bytes, str]:
    payload = {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(now),
        "event": {
            "type": "message",
            "channel_type": "im",
            "user": user,
            "text": text,
            "ts": f"{now:.6f}",
            "channel": "D0" + user,
            "event_ts": f"{now:.6f}",
            "client_msg_id": event_id.lower(),
        },
    }
    return json.dumps(payload).encode(), "application/json"


def press(user: str, value: str, action_ts: str) -> tuple[bytes, str]:
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
                "action_id": f"weekly_checkin:answer:{value}",
                "block_id": "weekly_checkin:mood",
                "text": {"type": "plain_text", "text": value},
                "value": value,
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


def command(user: str, name: str, text: str, trigger: str, channel: str = "D0X") -> tuple[bytes, str]:
    form = {
        "token": "legacy",
        "team_id": "T1",
        "team_domain": "acme",
        "channel_id": channel,
        "channel_name": "directmessage" if channel.startswith("D") else "product",
        "user_id": user,
        "user_name": user.lower(),
        "command": name,
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T1/1/x",
        "trigger_id": trigger,
    }
    return urlencode(form).encode(), FORM


def request_mix(i: int, rng: random.Random, members: int, now: float) -> tuple[str, bytes, str]:
    """The i-th request: 35 % DM answers, 30 % button presses, 35 % slash commands (/checkin, /kudos, /flywheel me)."""
    user = slack_id(rng.randrange(members))
    roll = rng.random()
    if roll < 0.35:
        text = rng.choice(["4", "Shipped the importer with Bo", "none", "ship v2; write docs", "later"])
        return ("dm", *dm(user, text, f"Ev{i:08d}", now))
    if roll < 0.65:
        return ("button", *press(user, rng.choice("12345"), f"{now:.6f}{i}"))
    which = rng.random()
    if which < 1 / 3:
        return ("command", *command(user, "/checkin", "", f"trig-{i}"))
    if which < 2 / 3:
        other = slack_id(rng.randrange(members))
        return ("command", *command(user, "/kudos", f"<@{other}|m> for the review #teamwork", f"trig-{i}", "C0PRODUCT"))
    return ("command", *command(user, "/flywheel", "me", f"trig-{i}"))


def load(port: int, *, rate: float, duration: float, members: int, seed: int = 1) -> list[dict[str, Any]]:
    """Open-loop load: request i is due at start + i / rate; returns one record per request."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def one(i: int, due: float) -> None:
        now = time.time()
        kind, body, content_type = request_mix(i, rng_for[i], members, now)
        ts = str(int(now))
        status, error = 0, None
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(
                "POST",
                "/slack/events",
                body=body,
                headers={
                    "Content-Type": content_type,
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": sign(body, ts),
                },
            )
            response = conn.getresponse()
            response.read()
            status = response.status
            conn.close()
        except OSError as exc:
            error = type(exc).__name__
        end = time.perf_counter()
        with lock:
            records.append({"i": i, "kind": kind, "status": status, "error": error, "due": due, "latency": end - due})

    total = int(rate * duration)
    rng_for = [random.Random(rng.random()) for _ in range(total)]
    start = time.perf_counter() + 0.2
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i, due)
    for r in records:
        r["at"] = r["due"] - start
    return records


def stats_of(url: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection(url.split("//")[1].split("/")[0], timeout=30)
    conn.request("POST", "/api/bench.stats", body=b"{}", headers={"Content-Type": "application/json"})
    data = json.loads(conn.getresponse().read())
    conn.close()
    return data


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r["latency"] * 1000 for r in records if r["status"] == 200]
    return {
        "requests": len(records),
        "ok": len(ok),
        "errors": len(records) - len(ok),
        "p50_ms": round(percentile(ok, 50), 1),
        "p99_ms": round(percentile(ok, 99), 1),
        "max_ms": round(max(ok), 1) if ok else None,
    }


def run(url: str, db: str, *, members: int = 2000, rate: float = 50, duration: float = 60) -> Result:
    result = Result("inbound", db)
    fake = Server(module="bench.fake_server")  # its own process: see bench/fake_server.py
    fake.url = fake.ready["url"]  # type: ignore[attr-defined]
    try:
        floor = Server("--mode", "bolt", "--slack", fake.url)
        try:
            floor_records = load(floor.port, rate=rate, duration=duration, members=members)
        finally:
            floor.close()
        bot = Server("--mode", "flywheel", "--db", url, "--slack", fake.url, "--members", str(members))
        try:
            bot.send("loop")
            records = load(bot.port, rate=rate, duration=duration, members=members)
            bot.send("stop")
            bot.wait_for("stopped")
            fanouts = [e for e in bot.events if "fanout" in e]
        finally:
            bot.close()
        posted = stats_of(fake.url)  # type: ignore[attr-defined]
    finally:
        fake.close()
    floor_stats, stats = summarise(floor_records), summarise(records)
    by_kind = {k: summarise([r for r in records if r["kind"] == k]) for k in ("dm", "button", "command")}
    complete = [f for f in fanouts if f["delivered"]]
    result.figures.update(
        {
            "rate_per_s": rate,
            "duration_s": duration,
            "members": members,
            "flywheel_p50_ms": stats["p50_ms"],
            "flywheel_p99_ms": stats["p99_ms"],
            "flywheel_max_ms": stats["max_ms"],
            "floor_p50_ms": floor_stats["p50_ms"],
            "floor_p99_ms": floor_stats["p99_ms"],
            "median_ratio": round(stats["p50_ms"] / floor_stats["p50_ms"], 2) if floor_stats["p50_ms"] else None,
            "requests": stats["requests"],
            "errors": stats["errors"],
            "floor_errors": floor_stats["errors"],
            "fanouts": len(complete),
            "prompts_during_load": sum(f["delivered"] for f in complete),
            "slack_posts": posted["posted"],
            "fanout_mean_s": round(sum(f["seconds"] for f in complete) / len(complete), 2) if complete else None,
            **{f"{k}_p99_ms": v["p99_ms"] for k, v in by_kind.items()},
        }
    )
    result.targets.update(
        {
            "p99 < 250 ms": stats["p99_ms"] < 250 and stats["errors"] == 0,
            "median <= 1.5 x floor": bool(floor_stats["p50_ms"]) and stats["p50_ms"] <= 1.5 * floor_stats["p50_ms"],
        }
    )
    return result
