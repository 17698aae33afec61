import pytest

from bot.config import ConfigError, demo_config_path, load_config, parse_config
from bot.settings import SettingsError, load_settings
from conversations.machine import Reply
from conversations.render import Audience, Renderer


def test_demo_organisation_has_a_manager_three_members_and_several_time_zones():
    config = load_config(demo_config_path())
    handles = {m.handle: m for m in config.members}
    assert set(handles) == {"maria", "alice", "bo", "chen"}
    assert {m.manager for m in config.members if m.handle != "maria"} == {"maria"}
    assert len({m.timezone for m in config.members}) >= 2
    assert handles["chen"].locale == "zh"


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "members": [
                    {"handle": "a", "timezone": "Mars/Olympus", "manager": "b"},
                    {"handle": "b", "manager": "a", "locale": "fr", "colour": "blue"},
                    {"handle": "a"},
                    {"name": "No handle"},
                ],
                "flows": {
                    "weekly_checkin": {
                        "day": "someday",
                        "reminder_after": "soon",
                        "questions": {"mood": False, "wins": {"en": "What went well?"}},
                    },
                    "daily_standup": {},
                },
            },
            source="org.yaml",
        )
    text = str(info.value)
    for expected in (
        "Mars/Olympus",
        "locale `fr`",
        "unknown key `colour`",
        "appears twice",
        "`handle` is required",
        "reporting lines form a loop",
        "not a weekday",
        "not a duration",
        "cannot be removed",
        "text missing for zh",
        "unknown flow",
    ):
        assert expected in text, expected
    assert text.startswith("org.yaml has")


def test_questions_can_be_reworded_removed_and_added(tmp_path):
    path = tmp_path / "org.toml"
    path.write_text(
        """
[[members]]
handle = "li"
name = "Li Lei"
timezone = "Asia/Shanghai"
locale = "zh-CN"

[flows.weekly_checkin]
day = "thursday"
time = "16:30"
questions = { manager_help = false, wins = { en = "What made you proud?", zh = "什么让你自豪？" } }
extra_questions = [ { id = "learning", en = "What did you learn?", zh = "学到了什么？", optional = true } ]
""",
        encoding="utf-8",
    )
    config = load_config(path)
    flow = config.flows["weekly_checkin"]
    assert [a.id for a in flow.steps] == [
        "mood",
        "wins",
        "plan_review",
        "obstacle_status",
        "retro_action",
        "key_results",  # asked only while the member has key results this quarter
        "blockers",
        "same_obstacle",
        "priorities",
        "learning",
    ]
    assert (flow.schedule.weekday, flow.schedule.at.strftime("%H:%M")) == (3, "16:30")
    assert config.members[0].locale == "zh"
    renderer = Renderer(overrides=config.question_texts)
    zh = Audience("zh", "Asia/Shanghai", "Li Lei")
    assert renderer.render(Reply("weekly_checkin/wins", {"number": 2, "total": 6}), zh) == "(2/6) 什么让你自豪？"
    assert renderer.render(Reply("weekly_checkin/learning", {"number": 6, "total": 6}), zh) == "(6/6) 学到了什么？"


def test_broken_files_say_what_is_wrong(tmp_path):
    bad = tmp_path / "org.yaml"
    bad.write_text("members: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")


def test_settings_never_show_secrets(tmp_path):
    env = {
        "SLACK_BOT_TOKEN": "xoxb-sentinel-123",
        "SLACK_SIGNING_SECRET": "sentinel-secret",
        "DATABASE_URL": "postgresql+psycopg://app:hunter2@db/flywheel",
        "FLYWHEEL_LOCALE": "zh-CN",
    }
    settings = load_settings(env, dotenv=None)
    shown = repr(settings)
    assert "sentinel" not in shown and "hunter2" not in shown
    assert settings.platforms == ("slack",) and not settings.console_mode
    assert settings.locale == "zh"


def test_settings_from_dotenv_with_environment_winning(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("FLYWHEEL_TIMEZONE=Asia/Kolkata\nPORT=8080\n", encoding="utf-8")
    settings = load_settings({"PORT": "9000"}, dotenv=dotenv)
    assert (settings.timezone, settings.port, settings.console_mode) == ("Asia/Kolkata", 9000, True)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "eighty"}, "must be numbers"),
        ({"FLYWHEEL_LOCALE": "fr"}, "en or zh"),
        ({"FLYWHEEL_TIMEZONE": "Moon/Base"}, "IANA"),
    ],
)
def test_bad_settings_are_explained(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env, dotenv=None)


def test_people_taken_off_the_file_are_deactivated_at_the_next_start_and_back_when_listed_again(tmp_path, caplog):
    from sqlmodel import select

    from bot.app import Flywheel
    from bot.platforms.slack.directory import sync_users
    from storage.db import transaction
    from storage.models import Member
    from tests.helpers import DEMO, local, make_harness, utc

    h = make_harness(tmp_path, start=utc(2026, 11, 23, 9, 0))

    def restart(members: list[dict]) -> dict[str, tuple[bool, str | None]]:
        h.app.close()
        h.app = Flywheel.build(
            h.app.settings,
            clock=h.clock,
            config=parse_config({"members": members}, source="t"),
            messengers={"console": h.fake},
        )
        with transaction(h.app.sessions) as s:
            return {m.handle: (m.active, m.source) for m in s.exec(select(Member))}

    try:
        with transaction(h.app.sessions) as s:  # someone a platform's directory added: not the file's to remove
            s.add(
                Member(
                    handle="dana",
                    name="Dana",
                    timezone="UTC",
                    source="slack",
                    created_at=h.clock.now(),
                    updated_at=h.clock.now(),
                )
            )
            s.exec(select(Member).where(Member.handle == "dana")).one().set_account("slack", "U0DANA")
        without_bo = [m for m in DEMO["members"] if m["handle"] != "bo"]
        with caplog.at_level("WARNING"):
            state = restart(without_bo)
        assert state == {
            "maria": (True, "file"),
            "alice": (True, "file"),
            "bo": (False, "file"),
            "chen": (True, "file"),
            "dana": (True, "slack"),
        }
        assert "1 member(s) no longer in t were deactivated" in caplog.text
        h.run_until(local("America/New_York", 2026, 11, 27, 16, 0))  # everyone's Friday check-in has gone out
        assert {who for who, _ in h.prompts()} == {"maria", "alice", "chen", "dana"}
        assert restart(DEMO["members"])["bo"] == (True, "file")

        # Off the file but still in the Slack workspace: the workspace vouches for them from then on.
        assert restart(without_bo)["bo"] == (False, "file")
        with transaction(h.app.sessions) as s:
            s.exec(select(Member).where(Member.handle == "bo")).one().set_account("slack", "U0BO")
        with transaction(h.app.sessions) as s:
            sync_users(
                s,
                iter([{"id": "U0BO", "real_name": "Bo Li", "tz": "America/New_York"}]),
                default_timezone="UTC",
                default_locale="en",
                now=h.clock.now(),
            )
        assert restart(without_bo)["bo"] == (True, "slack")
    finally:
        h.app.close()


def test_a_new_handle_with_a_known_platform_id_is_the_same_person_and_ids_are_not_shared(tmp_path):
    from sqlmodel import select

    from bot.app import Flywheel
    from storage.db import transaction
    from storage.models import ConversationRun, Member
    from tests.helpers import make_harness, utc

    first = {
        "members": [
            {"handle": "maria", "name": "Maria"},
            {"handle": "bo", "name": "Bo Li", "manager": "maria", "slack": "U0BO"},
        ]
    }
    h = make_harness(tmp_path, start=utc(2026, 11, 23, 9, 0), config=first)
    try:
        h.say("bo", "/checkin")
        h.app.close()
        renamed = {"members": [first["members"][0], dict(first["members"][1], handle="bo.li")]}
        h.app = Flywheel.build(
            h.app.settings, clock=h.clock, config=parse_config(renamed, source="t"), messengers={"console": h.fake}
        )
        with transaction(h.app.sessions) as s:
            people = {m.handle: m for m in s.exec(select(Member))}
            assert set(people) == {"maria", "bo.li"} and people["bo.li"].active
            assert s.exec(select(ConversationRun)).one().member_id == people["bo.li"].id  # history kept
    finally:
        h.app.close()
    shared = {
        "members": [
            {"handle": "a", "name": "A", "slack": "U1"},
            {"handle": "b", "name": "B", "slack": "U1"},
            {"handle": "c", "name": "C", "feishu": "ou_1"},
            {"handle": "d", "name": "D", "feishu": "ou_1"},
        ]
    }
    with pytest.raises(ConfigError) as info:
        parse_config(shared, source="t")
    assert "members (b): slack id `U1` is also a's" in str(info.value)
    assert "members (d): feishu id `ou_1` is also c's" in str(info.value)


def test_a_sqlite_too_old_for_returning_is_refused_with_what_to_do():
    from bot.settings import check_sqlite

    check_sqlite("sqlite:///flywheel.db", (3, 35, 0))
    check_sqlite("postgresql+psycopg://db/flywheel", (3, 31, 1))  # not used: no matter
    with pytest.raises(SettingsError, match=r"SQLite is 3\.31\.1; Flywheel needs 3\.35 or newer.*PostgreSQL"):
        check_sqlite("sqlite:///flywheel.db", (3, 31, 1))


def test_calendar_settings_and_countries():
    from datetime import date, time

    config = parse_config(
        {
            "defaults": {"country": "gb"},
            "members": [{"handle": "a", "name": "A"}, {"handle": "c", "name": "C", "country": "CN"}],
            "calendar": {
                "working_hours": "08:30-17:00",
                "holidays": ["2026-12-24", date(2026, 12, 31)],
                "workdays": ["2027-02-20"],
                "away_status": True,
            },
        },
        source="t",
    )
    assert [m.country for m in config.members] == [None, "CN"]
    cal = config.calendar
    assert (cal.country, cal.start, cal.end, cal.away_status) == ("GB", time(8, 30), time(17, 0), True)
    assert cal.holidays == {date(2026, 12, 24), date(2026, 12, 31)} and cal.workdays == {date(2027, 2, 20)}
    assert cal.for_member(None).country == "GB" and cal.for_member("CN").country == "CN"


def test_calendar_problems_are_all_reported():
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "defaults": {"country": "Narnia"},
                "members": [{"handle": "a", "name": "A", "country": "XX"}],
                "calendar": {
                    "working_hours": "18:00-09:00",
                    "holidays": ["someday", "2026-12-24"],
                    "workdays": ["2026-12-24"],
                    "weekends": "yes",
                },
            },
            source="t",
        )
    text = str(info.value)
    for expected in (
        "defaults.country: `Narnia` is not a country code",
        "members[1] (a).country: `XX`",
        "calendar.working_hours: working hours must end after they start",
        "calendar.holidays[1]: `someday` is not a date",
        "calendar: 2026-12-24 is both",
        "calendar: unknown key `weekends`",
    ):
        assert expected in text, expected


def test_goals_visible_to_team_is_read_and_anything_else_under_goals_refused(tmp_path):
    from bot.config import ConfigError, parse_config

    assert parse_config({"goals": {"visible_to_team": True}}, source="t").goals_visible_to_team is True
    assert parse_config({}, source="t").goals_visible_to_team is False
    for bad in ({"visible_to_team": "yes"}, {"visible": True}, ["visible_to_team"]):
        try:
            parse_config({"goals": bad}, source="t")
        except ConfigError as exc:
            assert "`goals` accepts only `visible_to_team: true|false`" in str(exc)
        else:
            raise AssertionError(bad)
