"""People first: background work gives way while someone's request is being answered.

A process that serves platform callbacks (`flywheel run`, `flywheel web`) also runs background work in threads:
the scheduler's fan-out (planning and delivering runs) and the outbox pump (rendering and sending). Python runs one
thread at a time (the GIL), and on SQLite one transaction writes at a time, so a fan-out of thousands of prompts
would otherwise take half the processor, and the database's writer, from the person whose slash command or answer
is waiting for its acknowledgement (the inbound benchmark: p99 over 250 ms, docs/benchmarks.md).

So every request from a platform is marked while it is served (`serving`), and background work asks `give_way`
at its safe points — between outbox messages, between scheduler batches, never inside a transaction — and waits
there until no request has been in hand for a moment (`quiet`: requests come in runs, and a step started between
two of them would hold up the second). The wait is bounded (`patience`); whoever waited it out then has a `turn`
in which it does not wait, so under a steady stream of requests the background still runs a tenth of the time.
While a request is in hand the background also takes less at a time (`busy`: smaller batches, and a delivery batch
that holds the database is cut short, `bot/ticker.py _process`). Nothing here decides *what* is done, only *when*:
a prompt goes out some milliseconds later; an acknowledgement does not wait behind a thousand prompts.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

PATIENCE = 0.2  # seconds background work waits at one safe point, at most, before taking its next step anyway
QUIET = 0.02  # ... and how long no request must have been in hand before it goes on of its own accord
TURN = 0.02  # after waiting out its patience, background work runs this long without giving way (a tenth)


class Foreground:
    """Counts the requests being served in this process; background work waits for a quiet moment."""

    def __init__(
        self, *, enabled: bool = False, patience: float = PATIENCE, quiet: float = QUIET, turn: float = TURN
    ) -> None:
        # Only where requests and background threads share the process: the outbox pump switches it on when it
        # starts (`flywheel run`, `flywheel web`); the console, tests and tools do their follow-up work in the
        # thread that took the request.
        self.enabled = enabled
        self.patience = patience
        self.quiet = quiet
        self.turn = turn
        self._turns = threading.local()  # per background thread: until when (time.monotonic()) it has its turn
        self._mine = threading.local()  # per thread: how many requests it is serving (it never waits for itself)
        self._cond = threading.Condition(threading.Lock())
        self._serving = 0
        self._last_done = -math.inf  # time.monotonic() when the last request was answered
        self.waited = 0.0  # seconds background work has spent giving way (for the benchmarks and tests)

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around the handling of one request from a platform (nested uses count once each)."""
        with self._cond:
            self._serving += 1
        self._mine.depth = getattr(self._mine, "depth", 0) + 1
        try:
            yield
        finally:
            self._mine.depth -= 1
            with self._cond:
                self._serving -= 1
                if not self._serving:
                    self._last_done = time.monotonic()
                    self._cond.notify_all()

    @property
    def busy(self) -> bool:
        """A request is being served right now (read without the lock: a hint, not a promise); never where this is
        switched off, so the console and tests keep the full batch sizes."""
        return self.enabled and self._serving > 0

    def give_way(self) -> None:
        """At a safe point of background work (no transaction open): wait until no request has been in hand for
        `quiet` seconds — requests often come in runs, and a step started between two of them would hold up the
        second — for at most `patience` seconds. Having waited that long, it has a turn: `turn` seconds in which it
        does not wait, so that under a steady stream of requests it still runs a tenth of the time."""
        serving_here: int = getattr(self._mine, "depth", 0)
        if not self.enabled or serving_here:
            return  # nothing runs beside requests here, or this thread is the one serving (work done on its behalf)
        started = time.monotonic()
        if started < getattr(self._turns, "until", -math.inf):
            return
        if not self._serving and started - self._last_done >= self.quiet:
            return
        deadline = started + self.patience
        with self._cond:
            while (now := time.monotonic()) < deadline:
                if self._serving:
                    self._cond.wait(deadline - now)
                    continue
                quiet_left = self._last_done + self.quiet - now
                if quiet_left <= 0:
                    break
                self._cond.wait(min(quiet_left, deadline - now))
            else:
                self._turns.until = now + self.turn  # patience ran out: the background's turn
        self.waited += time.monotonic() - started
