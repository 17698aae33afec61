"""`flywheel run | console | db upgrade | doctor` (also `python -m bot …`)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.config import ConfigError, OrgConfig, demo_config_path, load_config
from bot.locks import AlreadyRunningError, acquire_scheduler_lock
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings
from bot.words import count, duration

if TYPE_CHECKING:  # imported where used, at run time: `flywheel doctor` and `--help` stay quick
    from bot.app import Flywheel
    from bot.outbox import OutboxPump
    from bot.platforms.feishu.events import FeishuEvents
    from bot.platforms.feishu.longconn import LongConnection
    from bot.platforms.slack.socket import Handler
    from bot.web import HttpServer
    from conversations.flows import Flow

log = logging.getLogger("flywheel")


def _setup_logging(settings: Settings, *, console: bool) -> None:
    # On the console the conversation stays readable; FLYWHEEL_LOG_LEVEL=INFO shows more.
    setup_logging(settings.log_level, secrets=settings.secrets(), default="WARNING" if console else "INFO")


def _config(settings: Settings) -> OrgConfig | None:
    path = settings.config_path or (str(demo_config_path()) if settings.console_mode else None)
    if path is None:
        return None
    return load_config(path, default_timezone=settings.timezone, default_locale=settings.locale)


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bot.app import Flywheel
    from bot.platforms.console.messenger import ConsoleMessenger
    from bot.platforms.console.repl import Console, console_clock, found_data, parse_start

    interactive = sys.stdin.isatty() and not args.script
    try:
        start = parse_start(args.clock)
    except ValueError as exc:
        print(f"flywheel: {exc}", file=sys.stderr)
        return 2
    try:
        lock = acquire_scheduler_lock(settings.database_url)
    except AlreadyRunningError as exc:
        print(f"flywheel: {exc}", file=sys.stderr)
        return 3
    problem = _start_over(settings.database_url) if args.fresh else None
    if problem:
        lock.release()
        print(f"flywheel: {problem}", file=sys.stderr)
        return 2
    try:
        clock = console_clock(interactive, start)
        messenger = ConsoleMessenger(sys.stdout, clock, keep=_unread_file(settings.database_url))
        app = Flywheel.build(settings, clock=clock, config=_config(settings), messengers={"console": messenger})
    except BaseException:
        lock.release()
        raise
    try:
        found = found_data(app, _database_name(settings.database_url))
        if found is not None and found.clock is not None and start is None:
            clock.set(found.clock)  # the runs in the database were made on this clock: continue from there
            found = replace(found, resumed=True)
        console = Console(app, messenger, sys.stdout, interactive=interactive)
        stdin = StoppableInput(sys.stdin).install()
        console.start(args.as_member, found)
        console.run(stdin)
    finally:
        app.close()
        lock.release()
    return 0


def _unread_file(database_url: str) -> Path | None:
    """Where the console keeps messages waiting for members you are not acting as: beside the SQLite file (none for
    a server database: the console is for trying Flywheel out)."""
    from sqlalchemy.engine import make_url

    from bot.platforms.console.messenger import UNREAD_SUFFIX

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(f"{url.database}{UNREAD_SUFFIX}")


def _database_name(database_url: str) -> str:
    """How to name the database to a person: the SQLite file's name, or the URL without its password."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return Path(url.database or ":memory:").name
    return url.render_as_string(hide_password=True)


def _start_over(database_url: str) -> str | None:
    """`--fresh`: delete the demo's SQLite database (saying what it held) so the start creates it again. Returns a
    problem instead when the database is not a demo SQLite file; then nothing is deleted."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return (
            "--fresh starts the demo over by deleting its SQLite file, and DATABASE_URL is not a SQLite file; "
            "nothing was deleted."
        )
    db = Path(url.database)
    if not db.exists():
        print(f"Starting fresh: there is no {db.name} yet.")
        return None
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())

            def one(sql: str) -> int:
                return int(conn.execute(sa.text(sql)).scalar() or 0)

            members = one("select count(*) from member where active") if "member" in tables else 0
            runs = one("select count(*) from conversation_run") if "conversation_run" in tables else 0
            platform = (
                one("select count(*) from member_identity")
                if "member_identity" in tables
                else one("select count(*) from member where slack_user_id is not null or feishu_open_id is not null")
                if "member" in tables
                else 0
            )
    except sa.exc.DatabaseError:
        return f"{db} is not a Flywheel database that --fresh can start over; nothing was deleted."
    finally:
        engine.dispose()
    if platform:
        return (
            f"{db} holds members from Slack or Feishu, not just the demo; --fresh only starts the demo over, so "
            "nothing was deleted. Delete the file yourself if you really mean to."
        )
    print(
        f"Starting the demo over: deleting {db.name} ({count(members, 'member')}, "
        f"{count(runs, 'conversation')}) and creating it again."
    )
    from bot.platforms.console.messenger import UNREAD_SUFFIX

    for suffix in ("", "-wal", "-shm", "-journal", UNREAD_SUFFIX):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return None


class _Stop(Exception):  # noqa: N818 - a stop signal, not an error (PEP 8 keeps the suffix for errors)
    """Raised by the SIGTERM handler while the console waits for a line."""


class StoppableInput:
    """The console's input, ended by SIGTERM: a line being handled is finished first; while the console waits for
    the next line, the wait ends at once. The console then closes as at the end of its input (exit 0)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.stopped = False
        self._waiting = False

    def install(self) -> StoppableInput:
        signal.signal(signal.SIGTERM, self._on_signal)
        return self

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self.stopped = True
        if self._waiting:
            self._waiting = False  # a second signal while this one unwinds does not raise again
            raise _Stop

    def readline(self) -> str:
        try:
            if self.stopped:
                return ""
            self._waiting = True
            line = self.stream.readline()
            self._waiting = False
            return "" if self.stopped else line
        except _Stop:
            return ""
        finally:
            self._waiting = False


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.console_mode:
        print(
            "No Slack or Feishu credentials are set, so Flywheel runs on the local console "
            "with the demo organisation (see README: Connecting Slack / Feishu).",
            file=sys.stderr,
        )
        return cmd_console(settings, args)
    return serve(settings, scheduler=True)


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    """Only the HTTP endpoint (and the outbox pump): for running several web replicas behind a load balancer."""
    return serve(settings, scheduler=False, http_only=True)


def settle_heap() -> None:
    """Once start-up is done: move everything allocated so far (modules, SQLAlchemy's mappers, the organisation)
    out of the cyclic garbage collector's reach. Its full collections then walk only what was made since, and stop
    pausing every thread for 100 ms and more in the middle of a fan-out (seen in the inbound benchmark's p99)."""
    gc.collect()
    gc.freeze()


class Stopping:
    """SIGTERM (how Heroku, Kubernetes and systemd stop a process) and Ctrl-C: stop taking work, finish what is in
    hand, hand back what is not started, release the locks, exit 0 — within STOP_WITHIN seconds. The signal handler
    only sets flags and calls `wakers` (each must be safe from a signal handler: set a flag, write to a pipe)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.wakers: list = []
        self.deadline = 0.0

    def install(self) -> Stopping:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.event.is_set():
            return
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: stop at once, as before
        self.deadline = time.monotonic() + STOP_WITHIN
        self.event.set()
        for wake in self.wakers:
            wake()

    def left(self, most: float) -> float:
        """Seconds a step of the shutdown may take: at most `most`, and never past the deadline."""
        deadline = self.deadline or time.monotonic() + STOP_WITHIN
        return max(0.1, min(most, deadline - time.monotonic()))


STOP_WITHIN = 8.0  # seconds from SIGTERM to exit; platforms kill after 10 (Kubernetes: 30; Heroku: 30)


def serve(settings: Settings, *, scheduler: bool, http_only: bool = False) -> int:
    """Slack and/or Feishu, whichever has credentials, in one process: the scheduler (unless `http_only`), the
    outbox pump, Socket Mode / the long connection, and the HTTP endpoint when a signing secret or an Encrypt Key
    asks for it. Runs until SIGTERM or Ctrl-C, then stops cleanly (`Stopping`)."""
    from bot.app import Flywheel
    from bot.scheduler import start_scheduler
    from bot.web import HttpServer, create_wsgi

    problem = _serve_problem(settings, http_only)
    if problem:
        print(f"flywheel: {problem}", file=sys.stderr)
        return 2
    stopping = Stopping().install()  # from here on, a SIGTERM during start-up stops as cleanly as later
    lock = None
    if scheduler:
        try:
            lock = acquire_scheduler_lock(settings.database_url)
        except AlreadyRunningError as exc:
            print(f"flywheel: {exc}", file=sys.stderr)
            return 3
    app = pump = jobs = feishu_events = slack_socket = feishu_link = http = None
    try:
        messengers: dict = {}
        if "slack" in settings.platforms:
            from bot.platforms.slack.messenger import SlackMessenger

            messengers["slack"] = SlackMessenger.from_settings(settings.slack_bot_token or "", settings.slack_api_url)
        if "feishu" in settings.platforms:
            from bot.platforms.feishu.messenger import FeishuMessenger

            messengers["feishu"] = FeishuMessenger.from_settings(
                settings.feishu_app_id or "", settings.feishu_app_secret or "", settings.feishu_domain
            )
        config = _config(settings)
        directories = _directories(settings, config, messengers)
        app = Flywheel.build(settings, config=config, messengers=messengers, directories=directories)
        stopping.wakers.append(app.stop_sending)
        if stopping.event.is_set():
            app.stop_sending()
        pump = app.outbox.pump().start()
        jobs = start_scheduler(app) if scheduler else None
        if jobs is not None:
            for name, discover in _directory_syncs(app).items():
                if not stopping.event.is_set():
                    discover()
                jobs.add_job(discover, "interval", hours=24, id=f"{name}-directory", coalesce=True, max_instances=1)
        settle_heap()
        if "feishu" in settings.platforms:
            from bot.platforms.feishu.events import FeishuEvents

            feishu_events = FeishuEvents(app, poke=pump.poke)
        modes = []
        bolt = None
        if "slack" in settings.platforms:
            from bot.platforms.slack import bolt_app

            bolt = bolt_app.build(app, client=messengers["slack"].client, poke=pump.poke)  # the one entry point
        if bolt is not None and settings.slack_app_token and not http_only and not stopping.event.is_set():
            from bot.platforms.slack.socket import connect

            slack_socket = connect(bolt, app_token=settings.slack_app_token, web_client=messengers["slack"].client)
            app.connections["slack"] = slack_socket.client.is_connected
            modes.append("Slack (Socket Mode)")
        if feishu_events is not None and not http_only and not stopping.event.is_set():
            from bot.platforms.feishu import longconn

            feishu_link = longconn.start(
                feishu_events,
                app_id=settings.feishu_app_id or "",
                app_secret=settings.feishu_app_secret or "",
                domain=settings.feishu_domain,
            )
            app.connections["feishu"] = feishu_link.up
            modes.append("Feishu (long connection)")
        callbacks = None
        if feishu_events is not None and settings.feishu_encrypt_key:
            from bot.platforms.feishu.callbacks import FeishuCallbacks

            callbacks = FeishuCallbacks(
                feishu_events,
                encrypt_key=settings.feishu_encrypt_key,
                verification_token=settings.feishu_verification_token,
            )
        slack_http = settings.slack_signing_secret if bolt is not None else None
        if slack_http or callbacks is not None:
            slack = None
            if bolt is not None and slack_http:
                from bot.platforms.slack.bolt_app import SlackHttp

                slack = SlackHttp(bolt, app, signing_secret=slack_http, now=time.time)
            wsgi = create_wsgi(app, slack_signing_secret=slack_http, poke=pump.poke, feishu=callbacks, slack=slack)
            http = HttpServer(wsgi, host="0.0.0.0", port=settings.port)
            stopping.wakers.append(http.stop)
            if stopping.event.is_set():
                http.stop()
            paths = (["POST /slack/events"] if slack_http else []) + (["POST /feishu/events"] if callbacks else [])
            print(
                f"Flywheel is running: {', '.join(modes + ['HTTP on port ' + str(settings.port)])} "
                f"({', '.join(paths)}, GET /healthz, GET /metrics). Ctrl-C to stop.",
                file=sys.stderr,
            )
            http.serve_until_stopped()
        else:
            print(f"Flywheel is running: {', '.join(modes)}. Ctrl-C to stop.", file=sys.stderr)
            stopping.event.wait()
    finally:
        if app is not None:
            app.stop_sending()  # also when start-up failed: nothing more is started
        print("Flywheel is stopping: finishing what is in hand.", file=sys.stderr, flush=True)
        ended = _stop(
            stopping,
            http=http,
            slack_socket=slack_socket,
            feishu_link=feishu_link,
            jobs=jobs,
            pump=pump,
            feishu_events=feishu_events,
        )
        if app is not None:
            app.close()
        if lock is not None:
            lock.release()
    log.info("stopped")
    if not ended:
        _leave_if_stuck()
    return 0


def _stop(
    stopping: Stopping,
    *,
    http: HttpServer | None,
    slack_socket: Handler | None,
    feishu_link: LongConnection | None,
    jobs: Any,  # an APScheduler BackgroundScheduler, or None (APScheduler 3 has no types)
    pump: OutboxPump | None,
    feishu_events: FeishuEvents | None,
) -> bool:
    """Take no more work in, then let what was taken finish: each step bounded so that the whole stays within
    STOP_WITHIN; False if one did not end in time. What Slack or Feishu delivered and we did not acknowledge, they
    deliver again (to another replica)."""
    steps = []
    if http is not None:
        steps.append(("stop accepting HTTP connections", http.stop_accepting))
    if slack_socket is not None:  # its close() waits for the envelopes being handled
        steps.append(("close the Socket Mode connection", slack_socket.close))
    if feishu_link is not None:  # before the events stop: nothing is acknowledged that is not handled
        steps.append(("close the Feishu long connection", lambda: feishu_link.stop(stopping.left(3))))
    if http is not None:
        steps.append(("finish the HTTP requests in hand", lambda: http.finish(stopping.left(5))))
    if jobs is not None:  # a tick in progress ends soon: the outbox sender starts nothing new
        steps.append(("stop the scheduler", lambda: jobs.shutdown(wait=True)))
    if pump is not None:
        steps.append(("stop the outbox pump", lambda: pump.stop(stopping.left(5))))
    if feishu_events is not None:
        steps.append(("finish the Feishu events in hand", feishu_events.close))
    ended = True
    for what, step in steps:
        if not _within(stopping.left(STOP_WITHIN), step):
            log.warning("could not %s in time while stopping; going on", what)
            ended = False
    return ended


def _within(seconds: float, step: Callable[[], object]) -> bool:
    """Run one shutdown step, giving up on it after `seconds` (it goes on in a daemon thread); True if it ended.
    An error is logged: the next steps, and releasing the locks, still happen."""

    def run() -> None:
        try:
            step()
        except Exception:
            log.exception("a shutdown step failed")

    worker = threading.Thread(target=run, name="stopping", daemon=True)
    worker.start()
    worker.join(seconds)
    return not worker.is_alive()


def _leave_if_stuck() -> None:
    """Python waits at exit for every non-daemon thread (a scheduler job stuck on the network, say). Past the
    shutdown's time, leave anyway: the platform would kill us a moment later, and less tidily."""
    stuck = [
        t.name for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon and t.is_alive()
    ]
    if stuck:
        log.warning("leaving although still busy: %s", ", ".join(stuck))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _serve_problem(settings: Settings, http_only: bool) -> str | None:
    slack, feishu = "slack" in settings.platforms, "feishu" in settings.platforms
    if slack and not (settings.slack_app_token or settings.slack_signing_secret):
        return "SLACK_BOT_TOKEN needs SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)."
    if (settings.feishu_app_id or settings.feishu_app_secret) and not feishu:
        return "Feishu needs both FEISHU_APP_ID and FEISHU_APP_SECRET."
    if feishu and settings.feishu_verification_token and not settings.feishu_encrypt_key:
        return (
            "Feishu HTTP callbacks need FEISHU_ENCRYPT_KEY: set an Encrypt Key in the developer console "
            "(Events & Callbacks → Encryption Strategy) and here; without it /feishu/events is not served."
        )
    if http_only and not (settings.slack_signing_secret or (feishu and settings.feishu_encrypt_key)):
        return (
            "`flywheel web` serves HTTP callbacks and needs SLACK_SIGNING_SECRET (Slack) or FEISHU_ENCRYPT_KEY "
            "(Feishu)."
        )
    return None


def _directories(settings: Settings, config: OrgConfig | None, messengers: dict) -> dict:
    """The platforms whose directory is a source of members: synced daily by the worker, and asked on the spot
    (by any process, `web` replicas too) about someone who writes before a sync has brought them in."""
    found: dict = {}
    if "slack" in settings.platforms:
        from bot.platforms.slack.directory import SlackDirectory

        found["slack"] = SlackDirectory(
            settings.slack_bot_token or "",
            settings.slack_api_url,
            default_timezone=settings.timezone,
            default_locale=settings.locale,
        )
    if "feishu" in settings.platforms:
        from bot.platforms.directory import LOOKUP_TIMEOUT
        from bot.platforms.feishu.directory import FeishuDirectory
        from bot.platforms.feishu.messenger import build_client

        found["feishu"] = FeishuDirectory(
            messengers["feishu"].client,
            default_timezone=settings.timezone,
            default_locale=settings.locale_for("feishu"),
            managed_by_file={m.feishu for m in config.members if m.feishu} if config else set(),
            lookup_client=build_client(
                settings.feishu_app_id or "",
                settings.feishu_app_secret or "",
                settings.feishu_domain,
                timeout=LOOKUP_TIMEOUT,
            ),
        )
    return found


def _directory_syncs(app: Flywheel) -> dict[str, Callable[[], None]]:
    """Member discovery per platform, run at start and daily; a failure is logged and retried tomorrow."""
    jobs = {}
    if "slack" in app.directories:
        from bot.platforms.slack.directory import SlackDirectory

        directory = app.directories["slack"]
        assert isinstance(directory, SlackDirectory)

        def slack() -> None:
            try:
                users = directory.read()  # before the transaction: the database never waits on Slack
                with app.transaction() as s:
                    counts = directory.sync(s, users, now=app.clock.now())
                log.info("Slack members: %(added)d added, %(updated)d updated, %(deactivated)d deactivated", counts)
            except Exception:
                log.exception("could not read the Slack member list")

        jobs["slack"] = slack
    if "feishu" in app.directories:
        from bot.platforms.feishu.directory import FeishuDirectory

        organisation = app.directories["feishu"]
        assert isinstance(organisation, FeishuDirectory)

        def feishu() -> None:
            try:
                people, departments = organisation.read()
                with app.transaction() as s:
                    counts = organisation.sync(s, people, departments, now=app.clock.now())
                log.info(
                    "Feishu members: %(added)d added, %(updated)d updated, %(deactivated)d deactivated, "
                    "%(kept)d as the org file says",
                    counts,
                )
            except Exception:
                log.exception("could not read the Feishu organisation (contact API); check the app's contact scopes")

        jobs["feishu"] = feishu
    return jobs


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from storage.db import create_db_engine, current_revision, upgrade

    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    print(f"database is at revision {current_revision(engine)}")
    engine.dispose()
    return 0


def cmd_forget(settings: Settings, args: argparse.Namespace) -> int:
    from bot import me
    from storage import repo
    from storage.db import create_db_engine, session_factory, transaction, upgrade

    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    try:
        with transaction(session_factory(engine)) as s:
            member = repo.member_by_handle(s, handle=args.handle.lower())
            if member is None:
                print(f"flywheel: no member with handle {args.handle!r}", file=sys.stderr)
                return 1
            counts = me.forget(s, member)
            summary = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
            if not args.yes:
                s.rollback()
                print(f"would delete for {args.handle}: {summary}. Run again with --yes to delete.")
                return 0
        log.info("member data deleted on request: %s", summary)
        print(f"deleted for {args.handle}: {summary}. The profile is kept only as an anonymous, inactive row.")
        return 0
    finally:
        engine.dispose()


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from storage.db import create_db_engine, current_revision, head_revision

    problems = 0

    def line(ok: bool, text: str) -> None:
        nonlocal problems
        problems += not ok
        print(f"{'✓' if ok else '✗'} {text}")

    for text in describe_settings(settings):
        line(True, text)
    try:
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            line(True, f"database {url.database} does not exist yet; it is created and migrated at first start")
        else:
            engine = create_db_engine(settings.database_url)
            current, head = current_revision(engine), head_revision(engine)
            engine.dispose()
            if current is None:
                line(True, f"database reachable and empty; migrations to {head} run at first start")
            else:
                line(
                    current == head,
                    f"database reachable; migrations at {current} (latest {head})"
                    + ("" if current == head else " — run `flywheel db upgrade` (or just start the bot)"),
                )
    except Exception as exc:  # noqa: BLE001 - doctor reports any failure to reach the database, and goes on
        line(False, f"database not reachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    try:
        config = _config(settings)
        if config is None:
            line(True, "no FLYWHEEL_CONFIG: members will come from the platform")
        else:
            managers = {m.manager for m in config.members if m.manager}
            zones = sorted({m.timezone for m in config.members})
            line(
                True,
                f"organisation {config.source}: {count(len(config.members), 'member')} "
                f"({count(len(managers), 'manager')}), time {'zone' if len(zones) == 1 else 'zones'} "
                f"{', '.join(zones) or '—'}",
            )
            for flow in config.flows.values():
                if not flow.enabled:
                    line(True, f"{flow.name}: off")
                    continue
                line(True, f"{flow.name}: {describe_schedule(flow)}; {describe_questions(flow)}")
    except ConfigError as exc:
        line(False, str(exc))
    problem = _serve_problem(settings, http_only=False)
    if problem:
        line(False, problem)
    print("all good" if problems == 0 else f"{count(problems, 'problem')} found")
    return 0 if problems == 0 else 1


def describe_settings(settings: Settings) -> list[str]:
    """The settings as a person reads them. Secrets are only ever said to be set or not."""
    from bot.settings import _redact_url

    mode = (
        "the local console (no Slack or Feishu credentials)"
        if settings.console_mode
        else " and ".join({"slack": "Slack", "feishu": "Feishu / Lark"}[p] for p in settings.platforms)
    )
    lines = [f"runs on {mode}", f"database {_redact_url(settings.database_url)}"]
    if settings.slack_bot_token:
        how = (
            "Socket Mode (app token set)"
            if settings.slack_app_token
            else "HTTP mode (signing secret set)"
            if settings.slack_signing_secret
            else "no app token or signing secret"
        )
        lines.append(
            f"Slack: bot token set, {how}" + (f", API at {settings.slack_api_url}" if settings.slack_api_url else "")
        )
    if settings.feishu_app_id or settings.feishu_app_secret:
        how = (
            "HTTP callbacks (Encrypt Key set) and the long connection"
            if settings.feishu_encrypt_key
            else "long connection"
        )
        secret = "secret set" if settings.feishu_app_secret else "no app secret"
        lines.append(
            f"Feishu: app {settings.feishu_app_id or '(no app id)'}, {secret}, {how}, "
            f"domain {settings.feishu_domain or 'feishu'}"
        )
    language = (
        f"{settings.locale} (FLYWHEEL_LOCALE)"
        if settings.locale_set
        else f"{settings.locale}, Chinese on Feishu (FLYWHEEL_LOCALE not set)"
    )
    lines.append(
        f"language for people the bot knows nothing about: {language}; time zone when none is known: "
        f"{settings.timezone}"
    )
    lines.append(
        f"the scheduler looks for due work every {duration(timedelta(seconds=settings.tick_seconds))}; "
        f"answers are kept {count(settings.retention_days, 'day')}; HTTP port {settings.port}"
        + (f"; log level {settings.log_level.upper()}" if settings.log_level else "")
    )
    return lines


def describe_schedule(flow: object) -> str:
    """When a flow runs, in words: `Friday 15:00 member-local, open until Monday 12:00, reminder after 4 hours`."""
    from conversations.schedule import WEEKDAYS, MonthlySchedule, QuarterlySchedule, WeeklySchedule

    sched = getattr(flow, "schedule", flow)
    if isinstance(sched, WeeklySchedule):
        text = (
            f"every {WEEKDAYS[sched.weekday].title()} {sched.at:%H:%M} member-local, open until "
            f"{WEEKDAYS[sched.closes_weekday].title()} {sched.closes_at:%H:%M}"
        )
    elif isinstance(sched, MonthlySchedule):
        nth = ("first", "second", "third", "fourth")[sched.nth - 1]
        text = (
            f"the {nth} {WEEKDAYS[sched.weekday].title()} of each month {sched.at:%H:%M} member-local, open "
            f"{duration(sched.window)}"
        )
    elif isinstance(sched, QuarterlySchedule):
        text = (
            f"the first day of each quarter {sched.at:%H:%M} member-local (the first working day after it on a "
            f"holiday), open {duration(sched.window)}"
        )
    elif sched is None:
        return "started by a command (no schedule)"
    else:
        return str(sched)
    reminder = getattr(flow, "reminder_after", None)
    return text + (f", reminder after {duration(reminder)}" if reminder else "")


# What a question asked once per item is asked about, for `flywheel doctor`.
_EACH = {"plan": "priority set the week before", "obstacles": "open obstacle", "actions": "open retro action they own"}


def describe_questions(flow: Flow) -> str:
    """How many questions a member is asked, counted the way a run counts them (`Flow.expand` of a new run's
    context): `5 questions (4 for people without a manager), plus one per open obstacle`."""
    with_manager = len(flow.expand(flow.context_from(None, has_manager=True)))
    without = len(flow.expand(flow.context_from(None, has_manager=False)))
    text = count(with_manager, "question")
    if without != with_manager:
        text += f" ({without} for people without a manager)"
    repeated = [f"one per {_EACH.get(ask.each, ask.each)}" for ask in flow.steps if ask.each]
    if repeated:
        text += ", plus " + (", ".join(repeated[:-1]) + " and " + repeated[-1] if len(repeated) > 1 else repeated[0])
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flywheel", description="Flywheel: continuous check-ins for Slack and Feishu."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "start the bot (the console when no platform credentials are set)"),
        ("console", "talk to Flywheel on this terminal; reads a script from standard input"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "--as", dest="as_member", metavar="HANDLE", help="start as this member (default: the first report)"
        )
        p.add_argument("--clock", metavar="'YYYY-MM-DD HH:MM [TZ]'", help="start the console's clock at this time")
        p.add_argument("--script", action="store_true", help="script mode even on a terminal (no prompt, echo input)")
        p.add_argument(
            "--fresh",
            action="store_true",
            help="start the demo over: delete the demo's SQLite database first (says what it held)",
        )
    sub.add_parser(
        "web",
        help="serve only the HTTP endpoints (Slack HTTP mode, Feishu callbacks) for replicas behind a load balancer",
    )
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply database migrations (also done at every start)")
    sub.add_parser("doctor", help="check settings, database and organisation file")
    forget = sub.add_parser("forget", help="delete everything stored about one member (a deletion request)")
    forget.add_argument("handle")
    forget.add_argument("--yes", action="store_true", help="really delete (without it, only say what would go)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"flywheel: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings, console=args.command in ("run", "console") and settings.console_mode)
    try:
        if args.command == "run":
            return cmd_run(settings, args)
        if args.command == "console":
            return cmd_console(settings, args)
        if args.command == "db":
            return cmd_db_upgrade(settings, args)
        if args.command == "web":
            return cmd_web(settings, args)
        if args.command == "forget":
            return cmd_forget(settings, args)
        return cmd_doctor(settings, args)
    except ConfigError as exc:
        print(f"flywheel: {exc}", file=sys.stderr)
        return 2
