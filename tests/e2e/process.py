"""What the end-to-end tests of whole processes share: a `flywheel` process started as the Procfile starts it, its
output read as it comes; an outbox filled before it starts; a raw HTTP connection that can leave a request half
sent (a request the server has in hand)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from bot.codec import encode_replies
from conversations.machine import Reply
from storage import repo
from storage.db import create_db_engine, session_factory, transaction, upgrade
from storage.models import Member, OutboxMessage

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FEISHU_", "FLYWHEEL_", "DATABASE_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class Bot:
    """`python -m bot ARGS` in `cwd`; stdout and stderr collected line by line (threads), stdin a pipe."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._cond = threading.Condition()
        for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, into), daemon=True).start()
        self.exit_seconds: float | None = None

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._cond:
                into.append(line)
                self._cond.notify_all()
        with self._cond:
            into.append("")  # end of stream
            self._cond.notify_all()

    @property
    def text(self) -> str:
        with self._cond:
            return "".join(self.out) + "".join(self.err)

    def wait_text(self, text: str, timeout: float = 30) -> None:
        with self._cond:
            if not self._cond.wait_for(
                lambda: text in "".join(self.out) + "".join(self.err) or self.proc.poll() is not None, timeout
            ):
                raise TimeoutError(f"no {text!r} within {timeout} s:\n{self.text}")
        assert text in self.text, f"the process ended without {text!r}:\n{self.text}"

    def sigterm(self) -> None:
        self._sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = 10) -> int:
        """Its exit code; fails if it did not exit within `timeout` seconds of the SIGTERM (then it is killed)."""
        try:
            code = self.proc.wait(timeout=max(0.1, self._sent + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"still running {timeout} s after SIGTERM:\n{self.text}") from None
        self.exit_seconds = time.monotonic() - self._sent
        with self._cond:  # everything it wrote, read to the end
            self._cond.wait_for(lambda: self.out[-1:] == [""] and self.err[-1:] == [""], 5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def seed_outbox(database_url: str, people: list[dict[str, Any]], *, per_person: int) -> list[int]:
    """Migrate the database, add `people` (Member fields, and `accounts`) and queue `per_person` messages to each;
    returns the ids in the order a sender claims them."""
    engine = create_db_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    try:
        with transaction(session_factory(engine)) as s:
            for person in people:
                fields = {k: v for k, v in person.items() if k != "accounts"}  # accounts: {platform: user id}
                member = Member(timezone="UTC", created_at=now, updated_at=now, **fields)
                for platform, user_id in person.get("accounts", {}).items():
                    member.set_account(platform, user_id)
                s.add(member)
            s.flush()
            members = list(s.exec(select(Member).order_by(Member.id)))
            for n in range(per_person):
                for m in members:
                    repo.enqueue(
                        s,
                        dedup_key=f"seed:{m.id}:{n}",
                        member_id=m.id,
                        kind="admin_alert",
                        now=now,
                        body=encode_replies(
                            [Reply("common/admin_send_failed", {"who": f"test{n}", "reason": "seeded"})]
                        ),
                    )
        with transaction(session_factory(engine)) as s:
            return [
                r.id for r in s.exec(select(OutboxMessage).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id))
            ]
    finally:
        engine.dispose()


def outbox(database_url: str) -> dict[int, OutboxMessage]:
    engine = create_db_engine(database_url)
    try:
        with transaction(session_factory(engine)) as s:
            rows = list(s.exec(select(OutboxMessage)))
            for row in rows:
                s.expunge(row)
            return {r.id: r for r in rows}
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 response (status, body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length"), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), body


class HalfSent:
    """A keep-alive connection that has been answered once (so the server has surely accepted it), then holds a
    POST whose body is only half sent: a request the server has in hand."""

    def __init__(self, port: int, path: str, body: bytes, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: flywheel\r\n\r\n")
        read_response(self.sock)
        head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Length": str(len(body))}.items())
        self.rest = body[len(body) // 2 :]
        self.sock.sendall(f"POST {path} HTTP/1.1\r\nHost: flywheel\r\n{head}\r\n".encode() + body[: len(body) // 2])

    def finish(self) -> tuple[int, bytes]:
        """Send the rest of the body; the answer."""
        try:
            self.sock.sendall(self.rest)
            return read_response(self.sock)
        finally:
            self.sock.close()
