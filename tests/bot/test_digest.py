"""The Monday digest over eight simulated weeks: content, every hint on the data that should fire it and not
on the data that should not, and privacy over generated org charts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.digest import build_reports, digest_replies, managers
from conversations.machine import Reply
from conversations.render import Audience, Renderer
from storage.db import transaction
from storage.models import Answer, ConversationRun, Member, Obstacle
from tests.helpers import local, make_harness, utc

TZ = "Europe/London"
PEOPLE = ["dina", "eve", "fay", "gus", "hal", "ida", "jo", "kim", "lee", "max"]
ORG = {
    "members": [{"handle": "mgr", "name": "Morgan", "timezone": TZ}]
    + [{"handle": p, "name": p.title(), "manager": "mgr", "timezone": TZ} for p in PEOPLE]
    + [{"handle": "zed", "name": "Zed", "timezone": TZ}]
}


def follow_ups_answer(text, *, plan="done", obstacle="resolved", action="done"):
    """`1 done 2 done 3 resolved …` for the follow-up list in `text`, one word per kind of item."""
    words = {"Last week's priorities": plan, "Obstacles still open": obstacle, "Your development actions": action}
    parts, word = [], None
    for line in text.splitlines():
        head = next((w for h, w in words.items() if line.startswith(h)), None)
        if head is not None:
            word = head
        number, dot, _ = line.partition(". “")
        if dot and number.isdigit() and word is not None:
            parts.append(f"{number} {word}")
    return " ".join(parts)


def run_checkin(
    h,
    handle,
    *,
    mood=4,
    wins="steady week",
    plan="done",
    obstacle="resolved",
    blockers="none",
    priorities="keep going",
    action="done",
):
    """Answer whatever the bot asks until the check-in is done."""
    text = h.say(handle, "/checkin")[-1]
    for _ in range(20):
        if "check-in done" in text:
            return
        if "How was your week" in text:
            reply = str(mood)
        elif "What went well" in text:
            reply = wins
        elif "a quick look back" in text:
            reply = follow_ups_answer(text, plan=plan, obstacle=obstacle, action=action)
        elif "in your way" in text:
            reply = blockers
        elif "top priorities" in text:
            reply = priorities
        else:
            reply = "no"
        text = h.say(handle, reply)[-1]
    raise AssertionError(f"check-in did not finish: {text}")


def digest_text(h) -> str:
    texts = [m.text for r, m in h.fake.sent if r.address == "mgr" and m.kind == "digest"]
    return "\n\n".join(texts)


def section(text: str, name: str) -> str:
    m = re.search(rf"👤 {name} ·.*?(?=\n\n👤 |\n\n💡|\nType `/support`|\Z)", text, re.S)
    assert m, name
    return m.group(0)


def test_eight_weeks_of_digests_with_every_hint(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 11, 2, 8, 0), config=ORG)
    try:
        friday = local(TZ, 2026, 11, 6, 16, 0)
        digests = []
        for week in range(8):
            h.run_until(friday + timedelta(weeks=week))
            moods = {"dina": [4, 4, 4, 4, 4, 4, 3, 2][week], "fay": [4, 4, 4, 4, 4, 4, 3, 3][week]}
            for p in ("dina", "eve", "fay"):
                run_checkin(h, p, mood=moods.get(p, 4))
            # gus never checks in
            run_checkin(
                h,
                "hal",
                blockers="No staging access" if week == 5 else "none",
                obstacle="still" if week >= 6 else "resolved",
            )
            run_checkin(h, "ida", blockers="Flaky CI" if week == 6 else "none", obstacle="still")
            run_checkin(h, "jo", plan="not done" if week >= 6 else "done")
            run_checkin(h, "kim", plan="not done" if week == 6 else "done")
            helper_wins = "Lee and @max unblocked me" if week >= 6 else "steady week"
            run_checkin(h, "lee")
            run_checkin(h, "max", wins=helper_wins)
            if week == 7:
                h.say("zed", "/kudos @max for reviewing my design")
            if week == 6:
                for p in ("dina", "eve", "fay"):
                    h.say("mgr", f"/kudos @{p} for the launch")
            h.run_until(local(TZ, 2026, 11, 9, 9, 0) + timedelta(weeks=week))
            digests.append(digest_text(h))
            h.fake.clear()
        last = digests[-1]
        assert last.startswith("📋 Your team, the week of 21 Dec: 9 of 10 checked in")
        # mood down two points over three weeks: dina (4 → 3 → 2) yes; fay (4 → 3 → 3) no; eve steady no.
        assert "Mood went 4 → 3 → 2 over three weeks" in section(last, "Dina")
        assert "Mood went" not in section(last, "Fay") + section(last, "Eve")
        assert "Mood (last 6 weeks, newest last): 4 4 4 4 3 2" in section(last, "Dina")
        assert "Mood: no answers yet." in section(last, "Gus")  # never checked in: not a row of dots
        # no check-in for three weeks: gus, but only once three weeks have passed since he joined.
        assert "No check-in for three weeks" in section(last, "Gus")
        assert "No check-in for three weeks" not in section(digests[1], "Gus")
        assert all("No check-in for three weeks" not in section(last, p.title()) for p in PEOPLE if p != "gus")
        # the same blocker three times: hal (reported, then still, still) yes; ida (reported, still) no.
        assert "“No staging access” has come up 3 times" in section(last, "Hal")
        assert "has come up" not in section(last, "Ida")
        # plans not done two weeks in a row: jo yes, kim (once) no.
        assert "Planned priorities were not done two weeks in a row (keep going; keep going)" in section(last, "Jo")
        assert "not done two weeks" not in section(last, "Kim")
        # a helper nobody thanked: lee (named twice, no kudos) yes; max (named twice, got kudos) no.
        assert "Teammates mentioned Lee 2 times in their wins, yet no kudos lately" in section(last, "Lee")
        assert "Teammates mentioned Max" not in section(last, "Max")
        # the manager's own nudge: not in the week after giving three kudos, back the week after.
        assert "You gave 3 kudos" not in digests[6] and "💡" not in digests[6]
        assert "💡 You gave 0 kudos last week." in last
        # open obstacles and the plan shown with their evidence
        assert "• “No staging access” (since Fri 11 Dec, 16:00, reported 3×)" in section(last, "Hal")
        assert "Last week's plan: “keep going” not done" in section(last, "Jo")
        # nobody outside the manager's reports
        assert "Zed" not in "\n".join(digests)
    finally:
        h.app.close()


# What each question looks like, in both languages, and which step it is.
QUESTIONS = {
    "How was your week": "mood",
    "这周整体感觉如何": "mood",
    "What went well": "wins",
    "进展顺利": "wins",
    "in your way": "blockers",
    "推进不下去": "blockers",
    "top priorities": "priorities",
    "下周最重要": "priorities",
    "a quick look back": "follow_ups",
    "先快速回顾": "follow_ups",
}


def answer_checkin(h, handle, answers: dict[str, str]) -> list[str]:
    """Answer each question by its step (anything else "no"); returns the steps that were asked."""
    asked = []
    text = h.say(handle, "/checkin")[-1]
    for _ in range(20):
        if "check-in done" in text or "本周小结完成了" in text:
            return asked
        step = next((s for phrase, s in QUESTIONS.items() if phrase in text), "other")
        asked.append(step)
        text = h.say(handle, answers.get(step, "no"))[-1]
    raise AssertionError(f"check-in did not finish: {text}")


def test_answers_that_say_nothing_are_not_celebrated_tracked_or_planned(tmp_path):
    config = {
        "members": [
            {"handle": "mgr", "name": "Morgan", "timezone": TZ},
            {"handle": "nel", "name": "Nel", "manager": "mgr", "timezone": TZ},
            {"handle": "zoe", "name": "赵鹏", "manager": "mgr", "timezone": TZ, "locale": "zh"},
            {"handle": "uma", "name": "Uma", "manager": "mgr", "timezone": TZ},
        ]
    }
    said = {
        "nel": {"mood": "3", "wins": "None.", "blockers": "nothing much", "priorities": "n/a"},
        "zoe": {"mood": "3", "wins": "没什么亮点", "blockers": "暂时没有", "priorities": "无"},
        "uma": {
            "mood": "3",
            "wins": "1:1 with Nel went well",
            "blockers": "no staging access",
            "priorities": "1:1s with everyone; 2FA rollout",
        },
    }
    h = make_harness(tmp_path, start=utc(2026, 11, 2, 8, 0), config=config)
    try:
        h.run_until(local(TZ, 2026, 11, 6, 16, 0))
        for handle, answers in said.items():
            answer_checkin(h, handle, answers)
        with transaction(h.app.sessions) as s:
            stored = [(a.step, a.value) for a in s.exec(select(Answer))]
            for answer in [
                ("wins", "None."),
                ("wins", "没什么亮点"),
                ("priorities", ["n/a"]),
                ("priorities", ["无"]),
                ("priorities", ["1:1s with everyone", "2FA rollout"]),
            ]:
                assert answer in stored  # as typed
            assert [o.text for o in s.exec(select(Obstacle))] == ["no staging access"]
        h.run_until(local(TZ, 2026, 11, 9, 9, 0))
        digest = digest_text(h)
        for name in ("Nel", "赵鹏"):
            part = section(digest, name)
            assert "Celebrate" not in part and "Wins:" not in part and "Next week:" not in part
            assert "Blockers: none" in part and "Open obstacles" not in part
        uma = section(digest, "Uma")
        assert "• Celebrate: “1:1 with Nel went well”" in uma
        assert "Next week: 1:1s with everyone; 2FA rollout" in uma
        assert "Open obstacles, oldest first:\n• “no staging access”" in uma
        h.fake.clear()
        h.run_until(local(TZ, 2026, 11, 13, 16, 0))  # the next check-in asks about no plan and no obstacle
        assert "follow_ups" not in answer_checkin(h, "nel", said["nel"])
        assert "follow_ups" not in answer_checkin(h, "zoe", said["zoe"])
        assert (
            answer_checkin(
                h, "uma", {**said["uma"], "follow_ups": "1 done 2 partly 3 resolved", "blockers": "none"}
            ).count("follow_ups")
            == 1
        )
        latest = h.runs("uma")[-1]
        assert {k: v for k, v in h.answers(latest.id).items() if ":" in k} == {
            "plan_review:0": "done",
            "plan_review:1": "partly",
            "obstacle_status:0": "resolved",
        }
    finally:
        h.app.close()


def test_digest_is_in_the_managers_language(tmp_path):
    config = {
        "members": [
            {"handle": "wang", "name": "王芳", "timezone": "Asia/Shanghai", "locale": "zh"},
            {"handle": "li", "name": "李雷", "manager": "wang", "timezone": "Asia/Shanghai"},
        ]
    }
    h = make_harness(tmp_path, start=utc(2026, 11, 23), config=config)
    try:
        h.run_until(local("Asia/Shanghai", 2026, 11, 30, 9, 0))
        text = h.fake.texts_for("wang")[-1]
        assert text.startswith("📋 团队11月23日那周的情况：1 人中 0 人完成了每周小结")
        assert "👤 李雷 · 还没填每周小结" in text
        assert "💡 你上周送出了 0 次点赞" in text
    finally:
        h.app.close()


def test_a_manager_without_reports_gets_no_digest_and_each_digest_is_sent_once(harness):
    harness.run_until(local(TZ, 2026, 11, 30, 9, 0))
    for _ in range(3):
        harness.app.tick()
    digests = [(r.address, m.kind) for r, m in harness.fake.sent if m.kind == "digest"]
    assert digests == [("maria", "digest")]
    assert "digest" not in {m.kind for r, m in harness.fake.sent if r.address in ("alice", "bo", "chen")}


# ------------------------------------------------------------------------------------------ privacy


@st.composite
def org_charts(draw):
    n = draw(st.integers(min_value=2, max_value=9))
    members = []
    for i in range(n):
        manager = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=i - 1))) if i else None
        members.append(
            {
                "handle": f"p{i}",
                "name": f"Person{i}",
                "timezone": "Europe/London",
                **({"manager": f"p{manager}"} if manager is not None else {}),
            }
        )
    return members


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chart=org_charts(), skip_level=st.booleans())
def test_no_manager_ever_sees_anyone_outside_their_reports(tmp_path_factory, chart, skip_level):
    h = make_harness(tmp_path_factory.mktemp("org"), start=utc(2026, 11, 2), config={"members": chart})
    try:
        with transaction(h.app.sessions) as s:
            members = list(s.exec(select(Member)))
            for m in members:  # every person wrote something only they wrote, in several past weeks
                for k, period in enumerate(["2026-W47", "2026-W48"]):
                    run = ConversationRun(
                        flow="weekly_checkin",
                        member_id=m.id,
                        period=period,
                        status="completed",
                        context={"steps": ["mood", "wins"]},
                        due_at=utc(2026, 11, 20 + 7 * k),
                        prompt_at=utc(2026, 11, 20 + 7 * k),
                        closes_at=utc(2026, 11, 23 + 7 * k),
                        created_at=utc(2026, 11, 2),
                        updated_at=utc(2026, 11, 2),
                    )
                    s.add(run)
                    s.flush()
                    s.add(
                        Answer(
                            run_id=run.id,
                            member_id=m.id,
                            step="wins",
                            value=f"SECRET-{m.handle}-{k}",
                            created_at=utc(2026, 11, 2),
                            updated_at=utc(2026, 11, 2),
                        )
                    )
        now = local("Europe/London", 2026, 11, 30, 9, 0)
        renderer = Renderer()
        with transaction(h.app.sessions) as s:
            for manager in managers(s):
                reports, team = build_reports(s, manager=manager, now=now, skip_level=skip_level)
                direct = {m.id for m in members if m.manager_id == manager.id}
                indirect = {m.id for m in members if m.manager_id in direct} if skip_level else set()
                allowed = {m.handle for m in members if m.id in direct | indirect}
                text = "\n".join(
                    renderer.render(r, Audience("en", "Europe/London", manager.name))
                    for r in digest_replies(reports, team)
                )
                seen = set(re.findall(r"SECRET-(p\d+)-", text))
                assert seen <= allowed, (manager.handle, seen - allowed)
                assert {f"Person{h_[1:]}" for h_ in allowed} == {r.name for r in reports}
    finally:
        h.app.close()


def test_skip_level_digest_includes_the_reports_reports(tmp_path):
    config = {
        "digest": {"skip_level": True},
        "members": [
            {"handle": "vp", "name": "Vera", "timezone": TZ},
            {"handle": "lead", "name": "Leo", "manager": "vp", "timezone": TZ},
            {"handle": "dev", "name": "Dana", "manager": "lead", "timezone": TZ},
        ],
    }
    h = make_harness(tmp_path, start=utc(2026, 11, 23), config=config)
    try:
        h.run_until(local(TZ, 2026, 11, 27, 15, 0))
        run_checkin(h, "dev", wins="Fixed the flaky test")
        h.run_until(local(TZ, 2026, 11, 30, 9, 0))
        vp = "\n".join(m.text for r, m in h.fake.sent if r.address == "vp" and m.kind == "digest")
        assert "👤 Leo · " in vp and "👤 Dana · checked in ✅ · reports to Leo" in vp
        assert "This is exactly what Leo (and Vera, their manager) will see" in h.say("dev", "/me")[0]
    finally:
        h.app.close()


def test_a_long_digest_is_split_into_messages_that_fit_and_nothing_is_cut(tmp_path):
    people = [f"r{i:02d}" for i in range(30)]
    config = {
        "members": [{"handle": "boss", "name": "Bea", "timezone": TZ}]
        + [{"handle": p, "name": f"Person {p}", "manager": "boss", "timezone": TZ} for p in people]
    }
    h = make_harness(tmp_path, start=utc(2026, 11, 23), config=config)
    try:
        h.run_until(local(TZ, 2026, 11, 27, 15, 0))
        for p in people:
            run_checkin(h, p, wins=f"WIN-{p} " + "x" * 300, blockers=f"BLOCK-{p} " + "y" * 200)
        h.run_until(local(TZ, 2026, 11, 30, 9, 0))
        parts = [m.text for r, m in h.fake.sent if r.address == "boss" and m.kind == "digest"]
        assert len(parts) > 3
        assert all(len(p) <= 3000 for p in parts)
        whole = "\n\n".join(parts)
        assert all(f"WIN-{p} " + "x" * 300 in whole and f"BLOCK-{p}" in whole for p in people)
        assert parts[0].startswith("📋 Your team, the week of") and "Type `/support`" in parts[-1]
    finally:
        h.app.close()


def test_a_brand_new_team_gets_no_digest_until_there_is_something_to_say(tmp_path):
    config = {
        "members": [
            {"handle": "m", "name": "Mo", "timezone": TZ},
            {"handle": "r", "name": "Ria", "manager": "m", "timezone": TZ},
        ]
    }
    h = make_harness(tmp_path, start=local(TZ, 2026, 11, 22, 18, 0), config=config)  # installed on a Sunday
    try:
        h.run_until(local(TZ, 2026, 11, 23, 9, 30))
        assert [m for r, m in h.fake.sent if m.kind == "digest"] == []  # last week predates them
        h.run_until(local(TZ, 2026, 11, 30, 9, 30))
        digest = [m.text for r, m in h.fake.sent if m.kind == "digest"]
        assert len(digest) == 1 and "👤 Ria · not checked in yet" in digest[0]
    finally:
        h.app.close()


def test_a_mood_row_with_gaps_says_what_a_dot_means_in_both_languages():
    renderer = Renderer()
    params = {
        "name": "Bo",
        "status": "prompted",
        "via": None,
        "trend": [4, None, 3],
        "notes": {},
        "wins": None,
        "blockers": None,
        "plan": [],
        "priorities": [],
        "support": [],
        "obstacles": [],
        "actions": [],
        "hints": [],
        "points": [],
    }
    en = renderer.render(Reply("digest/person", params), Audience("en", "UTC", "Maria"))
    zh = renderer.render(Reply("digest/person", params), Audience("zh", "UTC", "Maria"))
    assert "Mood (last 3 weeks, newest last; · = no answer): 4 · 3" in en
    assert "心情（最近 3 周，最新在右；· 表示未回答）：4 · 3" in zh
    none = renderer.render(Reply("digest/person", {**params, "trend": [None, None]}), Audience("zh", "UTC", "Maria"))
    assert "心情：还没有回答。" in none and "·" not in none.split("\n", 1)[1]


@pytest.mark.parametrize(
    ("name", "handle", "text", "expected"),
    [
        ("陈晨", "chen", "感谢陈晨帮忙排查", True),
        ("陈晨", "chen", "和晨会上的讨论", False),  # a one-character given name alone is too common to count
        ("张小明", "zxm", "小明帮我看了日志", True),
        ("欧阳娜娜", "nana", "娜娜帮我改了文案", True),
        ("欧阳娜娜", "nana", "感谢@nana", True),
        ("Alice Martin", "alice", "Alice helped me debug", True),
        ("Alice Martin", "alice", "感谢Alice帮忙", True),
        ("Alice Martin", "alice", "Alicea is not her", False),
        ("Bo Li", "bo", "the bonus landed", False),
        ("Bo Li", "bo", "thanks to bo!", True),
    ],
)
def test_a_teammate_is_found_in_wins_in_chinese_and_latin_text(name, handle, text, expected):
    from bot.digest import _mentions

    assert _mentions(text, Member(handle=handle, name=name, timezone="UTC", locale="en")) == expected
