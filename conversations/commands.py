"""What a member's message means: a slash command, a conversation keyword, or an answer. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from conversations.answers import keyword, normalize
from conversations.dates import parse_day
from conversations.machine import Reply, Trigger

# The one list of commands. Each has its handler registered by its feature (bot/app.py composes them; bot/inbound.py
# runs them); a platform offers them from here (Slack: slash commands and `/flywheel <command>`, slack/manifest.yml);
# tests/bot/test_commands.py checks the manifest, the help text and the README's Feishu menu against it.
COMMANDS = (
    "checkin",
    "review",
    "pause",
    "resume",
    "help",
    "kudos",
    "support",
    "me",
    "retro",
    "note",
    "feedback",
    "1on1",
    "action",
    "reply",
    "upward",
    "quarter",
    "goals",
    "flywheel",
)
# Reached as `/flywheel <command>` too (`/me` is one of Slack's built-in commands).
SUBCOMMANDS = tuple(c for c in COMMANDS if c != "flywheel")
_ALIASES = {
    "/小结": "checkin",
    "/签到": "checkin",  # /签到: the old word, still understood
    "/暂停": "pause",
    "/恢复": "resume",
    "/帮助": "help",
    "/start": "checkin",
    "/点赞": "kudos",
    "/感谢": "kudos",
    "/回顾": "review",
    "/支持": "support",
    "/我": "me",
    "/复盘": "retro",
    "/备注": "note",
    "/反馈": "feedback",
    "/一对一": "1on1",
    "/oneonone": "1on1",
    "/1:1": "1on1",
    "/行动": "action",
    "/actions": "action",
    "/回复": "reply",
    "/向上反馈": "upward",
    "/季度": "quarter",
    "/目标": "goals",
}

_KEYWORDS: dict[str, Trigger | str] = {}
for _words, _meaning in (
    (("skip", "跳过"), Trigger.SKIP),
    (("later", "snooze", "稍后", "晚点", "等会", "稍后再说", "晚点再说"), Trigger.LATER),
    (("back", "返回", "上一步", "上一题"), Trigger.BACK),
    (("edit", "修改", "编辑"), Trigger.EDIT),
    (("help", "?", "？", "帮助"), "help"),
):
    for _word in _words:
        _KEYWORDS[_word] = _meaning


@dataclass(frozen=True)
class Command:
    name: str  # one of COMMANDS, or the unknown command as typed
    args: str = ""  # normalised (full-width digits and punctuation as ASCII): for reading words and numbers
    known: bool = True
    # the same arguments exactly as typed: free text (reasons, notes) is taken from here (not part of the meaning)
    text: str = field(default="", compare=False)


def after_words(text: str, count: int) -> str:
    """What follows the first `count` words of a command's arguments, exactly as typed (`Command.text`): the one
    way free text — a flag's reason, a note — is cut out of a command, so it is stored as typed."""
    parts = text.strip().split(maxsplit=count)
    return parts[count].strip() if len(parts) > count else ""


@dataclass(frozen=True)
class Keyword:
    trigger: Trigger | str  # a Trigger, or "help"
    arg: str = ""


@dataclass(frozen=True)
class AnswerText:
    text: str


Intent = Command | Keyword | AnswerText


def aliases() -> dict[str, str]:
    """Other names a command is typed as (`/小结` → checkin), each to its command."""
    return {alias.removeprefix("/"): name for alias, name in _ALIASES.items()}


def interpret(text: str) -> Intent:
    stripped = normalize(text)
    if stripped.startswith("/"):
        head, _, rest = stripped.partition(" ")
        name = _ALIASES.get(head, head[1:].lower())
        if name in COMMANDS:
            return Command(name, rest.strip(), text=after_words(text, 1) if rest.strip() else "")
        word = _KEYWORDS.get(head[1:].lower())
        if word is not None:
            return Keyword(word, rest.strip())
        return Command(head, rest.strip(), known=False)
    word = keyword(stripped)
    if word in _KEYWORDS:
        return Keyword(_KEYWORDS[word])
    head, _, rest = word.partition(" ")
    if _KEYWORDS.get(head) == Trigger.EDIT and rest.strip():
        return Keyword(Trigger.EDIT, rest.strip())
    return AnswerText(text)


def parse_pause(args: str, today: date) -> date | None:
    """`until next monday`, `until +2w`, `2w`, `fri`, `下周一`, `两周`, `until 2027-01-04` → the first day prompts come
    back (strictly after `today`); None if unreadable or not in the future. Never raises."""
    text = re.sub(r"^(?:(?:until|till|til|to)\b|直到|到)\s*", "", normalize(args).lower()).strip()
    return parse_day(text, today)


def with_leftover(replies: list[Reply], understood: str, leftover: str) -> list[Reply]:
    """The answer to a command read as `understood` (e.g. `/me export`), and, when words after it were not
    understood, a note naming them: nothing typed is silently dropped. Every command that ignores the rest of
    what was typed asks this; commands whose arguments must be exact answer with their usage instead."""
    rest = leftover.strip()
    if not rest:
        return replies
    return [*replies, Reply("common/leftover", {"command": understood, "leftover": rest})]
