"""What every chat platform shows the same way, whatever its markup: text split within a size limit, the answer
buttons a message carries, and the fields of "Answer in a form". Slack renders these as blocks and modals,
Feishu as cards; the choice of buttons and the values they send are decided once, here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.ports import FormSource
from conversations import catalog
from conversations.answers import Items, Scale
from conversations.feedback import NAME as FEEDBACK_FLOW
from conversations.flows import GIVEN
from conversations.followups import FOLLOW_UPS
from conversations.goals import GoalSpec, Progress
from conversations.machine import Reply, ask


def split_text(text: str, limit: int) -> list[str]:
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


def unique_handle(candidates: Iterable[str | None], fallback: str, taken: set[str]) -> str:
    """A member handle for someone a platform's directory brought in: the first usable candidate (lowercase
    letters, digits, `._-`), numbered if taken. Adds it to `taken`."""
    base = next(
        (h for h in (re.sub(r"[^a-z0-9._-]", "", (c or "").lower()) for c in candidates) if h),
        re.sub(r"[^a-z0-9._-]", "", fallback.lower()) or "member",
    )
    handle, n = base[:60], 2
    while handle in taken:
        handle, n = f"{base[:57]}{n}", n + 1
    taken.add(handle)
    return handle


# Short button labels, per language. The value a button sends is exactly what a member could type.
LABELS = {
    "en": {
        "done": "Done",
        "partly": "Partly",
        "not_done": "Not done",
        "resolved": "Resolved",
        "still": "Still blocking",
        "irrelevant": "No longer relevant",
        "done_action": "Done",
        "open_action": "Still going",
        "drop_action": "Drop",
        "later": "Later",
        "skip": "Skip",
        "back": "Back",
        "none": "None",
        "handle": "I'll handle it",
        "1on1": "Let's discuss in our 1:1",
        "resolved_request": "Resolved",
        "edit": "Edit an answer",
        "form": "Answer in a form",
        "accept": "Accept",
        "decline": "Decline",
        "repost": "Post my answers under my name",
        "ack": "Acknowledge",
        "all_done": "All done",
        "same": "Yes, the same one",
        "new": "No, a new one",
        "reply": "Reply to {n}",
        "answer_back": "Answer",
        "reply_title": "Private reply",
        "reply_field": "Your reply (only the two of you see it)",
        "send": "Send",
        "cancel": "Cancel",
        "no_thanks": "No thanks",
        "agree_goal": "Agree to goal",
        "agree_all": "Agree to all",
    },
    "zh": {
        "done": "完成",
        "partly": "部分完成",
        "not_done": "未完成",
        "resolved": "已解决",
        "still": "仍然存在",
        "irrelevant": "不再相关",
        "done_action": "完成",
        "open_action": "还在进行",
        "drop_action": "放弃",
        "later": "稍后",
        "skip": "跳过",
        "back": "返回",
        "none": "无",
        "handle": "我来处理",
        "1on1": "一对一时讨论",
        "resolved_request": "已解决",
        "edit": "修改回答",
        "form": "用表单回答",
        "accept": "接受",
        "decline": "拒绝",
        "repost": "署名发布我的回答",
        "ack": "已知悉",
        "all_done": "都完成了",
        "same": "是同一个",
        "new": "不是，新的",
        "reply": "回复第 {n} 项",
        "answer_back": "回应",
        "reply_title": "私下回复",
        "reply_field": "你的回复（只有你们两个人能看到）",
        "send": "发送",
        "cancel": "取消",
        "no_thanks": "不用了",
        "agree_goal": "同意目标",
        "agree_all": "全部同意",
    },
}

# Messages that open a conversation (or pick it up again) offer the whole run as one form.
FORM_LEADS = {"intro", "intro_on_demand", "reminder", "continue", "resumed", "snooze_over"}
FORM_BUTTONS = {"en": ("Save", "Cancel"), "zh": ("保存", "取消")}


def labels_for(locale: str) -> dict[str, str]:
    return LABELS.get(locale, LABELS["en"])


@dataclass(frozen=True)
class Button:
    key: str  # stable id of what the button does, e.g. `weekly_checkin:answer:3`
    label: str
    value: str  # what pressing it sends: exactly what a member could type, or `form:<run id>`
    primary: bool = False


@dataclass(frozen=True)
class ButtonRow:
    id: str
    buttons: tuple[Button, ...]
    note: str | None = None  # a line shown above the buttons (which support request they act on)
    step: str | None = None  # the question the buttons answer, if they answer one
    own_card: bool = False  # Feishu: on a card of its own, which a press may turn into a form (replies)


def reply_rows(reply: Reply, locale: str) -> list[ButtonRow]:
    """Buttons for the question a reply asks (if any): its choices, then Later / Skip. A support request gets its
    manager's three answers, a request to report to someone Accept / Decline. A button sends exactly what a person
    could have typed."""
    flow, _, step = reply.template.partition("/")
    labels = labels_for(locale)
    if reply.template == "support/new_request" and "id" in reply.params:
        return [_support_row(reply.params["id"], labels)]
    if reply.template == "team/request" and "id" in reply.params:
        return [_team_request_row(reply.params["id"], labels)]
    if reply.template == "oneonone/proposal" and "id" in reply.params:  # a 1:1 cadence the other side suggested
        pair_id = reply.params["id"]
        return [
            ButtonRow(
                f"oneonone:{pair_id}",
                tuple(
                    Button(
                        f"oneonone:{word}:{pair_id}", labels[word], f"/1on1 {word} {pair_id}", primary=word == "accept"
                    )
                    for word in ("accept", "decline")
                ),
            )
        ]
    if reply.template == "action/suggested" and "id" in reply.params:  # a manager's suggestion: Accept / Decline
        action_id = reply.params["id"]
        return [
            ButtonRow(
                f"action:{action_id}",
                tuple(
                    Button(
                        f"action:{word}:{action_id}",
                        labels[word],
                        f"/action {word} {action_id}",
                        primary=word == "accept",
                    )
                    for word in ("accept", "decline")
                ),
            )
        ]
    if reply.template == "retro/withheld" and "retro_id" in reply.params:  # the author's own answers, theirs to post
        retro_id = reply.params["retro_id"]
        return [
            ButtonRow(
                f"retro:repost:{retro_id}",
                (Button(f"retro:repost:{retro_id}", labels["repost"], f"/retro repost {retro_id}"),),
            )
        ]
    if reply.template in GOAL_MESSAGES:  # agree to a goal of the quarter: what `/goals agree …` would say
        return _goal_rows(reply, labels)
    if reply.template == "own_data/flag_new" and "id" in reply.params:  # a member flagged an answer as wrong
        flag_id = reply.params["id"]
        return [ButtonRow(f"flag:{flag_id}", (Button(f"flag:ack:{flag_id}", labels["ack"], f"/me ack {flag_id}"),))]
    if reply.template == "replies/received" and "number" in reply.params:  # answer back, in a form
        number = reply.params["number"]
        return [ButtonRow(f"reply:{number}", (reply_button(number, labels["answer_back"]),), own_card=True)]
    if reply.template == "digest/person" and not reply.params.get("own_view") and not reply.params.get("via"):
        # Only the request's own manager can act on it: not the member reading /me, not a skip-level reader.
        rows = []
        for r in [r for r in reply.params.get("support") or [] if r.get("status") == "open"][:10]:
            note = f"#{r['id']} {reply.params.get('name', '')}: “{r.get('text', '')}”"
            rows.append(_support_row(r["id"], labels, note))
        numbers = sorted(set((reply.params.get("refs") or {}).values()))[:10]  # what the digest numbered
        if numbers:
            presses = tuple(reply_button(n, labels["reply"].format(n=n)) for n in numbers)
            rows.append(ButtonRow(f"reply:{numbers[0]}", presses, str(reply.params.get("name") or ""), own_card=True))
        return rows
    if step == "summary" and reply.params.get("mode") in ("completed", "edited"):
        return [ButtonRow(f"{flow}:edit", (Button(f"{flow}:edit", labels["edit"], "edit"),))]
    if "number" not in reply.params:
        return []
    if step == FOLLOW_UPS and reply.params.get("items"):
        return _follow_up_rows(flow, reply.params["items"], labels)
    buttons = [
        Button(f"{flow}:answer:{value}", labels.get(label, label), value)
        for value, label in catalog.choices(flow, step)
    ]
    # Key results listed in one question: a button marks a done / not done one done (`KR2 done`, as typed).
    buttons += [
        Button(f"{flow}:kr:{k['number']}", f"KR{k['number']} {labels['done']}", f"KR{k['number']} done")
        for k in reply.params.get("listed") or ()
        if isinstance(k, dict) and k.get("done_kind") and not k.get("done")
    ]
    # Declining a request for feedback is one press, and says so (bot/feedback.py: it stays silent).
    skip_label = labels["no_thanks"] if flow == FEEDBACK_FLOW else labels["skip"]
    buttons += [Button(f"{flow}:later", labels["later"], "later"), Button(f"{flow}:skip", skip_label, "skip")]
    asked = str(reply.params.get("step", step))
    return [ButtonRow(f"{flow}:{asked}", tuple(buttons), step=asked)]


def message_rows(replies: Sequence[Reply], locale: str, run_id: int | None) -> list[ButtonRow]:
    """Every button row of one outbound message: support buttons of earlier digest sections, then the buttons of
    the last question asked, with "Answer in a form" when the message opens or resumes a conversation."""
    rows: list[ButtonRow] = []
    for reply in replies[:-1]:
        if reply.template in ("digest/person", "replies/received"):
            rows.extend(reply_rows(reply, locale))
    if replies:
        last = reply_rows(replies[-1], locale)
        if last and run_id is not None and replies[-1].params.get("lead") in FORM_LEADS:
            form = Button(f"form:open:{run_id}", labels_for(locale)["form"], f"form:{run_id}", primary=True)
            last[-1] = ButtonRow(last[-1].id, last[-1].buttons + (form,), last[-1].note, last[-1].step)
        rows.extend(last)
    return rows


def _follow_up_rows(flow: str, items: Sequence[dict[str, Any]], labels: dict[str, str]) -> list[ButtonRow]:
    """The follow-up list: a row per item (its number and text above its statuses), each button sending what the
    member could type (`2 still`); then All done / Later / Skip. Every row answers the same question, so the
    buttons of items not pressed yet still work after another item's."""
    rows = []
    for item in items:
        n = item["number"]
        text = str(item["text"])
        note = f"{n}. “{text if len(text) <= 150 else text[:149] + '…'}”"
        buttons = tuple(
            Button(f"{flow}:answer:{n}:{value.replace(' ', '_')}", labels.get(label, label), f"{n} {value}")
            for value, label in catalog.choices(flow, item["kind"])
        )
        rows.append(ButtonRow(f"{flow}:{FOLLOW_UPS}#{n}", buttons, note, step=FOLLOW_UPS))
    rest = [Button(f"{flow}:answer:all_done", labels["all_done"], "all done")] if len(items) > 1 else []
    rest += [Button(f"{flow}:{word}", labels[word], word) for word in ("later", "skip")]
    rows.append(ButtonRow(f"{flow}:{FOLLOW_UPS}", tuple(rest), step=FOLLOW_UPS))
    return rows


REPLY_PREFIX = "reply:"  # a button that opens a one-box form sending `/reply N …` (Slack: a modal; Feishu: a card form)


def reply_button(number: int, label: str) -> Button:
    return Button(f"{REPLY_PREFIX}{number}", label, f"{REPLY_PREFIX}{number}")


def reply_number(value: str) -> int | None:
    """The number a reply button carries (`reply:3` → 3), or None."""
    raw = value.removeprefix(REPLY_PREFIX) if value.startswith(REPLY_PREFIX) else ""
    return int(raw) if raw.isdecimal() and len(raw) <= 6 else None


def reply_command(number: int, text: str) -> str:
    """What a submitted reply form sends: exactly what the person could have typed."""
    return f"/reply {number} {text.strip()}"


GOAL_MESSAGES = ("goals/draft_for_manager", "goals/edited_by_other", "goals/comment_received")


def _goal_rows(reply: Reply, labels: dict[str, str]) -> list[ButtonRow]:
    """Agree buttons on a draft of goals (one per goal, and all), on a changed goal and on a comment: the manager's
    name the member (`/goals agree @alice 1`), the member's are their own (`/goals agree 1`). Commenting and changing
    need words: the message says what to type."""
    p = reply.params
    whose = "" if p.get("own") else f" @{p.get('handle', '')}"
    if reply.template == "goals/draft_for_manager":
        numbers = [g["number"] for g in p.get("goals") or () if not g.get("agreed")]
        if not numbers:
            return []
        buttons = [
            Button(f"goals:agree:{p.get('handle')}:{n}", f"{labels['agree_goal']} {n}", f"/goals agree{whose} {n}")
            for n in numbers
        ]
        if len(numbers) > 1:
            buttons.append(Button(f"goals:agree:{p.get('handle')}", labels["agree_all"], f"/goals agree{whose}"))
        return [ButtonRow(f"goals:{p.get('handle')}", tuple(buttons))]
    number = p.get("number") if reply.template == "goals/comment_received" else (p.get("goal") or {}).get("number")
    if number is None:
        return []
    key = f"goals:agree:{p.get('handle') if whose else 'own'}:{number}"
    label = f"{labels['agree_goal']} {number}"
    return [ButtonRow(key, (Button(key, label, f"/goals agree{whose} {number}", primary=True),))]


def _support_row(request_id: int, labels: dict[str, str], note: str | None = None) -> ButtonRow:
    return ButtonRow(
        f"support:{request_id}",
        tuple(
            Button(f"support:{word}:{request_id}", labels[label], f"/support {request_id} {word}")
            for word, label in (("handle", "handle"), ("1on1", "1on1"), ("resolved", "resolved_request"))
        ),
        note,
    )


def _team_request_row(request_id: int, labels: dict[str, str]) -> ButtonRow:
    """Accept / Decline on a request to report to someone: the same words the message tells the member to type."""
    return ButtonRow(
        f"team:{request_id}",
        tuple(
            Button(
                f"team:{word}:{request_id}", labels[word], f"/flywheel {word} {request_id}", primary=word == "accept"
            )
            for word in ("accept", "decline")
        ),
    )


# ------------------------------------------------------------------------------------------------ forms


@dataclass(frozen=True)
class FormField:
    step: str
    question: str
    choices: tuple[tuple[str, str], ...]  # (value, label); empty for free text
    current: str | None  # the answer so far, shown as typed (or the value of the chosen option)
    multiline: bool
    optional: bool


@dataclass(frozen=True)
class Form:
    run_id: int
    flow: str
    title: str
    save: str
    cancel: str
    locale: str
    fields: tuple[FormField, ...]


def build_form(app: FormSource, *, platform: str, user: str, run_id: int) -> Form | None:
    """The questions of one run with the answers given so far, in the member's language, as plain text (platforms
    show labels literally); None when the run is not this person's."""
    found = app.form_for(platform=platform, user=user, run_id=run_id)
    if found is None:
        return None
    flow, state, member = found
    locale = member.locale if member.locale in LABELS else "en"
    labels = labels_for(locale)
    audience = replace(app.audience_for(member), locale=locale)
    fields = []
    for step in state.steps:
        if flow.ask_for(step).detached and state.answers.get(step) == GIVEN:
            continue  # handed over without a name: nothing to show or change (upward feedback)
        question = app.renderer.render(ask(flow, state, step, {}), audience)
        expects = flow.ask_for(step).expects
        current = state.answers.get(step)
        offered = flow.ask_for(step).choices  # the question's buttons, as the flow declares them
        choices = tuple((value, labels.get(label, label)) for value, label in offered)
        shown = (
            _chosen(offered, current)
            if choices
            else expects.describe(current)  # a goal, or key-result progress: as it could be typed again
            if isinstance(expects, (GoalSpec, Progress)) and current is not None
            else _shown(current)
        )
        if flow.is_group(step):  # what was recorded, as the member could type it: `1 done 2 still`
            shown = (
                " ".join(
                    f"{n} {_chosen(flow.ask_for(i.kind).choices, state.answers[i.step])}"
                    for n, i in enumerate(flow.group_items(step, state.context), start=1)
                    if i.step in state.answers and _chosen(flow.ask_for(i.kind).choices, state.answers[i.step])
                )
                or None
            )
        fields.append(
            FormField(
                step=step,
                question=question,
                choices=choices,
                current=shown,
                multiline=not isinstance(expects, (Scale, Items)),
                optional=flow.ask_for(step).optional or step in state.answers,
            )
        )
    save, cancel = FORM_BUTTONS[locale]
    return Form(
        run_id=run_id,
        flow=flow.name,
        title=flow.titles.get(locale, "Flywheel"),
        save=save,
        cancel=cancel,
        locale=locale,
        fields=tuple(fields),
    )


def _shown(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return "; ".join(
            str(v if not isinstance(v, dict) else f"{v.get('owner', '')} {v.get('text', '')}").strip() for v in value
        )
    if isinstance(value, dict):
        return str(value.get("text", ""))
    return str(value)


def _chosen(choices: Sequence[tuple[str, str]], current: Any) -> str | None:
    if current is None:
        return None
    for value, label in choices:
        if (
            str(current) in (value, label)
            or (label == "done_action" and current == "done")
            or (label == "open_action" and current == "open")
            or (label == "drop_action" and current == "dropped")
        ):
            return value
    return None
