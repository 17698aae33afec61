"""The `web` process: `POST /slack/events` (HTTP mode) and `GET /healthz`, as a plain WSGI application served by
waitress. Every request is answered quickly: the bot stores what it must and acknowledges; replies go out
through the outbox, which its pump (`bot.outbox.OutboxPump`, poked through `poke`) drains as soon as there is
something to send.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bot.platforms.feishu.callbacks import FeishuCallbacks
from bot.ports import Server

if TYPE_CHECKING:
    from bot.platforms.slack.bolt_app import SlackHttp

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
REJECTED = b'{"ok":false,"error":"invalid_request"}'
TOO_LARGE = b'{"ok":false,"error":"request_too_large"}'
NOT_FOUND = b'{"ok":false,"error":"not_found"}'
STATUS = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 404: "404 Not Found"}

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class HttpServer:
    """waitress, driven here so that it stops cleanly: `serve_until(stopped)` answers requests until `stop()`;
    then `stop_accepting()` closes the listening socket (new connections are refused: a load balancer moves on) and
    `finish()` completes the requests already in — being read, being handled or being written back — before it
    closes the remaining (idle) connections."""

    def __init__(self, wsgi: Callable[..., Iterable[bytes]], *, host: str, port: int, threads: int = 8) -> None:
        from waitress import create_server  # type: ignore[attr-defined]  # missing from types-waitress, there at run time

        self.server: Any = create_server(wsgi, host=host, port=port, threads=threads, ident="flywheel")
        self.port: int = self.server.effective_port
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Any thread, or a signal handler: the serving loop ends at once."""
        self._stopped.set()
        try:
            self.server.trigger.pull_trigger()  # wakes the loop from its select()
        except (OSError, AttributeError):
            pass

    def _loop_once(self, timeout: float) -> None:
        from waitress import wasyncore

        wasyncore.loop(timeout=timeout, map=self.server._map, use_poll=self.server.adj.asyncore_use_poll, count=1)

    def serve_until_stopped(self) -> None:
        while not self._stopped.is_set():
            self._loop_once(self.server.adj.asyncore_loop_timeout)

    def stop_accepting(self) -> None:
        from waitress import wasyncore

        if self.server.accepting:
            self._loop_once(0)  # the connections already queued at the socket, and the bytes already sent, are in
        self.server.accepting = False
        if self.server.socket is not None:
            wasyncore.dispatcher.close(self.server)  # the listener only; the trigger and the connections stay

    def busy(self) -> bool:
        """A request has arrived (its bytes may still wait in the socket: waitress reads the next request on a
        connection only once the one before is answered), is being read, handled, or answered."""
        from waitress.channel import HTTPChannel

        dispatcher = self.server.task_dispatcher
        if dispatcher.queue or dispatcher.active_count:
            return True
        return any(
            isinstance(ch, HTTPChannel)
            and (ch.requests or ch.request is not None or ch.total_outbufs_len or _unread(ch.socket))
            for ch in list(self.server._map.values())
        )

    def finish(self, grace: float) -> None:
        """Serve what is in hand for at most `grace` seconds, then close every connection."""
        from waitress import wasyncore

        self.stop_accepting()
        deadline = time.monotonic() + grace
        self._loop_once(0)  # read what has arrived: a request may have begun
        while self.busy() and time.monotonic() < deadline:
            self._loop_once(0.02)
        self.server.task_dispatcher.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        wasyncore.close_all(self.server._map)


def _unread(sock: socket.socket | None) -> bool:
    """Bytes have arrived on this connection that nobody has read yet (closing it now would reset it)."""
    if sock is None:
        return False
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # nothing there (EAGAIN), or the connection is gone
        return False


def create_wsgi(
    app: Server,
    *,
    slack_signing_secret: str | None,
    poke: Callable[[], None] = lambda: None,
    now: Callable[[], float] = time.time,
    feishu: FeishuCallbacks | None = None,
    slack: SlackHttp | None = None,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """`slack`: the Slack entry point (`bot/platforms/slack/bolt_app.py`), shared with Socket Mode; made here from
    `slack_signing_secret` and the Slack messenger's client when not given."""
    if slack is None and slack_signing_secret:
        from bot.platforms.slack import bolt_app

        client = app.messengers["slack"].client  # type: ignore[attr-defined]  # the Slack messenger's WebClient
        bolt = bolt_app.build(app, client=client, poke=poke)
        slack = bolt_app.SlackHttp(bolt, app, signing_secret=slack_signing_secret, now=now)

    def respond(
        start_response: StartResponse, status: str, body: bytes, content_type: str = "application/json"
    ) -> list[bytes]:
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method == "GET":
            body = health(app)
            return respond(
                start_response, "200 OK" if body["ok"] else "503 Service Unavailable", json.dumps(body).encode()
            )
        if path == "/metrics" and method == "GET":
            return respond(
                start_response,
                "200 OK",
                app.metrics.render(app.outbox_depth),
                "text/plain; version=0.0.4; charset=utf-8",
            )
        if path == "/slack/events" and method == "POST" and slack is not None:
            started = time.perf_counter()
            try:
                with app.foreground.serving():  # someone waits on this: background work gives way
                    return slack_events(environ, start_response)
            finally:
                app.metrics.ack_seconds.labels("slack").observe(time.perf_counter() - started)
        if path == "/feishu/events" and method == "POST" and feishu is not None:
            started = time.perf_counter()
            try:
                with app.foreground.serving():
                    return feishu_events(environ, start_response)
            finally:
                app.metrics.ack_seconds.labels("feishu").observe(time.perf_counter() - started)
        return respond(start_response, "404 Not Found", NOT_FOUND)

    def read_body(environ: dict[str, Any], platform: str) -> bytes | int:
        """The request body, or the HTTP status to answer when it cannot be taken."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return 400
        if length > MAX_BODY:
            app.metrics.inbound.labels(platform, "too_large").inc()
            return 413
        return environ["wsgi.input"].read(length) if length else b""

    def feishu_events(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        assert feishu is not None
        body = read_body(environ, "feishu")
        if isinstance(body, int):
            return respond(
                start_response,
                "413 Payload Too Large" if body == 413 else "401 Unauthorized",
                TOO_LARGE if body == 413 else REJECTED,
            )
        outcome, answer = feishu.receive(
            body,
            environ.get("HTTP_X_LARK_REQUEST_TIMESTAMP"),
            environ.get("HTTP_X_LARK_REQUEST_NONCE"),
            environ.get("HTTP_X_LARK_SIGNATURE"),
            now=now(),
        )
        if outcome != "ok":
            app.metrics.inbound.labels("feishu", outcome).inc()
        if answer is None:
            log.warning("rejected a Feishu callback (%s)", outcome)  # never the body
            return respond(start_response, "401 Unauthorized", REJECTED)
        poke()
        return respond(start_response, "200 OK", json.dumps(answer, ensure_ascii=False).encode())

    def slack_events(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        assert slack is not None
        body = read_body(environ, "slack")
        if isinstance(body, int):
            return respond(
                start_response,
                "413 Payload Too Large" if body == 413 else "400 Bad Request",
                TOO_LARGE if body == 413 else REJECTED,
            )
        headers = {
            k[5:].lower().replace("_", "-"): v
            for k, v in environ.items()
            if k.startswith("HTTP_") and not k.startswith("HTTP_X_SLACK_BOLT_")  # Bolt's internal (lazy) flags
        }
        headers["content-type"] = environ.get("CONTENT_TYPE") or ""
        status, answer, content_type = slack(body, headers)  # its listeners poke the outbox pump
        return respond(start_response, STATUS.get(status, f"{status} Error"), answer, content_type)

    return application


def health(app: Server) -> dict[str, Any]:
    try:
        with app.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        database = True
    except Exception:  # noqa: BLE001 - any failure means the database is not reachable
        database = False
    connections = {}
    for name, is_up in app.connections.items():
        try:
            connections[name] = bool(is_up())
        except Exception:  # noqa: BLE001 - a failing check reports the connection down
            connections[name] = False
    return {
        "ok": database and all(connections.values()),
        "database": database,
        "platforms": sorted(app.messengers),
        "connections": connections,
    }
