"""What a new user met in a trial of the quarterly talk and goals: the words the bot uses for them (the waiting
note, the on-demand `/quarter`, the quarter a talk plans, numbers as typed, the lagging hint, agreement notes)."""

from __future__ import annotations

from tests.helpers import local, make_harness

LONDON = "Europe/London"
SHANGHAI = "Asia/Shanghai"


def _to(h, handle: str, since: int = 0, kind: str | None = None) -> list[str]:
    return [m.text for r, m in h.fake.sent[since:] if r.address == handle and (kind is None or m.kind == kind)]


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
            "📌 Quarterly goal and development talk is ready. It will come once you have finished the weekly "
            "check-in, or in a couple of hours if you leave that one for now, so your answers there stay where "
            "they belong."
        ]
        # Left alone, the check-in gives way after two hours, as the note said.
        h.run_until(local(LONDON, 2027, 1, 1, 12, 30))
        assert _to(h, "alice", mark)[1].startswith("Hi Alice 👋 A new quarter starts: time for your quarterly goal")
    finally:
        h.app.close()
