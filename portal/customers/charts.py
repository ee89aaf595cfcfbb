"""Geometry of the 12-month inflow/outflow chart, drawn as inline SVG by a template.

Only coordinates are computed here (floats are fine for pixels); the amounts shown in
labels and tooltips stay the exact Decimals of the view."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Sequence

from portal.customers.services import MonthFlow

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 12, 28  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    amount: Decimal


@dataclass(frozen=True)
class Tick:
    y: float
    value: Decimal


@dataclass(frozen=True)
class Month:
    month: date
    x: float  # centre, for the label
    inflow: Bar
    outflow: Bar


@dataclass(frozen=True)
class FlowChart:
    width: int
    height: int
    left: int
    right: int
    baseline: float
    months: list[Month]
    ticks: list[Tick]


def nice_step(maximum: float, steps: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) covering ``maximum``."""
    if maximum <= 0:
        return 1.0
    raw = maximum / steps
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return float(multiple * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def flow_chart(flows: Sequence[MonthFlow], width: int = WIDTH,
               height: int = HEIGHT) -> FlowChart:
    """Paired bars per month (inflow, outflow) over a shared axis from zero."""
    biggest = max([float(v) for f in flows for v in (f.inflow_cny, f.outflow_cny)] or [0.0])
    step = nice_step(biggest)
    top_value = step * max(1, math.ceil(biggest / step))
    plot_height = height - TOP - BOTTOM
    baseline = float(height - BOTTOM)
    slot = (width - LEFT - RIGHT) / max(1, len(flows))
    bar_width = slot * 0.36

    def bar(x: float, amount: Decimal) -> Bar:
        h = plot_height * float(amount) / top_value
        return Bar(round(x, 1), round(baseline - h, 1), round(bar_width, 1), round(h, 1),
                   amount)

    months = []
    for i, f in enumerate(flows):
        x0 = LEFT + i * slot + slot * 0.12
        months.append(Month(f.month, round(LEFT + (i + 0.5) * slot, 1),
                            bar(x0, f.inflow_cny), bar(x0 + bar_width, f.outflow_cny)))
    ticks = [Tick(round(baseline - plot_height * n * step / top_value, 1),
                  Decimal(str(n * step)))
             for n in range(int(round(top_value / step)) + 1)]
    return FlowChart(width, height, LEFT, RIGHT, baseline, months, ticks)
