"""Feedback on request: `/feedback ask @a @b about <topic>` — a member asks one to three colleagues for feedback
under Strengths / Improvement / Next steps, after a retro or a project.

Each colleague gets a short conversation (the `feedback` flow: three questions, or a form on Slack and Feishu) and
may decline with one word or button (`skip`, "No thanks"). Declining is silent: the requester is never told who
declined — not by a message, and not by timing. They read each answer as it comes, with the giver's name, and
when the request closes one line: how many of the people asked answered. A request closes when everyone answered,
or at its due time: never early because someone declined, since an early "2 of 3 answered" would say that the third
one said no. Parsing and the rules are pure; bot/feedback.py stores and sends.

```mermaid
flowchart LR
    strengths --> improvement --> next_steps
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from conversations.answers import Text, normalize
from conversations.flows import Ask, Flow
from conversations.mentions import MENTION

NAME = "feedback"
MAX_GIVERS = 3
OPEN_FOR = timedelta(days=7)  # how long colleagues have to answer
TOPIC_MAX = 200

FEEDBACK = Flow(
    name=NAME,
    steps=(Ask("strengths", Text()), Ask("improvement", Text()), Ask("next_steps", Text())),
    titles={"en": "Feedback", "zh": "反馈"},
    schedule=None,  # started on demand only
    reminder_after=timedelta(days=2),
)

ASK_WORDS = ("ask", "request", "请求", "邀请", "请")
SHARE_WORDS = ("share", "分享", "共享")
LIST_WORDS = ("", "list", "mine", "列表", "我的")
_ABOUT = re.compile(r"^(?:about|on|for|关于|对于|针对)(?:\s+|(?=[^\x00-\x7f]))", re.IGNORECASE)


@dataclass(frozen=True)
class FeedbackAsk:
    mentions: tuple[str, ...]
    topic: str  # as typed


def parse_ask(text: str) -> FeedbackAsk | str:
    """`@a @b about the checkout launch` (what follows `ask`, as typed) → a request, or the key of a polite refusal:
    `usage` (nobody named, or no topic), `too_many` (more than three people), `topic_too_long`."""
    rest = text.strip()
    mentions: list[str] = []
    while True:
        m = MENTION.match(rest)
        if not m:
            break
        if m.group(1) not in mentions:
            mentions.append(m.group(1))
        rest = rest[m.end() :].lstrip(" ,，、")
    if not mentions:
        return "usage"
    if len(mentions) > MAX_GIVERS:
        return "too_many"
    topic = _ABOUT.sub("", rest.strip(), count=1).strip().strip('“”"').strip()
    if not normalize(topic):
        return "usage"
    if len(topic) > TOPIC_MAX:
        return "topic_too_long"
    return FeedbackAsk(tuple(mentions), topic)


def request_done(*, asked: int, answered: int, declined_or_lapsed: int, past_due: bool) -> bool:
    """May a request close now: at its due time, or as soon as every colleague answered — never earlier because
    someone declined (the closing count would then tell who did, by when it came)."""
    return past_due or (answered == asked and declined_or_lapsed == 0)
