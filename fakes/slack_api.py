"""A fake Slack Web API on 127.0.0.1 (port 0): records every call and answers like Slack, 429s included.

The real `slack_sdk` WebClient talks to it through `base_url`. Each call is stamped with the test's clock, so
a test can assert that nothing arrived before a `Retry-After` it was given had passed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from fakes.loopback import LoopbackServer, Scripted, send_json


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    at: datetime | None


class FakeSlack(LoopbackServer):
    def __init__(self, clock: Any = None) -> None:
        super().__init__(self._handler(), clock)
        self.users: list[dict[str, Any]] = []
        # Called in the request's thread after the call is recorded and answered, before the answer is written back:
        # a test can hold it there (Slack has the message, the sender does not know yet) and kill the sender, or
        # return False to drop the connection without an answer.
        self.gate: Callable[[Call, Scripted], None] | None = None
        self.delivered: list[tuple[Call, str]] = []  # successful chat.postMessage calls and their ts
        self.socket_url: str | None = None  # a FakeSocketMode (fakes/slack_socket.py) sets it
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self.uploads: dict[str, bytes] = {}  # file id → the bytes POSTed to its upload URL
        self.files: dict[str, dict[str, Any]] = {}  # file id → getUploadURLExternal's params (filename, alt_txt, …)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def uploaded(self) -> list[Call]:
        """files.completeUploadExternal calls: each finished upload, with where it was shared."""
        return [c for c in self.calls if c.method == "files.completeUploadExternal"]

    def posted(self, channel: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == "chat.postMessage" and (channel is None or c.params["channel"] == channel)
        ]

    # ------------------------------------------------------------------------------------------------ serving

    def _target(self, call: Call) -> str:
        return str(call.params.get("channel", ""))

    def _default(self, call: Call) -> Scripted:
        p = call.params
        if call.method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            self.delivered.append((call, ts))
            return Scripted(
                200, {"ok": True, "channel": p.get("channel"), "ts": ts, "message": {"text": p.get("text")}}
            )
        if call.method == "files.getUploadURLExternal":
            if not p.get("filename") or not str(p.get("length", "")).isdigit():
                return Scripted(200, {"ok": False, "error": "invalid_arguments"})
            file_id = f"F{next(self._files):08d}"
            self.files[file_id] = dict(p)
            return Scripted(
                200, {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}
            )
        if call.method == "files.completeUploadExternal":
            files = p.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            unknown = [f.get("id") for f in files if f.get("id") not in self.uploads]
            if not files or unknown:
                return Scripted(200, {"ok": False, "error": "file_not_found"})
            return Scripted(200, {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]})
        if call.method == "apps.connections.open":
            return Scripted(
                200, {"ok": True, "url": self.socket_url} if self.socket_url else {"ok": False, "error": "invalid_auth"}
            )
        if call.method == "auth.test":
            return Scripted(200, {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "team": "Acme"})
        if call.method == "users.list":
            return Scripted(200, {"ok": True, "members": self.users, "response_metadata": {"next_cursor": ""}})
        if call.method == "users.info":
            user = next((u for u in self.users if u["id"] == p.get("user")), None)
            return Scripted(200, {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"})
        if call.method == "conversations.open":
            return Scripted(200, {"ok": True, "channel": {"id": "D" + str(p.get("users", "X"))}})
        if call.method == "conversations.history":
            channel = str(p.get("channel", ""))
            user = channel[1:] if channel.startswith("D") else channel
            messages = [
                {
                    "type": "message",
                    "ts": ts,
                    "text": c.params.get("text"),
                    **(
                        {"metadata": c.params["metadata"]}
                        if p.get("include_all_metadata") in (True, "true", "1") and c.params.get("metadata")
                        else {}
                    ),
                }
                for c, ts in self.delivered
                if c.params.get("channel") in (channel, user)
            ]
            return Scripted(200, {"ok": True, "messages": list(reversed(messages))[: int(p.get("limit", 100))]})
        return Scripted(200, {"ok": True})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path.startswith("/upload/"):  # the upload URL files.getUploadURLExternal gave out
                    file_id = self.path.rsplit("/", 1)[-1]
                    body = self.rfile.read(length)
                    known = file_id in fake.files and len(body) == int(fake.files[file_id]["length"])
                    if known:
                        fake.uploads[file_id] = body
                    self.send_response(200 if known else 400)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"OK")
                    return
                raw = self.rfile.read(length).decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(raw).items()}
                auth = self.headers.get("Authorization") or ""
                call = Call(
                    method=self.path.rsplit("/", 1)[-1],
                    params=params,
                    token=auth.removeprefix("Bearer ") or params.get("token"),
                    at=fake.clock.now() if fake.clock else None,
                )
                answer = fake._answer(call)
                if fake.gate is not None and fake.gate(call, answer) is False:
                    self.close_connection = True  # recorded, but the caller never hears back (a lost answer)
                    return
                send_json(self, answer)

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        return Handler
