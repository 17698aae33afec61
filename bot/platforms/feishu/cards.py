"""Feishu message cards (card JSON 1.0): text as markdown elements, answer buttons, the whole run as a form.

Feishu facts (docs/architecture.md, platform facts): a card is at most 30 KB, so a long message becomes several
cards; card markdown reads `<at id=all></at>` and friends as mentions, so text from people is escaped (`&`, `<`, `>`
as HTML entities) and shows literally — nobody is ever mentioned by what someone typed. Labels and notes are
`plain_text`. Controls and bidi overrides are neutralised first, in markdown and plain text alike
(`conversations.render.neutralise`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.platforms import common
from bot.platforms.common import ButtonRow, Form
from bot.platforms.feishu.charts import chart_element
from conversations.charts import charts_of
from conversations.machine import Reply
from conversations.render import neutralise

MAX_CHARTS = 5  # Feishu: at most five chart components in one card
CARD_LIMIT = 30 * 1024  # bytes of the card JSON
SAFE_LIMIT = CARD_LIMIT - 2 * 1024  # room for the envelope and rounding
TEXT_PIECE = 2000  # characters per markdown element (CJK text is 3 bytes a character)


def md_escape(text: str) -> str:
    """People's text as card markdown shows it literally: neutralised, then `&`, `<`, `>` as HTML entities."""
    return neutralise(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def size(card: dict[str, Any]) -> int:
    return len(json.dumps(card, ensure_ascii=False).encode("utf-8"))


def plain(text: str, limit: int = 100) -> dict[str, str]:
    text = neutralise(text)
    return {"tag": "plain_text", "content": text if len(text) <= limit else text[: limit - 1] + "…"}


def markdown(text: str) -> dict[str, Any]:
    return {"tag": "markdown", "content": text}


def card(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"config": {"wide_screen_mode": True, "update_multi": True}, "elements": elements}


def button_value(
    value: str, *, key: str, label: str, flow: str, step: str | None, run_id: int | None
) -> dict[str, Any]:
    """What a button sends back in `card.action.trigger`: the text a member could have typed, and the question it
    answers (so a press on an old card cannot answer a later question, and the card can show what was chosen)."""
    out: dict[str, Any] = {"v": value, "k": key, "l": label}
    if step:
        out["flow"], out["step"] = flow, step
        if run_id is not None:
            out["run"] = run_id
    return out


def rows_elements(rows: Sequence[ButtonRow], run_id: int | None) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    for row in rows:
        if row.note:
            elements.append({"tag": "note", "elements": [plain(row.note, 500)]})
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": plain(b.label, 40),
                        "type": "primary" if b.primary else "default",
                        "value": button_value(
                            b.value,
                            key=b.key,
                            label=b.label,
                            flow=row.id.partition(":")[0],
                            step=row.step,
                            run_id=run_id,
                        ),
                    }
                    for b in row.buttons
                ],
            }
        )
    return elements


def build_cards(text: str, replies: Sequence[Reply], locale: str, run_id: int | None = None) -> list[dict[str, Any]]:
    """The cards for one outbound message (already rendered and escaped text): usually one; more when the text would
    pass 30 KB. Buttons go on the last card."""
    elements = [markdown(piece) for piece in common.split_text(text, TEXT_PIECE) if piece.strip()]
    elements += [chart_element(c) for r in replies for c in charts_of(r.template, r.params)][:MAX_CHARTS]
    rows = common.message_rows(replies, locale, run_id)
    elements += rows_elements([r for r in rows if not r.own_card], run_id)
    cards: list[list[dict[str, Any]]] = [[]]
    for element in elements:
        if cards[-1] and size(card(cards[-1] + [element])) > SAFE_LIMIT:
            cards.append([])
        cards[-1].append(element)
    # Reply buttons go on a card of their own: a press turns that card (only) into the reply form.
    own = rows_elements([r for r in rows if r.own_card], run_id)
    return [card(elements) for elements in cards] + ([card(own)] if own else [])


def reply_form_card(number: int, locale: str) -> dict[str, Any]:
    """A Reply / Answer button's card turned into a form with one text box; sending it is typing `/reply N …`."""
    labels = common.labels_for(locale)
    inner = [
        {
            "tag": "input",
            "name": "text",
            "placeholder": plain(labels["reply_field"]),
            "max_length": 3000,
            "input_type": "multiline_text",
            "rows": 3,
        },
        {
            "tag": "button",
            "text": plain(labels["send"], 20),
            "type": "primary",
            "action_type": "form_submit",
            "name": "send",
            "value": {"reply": number},
        },
    ]
    title = {"tag": "markdown", "content": f"**{md_escape(labels['reply_title'])}** · {number}"}
    return card([title, {"tag": "form", "name": "flywheel_reply", "elements": inner}])


def answered_card(question: str, answer_label: str, locale: str) -> dict[str, Any]:
    """A pressed card, updated in place: the question it asked and the answer given, without buttons."""
    shown = f"✓ 你的回答：{answer_label}" if locale == "zh" else f"✓ Your answer: {answer_label}"
    return card([markdown(md_escape(question)), {"tag": "note", "elements": [plain(shown, 200)]}])


def notice_card(text: str) -> dict[str, Any]:
    return card([markdown(md_escape(text))])


def form_card(
    form: Form, *, errors: dict[str, str] | None = None, values: dict[str, str] | None = None
) -> dict[str, Any]:
    """The whole run as one form: a select for each choice question, a text box for the others, pre-filled with the
    answers so far (or what was just submitted, when some of it did not fit)."""
    errors = errors or {}
    values = values or {}
    inner: list[dict[str, Any]] = []
    for i, field in enumerate(form.fields):
        inner.append(markdown(f"**{md_escape(field.question)}**"))
        if field.step in errors:
            inner.append({"tag": "note", "elements": [plain(f"⚠️ {errors[field.step]}", 500)]})
        current = values.get(field.step, field.current)
        name = f"q{i}"
        if field.choices:
            element: dict[str, Any] = {
                "tag": "select_static",
                "name": name,
                "placeholder": plain("…"),
                "options": [{"text": plain(label, 60), "value": value} for value, label in field.choices],
            }
            if current in {value for value, _ in field.choices}:
                element["initial_option"] = current
        else:
            element = {
                "tag": "input",
                "name": name,
                "placeholder": plain("…"),
                "max_length": 1000,
                "input_type": "multiline_text" if field.multiline else "text",
            }
            if field.multiline:
                element["rows"] = 3
            if current:
                element["default_value"] = current[:1000]
        inner.append(element)
    inner.append(
        {
            "tag": "button",
            "text": plain(form.save, 20),
            "type": "primary",
            "action_type": "form_submit",
            "name": "save",
            "value": {"form": form.run_id, "steps": [f.step for f in form.fields]},
        }
    )
    title = {"tag": "markdown", "content": f"**{md_escape(form.title)}**"}
    return card([title, {"tag": "form", "name": "flywheel_form", "elements": inner}])


def form_values(value: dict[str, Any], form_value: dict[str, Any]) -> dict[str, str]:
    """Map a submitted form's `q0, q1, …` back to the questions the form asked."""
    steps = value.get("steps")
    if not isinstance(steps, list):
        steps = []
    out: dict[str, str] = {}
    for i, step in enumerate(steps[:100]):
        raw = form_value.get(f"q{i}")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if raw is not None and isinstance(step, str):
            out[step] = str(raw)[:5000]
    return out
