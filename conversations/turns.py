"""One conversation at a time: which open conversation has a member's attention. Pure.

A member's reply goes to the conversation they are in (storage.repo.active_run: the open one that moved last).
So a second conversation must not start — nor an older one be re-asked by a reminder — while another has their
attention: the reply they are typing would land in the wrong one. It waits, and they are told it is next.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# How long a conversation keeps a member's attention after it last moved (a question sent, an answer given).
# Long enough for a meeting between two answers (the bug: 40 minutes over "wins", and a retro took the answer);
# short enough that a conversation abandoned for the afternoon does not hold back a retro due the next day.
HOLD = timedelta(hours=2)


def has_attention(*, status: str, step: str | None, moved_at: datetime | None, now: datetime) -> bool:
    """Is this conversation one the member is in: asked, being answered, or an answer being edited, and moved
    within `HOLD`? The one rule every "may another conversation speak now?" asks."""
    open_ = status in ("prompted", "in_progress") or (status == "completed" and step is not None)
    return open_ and moved_at is not None and now - moved_at < HOLD
