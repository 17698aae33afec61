"""Plain English for the command-line reports (`flywheel doctor`, the console's start-up): counts with the right
plural and durations as people say them. Chat messages are templates (prompts/); these are for admins' terminals."""

from __future__ import annotations

from datetime import timedelta

_IRREGULAR = {"person": "people"}


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 member`, `4 members`, `0 conversations`, `1 person`, `3 people`."""
    return f"{n} {noun if n == 1 else plural or _IRREGULAR.get(noun) or noun + 's'}"


def duration(value: timedelta) -> str:
    """`7 days`, `4 hours`, `1 day 12 hours`, `30 minutes`: the largest units that add up exactly."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "no time"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(count(n, unit))
    return " ".join(parts)
