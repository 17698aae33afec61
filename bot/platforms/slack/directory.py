"""Members discovered from the Slack workspace (`users.list`): name, time zone and locale. Bots, Slackbot and
deactivated users are skipped (a DM to a deleted user "succeeds" silently). Managers and teams still come from
the organisation file, matched by Slack user id."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Iterator

from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.platforms.common import unique_handle
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


def sync_users(s: Session, users: Iterator[dict[str, Any]], *, default_timezone: str, default_locale: str,
               now: datetime) -> dict[str, int]:
    counts = {"added": 0, "updated": 0, "deactivated": 0, "skipped": 0}
    repo.lock_member_sync(s)  # replicas reading the directory at the same time take turns
    taken = set(s.exec(select(Member.handle)))
    for user in users:
        if user.get("is_bot") or user.get("is_app_user") or user.get("id") == "USLACKBOT":
            counts["skipped"] += 1
            continue
        member = s.exec(select(Member).where(Member.slack_user_id == user["id"])).first()
        if user.get("deleted"):
            if member is not None and member.active:
                member.active, member.updated_at = False, now
                s.add(member)
                counts["deactivated"] += 1
            continue
        profile = user.get("profile") or {}
        name = str(user.get("real_name") or profile.get("real_name") or profile.get("display_name")
                   or user.get("name") or user["id"])[:200]
        tz = user.get("tz") if is_valid_zone(str(user.get("tz") or "")) else default_timezone
        locale = normalize_locale(user.get("locale"), default_locale)
        if member is None and repo.erased_account(s, platform="slack", user_id=user["id"]) is not None:
            counts["skipped"] += 1  # they deleted their data: not brought back until they ask (`/me rejoin`)
            continue
        if member is None:
            handle = unique_handle([user.get("name")], f"u{user['id']}", taken)
            member = Member(handle=handle, name=name, timezone=tz, locale=locale, slack_user_id=user["id"],
                            slack_team_id=user.get("team_id"), source="slack", created_at=now, updated_at=now)
            counts["added"] += 1
        else:
            repo.listed_by_directory(member, source="slack")
            member.name, member.timezone, member.locale = name, tz, locale
            member.updated_at = now
            counts["updated"] += 1
        s.add(member)
    return counts
