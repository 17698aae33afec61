"""Exactly once across a frozen replica (issue 19): SIGSTOP a sending replica past its lease, SIGCONT it later.

Replica A (a `tests.scale.worker` process) ticks a 55-member fan-out and is frozen with SIGSTOP at a chosen point of
its sending — just before the fence of its nth message (so between two sends, at the start, the end or across the
end of a claimed batch), or in the middle of a post that Slack has already recorded and whose answer the fake holds
back. The test waits until A's leases have run out on the database's clock; then replica B (another process: a
replica ticking on PostgreSQL, the sending `web` process beside the scheduler on SQLite) takes A's batch over —
reconciling each message against the DM history first — and sends the rest. Then A is resumed with SIGCONT. In the
"no takeover" cycles nobody comes between: A resumes alone past its lease and must not trust it.

Leases are on the database's clock, as in production, and short (FLYWHEEL_TEST_LEASE, 2 s), so real time has to
pass: the test waits on the database (every lease run out), never on a sleep. A's own clock is set 45 s ahead of or
behind the test's time line in some cycles (FLYWHEEL_TEST_CLOCK_SKEW) — far more than the lease — which with
leases on the replicas' clocks would let one replica take a lease over early or keep trusting its own; on the
database's clock it changes nothing. A's clock is a frozen test clock: after SIGCONT it believes no time has passed,
so only the fence (the lease confirmed in the database before each post) can stop it.

Each cycle is one week: every member sees exactly one prompt, every outbox message reached Slack exactly once,
and after a takeover the resumed A posts none of the messages it held when it froze.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from fakes.slack_api import FakeSlack
from tests.helpers import local
from tests.scale.harness import (
    Holder,
    Replica,
    outbox_id,
    outbox_rows,
    posts_per_outbox_id,
    prompts_by_period,
    slack_id,
    wait_until,
    write_org,
)

MEMBERS = 55  # more than one claim (50): the freeze points cover both batches
LEASE = 2.0  # seconds, on the database's clock
SKEW = 45.0  # seconds: far more than the lease
FIRST_FRIDAY = date(2026, 3, 6)


@dataclass(frozen=True)
class Cycle:
    skew: float  # A's clock against the test's time line
    how: str  # "fence": frozen just before its nth fence; "post": frozen while Slack holds the nth post's answer
    nth: int
    takeover: bool = True  # B sends while A is frozen


CYCLES = [
    Cycle(0, "fence", 1),  # before its very first message
    Cycle(0, "fence", 50),  # the last message of the first claim
    Cycle(0, "fence", 51),  # the first of the second claim
    Cycle(0, "post", 5),  # Slack has the 5th post; A is frozen before it hears so
    Cycle(0, "fence", 20, takeover=False),
    Cycle(SKEW, "post", 30),
    Cycle(-SKEW, "post", 44),
    Cycle(-SKEW, "fence", 53, takeover=False),
]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def _leases_held(url: str) -> int:
    """Messages whose lease has not yet run out, on the database's clock (as the bot reads it: `repo.db_now`)."""
    engine = sa.create_engine(url)
    now = (
        "timezone('UTC', clock_timestamp())"
        if engine.dialect.name == "postgresql"
        else "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    )
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(f"SELECT count(*) FROM outbox_message WHERE status = 'sending' AND lease_until > {now}")
            ).scalar_one()
    finally:
        engine.dispose()


def _replica(name: str, url: str, fake: FakeSlack, org: Path, tmp_path: Path, **env: str) -> Replica:
    env = {"FLYWHEEL_TEST_LEASE": str(LEASE), **env}
    replica = Replica(
        name, database_url=url, fake=fake, org=org, start=local("Europe/London", 2026, 3, 6), logs=tmp_path, env=env
    )
    replica.expect("ready")
    return replica


@pytest.mark.timeout(300)  # 70-90 s a database with ten cycles on a 2-core machine shared with other test runs
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_replica_frozen_past_its_lease_sends_nothing_it_no_longer_holds(backend, tmp_path, request):
    started = time.monotonic()
    url = f"sqlite:///{tmp_path / 'f.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    fake = FakeSlack().start()
    holder = Holder()
    fake.gate = holder
    org = write_org(tmp_path / "org.yaml", MEMBERS, zones=("Europe/London",))
    everyone = Counter({slack_id(i): 1 for i in range(MEMBERS)})
    # SQLite: one scheduler per file, so B is a process that only sends; PostgreSQL: a replica like A.
    b = _replica(
        "b",
        url,
        fake,
        org,
        tmp_path,
        FLYWHEEL_TEST_LEASE="60",  # B is never frozen; on a busy machine a 2 s lease could run out under it
        **({"FLYWHEEL_TEST_SENDER_ONLY": "1"} if backend == "sqlite" else {}),
    )
    replicas: dict[float, Replica] = {}
    a: Replica | None = None
    try:
        for week, cycle in enumerate(CYCLES):
            if cycle.skew not in replicas:
                if backend == "sqlite" and a is not None:  # one scheduler at a time on a SQLite file
                    a.stop()
                    replicas.pop(next(k for k, r in replicas.items() if r is a))
                replicas[cycle.skew] = _replica(
                    f"a{week}", url, fake, org, tmp_path, FLYWHEEL_TEST_CLOCK_SKEW=str(cycle.skew)
                )
            a = replicas[cycle.skew]
            friday = FIRST_FRIDAY + timedelta(weeks=week)
            when = local("Europe/London", friday.year, friday.month, friday.day, 15, 1)  # due at 15:00
            if cycle.how == "fence":
                a.send(f"freeze fence {cycle.nth}")
                a.expect("armed")
            else:
                holder.arm("chat.postMessage", cycle.nth)
            a.send(f"tick {when.isoformat()}")
            if cycle.how == "fence":
                a.expect(f"frozen fence {cycle.nth}")
            else:
                wait_until(holder.held.is_set, f"A's post {cycle.nth}")
                os.kill(a.proc.pid, signal.SIGSTOP)
            wait_until(lambda: _state(a.proc.pid) == "T", "A to stop")  # noqa: B023 - called at once
            frozen_batch = {i for i, row in outbox_rows(url).items() if row["status"] == "sending"}  # all A's
            assert frozen_batch
            wait_until(lambda: _leases_held(url) == 0, "A's leases to run out on the database's clock")
            if cycle.takeover:
                b.send(f"deliver {when.isoformat()}" if backend == "sqlite" else f"tick {when.isoformat()}")
                b.expect("done")
            resumed_at = len(fake.calls)
            os.kill(a.proc.pid, signal.SIGCONT)
            holder.release()
            a.expect("done")
            b.send(f"deliver {when.isoformat()}")  # anything A handed back after it resumed
            b.expect("done")

            by_period = prompts_by_period(fake, url)
            assert len(by_period) == week + 1
            assert all(seen == everyone for seen in by_period.values()), (
                cycle,
                {p: (len(seen), sum(seen.values())) for p, seen in by_period.items()},
            )
            posts = posts_per_outbox_id(fake)
            assert set(posts.values()) == {1}, (cycle, [i for i, n in posts.items() if n > 1])
            if cycle.takeover:  # what A held when it froze was taken over: the resumed A posts none of it
                by_a = [
                    outbox_id(c)
                    for c in fake.calls[resumed_at:]
                    if c.token == a.token and c.method == "chat.postMessage" and outbox_id(c) in frozen_batch
                ]
                assert by_a == [], (cycle, by_a)
        rows = outbox_rows(url)
        assert {row["status"] for row in rows.values()} == {"sent"}
        assert len(fake.delivered) == len(rows)
    finally:
        for r in (*replicas.values(), b):
            if r.proc.poll() is None:
                os.kill(r.proc.pid, signal.SIGCONT)
            r.stop()
        fake.stop()
    print(f"\n{backend}: {len(CYCLES)} freezes, {MEMBERS} members: {time.monotonic() - started:.1f}s")
