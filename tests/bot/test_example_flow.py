"""A new flow touches only its own module, its prompts and one registration (tests/bot/example_flow/): it is
scheduled, asked, answered and stored through the run engine, with no change anywhere in bot/."""

from __future__ import annotations

from sqlmodel import select

from bot.app import Flywheel
from bot.config import parse_config, sync_members
from bot.platforms.base import FakeMessenger
from bot.settings import Settings
from conversations.clock import FrozenClock
from conversations.render import Renderer
from storage.db import create_db_engine, transaction, upgrade
from storage.models import RunTransition
from tests.bot.example_flow.pulse import NAME, PROMPTS, PULSE
from tests.helpers import DEMO, Harness, local, utc


def test_a_flow_registered_only_here_is_scheduled_asked_answered_and_stored(tmp_path):
    clock = FrozenClock(utc(2026, 11, 23, 9))  # a Monday
    fake = FakeMessenger(platform="console", clock=clock)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'flywheel.db'}")
    upgrade(engine)
    app = Flywheel(
        settings=Settings(database_url=f"sqlite:///{tmp_path / 'flywheel.db'}"),
        engine=engine,
        clock=clock,
        flows={NAME: PULSE},  # the one registration
        renderer=Renderer(roots=[str(PROMPTS)]),  # its prompts
        messengers={"console": fake},
    )
    try:
        with transaction(app.sessions) as s:
            sync_members(s, parse_config(DEMO, source="test"), now=clock.now())
        h = Harness(app=app, clock=clock, fake=fake)

        # Scheduled: Tuesday 10:00 in each member's own time zone.
        h.run_until(local("Europe/London", 2026, 11, 24, 10, 30))
        asked = [m.text for r, m in fake.sent if r.address == "alice"]
        assert asked == [
            "Hi Alice, time for this week's pulse: 1 question.\n(1/1) What was the highlight of your week?"
        ]

        # Answered, as typed, and stored through the engine.
        assert h.say("alice", "Shipped the beta to 3 teams") == ["Thanks, Alice — pulse done ✅"]
        (run,) = h.runs("alice")
        assert (run.flow, run.status, run.step) == (NAME, "completed", None)
        assert h.answers(run.id) == {"highlight": "Shipped the beta to 3 teams"}
        with transaction(app.sessions) as s:
            moves = [
                (t.trigger, t.to_status) for t in s.exec(select(RunTransition).where(RunTransition.run_id == run.id))
            ]
        assert moves == [("deliver", "prompted"), ("answer", "completed")]

        # A form shows it under the flow's own title.
        from bot.platforms.common import build_form

        (asked_run,) = h.runs("maria")
        form = build_form(app, platform="console", user="maria", run_id=asked_run.id)
        assert form is not None and form.title == "Weekly pulse" and [f.step for f in form.fields] == ["highlight"]
    finally:
        app.close()
