"""The process under test for the inbound and memory benchmarks, started by them as a subprocess.

`--mode flywheel`: the bot as `flywheel run` runs it in HTTP mode — the WSGI app behind waitress (8 threads), the
outbox pump, and a scheduler thread — on a clock set to a Friday 15:00 when every member's check-in is due. On
`loop` it runs fan-out after fan-out: a tick (plan, deliver, drain the outbox), then the clock jumps a week so the
next week's check-in falls due for everyone, and again, until `stop`. On `fanout` it runs one.
`--mode bolt`: the floor — a bare slack_bolt App that only acknowledges, behind the same waitress.

Talks over stdin/stdout: prints `READY <port> <pid>`, then one JSON line per fan-out; reads commands.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from datetime import timedelta

from waitress.server import create_server

from bench.common import DUE, org_config, quiet_logs

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-bench"


def emit(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def bolt_wsgi(slack_url: str):
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    bolt = App(
        signing_secret=SECRET, client=WebClient(token=TOKEN, base_url=slack_url), token_verification_enabled=False
    )

    @bolt.event("message")
    def on_message(ack) -> None:
        ack()

    @bolt.action(re.compile(".*"))
    def on_action(ack) -> None:
        ack()

    @bolt.command(re.compile(".*"))
    def on_command(ack) -> None:
        ack()

    return SlackRequestHandler(bolt)


def trace_transactions(longest: list[tuple[float, float, str]], waits: list[tuple[float, str]]) -> None:
    """Record how long each transaction waited for and held SQLite's writer lock, by caller (`--trace`)."""
    import traceback
    from contextlib import contextmanager

    import bot.app
    import storage.db

    original = storage.db.transaction

    @contextmanager
    def traced(factory):
        caller = traceback.extract_stack(limit=3)[0].name
        asked = time.perf_counter()
        with original(factory) as s:
            got = time.perf_counter()
            yield s
        longest.append((time.perf_counter() - got, got - asked, caller))

    storage.db.transaction = traced
    enter = storage.db.FairLock.__enter__

    def timed_enter(lock):  # the wait for SQLite's writer lock alone, by the thread that waited
        asked = time.perf_counter()
        try:
            return enter(lock)
        finally:
            waits.append((time.perf_counter() - asked, threading.current_thread().name))

    storage.db.FairLock.__enter__ = timed_enter  # type: ignore[method-assign]
    bot.app.transaction = traced  # type: ignore[attr-defined]


def draw_charts(n: int) -> int:
    """Draw `n` teams' charts (12 weeks: moods, participation, obstacles, kudos by value) as the Slack and console
    messengers do, and build the Feishu spec of each; returns the bytes drawn."""
    from bot.platforms.feishu.charts import chart_spec
    from bot.platforms.png import render
    from conversations import charts

    weeks = charts.last_periods("2026-W48")
    drawn = 0
    for k in range(n):
        team = [
            charts.team_mood_chart(weeks, {p: [1 + (i + k + j) % 5 for j in range(8)] for i, p in enumerate(weeks)}),
            charts.participation_chart(weeks, {p: (8 - (i + k) % 3, 10) for i, p in enumerate(weeks)}),
            charts.obstacles_chart(weeks, {p: ((i + k) % 4, (i * k) % 3) for i, p in enumerate(weeks)}),
            charts.kudos_chart({"collaboration": k % 4, "growth": 2, "ownership": 1, "teamwork": 5}),
        ]
        drawn += len(render(team))
        for c in team:
            chart_spec(c)
    return drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--mode", choices=("flywheel", "bolt"), required=True)
    parser.add_argument("--db")
    parser.add_argument("--slack", required=True)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--trace", action="store_true", help="report the longest transactions at the end")
    args = parser.parse_args(argv)
    quiet_logs()
    traced: list[tuple[float, float, str]] = []
    lock_waits: list[tuple[float, str]] = []
    pauses: list[tuple[int, float]] = []
    if args.trace:
        trace_transactions(traced, lock_waits)
        import gc

        started: list[float] = [0.0]

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                pauses.append((info["generation"], time.perf_counter() - started[0]))

        gc.callbacks.append(on_gc)
    app = pump = None
    if args.mode == "bolt":
        wsgi = bolt_wsgi(args.slack)
    else:
        from bot.app import Flywheel
        from bot.platforms.slack.messenger import SlackMessenger
        from bot.settings import Settings
        from bot.web import create_wsgi
        from conversations.clock import OffsetClock

        clock = OffsetClock()
        clock.set(DUE - timedelta(minutes=5))  # members join just before their first check-in falls due
        app = Flywheel.build(
            Settings(database_url=args.db, slack_signing_secret=SECRET),
            clock=clock,
            config=org_config(args.members),
            messengers={"slack": SlackMessenger.from_settings(TOKEN, args.slack)},
        )
        pump = app.outbox.pump().start()
        wsgi = create_wsgi(app, slack_signing_secret=SECRET, poke=pump.poke)
    server = create_server(wsgi, host="127.0.0.1", port=0, threads=8, ident="bench")  # as `flywheel run`
    if app is not None:
        from bot.cli import settle_heap

        settle_heap()  # as `flywheel run` does once it has started
    threading.Thread(target=server.run, name="waitress", daemon=True).start()
    emit(ready=True, port=server.effective_port)  # type: ignore[attr-defined]
    stop = threading.Event()
    worker: threading.Thread | None = None
    week = [0]

    def fanouts(loop: bool) -> None:
        assert app is not None
        while True:
            app.clock.set(DUE + timedelta(weeks=week[0]))  # type: ignore[attr-defined]
            started = time.perf_counter()
            report = app.tick()
            emit(
                fanout=week[0],
                seconds=round(time.perf_counter() - started, 3),
                delivered=report.delivered,
                sent=report.sent,
                failed=report.failed,
                expired=report.expired,
            )
            week[0] += 1
            if not loop or stop.is_set():
                return

    for line in sys.stdin:
        command = line.strip()
        if command in ("fanout", "loop") and app is not None:
            worker = threading.Thread(target=fanouts, args=(command == "loop",), daemon=True)
            worker.start()
            if command == "fanout":
                worker.join()
                emit(done=True)
        elif command == "charts":  # a Monday's pictures: 100 managers' team charts drawn as PNGs (issue 18)
            started = time.perf_counter()
            emit(charts=draw_charts(100), seconds=round(time.perf_counter() - started, 3))
        elif command == "stop":
            stop.set()
            if worker is not None:
                worker.join()
            if traced:
                by_caller: dict[str, list[float]] = {}
                for held, _waited, caller in traced:
                    by_caller.setdefault(caller, []).append(held)
                emit(
                    trace={
                        c: {"n": len(v), "max_ms": round(max(v) * 1000, 1), "mean_ms": round(sum(v) / len(v) * 1000, 2)}
                        for c, v in by_caller.items()
                    },
                    max_wait_ms=round(max(w for _, w, _ in traced) * 1000, 1),
                    lock_waits={  # the five longest waits for SQLite's writer, by kind of thread
                        who: sorted(round(w * 1000, 1) for w, t in lock_waits if t.startswith(who))[-5:]
                        for who in {t.split("-")[0].split("_")[0] for _, t in lock_waits}
                    },
                    gc={
                        g: {
                            "n": sum(1 for x, _ in pauses if x == g),
                            "max_ms": round(max((d for x, d in pauses if x == g), default=0) * 1000, 1),
                        }
                        for g in (0, 1, 2)
                    },
                )
            emit(stopped=True)
        elif command == "quit":
            break
    server.close()
    if pump is not None:
        pump.stop()
    if app is not None:
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
