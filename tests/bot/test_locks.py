import pytest

from bot.cli import main
from bot.locks import AlreadyRunningError, acquire_scheduler_lock


def test_one_scheduler_per_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    first = acquire_scheduler_lock(url)
    with pytest.raises(AlreadyRunningError) as info:
        acquire_scheduler_lock(url)
    assert "already running the scheduler" in str(info.value) and "use PostgreSQL" in str(info.value)
    first.release()
    acquire_scheduler_lock(url).release()  # free again
    acquire_scheduler_lock(f"sqlite:///{tmp_path / 'other.db'}").release()
    acquire_scheduler_lock("postgresql+psycopg://x@localhost/db").release()  # nothing to lock


def test_a_second_console_on_the_same_file_says_so_and_exits(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    for name in ("SLACK_BOT_TOKEN", "FEISHU_APP_ID", "FLYWHEEL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    held = acquire_scheduler_lock(url)
    try:
        assert main(["console", "--script"]) == 3
        assert "another Flywheel process" in capsys.readouterr().err
    finally:
        held.release()
