"""What a platform's member directory (Slack's workspace, Feishu's contact range) offers besides the daily sync: an
answer about one person who wrote to the bot before the sync brought them in.

`lookup` asks the platform (network, never inside a database transaction); `admit` then makes the person a member by
the very rule the sync applies to them, inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from storage.models import Member

MEMBER = "member"  # someone Flywheel serves: `admit` makes them a member
NOT_SERVED = "not_served"  # a bot, a deactivated / resigned account, or outside the app's contact range
FAILED = "failed"  # the platform did not answer usefully (timeout, 5xx, rate limit): ask again later
# An on-the-spot lookup never waits long: someone is waiting for an answer (and Slack HTTP mode acks within 3 s).
LOOKUP_TIMEOUT = 2.0  # seconds


@dataclass(frozen=True)
class Lookup:
    outcome: str  # MEMBER, NOT_SERVED or FAILED
    reason: str = ""  # NOT_SERVED: "bot", "deactivated", "out_of_range"; FAILED: a short cause for the log
    person: Any = None  # MEMBER: the platform's record, for `admit`
    locale: str | None = None  # the person's language when the platform says


class Directory(Protocol):
    platform: str

    def lookup(self, user_id: str) -> Lookup:
        """Ask the platform about one user. Quick (a short timeout, no waiting out rate limits): it may run before
        an inbound request is acknowledged."""
        ...

    def admit(self, s: Session, person: Any, *, now: datetime) -> Member | None:
        """Create or reactivate the member a MEMBER lookup found, as the sync would; None if the sync's rule says no."""
        ...
