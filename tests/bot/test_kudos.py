"""Kudos through the whole bot: the public post, the DMs, the refusals, and text that must stay inert."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.db import transaction
from storage.models import Kudos, KudosRecipient
from tests.helpers import DEMO, make_harness, utc

HOSTILE = [
    "<!channel> <!here> <@U0001> for nothing",
    "@all @所有人 <at id=all></at> please look",
    "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} ${HOME}",
    "'); DROP TABLE kudos; -- and \" OR 1=1",
    "*bold* _it_ `code` <https://evil.example|click> &amp; &lt;",
]


@pytest.fixture
def team(tmp_path):
    config = {**DEMO, "kudos": {"channel": "#kudos", "weekly_limit": 3}}
    h = make_harness(tmp_path, start=utc(2026, 11, 25, 10, 0), config=config)
    yield h
    h.app.close()


def channel_posts(h):
    return [m.text for r, m in h.fake.sent if r.address == "#kudos"]


def reach_working_hours(h):
    """Wednesday 10:00 UTC is 05:00 for Bo and 18:00 for Chen: their DMs wait for their working hours."""
    h.run_until(utc(2026, 11, 26, 2, 0))


def test_kudos_is_posted_publicly_and_each_recipient_hears_in_their_language(team):
    replies = team.say("alice", "/kudos @bo @chen for untangling the release #teamwork")
    assert replies == ["Thank you for recognising Bo and 陈晨! It is posted in #kudos, and they have been told."]
    assert channel_posts(team) == ["🎉 Alice → Bo and 陈晨 · 🙌 Teamwork\n“for untangling the release”"]
    assert team.fake.texts_for("bo") == team.fake.texts_for("chen") == []
    reach_working_hours(team)
    assert team.fake.texts_for("bo") == [
        "🎉 Kudos from Alice (to you and 1 other): “for untangling the release”\nBadge: 🙌 Teamwork"
    ]
    assert team.fake.texts_for("chen") == [
        "🎉 Alice 给你点了赞（同时还有另外 1 位）：“for untangling the release”\n徽章：🙌 团队协作"
    ]
    assert "你一共收到 1 次点赞。" in team.say("chen", "/kudos me")[0]
    wall = team.say("maria", "/kudos wall")[0]
    assert "Alice → Bo and 陈晨 (🙌): “for untangling the release”" in wall
    assert "Most recognised" not in wall  # rankings are off by default


def test_chinese_giver(team):
    replies = team.say("chen", "/点赞 @alice 感谢帮我 review 代码 #协作")
    assert replies == ["感谢你认可 Alice！已发布到 #kudos，对方也已收到通知。"]
    assert team.fake.texts_for("alice") == ["🎉 Kudos from 陈晨: “感谢帮我 review 代码”\nBadge: 🙌 Teamwork"]


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("谢谢你帮我改bug", "谢谢你帮我改bug"),
        ("thanks for the help", "thanks for the help"),
        ("1:1 coaching every week", "1:1 coaching every week"),
        ("— for the 10:30 demo", "for the 10:30 demo"),
    ],
)
def test_the_reason_is_exactly_what_was_typed(team, typed, reason):
    team.say("alice", f"/kudos @bo {typed}")
    with transaction(team.app.sessions) as s:
        assert [k.reason for k in s.exec(select(Kudos))] == [reason]
    assert channel_posts(team) == [f"🎉 Alice → Bo\n“{reason}”"]
    reach_working_hours(team)
    assert team.fake.texts_for("bo") == [f"🎉 Kudos from Alice: “{reason}”"]


def test_every_tag_becomes_a_badge(team):
    team.say("alice", "/kudos @chen for coaching the new hires #growth #teamwork")
    with transaction(team.app.sessions) as s:
        assert [(k.reason, k.value) for k in s.exec(select(Kudos))] == [
            ("for coaching the new hires", "growth teamwork")
        ]
    assert channel_posts(team) == ["🎉 Alice → 陈晨 · 🌱 Growth · 🙌 Teamwork\n“for coaching the new hires”"]
    reach_working_hours(team)
    assert team.fake.texts_for("chen") == [
        "🎉 Alice 给你点了赞：“for coaching the new hires”\n徽章：🌱 成长之星 · 🙌 团队协作"
    ]
    mine = team.say("chen", "/kudos me")[0]
    assert "徽章：🌱 成长之星 ×1 · 🙌 团队协作 ×1" in mine
    assert "（🌱 成长之星、🙌 团队协作）：“for coaching the new hires”" in mine
    assert "(🌱🙌): “for coaching the new hires”" in team.say("maria", "/kudos wall")[0]


def test_a_reason_longer_than_an_answer_is_refused_politely(team):
    replies = team.say("alice", "/kudos @bo for " + "x" * 4000)
    assert replies == [
        "That reason is 4004 characters long; kudos reasons can be up to 4000. Could you say it in "
        "fewer words? Nothing was sent."
    ]
    assert team.say("chen", "/kudos @bo " + "好" * 4001)[0].startswith(
        "这条点赞的理由有 4001 个字符，最多可以写 4000 个。"
    )
    with transaction(team.app.sessions) as s:
        assert list(s.exec(select(Kudos))) == []
    assert channel_posts(team) == []
    assert team.say("alice", "/kudos @bo " + "x" * 4000)[0].startswith("Thank you")


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("/kudos @alice for being great", "Kudos are for recognising someone else."),
        ("/kudos @bo", "Kudos land best with a reason."),
        ("/kudos @bo #teamwork", "Kudos land best with a reason."),
        ("/kudos", "To send kudos, say who and why"),
        ("/kudos @nobody for x", "I could not find @nobody."),
        ("/kudos @bo for x #synergy", "#synergy is not one of our values."),
        ("/kudos @bo for x #growth #synergy", "#synergy is not one of our values."),
        ("/kudos @bo for", "Kudos land best with a reason."),
        ("/kudos @bo thanks #teamwork", "Kudos land best with a reason."),
    ],
)
def test_refusals_are_friendly_and_store_nothing(team, text, start):
    replies = team.say("alice", text)
    assert len(replies) == 1 and replies[0].startswith(start)
    with transaction(team.app.sessions) as s:
        assert list(s.exec(select(Kudos))) == []
    assert channel_posts(team) == []


def test_refusals_in_chinese(team):
    assert team.say("chen", "/kudos @chen for 我自己")[0].startswith("点赞是用来认可别人的。")
    assert team.say("chen", "/kudos @bo")[0].startswith("说清楚具体的事，感谢才更打动人：对方做了什么？")


def test_weekly_limit_per_giver(team):
    for i in range(3):
        assert team.say("alice", f"/kudos @bo for thing {i}")[0].startswith("Thank you")
    assert team.say("alice", "/kudos @bo for one more")[0].startswith("You have sent 3 kudos this week")
    assert team.say("maria", "/kudos @bo for the demo")[0].startswith("Thank you")  # other givers unaffected
    team.clock.set(utc(2026, 11, 30, 9, 0))  # a new week
    assert team.say("alice", "/kudos @bo for the next thing")[0].startswith("Thank you")


@pytest.mark.parametrize("reason", HOSTILE)
def test_hostile_reasons_are_stored_exactly_and_rendered_literally(team, reason):
    team.say("alice", f"/kudos @bo for {reason}")
    with transaction(team.app.sessions) as s:
        stored = [k.reason for k in s.exec(select(Kudos))]
        recipients = [r.member_id for r in s.exec(select(KudosRecipient))]
    assert stored == [f"for {reason}"]
    assert len(recipients) == 1  # mentions inside the reason are not recipients
    assert channel_posts(team) == [f"🎉 Alice → Bo\n“for {reason}”"]
    reach_working_hours(team)
    assert team.fake.texts_for("bo") == [f"🎉 Kudos from Alice: “for {reason}”"]


def test_rankings_only_when_enabled(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 11, 25, 10, 0), config={**DEMO, "kudos": {"rankings": True}})
    try:
        h.say("alice", "/kudos @bo for the demo")
        h.say("chen", "/kudos @bo for the review")
        assert "Most recognised: Bo (2)" in h.say("maria", "/kudos wall")[0]
        # Without a kudos channel, nothing is posted anywhere public: only the recipients hear.
        assert [r.address for r, _ in h.fake.sent if r.address.startswith("#")] == []
    finally:
        h.app.close()


def test_value_keys_are_one_word_and_too_many_tags_are_refused_politely(tmp_path):
    from bot.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(
            {**DEMO, "kudos": {"values": [{"key": "customer first", "en": "Customer first", "zh": "客户第一"}]}},
            source="org.yaml",
        )
    assert "kudos.values[1].key: one word without spaces" in str(info.value)
    long = [
        {"key": f"{word}-{'x' * 24}", "en": word.title(), "zh": zh}
        for word, zh in (("care", "关怀"), ("craft", "匠心"), ("candour", "坦诚"))
    ]
    h = make_harness(tmp_path, start=utc(2026, 11, 25, 10, 0), config={**DEMO, "kudos": {"values": long}})
    try:
        tags = " ".join(f"#{v['key']}" for v in long)
        assert h.say("alice", f"/kudos @bo for the launch {tags}") == [
            "That is more value tags than one kudos can carry. Keep the one or two that fit best and send it again; "
            "nothing was sent."
        ]
        assert h.say("alice", f"/kudos @bo for the launch #{long[0]['key']} #{long[1]['key']}")[0].startswith("Thank")
        reach_working_hours(h)
        assert h.fake.texts_for("bo")[-1].endswith("Badges: ⭐ Care · ⭐ Craft")
    finally:
        h.app.close()


def test_channel_posts_speak_the_organisations_language(tmp_path):
    members = [{**m, "locale": m.get("locale", "en")} for m in DEMO["members"]]  # Alice and Bo read English
    config = {**DEMO, "members": members, "defaults": {"locale": "zh-CN"}, "kudos": {"channel": "#kudos"}}
    h = make_harness(tmp_path, start=utc(2026, 11, 25, 10, 0), config=config)
    try:
        h.say("alice", "/kudos @bo for untangling the release #teamwork")
        assert channel_posts(h) == ["🎉 Alice → Bo · 🙌 团队协作\n“for untangling the release”"]
        reach_working_hours(h)
        assert h.fake.texts_for("bo")[-1].endswith("Badge: 🙌 Teamwork")  # a person still reads their own language
    finally:
        h.app.close()


def test_without_an_organisation_language_channel_posts_follow_flywheel_locale(tmp_path):
    from bot.app import Flywheel
    from bot.config import parse_config
    from bot.settings import Settings

    org = parse_config(DEMO, source="test")
    for env_locale, platform, expected in (
        (None, "slack", "en"),
        (None, "feishu", "zh"),
        ("en", "feishu", "en"),
        ("zh", "slack", "zh"),
    ):
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'x.db'}",
            **({"locale": env_locale, "locale_set": True} if env_locale else {}),
        )
        app = Flywheel.build(settings, config=org, migrate=True)
        try:
            assert app.channel_locale(platform) == expected
        finally:
            app.close()
    zh_org = parse_config({**DEMO, "defaults": {"locale": "zh"}}, source="test")
    app = Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", locale="en", locale_set=True), config=zh_org
    )
    try:
        assert app.channel_locale("slack") == "zh"  # the organisation file wins over FLYWHEEL_LOCALE
    finally:
        app.close()
