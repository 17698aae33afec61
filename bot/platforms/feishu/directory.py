"""The organisation from Feishu's contact API: every department (`departments/0/children?fetch_child=true`) and its
users (`users/find_by_department`), with their manager (`leader_user_id`), department (the member's team) and
`time_zone`. Refreshed at start and daily. People the org file names (by `feishu:` open_id) keep what the file says;
resigned, frozen or departed users — and anyone with a Feishu id no longer in a complete listing — are deactivated,
so they are no longer prompted.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Iterator

import lark_oapi as lark
from lark_oapi.api.contact.v3 import ChildrenDepartmentRequest, FindByDepartmentUserRequest
from sqlmodel import Session, select

from bot.platforms.common import unique_handle
from conversations.schedule import is_valid_zone
from storage import repo
from storage.models import Member

log = logging.getLogger(__name__)


class DirectoryError(RuntimeError):
    pass


def _pages(call: Any, build: Any) -> Iterator[Any]:
    token = None
    for _ in range(10_000):
        response = call(build(token))
        if not response.success():
            raise DirectoryError(f"contact API answered {response.code}: {response.msg}")
        data = response.data
        yield from (data.items or []) if data else []
        token = data.page_token if data and data.has_more else None
        if not token:
            return


def departments(client: lark.Client) -> list[Any]:
    def build(token: str | None) -> ChildrenDepartmentRequest:
        b = (ChildrenDepartmentRequest.builder().department_id("0").fetch_child(True)
             .department_id_type("open_department_id").user_id_type("open_id").page_size(50))
        return (b.page_token(token) if token else b).build()

    return list(_pages(client.contact.v3.department.children, build))


def users(client: lark.Client, department_ids: list[str]) -> list[Any]:
    seen: dict[str, Any] = {}
    for dept in ["0", *department_ids]:
        def build(token: str | None, dept: str = dept) -> FindByDepartmentUserRequest:
            b = (FindByDepartmentUserRequest.builder().department_id(dept).department_id_type("open_department_id")
                 .user_id_type("open_id").page_size(50))
            return (b.page_token(token) if token else b).build()

        for user in _pages(client.contact.v3.user.find_by_department, build):
            if user.open_id:
                seen.setdefault(user.open_id, user)
    return list(seen.values())


def read_organisation(client: lark.Client) -> tuple[list[Any], dict[str, str]]:
    """All users and the names of their departments (open_department_id → name)."""
    depts = departments(client)
    names = {d.open_department_id: d.name for d in depts if d.open_department_id and d.name}
    return users(client, list(names)), names


def sync_users(s: Session, people: list[Any], department_names: dict[str, str], *, default_timezone: str,
               default_locale: str, now: datetime, managed_by_file: set[str]) -> dict[str, int]:
    counts = {"added": 0, "updated": 0, "deactivated": 0, "kept": 0}
    taken = set(s.exec(select(Member.handle)))
    by_open_id = {m.feishu_open_id: m for m in s.exec(select(Member).where(Member.feishu_open_id.is_not(None)))}
    listed: set[str] = set()
    for user in people:
        open_id = str(user.open_id)
        listed.add(open_id)
        member = by_open_id.get(open_id)
        status = user.status
        gone = bool(status and (status.is_resigned or status.is_exited or status.is_frozen)) or bool(user.is_frozen)
        if gone:
            if member is not None and member.active:
                member.active, member.updated_at = False, now
                s.add(member)
                counts["deactivated"] += 1
            continue
        if open_id in managed_by_file and member is not None:
            counts["kept"] += 1  # the org file says who this is, who their manager is and where they work
            continue
        name = str(user.name or user.en_name or open_id)[:200]
        tz = user.time_zone if is_valid_zone(str(user.time_zone or "")) else default_timezone
        team = next((department_names[d] for d in user.department_ids or [] if d in department_names), None)
        if member is None and repo.erased_account(s, platform="feishu", user_id=open_id) is not None:
            continue  # they deleted their data: not brought back until they ask (`/me rejoin`)
        if member is None:
            email = str(user.enterprise_email or user.email or "")
            handle = unique_handle([email.split("@")[0], user.en_name], f"u{open_id[-8:]}", taken)
            member = Member(handle=handle, name=name, timezone=tz, locale=default_locale, feishu_open_id=open_id,
                            team=team, source="feishu", created_at=now, updated_at=now)
            by_open_id[open_id] = member
            counts["added"] += 1
        else:
            repo.listed_by_directory(member, source="feishu")
            member.name, member.timezone, member.team = name, tz, team
            member.updated_at = now
            counts["updated"] += 1
        s.add(member)
    s.flush()
    for user in people:  # reporting lines, once everyone exists
        member = by_open_id.get(str(user.open_id))
        if member is None or str(user.open_id) in managed_by_file or not member.active:
            continue
        leader = by_open_id.get(str(user.leader_user_id or ""))
        manager_id = leader.id if leader is not None and leader.id != member.id else None
        repo.listed_line(s, member, manager_id, source="feishu", now=now)
    for open_id, member in by_open_id.items():
        if open_id not in listed and member.active and open_id not in managed_by_file:
            member.active, member.updated_at = False, now
            s.add(member)
            counts["deactivated"] += 1
    return counts
