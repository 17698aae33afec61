import pytest

from conversations.kudos import KudosRefusal, KudosRequest, KudosSettings, check_kudos, parse_kudos


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            "@alice @bob for untangling the release #teamwork",
            KudosRequest(("@alice", "@bob"), "for untangling the release", ("teamwork",)),
        ),
        ("@alice, @bob: thanks for the demo", KudosRequest(("@alice", "@bob"), "thanks for the demo")),
        (
            "<@U123|alice> for the on-call weekend #ownership",
            KudosRequest(("<@U123|alice>",), "for the on-call weekend", ("ownership",)),
        ),
        ("@陈晨 感谢帮我 review 代码 #协作", KudosRequest(("@陈晨",), "感谢帮我 review 代码", ("协作",))),
        ("@alice 谢谢你帮我改bug", KudosRequest(("@alice",), "谢谢你帮我改bug")),
        ("@bo @bo for pairing", KudosRequest(("@bo",), "for pairing")),
        ("@bo for fixing #123 in the tracker", KudosRequest(("@bo",), "for fixing #123 in the tracker")),
        ("@bo for the 1:1s #growth #teamwork", KudosRequest(("@bo",), "for the 1:1s", ("growth", "teamwork"))),
        (
            "@bo for mentoring #growth#teamwork ＃growth",
            KudosRequest(("@bo",), "for mentoring", ("growth", "teamwork")),
        ),
        (
            "<@U1|bo> for the demo <#C1|growth> <#C2|teamwork>",
            KudosRequest(("<@U1|bo>",), "for the demo", ("growth", "teamwork")),
        ),
        ("@bo — for the demo", KudosRequest(("@bo",), "for the demo")),
    ],
)
def test_parse(args, expected):
    assert parse_kudos(args) == expected


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ("", "usage"),
        ("for nothing", "usage"),
        ("@bo", "no_reason"),
        ("@bo for", "no_reason"),
        ("@bo #teamwork", "no_reason"),
        ("@bo 谢谢 #growth #teamwork", "no_reason"),
        ("@bo " + "x" * 4001, "too_long"),
    ],
)
def test_parse_refusals(args, key):
    refusal = parse_kudos(args)
    assert isinstance(refusal, KudosRefusal) and refusal.key == key


def test_rules():
    settings = KudosSettings(weekly_limit=2)
    assert check_kudos(giver_id=1, recipient_ids=[2], given_this_week=1, settings=settings) is None
    assert check_kudos(giver_id=1, recipient_ids=[2, 1], given_this_week=0, settings=settings).key == "self"
    assert check_kudos(giver_id=1, recipient_ids=[2], given_this_week=2, settings=settings).key == "limit"


def test_value_tags_in_both_languages():
    settings = KudosSettings()
    assert settings.value("#Teamwork").key == "teamwork"
    assert settings.value("customerguardian").key == "customer"
    assert settings.value("跨部门协同之星").key == "collaboration"
    assert settings.value("协作").key == "teamwork"  # 团队协作, the only name containing it
    assert settings.value("之星") is None  # ambiguous
    assert settings.value("nonsense") is None


def test_the_kudos_channel_is_per_platform():
    from conversations.kudos import KudosSettings

    def owns_channel(platform: str, channel: str) -> bool:  # the platforms' rule (bot/platforms/identity.py)
        return channel.startswith("oc_") == (platform == "feishu")

    one = KudosSettings(channel="C0KUDOS", owns_channel=owns_channel)
    assert (one.channel_for("slack"), one.channel_for("feishu")) == ("C0KUDOS", None)  # a Slack id is not a Feishu chat
    assert KudosSettings(channel="oc_abc", owns_channel=owns_channel).channel_for("feishu") == "oc_abc"
    both = KudosSettings(channels=(("slack", "C0KUDOS"), ("feishu", "oc_abc")))
    assert (both.channel_for("slack"), both.channel_for("feishu"), both.channel_for("console")) == (
        "C0KUDOS",
        "oc_abc",
        None,
    )
