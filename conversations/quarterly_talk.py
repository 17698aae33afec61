"""The quarterly goal and development talk: at the start of each quarter (its first working week, member-local),
or on demand with `/quarter`.

```mermaid
flowchart LR
    last_quarter["last_quarter: each key result's final value"] --> learning --> strengths
    strengths --> goal_1 --> goal_2 --> goal_3 --> actions --> support
```
The first two are asked only when the last quarter had key results. Each goal is one message (the goal and its
1–3 key results, conversations/goals.py). The goals become a draft the manager agrees to or comments on
(bot/goals.py): made together, not assigned. The development actions go to the development-action record; the
kind of support wanted reaches the manager as a support request, as the monthly review's does.
"""

from __future__ import annotations

from conversations.answers import Items, SupportNeed, Text
from conversations.flows import Ask, Flow
from conversations.goals import STRENGTHS, GoalSpec, Progress
from conversations.schedule import QuarterlySchedule

NAME = "quarterly_talk"
LAST_KEY_RESULTS = "last_key_results"  # run context: the last quarter's key results, listed for their final values
GOAL_STEPS = ("goal_1", "goal_2", "goal_3")

QUARTERLY_TALK = Flow(
    name=NAME,
    steps=(
        Ask("last_quarter", Progress(), needs=LAST_KEY_RESULTS, optional=True),
        Ask("learning", Text(max_len=1000), needs=LAST_KEY_RESULTS, optional=True),
        Ask("strengths", STRENGTHS),
        Ask("goal_1", GoalSpec()),
        Ask("goal_2", GoalSpec(), optional=True),
        Ask("goal_3", GoalSpec(), optional=True),
        Ask("actions", Items(1, 3)),
        Ask("support", SupportNeed(), requires_manager=True, optional=True),
    ),
    command="quarter",
    titles={"en": "Quarterly goal and development talk", "zh": "季度目标与发展对话"},
    schedule=QuarterlySchedule(),
    reminder_after=QuarterlySchedule().window / 14 * 2,  # a reminder two days later: it is a longer talk
)
