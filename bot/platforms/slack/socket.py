"""Socket Mode (the default: no public URL). Each envelope is acknowledged first, then translated by the same
functions as HTTP mode and handed to the bot."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.platforms.slack.inbound import Parsed, from_command, from_events_api, from_interaction
from bot.ports import Chat
from bot.web import handle_form

log = logging.getLogger(__name__)


def listener(app: Chat, poke: Callable[[], None]) -> Callable[[Any, SocketModeRequest], None]:
    def on_request(client: Any, req: SocketModeRequest) -> None:
        payload = req.payload if isinstance(req.payload, dict) else {}
        now = app.clock.now()
        if req.type == "interactive" and payload.get("type") in ("view_submission", "block_actions"):
            try:
                parsed = from_interaction(payload, now)
            except Exception:  # noqa: BLE001
                parsed = Parsed("ignored")
            if parsed.kind in ("open_form", "form_submit"):
                answer = handle_form(app, parsed)  # before the ack: errors travel in it, trigger_ids expire fast
                client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=answer))
                poke()
                return
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))  # ack first
        try:
            if req.type == "events_api":
                parsed = from_events_api(payload, now)
            elif req.type == "slash_commands":
                parsed = from_command({k: str(v) for k, v in payload.items()}, now)
            elif req.type == "interactive":
                parsed = from_interaction(payload, now)
            else:
                parsed = Parsed("ignored")
            if parsed.event is not None:
                app.handle(parsed.event)
                poke()
        except Exception:  # noqa: BLE001 - one bad envelope never takes the connection down
            log.exception("a Socket Mode %s envelope could not be handled", req.type)

    return on_request


def connect(app: Chat, *, app_token: str, web_client: WebClient, poke: Callable[[], None]) -> SocketModeClient:
    client = SocketModeClient(app_token=app_token, web_client=web_client)
    client.socket_mode_request_listeners.append(listener(app, poke))
    client.connect()
    log.info("connected to Slack in Socket Mode")
    return client
