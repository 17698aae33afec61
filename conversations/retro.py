"""Project retrospectives: `/retro start "Title" @a @b @c [anonymous] [due 24h]`.

Each participant answers privately, by DM; when everyone has answered or the due time passes, one summary
goes to the channel where the retro started. Anonymous retros show answers without names, and only with at
least three respondents. Actions carry an owner and come back in the owner's weekly check-in until done.

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

from conversations.answers import Actions, Text
from conversations.flows import Ask, Flow
from conversations.schedule import parse_duration

NAME = "retro"
ANONYMITY_THRESHOLD = 3
DEFAULT_DUE = timedelta(hours=48)

RETRO = Flow(
    name=NAME,
    steps=(
        Ask("goal", Text()),
        Ask("went_well", Text()),
        Ask("went_badly", Text()),
        Ask("actions", Actions()),
    ),
    schedule=None,  # started on demand only
)

_MENTION = re.compile(r"^(<@[A-Za-z0-9_]+(?:\|[^>]*)?>|@[^\s,，、@]+)$")


@dataclass(frozen=True)
class RetroRequest:
    title: str
    mentions: tuple[str, ...]
    anonymous: bool = False
    due: timedelta = DEFAULT_DUE


def parse_retro(args: str) -> RetroRequest | str:
    """`start "Checkout redesign" @a @b anonymous due 24h` → a request, or the key of a polite refusal."""
    try:
        words = shlex.split(args.replace("“", '"').replace("”", '"'))
    except ValueError:
        return "retro_usage"
    if not words or words[0].lower() not in ("start", "开始"):
        return "retro_usage"
    words = words[1:]
    title_parts: list[str] = []
    mentions: list[str] = []
    anonymous = False
    due = DEFAULT_DUE
    i = 0
    while i < len(words):
        w = words[i]
        if _MENTION.match(w.rstrip(",，")):
            token = w.rstrip(",，")
            if token not in mentions:
                mentions.append(token)
        elif w.lower() in ("anonymous", "anon", "匿名"):
            anonymous = True
        elif w.lower() in ("due", "截止") and i + 1 < len(words):
            try:
                due = parse_duration(words[i + 1])
            except (ValueError, OverflowError):
                return "retro_bad_due"
            i += 1
        elif not mentions:
            title_parts.append(w)
        else:
            return "retro_usage"
        i += 1
    title = " ".join(title_parts).strip()
    if not title or not mentions:
        return "retro_usage"
    if not timedelta(hours=1) <= due <= timedelta(days=14):
        return "retro_bad_due"
    return RetroRequest(title=title[:200], mentions=tuple(mentions), anonymous=anonymous, due=due)
