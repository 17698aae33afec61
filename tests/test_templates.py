"""Every message template renders, in English and in Chinese, with the parameters its call sites really pass.

The parameters are collected by driving the real flows through the test harness (every `Reply` handed to the
renderer is recorded), plus explicit fixtures for the few call sites that scenario cannot reach. The test fails
when a template under `prompts/` is rendered by neither: a new template needs a way to be reached here.
It never depends on wording: only that each template renders without error and says something.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jinja2

import bot.engine
from conversations import charts
from conversations.events import InboundEvent
from conversations.flows import Flow
from conversations.machine import Reply, RunEvent, RunState, Status, Trigger, ask
from conversations.render import LOCALES, Audience, Renderer
from conversations.weekly_checkin import WEEKLY_CHECKIN
from tests.helpers import DEMO, make_harness, utc

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
ACTION = {  # one development action as bot/actions.py passes it (bot/digest.py `action_params` and its notes)
    "id": 12,
    "text": "Practise a demo",
    "source": "typed",
    "title": None,
    "since": utc(2026, 11, 20, 9, 0),
    "days_open": 17,
    "due": date(2026, 12, 4),
    "overdue": True,
    "status": "open",
    "notes": [{"text": "booked a slot", "at": utc(2026, 11, 21, 9, 0)}],
}
WHEN = utc(2026, 12, 7, 12, 0)
_WEEKS = charts.last_periods("2026-W48")
_FACTS = [
    charts.WeekFacts(p, st, m)
    for p, st, m in zip(_WEEKS, ["paused", "off", "none"] + ["completed"] * 9, [None] * 3 + [3] * 9, strict=True)
]
CHARTS_PERSON = [
    charts.mood_chart(_FACTS).params(),
    charts.rhythm_chart(_FACTS).params(),
    charts.actions_chart(_WEEKS, {_WEEKS[3]: 2}, {_WEEKS[5]: 1}).params(),
    charts.key_results_chart(
        [charts.KeyResultFacts("1.1", 0, 10, 4), charts.KeyResultFacts("1.2", None, None, None, done=False)], 40.0
    ).params(),
]
CHARTS_TEAM = [
    charts.team_mood_chart(_WEEKS, {p: [2, 3, 4] if i % 2 else None for i, p in enumerate(_WEEKS)}).params(),
    charts.participation_chart(_WEEKS, {p: (3, 4) for p in _WEEKS}).params(),
    charts.obstacles_chart(_WEEKS, {p: (1, 0) for p in _WEEKS}).params(),
    charts.kudos_chart({"teamwork": 2, "ownership": 1}).params(),
]


def _all_templates() -> set[str]:
    return {p.relative_to(PROMPTS).as_posix() for p in PROMPTS.rglob("*.j2")}


class _Recording(jinja2.FileSystemLoader):
    """A loader that notes every template file it hands out (includes and imports too)."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.loaded: set[str] = set()

    def get_source(self, environment, template):
        found = super().get_source(environment, template)
        self.loaded.add(template)
        return found


def _recording_renderer() -> tuple[Renderer, _Recording]:
    renderer = Renderer()
    loader = _Recording(str(PROMPTS))
    renderer._env.loader = loader
    renderer._env.cache = None  # every render loads its files again, so nothing is attributed to an earlier one
    return renderer, loader


# ------------------------------------------------------------------------------------------------ the scenario


def _in_channel(h, handle: str, text: str, channel: str = "#product") -> None:
    h._seq += 1
    h.app.handle(
        InboundEvent(
            platform="console",
            user=handle,
            kind="command",
            text=text,
            channel=channel,
            dedup_key=f"chan:{h._seq}",
            received_at=h.clock.now(),
        )
    )
    h.app.deliver_outbox()


def _stranger(h, user: str, text: str) -> None:
    h._seq += 1
    h.app.handle(
        InboundEvent(
            platform="console", user=user, kind="message", text=text, dedup_key=f"x:{h._seq}", received_at=h.clock.now()
        )
    )
    h.app.deliver_outbox()


def _scenario(tmp_path: Path) -> None:
    """A few weeks of an organisation using everything, as its members would type it."""
    config = {
        **DEMO,
        "admins": ["maria"],
        "goals": {"visible_to_team": True},
        "members": [
            *DEMO["members"],
            {"handle": "dan", "name": "Dan Wu", "timezone": "Europe/London"},
            {"handle": "eve", "name": "Eve Ng", "timezone": "Asia/Shanghai", "locale": "zh"},
        ],
    }
    h = make_harness(tmp_path, start=utc(2026, 11, 23, 9, 0), config=config)
    say = h.say

    def script(*lines: tuple[str, tuple[str, ...]]) -> None:
        for handle, texts in lines:
            for text in texts:
                say(handle, text)

    try:
        for handle in ("alice", "chen"):
            script((handle, ("/help", "/nope", "4", "edit", "back", "/review")))
        # A week of check-ins, with every kind of answer and keyword.
        h.run_until(utc(2026, 11, 27, 16, 0))  # Friday afternoon: delivered
        script(
            (
                "alice",
                ("great", "9", "4", "", "x" * 5000, "Shipped it with Chen", "back", "Shipped it with Chen", "later"),
            ),
            ("chen", ("四", "感谢陈晨帮忙排查", "等 IT 的密钥", "skip")),
            ("bo", ("4", "skip")),
        )
        h.run_until(utc(2026, 11, 28, 12, 0))  # snoozes end, reminders go out
        script(
            (
                "alice",
                (
                    "/checkin",
                    "Waiting for keys",
                    "billing page; review design; a; b",
                    "",
                    "skip",
                    "/checkin",
                    "5",
                    "edit",
                    "99",
                    "/checkin",
                    "2",
                    "/checkin",
                    "Shipped it",
                    "edit wins",
                    "skip",
                    "later",
                ),
            ),
            ("chen", ("/checkin", "修好测试环境", "没有", "无")),
            ("bo", ("/checkin", "/checkin", "3")),
            ("maria", ("/checkin", "4", "hired", "none", "plan", "done")),
        )
        h.run_until(utc(2026, 11, 30, 12, 30))  # windows close; Bo's half-done check-in expires
        script(
            ("bo", ("4", "/pause until someday", "/pause 2w", "/resume", "/resume")),
            ("alice", ("edit", "later")),
            ("chen", ("/暂停 下周一",)),
        )
        # Kudos, in a channel, with every refusal.
        _in_channel(h, "alice", "/kudos @bo for the review #teamwork")
        _in_channel(h, "chen", "/kudos @alice 谢谢你帮忙排查问题 #协作")
        script(
            (
                "alice",
                (
                    "/kudos",
                    "/kudos @alice for me",
                    "/kudos @bo",
                    "/kudos @nobody for the help",
                    "/kudos @bo for the help #nosuchvalue",
                    "/kudos @bo " + "x" * 5000,
                    "/kudos @bo for the help "
                    + " ".join(f"#{v}" for v in ("teamwork", "ownership", "customer", "growth", "collaboration") * 8),
                    "/kudos me",
                    "/kudos wall",
                ),
            ),
            ("bo", tuple(f"/kudos @alice for the help {n}" for n in range(11))),
        )
        # A named retro in a channel and an anonymous one, with refusals, a skip and late answers.
        _in_channel(h, "alice", "/retro")
        _in_channel(h, "alice", '/retro start "Checkout" @nobody')
        _in_channel(h, "alice", '/retro start "Checkout" @bo due 90d')
        _in_channel(h, "alice", '/retro start "Checkout redesign" @alice @bo @chen')
        script(
            (
                "alice",
                (
                    "Ship by Nov 20",
                    "back",
                    "Ship by Nov 20",
                    "Pairing",
                    "Late QA",
                    "@nobody fix it",
                    "@bo add a smoke test; @alice write docs",
                    "edit",
                    "1",
                    "Ship by Nov 24",
                ),
            ),
            ("bo", ("later", "skip", "/retro")),
            ("chen", ("按时上线", "跳过")),
        )
        _in_channel(h, "maria", '/retro start "Q4 planning" @alice @bo @chen anonymous due 24h')
        script(("alice", ("goal", "went well", "went badly", "none")))
        h.run_until(utc(2026, 12, 1, 13, 0))  # reminders, the close, summaries; the monthly review is out
        script(("alice", ("/retro repost", "/retro repost", "/retro repost 999")), ("chen", ("/复盘 repost",)))
        # The monthly review.
        script(
            (
                "alice",
                (
                    "/review",
                    "what",
                    "still",
                    "The API keys",
                    "back",
                    "The API keys",
                    "2",
                    "2 two more days of QA time",
                    "SQL; Go; Rust",
                    "SQL",
                    "Keep the demos; share plans earlier",
                    "edit",
                    "4",
                    "Go",
                    "edit",
                    "5",
                    "Actually nothing",
                ),
            ),
            ("chen", ("/review", "还在", "没有", "1 需要拍板", "系统设计", "跳过")),
            ("dan", ("/review", "later", "skip")),
            ("bo", ("/review", "none", "skip")),
            ("maria", ("/review", "none", "coaching")),
        )  # no manager: no support question
        # Feedback on request: refusals, a round trip with an edit, a snooze and a decline, sharing.
        script(
            (
                "alice",
                (
                    "/feedback",
                    "/feedback nonsense",
                    "/feedback ask",
                    "/feedback ask @bo @chen @dan @maria about x",
                    "/feedback ask @alice about x",
                    "/feedback ask @nobody about x",
                    "/feedback ask @bo about " + "t" * 300,
                    "/feedback share",
                    "/feedback share 9",
                    "/feedback ask @dan @eve about the checkout launch",
                    "/feedback share 1",
                    "/feedback share 1",
                ),
            ),
            (
                "dan",
                ("calm", "back", "calm under pressure", "more demos", "pair with QA", "edit", "2", "even more demos"),
            ),
            ("maria", ("/feedback",)),
            ("alice", ("/feedback",)),
        )
        h.run_until(utc(2026, 12, 2, 3, 0))
        script(("eve", ("later",)))
        h.run_until(utc(2026, 12, 2, 6, 0))
        script(("eve", ("细心", "跳过", "/反馈")))
        # 1:1s: proposals declined and accepted, topics, notes, action items, ticks, refusals.
        script(
            ("chen", ("/1on1 propose weekly wed 10:00", "/一对一 提议 乱七八糟")),
            ("maria", ("/1on1 decline", "/1on1 accept", "/1on1 propose weekly wed 9:00 @alice")),
            (
                "alice",
                (
                    "/1on1",
                    "/1on1 accept",
                    "/1on1 add the on-call rota",
                    "/1on1 add",
                    "/1on1 add " + "x" * 1001,
                    "/1on1 note we agreed to split it",
                    "/1on1 note private nervous",
                    "/1on1 action write the rota doc",
                    "/1on1 done 1",
                    "/1on1 done 1",
                    "/1on1 done 99",
                    "/1on1 done",
                    "/1on1 nonsense",
                    "/1on1 propose weekly mon 10:00 @chen",
                ),
            ),
            ("dan", ("/1on1 add x", "/1on1 propose weekly mon 10:00")),
            ("bo", ("/1on1 propose biweekly fri 14:00",)),
            ("maria", ("/1on1 accept", "/1on1 add the rota", "/1on1 @bo", "/1on1 accept @nobody")),
            ("chen", ("/一对一 提议 每月 周一 10点", "/一对一 添加 值班", "/一对一")),
            ("maria", ("/1on1 accept @chen", "/1on1 add @chen 预算")),
            ("bo", ("/1on1 stop",)),
        )
        # A second week: last week's priorities, open obstacles and retro actions come back.
        h.run_until(utc(2026, 12, 4, 16, 0))
        script(
            (
                "alice",
                (
                    "4",
                    "good",
                    "maybe",
                    "done",
                    "partly",
                    "what",
                    "still",
                    "later",
                    "x",
                    "1",
                    "none",
                    "a; b; c; d",
                    "a",
                    "skip",
                ),
            ),
            ("chen", ("3", "好", "完成", "还在", "没有", "重点一", "跳过")),
            ("bo", ("4", "ok", "back", "back", "skip", "skip")),
        )
        for text in (
            "/support",
            "/support 1 handle",
            "/support 1 1on1",
            "/support 1 resolved",
            "/support 99 handle",
            "/support x",
        ):
            say("maria", text)
        say("alice", "/support")
        # /me and the things people do with their own data.
        for handle in ("alice", "chen"):
            for text in (
                "/me",
                "/me export",
                "/me export please",
                "/me nonsense",
                "/me access",
                "/me access 2",
                "/me access x",
                "/me flag",
                "/me flag 2026-W48 wins I wrote the wrong week",
                "/me flag 2020-W01 wins x",
                "/me flag hint 1 not true",
                "/me flag hint 99 x",
                "/me ack",
                "/me ack 1",
                "/me ack 999",
                "/note",
                "/note 2026-W48 wins it was Bo's idea",
                "/note 2020-W01 wins x",
                "/me rejoin",
                "/me delete",
                "/me delete nonsense",
                "/me delete confirm 0000",
                "/me delete cancel",
            ):
                say(handle, text)
        script(("bo", ("/me flag 2026-W48 mood not right",)), ("maria", ("/me ack 1", "/me ack 1", "/me ack 3", "/me")))
        # Reporting lines: people the org file gives no manager ask, accept, decline, withdraw and let expire.
        script(
            (
                "alice",
                (
                    "/flywheel",
                    "/flywheel nonsense",
                    "/flywheel team",
                    "/flywheel team add @bo",
                    "/flywheel team add @nobody",
                    "/flywheel manager @bo @alice",
                    "/flywheel cancel 999",
                    "/flywheel accept 999",
                ),
            ),
            ("dan", ("/flywheel team add @eve", "/flywheel team add @eve")),  # request 1
            ("eve", ("/flywheel decline 1",)),
            ("dan", ("/flywheel team add @eve",)),  # request 2
            ("eve", ("/flywheel accept 2", "/flywheel accept 2")),
            ("dan", ("/flywheel team add @eve",)),
            ("eve", ("/flywheel team add @dan",)),
            ("alice", ("/flywheel team add @dan", "/flywheel cancel 3", "/flywheel team add @dan")),  # 3, 4
            ("dan", ("/flywheel accept 4",)),
            ("maria", ("/flywheel team add @eve",)),  # request 5: Eve moves from Dan to Maria
            ("eve", ("/flywheel accept 5",)),
            (
                "maria",
                (
                    "/flywheel manager @eve @dan",
                    "/flywheel manager @eve @dan",
                    "/flywheel manager @bo @dan",
                    "/flywheel team",
                ),
            ),
            ("dan", ("/flywheel manager @eve @maria", "/flywheel team add @maria")),
            ("alice", ("/flywheel team add @eve",)),
        )  # left unanswered: it expires
        h.run_until(utc(2026, 12, 13, 12, 0))  # requests expire; digests go out on Mondays
        script(("maria", ("/flywheel accept 6",)))
        # Replies from the digest, an answer back, and upward feedback (bot/replies.py).
        script(
            ("maria", ("/reply", "/reply 1 Thanks for the QA work on the billing page", "/reply 99 hello")),
            ("maria", ("/reply 2 " + "x" * 4001, "/upward", "/upward nonsense", "/upward answer Thank you all")),
            ("alice", ("/reply 1 Glad it helped", "/upward")),
            ("chen", ("/回复 1 谢谢", "/向上反馈")),
        )
        _goals(h, script)
        h.run_until(utc(2027, 1, 15, 12, 0))
        # Strangers and former members.
        _stranger(h, "mallory", "hello")
        code = None
        for text in say("bo", "/me delete"):
            code = next((w for w in text.replace("`", " ").split() if w.isdigit() and len(w) == 4), code)
        say("bo", f"/me delete confirm {code}")
        say("bo", "hello")
        say("bo", "/me rejoin")
        say("maria", "/me")
    finally:
        h.app.close()


def _goals(h, script) -> None:
    """Goals made together in the last quarter, the quarterly talk at the new one, and key results in a check-in."""
    script(
        (
            "maria",
            (
                "/goals team Happier customers; KR NPS 30 to 45",
                "/goals team 2 Faster releases; KR weekly deploys",
                "/goals team Third; KR y",
                "/goals team Fourth; KR w",
                "/goals team 5 a; KR b",
                "/goals team 3 none",
                "/goals team 3 none",
                "/goals edit 1 Grow the team; KR hire 2 engineers",
                "/goals align 1 1",
            ),
        ),
        ("bo", ("/goals team x; KR y", "/goals edit 1 Faster builds; KR build time from 20 to 10 min")),
        (
            "alice",
            (
                "/goals",
                "/goals edit 1 Faster onboarding; KR activation from 40 to 60 %; KR onboarding guide published",
                "/goals edit 3 x; KR y",
                "/goals edit 2 only a goal",
                "/goals edit 2 g; a; b; c; d",
                "/goals edit 2 g; KR from 5 to 5",
                "/goals edit 2 Second; KR two talks given",
                "/goals edit 2 none",
                "/goals comment 1 Is 60 enough?",
                "/goals align 1 3",
                "/goals align 1 none",
                "/goals align 1 1",
                "/goals align team 1 1",
                "/goals agree",
                "/goals nonsense",
                "/goals @bo",
                "/goals @nobody",
            ),
        ),
        (
            "maria",
            (
                "/goals",
                "/goals comment @alice 1 Could it be 65?",
                "/goals edit @alice 1 Faster onboarding; KR activation from 40 to 65 %; KR guide published",
                "/goals agree @alice 2",
                "/goals agree @alice",
                "/goals @alice",
            ),
        ),
        ("alice", ("/goals agree 1", "/goals")),
        (
            "chen",
            (
                "/目标",
                "/目标 edit 1 新人上手更快；关键结果：激活率 从40到60%；关键结果：上手指南发布",
                "/goals comment 1 这样可以吗？",
            ),
        ),
        ("maria", ("/goals agree @chen", "/goals agree @chen")),
    )
    h.run_until(utc(2027, 1, 4, 12, 0))  # the quarterly talk falls due in the new quarter's first working days
    script(
        (
            "alice",
            (
                "/quarter",
                "nonsense",
                "KR9 5",
                "KR2 5",
                "KR1 58, KR2 done",
                "A hard quarter taught me to ask early",
                "Spoke at the all-hands; fixed CI",
                "Ship v2; KR talks from 0 to 5",
                "none",
                "none",
                "present at two demos",
                "3",
                "a mentor",
                "edit",
                "3",
                "Ship v2; KR talks from 0 to 6",
            ),
        ),
        (
            "chen",
            (
                "/季度",
                "重点项目按时上线；帮新人上手",
                "新人上手更快；关键结果：激活率 从40到60%",
                "无",
                "无",
                "结对编程",
                "无",
            ),
        ),
        ("maria", ("/goals agree @alice", "/goals agree @chen")),
    )
    h.run_until(utc(2027, 1, 8, 16, 0))  # the check-in asks about the key results
    script(
        ("alice", ("4", "good", "all done", "KR1 x", "KR1 3", "none", "a", "no", "edit")),
        ("chen", ("4", "好", "都完成了", "KR1 45", "没有", "重点一", "无")),
    )


def _recorded(tmp_path: Path) -> list[Reply]:
    """Every reply the scenario renders, and every reply the state machine gives for any event in any state the
    scenario's runs were really in (the flows' own states, with the context the bot started them with)."""
    seen: list[Reply] = []
    states: dict[tuple, tuple[Flow, RunState, Any]] = {}
    render, advance_ = Renderer.render, bot.engine.advance

    def record(self: Renderer, reply: Reply, audience: Audience) -> str:
        seen.append(reply)
        return render(self, reply, audience)

    def advance_recorded(flow: Flow, run: RunState, event: RunEvent, now):
        key = (
            flow.name,
            run.status,
            run.step,
            bool(run.answers),
            run.reminded,
            run.nudge_kind,
            tuple(sorted(run.context)),
        )
        states.setdefault(key, (flow, run, now))
        return advance_(flow, run, event, now)

    Renderer.render = record  # type: ignore[method-assign]
    bot.engine.advance = advance_recorded
    try:
        _scenario(tmp_path)
    finally:
        Renderer.render = render  # type: ignore[method-assign]
        bot.engine.advance = advance_
    for flow, state, now in states.values():
        # The same run a moment later: snoozed, skipped, or with the window about to close.
        for run in (state, replace(state, nudge_kind="snooze"), replace(state, status=Status.SKIPPED)):
            for trigger in Trigger:
                for text in (None, "4", "nonsense", "none", "@nobody do it", "2 more QA time"):
                    for at in (now, run.closes_at - timedelta(minutes=1), run.closes_at):
                        seen.extend(advance_(flow, run, RunEvent(trigger, text), at).replies)
    return seen


# ------------------------------------------------------------------------------------------------ explicit fixtures
# Call sites the scenario cannot reach (platform failures, directory look-ups, …), with the parameters those call
# sites pass.
def _asked_after_a_skipped_optional_question() -> Reply:
    """No default flow has an optional question before the last one, but a configured flow may (machine.py)."""
    steps = ("manager_help", "mood")
    run = RunState(Status.IN_PROGRESS, "mood", steps, {"manager_help": None}, WHEN, "Europe/London")
    return ask(WEEKLY_CHECKIN, run, "mood", run.answers, lead="skipped_question")


def _lagging_report() -> dict[str, Any]:
    from datetime import date

    from conversations.digest import Report, Week, report_params

    krs = (
        {
            "goal": "Faster onboarding",
            "text": "activation",
            "start": 40.0,
            "target": 60.0,
            "unit": "%",
            "current": 41.0,
        },
        {"goal": "Faster onboarding", "text": "guide published", "start": None, "target": None, "done": False},
    )
    weeks = (Week(period="2027-W11", status="completed", mood=4),)
    return report_params(
        Report(member_id=1, name="Dev", weeks=weeks, key_results=krs, quarter="2027-Q1", day=date(2027, 3, 15))
    )


FIXTURES: list[Reply] = [
    _asked_after_a_skipped_optional_question(),
    Reply("common/admin_send_failed", {"who": "alice", "reason": "not_in_channel"}),  # bot/outbox.py _tell_admins
    Reply("common/admin_render_failed", {"who": "Alice Martin (alice)", "outbox_id": 7}),  # bot/outbox.py _tell_admins
    Reply("common/flow_off"),  # bot/app.py _start: a flow switched off in the org file
    Reply("common/between_windows", {"closed_at": WHEN, "opens_at": WHEN + timedelta(days=3)}),  # bot/app.py _start
    *[  # `/quarter` once this quarter's talk was had and its window closed (bot/inbound.py Starts.start)
        Reply("quarterly_talk/between_windows", {"closed_at": WHEN, "opens_at": WHEN + timedelta(days=40), "had": had})
        for had in (False, True)
    ],
    Reply("common/stale_button"),  # bot/app.py _dispatch: a button from an earlier question
    Reply("common/not_understood"),  # bot/app.py handle: acting on a message failed
    *[Reply("common/lookup_failed", {"platform": p}) for p in ("slack", "feishu")],  # bot/newcomers.py refusal
    *[
        Reply("common/not_in_directory", {"platform": p, "reason": r, "admins": a})
        for p in ("slack", "feishu")
        for r in ("bot", "deactivated", "outside")
        for a in ([], ["Maria Rossi"])
    ],
    Reply("kudos/too_many_values", {"count": 9}),  # bot/kudos.py give: the values do not fit in storage
    Reply("own_data/delete_stale", {"minutes": 10}),  # bot/own_data.py delete_command: the code expired
    Reply("own_data/flag_not_yours", {"who": "@bo"}),  # bot/own_data.py flag
    Reply("own_data/flag_not_yet", {"period": "2026-W49", "which": "wins", "manager_name": "Maria"}),  # flag
    *[Reply("common/listed_not_loaded", {"admins": a}) for a in ([], ["Maria Rossi"])],  # bot/newcomers.py refusal
    Reply("team/not_yourself"),  # bot/team.py _ask
    Reply("team/loop"),  # bot/team.py _admin_set, _answer: the line would make a loop
    *[Reply("team/loop_people", {"names": n}) for n in (["Alice"], ["Alice", "Bo"])],  # bot/team.py _ask
    Reply("team/same_person", {"who": "Alice"}),  # bot/team.py _admin_set
    Reply("retro/anonymous_too_few", {"count": 2, "minimum": 3}),  # bot/retro.py start
    # One question per follow-up item: check-ins started before follow-ups were grouped still ask these.
    *[
        Reply(t, {"item": "security sign-off", "item_number": n, "item_total": 2})
        for t in ("weekly_checkin/plan_review", "common/obstacle_status", "common/retro_action")
        for n in (1, 2)
    ],
    *[Reply(f"common/{t}") for t in ("invalid_action_status", "invalid_obstacle_status", "invalid_plan_status")],
    # Development actions (bot/actions.py): every reply of `/action`, with the shapes an action takes.
    *[
        Reply(f"action/{t}", {"action": a, "manager": m})
        for t in ("added", "closed", "already", "noted", "not_proposed", "accepted", "declined")
        for a in (ACTION, {**ACTION, "status": "done", "due": None, "notes": []}, {**ACTION, "status": "declined"})
        for m in ("Maria", None)
    ],
    *[
        Reply("action/list", {"open": o, "proposed": p, "closed": c})
        for o, p, c in (
            (
                [
                    ACTION,
                    {**ACTION, "source": "retro", "title": "Launch", "days_open": 1, "due": None, "overdue": False},
                ],
                [{**ACTION, "status": "proposed", "source": "suggested", "days_open": 0}],
                [{**ACTION, "status": "done"}, {**ACTION, "status": "dropped"}],
            ),
            ([], [], []),
        )
    ],
    *[
        Reply("action/usage", {"problem": p, "part": "fly"})
        for p in ("bad_due", "no_text", "too_long", "no_id", "no_who", "extra", "unknown")
    ],
    Reply("action/not_found", {"id": 12}),
    Reply("action/unknown_member", {"who": "@nobody"}),
    Reply("charts/unknown_member", {"who": "@nobody"}),
    Reply("charts/not_yours", {"who": "Alice"}),
    Reply("charts/none", {"who": None}),
    Reply("charts/none", {"who": "Alice"}),
    Reply("charts/person", {"name": "Alice", "own_view": False, "charts": CHARTS_PERSON}),
    Reply("charts/team", {"reports": 4, "min_group": 3, "charts": CHARTS_TEAM}),
    Reply("action/suggest_yourself"),
    Reply("action/suggest_not_yours", {"who": "Bo"}),
    *[
        Reply("action/suggestion_sent", {"who": "Alice", "text": "Pair with Bo", "due": d})
        for d in (None, date(2027, 1, 15))
    ],
    *[Reply("action/suggested", {**ACTION, "manager": "Maria", "due": d}) for d in (None, date(2027, 1, 15))],
    *[Reply(f"action/suggestion_{t}", {"who": "Alice", "text": "Pair with Bo"}) for t in ("accepted", "declined")],
    # A blocker that repeats an open obstacle, and a partly answered follow-up list (conversations/machine.py).
    Reply("common/same_obstacle", {"obstacle": "security sign-off"}),
    Reply("common/invalid_same_obstacle"),
    Reply("common/lead_follow_ups_noted", {"noted": ["1", "3"]}),
    # Upward feedback once disclosed (bot/replies.py): the scenario's team is too small to reach it.
    Reply("replies/upward_set", {"period": "2026-12", "texts": ["Keep the demos", "保持一对一"], "minimum": 3}),
    Reply("replies/upward_answer", {"from": "Maria", "period": "2026-12", "text": "Thank you all"}),
    Reply("replies/upward_answer_sent", {"period": "2026-12", "count": 4}),
    Reply(
        "digest/footer",
        {
            "manager_hints": [{"key": "give_kudos", "given": 2, "kudos": 1, "thanks": 1}],
            "upward": {"period": "2026-12", "texts": ["Keep the demos"], "minimum": 3},
            "can_reply": True,
        },
    ),
    *[
        Reply(
            "replies/received",
            {
                "about": about,
                "step": "wins",
                "period": "2026-W49",
                "quote": "q",
                "from": "Maria",
                "number": 3,
                "text": "t",
                "answer_back": back,
                "own_item": not back,
            },
        )
        for about in ("answer", "obstacle", "support")
        for back in (False, True)
    ],
    # A 1:1 with no working day for both before the next one (bot/oneonone.py _send_agenda): the org file's
    # calendar in the scenario has no such week.
    Reply("oneonone/skipped", {"planned": WHEN, "next": WHEN + timedelta(days=7)}),
    # A key result that lags the quarter's time (the digest, conversations/digest.py), of both kinds.
    Reply("digest/person", _lagging_report()),
]


def _shape(value: Any) -> Any:
    """What of a parameter can choose a branch in a template: a word (a mode, a lead), a flag, a count, emptiness,
    the keys of a mapping (a question left out of one person's run is missing from theirs)."""
    if isinstance(value, (bool, type(None))) or (isinstance(value, int) and value < 3):
        return value
    if isinstance(value, str):
        return value if value.isidentifier() and len(value) <= 24 else "text"
    if isinstance(value, dict):  # which keys a template may read, and which of them say nothing
        return ("dict", tuple(sorted((str(k), not v) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, len(value) > 0)
    return type(value).__name__


def _distinct(replies: list[Reply]) -> list[Reply]:
    """One reply per template and shape of its parameters, to keep the test quick."""
    out: dict[tuple, Reply] = {}
    for r in replies:
        out.setdefault((r.template, tuple(sorted((k, _shape(v)) for k, v in r.params.items()))), r)
    return list(out.values())


def test_every_template_renders_in_both_languages_with_what_its_callers_pass(tmp_path):
    replies = _distinct(_recorded(tmp_path) + FIXTURES)
    renderer, loader = _recording_renderer()
    failures: list[str] = []
    for reply in replies:
        for locale in LOCALES:
            audience = Audience(
                locale,
                "Asia/Shanghai" if locale == "zh" else "Europe/London",
                "陈晨" if locale == "zh" else "Alice Martin",
                "Maria",
            )
            try:
                text = renderer.render(reply, audience)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, not only the first
                failures.append(f"{reply.template} [{locale}] with {sorted(reply.params)}: {type(exc).__name__}: {exc}")
                continue
            if not text.strip():
                failures.append(f"{reply.template} [{locale}] rendered nothing")
            elif any(mark in text for mark in ("{{", "}}", "{%", "%}")):
                failures.append(f"{reply.template} [{locale}] shows template syntax: {text!r}")
    assert failures == []
    assert sorted(_all_templates() - loader.loaded) == [], "no test renders these (reach them above or add a fixture)"
    assert loader.loaded <= _all_templates()
