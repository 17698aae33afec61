"""A fake Feishu / Lark Open API on 127.0.0.1 (port 0): the token endpoint, message create / reply / patch, and the
contact API (departments, users, one user by open_id). Records every call and answers like Feishu, 429s included.

The real `lark-oapi` client talks to it through its `domain`. Each call is stamped with the test's clock, so a test
can assert that nothing arrived before an `x-ogw-ratelimit-reset` it was given had passed. Message create honours
`uuid` the way Feishu does (the same uuid within an hour is not delivered again).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.loopback import LoopbackServer, Scripted, send_json


@dataclass
class Call:
    method: str  # e.g. "POST /open-apis/im/v1/messages"
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    token: str | None
    at: datetime | None

    @property
    def card(self) -> dict[str, Any]:
        return json.loads(self.body.get("content") or "{}")


MESSAGES = "/open-apis/im/v1/messages"


class FakeFeishu(LoopbackServer):
    RESET_HEADER = "x-ogw-ratelimit-reset"

    def __init__(self, clock: Any = None, *, token_expire: int = 7200) -> None:
        super().__init__(self._handler(), clock)
        self.token_expire = token_expire
        self.users: list[dict[str, Any]] = []  # contact users (open_id, name, leader_user_id, time_zone, …)
        self.departments: list[dict[str, Any]] = []  # {open_department_id, name, parent_department_id}
        self.delivered: list[tuple[Call, str]] = []  # messages that reached a chat, with their message_id
        self.tokens_issued = 0
        self.long_connection: Any = None  # a FakeLongConnection (fakes/feishu_ws.py) serves the bootstrap
        self._by_uuid: dict[str, str] = {}
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent(self, receiver: str | None = None) -> list[Call]:
        """Delivered messages (create and reply), optionally to one open_id / chat_id (replies: the parent's chat)."""
        return [c for c, _ in self.delivered if receiver is None or self._target(c) == receiver]

    def texts(self, receiver: str) -> list[str]:
        """The markdown of each delivered card to one receiver, joined per card."""
        return [
            "\n".join(e.get("content", "") for e in c.card.get("elements", []) if e.get("tag") == "markdown")
            for c in self.sent(receiver)
        ]

    def _target(self, call: Call) -> str:
        if not call.path.startswith(MESSAGES):
            return call.path
        if call.path.endswith("/reply"):
            parent = call.path.split("/")[-2]
            for c, mid in self.delivered:
                if mid == parent:
                    return self._target(c)
            return parent
        return str(call.body.get("receive_id", ""))

    # ------------------------------------------------------------------------------------------------ serving

    def _default(self, call: Call) -> Scripted:
        if call.path == "/open-apis/auth/v3/tenant_access_token/internal":
            self.tokens_issued += 1
            return Scripted(
                200,
                {"code": 0, "msg": "ok", "tenant_access_token": f"t-{self.tokens_issued}", "expire": self.token_expire},
            )
        if call.path == "/callback/ws/endpoint":  # the long connection's bootstrap
            if self.long_connection is not None:
                return self.long_connection.endpoint(call)
            return Scripted(200, {"code": 1000040351, "msg": "long connection is not offered by the fake"})
        if call.path == "/open-apis/auth/v3/app_access_token/internal":
            return Scripted(200, {"code": 0, "msg": "ok", "app_access_token": "a-1", "expire": self.token_expire})
        if call.token is None or not call.token.startswith("t-"):
            return Scripted(400, {"code": 99991661, "msg": "Missing access token for authorization."})
        if call.path.startswith(MESSAGES) and call.method.startswith("POST"):
            uuid = call.body.get("uuid")
            if uuid and uuid in self._by_uuid:  # Feishu: the same uuid within an hour is one message
                return Scripted(200, {"code": 0, "msg": "success", "data": {"message_id": self._by_uuid[uuid]}})
            message_id = f"om_{next(self._ids):06d}"
            if uuid:
                self._by_uuid[uuid] = message_id
            self.delivered.append((call, message_id))
            chat = "oc_p2p_" + str(call.body.get("receive_id", "")) if not call.path.endswith("/reply") else "oc_thread"
            return Scripted(
                200,
                {
                    "code": 0,
                    "msg": "success",
                    "data": {
                        "message_id": message_id,
                        "msg_type": call.body.get("msg_type"),
                        "chat_id": chat,
                        "body": {"content": call.body.get("content")},
                    },
                },
            )
        if call.path.startswith(MESSAGES) and call.method.startswith("PATCH"):
            return Scripted(200, {"code": 0, "msg": "success", "data": {}})
        if call.path.startswith("/open-apis/contact/v3/departments/") and call.path.endswith("/children"):
            parent = call.path.split("/")[-2]
            fetch_child = call.query.get("fetch_child") in ("true", "True", "1")
            items = [d for d in self.departments if fetch_child or d.get("parent_department_id", "0") == parent]
            return self._page(items, call)
        if (
            call.path.startswith("/open-apis/contact/v3/users/")
            and call.method.startswith("GET")
            and call.path.count("/") == 5
            and not call.path.endswith("find_by_department")
        ):
            open_id = call.path.rsplit("/", 1)[-1]  # `users/:user_id` with user_id_type=open_id
            user = next((u for u in self.users if u.get("open_id") == open_id), None)
            if user is None or call.query.get("user_id_type") != "open_id":  # outside the app's contact range
                return Scripted(400, {"code": 41050, "msg": "no user authority error"})
            return Scripted(200, {"code": 0, "msg": "success", "data": {"user": user}})
        if (
            call.path.startswith("/open-apis/contact/v3/departments/")
            and call.method.startswith("GET")
            and not call.path.endswith("/children")
        ):
            dept_id = call.path.rsplit("/", 1)[-1]
            dept = next((d for d in self.departments if d.get("open_department_id") == dept_id), None)
            if dept is None:
                return Scripted(400, {"code": 40003, "msg": "no dept authority error"})
            return Scripted(200, {"code": 0, "msg": "success", "data": {"department": dept}})
        if call.path == "/open-apis/contact/v3/users/find_by_department":
            dept = call.query.get("department_id", "0")
            items = [u for u in self.users if dept in (u.get("department_ids") or ["0"])]
            return self._page(items, call)
        return Scripted(404, {"code": 404, "msg": f"no fake for {call.method}"})

    @staticmethod
    def _page(items: list[dict[str, Any]], call: Call) -> Scripted:
        size = int(call.query.get("page_size", "50"))
        start = int(call.query.get("page_token") or 0)
        page = items[start : start + size]
        more = start + size < len(items)
        return Scripted(
            200,
            {
                "code": 0,
                "msg": "success",
                "data": {"items": page, "has_more": more, "page_token": str(start + size) if more else ""},
            },
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                parts = urlsplit(self.path)
                auth = self.headers.get("Authorization") or ""
                call = Call(
                    method=f"{self.command} {parts.path}",
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    body=json.loads(raw) if raw.strip() else {},
                    token=auth.removeprefix("Bearer ") or None,
                    at=fake.clock.now() if fake.clock else None,
                )
                send_json(self, fake._answer(call))

            do_GET = do_POST = do_PATCH = do_PUT = _serve  # noqa: N815 - the http.server API

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
