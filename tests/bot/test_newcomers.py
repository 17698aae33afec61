"""Someone the bot does not know yet writes to it: with a platform directory as the source of members they are looked
up on the spot (Slack `users.info`, Feishu `users/:user_id`) and served at once; otherwise they are told, in words
true for the set-up in use, why not and what to do. Against the fake Slack and Feishu servers on loopback."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from bot.app import Flywheel
from bot.config import parse_config
from bot.platforms.feishu.directory import FeishuDirectory
from bot.platforms.slack.directory import SlackDirectory
from bot.platforms.slack.messenger import SlackMessenger
from bot.settings import Settings
from bot.web import create_wsgi
from conversations.clock import FrozenClock
from fakes.feishu_api import Scripted as FeishuScripted
from fakes.slack_api import FakeSlack, Scripted
from storage import repo
from storage.db import transaction
from storage.models import Member, OutboxMessage
from tests.helpers import local
from tests.platforms.test_feishu import Env, contact_user
from tests.platforms.test_slack_http import SECRET, Client, texts

ORG = {
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "slack": "UMARIA", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice", "slack": "UALICE", "manager": "maria", "timezone": "Europe/London"},
    ],
    "admins": ["maria"],
}

NEWCOMER = {
    "id": "UNEW",
    "name": "sam.lee",
    "real_name": "Sam Lee",
    "tz": "America/New_York",
    "locale": "en-US",
    "team_id": "T1",
}
XIAO = {"id": "UXIAO", "name": "xiao", "real_name": "小王", "tz": "Asia/Shanghai", "locale": "zh-CN", "team_id": "T1"}


def slack_env(tmp_path, *, directory: bool, locale: str = "en"):
    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", locale=locale, locale_set=True)
    directories = (
        {"slack": SlackDirectory("xoxb-t", fake.url, default_timezone="UTC", default_locale=locale)}
        if directory
        else {}
    )
    app = Flywheel.build(
        settings,
        clock=clock,
        config=parse_config(ORG, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
        directories=directories,
    )
    wsgi = create_wsgi(app, slack_signing_secret=SECRET, poke=app.deliver_outbox, now=lambda: clock.now().timestamp())
    return app, fake, Client(wsgi, lambda: clock.now().timestamp())


@pytest.fixture
def slack(tmp_path):
    app, fake, client = slack_env(tmp_path, directory=True)
    yield app, fake, client
    app.close()
    fake.stop()


def members(app) -> dict[str, Member]:
    with transaction(app.sessions) as s:
        return {m.account("slack") or m.account("feishu") or m.handle: m for m in s.exec(select(Member))}


def test_someone_who_joined_slack_since_the_last_sync_is_served_at_once(slack):
    app, fake, client = slack
    fake.users = [NEWCOMER, XIAO]
    held: list[bool] = []

    def gate(call, answer):  # while Slack is being asked, the database is free for others
        if call.method == "users.info":
            done = threading.Event()

            def write():
                with transaction(app.sessions) as s:
                    repo.set_state(s, key="probe", value="x")
                done.set()

            threading.Thread(target=write, daemon=True).start()
            held.append(not done.wait(1.0))

    fake.gate = gate
    assert client.dm("UNEW", "/checkin", "EvNew1")[0] == 200
    assert held == [False]
    assert texts(fake, "UNEW")[0].startswith("Here's this week's check-in, Sam")
    assert "(1/" in texts(fake, "UNEW")[0] and "organisation file" not in texts(fake, "UNEW")[0]
    new = members(app)["UNEW"]
    assert (new.handle, new.name, new.timezone, new.locale, new.source, new.active) == (
        "sam.lee",
        "Sam Lee",
        "America/New_York",
        "en",
        "slack",
        True,
    )
    assert client.dm("UNEW", "4", "EvNew2")[0] == 200  # and the conversation goes on as for anyone
    assert texts(fake, "UNEW")[-1].startswith("(2/")
    assert client.dm("UXIAO", "/help", "EvXiao")[0] == 200  # in their own language
    assert "你和你的数据" in texts(fake, "UXIAO")[0]
    assert [c.params["user"] for c in fake.calls if c.method == "users.info"] == ["UNEW", "UXIAO"]  # once each


def test_a_member_the_sync_deactivated_who_is_back_in_slack_is_reactivated(slack):
    app, fake, client = slack
    fake.users = [dict(NEWCOMER, deleted=True)]
    with transaction(app.sessions) as s:
        app.directories["slack"].sync(s, [dict(NEWCOMER)], now=app.clock.now())
        app.directories["slack"].sync(s, fake.users, now=app.clock.now())
    assert members(app)["UNEW"].active is False
    fake.users = [NEWCOMER]  # reactivated in Slack
    client.dm("UNEW", "/help", "EvBack")
    assert members(app)["UNEW"].active is True
    assert texts(fake, "UNEW")[0].startswith("Flywheel keeps a light")


@pytest.mark.parametrize(
    "user, words",
    [
        ({"id": "UBOT2", "name": "deploybot", "is_bot": True}, "not with bots or apps"),
        ({"id": "UGONE", "name": "gone", "deleted": True}, "Your Slack account is deactivated"),
        ({"id": "UGHOST"}, "I can't see your account there"),  # users.info: user_not_found
    ],
)
def test_people_slack_says_flywheel_does_not_serve_are_told_why_and_who_to_ask(slack, user, words):
    app, fake, client = slack
    fake.users = [user] if len(user) > 1 else []
    assert client.dm(user["id"], "hello", f"Ev{user['id']}")[0] == 200
    [said] = texts(fake, user["id"])
    assert words in said and "ask Maria Rossi (Flywheel's admin) or your Slack workspace admin" in said
    assert "organisation file" not in said
    assert user["id"] not in members(app)


def test_a_deactivated_chinese_speaker_is_refused_in_chinese(slack):
    app, fake, client = slack
    fake.users = [dict(XIAO, deleted=True)]
    client.dm("UXIAO", "你好", "EvX")
    assert texts(fake, "UXIAO") == [
        "你的 Slack 账号在这个工作区里已被停用，所以 Flywheel 无法和你对话。"
        "如果你觉得自己应该参与，请联系 Flywheel 管理员 Maria Rossi 或 Slack 工作区管理员。"
    ]


def test_when_slack_cannot_answer_the_newcomer_is_asked_to_try_again_and_nothing_breaks(slack):
    app, fake, client = slack
    fake.users = [NEWCOMER]
    fake.script["users.info"] = [Scripted(503, {"ok": False, "error": "service_unavailable"})]
    assert client.dm("UNEW", "/checkin", "EvFail")[0] == 200  # never a 5xx to Slack
    assert texts(fake, "UNEW") == [
        "Hello! I couldn't check your Slack account just now, so I haven't acted on your "
        "message. Please send it again in a minute."
    ]
    assert "UNEW" not in members(app)
    assert client.dm("UNEW", "/checkin", "EvFail", retry=1)[0] == 200  # Slack's retry of that event: a duplicate
    assert len(texts(fake, "UNEW")) == 1
    assert client.dm("UNEW", "/checkin", "EvAgain")[0] == 200  # a minute later
    assert texts(fake, "UNEW")[-1].startswith("Here's this week's check-in, Sam")


def test_with_only_the_organisation_file_the_refusal_speaks_of_the_file(tmp_path):
    for locale, expected in (
        ("en", "I don't know you yet — ask your Flywheel admin (Maria Rossi) to add you to the organisation file."),
        ("zh", "我还不认识你。请联系 Flywheel 管理员（Maria Rossi），把你加入组织配置文件。"),
    ):
        (tmp_path / locale).mkdir()
        app, fake, client = slack_env(tmp_path / locale, directory=False, locale=locale)
        try:
            fake.users = [NEWCOMER]
            client.dm("UNEW", "/checkin", "EvFile")
            assert texts(fake, "UNEW") == [expected]
            assert not [c for c in fake.calls if c.method == "users.info"]  # no directory: nobody is asked
        finally:
            app.close()
            fake.stop()


# ------------------------------------------------------------------------------------------------------------ Feishu


@pytest.fixture
def feishu(tmp_path):
    env = Env(
        tmp_path,
        org={
            "members": [
                {"handle": "maria", "name": "王玛丽", "feishu": "ou_maria", "timezone": "Asia/Shanghai", "locale": "zh"}
            ],
            "admins": ["maria"],
        },
    )
    env.app.directories["feishu"] = FeishuDirectory(
        env.messenger.client, default_timezone="Asia/Shanghai", default_locale="zh", managed_by_file={"ou_maria"}
    )
    env.fake.departments = [{"open_department_id": "od_eng", "name": "工程部", "parent_department_id": "0"}]
    yield env
    env.close()


def test_someone_new_in_the_feishu_contact_range_is_served_at_once(feishu):
    feishu.fake.users = [
        contact_user("ou_maria", "王玛丽"),
        contact_user("ou_new", "新同事", leader="ou_maria", tz="Asia/Shanghai", email="xin@example.com"),
    ]
    feishu.over_long_connection(feishu.message("ou_new", "/checkin"))
    said = feishu.fake.texts("ou_new")
    assert len(said) == 1 and "这周整体感觉如何" in said[0] and "(1/" in said[0] and "组织配置" not in said[0]
    new = members(feishu.app)["ou_new"]
    assert (new.handle, new.name, new.team, new.locale, new.source) == ("xin", "新同事", "工程部", "zh", "feishu")
    assert new.manager_id == members(feishu.app)["ou_maria"].id  # leader_user_id, as the sync would set it
    lookups = [c for c in feishu.fake.calls if c.path == "/open-apis/contact/v3/users/ou_new"]
    assert [c.query.get("user_id_type") for c in lookups] == ["open_id"]


@pytest.mark.parametrize(
    "open_id, words",
    [
        ("ou_left", "你的飞书账号在通讯录中显示为已离职或已冻结"),
        ("ou_stranger", "Flywheel 只和应用通讯录权限范围内的同事对话，你目前还不在这个范围内。"),
    ],
)
def test_people_outside_the_contact_range_or_resigned_are_told_who_to_ask(feishu, open_id, words):
    feishu.fake.users = [contact_user("ou_left", "已离职", resigned=True)]
    feishu.over_long_connection(feishu.message(open_id, "你好"))
    [said] = feishu.fake.texts(open_id)
    assert words in said and "请联系 Flywheel 管理员 王玛丽 或飞书管理员" in said
    assert open_id not in members(feishu.app)


def test_when_feishu_cannot_answer_the_newcomer_is_asked_to_try_again(feishu):
    feishu.fake.users = [contact_user("ou_new", "新同事")]
    feishu.fake.script["GET /open-apis/contact/v3/users/ou_new"] = [
        FeishuScripted(500, {"code": 1500, "msg": "internal error"})
    ]
    feishu.over_long_connection(feishu.message("ou_new", "/checkin"))
    assert feishu.fake.texts("ou_new") == [
        "你好！我刚才没能查到你的飞书账号信息，所以还没处理这条消息。请过一分钟再发一次。"
    ]
    assert "ou_new" not in members(feishu.app)
    feishu.over_long_connection(feishu.message("ou_new", "/checkin"))
    assert "这周整体感觉如何" in feishu.fake.texts("ou_new")[-1]
    with transaction(feishu.app.sessions) as s:
        assert all(m.status == "sent" for m in s.exec(select(OutboxMessage)))


def test_feishu_refusals_in_english_where_the_organisation_speaks_english(feishu):
    feishu.app.settings = Settings(database_url=feishu.app.settings.database_url, locale="en", locale_set=True)
    feishu.over_long_connection(feishu.message("ou_stranger", "hello"))
    assert feishu.fake.texts("ou_stranger") == [
        "Flywheel only talks with people in its contact range in Feishu, and you are not in it yet. Ask 王玛丽 "
        "(Flywheel's admin), or your Feishu administrator, to add you to the app's contact range (通讯录权限范围)."
    ]
    feishu.fake.script["GET /open-apis/contact/v3/users/ou_new"] = [
        FeishuScripted(503, {"code": 1500, "msg": "internal error"})
    ]
    feishu.over_long_connection(feishu.message("ou_new", "hello"))
    assert feishu.fake.texts("ou_new") == [
        "Hello! I couldn't check your Feishu account just now, so I haven't acted "
        "on your message. Please send it again in a minute."
    ]


def test_a_burst_of_strangers_while_slack_is_slow_holds_at_most_two_request_threads(slack):
    """Each lookup may wait up to its timeout in a thread that serves requests; beyond two at once the stranger is
    asked, at once, to try again, so members' requests are still acknowledged in time (a helper's trial: a member's
    slash command waited 5.7 s behind 24 strangers while users.info was slow)."""
    app, fake, client = slack
    fake.users = [NEWCOMER, XIAO, {**NEWCOMER, "id": "UTHIRD", "name": "third"}]
    directory = app.inbound.newcomers.directories["slack"]
    real = directory.lookup
    asked: list[str] = []
    two_waiting, release = threading.Event(), threading.Event()

    def slow(user_id):
        asked.append(user_id)
        if len(asked) == 2:
            two_waiting.set()
        release.wait(10)  # Slack takes its time
        return real(user_id)

    directory.lookup = slow
    waiting = [threading.Thread(target=client.dm, args=(u, "hi", f"Ev{u}")) for u in ("UNEW", "UXIAO")]
    for t in waiting:
        t.start()
    try:
        assert two_waiting.wait(10)
        assert client.dm("UTHIRD", "/checkin", "EvThird")[0] == 200  # answered at once, Slack not asked
        assert asked == ["UNEW", "UXIAO"] or asked == ["UXIAO", "UNEW"]
        assert texts(fake, "UTHIRD") == [
            "Hello! I couldn't check your Slack account just now, so I haven't acted on your "
            "message. Please send it again in a minute."
        ]
        assert client.command("UALICE", "/flywheel", "")[0] == 200  # a member meanwhile: as usual
    finally:
        release.set()
        for t in waiting:
            t.join(10)
    assert {"UNEW", "UXIAO"} <= set(members(app))  # the two who were looked up are served
    directory.lookup = real
    assert client.dm("UTHIRD", "/checkin", "EvThirdAgain")[0] == 200  # trying again works
    assert texts(fake, "UTHIRD")[-1].startswith("Here's this week's check-in")
