"""Outbound to Feishu / Lark through `lark-oapi`: every message is an interactive card, sent with
`im.v1.message.create` (DMs by open_id, groups by chat_id) or as a reply in a thread.

Each send carries a `uuid` derived from the outbox id, which Feishu keeps for an hour: a retry after a crash between
the call and our commit is not delivered twice. Nothing here sleeps or retries: a 429 becomes a `SendError` with
`x-ogw-ratelimit-reset`, and the outbox schedules the next attempt no earlier than that. The SDK caches the tenant
access token and refreshes it ten minutes before it expires; a token Feishu no longer accepts is dropped from that
cache so the next attempt fetches a new one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import lark_oapi as lark
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.token.manager import TokenManager

from bot.platforms.base import OutboundMessage, Recipient, SendError, SendResult
from bot.platforms.feishu.cards import build_cards, md_escape

log = logging.getLogger(__name__)

DOMAINS = {"feishu": lark.FEISHU_DOMAIN, "lark": lark.LARK_DOMAIN}
RATE_LIMITED = {99991400, 230020}  # "request trigger frequency limit", "this operation triggers the frequency limit"
TOKEN_REJECTED = {99991661, 99991663, 99991664, 99991668, 99991671}


def resolve_domain(value: str | None) -> str:
    """`FEISHU_DOMAIN`: `feishu` (default), `lark`, or a base URL (e.g. a fake server in tests)."""
    if not value:
        return lark.FEISHU_DOMAIN
    return DOMAINS.get(value.strip().lower(), value.strip().rstrip("/"))


def build_client(app_id: str, app_secret: str, domain: str | None, *, timeout: float = 10) -> lark.Client:
    return (
        lark.Client.builder()
        .app_id(app_id)
        .app_secret(app_secret)
        .domain(resolve_domain(domain))
        .timeout(timeout)
        .log_level(lark.LogLevel.WARNING)
        .build()
    )


class FeishuMessenger:
    platform = "feishu"
    escape: Callable[[str], str] = staticmethod(md_escape)

    def __init__(self, client: lark.Client, app_id: str) -> None:
        self.client = client
        self.app_id = app_id

    @classmethod
    def from_settings(cls, app_id: str, app_secret: str, domain: str | None = None) -> FeishuMessenger:
        return cls(build_client(app_id, app_secret, domain), app_id)

    def send(self, recipient: Recipient, message: OutboundMessage) -> SendResult:
        last_id = None
        for part, card in enumerate(build_cards(message.text, message.replies, message.locale, message.run_id)):
            uuid = f"flywheel-{message.outbox_id}-{part}" if message.outbox_id else None
            last_id = self._post(recipient.address, card, uuid=uuid, thread=message.thread)
        return SendResult(message_id=last_id)

    def _post(self, address: str, card: dict[str, Any], *, uuid: str | None, thread: str | None) -> str | None:
        content = json.dumps(card, ensure_ascii=False)
        try:
            if thread:  # a retro summary goes into the thread of its announcement
                body = ReplyMessageRequestBody.builder().msg_type("interactive").content(content)
                if uuid:
                    body = body.uuid(uuid)
                response = self.client.im.v1.message.reply(
                    ReplyMessageRequest.builder().message_id(thread).request_body(body.build()).build()
                )
            else:
                body = CreateMessageRequestBody.builder().receive_id(address).msg_type("interactive").content(content)
                if uuid:
                    body = body.uuid(uuid)
                kind = "chat_id" if address.startswith("oc_") else "open_id"
                response = self.client.im.v1.message.create(
                    CreateMessageRequest.builder().receive_id_type(kind).request_body(body.build()).build()
                )
        except Exception as exc:  # noqa: BLE001 - connection errors, unreadable answers: try again later
            raise SendError(f"feishu_{type(exc).__name__}") from None
        if not response.success():
            raise self._error(response)
        return getattr(response.data, "message_id", None) if response.data else None

    def _error(self, response: Any) -> SendError:
        raw = getattr(response, "raw", None)
        status = getattr(raw, "status_code", 0) or 0
        code = response.code if isinstance(response.code, int) else 0
        reason = f"feishu_{code or status}"
        if status == 429 or code in RATE_LIMITED:
            return SendError("ratelimited", retry_after=_reset_after(getattr(raw, "headers", None) or {}))
        if code in TOKEN_REJECTED or status == 401:
            TokenManager.cache.set(f"self_tenant_token:{self.app_id}", "", 0)  # fetch a fresh one next time
            return SendError(reason)
        if status >= 500 or status == 0:
            return SendError(reason)
        if 400 <= status < 500:
            return SendError(reason, permanent=True)  # no such user, bot not in the chat, no permission, bad card
        return SendError(reason)


def _reset_after(headers: Any) -> float | None:
    for key, value in dict(headers).items():
        if key.lower() == "x-ogw-ratelimit-reset":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None
