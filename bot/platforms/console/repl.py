"""The local console: talk to Flywheel as any member of the organisation and move time to see schedules fire.

Interactive on a terminal; with standard input from a file or pipe (`flywheel console < script.txt`) it
reads line by line, echoes each line as `handle> text`, prints everything the bot says and exits at the end.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol, TextIO, runtime_checkable

from sqlalchemy import func
from sqlmodel import col, select

from bot.calendar import paused_until
from bot.platforms.console.messenger import ConsoleMessenger
from bot.ports import Console as ConsolePort
from bot.scheduler import start_scheduler
from bot.words import count
from conversations.clock import UTC, FrozenClock, OffsetClock, as_utc
from conversations.dates import parse_moment
from conversations.events import InboundEvent
from conversations.render import neutralise
from conversations.schedule import is_valid_zone, zone
from storage import repo
from storage.db import transaction
from storage.models import ConversationRun, Member

log = logging.getLogger(__name__)

CONSOLE_HELP = """Console commands (only on the console)
  /as <name>            act as a member, e.g. /as alice (shows their waiting messages)
  /in #team             type in a channel (for /retro and /kudos); /dm goes back to your DM
  /who                  list the members, their time zones and their current check-in
  /clock                show the console's time
  /clock +3d            move time forward (+30m, +4h, +2d, +1w) — scheduled check-ins, reminders
                        and closing windows fire on the way
  /clock fri 15:00 [Asia/Shanghai]
                        jump to a time (also: next monday 09:00, tomorrow 9:00, 下周一 9点,
                        YYYY-MM-DD HH:MM), read in the member's own time zone unless you name one
  /quit                 leave (also Ctrl-D)
Anything else is sent to Flywheel as a DM from the member you are acting as."""

MAX_STEPS = 20000
CLOCK_KEY = "console_clock"  # scheduler_state: the console's clock when it last moved


@runtime_checkable
class SettableClock(Protocol):
    """The console's clocks (FrozenClock, OffsetClock): `/clock` moves them."""

    def now(self) -> datetime: ...

    def set(self, when: datetime) -> None: ...


class Lines(Protocol):
    """What the console reads from: standard input, or the CLI's SIGTERM-aware wrapper around it."""

    def readline(self) -> str: ...


@dataclass(frozen=True)
class Found:
    """What an earlier console session left in the database, told at start."""

    database: str  # `flywheel.db`, or the URL without its password
    members: int
    conversations: int
    clock: datetime | None  # where the console's clock last was
    resumed: bool  # the clock continues there (False: `--clock` asked for another time)

    def describe(self, tz: str) -> str:
        what = (
            f"Found {self.database} with {count(self.members, 'member')} and "
            f"{count(self.conversations, 'conversation')}"
        )
        if self.clock is None:
            return f"{what}. (`flywheel console --fresh` starts the demo over.)"
        local = self.clock.astimezone(_zone(tz))
        when = f"{local:%a} {local.day} {local:%b %H:%M}"
        if self.resumed:
            return (
                f"{what}; continuing at {when}, where the console's clock last was. "
                "(`flywheel console --fresh` starts the demo over.)"
            )
        return (
            f"{what}; the console's clock last was at {when}, and starts where --clock says. "
            "(`flywheel console --fresh` starts the demo over.)"
        )


def found_data(app: ConsolePort, database: str) -> Found | None:
    """What an earlier session left: members, conversations and the console's last clock; None for a new database."""
    with transaction(app.sessions) as s:
        # A database from before the console remembered its clock: its last tick is as good.
        state = repo.get_state(s, key=CLOCK_KEY) or repo.get_state(s, key="tick")
        conversations = s.exec(select(func.count()).select_from(ConversationRun)).one()
        members = s.exec(select(func.count()).select_from(Member).where(Member.active)).one()
    clock = state.at if state is not None else None
    if clock is None and not conversations:
        return None
    return Found(
        database=database,
        members=int(members),
        conversations=int(conversations),
        clock=as_utc(clock) if clock is not None else None,
        resumed=False,
    )


class Console:
    def __init__(self, app: ConsolePort, messenger: ConsoleMessenger, out: TextIO, *, interactive: bool) -> None:
        self.app = app
        self.messenger = messenger
        self.out = out
        self.interactive = interactive
        self.lock = threading.RLock()
        self.handle: str | None = None
        self.channel: str | None = None  # None: the DM with the bot
        self._seq = itertools.count(1)

    # -------------------------------------------------------------------------------------- helpers

    def say(self, text: str) -> None:
        with self.messenger.lock:
            self.out.write(neutralise(text).rstrip("\n") + "\n")  # an echoed line cannot drive the terminal
            self.out.flush()

    def members(self) -> list[Member]:
        with transaction(self.app.sessions) as s:
            return list(s.exec(select(Member).where(col(Member.active)).order_by(col(Member.id))))

    def member(self, handle: str) -> Member | None:
        with transaction(self.app.sessions) as s:
            return s.exec(select(Member).where(Member.handle == handle.lower())).first()

    def _tz(self) -> str:
        member = self.member(self.handle) if self.handle else None
        return member.timezone if member else "UTC"

    def describe_now(self) -> str:
        now = self.app.clock.now()
        tz = self._tz()
        local = now.astimezone(zone(tz))
        who = f" for {self.handle}" if self.handle else ""
        return f"🕒 {local:%a %d %b %Y %H:%M} {tz}{who} ({now:%H:%M} UTC)"

    # -------------------------------------------------------------------------------------- start

    def start(self, handle: str | None, found: Found | None = None) -> None:
        members = self.members()
        if not members:
            self.say("No members yet: add them to the organisation file (FLYWHEEL_CONFIG) and start again.")
            return
        default = handle or next((m.handle for m in members if m.manager_id), members[0].handle)
        if found is not None:
            self.say(found.describe(self._tz_of(default)))
        names = ", ".join(f"{m.handle}" for m in members)
        self.say(f"Flywheel console — members: {names}. Type /help for commands, /quit to leave.")
        self.switch(default)
        others = {k: n for k, n in self.messenger.waiting_for().items() if k != self.handle}
        if others:  # kept from an earlier start
            listed = ", ".join(f"{n} for {k}" for k, n in sorted(others.items()))
            self.say(f"📬 Messages still waiting from before: {listed} (type /as NAME to read).")
        self.say(self.describe_now())
        with self.lock:
            self.app.tick()
        self.remember_clock()

    def _tz_of(self, handle: str) -> str:
        member = self.member(handle.lstrip("@"))
        return member.timezone if member else "UTC"

    def remember_clock(self) -> None:
        """Store how far the console's clock has come, so the next start continues there (not at real time)."""
        with transaction(self.app.sessions) as s:
            repo.set_state(s, key=CLOCK_KEY, at=self.app.clock.now())

    def switch(self, handle: str) -> None:
        member = self.member(handle.lstrip("@"))
        if member is None and self._erased(handle.lstrip("@").lower()):
            # Someone who deleted their data (`/me delete`): act as them to see what Flywheel tells them now.
            self.handle = handle.lstrip("@").lower()
            waiting = self.messenger.switch_to(self.handle)
            self.say(f"You are now {self.handle}, who deleted their data: Flywheel no longer knows them.")
            for block in waiting:
                self.say(block + "\n")
            return
        if member is None:
            self.say(f"There is no member called {handle!r}. Members: {', '.join(m.handle for m in self.members())}.")
            return
        self.handle = member.handle
        waiting = self.messenger.switch_to(member.handle)
        self.say(f"You are now {member.name} ({member.handle}) · {member.timezone} · {member.locale}")
        for block in waiting:
            self.say(block + "\n")
        with transaction(self.app.sessions) as s:
            assert member.id is not None, "a stored member"
            run = repo.active_run(s, member_id=member.id)
            if run is not None and run.status != "completed":
                steps = run.context.get("steps") or []
                at = steps.index(run.step) + 1 if run.step in steps else 1
                what = {
                    "weekly_checkin": "a check-in",
                    "monthly_review": "a monthly review",
                    "retro": "a retrospective",
                }.get(run.flow, "a conversation")
                self.say(f"({member.handle} has {what} waiting at question {at} of {len(steps)}: answer it here.)")

    def _erased(self, handle: str) -> bool:
        with transaction(self.app.sessions) as s:
            return repo.erased_account(s, platform="console", user_id=handle) is not None

    # -------------------------------------------------------------------------------------- input

    def feed(self, line: str) -> bool:
        """Handle one line; False means quit."""
        text = line.rstrip("\r\n")
        if not self.interactive:
            self.say(f"{self.prompt()}{text}")
        if not text.strip():
            return True
        word, _, rest = text.strip().partition(" ")
        cmd = word.lower()
        try:
            with self.lock:
                if cmd in ("/quit", "/exit"):
                    return False
                if cmd == "/as":
                    self.switch(rest.strip() or "?")
                elif cmd == "/in":
                    name = rest.strip()
                    if not name.startswith("#") or len(name) < 2:
                        self.say("Try /in #team — then /kudos and /retro are typed in that channel. /dm goes back.")
                    else:
                        self.channel = name
                        self.say(f"You are typing in {name} now (others see what the bot posts here). /dm goes back.")
                elif cmd == "/dm":
                    self.channel = None
                    self.say("Back in your DM with Flywheel.")
                elif cmd == "/who":
                    self.who()
                elif cmd == "/clock":
                    self.clock(rest.strip())
                elif cmd == "/tick":
                    self.app.tick()
                else:
                    if cmd == "/help":
                        self.say(CONSOLE_HELP + "\n")
                    self.send(text)
        except Exception:
            log.exception("the console could not handle that line")
            self.say("Something went wrong handling that line; nothing was lost. Details are in the log.")
        with self.lock:
            self.remember_clock()
        return True

    def prompt(self) -> str:
        return f"{self.handle or '?'}{'@' + self.channel if self.channel else ''}> "

    def send(self, text: str) -> None:
        if self.handle is None:
            self.say("Choose who you are first, e.g. /as alice")
            return
        event = InboundEvent(
            platform="console",
            user=self.handle,
            kind="message",
            text=text,
            dedup_key=f"console:{self.app.owner}:{next(self._seq)}",
            received_at=self.app.clock.now(),
            channel=self.channel,
        )
        self.app.handle(event)
        self.app.deliver_outbox()

    def who(self) -> None:
        with transaction(self.app.sessions) as s:
            members = list(s.exec(select(Member).where(col(Member.active)).order_by(col(Member.id))))
            by_id = {m.id: m for m in members}
            for m in members:
                run = s.exec(
                    select(ConversationRun)
                    .where(col(ConversationRun.member_id) == m.id)
                    .order_by(col(ConversationRun.due_at).desc())
                ).first()
                state = f"{run.period} {run.status}" if run else "no check-in yet"
                manager = by_id[m.manager_id].handle if m.manager_id in by_id else "—"
                until = paused_until(m, self.app.clock.now())
                paused = f" · paused until {until}" if until else ""
                mark = "→" if m.handle == self.handle else " "
                self.say(
                    f"{mark} {m.handle:<10} {m.name:<16} {m.timezone:<20} {m.locale}  manager: {manager:<8} "
                    f"{state}{paused}"
                )

    def clock(self, arg: str) -> None:
        if not arg:
            self.say(self.describe_now())
            return
        target = self._parse_clock(arg)
        if target is None:
            self.say(
                "Try /clock +3d, /clock +2h30m, /clock fri 15:00 or /clock next monday 09:00 (optionally "
                "followed by a time zone)."
            )
            return
        now = self.app.clock.now()
        if target < now:
            self.say("The console's clock only moves forward (schedules that already happened stay happened).")
            return
        self.fast_forward(target)  # (`feed` remembers the clock after every line)
        self.say(self.describe_now())

    def _parse_clock(self, arg: str) -> datetime | None:
        """`+3d`, `fri 15:00`, `next monday 09:00`, `明天 9点`, `YYYY-MM-DD HH:MM`, in the member's time zone or one
        named at the end."""
        arg, named = split_zone(arg)
        target = parse_moment(arg, self.app.clock.now().astimezone(_zone(named or self._tz())))
        return target.astimezone(UTC) if target is not None else None

    def fast_forward(self, target: datetime) -> None:
        """Move the clock to `target`, stopping at every instant where scheduled work falls due."""
        clock = self.app.clock
        assert isinstance(clock, SettableClock), "the console runs on a clock it can move"
        for _ in range(MAX_STEPS):
            nxt = self.app.next_wakeup(clock.now())
            if nxt is None or nxt > target:
                break
            clock.set(nxt)
            self.app.tick()
        clock.set(target)
        self.app.tick()

    # -------------------------------------------------------------------------------------- loops

    def run(self, stream: Lines) -> None:
        scheduler = start_scheduler(self.app, lock=self.lock) if self.interactive else None
        try:
            while True:
                if self.interactive:
                    self.out.write(self.prompt())
                    self.out.flush()
                line = stream.readline()
                if line == "" or not self.feed(line):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            with self.lock:
                self.remember_clock()
        if self.interactive:
            self.say("\nBye! Your answers are saved in the database.")


def console_clock(interactive: bool, start: datetime | None) -> FrozenClock | OffsetClock:
    """A frozen clock for scripts (reproducible transcripts), a real-time one shifted by `/clock` otherwise."""
    if interactive:
        clock = OffsetClock()
        if start is not None:
            clock.set(start)
        return clock
    return FrozenClock(start or datetime.now(UTC).replace(second=0, microsecond=0))


def parse_start(text: str | None, now: datetime | None = None) -> datetime | None:
    """`--clock`: `YYYY-MM-DD HH:MM [time zone]` (UTC unless named), or a form `/clock` takes (`mon 09:00`,
    `+2d`) counted from the real time."""
    if not text:
        return None
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})(?::\d{2})?\s*(\S+)?", text.strip())
    if m:
        tz = m.group(3) or "UTC"
        if tz.upper() not in ("UTC", "Z") and not is_valid_zone(tz):
            raise ValueError(f"--clock: {tz!r} is not a time zone (e.g. Europe/London)")
        naive = datetime.fromisoformat(f"{m.group(1)} {m.group(2).zfill(5)}")
        return naive.replace(tzinfo=UTC if tz.upper() in ("UTC", "Z") else zone(tz)).astimezone(UTC)
    text, tz = split_zone(text)
    found = parse_moment(text, (now or datetime.now(UTC)).astimezone(_zone(tz or "UTC")))
    if found is None:
        raise ValueError(f"--clock wants 'YYYY-MM-DD HH:MM [time zone]' or a time like 'mon 09:00', got {text!r}")
    return found.astimezone(UTC)


def split_zone(text: str) -> tuple[str, str | None]:
    """`fri 15:00 Asia/Shanghai` → (`fri 15:00`, `Asia/Shanghai`); the zone is None when none is named."""
    head, _, last = text.strip().rpartition(" ")
    if head and (last.upper() == "UTC" or ("/" in last and is_valid_zone(last))):
        return head, last
    return text.strip(), None


def _zone(name: str) -> tzinfo:
    return UTC if name.upper() == "UTC" else zone(name)
