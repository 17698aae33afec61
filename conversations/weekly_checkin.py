"""The weekly check-in: six short questions every Friday afternoon, the window closing Monday noon.

```mermaid
flowchart LR
    mood --> wins --> follow_ups["follow_ups: last week's priorities, open obstacles, open development actions"]
    follow_ups --> key_results["key_results: this quarter's key results, one list (while there are any)"]
    key_results --> blockers
    blockers -- repeats an open obstacle --> same_obstacle["same_obstacle: the same one?"] --> priorities
    blockers --> priorities --> manager_help
```
"""

from __future__ import annotations

from conversations.answers import ActionStatus, Items, ObstacleStatus, PlanStatus, Scale, Text, YesOrNo
from conversations.flows import Ask, Flow
from conversations.followups import FOLLOW_UPS
from conversations.goals import Progress

NAME = "weekly_checkin"

DEFAULT_STEPS: tuple[Ask, ...] = (
    Ask("mood", Scale(1, 5)),
    Ask("wins", Text()),
    Ask("plan_review", PlanStatus(), each="plan", group=FOLLOW_UPS),
    Ask("obstacle_status", ObstacleStatus(), each="obstacles", group=FOLLOW_UPS),
    # Every open development action (the step keeps the id it had when only retros made actions: org files and
    # stored answers name it).
    Ask("retro_action", ActionStatus(), each="actions", group=FOLLOW_UPS),
    # Progress on this quarter's key results, one grouped answer ("KR1 40, KR2 done"), while there are any.
    Ask("key_results", Progress(), needs="key_results", optional=True),
    Ask("blockers", Text(none_means_empty=True), opens_obstacle=True),
    Ask("same_obstacle", YesOrNo(), inserted=True),
    Ask("priorities", Items(1, 3)),
    Ask("manager_help", Text(), optional=True, requires_manager=True),
)

# Each run starts with the priorities the member set in the previous week's check-in.
CARRY = {"plan": "priorities"}

WEEKLY_CHECKIN = Flow(
    name=NAME,
    steps=DEFAULT_STEPS,
    carry=CARRY,
    command="checkin",
    reopens=True,
    titles={"en": "Weekly check-in", "zh": "每周小结"},
)
