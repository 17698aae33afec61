"""Socket Mode (the default: no public URL), through Bolt's Socket Mode adapter (`slack_bolt.adapter.socket_mode`,
on slack_sdk's built-in SocketModeClient, which needs nothing else installed). Each envelope goes to the same Bolt
app as HTTP mode (`bot/platforms/slack/bolt_app.py`), and is acknowledged with what the app answered."""

from __future__ import annotations

import logging
from time import time
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk import WebClient
from slack_sdk.socket_mode.request import SocketModeRequest

log = logging.getLogger(__name__)


def handle_envelope(bolt: App, client: Any, req: SocketModeRequest) -> None:
    """Like Bolt's own handler, except that every envelope is acknowledged: Bolt leaves one it could not handle
    (any answer but 200) unacknowledged, so Slack would deliver it again and again — and logs its answer."""
    start = time()
    response = BoltResponse(status=200, body="")
    if isinstance(req.payload, dict):
        try:
            response = run_bolt_app(bolt, req)
        except Exception:  # noqa: BLE001 - a payload Bolt cannot take apart (errors in listeners go to our handler)
            log.warning("a Socket Mode %s envelope could not be read", req.type)
    if response.status != 200:
        response = BoltResponse(status=200, body="")
    send_response(client, req, response, start)


class Handler(SocketModeHandler):
    def handle(self, client: Any, req: SocketModeRequest) -> None:
        handle_envelope(self.app, client, req)


def connect(bolt: App, *, app_token: str, web_client: WebClient) -> Handler:
    handler = Handler(bolt, app_token=app_token, web_client=web_client)
    handler.connect()
    log.info("connected to Slack in Socket Mode")
    return handler
