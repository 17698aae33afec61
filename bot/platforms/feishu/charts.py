"""Charts as Feishu's native card chart component (`tag: chart`, a VChart `chart_spec`), so nothing is uploaded.

Kept within what Feishu draws on mobile (open.feishu.cn, card chart component): line and bar charts with plain
data, no textures, gradients, images or JavaScript; at most five charts a card. No titles or legends: the words are
in the message text, in the reader's language; the chart carries numbers and dates (a stacked mood bar's series
are the mood numbers 1–5).
"""

from __future__ import annotations

from typing import Any

from conversations.charts import MOODS, Chart

WEEK, VALUE, SERIES = "week", "value", "series"


def chart_spec(chart: Chart) -> dict[str, Any]:
    """The VChart spec of one chart: a line (gaps where there is no number, never zero) or bars."""
    rows: list[dict[str, Any]] = []
    for k, s in enumerate(chart.series):
        name = str(MOODS[k]) if chart.key == "team_mood" else str(k + 1)
        for label, v in zip(chart.labels, s.values, strict=True):
            if v is None and chart.kind != "line":
                continue  # no bar at all, rather than a bar of zero
            rows.append({WEEK: label, VALUE: v, SERIES: name})
    axis: dict[str, Any] = {"orient": "left"}
    if chart.key == "mood":
        axis.update(min=1, max=5)
    elif chart.y_max is not None:
        axis.update(min=0, max=chart.y_max)
    spec: dict[str, Any] = {
        "type": "line" if chart.kind == "line" else "bar",
        "data": {"values": rows},
        "yField": VALUE,
        "axes": [axis, {"orient": "bottom", "type": "band"}],
        "legends": {"visible": False},
    }
    if chart.kind == "line":
        spec.update(xField=WEEK, invalidType="break", point={"visible": True})
    elif chart.kind == "stacked":
        spec.update(xField=WEEK, seriesField=SERIES, stack=True)
    elif len(chart.series) > 1:
        spec.update(xField=[WEEK, SERIES], seriesField=SERIES)
    else:
        spec.update(xField=WEEK)
    return spec


def chart_element(chart: Chart) -> dict[str, Any]:
    return {"tag": "chart", "aspect_ratio": "16:9", "preview": True, "chart_spec": chart_spec(chart)}
