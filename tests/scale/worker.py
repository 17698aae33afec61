"""A Flywheel replica as a separate process, for the multi-process and crash tests (test-only).

It is built exactly like `flywheel run` builds the bot — settings from the environment (`DATABASE_URL`,
`SLACK_BOT_TOKEN`, `SLACK_API_URL`, `FLYWHEEL_CONFIG`), the real `SlackMessenger` and `Flywheel.build`, the SQLite
scheduler lock — except for two things the test must own: the clock and when to tick. Both come over stdin, one
command a line, and every answer is one line on stdout:

    tick 2026-03-06T15:00:00+00:00   → set the clock to that instant, run one tick → `done {report as JSON}`
    pause enqueue 150                → at the 150th outbox insert (inside a scheduler transaction, not committed)
    pause send 21                    → at the 21st send (its outbox row is claimed and committed, nothing posted)
                                       … print `paused <point>` and hang until killed
    freeze fence 7                   → at the 7th fence (just before the lease is confirmed and the 7th message
                                       posted) print `frozen fence 7` and SIGSTOP itself; the test SIGCONTs it
    deliver [2026-03-06T15:00:00+00:00] → (the clock set to that instant) one outbox pass, as the pump does
                                       → `done {"sent": n, "failed": n}`
    quit                             → `bye`, exit 0

For the freeze tests (tests/scale/test_freeze.py), from the environment: FLYWHEEL_TEST_LEASE (seconds) puts the
outbox's leases on the database's clock, as in production, with that lease; FLYWHEEL_TEST_CLOCK_SKEW (seconds, may
be negative) runs this replica's clock that far ahead of the times the test gives; FLYWHEEL_TEST_SENDER_ONLY=1 takes
no scheduler lock (a second process on one SQLite file that only sends, like the `web` process beside the scheduler).

On start it prints `ready`. The test SIGKILLs it wherever it likes; nothing here is needed for that to be safe.
Simulated time only moves when the test says so: the replica never reads the wall clock for scheduling.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
from datetime import datetime, timedelta

from bot.app import Flywheel
from bot.locks import acquire_scheduler_lock
from bot.platforms.slack.messenger import SlackMessenger
from bot.settings import load_settings
from conversations.clock import FrozenClock
from storage import repo


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def hang(point: str) -> None:
    say(f"paused {point}")
    threading.Event().wait()  # until SIGKILL


def arm(app: Flywheel, point: str, nth: int) -> None:
    """Hang at the nth call of one step: the test kills the process there."""
    seen = [0]

    def count() -> None:
        seen[0] += 1
        if seen[0] == nth:
            hang(point)

    if point == "enqueue":
        real_enqueue = repo.enqueue

        def enqueue(*args, **kwargs):
            inserted = real_enqueue(*args, **kwargs)
            count()
            return inserted

        repo.enqueue = enqueue  # type: ignore[assignment]
        real_enqueue_many = repo.enqueue_many

        def enqueue_many(*args, **kwargs):
            inserted = real_enqueue_many(*args, **kwargs)
            for _ in kwargs.get("rows") or []:
                count()
            return inserted

        repo.enqueue_many = enqueue_many  # type: ignore[assignment]
    elif point == "send":
        real_attempt = app.outbox._attempt  # hands one claimed message to the platform; recording comes after

        def attempt(*args):
            count()
            return real_attempt(*args)

        app.outbox._attempt = attempt  # type: ignore[method-assign]
    else:
        raise ValueError(point)


def freeze(app: Flywheel, point: str, nth: int) -> None:
    """Stop this process (SIGSTOP) just before the nth fence; it goes on where it stopped when the test SIGCONTs it."""
    if point != "fence":
        raise ValueError(point)
    seen = [0]
    real_fence = getattr(app.outbox, "unfrozen_fence", app.outbox._fence)  # armed again: replaces the last one
    app.outbox.unfrozen_fence = real_fence  # type: ignore[attr-defined]

    def fence(outbox_id: int) -> bool:
        seen[0] += 1
        if seen[0] == nth:
            say(f"frozen {point} {nth}")
            os.kill(os.getpid(), signal.SIGSTOP)
        return real_fence(outbox_id)

    app.outbox._fence = fence  # type: ignore[method-assign]


def main() -> int:
    settings = load_settings(dotenv=None)
    sender_only = os.environ.get("FLYWHEEL_TEST_SENDER_ONLY") == "1"
    # SQLite: one scheduler per file; a no-op on PostgreSQL
    lock = None if sender_only else acquire_scheduler_lock(settings.database_url)
    skew = timedelta(seconds=float(os.environ.get("FLYWHEEL_TEST_CLOCK_SKEW") or 0))
    clock = FrozenClock(datetime.fromisoformat(os.environ["FLYWHEEL_TEST_START"]) + skew)
    from bot.config import load_config

    config = load_config(settings.config_path, default_timezone=settings.timezone, default_locale=settings.locale)
    messenger = SlackMessenger.from_settings(settings.slack_bot_token or "", settings.slack_api_url)
    app = Flywheel.build(settings, clock=clock, config=config, messengers={"slack": messenger})
    if os.environ.get("FLYWHEEL_TEST_LEASE"):  # leases on the database's clock, as on the real clock, but short
        lease = timedelta(seconds=float(os.environ["FLYWHEEL_TEST_LEASE"]))
        outbox = app.outbox
        outbox.lease, outbox.margin, outbox.leases_on_db_clock = lease, lease / 4, True
    say("ready")
    try:
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "tick":
                clock.set(datetime.fromisoformat(arg) + skew)
                report = app.tick()
                say("done " + json.dumps(report.__dict__))
            elif command == "deliver":
                if arg:
                    clock.set(datetime.fromisoformat(arg) + skew)
                sent, failed = app.outbox.deliver()
                say("done " + json.dumps({"sent": sent, "failed": failed}))
            elif command == "freeze":
                point, _, nth = arg.partition(" ")
                freeze(app, point, int(nth))
                say("armed")
            elif command == "pause":
                point, _, nth = arg.partition(" ")
                arm(app, point, int(nth))
                say("armed")
            elif command == "quit":
                say("bye")
                break
            else:
                say(f"error unknown command {command!r}")
    except Exception:  # noqa: BLE001 - the test reads this and fails loudly
        say("error " + traceback.format_exc().replace("\n", " | "))
        return 1
    finally:
        app.close()
        if lock is not None:
            lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
