"""The outbox: every message the bot sends is a row first, and is sent from here, outside any transaction.

A sender claims due messages under a lease (`repo.claim_outbox`), sends them one by one through the member's
platform, and records the batch's outcomes together (`repo.mark_sent`, retry times for the rest). What can go wrong
between the platform accepting a message and our commit is covered by the lease and the `uncertain` check: a message
whose earlier attempt may have gone out is looked up on the platform before it is sent again. Immediately before
each platform call the sender confirms in the database that the message is still its own and extends the lease in the
same statement (`repo.fence_outbox`): a replica frozen past its lease sends nothing it no longer holds.

`Outbox` is composed by `Flywheel` (bot/app.py) as `app.outbox`; `OutboxPump` is the background thread that drains it
in the processes that serve platforms (`flywheel run`, HTTP, Socket Mode and the Feishu long connection alike).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from bot import access
from bot.calendar import Calendars
from bot.codec import decode_replies, encode_replies
from bot.foreground import Foreground
from bot.metrics import Metrics
from bot.platforms.base import Messenger, OutboundMessage, Recipient, SendError
from bot.settings import Settings
from conversations.clock import Clock
from conversations.machine import Reply
from conversations.render import Audience, Renderer
from storage import repo
from storage.db import transaction
from storage.models import Member, OutboxMessage

log = logging.getLogger(__name__)

OUTBOX_LEASE = timedelta(seconds=120)
OUTBOX_CLAIM = 50  # messages a sender claims at a time
OUTBOX_CLAIM_WHILE_SERVING = 10  # ... while a request is being answered in this process (bot/foreground.py)
FENCE_FRESH = timedelta(seconds=1)  # a fence vouches for the rest of its batch this long, at most (`Outbox._fence`)
LEASE_MARGIN = timedelta(seconds=30)  # a sender starts no message with less than this left of its lease
MAX_ATTEMPTS = 8
MAYBE_SENT = "maybe_sent:"  # prefix of `last_error` when an earlier attempt may have been delivered
MIN_WAIT = 0.05  # seconds: a message queued during a pass is picked up at once, not in a busy loop


def _log_render_bug(row: OutboxMessage, exc: Exception) -> None:
    """A message that cannot be rendered is a bug in Flywheel: logged with its templates and where it failed, but
    not the exception's text or a traceback with values (either may hold what someone wrote)."""
    try:
        templates = ",".join(r.template for r in decode_replies(row.body))
    except Exception:  # noqa: BLE001 - the body itself is what is broken
        templates = "?"
    where = " < ".join(
        f"{Path(f.filename).name}:{f.lineno}" for f in reversed(traceback.extract_tb(exc.__traceback__)[-4:])
    )
    log.error(
        "BUG: outbox message %s (%s) could not be rendered: %s at %s", row.id, templates, type(exc).__name__, where
    )


def _maybe_sent(last_error: str | None) -> bool:
    """May an earlier attempt have reached the platform? (its sender died, or its answer was lost)"""
    return last_error is not None and (last_error == "lease_expired" or last_error.startswith(MAYBE_SENT))


class Fence(NamedTuple):
    """The messages of a batch a fence confirmed as still ours, and when (`time.monotonic()`)."""

    ids: set[int]
    at: float


class Attempted(NamedTuple):
    """What one send of a claimed outbox message came to, until the batch is recorded."""

    outbox_id: int
    attempts: int
    error: SendError | None  # None: delivered
    result: Any  # the platform's answer when delivered (its message id)
    uncertain: bool  # an earlier attempt may have gone out


class Outbox:
    """Sending what is queued: claims, fences, sends and records outbox messages, and owns the pump that drains it.

    Composed by `Flywheel` (bot/app.py) as `app.outbox`, with what it needs given here and nothing else: where the
    database is (`sessions`), the platforms (`messengers`, shared with the app: a platform added later is seen),
    the app's `clock` (when a message is due), the `renderer`, `metrics`, this replica's `owner` name for leases, the
    `calendars` (when an admin alert may go out), `admins`, `skip_level`, `org_locale`, and `settings` — a callable,
    read at each use, because the app's settings may be replaced while it runs.

    Which clock decides a lease. `leases_on_db_clock` (the default, and what `flywheel run` uses on the real clock):
    the database's own (`repo.db_now`), for claiming, for taking over an expired lease and for the fence before every
    send — one clock for every replica, so a replica whose clock runs ahead or behind cannot take over a lease early
    or believe its own still holds. With it off, the app's `clock` decides, as before: tests and the console run on a
    clock they move themselves (a week in a line), which the database's real one would not follow, and on such a
    clock every replica of a test shares one time line anyway.
    """

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        messengers: Mapping[str, Messenger],
        clock: Clock,
        renderer: Renderer,
        metrics: Metrics,
        owner: str,
        calendars: Calendars,
        settings: Callable[[], Settings],
        admins: tuple[str, ...] = (),
        skip_level: bool = False,
        org_locale: str | None = None,
        lease: timedelta = OUTBOX_LEASE,
        leases_on_db_clock: bool = True,
        foreground: Foreground | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.messengers = messengers
        self.clock = clock
        self.renderer = renderer
        self.metrics = metrics
        self.owner = owner
        self.calendars = calendars
        self.settings = settings
        self.admins = admins
        self.skip_level = skip_level
        self.org_locale = org_locale
        self.lease = lease
        self.leases_on_db_clock = leases_on_db_clock
        # Requests being answered in this process go first: the sender gives way before each claim and each message,
        # and claims fewer at a time while one is in hand (its rendering holds SQLite's writer).
        self.foreground = foreground or Foreground()
        self.margin = min(LEASE_MARGIN, lease / 4)  # a sender starts no message with less than this left of its lease
        self.fresh = min(FENCE_FRESH, lease / 10).total_seconds()  # how long a fence's answer stands (`_fence`)
        # Per sending thread (the pump and a tick may both be sending): the batch in hand — ids of its messages that
        # go to a platform, in order (`unsent`) — and the last fence's answer (`fenced`).
        self._batch = threading.local()
        self.monotonic = monotonic  # how old a fence's answer is: runs on while the process is stopped
        self._renderers: dict[str, Renderer] = {}
        self._stopping = False  # set by `stop_sending`, from any thread (or a signal handler)

    def pump(self, *, interval: float = 5.0) -> OutboxPump:
        """A background thread draining this outbox (not started)."""
        return OutboxPump(self, interval=interval)

    def stop_sending(self) -> None:
        """The process is stopping: start no more messages. A sender in the middle of a batch finishes the message
        in hand, records the batch and hands back what it has not started (pending again, no lease), so another
        replica sends it at once instead of after the lease (120 s)."""
        self._stopping = True

    def next_due(self) -> datetime | None:
        """When the soonest message waiting in the outbox may be sent (None: nothing waits)."""
        with transaction(self.sessions) as s:
            return repo.next_outbox_due(s)

    def depth(self) -> int:
        """Messages waiting to be sent (pending or being sent)."""
        with transaction(self.sessions) as s:
            return repo.outbox_depth(s)

    def _lease_now(self) -> datetime | None:
        """The lease clock's reading to pass to the repository; None: the database reads its own."""
        return None if self.leases_on_db_clock else self.clock.now()

    def _fence(self, outbox_id: int) -> bool:
        """Immediately before a platform call: is the message still ours, under a lease that has not run out?

        The leases of this message and of every one after it in the batch (`_batch.unsent`) are confirmed and extended
        (from now, on the lease clock) in one statement, and that answer stands for the next messages while it is
        fresh: `fresh` by the local monotonic clock, a small part of the lease. The monotonic clock runs on while
        a process is stopped (SIGSTOP, a VM pause), so a sender frozen past its lease asks again on waking and finds
        its messages taken over. One short transaction per `fresh` seconds of sending, instead of one per message
        (it was a sixth of a fan-out's time)."""
        batch = self._batch
        fence: Fence = getattr(batch, "fenced", None) or Fence(set(), 0.0)
        if outbox_id not in fence.ids or self.monotonic() - fence.at > self.fresh:
            asked = self.monotonic()  # before the statement: the answer is no older than this
            unsent: list[int] = getattr(batch, "unsent", [])
            ids = unsent[unsent.index(outbox_id) :] if outbox_id in unsent else [outbox_id]
            with transaction(self.sessions) as s:
                confirmed = repo.fence_outbox(s, ids=ids, owner=self.owner, lease=self.lease, now=self._lease_now())
            fence = batch.fenced = Fence(confirmed, asked)
        return outbox_id in fence.ids

    def deliver(self, *, limit: int = OUTBOX_CLAIM) -> tuple[int, int]:
        """Send what is queued; returns (sent, failed). Each message is claimed under a lease before sending, and
        the lease is confirmed and extended in the database immediately before the platform call (`_fence`): a
        replica that was frozen (SIGSTOP, a VM pause, a long GC) past its lease finds the message is no longer its
        own, sends nothing and hands the rest of its batch back.

        The outcomes of a claimed batch are recorded together, in one transaction after the batch (or sooner if
        sending is slow): a crash before that leaves the batch's messages to be found again when their lease runs
        out, and checked with the platform before any is sent again (`uncertain`), exactly as for a single one.
        A rate limit (429) is not a failed attempt. After one, nothing more goes to that channel in this pass; and
        when two different channels in a row are rate-limited the platform as a whole is, so the pass leaves the
        rest of its messages for after `Retry-After` instead of asking again for each of them."""
        sent = failed = 0
        while not self._stopping:
            self.foreground.give_way()
            take = min(limit, OUTBOX_CLAIM_WHILE_SERVING) if self.foreground.busy else limit
            now = self.clock.now()
            with transaction(self.sessions) as s:
                rows = repo.claim_outbox(
                    s, now=now, owner=self.owner, lease=self.lease, limit=take, db_clock=self.leases_on_db_clock
                )
                # Recipients and their managers into the session's identity map for `_prepare`, held by this name
                # while the batch is prepared (the identity map keeps only weak references).
                _loaded = repo.members_and_managers(s, ids=[r.member_id for r in rows if r.member_id is not None])
                if self.skip_level:  # the "who sees this" lines name the managers' managers too
                    _loaded.update(repo.members_and_managers(s, ids=list(_loaded)))
                prepared = []
                for row in rows:
                    try:
                        prepared.append((row.id, row.attempts, *self._prepare(s, row)))
                    except Exception as exc:  # noqa: BLE001 - one unrenderable message must not block the others
                        _log_render_bug(row, exc)
                        prepared.append((row.id, MAX_ATTEMPTS, None, OutboundMessage(text="", kind="broken")))
            outcomes: list[Attempted] = []
            held: dict[tuple[str, str], float] = {}  # channels rate-limited in this pass → Retry-After
            paused: dict[str, float] = {}  # platforms rate-limited as a whole in this pass → Retry-After
            limited_before: dict[str, str] = {}  # platform → the channel whose send just before was rate-limited
            started = time.monotonic()
            handed_back = False
            self._batch.unsent = [p[0] for p in prepared if self._calls_platform(p[2], p[3])]
            self._batch.fenced = None  # each batch asks afresh
            for index, (outbox_id, attempts, recipient, message) in enumerate(prepared):
                self.foreground.give_way()
                where = (recipient.platform, recipient.address) if recipient is not None else None
                is_held = where is not None and (where[0] in paused or where in held)
                slow = bool(index) and self.clock.now() >= now + self.lease - self.margin
                lost = False
                if not (self._stopping or slow or is_held) and self._calls_platform(recipient, message):
                    lost = not self._fence(outbox_id)
                    if lost:
                        log.warning(
                            "outbox message %s is no longer ours (its lease ran out, e.g. while this process was "
                            "frozen): not sending it; handing back the %d after it",
                            outbox_id,
                            len(prepared) - index - 1,
                        )
                if self._stopping or slow or lost:
                    # Stopping, slow going, or our lease is gone: hand the rest back before another replica takes it
                    # over and sends it too; the next claim takes it again under a fresh lease. What another sender
                    # took over is theirs: `unclaim_outbox` and `_record` touch only what we still hold.
                    ok, bad = self._record(outcomes)
                    sent, failed, outcomes = sent + ok, failed + bad, []
                    with transaction(self.sessions) as s:
                        repo.unclaim_outbox(s, ids=[p[0] for p in prepared[index:]], owner=self.owner)
                    handed_back = True
                    break
                if is_held and where is not None:
                    wait = paused.get(where[0], held.get(where, 1.0))
                    outcomes.append(
                        Attempted(outbox_id, attempts, SendError("held", retry_after=wait), None, message.uncertain)
                    )
                    continue
                error, result = self._attempt(outbox_id, recipient, message)
                outcomes.append(Attempted(outbox_id, attempts, error, result, message.uncertain))
                if where is not None and error is not None and error.reason == "ratelimited":
                    wait = error.retry_after if error.retry_after is not None else 1.0
                    held[where] = wait
                    if limited_before.get(where[0]) not in (None, where[1]):
                        paused[where[0]] = wait
                    limited_before[where[0]] = where[1]
                elif where is not None:
                    limited_before.pop(where[0], None)
                if time.monotonic() - started > self.lease.total_seconds() / 8:  # slow platform: record so far
                    ok, bad = self._record(outcomes)
                    sent, failed, outcomes, started = sent + ok, failed + bad, [], time.monotonic()
            ok, bad = self._record(outcomes)
            sent, failed = sent + ok, failed + bad
            if (len(rows) < take or paused) and not handed_back:
                return sent, failed
        return sent, failed

    def _calls_platform(self, recipient: Recipient | None, message: OutboundMessage) -> bool:
        """Will `_attempt` hand this message to a platform (and so must it be fenced first)?"""
        return message.kind != "broken" and recipient is not None and recipient.platform in self.messengers

    def _prepare(self, s: Session, row: OutboxMessage) -> tuple[Recipient | None, OutboundMessage]:
        replies = decode_replies(row.body)
        member = s.get(Member, row.member_id) if row.member_id is not None else None
        if member is None:
            platform, _, address = (row.channel or "console:").partition(":")
            recipient: Recipient | None = Recipient(platform, address)
            # `locale` and `timezone` in the body: someone not (or no longer) a member is answered in their language,
            # and told times in their time zone, when known.
            audience = Audience(
                row.body.get("locale") or self.channel_locale(platform),
                row.body.get("timezone") or self.settings().timezone,
                "",
            )
        else:
            recipient = self.recipient(member)
            audience = access.audience(s, member, skip_level=self.skip_level)
        messenger = self.messengers.get(recipient.platform) if recipient else None
        renderer = self._renderer_for(messenger)
        text = "\n\n".join(renderer.render(r, audience) for r in replies)
        thread = None
        if row.body.get("thread_of"):
            parent = s.exec(select(OutboxMessage).where(OutboxMessage.dedup_key == row.body["thread_of"])).first()
            thread = parent.platform_message_id if parent is not None else None
        return recipient, OutboundMessage(
            text=text,
            replies=replies,
            kind=row.kind,
            outbox_id=row.id,
            locale=audience.locale,
            run_id=row.run_id,
            thread=thread,
            uncertain=_maybe_sent(row.last_error),
        )

    def channel_locale(self, platform: str | None) -> str:
        """The language of a channel (kudos, retro summaries) and of anyone whose own language is unknown: the
        organisation's (`defaults.locale` in the org file), else FLYWHEEL_LOCALE, else Chinese on Feishu / Lark and
        English elsewhere. The one place this is decided."""
        return self.org_locale or self.settings().locale_for(platform)

    def recipient(self, member: Member) -> Recipient | None:
        for platform in self.messengers:
            address = member.account(platform)  # its accounts were loaded with the batch's members
            if address:
                return Recipient(platform, address, member.id, member.name, member.timezone)
        return None

    def _renderer_for(self, messenger: Messenger | None) -> Renderer:
        if messenger is None:
            return self.renderer
        if messenger.platform not in self._renderers:
            self._renderers[messenger.platform] = self.renderer.with_escape(
                messenger.escape, platform=messenger.platform
            )
        return self._renderers[messenger.platform]

    def _tell_admins(self, s: Session, row: OutboxMessage, reason: str, now: datetime) -> None:
        """Once per (reason, recipient): an admin hears that messages to someone cannot be delivered."""
        if row.kind == "admin_alert":
            return
        member = s.get(Member, row.member_id) if row.member_id else None
        target = member.handle if member else (row.channel or "?")
        if reason == "render_failed":  # our bug, not their account: say whose message it was, by name and handle
            alert = Reply(
                "common/admin_render_failed",
                {"who": f"{member.name} ({member.handle})" if member else target, "outbox_id": row.id},
            )
        else:
            alert = Reply("common/admin_send_failed", {"who": target, "reason": reason})
        for handle in self.admins:
            admin = repo.member_by_handle(s, handle=handle)
            if admin is None or (member is not None and admin.id == member.id):
                continue
            repo.enqueue(
                s,
                dedup_key=f"admin:{admin.id}:{reason}:{target}",
                member_id=admin.id,
                kind="admin_alert",
                body=encode_replies([alert]),
                now=now,
                not_before=self.calendars.send_at(admin, now),
            )

    def _attempt(
        self, outbox_id: int, recipient: Recipient | None, message: OutboundMessage
    ) -> tuple[SendError | None, Any]:
        """Hand one message to its platform; nothing is recorded here."""
        if message.kind == "broken":
            return SendError("render_failed", permanent=True), None
        if recipient is None or recipient.platform not in self.messengers:
            return SendError("no_platform", permanent=True), None
        try:
            return None, self.messengers[recipient.platform].send(recipient, message)
        except SendError as exc:
            return exc, None
        except Exception as exc:  # one member's failure must not stop the others
            log.exception("sending outbox message %s failed unexpectedly", outbox_id)
            return SendError(type(exc).__name__, maybe_sent=True), None

    def _record(self, outcomes: Sequence[Attempted]) -> tuple[int, int]:
        """Record what happened to claimed messages, in one transaction; returns (sent, failed)."""
        if not outcomes:
            return 0, 0
        now = self.clock.now()
        with transaction(self.sessions) as s:
            delivered = [(o.outbox_id, o.result.message_id if o.result else None) for o in outcomes if o.error is None]
            for kind in repo.mark_sent(s, sent=delivered, owner=self.owner, now=now).values():
                self.metrics.sent.labels(kind).inc()
            trouble = [o for o in outcomes if o.error is not None]
            sent = len(delivered)
            failed = sum(1 for o in trouble if o.error is not None and o.error.reason != "held")  # held back, not tried
            # Only what we still hold: another sender took over what our lease lost, and records it itself.
            rows = repo.leased_outbox(s, ids=[o.outbox_id for o in trouble], owner=self.owner)
            for outbox_id, attempts, error, _, uncertain in trouble:
                assert error is not None  # `trouble` holds only the outcomes with an error
                row = rows.get(outbox_id)
                if row is None:  # taken over by another sender, or deleted meanwhile (`flywheel forget`)
                    continue
                row.lease_owner, row.lease_until = None, None
                if error.reason in ("ratelimited", "held"):
                    # Not a failed attempt: the platform asked us to come back later (or we did not ask at all).
                    if error.reason == "ratelimited":  # keeps "check first" if the message was uncertain
                        self.metrics.retries.labels(error.reason).inc()
                        row.last_error = (MAYBE_SENT if uncertain or error.maybe_sent else "") + error.reason
                    row.status, row.attempts = "pending", max(row.attempts - 1, 0)
                    row.next_attempt_at = now + timedelta(
                        seconds=error.retry_after
                        if error.retry_after is not None
                        else min(5 * 2 ** max(attempts - 1, 0), 900)
                    )
                elif error.permanent or attempts >= MAX_ATTEMPTS:
                    self.metrics.send_failures.labels(error.reason[:40]).inc()
                    row.status, row.last_error = "failed", error.reason[:200]
                    log.warning(
                        "outbox message %s to member %s failed for good: %s", outbox_id, row.member_id, error.reason
                    )
                    self._tell_admins(s, row, error.reason, now)
                else:
                    delay = error.retry_after if error.retry_after is not None else min(5 * 2 ** (attempts - 1), 900)
                    self.metrics.retries.labels(error.reason[:40]).inc()
                    # Until an attempt has a definite outcome, every next one checks before it sends again.
                    row.status = "pending"
                    row.last_error = (MAYBE_SENT if uncertain or error.maybe_sent else "") + error.reason[:180]
                    row.next_attempt_at = now + timedelta(seconds=delay)
                    log.info("outbox message %s: %s; retrying in %.0fs", outbox_id, error.reason, delay)
                s.add(row)
        return sent, failed


class OutboxPump:
    """A background thread that drains the outbox when poked, when the next held-back message falls due (after a
    rate limit or a retry delay), and every few seconds anyway."""

    def __init__(self, outbox: Outbox, *, interval: float = 5.0) -> None:
        self.outbox = outbox
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-pump", daemon=True)

    def start(self) -> OutboxPump:
        # From now on background work runs beside the requests this process serves (`flywheel run`, `flywheel web`):
        # requests go first (bot/foreground.py). The console and tests, which run no pump, never wait.
        self.outbox.foreground.enabled = True
        self._thread.start()
        return self

    def poke(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout)

    def next_wait(self) -> float:
        """Seconds until the next pass: when the soonest waiting message is due, at most `interval`."""
        due = self.outbox.next_due()
        if due is None:
            return self.interval
        return min(self.interval, max(MIN_WAIT, (due - self.outbox.clock.now()).total_seconds()))

    def _run(self) -> None:
        wait = 0.0  # a pass at start: what a stopped replica handed back goes out now, not in `interval`
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            try:
                self.outbox.deliver()
                wait = self.next_wait()
            except Exception:  # the pump keeps going; nothing is lost, the outbox keeps it
                log.exception("delivering the outbox failed; will try again")
                wait = self.interval
