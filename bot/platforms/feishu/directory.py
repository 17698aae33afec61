"""The organisation from Feishu's contact API: every department (`departments/0/children?fetch_child=true`) and its
users (`users/find_by_department`), with their manager (`leader_user_id`), department (the member's team) and
`time_zone`. Refreshed at start and daily. People the org file names (by `feishu:` open_id) keep what the file says;
resigned, frozen or departed users — and anyone with a Feishu id no longer in a complete listing — are deactivated,
so they are no longer prompted.

Someone who writes to the bot before a sync has brought them in is looked up on the spot (`users/:user_id`) and
admitted by the same rule (`apply_user`, `set_leader`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import lark_oapi as lark
from lark_oapi.api.contact.v3 import (
    ChildrenDepartmentRequest,
    FindByDepartmentUserRequest,
    GetDepartmentRequest,
    GetUserRequest,
)
from sqlmodel import Session, select

from bot.platforms.common import unique_handle
from bot.platforms.directory import FAILED, MEMBER, NOT_SERVED, Lookup
from bot.platforms.feishu.messenger import RATE_LIMITED, TOKEN_REJECTED
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
        b = (
            ChildrenDepartmentRequest.builder()
            .department_id("0")
            .fetch_child(True)
            .department_id_type("open_department_id")
            .user_id_type("open_id")
            .page_size(50)
        )
        return (b.page_token(token) if token else b).build()

    return list(_pages(client.contact.v3.department.children, build))


def users(client: lark.Client, department_ids: list[str]) -> list[Any]:
    seen: dict[str, Any] = {}
    for dept in ["0", *department_ids]:

        def build(token: str | None, dept: str = dept) -> FindByDepartmentUserRequest:
            b = (
                FindByDepartmentUserRequest.builder()
                .department_id(dept)
                .department_id_type("open_department_id")
                .user_id_type("open_id")
                .page_size(50)
            )
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


def gone(user: Any) -> bool:
    """Resigned, departed or frozen: no longer someone Flywheel talks to."""
    status = user.status
    return bool(status and (status.is_resigned or status.is_exited or status.is_frozen)) or bool(user.is_frozen)


def apply_user(
    s: Session,
    user: Any,
    department_names: dict[str, str],
    *,
    by_open_id: dict[str, Member],
    taken: set[str],
    default_timezone: str,
    default_locale: str,
    now: datetime,
    managed_by_file: set[str],
) -> tuple[str, Member | None]:
    """One contact user, as the directory says they are: ("added" | "updated", member), ("kept", member) for someone
    the org file describes, ("deactivated", member) for a member who resigned or was frozen, ("gone", None) for such
    a person who was never a member. Reporting lines are set afterwards (`set_leader`), once everyone exists."""
    open_id = str(user.open_id)
    member = by_open_id.get(open_id)
    if gone(user):
        if member is not None and member.active:
            member.active, member.updated_at = False, now
            s.add(member)
            return "deactivated", member
        return "gone", None
    if open_id in managed_by_file and member is not None:
        return "kept", member  # the org file says who this is, who their manager is and where they work
    name = str(user.name or user.en_name or open_id)[:200]
    tz = user.time_zone if is_valid_zone(str(user.time_zone or "")) else default_timezone
    team = next((department_names[d] for d in user.department_ids or [] if d in department_names), None)
    if member is None and repo.erased_account(s, platform="feishu", user_id=open_id) is not None:
        return "gone", None  # they deleted their data: not brought back until they ask (`/me rejoin`)
    if member is None:
        email = str(user.enterprise_email or user.email or "")
        handle = unique_handle([email.split("@")[0], user.en_name], f"u{open_id[-8:]}", taken)
        member = Member(
            handle=handle,
            name=name,
            timezone=tz,
            locale=default_locale,
            team=team,
            source="feishu",
            created_at=now,
            updated_at=now,
        )
        member.set_account("feishu", open_id)
        by_open_id[open_id] = member
        outcome = "added"
    else:
        repo.listed_by_directory(member, source="feishu")
        member.name, member.timezone, member.team = name, tz, team
        member.updated_at = now
        outcome = "updated"
    s.add(member)
    return outcome, member


def set_leader(
    s: Session, user: Any, *, by_open_id: dict[str, Member], now: datetime, managed_by_file: set[str]
) -> None:
    """The member's manager is their `leader_user_id`, when that person is a member (and the file says nothing)."""
    member = by_open_id.get(str(user.open_id))
    if member is None or str(user.open_id) in managed_by_file or not member.active:
        return
    leader = by_open_id.get(str(user.leader_user_id or ""))
    manager_id = leader.id if leader is not None and leader.id != member.id else None
    repo.listed_line(s, member, manager_id, source="feishu", now=now)


def sync_users(
    s: Session,
    people: list[Any],
    department_names: dict[str, str],
    *,
    default_timezone: str,
    default_locale: str,
    now: datetime,
    managed_by_file: set[str],
) -> dict[str, int]:
    counts = {"added": 0, "updated": 0, "deactivated": 0, "kept": 0}
    taken = set(s.exec(select(Member.handle)))
    by_open_id = repo.members_on(s, platform="feishu")
    listed: set[str] = set()
    for user in people:
        listed.add(str(user.open_id))
        outcome, _ = apply_user(
            s,
            user,
            department_names,
            by_open_id=by_open_id,
            taken=taken,
            default_timezone=default_timezone,
            default_locale=default_locale,
            now=now,
            managed_by_file=managed_by_file,
        )
        if outcome in counts:
            counts[outcome] += 1
    s.flush()
    for user in people:  # reporting lines, once everyone exists
        set_leader(s, user, by_open_id=by_open_id, now=now, managed_by_file=managed_by_file)
    for open_id, member in by_open_id.items():
        if open_id not in listed and member.active and open_id not in managed_by_file:
            member.active, member.updated_at = False, now
            s.add(member)
            counts["deactivated"] += 1
    return counts


# Contact API answers that mean "ask again later" rather than "not someone this app may see".
_TRY_AGAIN = RATE_LIMITED | TOKEN_REJECTED


class FeishuDirectory:
    """The Feishu contact range as a source of members: the daily sync and the on-the-spot `users/:user_id`."""

    platform = "feishu"

    def __init__(
        self,
        client: lark.Client,
        *,
        default_timezone: str,
        default_locale: str,
        managed_by_file: set[str],
        lookup_client: lark.Client | None = None,
    ) -> None:
        self.client = client
        # Someone waiting for an answer is never kept waiting long: the on-the-spot lookup has its own short timeout.
        self.single = lookup_client or client
        self.default_timezone = default_timezone
        self.default_locale = default_locale
        self.managed_by_file = managed_by_file
        self.department_names: dict[str, str] = {}  # from the last sync; a lookup asks for a department it lacks

    def read(self) -> tuple[list[Any], dict[str, str]]:
        """The whole organisation (network): call outside any transaction, then `sync`."""
        people, names = read_organisation(self.client)
        self.department_names = dict(names)
        return people, names

    def sync(self, s: Session, people: list[Any], names: dict[str, str], *, now: datetime) -> dict[str, int]:
        return sync_users(
            s,
            people,
            names,
            default_timezone=self.default_timezone,
            default_locale=self.default_locale,
            now=now,
            managed_by_file=self.managed_by_file,
        )

    def lookup(self, user_id: str) -> Lookup:
        request = (
            GetUserRequest.builder()
            .user_id(user_id)
            .user_id_type("open_id")
            .department_id_type("open_department_id")
            .build()
        )
        try:
            response = self.single.contact.v3.user.get(request)
        except Exception as exc:  # noqa: BLE001 - a timeout, a dropped connection, a body that is not JSON
            return Lookup(FAILED, f"contact user lookup failed: {type(exc).__name__}")
        status = getattr(getattr(response, "raw", None), "status_code", 200) or 200
        if not response.success():
            if status >= 500 or response.code in _TRY_AGAIN or status == 429:
                return Lookup(FAILED, f"contact API answered {status} / {response.code}")
            return Lookup(NOT_SERVED, "out_of_range")  # not in the app's contact range (or no such user)
        user = response.data.user if response.data else None
        if user is None or not user.open_id:
            return Lookup(NOT_SERVED, "out_of_range")
        if gone(user):
            return Lookup(NOT_SERVED, "deactivated")
        self._learn_departments(user.department_ids or [])
        return Lookup(MEMBER, person=user)

    def _learn_departments(self, department_ids: list[str]) -> None:
        """The name of the person's first department (their team), if no sync has told us yet. Best effort."""
        if not department_ids or any(d in self.department_names for d in department_ids):
            return
        request = (
            GetDepartmentRequest.builder()
            .department_id(department_ids[0])
            .department_id_type("open_department_id")
            .build()
        )
        try:
            response = self.single.contact.v3.department.get(request)
        except Exception:  # noqa: BLE001 - the team is filled in by the next sync
            return
        dept = response.data.department if response.success() and response.data else None
        if dept is not None and dept.name:
            self.department_names[department_ids[0]] = dept.name

    def admit(self, s: Session, person: Any, *, now: datetime) -> Member | None:
        repo.lock_member_sync(s)
        open_id = str(person.open_id)
        by_open_id = repo.members_by_platform_ids(
            s, platform="feishu", user_ids=[open_id, str(person.leader_user_id or "")]
        )
        taken = set(s.exec(select(Member.handle)))
        _, member = apply_user(
            s,
            person,
            self.department_names,
            by_open_id=by_open_id,
            taken=taken,
            default_timezone=self.default_timezone,
            default_locale=self.default_locale,
            now=now,
            managed_by_file=self.managed_by_file,
        )
        if member is None or not member.active:
            return None
        s.flush()
        set_leader(s, person, by_open_id=by_open_id, now=now, managed_by_file=self.managed_by_file)
        return member
