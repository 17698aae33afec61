"""Someone writes to the bot who is not (or no longer) an active member.

Where a platform's directory is a source of members (the Slack workspace, the Feishu contact range), they may simply
have joined since the last sync, or be writing to a `web` replica before any worker has synced: their platform is
asked about them on the spot and, if it is someone Flywheel serves, they become a member by the sync's own rule and
their message is handled as if they had always been one. Otherwise the refusal says what is true for the set-up in
use: the organisation file, the workspace / contact range, or a lookup that failed and is worth trying again.

The inbound transaction never waits on the network: `_handle` raises `LookUpFirst` inside it (rolling it back), the
platform is asked outside any transaction, and the event is handled again with the answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.platforms.directory import FAILED, MEMBER, NOT_SERVED, Directory, Lookup
from conversations.clock import Clock
from conversations.events import InboundEvent
from conversations.machine import Reply
from storage.models import Member

log = logging.getLogger(__name__)

# Lookups running at once in this process, at most. Each may wait for the platform (up to LOOKUP_TIMEOUT) in a thread
# that serves requests: without a bound, a burst of strangers writing while the platform is slow held every request
# thread, and a member's slash command waited 5.7 s for its acknowledgement (Slack gives up after 3 s). Beyond the
# bound the sender is asked, at once, to try again — as when the platform does not answer.
LOOKUPS_AT_ONCE = 2


class LookUpFirst(Exception):  # noqa: N818 - a signal to ask the directory first, not an error (public: used across modules)
    """Raised in the inbound transaction for an unknown user whose platform has a directory to ask."""


class Newcomers:
    """Looks up and admits someone who writes to the bot before they are a member, or says why they are not one."""

    def __init__(
        self,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
        clock: Clock,
        directories: Mapping[str, Directory],
        admins: Sequence[str],
        org_members: Sequence[Any],
    ) -> None:
        self.transaction = transaction
        self.clock = clock
        self.directories = directories  # platforms whose directory is a source of members
        self.admins = admins
        self.org_members = org_members  # the org file's members (`MemberSpec`), as read at start
        self._lookups = threading.BoundedSemaphore(LOOKUPS_AT_ONCE)

    def can_look_up(self, event: InboundEvent) -> bool:
        return event.platform in self.directories

    def look_up(self, event: InboundEvent) -> Lookup:
        """Ask the platform's directory about the sender and admit them if it says they are someone Flywheel serves.
        Runs outside any transaction; never raises because of the platform."""
        directory = self.directories[event.platform]
        if not self._lookups.acquire(blocking=False):
            log.warning("too many lookups at once; %s user %s is asked to try again", event.platform, event.user)
            return Lookup(FAILED, "busy")
        try:
            found = directory.lookup(event.user)
        finally:
            self._lookups.release()
        if found.outcome == MEMBER:
            try:
                with self.transaction() as s:
                    member = directory.admit(s, found.person, now=self.clock.now())
                    member_id = member.id if member is not None else None
            except sa.exc.OperationalError:
                raise  # the database is down: the platform retries the event later
            except Exception:
                log.exception("could not add %s user %s from the directory", event.platform, event.user)
                return Lookup(FAILED, "could not be added", locale=found.locale)
            if member_id is None:
                return Lookup(NOT_SERVED, "deactivated", locale=found.locale)
            log.info(
                "%s user %s was not synced yet; added from the directory as member %s",
                event.platform,
                event.user,
                member_id,
            )
            return found
        if found.outcome == FAILED:
            log.warning(
                "could not look up %s user %s in the directory (%s); they are asked to try again",
                event.platform,
                event.user,
                found.reason,
            )
        else:
            log.info("%s user %s is not someone Flywheel serves (%s)", event.platform, event.user, found.reason)
        return found

    def listed_in_org_file(self, event: InboundEvent) -> Any:
        """The org file's entry (`MemberSpec`) for this chat account, as read at start; None if it lists no such one."""
        for spec in self.org_members:
            account = spec.account(event.platform)
            if account is not None and account == event.user:
                return spec
        return None

    def refusal(
        self, s: Session, event: InboundEvent, member: Member | None, found: Lookup | None
    ) -> tuple[Reply, str | None]:
        """The reply for someone Flywheel does not serve, worded for the set-up in use, and the language to say it in
        (theirs if known, else None: the organisation's)."""
        locale = member.locale if member is not None else (found.locale if found is not None else None)
        admins = (
            [
                name
                for (name,) in s.execute(
                    select(Member.name)
                    .where(col(Member.handle).in_(self.admins), col(Member.active) == sa.true())
                    .order_by(Member.name)
                )
            ]
            if self.admins
            else []
        )
        if found is None:  # no directory for this platform: the organisation file is the only source of members
            listed = self.listed_in_org_file(event)
            if listed is not None:  # e.g. rejoining after `/me delete`: the file is read again at the next start
                return Reply("common/listed_not_loaded", {"admins": admins}), locale or listed.locale
            return Reply("common/not_a_member", {"admins": admins}), locale
        if found.outcome == FAILED:
            return Reply("common/lookup_failed", {"platform": event.platform}), locale
        reason = found.reason if found.outcome == NOT_SERVED else "deactivated"
        return Reply(
            "common/not_in_directory", {"platform": event.platform, "reason": reason, "admins": admins}
        ), locale
