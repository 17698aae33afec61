"""The weekly check-in: six short questions every Friday afternoon, the window closing Monday noon.

```mermaid
flowchart LR
    mood --> wins --> plan_review["plan_review:i (one per priority set last week)"]
    plan_review --> obstacle_status["obstacle_status:i (one per obstacle still open)"]
    obstacle_status --> retro_action["retro_action:i (one per open retro action they own)"] --> blockers
    blockers --> priorities --> manager_help
```
"""

from __future__ import annotations

from conversations.answers import DoneOrNot, Items, ObstacleStatus, PlanStatus, Scale, Text
from conversations.flows import Ask, Flow

NAME = "weekly_checkin"

DEFAULT_STEPS: tuple[Ask, ...] = (
    Ask("mood", Scale(1, 5)),
    Ask("wins", Text()),
    Ask("plan_review", PlanStatus(), each="plan"),
    Ask("obstacle_status", ObstacleStatus(), each="obstacles"),
    Ask("retro_action", DoneOrNot(), each="actions"),
    Ask("blockers", Text(none_means_empty=True)),
    Ask("priorities", Items(1, 3)),
    Ask("manager_help", Text(), optional=True, requires_manager=True),
)

# Each run starts with the priorities the member set in the previous week's check-in.
CARRY = {"plan": "priorities"}

WEEKLY_CHECKIN = Flow(name=NAME, steps=DEFAULT_STEPS, carry=CARRY)
