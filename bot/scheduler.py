"""The APScheduler wiring: one short `tick` job. The database holds every schedule; APScheduler only keeps time.

`coalesce=True` and `max_instances=1` mean a slow tick is never run twice at once, and ticks missed while the
process was busy collapse into one. Downtime catch-up is decided from the database, not by APScheduler.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.ports import Ticking

log = logging.getLogger(__name__)


def safe_tick(app: Ticking, lock: threading.RLock | None = None) -> None:
    """Run one tick; an error is logged and the next tick tries again (nothing is lost: the database is the truth)."""
    try:
        with lock if lock is not None else nullcontext():
            report = app.tick()
        if report.total():
            log.info(
                "tick: planned %d, delivered %d, reminded %d, expired %d, sent %d, failed %d",
                report.planned,
                report.delivered,
                report.reminded,
                report.expired,
                report.sent,
                report.failed,
            )
    except Exception:
        log.exception("scheduler tick failed; the next tick will retry")


def start_scheduler(app: Ticking, *, lock: threading.RLock | None = None) -> BackgroundScheduler:
    interval = max(1.0, app.settings.tick_seconds)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        safe_tick,
        IntervalTrigger(seconds=interval),
        args=(app, lock),
        id="flywheel-tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(interval * 2),
        replace_existing=True,
    )
    scheduler.start()
    return scheduler
