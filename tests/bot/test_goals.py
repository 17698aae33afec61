"""Goals and key results through the bot: the quarterly talk on its schedule, co-creation with the manager,
key-result progress in the weekly check-in, the lagging hint in the digest, who sees goals, export and deletion."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from storage.db import transaction
from storage.models import DevelopmentAction, Goal, GoalComment, KeyResult, Member
from tests.helpers import DEMO, local, make_harness, utc

LONDON = "Europe/London"


def _to(h, handle: str, since: int = 0, kind: str | None = None) -> list[str]:
    return [m.text for r, m in h.fake.sent[since:] if r.address == handle and (kind is None or m.kind == kind)]


def _goals(h, handle: str) -> list[Goal]:
    with transaction(h.app.sessions) as s:
        member = s.exec(select(Member).where(Member.handle == handle)).one()
        return list(s.exec(select(Goal).where(Goal.owner_id == member.id).order_by(Goal.number)))


def _krs(h, goal_id: int) -> list[KeyResult]:
    with transaction(h.app.sessions) as s:
        return list(s.exec(select(KeyResult).where(KeyResult.goal_id == goal_id).order_by(KeyResult.number)))


# ------------------------------------------------------------------------------------------------ co-creation


def test_draft_comment_edit_agree_round_trip_fixes_the_quarters_goals(tmp_path):
    h = make_harness(tmp_path, start=local(LONDON, 2027, 1, 6, 11, 0))  # the talk was planned; taken on demand
    try:
        h.say("alice", "/quarter")
        for text in (
            "Spoke at the all-hands; fixed the flaky CI",
            "Faster onboarding; KR activation from 40 to 60 %; KR onboarding guide published",
            "Quieter on-call; KR pages per week 12 → 4",
            "none",
            "present at two team demos; pair with Bo on SQL",
            "none",
        ):
            h.say("alice", text)
        goals = _goals(h, "alice")
        assert [(g.text, g.member_agreed, g.manager_agreed, g.agreed_at) for g in goals] == [
            ("Faster onboarding", True, False, None),
            ("Quieter on-call", True, False, None),
        ]
        draft = _to(h, "maria", kind="goals_draft")
        assert len(draft) == 1 and "Alice has had the quarterly talk" in draft[0]
        assert "“Faster onboarding” · draft, waiting for the manager" in draft[0]
        assert "KR1 “activation from 40 to 60 %”: 40 / 60 %" in draft[0]
        assert "Spoke at the all-hands; fixed the flaky CI" in draft[0]  # the strengths the talk named
        # The development actions are development-action records (branch `actions`).
        with transaction(h.app.sessions) as s:
            texts = sorted(
                a.text for a in s.exec(select(DevelopmentAction).where(DevelopmentAction.source == "quarterly"))
            )
        assert texts == ["pair with Bo on SQL", "present at two team demos"]

        # The manager comments on goal 1 and agrees to goal 2: goal 2 is fixed, goal 1 is not.
        mark = len(h.fake.sent)
        assert h.say("maria", "/goals comment @alice 1 Could activation reach 65?") == [
            "Comment added to Alice's goal 1; Alice will see it."
        ]
        assert h.say("maria", "/goals agree @alice 2") == ["Agreed ✅ Goal 2 is now one of this quarter's goals."]
        told = _to(h, "alice", mark)
        assert told[0].startswith(
            "💬 Maria commented on your goal 1 “Faster onboarding”:\n“Could activation reach 65?”"
        )
        assert told[1].startswith("✅ Maria agreed to your goal 2. It is now one of this quarter's goals.")
        assert [g.agreed_at is not None for g in _goals(h, "alice")] == [False, True]
        overview = h.say("alice", "/goals")[0]
        assert "💬 Maria: “Could activation reach 65?”" in overview

        # Alice edits goal 1 (her side agrees, the manager is asked again); the manager edits it once more (now
        # Alice is asked); Alice agrees: both sides agreed, and it is one of the quarter's goals.
        mark = len(h.fake.sent)
        assert h.say("alice", "/goals edit 1 Faster onboarding; KR activation from 40 to 65 %; KR guide published") == [
            "Goal 1 saved — your manager is asked to agree."
        ]
        assert "✏️ Alice changed their goal:" in _to(h, "maria", mark)[0]
        assert h.say("maria", "/goals edit @alice 1 Faster onboarding; KR activation from 40 to 70 %") == [
            "Goal 1 of Alice saved — Alice is asked to agree."
        ]
        goal = _goals(h, "alice")[0]
        assert (goal.member_agreed, goal.manager_agreed, goal.agreed_at) == (False, True, None)
        assert "Agree with `/goals agree 1`" in _to(h, "alice", mark)[-1]
        assert h.say("alice", "/goals agree 1") == ["Agreed ✅ Goal 1 is now one of this quarter's goals."]
        goal = _goals(h, "alice")[0]
        assert goal.agreed_at is not None and [k.target for k in _krs(h, goal.id)] == [70.0]
        assert "“Faster onboarding” · agreed ✅" in h.say("alice", "/goals")[0]
        # Nobody else may act on Alice's goals: the same answer as for no goals at all.
        assert h.say("bo", "/goals agree @alice 1") == ["I found no goals of that person that you can see or change."]
        assert h.say("bo", "/goals comment @alice 1 meh") == [
            "I found no goals of that person that you can see or change."
        ]
    finally:
        h.app.close()


def test_team_goals_and_alignment_in_both_languages(tmp_path):
    h = make_harness(tmp_path, start=local(LONDON, 2027, 2, 3, 11, 0))
    try:
        assert h.say("bo", "/goals team Faster; KR x") == [
            "Team goals are set by a manager for their reports; nobody reports to you in Flywheel."
        ]
        h.say("maria", "/goals team Happier customers; KR NPS 30 to 45")
        h.say("chen", "/目标 edit 1 新人上手更快；关键结果：激活率 从40到60%")
        assert h.say("chen", "/目标 align 1 1") == ["目标 1 已对齐到“Happier customers”。"]
        shown = h.say("chen", "/目标")[0]
        assert "1. “新人上手更快” · 草稿，等经理同意 · 对齐“Happier customers”" in shown
        assert "团队目标（由Maria设定）：\nT1. “Happier customers”\n   KR1“NPS 30 to 45”：30 / 45" in shown
        assert h.say("chen", "/目标 align 1 2") == ["经理本季度没有团队目标 T2。输入 `/goals` 查看团队目标。"]
        assert "陈晨 — 1. “新人上手更快”" in h.say("maria", "/goals")[0]  # the manager sees the report's goal
        assert h.say("chen", "/目标 edit 2 只有目标没有关键结果")[0].startswith("每个目标至少要有一个关键结果")
    finally:
        h.app.close()


# ------------------------------------------------------------------------------------------------ the schedule


def test_the_quarterly_talk_comes_in_each_members_first_working_days(tmp_path):
    config = {
        "members": [
            {"handle": "maria", "name": "Maria Rossi", "timezone": LONDON, "country": "GB"},
            {
                "handle": "chen",
                "name": "陈晨",
                "manager": "maria",
                "timezone": "Asia/Shanghai",
                "country": "CN",
                "locale": "zh",
            },
            {
                "handle": "sam",
                "name": "Sam Lee",
                "manager": "maria",
                "timezone": "America/Los_Angeles",
                "country": "US",
            },
        ],
        "flows": {"weekly_checkin": {"enabled": False}, "monthly_review": {"enabled": False}},
    }
    h = make_harness(tmp_path, start=local(LONDON, 2026, 9, 29, 12, 0), config=config)
    try:
        h.run_until(local(LONDON, 2026, 10, 12, 12, 0))
        assert sorted(h.prompts(flow="quarterly_talk")) == sorted(
            [
                ("maria", local(LONDON, 2026, 10, 1, 10, 0)),
                ("chen", local("Asia/Shanghai", 2026, 10, 8, 10, 0)),  # after the National Day week
                ("sam", local("America/Los_Angeles", 2026, 10, 1, 10, 0)),  # 17:00 UTC: still 1 October there
            ]
        )
        h.run_until(local(LONDON, 2027, 1, 5, 12, 0))  # New Year's Day is a Friday: London's talk waits for Monday
        q1 = [(who, at) for who, at in h.prompts(flow="quarterly_talk") if at > local(LONDON, 2026, 12, 1, 0, 0)]
        assert ("maria", local(LONDON, 2027, 1, 4, 10, 0)) in q1
        assert ("chen", local("Asia/Shanghai", 2027, 1, 4, 10, 0)) in q1  # 1 Jan a holiday, then the weekend
        assert ("sam", local("America/Los_Angeles", 2027, 1, 4, 10, 0)) in q1
        assert len(q1) == 3
        chen = [t for t in _to(h, "chen") if "季度目标与发展对话" in t]
        assert chen and "哪两件事最能体现你的优势" in chen[0]
    finally:
        h.app.close()


# ---------------------------------------------------------------------------------------------- a quarter of check-ins

# Activation from 0 to 100 % in Q2 2027 (1 April – 1 July: 13 weeks). The value reported each Friday, and the
# Monday digests in which the hint must appear: in week w (Monday 4 + 7(w−1) days in), w − 3/7 weeks have gone;
# the hint asks when the progress (value × 13 / 100 weeks) is two weeks or more behind that.
VALUES = [5, 15, 20, 30, 38, 38, 38, 40, 45, 60, 70, 73.5, 90]
LAGGING_WEEKS = {8, 9, 12}  # 38 in week 7 is 1.99 weeks behind: not yet; 73.5 in week 12 is 2.01: a hint


def _answer_checkin(h, handle: str, value: float) -> None:
    texts = {"mood": "4", "follow_ups": "all done", "key_results": f"KR1 {value:g}", "priorities": "ship it"}
    for _ in range(8):
        run = [r for r in h.runs(handle) if r.flow == "weekly_checkin"][-1]
        if run.step is None:
            return
        h.say(handle, texts[run.step])
    raise AssertionError("the check-in did not finish")


def test_a_quarter_of_weekly_updates_fires_the_lagging_hint_exactly_when_behind(tmp_path):
    config = {
        "members": [
            {"handle": "maria", "name": "Maria Rossi", "timezone": LONDON},
            {"handle": "alice", "name": "Alice Martin", "manager": "maria", "timezone": LONDON},
        ],
        "flows": {
            "weekly_checkin": {"questions": {"wins": False, "blockers": False, "manager_help": False}},
            "quarterly_talk": {"enabled": False},
            "monthly_review": {"enabled": False},
        },
    }
    h = make_harness(tmp_path, start=local(LONDON, 2027, 4, 1, 9, 0), config=config)
    try:
        h.say("alice", "/goals edit 1 Faster onboarding; KR activation from 0 to 100 %")
        h.say("maria", "/goals agree @alice")
        hinted: set[int] = set()
        for week, value in enumerate(VALUES, start=1):
            friday = local(LONDON, 2027, 4, 2, 16, 0) + (week - 1) * (
                local(LONDON, 2027, 4, 9, 0, 0) - local(LONDON, 2027, 4, 2, 0, 0)
            )
            h.run_until(friday)
            _answer_checkin(h, "alice", value)
            mark = len(h.fake.sent)
            h.run_until(friday + (local(LONDON, 2027, 4, 5, 10, 0) - local(LONDON, 2027, 4, 2, 16, 0)))  # Monday 10:00
            digest = _to(h, "maria", mark, kind="digest")
            assert len(digest) == 1, week
            if "key result “activation from 0 to 100 %”" in digest[0]:
                hinted.add(week)
                assert (
                    f"In week {week} of 13, the key result “activation from 0 to 100 %” (goal “Faster onboarding”) is "
                    f"at {value:g} % of a target of 100 (from 0)"
                ) in digest[0]
                assert "Is it still the right target, and what would help it move?" in digest[0]
        assert hinted == LAGGING_WEEKS
        with transaction(h.app.sessions) as s:
            assert [k.current for k in s.exec(select(KeyResult))] == [90.0]
        # The new quarter: last quarter's key results are not this quarter's, so no hint and no question.
        mark = len(h.fake.sent)
        h.run_until(local(LONDON, 2027, 7, 5, 10, 0))
        assert all("key result" not in t for t in _to(h, "maria", mark, kind="digest"))
        assert all("Your key results this quarter" not in t for t in _to(h, "alice", mark))
    finally:
        h.app.close()


def test_the_checkin_asks_key_results_as_one_question_and_refuses_what_is_not_listed(tmp_path):
    h = make_harness(tmp_path, start=local(LONDON, 2027, 1, 6, 11, 0))
    try:
        h.say("chen", "/目标 edit 1 新人上手更快；关键结果：激活率 从40到60%；关键结果：上手指南发布")
        h.say("maria", "/goals agree @chen")
        h.run_until(local("Asia/Shanghai", 2027, 1, 8, 16, 0))
        h.say("chen", "4")
        asked = h.say("chen", "不错")
        assert asked[-1].startswith(
            "(3/6) 本季度的关键结果，现在各到哪一步了？\nKR1“激活率 从40到60%”：40 / 60 %\nKR2“上手指南发布”：未完成"
        )
        refused = h.say("chen", "KR3 50")
        assert refused[0].startswith("没有 KR3：列表里只有 2 个关键结果。\n\n(3/6) 本季度的关键结果")  # and asked again
        assert h.say("chen", "KR2 50")[0].startswith("KR2 只分完成和未完成")
        from bot.platforms.common import reply_rows

        asking = [m for r, m in h.fake.sent if r.address == "chen"][-1].replies[-1]
        assert [(b.label, b.value) for row in reply_rows(asking, "zh") for b in row.buttons] == [
            ("KR2 完成", "KR2 done"),  # the done / not done one; the number is typed (or in the form)
            ("稍后", "later"),
            ("跳过", "skip"),
        ]
        h.say("chen", "关键结果1 48，关键结果2 完成")
        krs = _krs(h, _goals(h, "chen")[0].id)
        assert [(k.current, k.done) for k in krs] == [(48.0, False), (None, True)]
    finally:
        h.app.close()


# ------------------------------------------------------------------------------------------------ who sees goals


@pytest.mark.parametrize("visible_to_team", [False, True])
def test_goals_are_seen_by_the_member_the_chain_and_teammates_only_when_the_org_says_so(tmp_path, visible_to_team):
    config = {
        "members": [
            {"handle": "vp", "name": "Vera Park", "timezone": LONDON},
            *[{**m, **({"manager": "vp"} if m["handle"] == "maria" else {})} for m in DEMO["members"]],
            {"handle": "zed", "name": "Zed Ali", "timezone": LONDON, "manager": "vp"},
        ],
        "goals": {"visible_to_team": visible_to_team},
    }
    h = make_harness(tmp_path, start=local(LONDON, 2027, 2, 3, 11, 0), config=config)
    try:
        h.say("alice", "/goals edit 1 SECRET-GOAL; KR done")
        h.say("maria", "/goals comment @alice 1 SECRET-COMMENT")
        seen = {
            who: "SECRET-GOAL" in h.say(who, "/goals @alice")[0]
            for who in ("alice", "maria", "vp", "bo", "chen", "zed")
        }
        assert seen == {
            "alice": True,
            "maria": True,
            "vp": True,  # the manager's manager: the chain, with or without skip level
            "bo": visible_to_team,
            "chen": visible_to_team,
            "zed": False,  # not a teammate (another manager), never
        }
        comments = {who: "SECRET-COMMENT" in h.say(who, "/goals @alice")[0] for who in ("alice", "maria", "vp", "bo")}
        assert comments == {"alice": True, "maria": True, "vp": True, "bo": False}  # never to teammates
        assert ("SECRET-GOAL" in h.say("bo", "/goals")[0]) is visible_to_team
        # A deactivated member's goals are shown to no one else.
        h.set_member("alice", active=False)
        assert all("SECRET-GOAL" not in h.say(who, "/goals @alice")[0] for who in ("maria", "vp", "bo"))
    finally:
        h.app.close()


# ------------------------------------------------------------------------------------------------ own data


def _export(h, handle: str) -> dict:
    text = h.say(handle, "/me export")[0]
    return json.loads(text[text.index("{") :])


def test_export_has_the_goals_and_deletion_takes_them(tmp_path):
    h = make_harness(tmp_path, start=local(LONDON, 2027, 2, 3, 11, 0))
    try:
        h.say("maria", "/goals team Happier customers; KR NPS 30 to 45")
        h.say("alice", "/goals edit 1 Faster onboarding; KR activation from 40 to 60 %")
        h.say("alice", "/goals align 1 1")
        h.say("maria", "/goals comment @alice 1 Could it be 65?")
        exported = _export(h, "alice")
        assert exported["goals"] == [
            {
                "scope": "personal",
                "quarter": "2027-Q1",
                "number": 1,
                "text": "Faster onboarding",
                "agreed_at": None,
                "serves": "Happier customers",
                "key_results": [
                    {
                        "text": "activation from 40 to 60 %",
                        "start": 40.0,
                        "target": 60.0,
                        "unit": "%",
                        "current": None,
                        "done": False,
                    }
                ],
                "comments": [{"from": "maria", "text": "Could it be 65?", "at": "2027-02-03T11:00:00+00:00"}],
            }
        ]
        maria = _export(h, "maria")
        assert [g["scope"] for g in maria["goals"]] == ["team"]
        assert [c["text"] for c in maria["goal_comments_written"]] == ["Could it be 65?"]
        with transaction(h.app.sessions) as s:
            from bot.me import forget

            forget(s, s.exec(select(Member).where(Member.handle == "maria")).one())
        assert [g.aligned_to for g in _goals(h, "alice")] == [None]  # what it served is gone
        with transaction(h.app.sessions) as s:
            assert list(s.exec(select(GoalComment))) == []
            alice = s.exec(select(Member).where(Member.handle == "alice")).one()
            forget(s, alice)
            assert list(s.exec(select(Goal))) == [] and list(s.exec(select(KeyResult))) == []
    finally:
        h.app.close()


def test_slack_and_feishu_buttons_agree_as_the_typed_command_would(tmp_path):
    """The draft's buttons (a Slack button or a Feishu card sends exactly this text) agree goal by goal or all."""
    from bot.platforms.common import reply_rows
    from conversations.events import InboundEvent

    h = make_harness(tmp_path, start=local(LONDON, 2027, 1, 6, 11, 0))
    try:
        h.say("alice", "/quarter")
        for text in ("a; b", "One; KR x", "Two; KR from 1 to 3 talks", "none", "act", "none"):
            h.say("alice", text)
        draft = next(m for r, m in h.fake.sent if r.address == "maria" and m.kind == "goals_draft")
        rows = reply_rows(draft.replies[-1], "zh")
        assert [(b.label, b.value) for row in rows for b in row.buttons] == [
            ("同意目标 1", "/goals agree @alice 1"),
            ("同意目标 2", "/goals agree @alice 2"),
            ("全部同意", "/goals agree @alice"),
        ]
        h.app.handle(
            InboundEvent(
                platform="console",
                user="maria",
                kind="action",
                text=rows[0].buttons[1].value,
                dedup_key="button:1",
                received_at=h.clock.now(),
            )
        )
        assert [g.agreed_at is not None for g in _goals(h, "alice")] == [False, True]
        mark = len(h.fake.sent)
        h.say("maria", "/goals edit @alice 1 One; KR y")
        changed = next(m for r, m in h.fake.sent[mark:] if m.replies[-1].template == "goals/edited_by_other")
        assert [b.value for row in reply_rows(changed.replies[-1], "en") for b in row.buttons] == ["/goals agree 1"]
    finally:
        h.app.close()


def test_the_talk_in_a_form_on_slack_and_feishu_sets_the_goals_and_refuses_a_goal_without_key_results(tmp_path):
    """Slack's modal and Feishu's card form both come from build_form / submit_form: the talk as one form."""
    from bot.platforms.common import build_form

    h = make_harness(tmp_path, start=local(LONDON, 2027, 1, 6, 11, 0))
    try:
        h.say("alice", "/quarter")
        run = next(r for r in h.runs("alice") if r.flow == "quarterly_talk")
        form = build_form(h.app, platform="console", user="alice", run_id=run.id)
        assert form is not None and form.title == "Quarterly goal and development talk"
        assert [f.step for f in form.fields] == ["strengths", "goal_1", "goal_2", "goal_3", "actions", "support"]
        values = {
            "strengths": "a; b",
            "goal_1": "Faster onboarding",  # no key result
            "actions": "demo twice",
        }
        errors = h.app.submit_form(platform="console", user="alice", run_id=run.id, values=values, dedup_key="f1")
        assert errors["goal_1"].startswith("A goal needs at least one key result")
        assert _goals(h, "alice") == []  # nothing at all is saved
        values["goal_1"] = "Faster onboarding; KR activation from 40 to 60 %"
        assert h.app.submit_form(platform="console", user="alice", run_id=run.id, values=values, dedup_key="f2") == {}
        assert [(g.text, [k.target for k in _krs(h, g.id)]) for g in _goals(h, "alice")] == [
            ("Faster onboarding", [60.0])
        ]
        again = build_form(h.app, platform="console", user="alice", run_id=run.id)
        assert again is not None
        shown = {f.step: f.current for f in again.fields}
        assert shown["goal_1"] == "Faster onboarding; activation from 40 to 60 %"  # as it could be typed again
    finally:
        h.app.close()


def test_a_paused_member_gets_no_quarterly_talk_and_it_waits_for_working_hours(tmp_path):
    from datetime import date

    config = {**DEMO, "calendar": {"working_hours": "11:00-18:00"}}
    h = make_harness(tmp_path, start=local(LONDON, 2026, 12, 30, 12, 0), config=config)
    try:
        h.set_member("bo", paused_until=date(2027, 1, 25))  # past the talk's window
        h.run_until(local(LONDON, 2027, 1, 16, 12, 0))
        talks = dict(h.prompts(flow="quarterly_talk"))
        assert "bo" not in talks
        # due at 10:00 on the quarter's first day (no country: 1 January is a working day), sent at 11:00
        assert talks["alice"] == local(LONDON, 2027, 1, 1, 11, 0)
        assert [r.status for r in h.runs("bo") if r.flow == "quarterly_talk"] in ([], ["skipped"])
    finally:
        h.app.close()


def test_goal_numbers_with_a_gap_and_bad_input_get_polite_answers(tmp_path):
    h = make_harness(tmp_path, start=local(LONDON, 2027, 2, 3, 11, 0))
    try:
        h.say("alice", "/goals edit 1 One; KR x")
        h.say("alice", "/goals edit 2 Two; KR y")
        assert h.say("alice", "/goals edit 1 none") == ["Goal 1 removed, with its key results."]
        mark = len(h.fake.sent)
        assert h.say("maria", "/goals edit @alice 2 Two; KR z") == ["Goal 2 of Alice saved — Alice is asked to agree."]
        assert "2. “Two” · changed by the manager, waiting for Alice" in _to(h, "alice", mark)[0]
        assert h.say("alice", "/goals edit 4 x; KR y") == ["Goals are numbered 1 to 3: e.g. `/goals edit 1 …`."]
        assert h.say("alice", "/goals edit 3") == [h.say("alice", "/goals nonsense")[0]]  # the usage
        assert h.say("alice", "/goals comment 3 hi") == ["There is no goal 3 this quarter. `/goals` lists them."]
        assert h.say("alice", "/goals align 2 1") == [
            "Your manager has no team goal T1 this quarter. `/goals` lists the team's goals."
        ]
        assert h.say("bo", "/goals @nobody") == ["I found no goals of that person that you can see or change."]
    finally:
        h.app.close()


def test_a_batch_of_check_ins_reads_the_key_results_once_not_once_per_member(tmp_path):
    """The deliver step prefetches for its whole batch (bot/prefetch.py); the key results the check-in lists are
    read once per batch and quarter (two queries per run made the 10,000-member fan-out three times slower)."""
    import sqlalchemy as sa

    from tests.helpers import make_harness

    org = {"members": [{"handle": f"m{i}", "name": f"M {i}", "timezone": "Europe/London"} for i in range(12)]}
    h = make_harness(tmp_path, start=utc(2026, 11, 27, 14, 0), config=org)
    seen: list[str] = []

    @sa.event.listens_for(h.app.engine, "before_cursor_execute")
    def _count(conn, cursor, statement, params, context, many):
        seen.append(statement)

    h.run_until(utc(2026, 11, 27, 15, 0))
    assert len(h.prompts()) == 12
    assert sum(1 for s in seen if "FROM goal " in s or "FROM goal\n" in s) <= 2, [s for s in seen if "goal" in s]
    h.app.close()
