"""An example flow defined outside Flywheel (tests/bot/test_example_flow.py): its module — this file — and its prompts
(prompts/pulse/<locale>/*.j2 next to it) are all it brings; one registration (the app's flows) runs it."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from conversations.answers import Text
from conversations.flows import Ask, Flow
from conversations.schedule import WeeklySchedule

NAME = "pulse"
PROMPTS = Path(__file__).resolve().parent / "prompts"

PULSE = Flow(
    name=NAME,
    steps=(Ask("highlight", Text()),),
    schedule=WeeklySchedule(weekday=1, at=time(10, 0), closes_weekday=2, closes_at=time(17, 0)),  # Tue → Wed
    titles={"en": "Weekly pulse", "zh": "每周脉搏"},
)
