"""Members discovered from the Slack workspace (`users.list`): name, time zone and locale. Bots, Slackbot and
deactivated users are skipped (a DM to a deleted user "succeeds" silently). Managers and teams still come from
the organisation file, matched by Slack user id.

Someone who writes to the bot before the daily sync has brought them in is looked up on the spot (`users.info`) and
admitted by the same rule (`apply_user`), so the sync and the lookup never disagree about who Flywheel serves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, select

from bot.platforms.common import unique_handle
from bot.platforms.directory import FAILED, LOOKUP_TIMEOUT, MEMBER, NOT_SERVED, Lookup
from conversations.render import normalize_locale
from conversations.schedule import is_valid_zone
from storage import repo
from storage.models import Member

log = logging.getLogger(__name__)


def workspace_users(client: WebClient) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        response = client.users_list(cursor=cursor, limit=200, include_locale=True)
        yield from response.get("members") or []
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


def not_served(user: dict[str, Any]) -> str | None:
    """Why Flywheel does not talk to this Slack user ("bot", "deactivated"), or None when it does."""
    if user.get("is_bot") or user.get("is_app_user") or user.get("id") == "USLACKBOT":
        return "bot"
    if user.get("deleted"):
        return "deactivated"
    return None


def apply_user(
    s: Session, user: dict[str, Any], *, taken: set[str], default_timezone: str, default_locale: str, now: datetime
) -> tuple[str, Member | None]:
    """One Slack user, as the directory says they are: ("added" | "updated", member), ("deactivated", member) for a
    member Slack has deactivated, ("skipped", None) for a bot and ("gone", None) for a deactivated non-member."""
    member = repo.member_by_platform_id(s, platform="slack", user_id=user["id"])
    reason = not_served(user)
    if reason == "bot":
        return "skipped", None
    if reason == "deactivated":
        if member is not None and member.active:
            member.active, member.updated_at = False, now
            s.add(member)
            return "deactivated", member
        return "gone", None
    profile = user.get("profile") or {}
    name = str(
        user.get("real_name")
        or profile.get("real_name")
        or profile.get("display_name")
        or user.get("name")
        or user["id"]
    )[:200]
    tz: str = user.get("tz") if is_valid_zone(str(user.get("tz") or "")) else default_timezone  # type: ignore[assignment]  # a valid zone name
    locale = normalize_locale(user.get("locale"), default_locale)
    if member is None and repo.erased_account(s, platform="slack", user_id=user["id"]) is not None:
        return "skipped", None  # they deleted their data: not brought back until they ask (`/me rejoin`)
    if member is None:
        handle = unique_handle([user.get("name")], f"u{user['id']}", taken)
        member = Member(
            handle=handle,
            name=name,
            timezone=tz,
            locale=locale,
            source="slack",
            created_at=now,
            updated_at=now,
        )
        member.set_account("slack", user["id"], workspace=user.get("team_id"))
        outcome = "added"
    else:
        repo.listed_by_directory(member, source="slack")
        member.name, member.timezone, member.locale = name, tz, locale
        member.updated_at = now
        outcome = "updated"
    s.add(member)
    return outcome, member


def sync_users(
    s: Session, users: Iterator[dict[str, Any]], *, default_timezone: str, default_locale: str, now: datetime
) -> dict[str, int]:
    counts = {"added": 0, "updated": 0, "deactivated": 0, "skipped": 0}
    repo.lock_member_sync(s)  # replicas reading the directory at the same time take turns
    taken = set(s.exec(select(Member.handle)))
    for user in users:
        outcome, _ = apply_user(
            s, user, taken=taken, default_timezone=default_timezone, default_locale=default_locale, now=now
        )
        if outcome in counts:
            counts[outcome] += 1
    return counts


class SlackDirectory:
    """The Slack workspace as a source of members: the daily `users.list` sync and the on-the-spot `users.info`."""

    platform = "slack"

    def __init__(self, token: str, api_url: str | None, *, default_timezone: str, default_locale: str) -> None:
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

        base: dict[str, Any] = {"base_url": api_url} if api_url else {}
        # Reading the member list may wait out rate limits (unlike sending, which the outbox retries) …
        self.listing = WebClient(
            token=token, timeout=30, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)], **base
        )
        # … but a lookup for someone waiting for an answer never waits: it fails and they are asked to try again.
        self.single = WebClient(token=token, timeout=LOOKUP_TIMEOUT, retry_handlers=[], **base)  # type: ignore[arg-type]  # a float timeout works (it goes to urllib)
        self.default_timezone = default_timezone
        self.default_locale = default_locale

    def read(self) -> list[dict[str, Any]]:
        """The whole member list (network): call outside any transaction, then `sync`."""
        return list(workspace_users(self.listing))

    def sync(self, s: Session, users: list[dict[str, Any]], *, now: datetime) -> dict[str, int]:
        return sync_users(
            s, iter(users), default_timezone=self.default_timezone, default_locale=self.default_locale, now=now
        )

    def lookup(self, user_id: str) -> Lookup:
        try:
            user = self.single.users_info(user=user_id, include_locale=True).get("user") or {}
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            if error in ("user_not_found", "user_not_visible"):
                return Lookup(NOT_SERVED, "out_of_range")
            return Lookup(FAILED, f"users.info answered {error}")
        except Exception as exc:  # noqa: BLE001 - a timeout, a dropped connection: the person is asked to retry
            return Lookup(FAILED, f"users.info failed: {type(exc).__name__}")
        if not user.get("id"):
            return Lookup(FAILED, "users.info gave no user")
        locale = normalize_locale(user.get("locale"), "") or None
        reason = not_served(user)
        if reason is not None:
            return Lookup(NOT_SERVED, reason, locale=locale)
        return Lookup(MEMBER, person=user, locale=locale)

    def admit(self, s: Session, person: Any, *, now: datetime) -> Member | None:
        repo.lock_member_sync(s)
        taken = set(s.exec(select(Member.handle)))
        _, member = apply_user(
            s, person, taken=taken, default_timezone=self.default_timezone, default_locale=self.default_locale, now=now
        )
        return member if member is not None and member.active else None
