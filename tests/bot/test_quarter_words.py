"""What a new user met in a trial of the quarterly talk and goals: the words the bot uses for them (the waiting
note, the on-demand `/quarter`, the quarter a talk plans, numbers as typed, the lagging hint, agreement notes)."""

from __future__ import annotations

from sqlmodel import select

from storage.db import transaction
from storage.models import Goal, Member
from tests.helpers import DEMO, local, make_harness

LONDON = "Europe/London"
SHANGHAI = "Asia/Shanghai"


def _to(h, handle: str, since: int = 0, kind: str | None = None) -> list[str]:
    return [m.text for r, m in h.fake.sent[since:] if r.address == handle and (kind is None or m.kind == kind)]


def _goals(h, handle: str) -> list[Goal]:
    with transaction(h.app.sessions) as s:
        member = s.exec(select(Member).where(Member.handle == handle)).one()
        return list(s.exec(select(Goal).where(Goal.owner_id == member.id).order_by(Goal.number)))


def test_the_waiting_note_names_the_flow_by_its_title_and_says_when_it_really_comes(tmp_path):
    config = {
        "members": [
            {"handle": "maria", "name": "Maria Rossi", "timezone": LONDON},
            {"handle": "alice", "name": "Alice Martin", "manager": "maria", "timezone": LONDON},
            {"handle": "chen", "name": "陈晨", "manager": "maria", "timezone": SHANGHAI, "locale": "zh"},
        ],
        "flows": {"monthly_review": {"enabled": False}},
    }
    h = make_harness(tmp_path, start=local(LONDON, 2026, 12, 31, 12, 0), config=config)
    try:
        h.run_until(local(SHANGHAI, 2027, 1, 1, 9, 50))
        h.say("chen", "/checkin")
        h.say("chen", "4")  # in the check-in when the quarterly talk falls due at 10:00
        mark = len(h.fake.sent)
        h.run_until(local(SHANGHAI, 2027, 1, 1, 10, 5))
        zh = [t for t in _to(h, "chen", mark) if t.startswith("📌")]
        assert zh == [
            "📌 季度目标与发展对话已经准备好了。等你完成当前的每周小结后就会发给你；如果你先放着不答，"
            "大约两小时后也会发来。这样你在当前对话里的回答不会被弄混。"
        ]
        assert "quarterly_talk" not in "".join(_to(h, "chen"))

        h.run_until(local(LONDON, 2027, 1, 1, 9, 50))
        h.say("alice", "/checkin")
        h.say("alice", "4")
        mark = len(h.fake.sent)
        h.run_until(local(LONDON, 2027, 1, 1, 10, 5))
        en = [t for t in _to(h, "alice", mark) if t.startswith("📌")]
        assert en == [
            "📌 Quarterly goal and development talk is ready. It will come once you have finished your weekly "
            "check-in, or in a couple of hours if you leave that one for now, so your answers there stay where "
            "they belong."
        ]
        # Left alone, the check-in gives way after two hours, as the note said.
        h.run_until(local(LONDON, 2027, 1, 1, 12, 30))
        assert _to(h, "alice", mark)[1].startswith("Hi Alice 👋 A new quarter starts: time for your quarterly goal")
    finally:
        h.app.close()


TALK = (
    "Spoke at the all-hands",
    "Faster onboarding; KR activation from 40 to 60 %",
    "none",
    "none",
    "pair with Bo on SQL",
    "none",
)
QUIET = {"weekly_checkin": {"enabled": False}, "monthly_review": {"enabled": False}}


def test_quarter_works_at_any_time_in_the_quarter_and_a_refusal_says_when_the_next_talk_comes(tmp_path):
    config = {"members": DEMO["members"], "flows": QUIET}
    h = make_harness(tmp_path, start=local(LONDON, 2027, 3, 30, 12, 0), config=config)
    try:
        # Alice and Chen let the scheduled talk of 1 April close unanswered; Bo has it.
        h.run_until(local(LONDON, 2027, 4, 1, 15, 0))
        for text in TALK:
            h.say("bo", text)
        assert [r.status for r in h.runs("bo") if r.flow == "quarterly_talk"] == ["completed"]
        h.run_until(local(LONDON, 2027, 6, 1, 10, 0))  # Tuesday 1 June: mid-quarter
        assert [r.status for r in h.runs("alice") if r.flow == "quarterly_talk"] == ["expired"]
        assert h.say("alice", "/quarter")[0].startswith("Here's your quarterly goal and development talk, Alice")
        assert h.say("chen", "/季度")[0].startswith("陈晨，这是你的季度目标与发展对话")
        for text in TALK:
            h.say("alice", text)
        assert [g.quarter for g in _goals(h, "alice")] == ["2027-Q2"]
        assert h.say("bo", "/quarter") == [
            "You have had this quarter's talk ✅ (its answers could be changed until Thu 15 Apr, 10:00). `/goals` "
            "shows your goals, and `/goals edit 1 …` still changes one. The next one comes on Thu 1 Jul, 10:00, and "
            "I'll send it to you then."
        ]
    finally:
        h.app.close()


def test_progress_is_echoed_as_typed_and_an_error_quotes_the_part_as_typed(tmp_path):
    h = make_harness(tmp_path, start=local(LONDON, 2027, 1, 6, 11, 0))
    try:
        h.say(
            "alice",
            "/goals edit 1 Faster onboarding; KR activation from 40 to 60 %; KR guide published; KR demos 0 to 9",
        )
        h.say("maria", "/goals agree @alice")
        h.run_until(local(LONDON, 2027, 1, 8, 16, 0))
        h.say("alice", "4")
        asked = h.say("alice", "good")
        assert "Your key results this quarter" in asked[-1] or "key results" in asked[-1]
        refused = h.say("alice", "KR1 50%, KR2 dune")
        assert refused[0].startswith("I could not read “KR2 dune”.")
        echoed = h.say("alice", "KR1 50, KR2 done, KR3 7")
        print(echoed)
        for t in ("none", "ship it", "no"):
            print(h.say("alice", t))
        print(h.say("alice", "edit"))
    finally:
        h.app.close()


def test_agreeing_to_ones_own_goal_reads_naturally_and_gives_the_manager_a_command_they_can_send(tmp_path):
    h = make_harness(tmp_path, start=local(LONDON, 2027, 1, 6, 11, 0))
    try:
        h.say("alice", "/goals edit 1 Faster onboarding; KR activation from 40 to 60 %")
        h.say("alice", "/goals edit 2 Quieter on-call; KR pages per week 12 → 4")
        mark = len(h.fake.sent)
        assert h.say("alice", "/goals agree 2") == ["Goal 2: noted — still waiting for your manager to agree."]
        assert _to(h, "maria", mark) == [
            "✅ Alice agreed to goal 2. It waits for your agreement: `/goals agree @alice 2`. `/goals` shows them."
        ]
        h.say("chen", "/目标 edit 1 新人上手更快；关键结果：激活率 从40到60%")
        mark = len(h.fake.sent)
        assert h.say("chen", "/目标 agree 1") == ["目标 1：已记下你的同意，还在等经理同意。"]
        assert _to(h, "maria", mark) == [
            "✅ 陈晨 agreed to goal 1. It waits for your agreement: `/goals agree @chen 1`. `/goals` shows them."
        ]
        mark = len(h.fake.sent)
        h.say("maria", "/goals agree @chen")
        h.run_until(local(SHANGHAI, 2027, 1, 7, 10, 0))  # told in Chen's working hours
        assert _to(h, "chen", mark) == ["✅ Maria同意了你的目标 1。目标 1 已成为本季度的目标。`/goals` 可以查看。"]
        mark = len(h.fake.sent)
        assert h.say("maria", "/goals agree @alice 2") == ["Agreed ✅ Goal 2 is now one of this quarter's goals."]
        h.run_until(local(LONDON, 2027, 1, 7, 10, 0))
        assert _to(h, "alice", mark)[0].startswith("✅ Maria agreed to your goal 2. It is now one of this quarter's")
    finally:
        h.app.close()


def test_a_talk_in_a_quarters_last_weeks_plans_the_next_quarter_and_says_so(tmp_path):
    config = {"members": DEMO["members"], "flows": QUIET}
    h = make_harness(tmp_path, start=local(LONDON, 2026, 12, 7, 10, 0), config=config)  # Mon 7 Dec 2026
    try:
        intro = h.say("alice", "/quarter")[0]
        assert "Its goals are for Q1 2027." in intro
        asked = []
        for text in TALK:
            asked += h.say("alice", text)
        assert any(t.startswith("(2/6) Now the goals for Q1 2027. Your first goal") for t in asked)
        assert [g.quarter for g in _goals(h, "alice")] == ["2027-Q1"]
        assert "🎯 Goals for Q1 2027" in h.say("alice", "/goals")[0]
        assert h.say("maria", "/goals agree @alice") == ["Agreed ✅ Goal 1 is now one of next quarter's goals."]
        assert [g.agreed_at is not None for g in _goals(h, "alice")] == [True]
        zh = h.say("chen", "/季度")[0]
        assert "这次定的是 2027 年第 1 季度的目标。" in zh
        # The talk planned Q1: it does not come again when Q1 starts, and Q4's digests never call Q1's goals late.
        mark = len(h.fake.sent)
        h.run_until(local(LONDON, 2027, 1, 6, 12, 0))
        assert not any("quarterly goal and development talk" in t for t in _to(h, "alice", mark))
        assert all("key result" not in t for t in _to(h, "maria", mark, kind="digest"))
    finally:
        h.app.close()


def test_the_lagging_hint_waits_two_weeks_after_agreement_and_never_calls_the_start_progress(tmp_path):
    config = {"members": DEMO["members"], "flows": {**QUIET, "quarterly_talk": {"enabled": False}}}
    h = make_harness(tmp_path, start=local(LONDON, 2027, 5, 31, 10, 0), config=config)
    try:
        h.say("alice", "/goals edit 1 Faster onboarding; KR activation from 40 to 60 %")
        h.say("maria", "/goals agree @alice")  # agreed on Mon 31 May, with 80 % of the quarter gone
        h.say("chen", "/目标 edit 1 新人上手更快；关键结果：激活率 从40到60%")
        h.say("maria", "/goals agree @chen")
        mark = len(h.fake.sent)
        h.run_until(local(LONDON, 2027, 6, 7, 12, 0))
        digest = _to(h, "maria", mark, kind="digest")
        assert digest and all("activation" not in t and "激活率" not in t for t in digest)  # agreed a week ago
        mark = len(h.fake.sent)
        h.run_until(local(LONDON, 2027, 6, 14, 12, 0))
        digest = "\n".join(_to(h, "maria", mark, kind="digest"))
        assert (
            "the key result “activation from 40 to 60 %” (goal “Faster onboarding”) has had no progress reported "
            "since its start (40 %; target 60 %), while"
        ) in digest
        assert "is at 40" not in digest
    finally:
        h.app.close()
