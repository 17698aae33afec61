"""People first: background work gives way while someone's request is being answered.

A process that serves platform callbacks (`flywheel run`, `flywheel web`) also runs background work in threads:
the scheduler's fan-out (planning and delivering runs) and the outbox pump (rendering and sending). Python runs one
thread at a time (the GIL), and on SQLite one transaction writes at a time, so a fan-out of thousands of prompts
would otherwise take half the processor, and the database's writer, from the person whose slash command or answer
is waiting for its acknowledgement (the inbound benchmark: p99 over 250 ms, docs/benchmarks.md).

So every request from a platform is marked while it is served (`serving`), and background work asks `give_way`
at its safe points — between outbox messages, between scheduler batches, never inside a transaction — and
waits there while any request is in hand. The wait is bounded (`patience`), so under a steady stream of requests
the background still moves forward, one step per wait at least; a delivery batch that holds the database is cut
short when someone is waiting (`bot/ticker.py _process`). Nothing here decides *what* is done, only *when*: a
prompt goes out some milliseconds later, an acknowledgement does not wait behind a thousand prompts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

PATIENCE = 0.2  # seconds background work waits at one safe point, at most, before taking its next step anyway


class Foreground:
    """Counts the requests being served in this process; background work waits for none to be in hand."""

    def __init__(self, *, patience: float = PATIENCE) -> None:
        self.patience = patience
        self._cond = threading.Condition(threading.Lock())
        self._serving = 0
        self.waited = 0.0  # seconds background work has spent giving way (for the benchmarks and tests)

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around the handling of one request from a platform (nested uses count once each)."""
        with self._cond:
            self._serving += 1
        try:
            yield
        finally:
            with self._cond:
                self._serving -= 1
                if not self._serving:
                    self._cond.notify_all()

    @property
    def busy(self) -> bool:
        """A request is being served right now (read without the lock: a hint, not a promise)."""
        return self._serving > 0

    def give_way(self) -> None:
        """At a safe point of background work (no transaction open): wait while a request is in hand, for at most
        `patience` seconds."""
        if not self._serving:
            return
        started = time.monotonic()
        with self._cond:
            self._cond.wait_for(lambda: not self._serving, timeout=self.patience)
        self.waited += time.monotonic() - started
