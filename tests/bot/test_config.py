import pytest

from bot.config import ConfigError, demo_config_path, load_config, parse_config
from bot.settings import SettingsError, load_settings
from conversations.render import Audience, Renderer
from conversations.machine import Reply


def test_demo_organisation_has_a_manager_three_members_and_several_time_zones():
    config = load_config(demo_config_path())
    handles = {m.handle: m for m in config.members}
    assert set(handles) == {"maria", "alice", "bo", "chen"}
    assert {m.manager for m in config.members if m.handle != "maria"} == {"maria"}
    assert len({m.timezone for m in config.members}) >= 2
    assert handles["chen"].locale == "zh"


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_config({
            "members": [
                {"handle": "a", "timezone": "Mars/Olympus", "manager": "b"},
                {"handle": "b", "manager": "a", "locale": "fr", "colour": "blue"},
                {"handle": "a"},
                {"name": "No handle"},
            ],
            "flows": {"weekly_checkin": {"day": "someday", "reminder_after": "soon",
                                         "questions": {"mood": False, "wins": {"en": "What went well?"}}},
                      "daily_standup": {}},
        }, source="org.yaml")
    text = str(info.value)
    for expected in ("Mars/Olympus", "locale `fr`", "unknown key `colour`", "appears twice", "`handle` is required",
                     "reporting lines form a loop", "not a weekday", "not a duration", "cannot be removed",
                     "text missing for zh", "unknown flow"):
        assert expected in text, expected
    assert text.startswith("org.yaml has")


def test_questions_can_be_reworded_removed_and_added(tmp_path):
    path = tmp_path / "org.toml"
    path.write_text("""
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
""", encoding="utf-8")
    config = load_config(path)
    flow = config.flows["weekly_checkin"]
    assert [a.id for a in flow.steps] == ["mood", "wins", "plan_review", "obstacle_status", "retro_action", "blockers",
                                         "priorities", "learning"]
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
    env = {"SLACK_BOT_TOKEN": "xoxb-sentinel-123", "SLACK_SIGNING_SECRET": "sentinel-secret",
           "DATABASE_URL": "postgresql+psycopg://app:hunter2@db/flywheel", "FLYWHEEL_LOCALE": "zh-CN"}
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


@pytest.mark.parametrize(("env", "message"), [({"PORT": "eighty"}, "must be numbers"),
                                              ({"FLYWHEEL_LOCALE": "fr"}, "en or zh"),
                                              ({"FLYWHEEL_TIMEZONE": "Moon/Base"}, "IANA")])
def test_bad_settings_are_explained(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env, dotenv=None)
