"""Helpers for the multi-process tests: replicas as subprocesses (tests/scale/worker.py), a fake Slack that can
hold one answer back while the test kills the sender, and counting what members actually received."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fakes.slack_api import Call, FakeSlack, Scripted

ROOT = Path(__file__).resolve().parents[2]
WAIT = 90.0  # seconds of real time a replica may take to answer one command (a 500-member tick on a busy machine)

ZONES = (
    "Australia/Sydney",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
)


def slack_id(i: int) -> str:
    return f"U{i:05d}"


def write_org(path: Path, members: int, zones: tuple[str, ...] = ZONES) -> Path:
    """`members` people spread over `zones`. Reminders are pushed past the window and the monthly review is off, so
    the only scheduled messages are the weekly prompts these tests count."""
    org = {
        "members": [
            {"handle": f"m{i}", "name": f"Member {i}", "slack": slack_id(i), "timezone": zones[i % len(zones)]}
            for i in range(members)
        ],
        "flows": {"weekly_checkin": {"reminder_after": "5d"}, "monthly_review": {"enabled": False}},
    }
    path.write_text(json.dumps(org), encoding="utf-8")  # JSON is YAML
    return path


class Replica:
    """One `tests.scale.worker` process, driven line by line over stdin/stdout."""

    def __init__(
        self,
        name: str,
        *,
        database_url: str,
        fake: FakeSlack,
        org: Path,
        start: datetime,
        logs: Path,
        env: dict[str, str] | None = None,  # more of the environment (the freeze tests' settings)
    ):
        extra = env or {}
        self.name = name
        self.token = f"xoxb-{name}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FEISHU_", "FLYWHEEL_"))}
        env.update(
            {
                "DATABASE_URL": database_url,
                "SLACK_BOT_TOKEN": self.token,
                "SLACK_API_URL": fake.url,
                "FLYWHEEL_CONFIG": str(org),
                "FLYWHEEL_LOG_LEVEL": "WARNING",
                "FLYWHEEL_TEST_START": start.isoformat(),
                "PYTHONPATH": str(ROOT),
                **extra,
            }
        )
        self.log = logs / f"{name}.log"
        self._stderr = open(self.log, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.scale.worker"],
            cwd=ROOT,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def next_line(self, timeout: float = WAIT) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"replica {self.name} said nothing for {timeout}s; log: {self.tail()}") from None
        if line is None:
            raise AssertionError(f"replica {self.name} exited ({self.proc.wait()}); log: {self.tail()}")
        if line.startswith("error"):
            raise AssertionError(f"replica {self.name}: {line}; log: {self.tail()}")
        return line

    def poll_line(self) -> str | None:
        """A line if one is waiting (never blocks)."""
        try:
            line = self.lines.get_nowait()
        except queue.Empty:
            return None
        if line is None or line.startswith("error"):
            raise AssertionError(f"replica {self.name}: {line or 'exited'}; log: {self.tail()}")
        return line

    def expect(self, prefix: str) -> str:
        line = self.next_line()
        assert line.startswith(prefix), f"replica {self.name}: expected {prefix!r}, got {line!r}"
        return line

    def tick(self, when: datetime) -> dict[str, int]:
        self.send(f"tick {when.isoformat()}")
        return json.loads(self.expect("done").removeprefix("done "))

    def kill(self) -> None:
        """SIGKILL: no clean-up, no rollback from our side; the kernel closes its sockets and files."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=WAIT)
        self._stderr.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=WAIT)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8")[-3000:]
        except OSError:
            return "(no log)"


class Holder:
    """A gate for FakeSlack: once armed, the nth successful call of `method` is recorded (Slack has the message) and
    then its answer is held back until `release()` — the test kills the sender meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.method = ""
        self.nth = 0
        self.seen = 0
        self.call: Call | None = None
        self.held = threading.Event()
        self._release = threading.Event()

    def arm(self, method: str, nth: int) -> None:
        with self._lock:
            self.method, self.nth, self.seen, self.call = method, nth, 0, None
            self.held.clear()
            self._release.clear()

    def release(self) -> None:
        with self._lock:
            self.nth = 0
        self._release.set()

    def __call__(self, call: Call, answer: Scripted) -> None:
        with self._lock:
            if not self.nth or call.method != self.method or answer.status != 200 or not answer.body.get("ok"):
                return
            self.seen += 1
            if self.seen != self.nth:
                return
            self.call = call
        self.held.set()
        self._release.wait(WAIT)


def wait_until(predicate, what: str, timeout: float = WAIT) -> None:
    """Poll for a real event (a process answering, a request arriving); simulated time never depends on this."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def outbox_id(call: Call) -> int | None:
    meta = call.params.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta)
    return (meta.get("event_payload") or {}).get("outbox_id")


def outbox_rows(database_url: str) -> dict[int, dict[str, Any]]:
    """Every outbox row with its kind, status and run period, straight from the database."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.text(
                        "SELECT o.id, o.kind, o.status, o.last_error, o.lease_owner, r.period, "
                        "i.external_id AS slack_user_id "
                        "FROM outbox_message o LEFT JOIN conversation_run r ON r.id = o.run_id "
                        "LEFT JOIN member_identity i ON i.member_id = o.member_id AND i.platform = 'slack'"
                    )
                )
                .mappings()
                .all()
            )
        return {row["id"]: dict(row) for row in rows}
    finally:
        engine.dispose()


def prompts_by_period(fake: FakeSlack, database_url: str) -> dict[str, Counter[str]]:
    """What members saw: weekly prompts that reached the fake Slack, per period, per DM."""
    rows = outbox_rows(database_url)
    out: dict[str, Counter[str]] = {}
    for call, _ts in list(fake.delivered):
        row = rows.get(outbox_id(call) or -1)
        assert row is not None, f"a message reached Slack without an outbox row: {call.params.get('text')!r}"
        if row["kind"] == "deliver":
            out.setdefault(row["period"], Counter())[call.params["channel"]] += 1
    return out


def posts_per_outbox_id(fake: FakeSlack) -> Counter[int | None]:
    return Counter(outbox_id(call) for call, _ts in list(fake.delivered))


def tick_until_killed(replicas: list[Replica], when: datetime, holder: Holder) -> Replica:
    """Tick every replica at `when`; one of them stops (held by the fake Slack, or at a `pause` point) and is killed
    there with SIGKILL. Returns the victim once the others have finished their tick."""
    for r in replicas:
        r.send(f"tick {when.isoformat()}")
    answered: dict[str, str] = {}
    victim: list[Replica] = []

    def stopped() -> bool:
        for r in replicas:
            if r.name not in answered and (line := r.poll_line()) is not None:
                answered[r.name] = line
                if line.startswith("paused"):
                    victim.append(r)
        if holder.held.is_set() and not victim:
            victim.extend(r for r in replicas if r.token == (holder.call.token if holder.call else None))
        if not victim and len(answered) == len(replicas) and not holder.held.is_set():
            raise AssertionError(f"every replica finished its tick at {when} without reaching the kill point")
        return bool(victim)

    wait_until(stopped, f"a replica to reach the kill point at {when}")
    dead = victim[0]
    dead.kill()
    holder.release()
    for r in replicas:
        if r is not dead and r.name not in answered:
            answered[r.name] = r.expect("done")
    return dead
