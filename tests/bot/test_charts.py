"""Charts (issue 18): the numbers each chart is given are the numbers the text reports; a team's charts never show
an aggregate of fewer than three people; Slack gets a PNG through the upload flow, Feishu a chart component."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot import access
from bot.charts import team_charts
from bot.codec import decode_replies, encode_replies
from bot.platforms.base import OutboundMessage, Recipient
from bot.platforms.feishu.cards import build_cards
from bot.platforms.slack.messenger import SlackMessenger
from conversations.charts import (
    FEW,
    PAUSED,
    Chart,
    WeekFacts,
    charts_of,
    last_periods,
    mood_chart,
    rhythm_chart,
    sparkline,
)
from conversations.digest import Report, Week
from fakes.slack_api import FakeSlack
from storage.db import transaction
from storage.models import Member
from tests.bot.test_digest import run_checkin
from tests.helpers import local
from tests.times import utc

PERIODS = last_periods("2026-W48")


def _chart_replies(h, handle):
    return [r for rec, m in h.fake.sent if rec.address == handle for r in m.replies if r.template.startswith("charts/")]


def _line(text, start):
    return next(line for line in text.splitlines() if line.lstrip().startswith(start))


def test_a_paused_week_a_week_off_and_a_missing_one_are_marked_not_zero():
    weeks = [WeekFacts("2026-W45", "completed", 4), WeekFacts("2026-W46", "paused"), WeekFacts("2026-W47", "off")]
    weeks.append(WeekFacts("2026-W48", "expired"))
    mood = mood_chart(weeks).series[0]
    assert mood.values == (4.0, None, None, None)
    assert mood.marks == (None, "paused", "off", "missing")
    assert sparkline(mood, 5) == "▆‖··"
    rhythm = rhythm_chart(weeks).series[0]
    assert rhythm.values == (1.0, None, None, 0.0)  # missed counts; paused and off are nothing to miss
    waiting = [*weeks[:3], WeekFacts("2026-W48", "prompted")]  # this week's check-in can still come: not missed
    assert rhythm_chart(waiting).series[0].marks[-1] == mood_chart(waiting).series[0].marks[-1] == "open"
    assert rhythm_chart(waiting).series[0].values[-1] is None
    assert sparkline(mood_chart(waiting).series[0], 5) == "▆‖·…"


def test_me_shows_my_charts_with_the_numbers_of_the_text_in_both_languages(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", mood=4)
    text = h.say("alice", "/me")[-1]
    chart_reply = _chart_replies(h, "alice")[-1]
    charts = {c.key: c for c in charts_of(chart_reply.template, chart_reply.params)}
    assert set(charts) == {"mood", "rhythm", "actions"}
    mood = charts["mood"].series[0]
    shown = _line(text, "• Mood, 1 to 5:").split("  ", 1)[1].split()
    assert shown == [str(int(v)) if v is not None else "–" for v in mood.values]
    assert mood.values[-1] == 4.0  # this week's answer, as the digest section above says
    assert sparkline(mood, 5) in text
    checked = _line(text, "• Checked in:").split("  ", 1)[1].split()
    assert checked == [{1.0: "✓", 0.0: "✗"}[v] for v in charts["rhythm"].series[0].values]
    zh = h.say("chen", "/me")[-1]
    assert "• 心情（1–5）：" in zh and "• 每周小结：" in zh and "Mood" not in zh


def test_a_managers_digest_ends_with_the_teams_charts_and_no_names(harness):
    h = harness
    h.set_member("chen", locale="en")  # run_checkin answers in English
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    for handle, mood in (("alice", 4), ("bo", 2), ("chen", 5)):
        run_checkin(h, handle, mood=mood)
    h.say("alice", "/kudos @bo for the pairing #teamwork")
    h.say("bo", "/kudos @alice @chen for the release #teamwork #ownership")
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 5))
    digests = [m for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest_charts"]
    last = digests[-1]
    assert [r.template for r in last.replies] == ["charts/team"]
    charts = {c.key: c for c in charts_of(last.replies[0].template, last.replies[0].params)}
    week = charts["team_mood"].labels.index("11-23")
    assert [s.values[week] for s in charts["team_mood"].series] == [0.0, 1.0, 0.0, 1.0, 1.0]  # moods 2, 4, 5
    assert "  2: " + " ".join("–" if v is None else str(int(v)) for v in charts["team_mood"].series[1].values) in (
        last.text
    )
    took = charts["participation"].series[1].values[week]
    assert took == 3.0 and _line(last.text, "• Checked in").endswith("– 3 of – – – – – – – – – – – 3")
    assert charts["kudos"].labels == ("ownership", "teamwork") and charts["kudos"].series[0].values == (1.0, 2.0)
    assert _line(last.text, "• Kudos received by value:").endswith("#ownership 1, #teamwork 2")
    for name in ("Alice", "Bo", "陈晨"):
        assert name not in last.text and name not in json.dumps(last.replies[0].params, default=str)


def test_fewer_than_three_reports_get_no_team_charts(harness):
    h = harness
    h.set_member("chen", manager_id=None)
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice")
    run_checkin(h, "bo")
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 5))
    digests = [m for r, m in h.fake.sent if r.address == "maria" and m.kind.startswith("digest")]
    assert digests and not any(r.template.startswith("charts/") for m in digests for r in m.replies)


@given(st.integers(min_value=-2, max_value=50))
def test_the_rule_refuses_every_aggregate_below_three(n):
    manager = access.Person(1)
    shown = access.may(manager, manager, access.Part.TEAM_CHARTS, now=utc(2026, 11, 30, 9, 0), group_size=n)
    assert shown == (n >= access.MIN_GROUP)
    assert not access.may(access.Person(2), manager, access.Part.TEAM_CHARTS, now=utc(2026, 11, 30), group_size=n)


_week = st.one_of(
    st.builds(Week, period=st.sampled_from(PERIODS), status=st.just("completed"), mood=st.integers(1, 5)),
    st.builds(Week, period=st.sampled_from(PERIODS), status=st.sampled_from(["paused", "off", "expired", "none"])),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_week, max_size=12, unique_by=lambda w: w.period), min_size=0, max_size=6))
def test_no_team_chart_shows_an_aggregate_of_fewer_than_three(tmp_path_factory, teams):
    h = _shared(tmp_path_factory)
    reports = [Report(member_id=i + 2, name=f"P{i}", weeks=tuple(ws)) for i, ws in enumerate(teams)]
    with transaction(h.app.sessions) as s:
        maria = s.exec(select(Member).where(Member.handle == "maria")).one()
        reply = team_charts(s, manager=maria, reports=reports, newest="2026-W48", now=utc(2026, 11, 30, 9, 0))
    if len(reports) < access.MIN_GROUP:
        assert reply is None
        return
    assert reply is not None
    charts = {c.key: c for c in charts_of(reply.template, reply.params)}
    for i, p in enumerate(PERIODS):
        answered = sum(1 for r in reports for w in r.weeks if w.period == p and w.mood is not None)
        counts = [s.values[i] for s in charts["team_mood"].series]
        if answered < access.MIN_GROUP:
            assert counts == [None] * 5 and charts["team_mood"].series[0].marks[i] == FEW
        else:
            assert sum(counts) == answered
        took = charts["participation"].series[0].values[i]
        assert took is None or took >= access.MIN_GROUP


_HARNESS = {}


def _shared(factory):
    if "h" not in _HARNESS:
        from tests.helpers import make_harness

        _HARNESS["h"] = make_harness(factory.mktemp("charts"), start=utc(2026, 11, 23, 9, 0))
    return _HARNESS["h"]


def _message(locale="en"):
    weeks = [WeekFacts(p, "completed", 3) for p in PERIODS[:-1]] + [WeekFacts(PERIODS[-1], "paused")]
    chart = mood_chart(weeks)
    reply = decode_replies(encode_replies([_reply(chart)]))[0]  # through the outbox's encoding, as sent
    text = "🪞 Here's what Flywheel has about you…\n\n📈 Mood, 1 to 5: 3 3 … paused"
    return OutboundMessage(text=text, replies=[reply], locale=locale, outbox_id=7)


def _reply(chart: Chart):
    from conversations.machine import Reply

    return Reply("charts/person", {"name": "Alice", "own_view": True, "charts": [chart.params()]})


def test_slack_uploads_the_png_into_the_dm_and_the_home_shows_it(tmp_path):
    fake = FakeSlack().start()
    try:
        messenger = SlackMessenger.from_settings("xoxb-test-token", fake.url)
        messenger.send(Recipient("slack", "U1"), _message())
        (asked,) = [c for c in fake.calls if c.method == "files.getUploadURLExternal"]
        (done,) = fake.uploaded()
        file_id = json.loads(done.params["files"])[0]["id"] if isinstance(done.params["files"], str) else None
        file_id = file_id or done.params["files"][0]["id"]
        assert fake.uploads[file_id].startswith(b"\x89PNG\r\n\x1a\n")
        assert int(asked.params["length"]) == len(fake.uploads[file_id])
        assert asked.params["alt_txt"] == "📈 Mood, 1 to 5: 3 3 … paused"  # the chart's words, not all of /me
        assert done.params["channel_id"] == "DU1"
        assert fake.posted("U1")  # the words first, then the picture
        messenger.send(Recipient("slack", "U1"), OutboundMessage(**{**_message().__dict__, "kind": "home"}))
        home = next(c for c in fake.calls if c.method == "views.publish")
        view = home.params["view"]
        view = json.loads(view) if isinstance(view, str) else view
        image = view["blocks"][-1]
        assert image["type"] == "image" and image["slack_file"]["id"] in fake.uploads
        assert image["alt_text"].startswith("📈 Mood")
        assert "channel_id" not in fake.uploaded()[-1].params  # the home's copy stays private
    finally:
        fake.stop()


def test_feishu_card_carries_a_chart_component_of_the_documented_shape():
    for locale in ("en", "zh"):
        message = _message(locale)
        (card,) = build_cards(message.text, message.replies, locale)
        card = json.loads(json.dumps(card, ensure_ascii=False))  # valid JSON
        (element,) = [e for e in card["elements"] if e["tag"] == "chart"]
        spec = element["chart_spec"]
        assert spec["type"] == "line" and spec["xField"] == "week" and spec["yField"] == "value"
        values = spec["data"]["values"]
        assert [v["value"] for v in values] == [3.0] * 11 + [None]  # a gap, not a zero
        assert [v["week"] for v in values] == [re.sub(r"^\d+-W", "", v["week"]) for v in values]
        assert not {"texture", "gradient"} & set(json.dumps(spec).split('"'))
    assert PAUSED == "paused"


def test_console_writes_the_png_and_prints_its_path(tmp_path):
    import io

    from bot.platforms.console.messenger import ConsoleMessenger
    from conversations.clock import FrozenClock

    out = io.StringIO()
    console = ConsoleMessenger(out, FrozenClock(utc(2026, 11, 30, 9, 0)), chart_dir=tmp_path)
    console.switch_to("alice")
    console.send(Recipient("console", "alice"), _message())
    path = re.search(r"🖼  (\S+\.png)", out.getvalue()).group(1)
    assert open(path, "rb").read().startswith(b"\x89PNG")


def test_a_manager_sees_a_reports_charts_and_a_peer_does_not(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", mood=3)
    h.fake.clear()
    text = h.say("maria", "/me charts @alice")[-1]
    assert text.startswith("📈 Alice’s last ")
    (reply,) = _chart_replies(h, "maria")
    mood = {c.key: c for c in charts_of(reply.template, reply.params)}["mood"].series[0]
    assert mood.values[-1] == 3.0
    assert _line(text, "• Mood, 1 to 5:").split("  ", 1)[1].split()[-1] == "3"
    assert h.say("bo", "/me charts @alice")[-1] == "Only Alice and their manager see Alice’s charts."
    assert h.say("bo", "/me charts @nobody")[-1].startswith("I don't know @nobody in Flywheel.")
    assert h.say("chen", "/me 图表 @alice")[-1] == "Alice 的图表只有本人和其经理能看到。"
    assert h.say("chen", "/me 图表")[-1].startswith("📈 你最近 ")


def test_key_result_progress_against_the_quarter():
    from datetime import date

    from conversations.charts import KeyResultFacts, key_result_progress, key_results_chart, quarter_elapsed

    krs = [
        KeyResultFacts("1.1", start=10, target=50, current=30),
        KeyResultFacts("1.2", start=None, target=None, current=None, done=True),
        KeyResultFacts("2.1", start=0, target=8, current=None),
        KeyResultFacts("2.2", start=100, target=50, current=120),  # going down, and the wrong way so far
    ]
    assert [key_result_progress(k) for k in krs] == [50.0, 100.0, 0.0, 0.0]  # no value yet: at its start
    assert key_result_progress(KeyResultFacts("3.1", start=5, target=5, current=5)) is None
    elapsed = quarter_elapsed("2026-Q4", date(2026, 11, 16))
    assert elapsed == 50.0
    chart = key_results_chart([*krs, KeyResultFacts("3.1", start=5, target=5, current=5)], elapsed)
    assert chart.series[0].marks[4] == "missing" and chart.series[1].values == (50.0,) * 5
    from conversations.machine import Reply
    from conversations.render import Audience, Renderer

    reply = Reply("charts/person", {"name": "Alice", "own_view": True, "charts": [chart.params()]})
    en = Renderer().render(reply, Audience("en", "Europe/London", "Alice"))
    assert "(right bar, 50%): 1.1 50%, 1.2 100%, 2.1 0%, 2.2 0%, 3.1 –" in en
    zh = Renderer().render(reply, Audience("zh", "Asia/Shanghai", "陈晨"))
    assert "（右柱，50%）：1.1 50%，1.2 100%，2.1 0%，2.2 0%，3.1 –" in zh


def test_key_results_chart_in_me_and_for_the_manager_with_the_texts_numbers(harness):
    from storage.models import Goal, KeyResult

    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", mood=4)
    now = h.clock.now()
    with transaction(h.app.sessions) as s:
        alice = s.exec(select(Member).where(Member.handle == "alice")).one()
        goal = Goal(owner_id=alice.id, quarter="2026-Q4", number=1, text="Faster onboarding", manager_agreed=True)
        goal.created_at = goal.updated_at = goal.agreed_at = now
        s.add(goal)
        s.flush()
        s.add(KeyResult(goal_id=goal.id, number=1, text="activation", start=0, target=10, current=4, updated_at=now))
        s.add(KeyResult(goal_id=goal.id, number=2, text="guide published", done=True, updated_at=now))
    for viewer, command in (("alice", "/me"), ("maria", "/me charts @alice")):
        h.fake.clear()
        text = h.say(viewer, command)[-1]
        (reply,) = _chart_replies(h, viewer)
        krs = {c.key: c for c in charts_of(reply.template, reply.params)}["key_results"]
        assert krs.labels == ("1.1", "1.2") and krs.series[0].values == (40.0, 100.0)
        gone = int(krs.series[1].values[0])
        assert 0 < gone < 100
        assert _line(text, "• Key results").endswith(f"(right bar, {gone}%): 1.1 40%, 1.2 100%")
    h.set_member("alice", locale="zh")
    zh = h.say("alice", "/me 图表")[-1]
    assert _line(zh, "• 关键结果").endswith("：1.1 40%，1.2 100%")
