"""The follow-up question: every open item from before (last week's priorities, open obstacles, development actions) in
one numbered list, answered in one message. Pure.

Accepted answers (English and Chinese, in any mix):
- numbered: `1 done 2 still 3 drop`, `1 完成 2 仍然存在 3 不再相关`, `1,2 done; 3 still`, `1-3 done`;
- one word for all: `all done`, `done`, `都完成了`, `全部完成` — and `all done 2 still` for all but item 2;
- only some items: those are recorded, the others keep their status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conversations.answers import (  # the words each question takes alone
    _DONE_WORDS,
    _OBSTACLE_WORDS,
    _PLAN_WORDS,
    Invalid,
    keyword,
)

FOLLOW_UPS = "follow_ups"  # the step key of the grouped question


@dataclass(frozen=True)
class Item:
    step: str  # the item's own stored answer key: `plan_review:0`, `obstacle_status:1`, `retro_action:0`
    kind: str  # plan_review | obstacle_status | retro_action (every open development action)
    text: str


def _words(base: Mapping[str, set[str]], extra: Mapping[str, set[str]]) -> dict[str, frozenset[str]]:
    # Digits name items here, so the single-question shortcuts "1", "2", "3" are not status words.
    return {
        meaning: frozenset(
            w
            for w in base.get(meaning, set()) | extra.get(meaning, set()) | {meaning.replace("_", " ")}
            if not w.isdigit()
        )
        for meaning in {*base, *extra}
    }


STATUS_WORDS: dict[str, dict[str, frozenset[str]]] = {
    "plan_review": _words(_PLAN_WORDS, {"done": {"完成啦", "全部完成"}, "not_done": {"not", "没做完"}}),
    "obstacle_status": _words(
        _OBSTACLE_WORDS,
        {
            "resolved": {"完成", "完成了", "已完成", "搞定", "搞定了", "gone"},
            "still": {"still open", "仍在", "还存在", "存在"},
            "irrelevant": {"drop", "dropped", "drop it", "not relevant anymore", "放弃", "不管了", "无关"},
        },
    ),
    "retro_action": _words(
        _DONE_WORDS,
        {
            "done": {"完成了", "搞定", "搞定了", "d"},
            # "仍然存在" / "still" as said of an obstacle in the same list: for an action, still going
            "open": {
                "still",
                "still open",
                "still there",
                "not yet done",
                "还没做",
                "还没完成",
                "仍在",
                "还在",
                "还在进行",
                "仍然存在",
                "还存在",
                "存在",
            },
            "dropped": {"不再相关", "no longer relevant", "irrelevant"},
        },
    ),
}

_ALL = re.compile(r"^(?:all(?: of them)?|everything|both|all items|都|全都|全部|都已经|全部都)\s*")
# A bare yes or no to the grouped question: which item it means is anyone's guess. ("all done" is clear.)
_BARE_ANSWERS = frozenset(
    {"yes", "y", "yeah", "yep", "ok", "okay", "no", "n", "nope", "是", "是的", "对", "好", "否", "不", "不是"}
)
_RANGE = re.compile(r"^\s*(?:-|~|–|—|to|到|至)\s*$")
_JOIN = re.compile(r"^[\s,，、&和及]*(?:and)?[\s,，、&和及]*$")
_TRIM = " \t,，;；、.。:：)）(（-—!！"
_EXCEPT = re.compile(r"\s*(?:except|but|apart from|other than|除了|但是|但|,|，|;|；)\s*$")


def status_of(kind: str, phrase: str) -> str | None:
    """The status a phrase gives an item of `kind` ("still" → "still" for an obstacle), or None."""
    word = keyword(phrase).strip(_TRIM)
    for candidate in (word, word.removesuffix("了"), word.removeprefix("已")):
        for meaning, words in STATUS_WORDS[kind].items():
            if candidate and candidate in words:
                return meaning
    return None


def parse_follow_ups(text: str, items: Sequence[Item]) -> dict[str, str]:
    """A reply to the follow-up question → {item step: status} for the items it mentions.

    Raises `Invalid("invalid_follow_ups", …)` when any part is not understood (then nothing is recorded), naming
    the part: a number that is no item (`problem="number"`), a word that does not fit an item (`"word"`), or no
    item at all (`"empty"`)."""
    total = len(items)
    raw = keyword(text).strip(_TRIM)
    if not raw:
        raise Invalid("invalid_follow_ups", problem="empty", count=total, part="", item_no=0, kind="")
    chunks = re.findall(r"[0-9]+|[^0-9]+", raw)
    out: dict[str, str] = {}
    lead = "" if chunks[0][0].isdigit() else chunks.pop(0)
    if lead.strip(_TRIM):  # "all done", "done", "都完成了" — or "all done except" before numbered ones
        phrase = _EXCEPT.sub("", lead).strip(_TRIM)
        bare = _ALL.sub("", phrase).strip(_TRIM)
        if not bare or (total > 1 and bare == phrase and phrase.lower() in _BARE_ANSWERS):
            # "yes" / "no" alone to several items says nothing about which: never close them all on it
            raise Invalid("invalid_follow_ups", problem="empty", count=total, part=phrase[:80], item_no=0, kind="")
        phrase = bare
        if all(status_of(kind, phrase) is None for kind in STATUS_WORDS):
            raise Invalid("invalid_follow_ups", problem="empty", count=total, part=phrase[:80], item_no=0, kind="")
        for item in items:
            status = status_of(item.kind, phrase)
            if status is None:
                raise Invalid(
                    "invalid_follow_ups",
                    problem="word",
                    count=total,
                    part=phrase,
                    item_no=items.index(item) + 1,
                    kind=item.kind,
                )
            out[item.step] = status
    numbers: list[int] = []
    i = 0
    while i < len(chunks):
        chunk = chunks[i]
        if chunk.isdigit():
            if numbers and i >= 2 and _RANGE.match(chunks[i - 1]) and chunks[i - 2].isdigit():
                numbers.extend(range(numbers[-1] + 1, int(chunk) + 1))
            else:
                numbers.append(int(chunk))
            i += 1
            continue
        if _RANGE.match(chunk) or _JOIN.match(chunk):
            i += 1
            continue
        _apply(out, items, numbers, chunk)
        numbers = []
        i += 1
    if numbers:  # numbers with no word after them
        raise Invalid(
            "invalid_follow_ups",
            problem="word",
            count=total,
            part=" ".join(map(str, numbers)),
            item_no=numbers[0],
            kind=items[numbers[0] - 1].kind if 0 < numbers[0] <= total else "",
        )
    if not out:
        raise Invalid("invalid_follow_ups", problem="empty", count=total, part=raw[:80], item_no=0, kind="")
    return out


def _apply(out: dict[str, str], items: Sequence[Item], numbers: list[int], phrase: str) -> None:
    total = len(items)
    if not numbers:
        raise Invalid(
            "invalid_follow_ups", problem="word", count=total, part=phrase.strip(_TRIM)[:80], item_no=0, kind=""
        )
    for number in numbers:
        if not 1 <= number <= total:
            raise Invalid(
                "invalid_follow_ups", problem="number", count=total, part=str(number), item_no=number, kind=""
            )
        item = items[number - 1]
        status = status_of(item.kind, phrase)
        if status is None:
            raise Invalid(
                "invalid_follow_ups",
                problem="word",
                count=total,
                part=phrase.strip(_TRIM)[:80],
                item_no=number,
                kind=item.kind,
            )
        out[item.step] = status
