"""The neutral shape of everything that arrives from a platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InboundEvent:
    """One thing a person did: sent a message, ran a command, pressed a button or submitted a form.

    `user` is the platform's user id (the handle on the console). `dedup_key` is unique per delivery
    *intent*: a platform's retry of the same event carries the same key and has no second effect.
    """

    platform: str
    user: str
    kind: str  # message | command | action | form_submit
    text: str
    dedup_key: str
    received_at: datetime
    workspace: str | None = None
    channel: str | None = None  # where it was typed, when not in the DM with the bot
    values: Mapping[str, Any] = field(default_factory=dict)
    # The answer replaces a panel the platform shows, in place (named by the platform: Slack's App Home is "home"),
    # instead of arriving as a new message. Set by the platform; None for everything else.
    replaces: str | None = None
