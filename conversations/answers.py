"""What an answer may look like: parsers that turn a typed reply into a stored value, in English and Chinese.

A parser returns the value to store or raises `Invalid` with a message key that the prompts render.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

# Answers that say nothing, per language: "none" to a blocker question, "没什么亮点" to a wins question. Compared
# after `nothing_key` (case, width, punctuation and spacing do not matter), and only with the whole answer: "no
# staging access" is a blocker. A reply made only of punctuation or symbols ("-", "—", "…") says nothing too.
NOTHING_ANSWERS: Mapping[str, tuple[str, ...]] = {
    "en": (
        "none",
        "nothing",
        "nothing much",
        "nothing really",
        "nothing special",
        "nothing to report",
        "nothing to add",
        "nothing new",
        "not much",
        "nope",
        "no",
        "nah",
        "n/a",
        "na",
        "nil",
        "-",
        "--",
        "—",
        "no blockers",
        "no blocker",
        "none so far",
        "none yet",
        "no help needed",
        "no thanks",
        "not really",
        "all good",
    ),
    "zh": (
        "无",
        "没有",
        "没",
        "暂无",
        "暂时没有",
        "暂时没",
        "没什么",
        "没什么亮点",
        "没什么特别的",
        "没有亮点",
        "没啥",
        "没了",
        "没有了",
        "都没有",
        "无阻碍",
        "没有阻碍",
        "暂无阻碍",
        "不用",
        "不需要",
        "暂不需要",
        "无需",
        "一切正常",
        "没什么好说的",
        "没什么可说的",
    ),
}


def nothing_key(text: str) -> str:
    """The form answers are compared in: NFKC (full width → ASCII), case-folded, every run of punctuation,
    symbols, spaces and invisible characters one space, trimmed."""
    out = []
    for ch in unicodedata.normalize("NFKC", text).casefold():
        out.append(" " if unicodedata.category(ch)[0] in "PSZC" else ch)
    return " ".join("".join(out).split())


_NOTHING = frozenset(nothing_key(a) for answers in NOTHING_ANSWERS.values() for a in answers)


def says_nothing(text: str | None) -> bool:
    """Whether an answer says there is nothing ("none", "nothing much", "无", "没什么亮点", "-"): such a wins answer is
    not celebrated, a blocker opens no obstacle, a priority is not a plan. The one rule every caller asks."""
    return text is None or nothing_key(str(text)) in _NOTHING


MAX_ANSWER_LEN = 4000  # characters in one free-text answer (and one kudos reason)

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_EN_DIGITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_NUMBER = r"(?:[0-9]{1,6}|" + "|".join(_EN_DIGITS) + "|[" + "".join(_CN_DIGITS) + "])"


class Invalid(ValueError):  # noqa: N818 - a reply that is re-asked politely, not a program error
    """A reply that does not fit the question; `key` names the polite re-ask message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def normalize(text: str) -> str:
    """NFKC (full-width digits and punctuation become ASCII), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def keyword(text: str) -> str:
    """Lower-case form used to compare a reply with command words."""
    return re.sub(r"\s+", " ", normalize(text).lower()).rstrip(".!。！")


@dataclass(frozen=True)
class Scale:
    lo: int = 1
    hi: int = 5

    def parse(self, text: str) -> int:
        raw = normalize(text).replace("\ufe0f", "").replace("\u20e3", "").lower()
        raw = re.sub(r"\s*(/|out of|分之)\s*" + _NUMBER + r"\s*$", "", raw).strip()
        raw = raw.removesuffix("分").strip()
        value: int | None = None
        if re.fullmatch(r"[+-]?[0-9]{1,6}", raw):
            value = int(raw)
        elif raw in _CN_DIGITS:
            value = _CN_DIGITS[raw]
        elif raw in _EN_DIGITS:  # "four", "Five"
            value = _EN_DIGITS[raw]
        if value is None or not self.lo <= value <= self.hi:
            raise Invalid("invalid_scale", lo=self.lo, hi=self.hi)
        return value

    def describe(self, value: Any) -> str:
        return str(value)

    @property
    def choices(self) -> tuple[tuple[str, str], ...]:
        """The buttons a question of this kind offers: (what pressing one sends, its label key)."""
        return tuple((str(i), str(i)) for i in range(self.lo, self.hi + 1))


@dataclass(frozen=True)
class Text:
    max_len: int = MAX_ANSWER_LEN
    none_means_empty: bool = False

    def parse(self, text: str) -> str | None:
        value = text.strip()
        if not value:
            raise Invalid("invalid_empty")
        if self.none_means_empty and says_nothing(value):
            return None
        if len(value) > self.max_len:
            raise Invalid("invalid_too_long", max=self.max_len)
        return value

    def describe(self, value: Any) -> str:
        return "" if value is None else str(value)


# A bullet or number that starts a line: `-`/`*`/`+` and a space, `•`/`·`/`‣`/`▪`, `1.`/`1)`/`1:` and a space,
# `1、`, `(1)`/`（1）`. Not text that merely starts with a number or a dash: "1:1s with everyone", "10:30 sync",
# "3.5 days of QA" and "-5% churn" stay whole.
_BULLET = re.compile(
    r"^[ \t\u3000]*(?:[-*+][ \t\u3000]+|[•·‣▪◦][ \t\u3000]*|[0-9]{1,2}[.)．:：][ \t\u3000]+"
    r"|[0-9]{1,2}、[ \t\u3000]*|[（(][0-9]{1,2}[)）][ \t\u3000]*)"
)
_SEPARATOR = re.compile(r"[;；]")


@dataclass(frozen=True)
class Items:
    """One to `most` short items. Items are separated by new lines, by `;` or `；`, and a bullet or number at the
    start of a line (`- `, `• `, `1. `, `1) `, `1、`, `(1)`) is left out; nothing else is split or removed, so
    "1:1s with everyone" and "10:30 standup" stay whole. Each item is kept exactly as typed, without the spaces
    around it."""

    least: int = 1
    most: int = 3
    max_len: int = 500

    def parse(self, text: str) -> list[str]:
        lines = [_BULLET.sub("", line, count=1) for line in re.split(r"\r\n|[\r\n\u2028\u2029]", text)]
        items = [part.strip() for line in lines for part in _SEPARATOR.split(line) if part.strip()]
        if len(items) < self.least:
            raise Invalid("invalid_items_few", least=self.least, most=self.most)
        if len(items) > self.most:
            raise Invalid("invalid_items_many", least=self.least, most=self.most, count=len(items))
        if any(len(it) > self.max_len for it in items):
            raise Invalid("invalid_too_long", max=self.max_len)
        return items

    def describe(self, value: Any) -> str:
        return "; ".join(value or [])


PLAN_STATUSES = ("done", "partly", "not_done")
_PLAN_WORDS = {
    "done": {
        "done",
        "d",
        "yes",
        "y",
        "1",
        "complete",
        "completed",
        "finished",
        "✅",
        "完成",
        "已完成",
        "做完了",
        "完成了",
        "搞定",
        "是",
    },
    "partly": {
        "partly",
        "partial",
        "partially",
        "p",
        "2",
        "some",
        "half",
        "部分",
        "部分完成",
        "一半",
        "进行中",
        "做了一部分",
    },
    "not_done": {
        "not done",
        "not",
        "no",
        "n",
        "3",
        "nope",
        "not yet",
        "❌",
        "未完成",
        "没完成",
        "没有",
        "没做",
        "否",
        "还没",
    },
}


class _WordChoice:
    """A reply that must be one of a few meanings, each said in several ways (English and Chinese)."""

    WORDS: ClassVar[Mapping[str, set[str]]]
    INVALID: ClassVar[str]
    # The buttons a question of this kind offers: (what pressing one sends — words it reads —, its label key).
    choices: ClassVar[tuple[tuple[str, str], ...]] = ()

    def parse(self, text: str) -> str:
        word = keyword(text)
        for meaning, words in self.WORDS.items():
            if word in words or word == meaning.replace("_", " "):
                return meaning
        raise Invalid(self.INVALID)

    def describe(self, value: Any) -> str:
        return str(value)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PlanStatus(_WordChoice):
    """How one of last week's priorities went: done / partly / not done."""

    WORDS = _PLAN_WORDS
    INVALID = "invalid_plan_status"
    choices = (("done", "done"), ("partly", "partly"), ("not done", "not_done"))


OBSTACLE_STATUSES = ("resolved", "still", "irrelevant")
_OBSTACLE_WORDS = {
    "resolved": {
        "resolved",
        "solved",
        "fixed",
        "done",
        "gone",
        "r",
        "1",
        "yes",
        "已解决",
        "解决了",
        "解决",
        "好了",
        "没问题了",
    },
    "still": {
        "still",
        "still blocking",
        "blocking",
        "open",
        "s",
        "2",
        "no",
        "仍然存在",
        "还在",
        "仍然",
        "没解决",
        "还没解决",
        "依然存在",
    },
    "irrelevant": {
        "irrelevant",
        "no longer relevant",
        "not relevant",
        "n/a",
        "moot",
        "i",
        "3",
        "不再相关",
        "无关了",
        "不相关",
        "不重要了",
    },
}


class ObstacleStatus(_WordChoice):
    """What happened to an open obstacle: resolved / still blocking / no longer relevant."""

    WORDS = _OBSTACLE_WORDS
    INVALID = "invalid_obstacle_status"
    choices = (("resolved", "resolved"), ("still", "still"), ("no longer relevant", "irrelevant"))


SUPPORT_KINDS = ("decision", "resources", "coaching", "other_team")
_SUPPORT_WORDS = {
    "decision": {"1", "decision", "a decision", "决策", "决定", "拍板"},
    "resources": {"2", "resources", "resource", "budget", "people", "资源", "预算", "人手"},
    "coaching": {"3", "skills", "coaching", "skills or coaching", "training", "技能", "辅导", "培训", "指导"},
    "other_team": {"4", "other team", "another team", "help from another team", "跨团队", "其他团队", "协作", "跨部门"},
}


@dataclass(frozen=True)
class SupportNeed:
    """`2 two more days of QA time` → {"kind": "resources", "text": "two more days of QA time"}; none-words → None.

    A kind alone (`2`) is not an answer yet: it is asked for a few words, and is `pending` for the next reply, whose
    words alone then complete it (another kind, or none-words, still replace it)."""

    def parse(self, text: str, pending: str | None = None) -> dict[str, str] | None:
        raw = text.strip()
        if raw and says_nothing(raw):
            return None
        norm = normalize(raw)
        for kind, words in _SUPPORT_WORDS.items():
            for word in sorted(words, key=len, reverse=True):
                if keyword(norm).startswith(word) and (
                    len(norm) == len(word) or not word.isascii() or not norm[len(word)].isalnum()
                ):
                    detail = norm[len(word) :].lstrip(" .:：,，-—)）、")
                    if not detail:
                        raise Invalid("invalid_support_detail", pending=kind)
                    return {"kind": kind, "text": detail}
        if pending in SUPPORT_KINDS and raw:
            return {"kind": pending, "text": raw}
        raise Invalid("invalid_support")

    def describe(self, value: Any) -> str:
        return "" if not value else f"{value['kind']}: {value['text']}"


_ACTION = re.compile(r"^\s*(<@[A-Z0-9]+(?:\|[^>]*)?>|@[^\s,，、:：@]+)\s*[:：,，-]?\s*(.+)$")


@dataclass(frozen=True)
class Actions:
    """What we will do differently: `@owner what` items (one per line or separated by `;`), or none at all."""

    most: int = 5

    def parse(self, text: str) -> list[dict[str, str]]:
        if text.strip() and says_nothing(text):
            return []
        items = Items(1, self.most).parse(text)
        out = []
        for item in items:
            m = _ACTION.match(item)
            if not m:
                raise Invalid("invalid_action_owner", item=item)
            out.append({"owner": m.group(1), "text": m.group(2).strip()})
        return out

    def describe(self, value: Any) -> str:
        return "; ".join(f"{a['owner']} {a['text']}" for a in value or [])


_DONE_WORDS = {
    "done": {"done", "yes", "y", "finished", "完成", "已完成", "做完了", "是"},
    "open": {
        "not yet",
        "no",
        "n",
        "not done",
        "open",
        "still going",
        "going",
        "in progress",
        "ongoing",
        "还没",
        "未完成",
        "没有",
        "否",
        "进行中",
        "还在做",
        "还在进行",
        "继续",
    },
    "dropped": {"drop", "dropped", "drop it", "give up", "放弃", "不做了", "取消"},
}


class ActionStatus(_WordChoice):
    """How a development action stands: done, still going, or dropped."""

    WORDS = _DONE_WORDS
    INVALID = "invalid_action_status"
    choices = (("done", "done_action"), ("still going", "open_action"), ("drop", "drop_action"))


_SAME_WORDS = {
    "same": {
        "yes",
        "y",
        "same",
        "same one",
        "yes same",
        "yes the same",
        "是",
        "是的",
        "对",
        "对的",
        "同一个",
        "是同一个",
        "一样",
    },
    "new": {
        "no",
        "n",
        "new",
        "new one",
        "a new one",
        "different",
        "不是",
        "不",
        "否",
        "新的",
        "不一样",
        "新问题",
        "不是同一个",
    },
}


class YesOrNo(_WordChoice):
    """Is this the same as the open obstacle named? `same` / `new`."""

    WORDS = _SAME_WORDS
    INVALID = "invalid_same_obstacle"
    choices = (("yes", "same"), ("no", "new"))


Expect = Scale | Text | Items | PlanStatus | ObstacleStatus | SupportNeed | Actions | ActionStatus | YesOrNo
