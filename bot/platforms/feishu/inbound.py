"""Inbound from Feishu / Lark: callback verification and decryption, and translation of v2 events
(`im.message.receive_v1`, `card.action.trigger`) into what the bot does.

The same translation serves the long connection (plain JSON from `lark.ws.Client`) and HTTP callbacks (signed and
encrypted). Feishu has no slash commands for bots: `/kudos @张三 for …` is a text message to the bot (in the p2p
chat, or in a group where the bot is @-mentioned), and its `@` mentions arrive as `@_user_1` keys that we resolve to
open_ids here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from Crypto.Cipher import AES

from conversations.events import InboundEvent
from conversations.mentions import mention_token

MAX_SKEW_SECONDS = 300
PLATFORM = "feishu"
CHAT_ID_PREFIX = "oc_"  # a group chat's id; people's open_ids start with ou_


def is_chat_id(channel: str) -> bool:
    """Whether `channel` is a Feishu chat id (what `bot/platforms/identity.py` asks for the kudos channel)."""
    return channel.startswith(CHAT_ID_PREFIX)


def verify_signature(
    encrypt_key: str, body: bytes, timestamp: str | None, nonce: str | None, signature: str | None, *, now: float
) -> bool:
    """Feishu's callback signature: SHA-256 hex of `timestamp + nonce + encrypt_key + body`, compared in constant
    time, within five minutes of now. Checked before anything is decrypted."""
    if not encrypt_key or not timestamp or not nonce or not signature:
        return False
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12 or len(nonce) > 128:
        return False
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    expected = hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """AES-256-CBC with the SHA-256 of the Encrypt Key; the IV is the first block. Raises ValueError on anything odd
    (the caller answers every failure the same way, so nothing tells padding errors apart)."""
    raw = base64.b64decode(encrypted, validate=True)
    if len(raw) < 32 or len(raw) % 16:
        raise ValueError("bad ciphertext length")
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    plain = AES.new(key, AES.MODE_CBC, raw[:16]).decrypt(raw[16:])
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad padding")
    return plain[:-pad]


def encrypt(encrypt_key: str, plain: bytes, iv: bytes) -> str:
    """The inverse of `decrypt` (what Feishu does); used by tests and tools."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    pad = 16 - len(plain) % 16
    return base64.b64encode(iv + AES.new(key, AES.MODE_CBC, iv).encrypt(plain + bytes([pad]) * pad)).decode()


class ReplayCache:
    """Signatures seen in the last window: a captured request sent again is refused even within its 300 s. Per
    process; with several web replicas the events themselves are still de-duplicated in the database."""

    def __init__(self, window: float = 2 * MAX_SKEW_SECONDS, limit: int = 100_000) -> None:
        self.window, self.limit = window, limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str, now: float) -> bool:
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) < now - self.window or len(self._seen) > self.limit):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


@dataclass(frozen=True)
class Parsed:
    kind: str  # url_verification | inbound | card_action | ignored
    event: InboundEvent | None = None
    challenge: str | None = None
    data: Mapping[str, Any] | None = None


def translate(payload: Mapping[str, Any], received_at: datetime) -> Parsed:
    """A decrypted callback or long-connection payload → what to do. Raises ValueError when malformed."""
    if payload.get("type") == "url_verification":
        return Parsed("url_verification", challenge=str(payload.get("challenge", "")))
    header = payload.get("header")
    event = payload.get("event")
    if payload.get("schema") != "2.0" or not isinstance(header, dict) or not isinstance(event, dict):
        return Parsed("ignored")  # v1 events and anything else we did not subscribe to
    kind = header.get("event_type")
    event_id = str(header.get("event_id") or "")
    if kind == "im.message.receive_v1":
        return _message(event, event_id, header, received_at)
    if kind == "card.action.trigger":
        operator = event.get("operator") or {}
        action = event.get("action") or {}
        if not isinstance(operator, dict) or not isinstance(action, dict) or not operator.get("open_id"):
            raise ValueError("card action without operator or action")
        value = action.get("value")
        form_value = action.get("form_value")
        context = event.get("context") or {}
        return Parsed(
            "card_action",
            data={
                "user": str(operator["open_id"]),
                "event_id": event_id,
                "value": value if isinstance(value, dict) else {"v": str(value or "")},
                "form_value": form_value if isinstance(form_value, dict) else None,
                "message_id": str(context.get("open_message_id") or "") if isinstance(context, dict) else "",
                "workspace": header.get("tenant_key"),
            },
        )
    return Parsed("ignored")


def _message(event: Mapping[str, Any], event_id: str, header: Mapping[str, Any], received_at: datetime) -> Parsed:
    sender = event.get("sender") or {}
    message = event.get("message") or {}
    if not isinstance(sender, dict) or not isinstance(message, dict):
        raise ValueError("message event without sender or message")
    open_id = (sender.get("sender_id") or {}).get("open_id") if isinstance(sender.get("sender_id"), dict) else None
    if sender.get("sender_type") != "user" or not open_id:
        return Parsed("ignored")  # our own messages and other apps
    text = message_text(message)
    if text is None:
        return Parsed("ignored")  # stickers, images, files: nothing to answer with
    group = message.get("chat_type") != "p2p"
    if group:
        text = text.lstrip()
        if not text.startswith("/"):
            return Parsed("ignored")  # in groups the bot acts on commands only (it is @-mentioned to get them)
    message_id = str(message.get("message_id") or "")
    return Parsed(
        "inbound",
        InboundEvent(
            platform=PLATFORM,
            user=str(open_id),
            kind="command" if text.lstrip().startswith("/") else "message",
            text=text.strip() if group else text,
            # Retries carry the same event_id; the message_id also catches the same message delivered as another event.
            dedup_key=f"feishu:msg:{message_id}" if message_id else f"feishu:{event_id}",
            received_at=received_at,
            workspace=header.get("tenant_key"),
            channel=str(message.get("chat_id")) if group and message.get("chat_id") else None,
        ),
    )


def message_text(message: Mapping[str, Any]) -> str | None:
    """The text of a `text` or `post` message with mentions resolved: leading mentions (the bot, in a group) are
    dropped, others become the neutral mention `<@open_id|name>` (`conversations.mentions`), which the command
    parsers read as a person."""
    try:
        content = json.loads(str(message.get("content") or "{}"))
    except ValueError:
        return None
    if not isinstance(content, dict):
        return None
    kind = message.get("message_type")
    if kind == "text":
        text = str(content.get("text") or "")
    elif kind == "post":
        text = _post_text(content)
    else:
        return None
    mentions = {str(m.get("key")): m for m in message.get("mentions") or [] if isinstance(m, dict) and m.get("key")}
    words = text.split(" ")
    while words and (words[0] in mentions or words[0] == ""):
        words.pop(0)  # "@_user_1 /kudos …": the bot's own mention (and any before the command)
    text = " ".join(words)
    for key in sorted(mentions, key=len, reverse=True):  # @_user_10 before @_user_1
        mention = mentions[key]
        ident = mention.get("id") if isinstance(mention.get("id"), dict) else {}
        name = "_".join(str(mention.get("name") or "").replace("|", " ").replace(">", " ").split())
        open_id = ident.get("open_id") if ident else None
        text = text.replace(key, mention_token(str(open_id), name) if open_id else f"@{name or 'all'}")
    return text


def _post_text(content: Mapping[str, Any]) -> str:
    body = content
    if "content" not in body:  # {"zh_cn": {"title": …, "content": …}}
        body = next((v for v in content.values() if isinstance(v, dict) and "content" in v), {})
    lines = []
    for paragraph in body.get("content") or []:
        parts = []
        for node in paragraph if isinstance(paragraph, list) else []:
            if not isinstance(node, dict):
                continue
            if node.get("tag") in ("text", "a", "code_block"):
                parts.append(str(node.get("text") or ""))
            elif node.get("tag") == "at":
                user = node.get("user_id")
                parts.append(mention_token(str(user), str(node.get("user_name") or "")) if user else "")
        lines.append("".join(parts))
    return "\n".join(lines).strip()
