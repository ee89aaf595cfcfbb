"""Geometry of the tier reports' charts (stacked bars per branch, the migration heat map,
the value pyramid), drawn as inline SVG by the templates.

Only coordinates are computed here (floats are fine for pixels); labels and links are the
templates' (they know the locale and the URLs), amounts stay the reports' Decimals."""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from portal.customers.charts import nice_step
from portal.vip.pyramid import Pyramid
from portal.vip.reports import Distribution, Migration

WIDTH = 720
MEASURES = ("customers", "aum")


@dataclass(frozen=True)
class Segment:
    tier: str
    rank_class: str  # CSS class of the tier's colour (by rank)
    x: float
    width: float
    customers: int
    aum: Decimal


@dataclass(frozen=True)
class BarRow:
    branch: str | None
    y: float
    height: float
    label_y: float
    segments: list[Segment]
    customers: int
    aum: Decimal


@dataclass(frozen=True)
class Tick:
    x: float
    value: Decimal


@dataclass(frozen=True)
class StackedChart:
    width: int
    height: int
    left: int
    axis_y: float
    measure: str
    rows: list[BarRow]
    ticks: list[Tick]


def rank_class(rank: int) -> str:
    return f"tier-r{min(rank, 9)}"


def stacked_bars(report: Distribution, measure: str = "customers",
                 width: int = WIDTH) -> StackedChart:
    """One horizontal bar per branch, a segment per tier (base tier first), sized by the
    tier's customers or AUM on a shared axis from zero."""
    left, right, top, row_height, bar_height, bottom = 150, 12, 8, 30, 20, 26
    def size(customers: int, aum: Decimal) -> float:
        return float(customers) if measure == "customers" else max(float(aum), 0.0)

    biggest = max((size(b.customers, b.aum) for b in report.branches), default=0.0)
    step = nice_step(biggest)
    top_value = step * max(1, math.ceil(biggest / step))
    plot = width - left - right
    rows = []
    for index, branch in enumerate(report.branches):
        y = top + index * row_height
        x = float(left)
        segments = []
        for tier in report.tiers:
            cell = branch.cells.get(tier.code)
            if cell is None or cell.customers == 0:
                continue
            w = plot * size(cell.customers, cell.aum) / top_value
            segments.append(Segment(tier.code, rank_class(tier.rank), round(x, 1),
                                    round(max(w, 0.0), 1), cell.customers, cell.aum))
            x += w
        rows.append(BarRow(branch.code, float(y), float(bar_height),
                           round(y + bar_height / 2 + 4, 1), segments, branch.customers,
                           branch.aum))
    axis_y = float(top + len(rows) * row_height)
    ticks = [Tick(round(left + plot * n * step / top_value, 1), Decimal(str(n * step)))
             for n in range(int(round(top_value / step)) + 1)]
    return StackedChart(width, int(axis_y + bottom), left, axis_y, measure, rows, ticks)


@dataclass(frozen=True)
class HeatCell:
    from_tier: str
    to_tier: str
    x: float
    y: float
    width: float
    height: float
    count: int
    direction: str  # "up", "down", "same" or "new"
    opacity: float


@dataclass(frozen=True)
class Heatmap:
    width: int
    height: int
    left: int
    top: int
    columns: list[tuple[str, float]]  # (to tier, centre x)
    rows: list[tuple[str, float]]  # (from tier, centre y)
    cells: list[HeatCell]


def heatmap(report: Migration, width: int = WIDTH) -> Heatmap:
    """The from × to matrix as cells whose shade grows with the count (zero: blank)."""
    left, top, right, cell_height = 150, 34, 8, 34
    columns = report.tiers
    cell_width = (width - left - right) / max(1, len(columns))
    rank = {t.code: t.rank for t in columns}
    maximum = report.maximum
    cells = []
    for row_index, from_code in enumerate(report.rows):
        y = top + row_index * cell_height
        for col_index, tier in enumerate(columns):
            count = report.count(from_code, tier.code)
            if from_code not in rank:
                direction = "new"
            elif tier.rank > rank[from_code]:
                direction = "up"
            elif tier.rank < rank[from_code]:
                direction = "down"
            else:
                direction = "same"
            opacity = 0.0 if not count or not maximum else 0.15 + 0.85 * count / maximum
            cells.append(HeatCell(from_code, tier.code, round(left + col_index * cell_width, 1),
                                  float(y), round(cell_width - 2, 1), float(cell_height - 2),
                                  count, direction, round(opacity, 2)))
    return Heatmap(width, top + len(report.rows) * cell_height + 4, left, top,
                   [(t.code, round(left + (i + 0.5) * cell_width, 1))
                    for i, t in enumerate(columns)],
                   [(code, round(top + (i + 0.5) * cell_height + 4, 1))
                    for i, code in enumerate(report.rows)], cells)


@dataclass(frozen=True)
class PyramidBand:
    layer: str
    points: str  # the trapezoid's polygon
    centre_x: float
    label_y: float
    leader: tuple[float, float, float, float]  # a line from the band to its label
    customers: int
    value: Decimal
    adb: Decimal


@dataclass(frozen=True)
class PyramidChart:
    width: int
    height: int
    label_x: float
    bands: list[PyramidBand]


def pyramid_chart(report: Pyramid, width: int = WIDTH) -> PyramidChart:
    """Four stacked trapezoids, platinum at the top; the figures stand beside each band."""
    top, band_height, gap, apex, base = 10, 56, 4, 30.0, 210.0
    centre = 230.0
    total_height = len(report.layers) * band_height

    def half(y: float) -> float:
        return apex + (base - apex) * (y - top) / total_height

    bands = []
    for index, layer in enumerate(report.layers):
        y0 = top + index * band_height
        y1 = y0 + band_height - gap
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (
            (centre - half(y0), y0), (centre + half(y0), y0),
            (centre + half(y1), y1), (centre - half(y1), y1)))
        middle = (y0 + y1) / 2
        bands.append(PyramidBand(layer.code, points, centre, round(middle + 5, 1),
                                 (round(centre + half(middle), 1), round(middle, 1),
                                  centre + base + 20, round(middle, 1)),
                                 layer.customers, layer.value, layer.adb))
    return PyramidChart(width, top + total_height + 8, centre + base + 28, bands)
