"""Slack message building: mrkdwn escaping, sections within Slack's limits, and answer buttons.

Slack facts (docs/architecture.md, platform facts): section text ≤ 3,000 characters, ≤ 50 blocks per message; only
`&`, `<` and `>` need escaping in mrkdwn (never HTML-escape everything), which also defuses `<!channel>` typed by a
user. Controls and bidi overrides are neutralised first (`conversations.render.neutralise`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.platforms import common
from bot.platforms.common import ButtonRow
from conversations.machine import Reply
from conversations.render import neutralise

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
TEXT_LIMIT = 3000  # the notification fallback `text`; plain text fails near 4,000


def mrkdwn_escape(text: str) -> str:
    """People's text as Slack shows it literally: neutralised, then `&`, `<`, `>` as entities (reversed by
    `inbound.unescape`)."""
    return neutralise(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    return common.split_text(text, limit)


def _slack_row(row: ButtonRow) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if row.note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn_escape(row.note)[:3000]}]})
    elements = []
    for b in row.buttons[:25]:
        element = {
            "type": "button",
            "action_id": b.key,
            "text": {"type": "plain_text", "text": b.label[:75]},
            "value": b.value[:2000],
        }
        if b.primary:
            element["style"] = "primary"
        elements.append(element)
    blocks.append({"type": "actions", "block_id": row.id, "elements": elements})
    return blocks


def build_messages(
    text: str, replies: Sequence[Reply], locale: str, run_id: int | None = None
) -> list[list[dict[str, Any]]]:
    """Blocks for one outbound message: text sections, then its buttons. More than 50 blocks become several
    messages."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in split_text(text) if piece.strip()
    ]
    for row in common.message_rows(replies, locale, run_id):
        blocks.extend(_slack_row(row))
    return [blocks[i : i + BLOCK_LIMIT] for i in range(0, len(blocks), BLOCK_LIMIT)] or [[]]
