"""The reports' charts drawn with reportlab graphics, from :mod:`workflow.reports.chartdata`.

Every chart sits beside its data table and a text summary in the PDF; a chart never
shows a figure the table does not. Missing values (None) are drawn as 0 and said so in
the table ("" cell).
"""

from __future__ import annotations

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, Line, String
from reportlab.lib import colors

from workflow.reports.chartdata import chart_specs

WIDTH, HEIGHT = 460, 190
# GOV.UK-like colours with enough contrast on white, told apart by the legend too.
PALETTE = (colors.HexColor("#1d70b8"), colors.HexColor("#f47738"),
           colors.HexColor("#00703c"), colors.HexColor("#4c2c92"))


def _n(value) -> float:
    return 0.0 if value is None else float(value)


def _legend(drawing: Drawing, names: list[str]) -> None:
    legend = Legend()
    legend.x, legend.y, legend.fontSize = WIDTH - 150, drawing.height - 10, 7
    legend.alignment, legend.columnMaximum = "right", 4
    legend.colorNamePairs = list(zip(PALETTE, names, strict=False))
    drawing.add(legend)


def _title(drawing: Drawing, text: str) -> None:
    drawing.add(String(0, drawing.height - 8, text, fontName="Helvetica-Bold", fontSize=8))


def bars(title: str, labels: list[str], series: dict[str, list]) -> Drawing:
    """Grouped vertical bars: one group per label, one bar per series."""
    angled = len(labels) > 6
    # Room under the axis for slanted labels (about 1.6 pt a character at 6 pt, 30°).
    extra = min(90, 1.6 * max(map(len, labels), default=0)) if angled else 0
    drawing = Drawing(WIDTH, HEIGHT + extra)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 30 + extra, WIDTH - 210, HEIGHT - 55
    chart.data = [[_n(v) for v in values] for values in series.values()] or [[0]]
    chart.categoryAxis.categoryNames = labels or [""]
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.angle = 30 if angled else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if angled else "n"
    chart.valueAxis.labels.fontSize = 6
    chart.valueAxis.valueMin = min(0.0, *(min(d) for d in chart.data))
    for i in range(len(chart.data)):
        chart.bars[i].fillColor = PALETTE[i % len(PALETTE)]
    drawing.add(chart)
    _title(drawing, title)
    _legend(drawing, list(series))
    return drawing


def lines(title: str, labels: list[str], series: dict[str, list]) -> Drawing:
    """Lines over a category axis (months)."""
    drawing = Drawing(WIDTH, HEIGHT)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 40, 30, WIDTH - 210, HEIGHT - 55
    chart.data = [[_n(v) for v in values] for values in series.values()]
    chart.categoryAxis.categoryNames = labels
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.angle, chart.categoryAxis.labels.boxAnchor = 30, "ne"
    chart.valueAxis.labels.fontSize = 6
    chart.valueAxis.valueMin = 0
    for i in range(len(chart.data)):
        chart.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
        chart.lines[i].strokeWidth = 1.5
    drawing.add(chart)
    _title(drawing, title)
    _legend(drawing, list(series))
    return drawing


def intervals(title: str, points: list[tuple[str, float | None, list | None]]) -> Drawing:
    """A dot per figure with its 95% interval as a whisker, on one % axis with 0 marked."""
    drawing = Drawing(WIDTH, 30 + 22 * len(points))
    values = [v for _l, v, ci in points for v in ([v] + list(ci or [])) if v is not None]
    lo, hi = min([-10.0, *values]), max([10.0, *values])
    left, right = 150, WIDTH - 20

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    top = drawing.height - 18
    drawing.add(String(0, top + 6, title, fontName="Helvetica-Bold", fontSize=8))
    drawing.add(Line(x(0), 8, x(0), top, strokeColor=colors.grey, strokeDashArray=(2, 2)))
    for tick in (lo, 0.0, hi):  # the axis' ends and zero, so the whiskers have a scale
        drawing.add(String(x(tick), 0, f"{tick:g}%", fontSize=6, textAnchor="middle"))
    for i, (label, value, ci) in enumerate(points):
        y = top - 14 - 22 * i
        drawing.add(String(0, y - 2, label, fontSize=7))
        if ci:
            drawing.add(Line(x(ci[0]), y, x(ci[1]), y, strokeColor=PALETTE[0], strokeWidth=1))
        if value is not None:
            drawing.add(Line(x(value) - 3, y, x(value) + 3, y, strokeColor=PALETTE[1],
                             strokeWidth=5))
    return drawing


DRAW = {"bars": lambda s: bars(s["title"], s["labels"], s["series"]),
        "lines": lambda s: lines(s["title"], s["labels"], s["series"]),
        "intervals": lambda s: intervals(s["title"], s["points"])}


def charts(report: dict) -> list[Drawing]:
    """The report's charts (:func:`workflow.reports.chartdata.chart_specs`) as drawings."""
    return [DRAW[spec["kind"]](spec) for spec in chart_specs(report)]
