"""The shutdown's own rules: a step that does not end in time is given up on (the process still exits in time)."""

from __future__ import annotations

import threading
import time

from bot.cli import _within


def test_a_step_that_hangs_is_given_up_on_and_one_that_fails_does_not_stop_the_rest():
    release = threading.Event()
    started = time.monotonic()
    assert _within(0.2, lambda: release.wait(30)) is False
    assert time.monotonic() - started < 5
    release.set()
    assert _within(5, lambda: 1 / 0) is True  # failed, logged, over
    done = []
    assert _within(5, lambda: done.append(1)) is True and done == [1]
