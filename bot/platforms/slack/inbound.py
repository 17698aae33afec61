"""Inbound from Slack: the translation of Slack's payloads into neutral InboundEvents.

Bolt's listeners (`bot/platforms/slack/bolt_app.py`) call these, in HTTP mode and in Socket Mode alike. A payload
not in Slack's shape raises ValueError (HTTP: a 400).

Text is passed on exactly as typed: Slack writes the people a user picked as `<@U123|name>`, which already is the
neutral mention of `conversations.mentions` (resolved to members in `bot/platforms/identity.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.platforms.common import reply_number
from conversations.commands import SUBCOMMANDS
from conversations.events import InboundEvent

log = logging.getLogger(__name__)

# `/me` is one of Slack's built-in commands, so the member's own view is `/flywheel me` (and the App Home tab);
# any of the bot's commands can be reached the same way.
FLYWHEEL_SUBCOMMANDS = set(SUBCOMMANDS)
ANSWER_SUBTYPES = {"file_share", "thread_broadcast"}  # still a person's answer


def unescape(text: str) -> str:
    """Slack sends typed `&`, `<`, `>` as entities; store what the person typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class Parsed:
    kind: str  # url_verification | inbound | open_form | open_reply | form_submit | ignored
    event: InboundEvent | None = None
    challenge: str | None = None
    data: Mapping[str, Any] | None = None


def from_events_api(payload: Mapping[str, Any], received_at: datetime) -> Parsed:
    if payload.get("type") == "url_verification":
        return Parsed("url_verification", challenge=str(payload.get("challenge", "")))
    if payload.get("type") != "event_callback":
        return Parsed("ignored")
    event = payload.get("event") or {}
    if not isinstance(event, dict):
        raise ValueError("event is not an object")
    kind = event.get("type")
    if kind == "message" and event.get("channel_type") == "im":
        subtype = event.get("subtype")
        if event.get("bot_id") or (subtype and subtype not in ANSWER_SUBTYPES) or not event.get("user"):
            return Parsed("ignored")  # our own messages, edits, joins…
        return Parsed(
            "inbound",
            InboundEvent(
                platform="slack",
                user=str(event["user"]),
                kind="message",
                text=unescape(str(event.get("text") or "")),
                dedup_key=f"slack:{payload.get('event_id') or event.get('client_msg_id') or event.get('ts')}",
                received_at=received_at,
                workspace=payload.get("team_id"),
            ),
        )
    if kind == "app_home_opened" and event.get("tab") == "home" and event.get("user"):
        return Parsed(
            "inbound",
            InboundEvent(
                platform="slack",
                user=str(event["user"]),
                kind="home",
                text="/me",
                replaces="home",
                dedup_key=f"slack:{payload.get('event_id')}",
                received_at=received_at,
                workspace=payload.get("team_id"),
            ),
        )
    return Parsed("ignored")


def from_command(form: Mapping[str, str], received_at: datetime) -> Parsed:
    command = form.get("command", "")
    if not command.startswith("/") or not form.get("user_id"):
        raise ValueError("slash command without command or user")
    channel = form.get("channel_id") or ""
    name = form.get("channel_name") or ""
    # Public posts only go where the bot may post: not DMs, private channels or group DMs (they fall back to DMs).
    in_dm = channel.startswith(("D", "G")) or name in ("directmessage", "privategroup") or name.startswith("mpdm-")
    args = unescape(form.get("text", ""))
    head, _, rest = args.strip().partition(" ")
    if command == "/flywheel" and head.lower() in FLYWHEEL_SUBCOMMANDS:
        command, args = f"/{head.lower()}", rest
    text = f"{command} {args}".strip()
    return Parsed(
        "inbound",
        InboundEvent(
            platform="slack",
            user=form["user_id"],
            kind="command",
            text=text,
            dedup_key=f"slack:cmd:{form.get('trigger_id') or form['user_id'] + ':' + text}",
            received_at=received_at,
            workspace=form.get("team_id"),
            channel=None if in_dm else channel,
        ),
    )


def from_interaction(payload: Mapping[str, Any], received_at: datetime) -> Parsed:
    if payload.get("type") == "view_submission":
        user = (payload.get("user") or {}).get("id")
        view = payload.get("view") or {}
        if not user or not isinstance(view, dict):
            raise ValueError("view_submission without user or view")
        key = f"slack:view:{view.get('id')}:{view.get('hash') or payload.get('trigger_id')}"
        return Parsed("form_submit", data={"payload": payload, "dedup_key": key})
    if payload.get("type") != "block_actions":
        return Parsed("ignored")
    user = (payload.get("user") or {}).get("id")
    actions = payload.get("actions") or []
    if not user or not actions or not isinstance(actions[0], dict):
        raise ValueError("block_actions without user or action")
    action = actions[0]
    value = str(action.get("value") or "")
    number = reply_number(value)
    if number is not None:
        return Parsed(
            "open_reply",
            data={"user": str(user), "number": number, "trigger_id": str(payload.get("trigger_id") or "")},
        )
    if value.startswith("form:"):
        run_id = value.removeprefix("form:")
        if not run_id.isdecimal() or len(run_id) > 12:
            raise ValueError("bad form button")
        return Parsed(
            "open_form",
            data={"user": str(user), "run_id": int(run_id), "trigger_id": str(payload.get("trigger_id") or "")},
        )
    if not value:
        return Parsed("ignored")
    action_id = str(action.get("action_id") or "")
    flow, _, step = str(action.get("block_id") or "").partition(":")
    step = step.partition("#")[0]  # `follow_ups#2`: one of several rows answering the same question
    answers = ":answer:" in action_id or action_id.endswith((":later", ":skip"))
    return Parsed(
        "inbound",
        InboundEvent(
            values={"flow": flow, "step": step} if answers and step else {},
            platform="slack",
            user=str(user),
            kind="action",
            text=value,
            dedup_key=f"slack:act:{user}:{action.get('action_ts') or payload.get('trigger_id')}:"
            f"{action.get('action_id')}",
            received_at=received_at,
            workspace=(payload.get("team") or {}).get("id"),
        ),
    )
