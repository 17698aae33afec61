"""The monthly obstacle review: first Tuesday of the month, 10:00 member-local.

```mermaid
flowchart LR
    follow_ups["follow_ups: one list of the open obstacles"] --> biggest_obstacle --> support --> growth --> upward
    biggest_obstacle -- repeats an open obstacle --> same_obstacle["same_obstacle: the same one?"] --> support
```
Support needs go to the manager at once as an actionable request; the member hears back when the manager acts.
The last question asks for 1–3 concrete development actions (not topics); each becomes an open action that the
weekly check-in follows up until it is done or dropped.
`upward` (optional, for people with a manager) asks what the manager should keep doing and could do differently;
its answer is detached: the run keeps only that it was given, and bot/replies.py stores the text apart from its
author, shown to the manager only as a set without names (conversations/replies.py `upward_disclosed`).
"""

from __future__ import annotations

from conversations.answers import Items, ObstacleStatus, SupportNeed, Text, YesOrNo
from conversations.flows import Ask, Flow
from conversations.followups import FOLLOW_UPS
from conversations.schedule import MonthlySchedule

NAME = "monthly_review"

MONTHLY_REVIEW = Flow(
    name=NAME,
    steps=(
        Ask("obstacle_status", ObstacleStatus(), each="obstacles", group=FOLLOW_UPS),
        Ask("biggest_obstacle", Text(none_means_empty=True), opens_obstacle=True),
        Ask("same_obstacle", YesOrNo(), inserted=True),
        Ask("support", SupportNeed(), requires_manager=True),
        Ask("growth", Items(1, 3)),  # 1–3 concrete development actions: each becomes one (bot/actions.py)
        Ask("upward", Text(none_means_empty=True), optional=True, requires_manager=True, detached=True),
    ),
    command="review",
    titles={"en": "Monthly review", "zh": "月度回顾"},
    schedule=MonthlySchedule(),
)
