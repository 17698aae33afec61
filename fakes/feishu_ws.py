"""A fake Feishu / Lark long-connection server on 127.0.0.1, speaking the protocol `lark.ws.Client` speaks.

The protocol (lark-oapi `lark_oapi/ws/`):

1. Bootstrap: the client POSTs `{"AppID", "AppSecret"}` to `{domain}/callback/ws/endpoint` and gets
   `{"code": 0, "data": {"URL": "wss://…?device_id=…&service_id=…", "ClientConfig": {"ReconnectCount",
   "ReconnectInterval", "ReconnectNonce", "PingInterval"}}}` (seconds; ReconnectCount -1 is "for ever"). Any other
   code but 1 (system busy) and 1000040343 (internal error) makes the client give up. It does this before every
   connection, reconnections included. Served here through the Open API fake (`FakeFeishu.long_connection`), which
   is the same `domain` the bot's messenger talks to, as on the real platform.
2. The WebSocket at that URL (ws:// here; the client takes the scheme as it is). Binary messages only, each a
   protobuf `pbbp2.Frame` {SeqID, LogID, service, method, headers [{key, value}], payload}: method 0 is a control
   frame (header type=ping from the client, type=pong from the server, whose payload may carry a new ClientConfig),
   method 1 a data frame (headers type=event|card, message_id, sum, seq, trace_id; payload the event JSON, split in
   `sum` parts when large).
3. The client answers each data frame with the same frame, a `biz_rt` header added, payload replaced by
   `{"code": 200}` — or `{"code": 200, "data": base64(JSON)}` when the handler returned something (a card callback's
   answer), `{"code": 500}` when it raised.

A test pushes events with `push()`, waits for the client's answers with `ack()`, can hold the opening handshake
(`hold()` / `release()`) to see the client while it is not connected, and can `drop()` the connection. Everything
waits on conditions with timeouts; nothing sleeps.
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lark_oapi.ws.pb.pbbp2_pb2 import Frame
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from fakes.loopback import Scripted

CONTROL, DATA = 0, 1
SERVICE_ID = 33554678


@dataclass
class Ack:
    """The client's answer to one pushed data frame."""

    message_id: str
    code: int
    data: Any  # the decoded `data` (a card callback's answer), or None
    headers: dict[str, str]
    seconds: float  # from the push (the last part) to the answer


@dataclass
class Link:
    """One WebSocket the client opened."""

    device_id: str
    conn: ServerConnection
    pings: int = 0
    closed: threading.Event = field(default_factory=threading.Event)


def frame(method: int, headers: dict[str, str], payload: bytes = b"", *, seq_id: int = 0) -> Frame:
    f = Frame()
    f.SeqID, f.LogID, f.service, f.method = seq_id, seq_id, SERVICE_ID, method
    for key, value in headers.items():
        h = f.headers.add()
        h.key, h.value = key, value
    f.payload = payload
    return f


class FakeLongConnection:
    def __init__(
        self,
        api: Any,
        *,
        app_secret: str | None = None,
        reconnect_count: int = -1,
        reconnect_interval: float = 1,
        reconnect_nonce: float = 0,
        ping_interval: float = 120,
    ) -> None:
        """`api` is the FakeFeishu whose `/callback/ws/endpoint` this serves; `app_secret`, if given, is checked."""
        self.api = api
        api.long_connection = self
        self.app_secret = app_secret
        self.client_config = {
            "ReconnectCount": reconnect_count,
            "ReconnectInterval": reconnect_interval,
            "ReconnectNonce": reconnect_nonce,
            "PingInterval": ping_interval,
        }
        self.bootstraps: list[Any] = []  # the endpoint calls
        self.handshakes = 0  # opening handshakes that reached the WebSocket server
        self.links: list[Link] = []  # every connection opened, in order
        self.acks: list[Ack] = []
        self._tickets: dict[str, str] = {}  # ticket → device_id, issued by the endpoint, good for one handshake
        self._pushed: dict[str, float] = {}  # message_id → when its last part was sent
        self._devices = itertools.count(1)
        self._seq = itertools.count(1)
        self._open = threading.Event()  # the opening handshake may proceed
        self._open.set()
        self._cond = threading.Condition()
        self._server = serve(self._serve, "127.0.0.1", 0, process_request=self._handshake, ping_interval=None)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-feishu-ws", daemon=True)

    def start(self) -> FakeLongConnection:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.api.long_connection = None
        self._open.set()
        self._server.shutdown()
        for link in list(self.links):
            link.conn.close()
        self._thread.join(5)

    # ------------------------------------------------------------------------------------------------ bootstrap

    def endpoint(self, call: Any) -> Scripted:
        """`POST /callback/ws/endpoint` (called by FakeFeishu)."""
        with self._cond:
            self.bootstraps.append(call)
            self._cond.notify_all()
            if self.app_secret is not None and call.body.get("AppSecret") != self.app_secret:
                return Scripted(200, {"code": 10014, "msg": "app secret invalid"})
            ticket, device_id = uuid.uuid4().hex, f"7{next(self._devices):018d}"
            self._tickets[ticket] = device_id
        url = (
            f"ws://127.0.0.1:{self.port}/ws/v2?fpid=493&aid=552564&device_id={device_id}"
            f"&access_key={uuid.uuid4().hex}&service_id={SERVICE_ID}&ticket={ticket}"
        )
        return Scripted(200, {"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": self.client_config}})

    def hold(self) -> None:
        """Hold every opening handshake (in the server) until `release()`: the client is then connecting."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def _handshake(self, conn: ServerConnection, request: Any) -> Any:
        with self._cond:
            self.handshakes += 1
            self._cond.notify_all()
        self._open.wait(8)  # under the client's 10 s open_timeout
        query = parse_qs(urlsplit(request.path).query)
        with self._cond:
            device_id = self._tickets.pop((query.get("ticket") or [""])[0], None)
        if device_id is None or query.get("device_id", [""])[0] != device_id:
            response = conn.respond(403, "forbidden")
            response.headers["handshake-status"] = "403"
            response.headers["handshake-msg"] = "invalid ticket"
            return response
        return None

    # ------------------------------------------------------------------------------------------------ the socket

    def _serve(self, conn: ServerConnection) -> None:
        query = parse_qs(urlsplit(conn.request.path).query)  # type: ignore[union-attr]
        link = Link(device_id=query["device_id"][0], conn=conn)
        with self._cond:
            self.links.append(link)
            self._cond.notify_all()
        try:
            for message in conn:
                if not isinstance(message, bytes):
                    continue
                f = Frame()
                f.ParseFromString(message)
                headers = {h.key: h.value for h in f.headers}
                if f.method == CONTROL and headers.get("type") == "ping":
                    link.pings += 1
                    conn.send(
                        frame(
                            CONTROL, {"type": "pong"}, json.dumps(self.client_config).encode(), seq_id=f.SeqID
                        ).SerializeToString()
                    )
                elif f.method == DATA:
                    self._acked(headers, f.payload)
        except ConnectionClosed:
            pass
        finally:
            link.closed.set()
            with self._cond:
                self._cond.notify_all()

    def _acked(self, headers: dict[str, str], payload: bytes) -> None:
        body = json.loads(payload or b"{}")
        data = body.get("data")
        mid = headers.get("message_id", "")
        ack = Ack(
            message_id=mid,
            code=int(body.get("code", 0)),
            data=json.loads(base64.b64decode(data)) if data else None,
            headers=headers,
            seconds=time.monotonic() - self._pushed.get(mid, time.monotonic()),
        )
        with self._cond:
            self.acks.append(ack)
            self._cond.notify_all()

    # ------------------------------------------------------------------------------------------------ for tests

    @property
    def current(self) -> Link | None:
        with self._cond:
            live = [link for link in self.links if not link.closed.is_set()]
        return live[-1] if live else None

    def wait_connected(self, count: int = 1, timeout: float = 5) -> Link:
        """Wait until `count` connections have been opened in all, the last still open; return it."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: len(self.links) >= count and not self.links[-1].closed.is_set(), timeout
            ):
                raise TimeoutError(f"{len(self.links)} connection(s) opened, waited for {count}")
            return self.links[-1]

    def wait_handshakes(self, count: int, timeout: float = 5) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.handshakes >= count, timeout):
                raise TimeoutError(f"{self.handshakes} handshake(s), waited for {count}")

    def wait_bootstraps(self, count: int, timeout: float = 5) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.bootstraps) >= count, timeout):
                raise TimeoutError(f"{len(self.bootstraps)} bootstrap(s), waited for {count}")

    def push(
        self, payload: dict[str, Any] | bytes, *, message_id: str | None = None, parts: int = 1, kind: str = "event"
    ) -> str:
        """Send one event (or card callback) on the open connection, in `parts` frames; returns the frame
        message_id (Feishu's own, not the chat message's)."""
        link = self.current
        if link is None:
            raise ConnectionError("the client is not connected")
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        mid = message_id or f"m-{uuid.uuid4().hex[:12]}"
        size = -(-len(body) // parts)
        chunks = [body[i * size : (i + 1) * size] for i in range(parts)]
        trace = uuid.uuid4().hex
        for seq, chunk in enumerate(chunks):
            if seq == parts - 1:
                self._pushed[mid] = time.monotonic()
            link.conn.send(
                frame(
                    DATA,
                    {"type": kind, "message_id": mid, "sum": str(parts), "seq": str(seq), "trace_id": trace},
                    chunk,
                    seq_id=next(self._seq),
                ).SerializeToString()
            )
        return mid

    def ack(self, message_id: str, *, nth: int = 1, timeout: float = 5) -> Ack:
        """The client's `nth` answer to frames with this message_id (a re-delivery is answered again)."""

        def found() -> list[Ack]:
            return [a for a in self.acks if a.message_id == message_id]

        with self._cond:
            if not self._cond.wait_for(lambda: len(found()) >= nth, timeout):
                raise TimeoutError(f"no answer #{nth} to {message_id} within {timeout} s")
            return found()[nth - 1]

    def drop(self, *, abrupt: bool = False, timeout: float = 5) -> None:
        """End the open connection: a close frame (a server restart), or `abrupt`ly (the network went away)."""
        link = self.current
        if link is None:
            raise ConnectionError("the client is not connected")
        if abrupt:
            link.conn.socket.shutdown(socket.SHUT_RDWR)
        else:
            link.conn.close()
        if not link.closed.wait(timeout):
            raise TimeoutError("the connection did not close")
