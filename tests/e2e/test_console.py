"""The console end to end, exactly as a person runs it: `flywheel console < script`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FEISHU_", "FLYWHEEL_"))}
    env["DATABASE_URL"] = f"sqlite:///{db}"
    return env


def console(db: Path, script: str, *, clock: str = "2026-11-25 10:00", who: str | None = None) -> str:
    args = [sys.executable, "-m", "bot", "console", "--clock", clock]
    if who:
        args += ["--as", who]
    done = subprocess.run(args, input=script, capture_output=True, text=True, cwd=ROOT, env=_env(db), timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def rows(db: Path, sql: str) -> list[tuple]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def answers(db: Path, handle: str, period: str) -> dict[str, object]:
    """The stored answers of one run, decoded from their JSON column."""
    found = rows(
        db,
        f"""select a.step, a.value from answer a join conversation_run r on r.id = a.run_id
                              join member m on m.id = r.member_id
                              where m.handle = '{handle}' and r.period = '{period}'""",
    )
    return {step: json.loads(value) if isinstance(value, str) else value for step, value in found}


ENGLISH = """\
/clock 2026-11-27 15:00
great
7
4
back
3
Shipped the onboarding flow with Bo
Waiting for the API keys from IT
finish the billing page; review Chen's design
no
edit
2
Shipped the onboarding flow with Bo and Chen
/clock 2026-12-04 15:00
4
Unblocked billing
1 done 2 partly
3 resolved
none
ship billing; write the runbook
skip
"""


def test_full_check_in_in_english(tmp_path):
    db = tmp_path / "f.db"
    out = console(db, ENGLISH)
    assert "(1/5) How was your week, on a scale of 1 to 5?" in out
    assert out.count("Please answer with a number from 1 to 5.") == 2  # "great" and "7" are re-asked
    assert "Your answer so far: “4”" in out  # back shows the earlier answer
    assert "Thanks, Alice — check-in done ✅" in out
    assert "Which answer would you like to change?" in out
    assert "Updated ✏️" in out
    # The next week asks about each priority set this week and last week's blocker, in one list.
    assert (
        "(3/6) First, a quick look back: one status for each item.\n"
        "Last week's priorities (done / partly / not done):\n"
        "1. “finish the billing page”\n2. “review Chen's design”\n"
        "Obstacles still open (resolved / still / drop):\n3. “Waiting for the API keys from IT”"
    ) in out
    assert "Noted for 1, 2 ✏️" in out  # a partial answer: the rest can follow
    assert answers(db, "alice", "2026-W48") == {
        "mood": 3,
        "wins": "Shipped the onboarding flow with Bo and Chen",
        "blockers": "Waiting for the API keys from IT",
        "priorities": ["finish the billing page", "review Chen's design"],
        "manager_help": None,
    }
    w49 = answers(db, "alice", "2026-W49")
    assert (w49["plan_review:0"], w49["plan_review:1"], w49["obstacle_status:0"], w49["blockers"]) == (
        "done",
        "partly",
        "resolved",
        None,
    )
    assert rows(db, "select text, status from obstacle") == [("Waiting for the API keys from IT", "resolved")]
    assert rows(
        db,
        "select status from conversation_run r join member m on m.id = r.member_id "
        "where m.handle = 'alice' and flow = 'weekly_checkin' order by period",
    ) == [("completed",), ("completed",)]


CHINESE = """\
/as chen
/clock 2026-11-27 15:00 Asia/Shanghai
很好
４
返回
5
和团队一起完成了发布 🎉
测试环境经常不稳定
写文档；修复登录 bug；准备季度复盘
没有
修改 3
测试环境不稳定，需要运维协助
"""


def test_full_check_in_in_chinese(tmp_path):
    db = tmp_path / "f.db"
    out = console(db, CHINESE)
    assert "陈晨，你好 👋 又到每周小结的时间了" in out
    assert "请回复 1 到 5 之间的数字。" in out
    assert "好的，回到上一题。" in out
    assert "你之前的回答：“4”" in out  # full-width ４ was read as 4
    assert "谢谢你，陈晨！本周小结完成了 ✅" in out
    assert "已更新 ✏️" in out
    assert "下周重点：写文档；修复登录 bug；准备季度复盘" in out
    got = answers(db, "chen", "2026-W48")
    assert got["mood"] == 5
    assert got["blockers"] == "测试环境不稳定，需要运维协助"
    assert got["priorities"] == ["写文档", "修复登录 bug", "准备季度复盘"]


def test_skip_later_help_and_pause(tmp_path):
    db = tmp_path / "f.db"
    out = console(db, "/help\n/checkin\nlater\n/clock +2h\n4\nskip\n/checkin\n/pause until 2027-01-04\n/who\n")
    assert "/as <name>" in out and "• /checkin — start (or continue) this week's check-in" in out
    assert "No problem — I'll come back to you on Wed 25 Nov, 12:00." in out
    assert "As promised, here's your check-in again:" in out
    assert (
        "Okay, skipping this week's check-in — I kept the 1 answer "
        "you gave, and Maria will see it when the check-in closes." in out
    )
    assert "Welcome back — let's pick up where you left off." in out
    assert "no check-ins until Mon 4 Jan 2027" in out
    assert "paused until 2027-01-04" in out


def test_a_second_process_resumes_where_the_first_was_killed(tmp_path):
    db = tmp_path / "f.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "console", "--clock", "2026-11-27 16:00", "--script"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(db),
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write("/checkin\n4\nA calm week\n")
    proc.stdin.flush()
    seen = ""
    deadline = time.monotonic() + 60
    while "(3/5)" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    assert "(3/5)" in seen
    proc.send_signal(signal.SIGKILL)  # mid-check-in: no chance to clean up
    proc.wait(timeout=30)

    out = console(db, "none\nship it\nno\n", clock="2026-11-27 16:05")
    assert "(alice has a check-in waiting at question 3 of 5: answer it here.)" in out
    assert "(1/5)" not in out and "(2/5)" not in out  # nothing is asked twice
    assert "(4/5) What are your top priorities" in out
    assert "Thanks, Alice — check-in done ✅" in out
    assert rows(db, "select step, count(*) from answer group by step order by step") == [
        ("blockers", 1),
        ("manager_help", 1),
        ("mood", 1),
        ("priorities", 1),
        ("wins", 1),
    ]
    assert rows(db, "select count(*) from outbox_message where kind = 'deliver'") == [(0,)]
    assert rows(db, "select flow, status from conversation_run") == [("weekly_checkin", "completed")]


def start(db: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", *args],
        input=script,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(db),
        timeout=120,
    )


def test_a_second_start_continues_where_the_consoles_clock_last_was(tmp_path):
    db = tmp_path / "flywheel.db"
    first = console(db, "/clock fri 15:00\n4\n")  # Wed 25 Nov → Fri 27 Nov 15:00, the check-in opens
    assert "(2/5) What went well this week" in first
    assert "Found" not in first  # a new database: nothing to tell
    runs = rows(db, "select count(*) from conversation_run")[0][0]
    again = start(db, "A calm week\n")  # no --clock: the console's own clock, not real time
    assert again.returncode == 0, again.stderr
    assert (
        f"Found flywheel.db with 4 members and {runs} conversation{'s' if runs != 1 else ''}; continuing at "
        "Fri 27 Nov 15:00, where the console's clock last was."
    ) in again.stdout
    assert "🕒 Fri 27 Nov 2026 15:00 Europe/London for alice" in again.stdout
    assert "(3/5)" in again.stdout and "has closed" not in again.stdout
    assert answers(db, "alice", "2026-W48") == {"mood": 4, "wins": "A calm week"}


def test_fresh_starts_the_demo_over_after_saying_what_it_deletes(tmp_path):
    db = tmp_path / "flywheel.db"
    console(db, "/clock fri 15:00\n4\nShipped it\n")
    runs = rows(db, "select count(*) from conversation_run")[0][0]
    over = start(db, "/who\n", "--fresh", "--clock", "2026-11-25 10:00")
    assert over.returncode == 0, over.stderr
    assert over.stdout.startswith(
        f"Starting the demo over: deleting flywheel.db (4 members, {runs} conversations) and creating it again.\n"
    )
    assert "Found" not in over.stdout and "no check-in yet" in over.stdout
    assert rows(db, "select count(*) from answer") == [(0,)]


def test_fresh_never_deletes_a_database_that_holds_a_real_organisation(tmp_path):
    db = tmp_path / "flywheel.db"
    console(db, "/checkin\n4\n")
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into member_identity (member_id, platform, external_id) "
                "select id, 'slack', 'U0MARIA' from member where handle = 'maria'"
            )
        )
    engine.dispose()
    refused = start(db, "/who\n", "--fresh")
    assert refused.returncode == 2
    assert "holds members from Slack or Feishu" in refused.stderr and "nothing was deleted" in refused.stderr
    assert rows(db, "select count(*) from answer") == [(1,)]


def test_relative_clock_and_pause_in_the_console(tmp_path):
    out = console(
        tmp_path / "f.db",
        "/clock fri 15:00\n/pause until next monday\n/pause until 2026-11-01\n"
        "/as chen\n/pause 两周\n/clock 下周一 9点\n/clock yesterday\n",
    )
    assert "🕒 Fri 27 Nov 2026 15:00 Europe/London for alice" in out
    assert "no check-ins until Mon 30 Nov 2026" in out
    assert "I couldn't read that. Try `/pause until next monday`" in out  # a past date, refused with a usable example
    assert "2026年12月11日（周五）之前不会再请你填每周小结" in out  # Chen's Friday 23:00 + two weeks
    assert "🕒 Mon 30 Nov 2026 09:00 Asia/Shanghai for chen" in out
    assert "Try /clock +3d, /clock +2h30m, /clock fri 15:00" in out


def test_messages_for_someone_else_wait_across_a_restart(tmp_path):
    """What the console kept for a member you were not acting as is still there after a restart (trial finding:
    a manager's reply, shown as "1 unread message for alice", was gone after quitting)."""
    db = tmp_path / "f.db"
    first = console(db, "/kudos @maria for the clear launch plan #teamwork\n/quit\n")
    assert "unread message for maria" in first
    again = console(db, "/quit\n")
    assert "📬 Messages still waiting from before: 1 for maria (type /as NAME to read)." in again
    shown = console(db, "/quit\n", who="maria")
    assert "for the clear launch plan" in shown and "Flywheel → maria" in shown
    assert "waiting from before" not in console(db, "/quit\n")  # read once, then gone
