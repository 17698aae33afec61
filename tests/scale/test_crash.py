"""SIGKILL at many points of one 500-member fan-out, on SQLite and on PostgreSQL, restarting after each kill.

One replica process at a time (SQLite allows no more), all 500 members due at the same instant. The kill points, in
order, each followed by a fresh process:

1. inside the scheduler's transaction, after 150 of the 200 prompts of a batch were queued (not committed);
2. after Slack recorded the very first prompt, before the sender could commit it;
3. after a batch was claimed and six of it sent, before the seventh was posted;
4. after Slack recorded the 55th prompt of that process, before the commit;
5. the same, at the 230th;
6. while reconciling: holding the third DM-history lookup of messages whose sender's lease ran out;
7. after a reconciled message (not found in the history) was posted again, before that was committed;
8. none: the last process finishes the fan-out.

At the end every member has seen exactly one prompt, every outbox message is `sent` and was posted once, and every
message a killed process left `sending` was looked up in that member's DM history before anything else was posted to
them.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest

from fakes.slack_api import FakeSlack
from tests.helpers import local
from tests.scale.harness import (
    Holder,
    Replica,
    outbox_rows,
    posts_per_outbox_id,
    slack_id,
    tick_until_killed,
    write_org,
)

MEMBERS = 500
# (seconds after the due instant, how the process is stopped): ("pause", point, n) hangs in the process;
# ("hold", method, n) holds the nth successful call of `method` at the fake Slack after recording it.
KILLS = [
    (0, ("pause", "enqueue", 150)),
    (0, ("hold", "chat.postMessage", 1)),
    (10, ("pause", "send", 7)),
    (20, ("hold", "chat.postMessage", 55)),
    (30, ("hold", "chat.postMessage", 230)),
    (125, ("hold", "conversations.history", 3)),
    (200, ("hold", "chat.postMessage", 1)),
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_anywhere_in_a_fan_out_then_restart(backend, tmp_path, request):
    started = time.monotonic()
    url = f"sqlite:///{tmp_path / 'f.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    fake = FakeSlack().start()
    holder = Holder()
    fake.gate = holder
    org = write_org(tmp_path / "org.yaml", MEMBERS, zones=("Europe/London",))
    due = local("Europe/London", 2026, 3, 6, 15, 0)
    uncertain: list[tuple[int, set[str]]] = []  # (fake.calls index at the kill, DMs of messages left "sending")
    processes = 0
    try:
        for offset, (how, what, nth) in KILLS:
            replica = Replica(f"p{processes}", database_url=url, fake=fake, org=org, start=due, logs=tmp_path)
            processes += 1
            replica.expect("ready")
            if how == "pause":
                replica.send(f"pause {what} {nth}")
                replica.expect("armed")
            else:
                holder.arm(what, nth)
            tick_until_killed([replica], due + timedelta(seconds=offset), holder)
            rows = outbox_rows(url)
            if processes == 1:  # killed inside the transaction: nothing of it was kept
                assert rows == {} and fake.delivered == []
            uncertain.append(
                (len(fake.calls), {row["slack_user_id"] for row in rows.values() if row["status"] == "sending"})
            )
        last = Replica(f"p{processes}", database_url=url, fake=fake, org=org, start=due, logs=tmp_path)
        last.expect("ready")
        report = last.tick(due + timedelta(seconds=400))
        assert report["failed"] == 0
        last.stop()

        assert Counter(call.params["channel"] for call, _ts in fake.delivered) == Counter(
            {slack_id(i): 1 for i in range(MEMBERS)}
        )  # what members saw: one prompt each
        rows = outbox_rows(url)
        assert len(rows) == MEMBERS and {row["status"] for row in rows.values()} == {"sent"}
        assert set(posts_per_outbox_id(fake)) == set(rows) and set(posts_per_outbox_id(fake).values()) == {1}
        held_back = sum(1 for _, dms in uncertain for _ in dms)
        assert held_back > 40  # the kills really left claimed work behind
        for at, dms in uncertain:  # reconciled before anything was posted to that member again
            for dm in dms:
                later = [c for c in fake.calls[at:] if c.params.get("channel") in (dm, "D" + dm)]
                assert later and later[0].method == "conversations.history", (dm, [c.method for c in later])
    finally:
        fake.stop()
    print(
        f"\n{backend}: {len(KILLS)} kills, {processes + 1} processes, {MEMBERS} members: "
        f"{time.monotonic() - started:.1f}s"
    )
