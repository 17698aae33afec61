"""Anonymity that holds: below `retro.anonymous_min` respondents nothing of an anonymous retro — text, actions,
counts — reaches anyone but each answer's author; authors are told and may post their own answers under their name."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from bot import me
from bot.config import ConfigError, parse_config
from bot.platforms.common import message_rows
from conversations.retro import disclosed, respondents_shown
from storage import repo
from storage.db import _alembic_config, create_db_engine, session_factory, transaction, upgrade
from storage.models import Answer, ConversationRun, DevelopmentAction, Member, Retro
from tests.bot.test_digest import run_checkin
from tests.helpers import DEMO, answer_retro, in_channel, local, make_harness, posts, utc

# Retro prompts and summaries wait for working hours; these tests are about what is shared, not when.
ALL_DAY = {**DEMO, "calendar": {"working_hours": "00:00-23:59"}}

START = utc(2026, 11, 23, 9, 0)  # Monday; check-ins go out on Friday, digests on Mondays


def member(h, handle):
    with transaction(h.app.sessions) as s:
        found = s.exec(select(Member).where(Member.handle == handle)).one()
        s.expunge(found)
        return found


def weekly_actions(h, handle):
    """The retro actions a member's weekly check-in asks about (read when it was delivered)."""
    runs = [r for r in h.runs(handle) if r.flow == "weekly_checkin"]
    assert runs, f"{handle} has no weekly check-in yet"
    return runs[-1].context.get("actions")


def my_view(h, handle):
    with transaction(h.app.sessions) as s:
        replies = me.view(s, s.get(Member, member(h, handle).id), h.clock.now(), h.app.kudos_settings)
    return "\n".join(h.app.renderer.render(r, _audience(h, handle)) for r in replies)


def my_export(h, handle):
    with transaction(h.app.sessions) as s:
        return json.dumps(me.export(s, s.get(Member, member(h, handle).id)), ensure_ascii=False)


def _audience(h, handle):
    from conversations.render import Audience

    m = member(h, handle)
    return Audience(m.locale, m.timezone, m.name)


def small_anonymous_retro(h):
    """Maria asks Alice, Bo and Chen; only Alice and Bo answer by the due time."""
    in_channel(h, "maria", '/retro start "Hiring loop" @alice @bo @chen anonymous due 24h')
    answer_retro(
        h,
        "alice",
        "SECRET-A goal",
        "SECRET-A well",
        "SECRET-A badly: Bo's interviews ran late",
        "@alice give interview feedback within 24 hours; @chen SECRET-A book rooms",
    )
    answer_retro(h, "bo", "SECRET-B goal", "SECRET-B well", "SECRET-B badly", "@bo SECRET-B shorter loops")
    h.run_until(h.clock.now() + timedelta(hours=24))
    with transaction(h.app.sessions) as s:
        return s.exec(select(Retro)).one().id


@pytest.fixture
def harness(tmp_path):
    h = make_harness(tmp_path, start=START, config=ALL_DAY)
    yield h
    h.app.close()


# ------------------------------------------------------------------------------------------ below the minimum


def test_two_of_three_at_the_due_time_share_nothing_with_anyone_but_each_author(harness):
    h = harness
    retro_id = small_anonymous_retro(h)
    summary = posts(h)[-1]
    assert summary == (
        "🔁 Retrospective: “Hiring loop” · 3 invited · anonymous\n"
        "Fewer than 3 people answered, so to keep everyone anonymous nothing is shared: no answers, "
        "no actions, not even how many answered. Whoever answered has been told privately and can "
        "share their own answers under their name."
    )
    with transaction(h.app.sessions) as s:
        assert s.get(Retro, retro_id).status == "withheld"
        assert [a.shared_at for a in s.exec(select(DevelopmentAction))] == [None, None, None]

    # Each author is told, privately, with a way to post their own answers; Chen answered nothing and hears nothing.
    for handle in ("alice", "bo"):
        notice = h.fake.texts_for(handle)[-1]
        assert notice.startswith("🔒 Your answers to “Hiring loop” were not shared: fewer than 3 people answered")
        assert f"type `/retro repost {retro_id}`" in notice
        message = [m for r, m in h.fake.sent if r.address == handle][-1]
        [row] = message_rows(message.replies, "en", None)
        assert [(b.label, b.value) for b in row.buttons] == [
            ("Post my answers under my name", f"/retro repost {retro_id}")
        ]
    assert not any("not shared" in t for t in h.fake.texts_for("chen"))

    # No action in anyone's check-in: Alice asks for hers on demand (read directly), Bo and Chen get theirs on
    # schedule (read for the whole batch by the scheduler).
    h.run_until(local("Europe/London", 2026, 11, 26, 10, 0))
    run_checkin(h, "alice")
    h.run_until(local("America/New_York", 2026, 11, 27, 15, 30))
    for handle in ("alice", "bo", "chen"):
        assert weekly_actions(h, handle) == []
    run_checkin(h, "bo")
    everything = "\n".join(m.text for _, m in h.fake.sent)
    assert "done, still going, or drop it?" not in everything and "interview feedback" not in everything

    # Not in the digest, even when an action would be long overdue; not in anyone's /me; only in the author's export.
    h.run_until(local("Europe/London", 2026, 12, 14, 9, 30))
    digests = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
    assert digests  # a digest went out
    assert "Development actions still open" not in digests and "SECRET" not in digests and "interview" not in digests
    for handle in ("alice", "bo", "chen", "maria"):
        view = my_view(h, handle)
        assert "SECRET" not in view and "interview" not in view and "Hiring loop" not in view
    assert "SECRET-A goal" in my_export(h, "alice") and "SECRET-B" not in my_export(h, "alice")
    assert "SECRET-B goal" in my_export(h, "bo") and "SECRET-A" not in my_export(h, "bo")
    assert "SECRET" not in my_export(h, "chen") and "SECRET" not in my_export(h, "maria")


def test_the_same_retro_at_the_minimum_lets_actions_flow_as_before(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Hiring loop" @alice @bo @chen anonymous due 24h')
    answer_retro(h, "alice", "Goal A", "Well A", "Badly A", "@alice give interview feedback within 24 hours")
    answer_retro(h, "bo", "Goal B", "Well B", "Badly B", "@bo shorter loops")
    answer_retro(h, "chen", "目标", "做得好", "做得不好", "@chen 订会议室")
    summary = posts(h)[-1]
    assert summary.startswith("🔁 Retrospective: “Hiring loop” · 3 of 3 answered · anonymous\n")
    assert (
        "🛠️ Actions\n• Alice: give interview feedback within 24 hours\n• Bo: shorter loops\n• 陈晨: 订会议室" in summary
    )
    assert not any("not shared" in t for handle in ("alice", "bo", "chen") for t in h.fake.texts_for(handle))
    h.run_until(local("America/New_York", 2026, 11, 27, 15, 30))
    assert weekly_actions(h, "alice") == ["give interview feedback within 24 hours (Hiring loop)"]
    assert weekly_actions(h, "bo") == ["shorter loops (Hiring loop)"]
    h.run_until(local("Europe/London", 2026, 12, 14, 9, 30))
    digest = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
    assert "“give interview feedback within 24 hours” (from the retrospective “Hiring loop”, opened" in digest
    assert "give interview feedback within 24 hours" in my_view(h, "alice")


def test_when_all_of_too_few_have_answered_nothing_happens_before_the_due_time(harness):
    """Closing at once would say, by its timing, that everyone answered: a count below the minimum."""
    h = harness
    in_channel(h, "maria", '/retro start "Pairs" @alice @bo anonymous due 24h')
    answer_retro(h, "alice", "g", "w", "b", "@alice a")
    answer_retro(h, "bo", "g", "w", "b", "@bo b")
    h.run_until(h.clock.now() + timedelta(hours=23, minutes=59))
    assert len(posts(h)) == 1 and not any("not shared" in t for t in h.fake.texts_for("alice"))
    h.run_until(h.clock.now() + timedelta(minutes=1))
    assert posts(h)[-1].startswith("🔁 Retrospective: “Pairs” · 2 invited · anonymous\nFewer than 3 people answered")
    assert h.fake.texts_for("alice")[-1].startswith("🔒 Your answers to “Pairs” were not shared")


def test_a_named_retro_with_two_people_shares_as_before(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Launch" @alice @bo')
    answer_retro(h, "alice", "g", "w", "b", "@alice write the runbook")
    answer_retro(h, "bo", "g", "w", "b", "@bo fix alerts")
    assert posts(h)[-1].startswith("🔁 Retrospective: “Launch” · 2 of 2 answered\n")
    h.run_until(local("America/New_York", 2026, 11, 27, 15, 30))
    assert weekly_actions(h, "bo") == ["fix alerts (Launch)"]


# ------------------------------------------------------------------------------------------ posting one's own answers


def test_an_author_posts_their_own_answers_under_their_name(harness):
    h = harness
    retro_id = small_anonymous_retro(h)
    [summary_thread] = [m.thread for r, m in h.fake.sent if r.address == "#product" and m.kind == "retro_summary"]
    assert summary_thread is not None
    h.fake.clear()
    done = h.say("alice", f"/retro repost {retro_id}")  # what the button sends
    assert done == [
        "Posted your answers to “Hiring loop” under your name in the retrospective's thread ✅ Your "
        "actions now come back in their owners' weekly check-in until done."
    ]
    assert posts(h) == [
        "🔁 Alice shares their own answers to “Hiring loop”, under their name:\n"
        "🎯 Goal and outcome: SECRET-A goal\n"
        "✅ Keep: SECRET-A well\n"
        "⚠️ Did not go well: SECRET-A badly: Bo's interviews ran late\n"
        "🛠️ Actions\n"
        "• Alice: give interview feedback within 24 hours\n"
        "• 陈晨: SECRET-A book rooms"
    ]
    assert [m.thread for r, m in h.fake.sent if r.address == "#product"] == [summary_thread]  # the announcement's
    # Only her answers: Bo's stay withheld, and nobody can post them but Bo.
    assert h.say("alice", f"/retro repost {retro_id}") == [
        "You already posted your answers to “Hiring loop” under your name."
    ]
    assert h.say("chen", f"/retro repost {retro_id}")[0].startswith(
        f"找不到你在编号 {retro_id} 的复盘中未被分享的回答。"
    )
    assert h.say("maria", "/retro repost")[0].startswith("I found no retrospective where your answers were held back.")
    assert len(posts(h)) == 1
    # Her actions now follow up like any shared retro's; Bo's do not.
    h.run_until(local("America/New_York", 2026, 11, 27, 15, 30))
    assert weekly_actions(h, "alice") == ["give interview feedback within 24 hours (Hiring loop)"]
    assert weekly_actions(h, "chen") == ["SECRET-A book rooms (Hiring loop)"]
    assert weekly_actions(h, "bo") == []


def test_repost_without_a_number_and_in_a_retro_started_by_dm(harness):
    h = harness
    h.say("maria", '/retro start "Offsite" @alice @bo @maria anonymous due 24h')
    answer_retro(h, "alice", "OWN goal", "OWN well", "OWN badly", "@bo OWN book the venue")
    h.run_until(h.clock.now() + timedelta(hours=24))
    assert h.fake.texts_for("bo")[-1].startswith("🔁 Retrospective: “Offsite” · 3 invited · anonymous\nFewer than 3")
    assert "to everyone in the retrospective" in h.fake.texts_for("alice")[-1]
    h.fake.clear()
    assert h.say("alice", "/retro share")[0].startswith("Posted your answers to “Offsite” under your name to everyone")
    for handle in ("bo", "maria"):
        assert h.fake.texts_for(handle) == [
            "🔁 Alice shares their own answers to “Offsite”, under their name:\n"
            "🎯 Goal and outcome: OWN goal\n✅ Keep: OWN well\n"
            "⚠️ Did not go well: OWN badly\n🛠️ Actions\n• Bo: OWN book the venue"
        ]
    assert h.fake.texts_for("chen") == []


def test_a_reposted_text_is_shown_literally(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Tools" @alice @bo @chen anonymous due 24h')
    answer_retro(h, "alice", "<!channel> {{ 7*7 }}", "ok", "ok", "@alice <script>alert(1)</script> {% if x %}")
    h.run_until(h.clock.now() + timedelta(hours=24))
    h.say("alice", "/retro repost")
    post = posts(h)[-1]
    assert "🎯 Goal and outcome: <!channel> {{ 7*7 }}" in post
    assert "• Alice: <script>alert(1)</script> {% if x %}" in post


# ------------------------------------------------------------------------------------------ starting


def test_starting_an_anonymous_retro_with_too_few_people_warns_the_starter_at_once(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Hiring loop" @alice @bo anonymous')
    reply = h.fake.texts_for("maria")[-1]
    assert reply == (
        "Started the retrospective “Hiring loop” with Alice and Bo (anonymous). Each of them gets the "
        "questions by DM; the summary goes to #product when all have answered, or at Wed 25 Nov, 09:00.\n"
        "Anonymous: answers are shown without names, and only if at least 3 people answer. In a small "
        "group, wording or language can still give away who wrote what.\n\n"
        "⚠️ Only 2 people are taking part, and an anonymous retrospective shares nothing unless at least "
        "3 people answer — so this one will show no answers and no actions. Whoever answers will be told "
        "privately and can post their own answers under their name. To change that, start it again with "
        "more people, or without `anonymous`."
    )
    assert posts(h)[-1].endswith(
        "Anonymous: answers are shown without names, and only if at least 3 people answer. "
        "In a small group, wording or language can still give away who wrote what."
    )
    intro = h.fake.texts_for("alice")[-1]
    assert (
        "Your name is not shown, and nothing is shared unless at least 3 people answer. In a small group, "
        "wording or language can still give you away."
    ) in intro


def test_no_warning_with_enough_people_or_without_anonymity(harness):
    h = harness
    in_channel(h, "maria", '/retro start "A" @alice @bo @chen anonymous')
    assert "⚠️" not in h.fake.texts_for("maria")[-1] and "In a small group" in h.fake.texts_for("maria")[-1]
    in_channel(h, "maria", '/retro start "B" @alice @bo')
    named = h.fake.texts_for("maria")[-1]
    assert "⚠️" not in named and "Anonymous" not in named and "small group" not in named


# ------------------------------------------------------------------------------------------ the minimum


def config_with(minimum):
    return {**ALL_DAY, "retro": {"anonymous_min": minimum}}


def test_the_minimum_comes_from_the_org_file(tmp_path):
    h = make_harness(tmp_path, start=START, config=config_with(4))
    try:
        in_channel(h, "maria", '/retro start "Q4" @alice @bo @chen anonymous due 24h')
        assert "⚠️ Only 3 people are taking part" in h.fake.texts_for("maria")[-1]
        for handle in ("alice", "bo"):
            answer_retro(h, handle, "g", "w", "b", f"@{handle} act")
        answer_retro(h, "chen", "目标", "好", "不好", "@chen 行动")
        assert len(posts(h)) == 1  # all have answered, but too few: it waits for the due time (see below)
        h.run_until(h.clock.now() + timedelta(hours=24))
        assert posts(h)[-1].startswith("🔁 Retrospective: “Q4” · 3 invited · anonymous\nFewer than 4 people answered")
        assert "fewer than 4 people answered" in h.fake.texts_for("alice")[-1]
    finally:
        h.app.close()
    (tmp_path / "two").mkdir()
    h = make_harness(tmp_path / "two", start=START, config=config_with(2))
    try:
        in_channel(h, "maria", '/retro start "Q4" @alice @bo @chen anonymous due 24h')
        assert "⚠️" not in h.fake.texts_for("maria")[-1]
        answer_retro(h, "alice", "g", "w", "b", "@alice act")
        answer_retro(h, "bo", "g", "w", "b", "@bo act")
        h.run_until(h.clock.now() + timedelta(hours=24))
        assert posts(h)[-1].startswith("🔁 Retrospective: “Q4” · 2 of 3 answered · anonymous\n")
    finally:
        h.app.close()


def test_lowering_the_minimum_after_the_start_does_not_undo_what_participants_were_told(harness):
    h = harness
    in_channel(h, "maria", '/retro start "Q4" @alice @bo @chen anonymous due 24h')
    h.app.retro_anonymous_min = 2  # the org file changed and the bot restarted before the retro closed
    answer_retro(h, "alice", "g", "w", "b", "@alice act")
    answer_retro(h, "bo", "g", "w", "b", "@bo act")
    h.run_until(h.clock.now() + timedelta(hours=24))
    assert "Fewer than 3 people answered" in posts(h)[-1]


@pytest.mark.parametrize("bad", [1, 0, "three", True, 2.5, 101])
def test_a_bad_minimum_is_refused_with_where_it_is(bad):
    with pytest.raises(ConfigError) as refused:
        parse_config(config_with(bad), source="org.yaml")
    assert refused.value.problems == [
        "retro.anonymous_min must be a whole number from 2 to 100 (how many people must answer an anonymous "
        f"retrospective before anything of it is shown), not {bad!r}"
    ]


def test_the_minimum_defaults_to_three_and_unknown_retro_keys_are_refused():
    assert parse_config(DEMO, source="org.yaml").retro_anonymous_min == 3
    assert parse_config(config_with(5), source="org.yaml").retro_anonymous_min == 5
    with pytest.raises(ConfigError) as refused:
        parse_config({**DEMO, "retro": {"min": 3}}, source="org.yaml")
    assert refused.value.problems == ["retro: unknown key `min` (expected anonymous_min)"]


@given(anonymous=st.booleans(), respondents=st.integers(0, 50), minimum=st.integers(2, 20))
def test_a_count_below_the_minimum_is_never_shown(anonymous, respondents, minimum):
    shown = respondents_shown(anonymous=anonymous, respondents=respondents, minimum=minimum)
    assert (shown is None) == (not disclosed(anonymous=anonymous, respondents=respondents, minimum=minimum))
    if anonymous and respondents < minimum:
        assert shown is None
    else:
        assert shown == respondents


# ------------------------------------------------------------------------------------------ in Chinese


def test_chinese_texts(harness):
    h = harness
    started = h.say("chen", '/复盘 开始 "发布复盘" @chen @bo 匿名 due 24h')[0]
    assert (
        "匿名：回答不显示姓名，且至少 3 人回答才会展示。人数不多时，措辞或使用的语言仍可能让人猜出是谁写的。\n\n"
        "⚠️ 只有 2 人参与，而匿名复盘至少要有 3 "
        "人回答才会分享内容——所以这次不会展示任何回答或行动。回答的人会私下收到通知，"
        "可以自行署名发布自己的回答。如果想改变，请邀请更多人重新发起，或者去掉 `anonymous`。"
    ) in started
    assert "不会显示你的名字；至少 3 人回答才会分享任何内容。人数不多时，措辞或使用的语言仍可能让人认出你。" in started
    answer_retro(h, "chen", "按时上线", "沟通顺畅", "测试环境不稳定", "@chen 整理测试数据")
    answer_retro(h, "bo", "ship", "good", "bad", "@bo fix")
    h.run_until(h.clock.now() + timedelta(hours=24))
    report, notice = h.fake.texts_for("chen")[-2:]
    assert report == (
        "🔁 复盘：“发布复盘” · 邀请 2 人 · 匿名\n回答的人少于 "
        "3 位。为保护匿名，这次不分享任何内容：没有回答，没有行动，"
        "也不显示有几人回答。回答过的人已私下收到通知，可以自行署名分享自己的回答。"
    )
    assert notice.startswith(
        "🔒 你对“发布复盘”的回答没有分享出去：这次匿名复盘回答的人少于 3 位，所以其中的内容不会发给任何人——"
        "不会出现在总结、任何人的每周小结或经理的摘要里。\n如果希望你的回答发挥作用，可以署名发布到所有参与者："
    )
    message = [m for r, m in h.fake.sent if r.address == "chen"][-1]
    [row] = message_rows(message.replies, "zh", None)
    assert row.buttons[0].label == "署名发布我的回答"
    assert h.say("chen", "/复盘 署名发布") == [
        "已把你对“发布复盘”的回答署名发布到所有参与者 ✅ 其中的行动会出现在负责人的每周小结里，直到完成。"
    ]
    assert h.fake.texts_for("bo")[-1].startswith(
        "🔁 陈晨 shares their own answers to “发布复盘”, under their name:\n🎯 Goal and outcome: 按时上线"
    )
    assert h.say("chen", "/复盘 署名发布") == ["你已经署名发布过对“发布复盘”的回答了。"]
    assert h.say("chen", "/复盘 署名发布 1 2")[0].startswith("发起复盘：")


# ------------------------------------------------------------------------------------------ existing data


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_migration_withholds_what_earlier_small_anonymous_retros_let_out(backend, tmp_path, request):
    """Before 0011 a small anonymous retro hid its summary but its actions flowed; after it they do not."""
    from alembic import command
    from alembic.script import ScriptDirectory

    url = f"sqlite:///{tmp_path / 'flywheel.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    h = make_harness(tmp_path, start=START, database_url=url, config=ALL_DAY)
    closed = START + timedelta(days=2)
    try:
        with transaction(h.app.sessions) as s:
            people = {m.handle: m.id for m in s.exec(select(Member))}
            for title, anonymous, authors in (("Small", True, ["alice", "bo"]), ("Named", False, ["alice"])):
                retro = Retro(
                    title=title,
                    started_by=people["maria"],
                    anonymous=anonymous,
                    due_at=closed,
                    created_at=START,
                    status="withheld" if anonymous else "summarised",
                    summarised_at=closed,
                )
                s.add(retro)
                s.flush()
                for handle in authors:
                    run = ConversationRun(
                        flow="retro",
                        member_id=people[handle],
                        period=f"retro-{retro.id}",
                        status="completed",
                        context={"retro_id": retro.id},
                        due_at=START,
                        prompt_at=START,
                        closes_at=closed,
                        created_at=START,
                        updated_at=START,
                    )
                    s.add(run)
                    s.flush()
                    s.add(
                        Answer(
                            run_id=run.id,
                            member_id=people[handle],
                            step="goal",
                            value="g",
                            created_at=START,
                            updated_at=START,
                        )
                    )
                    s.add(
                        DevelopmentAction(
                            retro_id=retro.id,
                            owner_id=people[handle],
                            source="retro",
                            source_run_id=run.id,
                            text=f"{title} {handle}",
                            created_at=START,
                            shared_at=None if anonymous else closed,
                        )
                    )
    finally:
        h.app.close()
    engine = create_db_engine(url)
    try:
        config = _alembic_config(engine)  # a database from before 0011: "withheld" was "summarised"
        command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0011").down_revision)
        with engine.begin() as conn:
            assert sorted(conn.exec_driver_sql("SELECT title, status FROM retro").all()) == [
                ("Named", "summarised"),
                ("Small", "summarised"),
            ]
        upgrade(engine)
        with transaction(session_factory(engine)) as s:
            statuses = {r.title: r.status for r in s.exec(select(Retro))}
            shared = {a.text: a.shared_at for a in s.exec(select(DevelopmentAction))}
            alice = s.exec(select(Member).where(Member.handle == "alice")).one().id
            followed = [a.text for a, _ in repo.open_actions(s, owner_ids=[alice])]
            overdue = [a.text for a, _ in repo.open_actions(s, owner_ids=[alice], shared_before=START)]
    finally:
        engine.dispose()
    assert statuses == {"Small": "withheld", "Named": "summarised"}
    assert shared == {"Small alice": None, "Small bo": None, "Named alice": closed}
    assert (followed, overdue) == (["Named alice"], [])  # what check-ins and digests read, on either database
