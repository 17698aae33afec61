"""HTTP callback mode (`POST /feishu/events`), for deployments behind a load balancer.

Order matters: the signature is checked first (constant time, five-minute window, never-seen-before), and only then
is the body decrypted; every failure gets the same 401 and the same body, so nothing tells a bad signature from a
bad key or bad padding. The only unsigned request Feishu sends is the one-off URL check when the address is saved in
the developer console: it is answered only if it decrypts with our key and carries our Verification Token.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from bot.platforms.feishu.events import FeishuEvents
from bot.platforms.feishu.inbound import ReplayCache, decrypt, verify_signature

log = logging.getLogger(__name__)


class FeishuCallbacks:
    def __init__(self, events: FeishuEvents, *, encrypt_key: str, verification_token: str | None) -> None:
        if not encrypt_key:
            raise ValueError(
                "Feishu HTTP callbacks need FEISHU_ENCRYPT_KEY (set an Encrypt Key in the developer "
                "console, under Events & Callbacks → Encryption Strategy)"
            )
        self.events = events
        self.encrypt_key = encrypt_key
        self.verification_token = verification_token or ""
        self.replays = ReplayCache()

    def receive(
        self, body: bytes, timestamp: str | None, nonce: str | None, signature: str | None, *, now: float
    ) -> tuple[str, dict[str, Any] | None]:
        """(outcome, response body); a None body means: answer 401."""
        signed = bool(timestamp or nonce or signature)
        if signed:
            if not verify_signature(self.encrypt_key, body, timestamp, nonce, signature, now=now):
                return "bad_signature", None
            if not self.replays.first_time(str(signature), now):
                return "replayed", None
        payload = self._open(body)
        if payload is None:
            return "undecryptable", None
        if not self._token_ok(payload):
            return "bad_token", None
        if not signed and payload.get("type") != "url_verification":
            return "unsigned", None
        try:
            answer = self.events.dispatch(payload, background=False)
        except (ValueError, KeyError, TypeError):
            log.warning("a verified Feishu callback could not be read")
            return "malformed", None
        return "ok", answer or {}

    def _open(self, body: bytes) -> dict[str, Any] | None:
        try:
            outer = json.loads(body.decode("utf-8"))
            if not isinstance(outer, dict) or not isinstance(outer.get("encrypt"), str):
                return None  # with an Encrypt Key set, Feishu always encrypts
            inner = json.loads(decrypt(self.encrypt_key, outer["encrypt"]).decode("utf-8"))
            return inner if isinstance(inner, dict) else None
        except Exception:  # noqa: BLE001 - any failure is the same failure to the sender
            return None

    def _token_ok(self, payload: dict[str, Any]) -> bool:
        if not self.verification_token:
            return True
        header = payload.get("header")
        if not isinstance(header, dict):
            header = {}
        token = str(header.get("token") or payload.get("token") or "")
        return hmac.compare_digest(token.encode(), self.verification_token.encode())
