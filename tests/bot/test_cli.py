import pytest

from bot.cli import main


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "FEISHU_APP_ID",
        "FEISHU_APP_SECRET",
        "FLYWHEEL_CONFIG",
        "DATABASE_URL",
        "FLYWHEEL_LOCALE",
        "FLYWHEEL_TIMEZONE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_doctor_on_a_fresh_directory_is_happy_and_creates_nothing(clean_env, tmp_path, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "does not exist yet" in out and "all good" in out
    assert not (tmp_path / "flywheel.db").exists()


def test_db_upgrade_then_doctor(clean_env, tmp_path, capsys):
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "flywheel.db").exists()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "database reachable; migrations at" in out and "✗" not in out


def test_doctor_reports_a_broken_org_file(clean_env, tmp_path, capsys):
    (tmp_path / "org.yaml").write_text("members:\n  - handle: a\n    timezone: Nowhere/Special\n", encoding="utf-8")
    clean_env.setenv("FLYWHEEL_CONFIG", str(tmp_path / "org.yaml"))
    assert main(["doctor"]) == 1
    assert "Nowhere/Special" in capsys.readouterr().out


def test_run_with_incomplete_slack_credentials_says_what_is_missing_and_leaks_nothing(clean_env, capsys):
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-sentinel-secret")
    assert main(["run"]) == 2
    captured = capsys.readouterr()
    assert "needs SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)" in captured.err
    assert "sentinel" not in captured.err + captured.out


def test_feishu_callbacks_refuse_to_start_without_an_encrypt_key(clean_env, capsys):
    clean_env.setenv("FEISHU_APP_ID", "cli_x")
    clean_env.setenv("FEISHU_APP_SECRET", "sentinel")
    clean_env.setenv("FEISHU_VERIFICATION_TOKEN", "vt")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "FEISHU_ENCRYPT_KEY" in err and "sentinel" not in err
    clean_env.delenv("FEISHU_VERIFICATION_TOKEN")
    assert main(["web"]) == 2  # the web process serves callbacks only, and Feishu's need the key
    assert "FEISHU_ENCRYPT_KEY" in capsys.readouterr().err


def test_bad_settings_exit_cleanly(clean_env, capsys):
    clean_env.setenv("FLYWHEEL_TIMEZONE", "Atlantis/Capital")
    assert main(["doctor"]) == 2
    assert "IANA" in capsys.readouterr().err


def test_doctor_reads_like_a_report_and_never_prints_a_secret(clean_env, tmp_path, capsys):
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-sentinel-token")
    clean_env.setenv("SLACK_APP_TOKEN", "xapp-sentinel-app")
    clean_env.setenv("FEISHU_APP_ID", "cli_demo")
    clean_env.setenv("FEISHU_APP_SECRET", "sentinel-secret")
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'f.db'}")
    (tmp_path / "org.yaml").write_text(
        "members:\n  - {handle: maria, name: Maria}\n  - {handle: alice, name: Alice, manager: maria}\n"
        "flows:\n  weekly_checkin:\n    questions: {manager_help: false}\n",
        encoding="utf-8",
    )
    clean_env.setenv("FLYWHEEL_CONFIG", str(tmp_path / "org.yaml"))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "sentinel" not in out and "Settings(" not in out
    assert "✓ runs on Slack and Feishu / Lark" in out
    assert "✓ Slack: bot token set, Socket Mode (app token set)" in out
    assert "✓ Feishu: app cli_demo, secret set, long connection, domain feishu" in out
    assert "2 members (1 manager), time zone UTC" in out
    # manager_help is left out in this file: four questions, as a run would ask them
    assert (
        "✓ weekly_checkin: every Friday 15:00 member-local, open until Monday 12:00, reminder after 4 hours; "
        "4 questions, plus one per priority set the week before, one per open obstacle and one per open retro "
        "action they own"
    ) in out
    assert "the first Tuesday of each month 10:00 member-local, open 7 days" in out
    assert "4 questions (2 for people without a manager), plus one per open obstacle" in out
    assert "✓ retro: started by a command (no schedule); 4 questions" in out
    assert "every 30 seconds; answers are kept 730 days" in out
    assert "None" not in out and "0:00:00" not in out and "1 managers" not in out


def test_doctor_counts_problems_in_words(clean_env, tmp_path, capsys):
    (tmp_path / "org.yaml").write_text("members:\n  - handle: a\n    timezone: Nowhere/Special\n", encoding="utf-8")
    clean_env.setenv("FLYWHEEL_CONFIG", str(tmp_path / "org.yaml"))
    assert main(["doctor"]) == 1
    assert capsys.readouterr().out.endswith("1 problem found\n")


def test_fresh_refuses_a_database_that_is_not_a_sqlite_file(clean_env, capsys):
    clean_env.setenv("DATABASE_URL", "postgresql+psycopg://flywheel:pw-sentinel@127.0.0.1:1/flywheel")
    assert main(["console", "--fresh", "--script"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL is not a SQLite file; nothing was deleted" in err and "sentinel" not in err
