""" "Answer in a form": one Slack modal with every question of a run, pre-filled with the answers already given.
A submission goes through `Flywheel.submit_form`, i.e. the same state machine as typed answers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.platforms.common import build_form, labels_for, reply_command
from bot.ports import Forms
from conversations.events import InboundEvent

log = logging.getLogger(__name__)

CALLBACK_ID = "flywheel_form"
REPLY_CALLBACK_ID = "flywheel_reply"  # the one-box form of a Reply / Answer button: sends `/reply N …`


def _plain(text: str, limit: int) -> dict[str, str]:
    return {"type": "plain_text", "text": (text[: limit - 1] + "…") if len(text) > limit else (text or " ")}


def build_view(app: Forms, *, platform: str, user: str, run_id: int) -> dict[str, Any] | None:
    form = build_form(app, platform=platform, user=user, run_id=run_id)
    if form is None:
        return None
    blocks = []
    for field in form.fields:
        element: dict[str, Any]
        if field.choices:
            options = [{"text": _plain(label, 75), "value": value} for value, label in field.choices]
            element = {"type": "static_select", "action_id": "value", "options": options}
            chosen = [o for o in options if o["value"] == field.current]
            if chosen:
                element["initial_option"] = chosen[0]
        else:
            element = {"type": "plain_text_input", "action_id": "value", "multiline": field.multiline}
            if field.current is not None:
                element["initial_value"] = field.current[:3000]
        blocks.append(
            {
                "type": "input",
                "block_id": field.step,
                "optional": field.optional,
                "label": _plain(field.question, 2000),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": str(run_id),
        "title": _plain(form.title, 24),
        "submit": _plain(form.save, 24),
        "close": _plain(form.cancel, 24),
        "blocks": blocks[:100],
    }


def open_form(app: Forms, client: Any, *, user: str, run_id: int, trigger_id: str) -> bool:
    """Open the modal (must happen within 3 s of the click: the trigger_id expires)."""
    view = build_view(app, platform="slack", user=user, run_id=run_id)
    if view is None:
        return False
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        log.warning("could not open the form: %s", (exc.response.data or {}).get("error") if exc.response else exc)
        return False
    return True


def submission_values(view: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        action = (actions or {}).get("value") or {}
        if action.get("type") == "static_select":
            selected = action.get("selected_option") or {}
            if selected.get("value"):
                values[block_id] = str(selected["value"])
        elif action.get("value") is not None:
            values[block_id] = str(action["value"])
    return values


def submit(app: Forms, payload: Mapping[str, Any], dedup_key: str) -> dict[str, Any] | None:
    """Handle a `view_submission`; returns Slack's `response_action: errors` body when answers do not fit."""
    view = payload.get("view") or {}
    user = (payload.get("user") or {}).get("id")
    metadata = str(view.get("private_metadata") or "")
    if view.get("callback_id") != CALLBACK_ID or not user or not metadata.isdecimal() or len(metadata) > 12:
        return None
    errors = app.submit_form(
        platform="slack", user=str(user), run_id=int(metadata), values=submission_values(view), dedup_key=dedup_key
    )
    errors = {k: v for k, v in errors.items() if k}
    if errors:
        return {"response_action": "errors", "errors": {k: v[:200] for k, v in errors.items()}}
    return None


# ------------------------------------------------------------------------------------------------ replies


def reply_view(locale: str, number: int) -> dict[str, Any]:
    """The modal a Reply (or Answer) button opens: one text box; sending it is typing `/reply N …`."""
    labels = labels_for(locale)
    return {
        "type": "modal",
        "callback_id": REPLY_CALLBACK_ID,
        "private_metadata": str(number),
        "title": _plain(labels["reply_title"], 24),
        "submit": _plain(labels["send"], 24),
        "close": _plain(labels["cancel"], 24),
        "blocks": [
            {
                "type": "input",
                "block_id": "reply",
                "label": _plain(labels["reply_field"], 2000),
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 3000},
            }
        ],
    }


def open_reply(app: Forms, client: Any, *, user: str, number: int, trigger_id: str) -> bool:
    try:
        client.views_open(trigger_id=trigger_id, view=reply_view(app.member_locale("slack", user), number))
    except SlackApiError as exc:
        log.warning(
            "could not open the reply form: %s", (exc.response.data or {}).get("error") if exc.response else exc
        )
        return False
    return True


def reply_event(payload: Mapping[str, Any], dedup_key: str, received_at: Any) -> InboundEvent | None:
    """A submitted reply modal as what the person could have typed (`/reply 3 …`); None if it is not one."""
    view = payload.get("view") or {}
    user = (payload.get("user") or {}).get("id")
    metadata = str(view.get("private_metadata") or "")
    if view.get("callback_id") != REPLY_CALLBACK_ID or not user or not metadata.isdecimal() or len(metadata) > 6:
        return None
    text = submission_values(view).get("reply", "")
    return InboundEvent(
        platform="slack",
        user=str(user),
        kind="command",
        text=reply_command(int(metadata), text),
        dedup_key=dedup_key,
        received_at=received_at,
        workspace=(payload.get("team") or {}).get("id"),
    )
