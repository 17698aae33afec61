"""What every fake platform server shares: an HTTP server on 127.0.0.1 (port 0) in a daemon thread, and the way it
answers a call — a scripted answer first, then a rule, then the platform's default — while remembering when a 429
told a target to wait, so a test can assert nothing arrived there before its time."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

Self = TypeVar("Self", bound="LoopbackServer")


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def send_json(handler: BaseHTTPRequestHandler, answer: Scripted) -> None:
    """Write a scripted answer as the platform would: JSON, its status and headers."""
    body = json.dumps(answer.body, ensure_ascii=False).encode()
    try:
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        for key, value in answer.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:  # the caller was killed while the answer was held back
        pass


class LoopbackServer:
    RESET_HEADER = "Retry-After"  # the header of a 429 that says how long to wait

    def __init__(self, handler: type[BaseHTTPRequestHandler], clock: Any = None) -> None:
        self.clock = clock
        self.calls: list[Any] = []
        self.script: dict[str, list[Scripted]] = {}  # answers to give, in order, per call method
        self.rule: Callable[[Any], Scripted | None] | None = None  # decides per call, after the script
        self.not_before: dict[str, datetime] = {}  # target → earliest allowed call after a 429
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self: Self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _target(self, call: Any) -> str:  # who a call is addressed to (a channel, a user)
        raise NotImplementedError

    def _default(self, call: Any) -> Scripted:  # what the platform answers when nothing is scripted
        raise NotImplementedError

    def _answer(self, call: Any) -> Scripted:
        with self._lock:
            self.calls.append(call)
            target = self._target(call)
            if call.at is not None and target in self.not_before and call.at < self.not_before[target]:
                self.violations.append(f"{call.method} to {target} at {call.at} before {self.not_before[target]}")
            queued = self.script.get(call.method)
            answer = queued.pop(0) if queued else (self.rule(call) if self.rule else None)
            if answer is not None and answer.status == 429 and call.at is not None:
                wait = float(answer.headers.get(self.RESET_HEADER, "1"))
                self.not_before[target] = call.at + timedelta(seconds=wait)
            return answer or self._default(call)
