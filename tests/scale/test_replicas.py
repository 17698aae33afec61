"""Two and three replicas as separate processes on one PostgreSQL database, against one fake Slack.

500 members in seven time zones (three of which change to or from daylight saving time during the run), eight weekly
cycles. The replicas start together on an empty database and tick together at every due instant, on a clock the
test sets. In four of the cycles, the sender of the nth prompt of one time zone's fan-out is killed with SIGKILL
after Slack has recorded that prompt and before the replica could commit it; two cycles later a fresh replica
takes its place, so the cycles run on three replicas, on two, and with one dying mid-way.

What members see (the fake Slack's records) is counted per week: exactly one prompt per member, no duplicate, no
miss. The survivors leave the dead replica's claimed messages alone while its lease lasts (119 s later they are still
"sending") and take them over at the first tick after it ran out (121 s), reconciling each against the DM history
(message metadata carries the outbox id) before posting — so the prompt Slack already had is not posted again.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, timedelta

import pytest

from fakes.slack_api import FakeSlack
from tests.helpers import local
from tests.scale.harness import (
    ZONES,
    Holder,
    Replica,
    outbox_id,
    outbox_rows,
    posts_per_outbox_id,
    prompts_by_period,
    slack_id,
    tick_until_killed,
    write_org,
)

MEMBERS = 500
CYCLES = 8
FIRST_FRIDAY = date(2026, 3, 6)  # then US DST (Mar 8), EU DST (Mar 29) and the end of Sydney's DST (Apr 5)
KILLS = {1: (3, 1), 3: (4, 45), 5: (0, 20), 7: (6, 71)}  # cycle → (which due instant of the week, nth prompt in it)


@pytest.mark.timeout(300)
def test_replicas_on_postgres_prompt_everyone_exactly_once_through_kills(postgres_url, tmp_path):
    started = time.monotonic()
    fake = FakeSlack().start()
    holder = Holder()
    fake.gate = holder
    org = write_org(tmp_path / "org.yaml", MEMBERS)
    first = local("Australia/Sydney", 2026, 3, 6, 15, 0)
    names = iter(f"r{i}" for i in range(20))

    def replica():
        return Replica(next(names), database_url=postgres_url, fake=fake, org=org, start=first, logs=tmp_path)

    live = [replica() for _ in range(3)]  # all three start at once on an empty database
    restart_at: dict[int, int] = {}
    everyone = Counter({slack_id(i): 1 for i in range(MEMBERS)})
    try:
        for r in live:
            r.expect("ready")
        for cycle in range(CYCLES):
            for _ in range(restart_at.pop(cycle, 0)):
                live.append(replica())
                live[-1].expect("ready")
            friday = FIRST_FRIDAY + timedelta(weeks=cycle)
            dues = sorted({local(tz, friday.year, friday.month, friday.day, 15, 0) for tz in ZONES})
            assert len(dues) == len(ZONES)
            for index, when in enumerate(dues):
                kill = KILLS.get(cycle)
                if kill is None or kill[0] != index:
                    for r in live:
                        r.send(f"tick {when.isoformat()}")
                    for r in live:
                        r.expect("done")
                    continue
                holder.arm("chat.postMessage", kill[1])
                dead = tick_until_killed(live, when, holder)
                live.remove(dead)
                restart_at[cycle + 2] = restart_at.get(cycle + 2, 0) + 1
                held = holder.call
                assert held is not None and held.token == dead.token
                rows = outbox_rows(postgres_url)
                stuck = {i for i, row in rows.items() if row["status"] == "sending"}
                held_id = outbox_id(held)
                assert held_id in stuck  # Slack has it; the database does not know
                assert len({rows[i]["lease_owner"] for i in stuck}) == 1  # all claimed by the dead replica

                for r in live:  # inside the lease: nobody touches the dead replica's messages
                    r.tick(when + timedelta(seconds=119))
                rows = outbox_rows(postgres_url)
                assert {i for i, row in rows.items() if row["status"] == "sending"} == stuck
                before = len(fake.calls)
                # Outcomes are recorded per claimed batch, so Slack may already have several of the stuck messages.
                already = {i for i in stuck if posts_per_outbox_id(fake).get(i)}
                assert held_id in already
                for r in live:  # the lease ran out: the survivors take over at their next tick
                    r.tick(when + timedelta(seconds=121))
                rows = outbox_rows(postgres_url)
                assert all(rows[i]["status"] == "sent" for i in stuck)
                after = [c.method for c in fake.calls[before:]]
                assert after.count("conversations.history") == len(stuck)  # each one reconciled first
                assert after.count("chat.postMessage") == len(stuck) - len(already)  # none Slack already had
                assert posts_per_outbox_id(fake)[held_id] == 1
            by_period = prompts_by_period(fake, postgres_url)
            assert len(by_period) == cycle + 1
            assert all(seen == everyone for seen in by_period.values()), {
                p: (len(seen), sum(seen.values())) for p, seen in by_period.items()
            }
        assert set(Counter(posts_per_outbox_id(fake).values())) == {1}
        assert len(fake.delivered) == MEMBERS * CYCLES
        assert all(row["status"] == "sent" for row in outbox_rows(postgres_url).values())
    finally:
        for r in live:
            r.stop()
        fake.stop()
    print(f"\n{CYCLES} cycles × {MEMBERS} members, {len(KILLS)} kills: {time.monotonic() - started:.1f}s")
