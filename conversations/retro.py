"""Project retrospectives: `/retro start "Title" @a @b @c [anonymous] [due 24h]`.

Each participant answers privately, by DM; when everyone has answered or the due time passes, one summary
goes to the channel where the retro started. Anonymous retros show answers without names, and only with at
least `k` respondents (`retro.anonymous_min`, default 3): `disclosed` is the rule. Actions carry an owner and come
back in the owner's weekly check-in until done.

```mermaid
flowchart LR
    goal --> went_well --> went_badly --> actions
```
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import timedelta

from conversations.answers import Actions, Text, normalize
from conversations.flows import Ask, Flow
from conversations.schedule import parse_duration

NAME = "retro"
ANONYMOUS_MIN = 3  # the default `retro.anonymous_min`: respondents an anonymous retro needs before anything is shown
DEFAULT_DUE = timedelta(hours=48)

RETRO = Flow(
    name=NAME,
    steps=(
        Ask("goal", Text()),
        Ask("went_well", Text()),
        Ask("went_badly", Text()),
        Ask("actions", Actions()),
    ),
    titles={"en": "Retrospective", "zh": "复盘"},
    schedule=None,  # started on demand only
)


def disclosed(*, anonymous: bool, respondents: int, minimum: int) -> bool:
    """The one rule for what came from people's answers in a closed retro — text, actions, counts: may it reach
    anyone but each answer's author (the channel, the participants, action owners, their managers)?

    Yes when the retro is named or at least `minimum` people answered. Otherwise it stays with its author, who
    may always see it and may post it under their own name (bot/retro.py `repost`). The verdict is recorded when
    it is made, so a later change of `minimum`, or someone's data being deleted, never lets out what people were
    told stays private."""
    return not anonymous or respondents >= minimum


def respondents_shown(*, anonymous: bool, respondents: int, minimum: int) -> int | None:
    """How many answered, as a summary may say it: None below the minimum of an anonymous retro, where even the
    number tells something ("1 of 3 answered" names the one who did, to anyone who knows they did)."""
    return respondents if disclosed(anonymous=anonymous, respondents=respondents, minimum=minimum) else None


_MENTION = re.compile(r"^(<@[A-Za-z0-9_]+(?:\|[^>]*)?>|@[^\s,，、@]+)$")


@dataclass(frozen=True)
class RetroRequest:
    title: str
    mentions: tuple[str, ...]
    anonymous: bool = False
    due: timedelta = DEFAULT_DUE


def parse_retro(args: str) -> RetroRequest | str:
    """`start "Checkout redesign" @a @b anonymous due 24h` → a request, or the key of a polite refusal. `args` as
    typed: the title is kept so; the other words are read normalised (full-width letters and digits as ASCII)."""
    try:
        words = shlex.split(args.replace("“", '"').replace("”", '"'))
    except ValueError:
        return "retro_usage"
    if not words or normalize(words[0]).lower() not in ("start", "开始"):
        return "retro_usage"
    words = words[1:]
    title_parts: list[str] = []
    mentions: list[str] = []
    anonymous = False
    due = DEFAULT_DUE
    i = 0
    while i < len(words):
        typed = words[i]
        w = normalize(typed)
        if _MENTION.match(w.rstrip(",，")):
            token = w.rstrip(",，")
            if token not in mentions:
                mentions.append(token)
        elif w.lower() in ("anonymous", "anon", "匿名"):
            anonymous = True
        elif w.lower() in ("due", "截止") and i + 1 < len(words):
            try:
                due = parse_duration(normalize(words[i + 1]))
            except (ValueError, OverflowError):
                return "retro_bad_due"
            i += 1
        elif not mentions:
            title_parts.append(typed)
        else:
            return "retro_usage"
        i += 1
    title = " ".join(title_parts).strip()
    if not title or not mentions:
        return "retro_usage"
    if not timedelta(hours=1) <= due <= timedelta(days=14):
        return "retro_bad_due"
    return RetroRequest(title=title[:200], mentions=tuple(mentions), anonymous=anonymous, due=due)


REPOST_WORDS = ("repost", "share", "署名发布", "署名", "公开")


@dataclass(frozen=True)
class RepostRequest:
    retro_id: int | None  # None: the latest of one's own retros whose answers were held back


def parse_repost(args: str) -> RepostRequest | str | None:
    """`repost [12]` → a request; `"retro_usage"` for a repost with something else after it; None when `args`
    is not a repost at all."""
    words = args.replace("#", " ").split()
    if not words or words[0].lower() not in REPOST_WORDS:
        return None
    if len(words) == 1:
        return RepostRequest(None)
    if len(words) == 2 and re.fullmatch(r"[0-9]{1,9}", words[1]):
        return RepostRequest(int(words[1]))
    return "retro_usage"
