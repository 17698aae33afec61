"""Slack message building: mrkdwn escaping, sections within Slack's limits, and answer buttons.

Slack facts (DESIGN.md §4): section text ≤ 3,000 characters, ≤ 50 blocks per message; only `&`, `<` and `>`
need escaping in mrkdwn (never HTML-escape everything), which also defuses `<!channel>` typed by a user.
"""

from __future__ import annotations

from typing import Any, Sequence

from conversations.machine import Reply

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
TEXT_LIMIT = 3000  # the notification fallback `text`; plain text fails near 4,000


def mrkdwn_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split at line breaks (or, for one very long line, at spaces) so no piece exceeds `limit`; nothing is cut."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            head, line = line[:cut], line[cut:].lstrip(" ")
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


# Short button labels, per language. The value a button sends is exactly what a member could type.
LABELS = {
    "en": {"done": "Done", "partly": "Partly", "not_done": "Not done", "resolved": "Resolved", "still": "Still blocking",
           "irrelevant": "No longer relevant", "done_action": "Done", "open_action": "Not yet", "later": "Later",
           "skip": "Skip", "back": "Back", "none": "None", "handle": "I'll handle it",
           "1on1": "Let's discuss in our 1:1", "resolved_request": "Resolved", "edit": "Edit an answer"},
    "zh": {"done": "完成", "partly": "部分完成", "not_done": "未完成", "resolved": "已解决", "still": "仍然存在",
           "irrelevant": "不再相关", "done_action": "完成", "open_action": "还没", "later": "稍后", "skip": "跳过",
           "back": "返回", "none": "无", "handle": "我来处理", "1on1": "一对一时讨论", "resolved_request": "已解决",
           "edit": "修改回答"},
}

CHOICES = {
    "mood": [(str(i), str(i)) for i in range(1, 6)],
    "plan_review": [("done", "done"), ("partly", "partly"), ("not done", "not_done")],
    "obstacle_status": [("resolved", "resolved"), ("still", "still"), ("no longer relevant", "irrelevant")],
    "retro_action": [("done", "done_action"), ("not yet", "open_action")],
}


def answer_buttons(reply: Reply, locale: str) -> list[dict[str, Any]]:
    """Buttons for the question a reply asks (if any): its choices, then Later / Skip. A support request gets its
    manager's three answers. A button sends exactly what a person could have typed."""
    flow, _, step = reply.template.partition("/")
    labels = LABELS.get(locale, LABELS["en"])
    if reply.template == "support/new_request" and "id" in reply.params:
        return [_support_buttons(reply.params["id"], labels)]
    if reply.template == "digest/person" and not reply.params.get("own_view") and not reply.params.get("via"):
        # Only the request's own manager can act on it: not the member reading /me, not a skip-level reader.
        blocks: list[dict[str, Any]] = []
        for r in [r for r in reply.params.get("support") or [] if r.get("status") == "open"][:10]:
            about = f"#{r['id']} {reply.params.get('name', '')}: “{r.get('text', '')}”"
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn_escape(about)[:3000]}]})
            blocks.append(_support_buttons(r["id"], labels))
        return blocks
    if step == "summary" and reply.params.get("mode") in ("completed", "edited"):
        return [{"type": "actions", "block_id": f"{flow}:edit",
                 "elements": [_button(f"{flow}:edit", labels["edit"], "edit")]}]
    if "number" not in reply.params:
        return []
    elements = []
    for value, label in CHOICES.get(step, []):
        elements.append(_button(f"{flow}:answer:{value}", labels.get(label, label), value))
    for word in ("later", "skip"):
        elements.append(_button(f"{flow}:{word}", labels[word], word))
    return [{"type": "actions", "block_id": f"{flow}:{reply.params.get('step', step)}", "elements": elements[:25]}]


def _support_buttons(request_id: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"type": "actions", "block_id": f"support:{request_id}", "elements": [
        _button(f"support:{word}:{request_id}", labels[label], f"/support {request_id} {word}")
        for word, label in (("handle", "handle"), ("1on1", "1on1"), ("resolved", "resolved_request"))]}


def _button(action_id: str, label: str, value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": label[:75]},
            "value": value[:2000]}


FORM_LEADS = {"intro", "intro_on_demand", "reminder", "continue", "resumed", "snooze_over"}
FORM_LABEL = {"en": "Answer in a form", "zh": "用表单回答"}


def build_messages(text: str, replies: Sequence[Reply], locale: str, run_id: int | None = None
                   ) -> list[list[dict[str, Any]]]:
    """Blocks for one outbound message: text sections, then buttons for the last question asked. More than 50
    blocks become several messages."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": piece}}
                                    for piece in split_text(text) if piece.strip()]
    for reply in replies[:-1]:  # earlier replies in one message (digest sections) may carry buttons too
        if reply.template == "digest/person":
            blocks.extend(answer_buttons(reply, locale))
    if replies:
        buttons = answer_buttons(replies[-1], locale)
        if buttons and run_id is not None and replies[-1].params.get("lead") in FORM_LEADS:
            label = FORM_LABEL.get(locale, FORM_LABEL["en"])
            buttons[0]["elements"].append(_button(f"form:open:{run_id}", label, f"form:{run_id}"))
            buttons[0]["elements"][-1]["style"] = "primary"
        blocks.extend(buttons)
    return [blocks[i:i + BLOCK_LIMIT] for i in range(0, len(blocks), BLOCK_LIMIT)] or [[]]
