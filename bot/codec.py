"""JSON encoding of replies for the outbox (datetimes and dates survive the round trip)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from conversations.machine import Reply


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return datetime.fromisoformat(value["$dt"])
        if set(value) == {"$date"}:
            return date.fromisoformat(value["$date"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def encode_replies(replies: Sequence[Reply]) -> dict[str, Any]:
    return {"replies": [{"template": r.template, "params": _encode(dict(r.params))} for r in replies]}


def decode_replies(body: dict[str, Any]) -> list[Reply]:
    return [Reply(item["template"], _decode(item.get("params") or {})) for item in body.get("replies", [])]
