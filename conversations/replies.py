"""Two-way conversations, the pure rules: reading `/reply N …`, what counts as a specific thank-you, and whether a
manager's upward feedback may be shown at all. No I/O (bot/replies.py does the storing and sending).

Upward feedback is shown to the manager only as a set without names, only once the month is over and its review has
closed for everyone who was asked (so a set that grows cannot tell who answered late), and only when at least
`feedback.upward_min` different reports answered; below that nothing is shown, not even a count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from conversations.answers import normalize

UPWARD_MIN = 3  # `feedback.upward_min` in the org file
MAX_REPLY_LEN = 4000

# What says thank you, in either language; compared ignoring case.
_THANKS = re.compile(
    r"\b(?:thanks|thank\s+you|thank\s+u|thx|ty|kudos|much\s+appreciated|appreciate(?:d)?)\b|谢谢|感谢|多谢|谢啦|辛苦了",
    re.IGNORECASE,
)
_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f]+|[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class ReplyCommand:
    number: int
    text: str  # exactly as typed


def parse_reply(args: str, text: str) -> ReplyCommand | None:
    """`3 Great work on the release` → (3, "Great work on the release"). `args` is the command's normalised
    arguments (full-width digits read as digits), `text` the same exactly as typed. None when there is no number or
    no words after it."""
    head, _, _ = normalize(args).strip().partition(" ")
    head = head.lstrip("#")
    if not re.fullmatch(r"[0-9]{1,6}", head):
        return None
    parts = text.strip().split(maxsplit=1)
    words = parts[1].strip() if len(parts) > 1 else ""
    if not words:
        return None
    return ReplyCommand(int(head), words)


def is_specific_thanks(text: str) -> bool:
    """A thank-you that says what for: it thanks ("thanks", "谢谢", "感谢" …) and says at least three more words
    (or, in Chinese, four more characters) than the thanks alone. "Thanks!" is kind, but not specific."""
    if not _THANKS.search(text):
        return False
    rest = _THANKS.sub(" ", text)
    words = _WORD.findall(rest)
    latin = [w for w in words if len(w) > 1 or not re.match(r"[\u3400-\u9fff]", w)]
    han = [w for w in words if re.match(r"[\u3400-\u9fff]", w)]
    return len(latin) >= 3 or len(han) >= 4 or (len(latin) >= 2 and len(han) >= 2)


def month_over(period: str) -> datetime | None:
    """When a month (`2026-12`) is over everywhere on Earth: midnight of the next month's first day at UTC−12. Upward
    feedback waits for it as well as for every review that asked (a review moved by a holiday may not even exist
    yet when the others close: a set that grew after it was shown would point at whoever answered late)."""
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", period)
    if m is None:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=UTC) + timedelta(hours=12)


def upward_disclosed(*, respondents: int, minimum: int, closed: bool) -> bool:
    """May a manager's upward feedback of one month be shown to them: the month is over and its review has closed
    for everyone who was asked (`closed`), and at least `minimum` different reports answered. THE rule;
    bot/access.py asks it."""
    return closed and respondents >= max(minimum, 2)
