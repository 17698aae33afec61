"""The follow-up loops: a blocker comes back until resolved; a support request reaches the manager and back."""

from __future__ import annotations

from sqlmodel import select

from storage.db import transaction
from storage.models import Obstacle, SupportRequest
from tests.bot.test_digest import follow_ups_answer
from tests.helpers import local, make_harness, utc


def checkin(h, handle, blockers="none", priorities="ship it"):
    h.say(handle, "/checkin")
    h.say(handle, "4")
    h.say(handle, "a good week")
    if "a quick look back" in h.fake.texts_for(handle)[-1]:  # the follow-up list, before the blockers question
        h.say(handle, follow_ups_answer(h.fake.texts_for(handle)[-1], obstacle="still"))
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
    assert "Obstacles still open (resolved / still / drop):\n1. “Waiting for staging access”" in review
    h.say("alice", "still")
    same = h.say("alice", "Staging access, still")[0]
    assert same.startswith("(2/5) That sounds like an obstacle you reported before: “Waiting for staging access”.")
    h.say("alice", "no")  # a new one, then
    assert "What support would help most" in h.fake.texts_for("alice")[-1]
    h.say("alice", "4 help from the infra team to get staging access")
    h.say("alice", "public speaking; SQL")
    h.say("alice", "skip")  # the last, optional question: feedback for the manager
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
    assert (
        "Last week's priorities (done / partly / not done):\n1. “ship it”\n"
        "Obstacles still open (resolved / still / drop):\n2. “Waiting for staging access”\n"
        "3. “Staging access, still”"
    ) in asked
    h.say("alice", "1 done 2 resolved 3 drop")
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
    h.say("chen", "skip")  # the last, optional question: feedback for the manager
    assert "你的支持需求已经发给 Maria，对方一有回应我就告诉你。" in h.fake.texts_for("chen")[-1]
    listing = h.say("maria", "/support")[0]
    assert f"#{request.id} 陈晨 · resources · waiting for an answer" in listing
    assert (
        h.say("maria", f"/support {request.id} 1on1")[0] == "Done — 陈晨 has been told you will discuss it in your 1:1."
    )
    assert h.fake.texts_for("chen")[-1] == "🗓️ Maria 希望在下次一对一时讨论你的支持需求：“需要多两天测试时间”"
    assert "下次一对一讨论" in h.say("chen", "/support")[0]


def test_only_the_members_manager_can_act_on_a_request(tmp_path):
    config = {
        "members": [
            {"handle": "maria", "name": "Maria"},
            {"handle": "olga", "name": "Olga"},
            {"handle": "alice", "name": "Alice", "manager": "maria"},
            {"handle": "oscar", "name": "Oscar", "manager": "olga"},
        ]
    }
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
    assert h.say("chen", "无")[0].startswith("(2/4) 你最需要哪种支持？")
    assert h.say("chen", "5 随便")[0].startswith("请先写支持类型的编号")
    h.say("chen", "无")
    h.say("chen", "带团队")
    assert "谢谢你，陈晨！本月回顾完成 ✅" in h.say("chen", "skip")[0]
    with transaction(h.app.sessions) as s:
        assert list(s.exec(select(SupportRequest))) == []


# ------------------------------------------------------------------------------------------ a short check-in


def seed_follow_ups(h, handle, *, obstacles=(), plan=(), actions=(), period="2026-W48"):
    """Open obstacles, last week's priorities (a completed check-in of `period`) and shared retro actions."""
    from datetime import timedelta

    from bot.engine import run_row
    from conversations.weekly_checkin import WEEKLY_CHECKIN
    from storage import repo
    from storage.models import DevelopmentAction, Retro

    now = h.clock.now()
    with transaction(h.app.sessions) as s:
        member = repo.member_by_handle(s, handle=handle)
        for text in obstacles:
            s.add(Obstacle(member_id=member.id, text=text, created_at=now, updated_at=now))
        if plan:
            repo.insert_runs(
                s,
                rows=[
                    run_row(
                        WEEKLY_CHECKIN,
                        member.id,
                        period,
                        due=now,
                        prompt_at=now,
                        closes=now + timedelta(hours=1),
                        now=now,
                        status="completed",
                    )
                ],
            )
            run = repo.run_for_period(s, flow="weekly_checkin", member_id=member.id, period=period)
            repo.save_answer(s, run=run, step="priorities", value=list(plan), now=now)
        if actions:
            retro = Retro(title="Launch", started_by=member.id, status="summarised", due_at=now, created_at=now)
            s.add(retro)
            s.flush()
            for text in actions:
                s.add(
                    DevelopmentAction(
                        retro_id=retro.id, owner_id=member.id, text=text, source="retro", created_at=now, shared_at=now
                    )
                )


def asked_numbers(texts):
    """(number, total) of every question in the messages, as "(3/6)" shows them."""
    import re

    return sorted({(int(m.group(1)), int(m.group(2))) for t in texts for m in re.finditer(r"\((\d+)/(\d+)\)", t)})


def test_three_obstacles_two_priorities_two_actions_make_six_questions_and_one_more_at_most(harness):
    from storage.models import DevelopmentAction

    h = harness
    h.clock.set(local("Europe/London", 2026, 12, 4, 14, 0))
    seed_follow_ups(
        h,
        "alice",
        obstacles=("security sign-off", "flaky CI", "no designer"),
        plan=("ship checkout", "hire a designer"),
        actions=("write the runbook", "add alerts"),
    )
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    intro = h.fake.texts_for("alice")[-1]
    assert "Time for your weekly check-in: 6 short questions, about 5 minutes." in intro  # 10+45+57+45+60+45 s
    h.say("alice", "4")
    listing = h.say("alice", "Shipped the cart")[0]
    assert listing.startswith("(3/6) First, a quick look back")
    assert (
        "Last week's priorities (done / partly / not done):\n1. “ship checkout”\n2. “hire a designer”\n"
        "Obstacles still open (resolved / still / drop):\n3. “security sign-off”\n4. “flaky CI”\n"
        "5. “no designer”\nYour development actions (done / still going / drop):\n6. “write the runbook (Launch)”\n"
        "7. “add alerts (Launch)”"
    ) in listing
    h.say("alice", "1 done 2 partly 3 still 4 resolved 5 drop 6 done 7 not yet")
    same = h.say("alice", "Security sign-off!")[0]  # the +1: a blocker that repeats an open obstacle
    assert same.startswith("(4/6) That sounds like an obstacle you reported before: “security sign-off”.")
    h.say("alice", "yes")
    h.say("alice", "checkout v2")
    done = h.say("alice", "no")[0]
    assert "check-in done ✅" in done
    texts = h.fake.texts_for("alice")[:-1]  # the last one also starts the monthly review waiting behind it
    assert [n for n, _ in asked_numbers(texts)] == [1, 2, 3, 4, 5, 6]
    assert {total for _, total in asked_numbers(texts)} == {6}  # announced = asked
    run = h.runs("alice")[-1]
    assert run.context["steps"] == [
        "mood",
        "wins",
        "follow_ups",
        "blockers",
        "same_obstacle",
        "priorities",
        "manager_help",
    ]  # 6 + 1
    got = h.answers(run.id)
    assert {k: v for k, v in got.items() if ":" in k} == {  # stored per item, as the digest, /me and export read
        "plan_review:0": "done",
        "plan_review:1": "partly",
        "obstacle_status:0": "still",
        "obstacle_status:1": "resolved",
        "obstacle_status:2": "irrelevant",
        "retro_action:0": "done",
        "retro_action:1": "open",
    }
    with transaction(h.app.sessions) as s:
        obstacles = {o.text: (o.status, o.times_reported) for o in s.exec(select(Obstacle))}
        actions = {a.text: a.status for a in s.exec(select(DevelopmentAction))}
    # "still" and then "the same one" in one check-in count once; no duplicate obstacle was opened
    assert obstacles == {
        "security sign-off": ("open", 2),
        "flaky CI": ("resolved", 1),
        "no designer": ("irrelevant", 1),
    }
    assert actions == {"write the runbook": "done", "add alerts": "open"}
    assert (
        "3. Follow-ups: “ship checkout” done ✅; “hire a designer” partly ◐; “security sign-off” still blocking" in done
    )
    own_view = "\n".join(h.say("alice", "/me"))  # the digest section the manager sees, read from the same answers
    assert "Last week's plan: “ship checkout” done · “hire a designer” partly" in own_view
    assert "• “security sign-off” (since Fri 4 Dec, 14:00, reported 2×)" in own_view
    exported = "\n".join(h.say("alice", "/me export"))
    assert '"obstacle_status:1": "resolved"' in exported and '"retro_action:1": "open"' in exported


def test_follow_ups_in_chinese_partly_then_the_rest_and_one_word_for_all(harness):
    h = harness
    h.clock.set(local("Asia/Shanghai", 2026, 12, 4, 14, 0))
    seed_follow_ups(h, "chen", obstacles=("测试环境不稳定", "缺少设计资源"))
    h.run_until(local("Asia/Shanghai", 2026, 12, 4, 15, 0))
    assert "又到每周小结的时间了：共 6 个小问题，大约 4 分钟。" in h.fake.texts_for("chen")[-1]
    h.say("chen", "4")
    listing = h.say("chen", "发布顺利")[0]
    assert "还没关闭的障碍（已解决 / 仍然存在 / 不再相关）：\n1. “测试环境不稳定”\n2. “缺少设计资源”" in listing
    noted = h.say("chen", "1 完成")[0]
    assert noted.startswith("已记下第 1 项 ✏️") and "1. “测试环境不稳定” —— 已解决 ✅" in noted
    garbage = h.say("chen", "看情况吧")
    assert garbage[0].startswith("抱歉，我没能把这条回复对应到事项上。这条消息里的内容都没有记录。")
    assert "`1 完成 2 仍然存在 3 不再相关`" in garbage[0] and "`都完成了`" in garbage[0]
    assert "(4/6)" in h.say("chen", "2 仍然存在")[0]
    with transaction(h.app.sessions) as s:
        assert {o.text: o.status for o in s.exec(select(Obstacle))} == {
            "测试环境不稳定": "resolved",
            "缺少设计资源": "open",
        }
    h.say("chen", "back")
    h.say("chen", "都完成了")  # one word for all
    with transaction(h.app.sessions) as s:
        assert {o.status for o in s.exec(select(Obstacle))} == {"resolved"}


def test_items_left_out_keep_their_status_and_garbage_records_nothing(harness):
    h = harness
    h.clock.set(local("Europe/London", 2026, 12, 4, 14, 0))
    seed_follow_ups(h, "alice", obstacles=("flaky CI",), plan=("ship checkout", "hire"))
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    h.say("alice", "4")
    h.say("alice", "good")
    wrong = h.say("alice", "1 done 3 maybe")[0]
    assert wrong.startswith(
        "I couldn't read “maybe” for item 3: it takes resolved / still / drop. Nothing from that message was recorded."
    )
    assert (
        "Reply with a number and a status for each item, like `3 still`, or one word for all, like `all done`." in wrong
    )
    assert h.say("alice", "7 done")[0].startswith("There is no item 7: the items are numbered 1 to 3.")
    assert {k for k in h.answers(h.runs("alice")[-1].id) if ":" in k} == set()
    noted = h.say("alice", "3 still")[0]
    assert noted.startswith("Noted for 3 ✏️ The others keep their status")
    assert "(4/6) Is anything in your way" in h.say("alice", "skip")[0]
    run = h.runs("alice")[-1]
    assert {k: v for k, v in h.answers(run.id).items() if ":" in k} == {"obstacle_status:0": "still"}
    with transaction(h.app.sessions) as s:
        assert [(o.status, o.times_reported) for o in s.exec(select(Obstacle))] == [("open", 2)]


def test_a_repeated_blocker_asks_whether_it_is_the_same_and_no_opens_a_new_one(harness):
    h = harness
    h.clock.set(local("Asia/Shanghai", 2026, 12, 4, 14, 0))
    seed_follow_ups(h, "chen", obstacles=("安全审批还没下来",))
    h.run_until(local("Asia/Shanghai", 2026, 12, 4, 15, 0))
    h.say("chen", "4")
    h.say("chen", "发布顺利")
    h.say("chen", "跳过")  # the follow-up list: keep it as it is
    same = h.say("chen", "安全审批没下来")[0]
    assert same.startswith("(4/6) 这听起来和你之前提到的障碍很像：“安全审批还没下来”。是同一个吗？")
    assert h.say("chen", "也许")[0].startswith("请回复“是”（同一个障碍）或“不是”（新的障碍）。")
    assert h.say("chen", "不是")[0].startswith("(5/6)")
    with transaction(h.app.sessions) as s:
        assert sorted((o.text, o.times_reported) for o in s.exec(select(Obstacle))) == [
            ("安全审批没下来", 1),
            ("安全审批还没下来", 1),
        ]
    h.say("chen", "back")
    h.say("chen", "back")
    h.say("chen", "安全审批还没下来。")  # answered again: asked again; this time it is the same one
    h.say("chen", "是")
    with transaction(h.app.sessions) as s:
        assert [(o.text, o.times_reported) for o in s.exec(select(Obstacle))] == [("安全审批还没下来", 2)]


def test_a_monthly_review_asks_about_the_open_obstacles_in_one_question(harness):
    h = harness
    h.clock.set(local("Europe/London", 2026, 11, 30, 9, 0))
    seed_follow_ups(h, "alice", obstacles=("flaky CI", "security sign-off"))
    h.run_until(local("Europe/London", 2026, 12, 1, 10, 0))
    review = h.fake.texts_for("alice")[-1]
    assert "(5 questions, about 4 minutes)" in review and "(1/5) First, a quick look back" in review
    h.say("alice", "all done")
    with transaction(h.app.sessions) as s:
        assert {o.status for o in s.exec(select(Obstacle))} == {"resolved"}


def test_back_to_the_look_back_shows_no_raw_answer_and_a_bare_yes_closes_nothing(harness):
    """Found trying it: after `back` the grouped answer showed as "{'obstacle_status:0': 'resolved', …}", and a bare
    "yes" marked every item done, the open obstacles resolved."""
    h = harness
    h.clock.set(local("Asia/Shanghai", 2026, 12, 4, 14, 0))
    seed_follow_ups(h, "chen", obstacles=("测试环境不稳定", "缺少设计资源"))
    h.run_until(local("Asia/Shanghai", 2026, 12, 4, 15, 0))
    h.say("chen", "4")
    h.say("chen", "发布顺利")
    refused = h.say("chen", "是")
    assert refused[0].startswith("抱歉，我没能把这条回复对应到事项上。这条消息里的内容都没有记录。")
    assert "(4/6)" in h.say("chen", "1 完成 2 仍然存在")[0]
    again = "\n".join(h.say("chen", "back"))
    assert "1. “测试环境不稳定” —— 已解决 ✅" in again
    assert "{" not in again and "obstacle_status" not in again
    with transaction(h.app.sessions) as s:
        assert {o.text: o.status for o in s.exec(select(Obstacle))} == {
            "测试环境不稳定": "resolved",
            "缺少设计资源": "open",
        }
