"""A fake Slack Socket Mode server on 127.0.0.1: `apps.connections.open` on the fake Web API (fakes/slack_api.py)
hands out its ws:// URL; the client connects, gets `hello`, and answers every envelope pushed to it with
`{"envelope_id": …, "payload": …}` (the ack). `slack_sdk`'s own Socket Mode client talks to it unchanged (it uses a
plain socket for any port but 443). Everything waits on conditions with timeouts; nothing sleeps."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class FakeSocketMode:
    def __init__(self, api: Any) -> None:
        """`api` is the FakeSlack whose `apps.connections.open` answers with this server's URL."""
        self.acks: list[dict[str, Any]] = []
        self.links: list[ServerConnection] = []
        self._cond = threading.Condition()
        self._server = serve(self._serve, "127.0.0.1", 0, ping_interval=None)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack-socket", daemon=True)
        api.socket_url = f"ws://127.0.0.1:{self.port}/link/?ticket=t-{uuid.uuid4().hex}"

    def start(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        for conn in list(self.links):
            conn.close()
        self._thread.join(5)

    def _serve(self, conn: ServerConnection) -> None:
        with self._cond:
            self.links.append(conn)
            self._cond.notify_all()
        conn.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A1"},
                }
            )
        )
        try:
            for message in conn:
                data = json.loads(message)
                with self._cond:
                    self.acks.append(data)
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                if conn in self.links:
                    self.links.remove(conn)
                self._cond.notify_all()

    def wait_connected(self, timeout: float = 10) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self.links), timeout):
                raise TimeoutError("the client did not connect")

    def wait_closed(self, timeout: float = 10) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self.links, timeout)

    def push(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False) -> str:
        """Send one envelope (`events_api`, `slash_commands`, `interactive`); returns its envelope_id."""
        envelope_id = uuid.uuid4().hex
        with self._cond:
            conn = self.links[-1]
        conn.send(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "payload": payload,
                    "accepts_response_payload": accepts_response_payload,
                    "retry_attempt": 0,
                    "retry_reason": "",
                },
                ensure_ascii=False,
            )
        )
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: any(a.get("envelope_id") == envelope_id for a in self.acks), timeout):
                raise TimeoutError(f"no ack for {envelope_id}")
            return next(a for a in self.acks if a.get("envelope_id") == envelope_id)
