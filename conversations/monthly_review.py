"""The monthly obstacle review: first Tuesday of the month, 10:00 member-local.

```mermaid
flowchart LR
    obstacle_status["obstacle_status:i (one per open obstacle)"] --> biggest_obstacle --> support --> growth
```
Support needs go to the manager at once as an actionable request; the member hears back when the manager acts.
"""

from __future__ import annotations

from conversations.answers import Items, ObstacleStatus, SupportNeed, Text
from conversations.flows import Ask, Flow
from conversations.schedule import MonthlySchedule

NAME = "monthly_review"

MONTHLY_REVIEW = Flow(
    name=NAME,
    steps=(
        Ask("obstacle_status", ObstacleStatus(), each="obstacles"),
        Ask("biggest_obstacle", Text(none_means_empty=True)),
        Ask("support", SupportNeed(), requires_manager=True),
        Ask("growth", Items(1, 2)),
    ),
    schedule=MonthlySchedule(),
)
