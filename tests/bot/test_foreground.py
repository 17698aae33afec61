"""People first (bot/foreground.py): while a request from a platform is being answered, background work gives way
at its safe points, takes smaller batches and cuts a batch short — and still delivers everything, exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlmodel import select

import bot.ticker
from bot.codec import encode_replies
from bot.foreground import Foreground
from bot.outbox import OUTBOX_CLAIM, OUTBOX_CLAIM_WHILE_SERVING
from conversations.events import InboundEvent
from conversations.machine import Reply
from storage import repo
from storage.db import transaction
from storage.models import ConversationRun, Member
from tests.helpers import local, make_harness
from tests.platforms.test_slack_http import env  # noqa: F401  (the fixture: an app behind Slack's HTTP endpoint)

TEAM = {
    "members": [{"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"}]
    + [{"handle": f"m{i}", "name": f"Member {i}", "manager": "maria", "timezone": "Europe/London"} for i in range(59)]
}
DUE = local("Europe/London", 2026, 11, 27, 15, 0)  # a Friday: everyone's weekly check-in falls due


def test_give_way_returns_at_once_when_nobody_is_being_served():
    foreground = Foreground(enabled=True, patience=60)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (foreground.give_way(), done.set()))
    worker.start()
    assert done.wait(5)  # not the 60 s of patience
    assert foreground.waited == 0


def test_give_way_waits_while_a_request_is_served_and_goes_on_when_it_is_answered():
    foreground = Foreground(enabled=True, patience=60)
    done = threading.Event()
    with foreground.serving():
        with foreground.serving():  # nested (the web layer, then the app): counted once each
            assert foreground.busy
            worker = threading.Thread(target=lambda: (foreground.give_way(), done.set()))
            worker.start()
        assert foreground.busy and not done.is_set()  # the outer request is still in hand
    assert done.wait(5)  # answered: the background goes on at once, not after its patience
    assert not foreground.busy


def test_give_way_goes_on_after_its_patience_under_a_steady_stream_of_requests():
    foreground = Foreground(enabled=True, patience=0.01)
    with foreground.serving():
        done = threading.Event()
        worker = threading.Thread(target=lambda: (foreground.give_way(), done.set()))
        worker.start()
        assert done.wait(5)  # the request is still in hand, but the background is not starved
    assert foreground.waited > 0


def test_after_a_request_the_background_waits_for_a_quiet_moment():
    """Requests come in runs: a step started just after one would hold up the next."""
    foreground = Foreground(enabled=True, patience=60, quiet=0.05)
    with foreground.serving():
        pass
    returned: list[float] = []
    worker = threading.Thread(target=lambda: (foreground.give_way(), returned.append(time.monotonic())))
    worker.start()
    worker.join(5)
    assert returned and returned[0] - foreground._last_done >= 0.05


@contextmanager
def request_in_another_thread(foreground: Foreground) -> Iterator[None]:
    """A request being served, by a thread of its own, for as long as the block runs."""
    started, release = threading.Event(), threading.Event()

    def serve() -> None:
        with foreground.serving():
            started.set()
            release.wait(10)

    server = threading.Thread(target=serve)
    server.start()
    started.wait(5)
    try:
        yield
    finally:
        release.set()
        server.join(5)


def test_having_waited_out_its_patience_a_background_thread_has_a_turn():
    foreground = Foreground(enabled=True, patience=0.01, quiet=0, turn=60)
    with request_in_another_thread(foreground):  # a request that does not end meanwhile
        foreground.give_way()  # waits out its patience
        waited = foreground.waited
        assert waited >= 0.01
        for _ in range(100):
            foreground.give_way()  # its turn: no waiting at all
        assert foreground.waited == waited
        other = threading.Thread(target=foreground.give_way)  # the turn is this thread's, not every thread's
        other.start()
        other.join(5)
        assert foreground.waited > waited


def test_a_thread_never_waits_for_its_own_request_and_nothing_waits_where_it_is_off():
    """The console and tests send the replies in the thread that took the message; only `flywheel run` and
    `flywheel web`, where background threads run beside the requests, switch it on."""
    foreground = Foreground(enabled=True, patience=60, quiet=60)
    with foreground.serving():
        foreground.give_way()  # work done on behalf of this very request
    off = Foreground(patience=60, quiet=60)
    with off.serving():
        worker = threading.Thread(target=off.give_way)
        worker.start()
        worker.join(5)
        assert not worker.is_alive()
    off.give_way()
    assert foreground.waited == off.waited == 0


def test_serving_is_released_when_the_handling_fails():
    foreground = Foreground()
    with pytest.raises(RuntimeError), foreground.serving():
        raise RuntimeError("a handler failed")
    assert not foreground.busy


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_fan_out_during_a_request_takes_small_batches_cuts_them_short_and_prompts_everyone_once(
    database, tmp_path, request, monkeypatch
):
    url = request.getfixturevalue("postgres_url") if database == "postgres" else None
    h = make_harness(tmp_path, start=DUE, config=TEAM, database_url=url)
    try:
        limits: list[int] = []
        runs_due = repo.runs_due

        def counted(s, *, now, kind, limit):
            if kind == "deliver":
                limits.append(limit)
            return runs_due(s, now=now, kind=kind, limit=limit)

        monkeypatch.setattr(repo, "runs_due", counted)
        monkeypatch.setattr(bot.ticker, "YIELD_AFTER", 0.0)  # cut every batch after its first run
        h.app.foreground.enabled = True  # as `flywheel run` does; the request is this thread's, so it never waits
        with h.app.foreground.serving():
            report = h.app.tick()
        assert report.delivered == len(TEAM["members"]) == 60
        assert set(limits) == {bot.ticker.BATCH_WHILE_SERVING}
        assert len(limits) > 60 // bot.ticker.BATCH_WHILE_SERVING + 1  # cut short, batch after batch
        prompted = Counter(handle for handle, _ in h.prompts())
        assert prompted == {m["handle"]: 1 for m in TEAM["members"]}
        with transaction(h.app.sessions) as s:
            statuses = Counter(r.status for r in s.exec(select(ConversationRun)))
        assert statuses == {"prompted": 60}

        # Nobody waiting: one batch takes what is due at once.
        limits.clear()
        h.clock.set(local("Europe/London", 2026, 12, 4, 15, 0))
        h.app.tick()
        assert limits[0] == bot.ticker.BATCH
    finally:
        h.app.close()


def test_the_outbox_claims_fewer_messages_while_a_request_is_served_and_sends_each_once(tmp_path, monkeypatch):
    h = make_harness(tmp_path, start=DUE, config=TEAM)
    try:
        with transaction(h.app.sessions) as s:
            for m in s.exec(select(Member)):
                repo.enqueue(
                    s,
                    dedup_key=f"t:{m.id}",
                    member_id=m.id,
                    kind="reply",
                    now=h.clock.now(),
                    body=encode_replies([Reply("common/help")]),
                )
        claims: list[int] = []
        claim = repo.claim_outbox

        def counted(s, **kw):
            rows = claim(s, **kw)
            claims.append(kw["limit"])
            return rows

        monkeypatch.setattr(repo, "claim_outbox", counted)
        h.app.foreground.enabled = True
        with h.app.foreground.serving():
            assert h.app.deliver_outbox() == (60, 0)
        assert set(claims) == {OUTBOX_CLAIM_WHILE_SERVING}
        assert Counter(r.address for r, _ in h.fake.sent) == {m["handle"]: 1 for m in TEAM["members"]}
        claims.clear()
        h.app.deliver_outbox()
        assert claims == [OUTBOX_CLAIM]
    finally:
        h.app.close()


def test_requests_from_platforms_are_marked_while_they_are_handled(request, monkeypatch):
    """Slack's HTTP endpoint, and every inbound event however it came (Socket Mode, Feishu, the console)."""
    app, _fake, client, clock = request.getfixturevalue("env")
    seen: list[int] = []
    handle = app.inbound.handle

    def spy(event):
        seen.append(app.foreground._serving)
        return handle(event)

    monkeypatch.setattr(app.inbound, "handle", spy)
    app.handle(
        InboundEvent(
            platform="slack", user="UALICE", kind="message", text="help", dedup_key="k1", received_at=clock.now()
        )
    )
    assert seen == [1] and not app.foreground.busy
    assert client.command("UBO", "/flywheel", "")[0] == 200
    assert seen[1:] == [2]  # inside the HTTP request, then inside the app
    assert not app.foreground.busy


def test_it_is_on_once_the_outbox_pump_runs_beside_the_requests(tmp_path):
    """`flywheel run` and `flywheel web` start the pump; the console and tests, which do not, never wait."""
    h = make_harness(tmp_path, start=DUE)
    try:
        assert not h.app.foreground.enabled
        pump = h.app.outbox.pump().start()
        try:
            assert h.app.foreground.enabled
        finally:
            pump.stop()
    finally:
        h.app.close()
