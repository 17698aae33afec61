"""Charts drawn as one PNG (Slack uploads it, the console writes it to a folder). Numbers and dates only: the words
are in the message text, so the image needs no CJK font.

Drawn with Pillow, imported on first use: a process that never draws a chart never loads it. (Why Pillow and not
matplotlib or Vega-Lite: a few lines and small panels need no layout engine; Pillow renders a four-panel palette PNG in
about 12 ms and adds a few MB, where matplotlib adds ~40 MB and tens of milliseconds a figure — see
docs/benchmarks.md, session 6.)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from conversations.charts import MISSING, OFF, PAUSED, Chart

WIDTH, PANEL = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 12, 26
COLOURS = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2")
MOOD_COLOURS = ("#d7191c", "#fdae61", "#c9c9c9", "#a6d96a", "#1a9641")  # 1 (low) … 5 (high), bottom to top
GREY, INK, GRID = "#9a9a9a", "#333333", "#e6e6e6"


def render(charts: Sequence[Chart]) -> bytes:
    """One PNG with a panel per chart, top to bottom, in the order given (the order the text describes them)."""
    from PIL import Image, ImageDraw, ImageFont  # lazily: only processes that chart pay for Pillow

    # a palette image: a dozen colours, so the PNG encoder (most of the time spent) has a quarter of the bytes
    image = Image.new("P", (WIDTH, PANEL * max(1, len(charts))), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for i, chart in enumerate(charts):
        _panel(draw, font, chart, i * PANEL)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _top(chart: Chart) -> float:
    if chart.y_max is not None:
        return chart.y_max
    if chart.kind == "stacked":
        sums = [sum(s.values[i] or 0 for s in chart.series) for i in range(len(chart.labels))]
        return max([1.0, *sums])
    return max([1.0, *(v for s in chart.series for v in s.values if v is not None)])


def _panel(draw: Any, font: Any, chart: Chart, y0: int) -> None:
    x0, x1 = LEFT, WIDTH - RIGHT
    base, ceil = y0 + PANEL - BOTTOM, y0 + TOP
    top = _top(chart)
    low = 1.0 if chart.key == "mood" else 0.0  # the mood scale starts at 1

    def y(v: float) -> float:
        return base - (v - low) / max(top - low, 1e-9) * (base - ceil)

    ticks = sorted({low, top, round((low + top) / 2)})
    for t in ticks:
        draw.line([(x0, y(t)), (x1, y(t))], fill=GRID)
        draw.text((4, y(t) - 6), f"{t:g}", fill=INK, font=font)
    n = max(1, len(chart.labels))
    step = (x1 - x0) / n
    every = 1 if n <= 8 else 2
    for i, label in enumerate(chart.labels):
        if i % every == 0 or i == n - 1:
            draw.text((x0 + i * step + 2, base + 6), label[: max(5, int(step * every // 7))], fill=INK, font=font)
    centre = [x0 + (i + 0.5) * step for i in range(n)]
    if chart.kind == "line":
        for k, s in enumerate(chart.series):
            colour = COLOURS[k % len(COLOURS)]
            previous = None
            for i, v in enumerate(s.values):
                if v is None:
                    _gap(draw, centre[i], base, s.mark(i))
                    previous = None
                    continue
                point = (centre[i], y(v))
                if previous is not None:
                    draw.line([previous, point], fill=colour, width=2)
                draw.ellipse([point[0] - 3, point[1] - 3, point[0] + 3, point[1] + 3], fill=colour)
                previous = point
    elif chart.kind == "stacked":
        for i in range(n):
            bottom = float(base)
            if all(s.values[i] is None for s in chart.series):
                _gap(draw, centre[i], base, chart.series[0].mark(i))
                continue
            for k, s in enumerate(chart.series):
                v = s.values[i] or 0
                if v:
                    height = v / top * (base - ceil)
                    draw.rectangle(
                        [centre[i] - step * 0.3, bottom - height, centre[i] + step * 0.3, bottom],
                        fill=MOOD_COLOURS[k % 5] if chart.key == "team_mood" else COLOURS[k % len(COLOURS)],
                    )
                    bottom -= height
    else:  # grouped bars
        width = step * 0.8 / max(1, len(chart.series))
        for k, s in enumerate(chart.series):
            for i, v in enumerate(s.values):
                left = x0 + i * step + step * 0.1 + k * width
                if v is None:
                    if k == 0:
                        _gap(draw, centre[i], base, s.mark(i))
                    continue
                draw.rectangle([left, y(v), left + width - 1, base], fill=COLOURS[k % len(COLOURS)])
                if n <= 8:
                    draw.text((left + 1, y(v) - 12), f"{v:g}", fill=INK, font=font)
    draw.line([(x0, base), (x1, base)], fill=INK)


def _gap(draw: Any, x: float, base: float, mark: str | None) -> None:
    """No number this week: paused (‖), or no check-in / no working day (·), never a zero."""
    if mark == PAUSED:
        draw.line([(x - 3, base - 14), (x - 3, base - 2)], fill=GREY, width=2)
        draw.line([(x + 3, base - 14), (x + 3, base - 2)], fill=GREY, width=2)
    elif mark in (MISSING, OFF, None):
        draw.ellipse([x - 2, base - 8, x + 2, base - 4], fill=GREY)
