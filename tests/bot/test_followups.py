"""The follow-up loops: a blocker comes back until resolved; a support request reaches the manager and back."""

from __future__ import annotations

from sqlmodel import select

from storage.db import transaction
from storage.models import Obstacle, SupportRequest
from tests.helpers import local, make_harness, utc


def checkin(h, handle, blockers="none", priorities="ship it"):
    h.say(handle, "/checkin")
    h.say(handle, "4")
    h.say(handle, "a good week")
    for _ in range(5):  # answer plan/obstacle follow-ups until the blockers question
        if "in your way" in h.fake.texts_for(handle)[-1] or "推进不下去" in h.fake.texts_for(handle)[-1]:
            break
        h.say(handle, "done" if "done, partly" in h.fake.texts_for(handle)[-1] else "still")
    h.say(handle, blockers)
    h.say(handle, priorities)
    h.say(handle, "no")


def test_a_blocker_from_a_check_in_appears_in_the_monthly_review_until_resolved(harness):
    h = harness
    h.clock.set(local("Europe/London", 2026, 11, 27, 15, 0))
    checkin(h, "alice", blockers="Waiting for staging access")
    h.run_until(local("Europe/London", 2026, 12, 1, 10, 0))  # first Tuesday of December
    review = h.fake.texts_for("alice")[-1]
    assert "It's the start of a new month" in review
    assert "“Waiting for staging access” — resolved, still blocking, or no longer relevant?" in review
    h.say("alice", "still")
    h.say("alice", "Staging access, still")
    assert "What support would help most" in h.fake.texts_for("alice")[-1]
    h.say("alice", "4 help from the infra team to get staging access")
    h.say("alice", "public speaking; SQL")
    assert "monthly review done ✅" in h.fake.texts_for("alice")[-1]
    with transaction(h.app.sessions) as s:
        obstacles = {o.text: (o.status, o.times_reported) for o in s.exec(select(Obstacle))}
    assert obstacles == {"Waiting for staging access": ("open", 2), "Staging access, still": ("open", 1)}
    # Both open obstacles come back in the next check-in; resolving one closes it for good.
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    prompt = h.fake.texts_for("alice")[-1]
    assert "(1/" in prompt
    h.say("alice", "4")
    asked = h.say("alice", "w")[0]
    assert "“ship it” — done, partly, or not done?" in asked
    asked = h.say("alice", "done")[0]
    assert "You mentioned 2 obstacles that are still open." in asked and "Waiting for staging access" in asked
    h.say("alice", "resolved")
    h.say("alice", "no longer relevant")
    with transaction(h.app.sessions) as s:
        assert {o.status for o in s.exec(select(Obstacle))} == {"resolved", "irrelevant"}


def test_support_request_reaches_the_manager_and_the_member_hears_back(harness):
    h = harness
    h.clock.set(local("Asia/Shanghai", 2026, 12, 1, 10, 0))
    h.say("chen", "/review")
    h.say("chen", "测试环境不稳定")
    h.say("chen", "2 需要多两天测试时间")
    # The manager hears before the review is even finished — at 02:00 in London, when her working day starts.
    assert h.fake.texts_for("maria") == []
    h.run_until(local("Europe/London", 2026, 12, 1, 9, 0))
    new = h.fake.texts_for("maria")[-1]
    assert new.startswith("🙋 陈晨 is asking for support: resources.\n“需要多两天测试时间”")
    with transaction(h.app.sessions) as s:
        request = s.exec(select(SupportRequest)).one()
    h.say("chen", "沟通; 架构设计")
    assert "你的支持需求已经发给 Maria，对方一有回应我就告诉你。" in h.fake.texts_for("chen")[-1]
    listing = h.say("maria", "/support")[0]
    assert f"#{request.id} 陈晨 · resources · waiting for an answer" in listing
    assert h.say("maria", f"/support {request.id} 1on1")[0] == "Done — 陈晨 has been told you will discuss it in your 1:1."
    assert h.fake.texts_for("chen")[-1] == "🗓️ Maria 希望在下次一对一时讨论你的支持需求：“需要多两天测试时间”"
    assert "下次一对一讨论" in h.say("chen", "/support")[0]


def test_only_the_members_manager_can_act_on_a_request(tmp_path):
    config = {"members": [
        {"handle": "maria", "name": "Maria"}, {"handle": "olga", "name": "Olga"},
        {"handle": "alice", "name": "Alice", "manager": "maria"}, {"handle": "oscar", "name": "Oscar", "manager": "olga"},
    ]}
    h = make_harness(tmp_path, start=utc(2026, 12, 1, 9, 0), config=config)
    try:
        h.say("alice", "/review")
        h.say("alice", "none")
        h.say("alice", "1 a decision on the vendor")
        with transaction(h.app.sessions) as s:
            request = s.exec(select(SupportRequest)).one()
        assert h.fake.texts_for("olga") == []
        assert "a decision on the vendor" not in h.say("olga", "/support")[0]
        refused = h.say("olga", f"/support {request.id} resolved")[0]
        assert refused.startswith(f"There is no open request #{request.id}")
        assert h.say("alice", f"/support {request.id} resolved")[0].startswith("There is no open request")
        with transaction(h.app.sessions) as s:
            assert s.get(SupportRequest, request.id).status == "open"
    finally:
        h.app.close()


def test_monthly_review_in_chinese_end_to_end(harness):
    h = harness
    h.run_until(local("Asia/Shanghai", 2026, 12, 1, 10, 0))
    first = h.fake.texts_for("chen")[-1]
    assert first.startswith("陈晨，你好 👋 新的一个月开始了")
    assert "你现在遇到的最大障碍是什么" in first
    assert h.say("chen", "无")[0].startswith("(2/3) 你最需要哪种支持？")
    assert h.say("chen", "5 随便")[0].startswith("请先写支持类型的编号")
    h.say("chen", "无")
    assert "谢谢你，陈晨！本月回顾完成 ✅" in h.say("chen", "带团队")[0]
    with transaction(h.app.sessions) as s:
        assert list(s.exec(select(SupportRequest))) == []
