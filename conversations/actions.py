"""Development actions: what `/action …` means, and how old or late an action is. Pure.

`/action` lists mine; `/action add Practise a demo by 2027-01-15` (or `by Friday`, `截止 周五`, `周五前`) adds one —
the text is kept exactly as typed, the due date taken off its end; `/action done 12`, `/action drop 12`,
`/action note 12 …`; a manager: `/action suggest @alice Pair with Bo on the release`; the member:
`/action accept 12` / `/action decline 12` (the buttons on Slack and Feishu send exactly these).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from conversations.answers import normalize
from conversations.commands import after_words
from conversations.dates import parse_day

# Each subcommand and the words that say it, English and Chinese.
VERBS: dict[str, tuple[str, ...]] = {
    "add": ("add", "new", "添加", "新增", "加"),
    "done": ("done", "complete", "finished", "完成", "做完"),
    "drop": ("drop", "dropped", "放弃", "不做了", "取消"),
    "note": ("note", "备注", "记录"),
    "suggest": ("suggest", "建议"),
    "accept": ("accept", "接受", "同意"),
    "decline": ("decline", "拒绝", "不接受"),
    "list": ("list", "mine", "列表", "我的"),
}
_VERB_OF = {word: verb for verb, words in VERBS.items() for word in words}
_ID = re.compile(r"#?([0-9]{1,9})")
# A due date at the end of the text: `… by Friday`, `… by 2027-01-15`, `… due next monday`, `…，截止 周五`,
# `… 截止2027-01-15`, `… 周五前`. Only taken off when the words after it read as a day.
_DUE_EN = re.compile(r"^(?P<text>.*?)[\s,;]+(?:by|due|before|until)\s+(?P<day>[^,;]{1,40}?)[\s.。!！]*$", re.IGNORECASE)
_DUE_ZH = re.compile(
    r"^(?P<text>.*?)[\s，,；;]*截止(?:日期)?[:：]?\s*(?P<day>[^，,；;\s]{1,20}?)(?:之前|以前|前)?[\s.。!！]*$"
)
_DUE_ZH_BEFORE = re.compile(r"^(?P<text>.*?)[\s，,；;]+(?P<day>[^，,；;\s]{1,20}?)(?:之前|以前|前)[\s.。!！]*$")
_DUE_ZH_LEADING = re.compile(r"^(?P<day>[^，,；;\s]{1,20}?)(?:之前|以前|前)[\s，,：:]*(?P<text>.+)$")

MAX_TEXT = 1000


@dataclass(frozen=True)
class ActionRequest:
    verb: str  # list | add | done | drop | note | suggest | accept | decline | usage
    action_id: int | None = None
    text: str = ""  # the action's or the note's words, exactly as typed
    due: date | None = None
    who: str = ""  # `suggest`: the mention of the member, as typed
    problem: str = ""  # for "usage": what was wrong (no_text, no_note, no_suggestion, no_id, bad_due,
    # too_long, unknown)


def split_due(text: str, today: date) -> tuple[str, date | None, bool]:
    """`Practise a demo by Friday` → ("Practise a demo", the Friday, False). The words before the date stay as
    typed. The last flag: a date was written but is not a day after today (`by yesterday`), so the caller can say
    so rather than keep "by yesterday" as part of the text. Text with no date ending comes back whole."""
    stripped = text.strip()
    for pattern in (_DUE_EN, _DUE_ZH, _DUE_ZH_BEFORE, _DUE_ZH_LEADING):
        m = pattern.match(stripped)
        if m is None or not m.group("text").strip():
            continue
        word = normalize(m.group("day")).lower().strip()
        day = parse_day(word, today)
        if day is not None:
            return m.group("text").strip(), day, False
        if _looks_like_a_day(word):
            return m.group("text").strip(), None, True
    return stripped, None, False


def _looks_like_a_day(word: str) -> bool:
    """A date that is not after today (`2020-01-01`, `today`, `今天`): the member meant a due date."""
    return bool(re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}|\d{4}年\d{1,2}月\d{1,2}日?|today|yesterday|今天|昨天", word))


def parse_action(args: str, text: str, today: date) -> ActionRequest:
    """`/action …` → what it asks. `args` as read (normalised), `text` the same exactly as typed. Never raises."""
    words = args.split()
    if not words:
        return ActionRequest("list")
    verb = _VERB_OF.get(words[0].lower())
    if verb is None:
        return ActionRequest("usage", problem="unknown", text=words[0][:40])
    if verb == "list":
        return ActionRequest("list")
    if verb == "add":
        return _with_text("add", after_words(text, 1), today)
    if verb == "suggest":
        if len(words) < 2 or not words[1].startswith(("@", "<@")):
            return ActionRequest("usage", problem="no_who")
        request = _with_text("suggest", after_words(text, 2), today)
        who = after_words(text, 1).split()[0]
        if request.problem == "no_text":  # `/action suggest @bo` alone: what to suggest, not how to add one
            return ActionRequest("usage", problem="no_suggestion")
        return (
            request
            if request.verb == "usage"
            else ActionRequest("suggest", text=request.text, due=request.due, who=who)
        )
    m = _ID.fullmatch(words[1]) if len(words) > 1 else None
    if m is None:
        return ActionRequest("usage", problem="no_id")
    action_id = int(m.group(1))
    if verb == "note":
        note = after_words(text, 2)
        if not note:  # `/action note 6` alone: what the note says, not how to add an action
            return ActionRequest("usage", problem="no_note", text=str(action_id))
        if len(note) > MAX_TEXT:
            return ActionRequest("usage", problem="too_long")
        return ActionRequest("note", action_id=action_id, text=note)
    if len(words) > 2:
        return ActionRequest("usage", problem="extra", text=" ".join(words[2:])[:40])
    return ActionRequest(verb, action_id=action_id)


def _with_text(verb: str, typed: str, today: date) -> ActionRequest:
    body, due, bad = split_due(typed, today)
    if bad:
        return ActionRequest("usage", problem="bad_due")
    if not body:
        return ActionRequest("usage", problem="no_text")
    if len(body) > MAX_TEXT:
        return ActionRequest("usage", problem="too_long")
    return ActionRequest(verb, text=body, due=due)


def days_open(since: datetime, now: datetime) -> int:
    """Whole days an action has been open (never negative)."""
    return max(0, (now - since).days)


def overdue(due: date | None, today: date) -> bool:
    """Late only once a due date has passed: an action without one is never overdue."""
    return due is not None and today > due
