""""Answer in a form": one Slack modal with every question of a run, pre-filled with the answers already given.
A submission goes through `Flywheel.submit_form`, i.e. the same state machine as typed answers."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from slack_sdk.errors import SlackApiError

from bot.app import Flywheel
from bot.platforms.slack.blocks import LABELS, CHOICES
from conversations.answers import Items, Scale
from conversations.machine import ask
from conversations.render import Audience, first_name
from storage.db import transaction
from storage.models import Member

log = logging.getLogger(__name__)

CALLBACK_ID = "flywheel_form"
TITLES = {"en": {"weekly_checkin": "Weekly check-in", "monthly_review": "Monthly review", "retro": "Retrospective"},
          "zh": {"weekly_checkin": "每周签到", "monthly_review": "月度回顾", "retro": "复盘"}}
BUTTONS = {"en": ("Save", "Cancel", "Answer in a form"), "zh": ("保存", "取消", "用表单回答")}


def _plain(text: str, limit: int) -> dict[str, str]:
    return {"type": "plain_text", "text": (text[: limit - 1] + "…") if len(text) > limit else (text or " ")}


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v if not isinstance(v, dict) else f"{v.get('owner', '')} {v.get('text', '')}").strip()
                         for v in value)
    if isinstance(value, dict):
        return str(value.get("text", ""))
    return str(value)


def build_view(app: Flywheel, *, platform: str, user: str, run_id: int) -> dict[str, Any] | None:
    found = app.form_for(platform=platform, user=user, run_id=run_id)
    if found is None:
        return None
    flow, state, member = found
    with transaction(app.sessions) as s:
        manager = s.get(Member, member.manager_id) if member.manager_id else None
    locale = member.locale if member.locale in LABELS else "en"
    audience = Audience(locale, member.timezone, member.name, first_name(manager.name) if manager else None)
    renderer = app.renderer  # plain text: Slack shows labels literally, so nothing needs escaping
    blocks = []
    for step in state.steps:
        question = renderer.render(ask(flow, state, step, {}), audience)
        base = step.split(":", 1)[0]
        current = state.answers.get(step)
        element: dict[str, Any]
        choices = CHOICES.get(base)
        if choices:
            labels = LABELS[locale]
            options = [{"text": _plain(labels.get(label, label), 75), "value": value} for value, label in choices]
            element = {"type": "static_select", "action_id": "value", "options": options}
            chosen = _initial(choices, current)
            if chosen is not None:
                element["initial_option"] = options[chosen]
        else:
            expects = flow.ask_for(step).expects
            element = {"type": "plain_text_input", "action_id": "value",
                       "multiline": not isinstance(expects, Scale) and not isinstance(expects, Items)}
            if current is not None:
                element["initial_value"] = _shown(current)[:3000]
        blocks.append({"type": "input", "block_id": step, "optional": flow.ask_for(step).optional or step in state.answers,
                       "label": _plain(question, 2000), "element": element})
    save, cancel, _ = BUTTONS[locale]
    return {"type": "modal", "callback_id": CALLBACK_ID, "private_metadata": str(run_id),
            "title": _plain(TITLES[locale].get(flow.name, "Flywheel"), 24), "submit": _plain(save, 24),
            "close": _plain(cancel, 24), "blocks": blocks[:100]}


def _initial(choices: list[tuple[str, str]], current: Any) -> int | None:
    if current is None:
        return None
    for i, (value, label) in enumerate(choices):
        if str(current) in (value, label) or (label == "done_action" and current == "done") or (
                label == "open_action" and current == "open"):
            return i
    return None


def open_form(app: Flywheel, client: Any, *, user: str, run_id: int, trigger_id: str) -> bool:
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


def submit(app: Flywheel, payload: Mapping[str, Any], dedup_key: str) -> dict[str, Any] | None:
    """Handle a `view_submission`; returns Slack's `response_action: errors` body when answers do not fit."""
    view = payload.get("view") or {}
    user = (payload.get("user") or {}).get("id")
    metadata = str(view.get("private_metadata") or "")
    if view.get("callback_id") != CALLBACK_ID or not user or not metadata.isdecimal() or len(metadata) > 12:
        return None
    errors = app.submit_form(platform="slack", user=str(user), run_id=int(metadata), values=submission_values(view),
                             dedup_key=dedup_key)
    errors = {k: v for k, v in errors.items() if k}
    if errors:
        return {"response_action": "errors", "errors": {k: v[:200] for k, v in errors.items()}}
    return None
