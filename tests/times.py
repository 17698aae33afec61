"""Neutral test helpers (times only): usable by every test, tests/conversations included, since they import
nothing from bot/ or storage/."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from conversations.schedule import zone


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone(tz)).astimezone(UTC)


def weeks(start: datetime, end: datetime) -> Iterable[datetime]:
    t = start
    while t < end:
        yield t
        t += timedelta(days=7)
