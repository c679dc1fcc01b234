"""One chart per report (reportlab graphics), drawn from the report's own rows.

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

from workflow.reports.render import plain

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


def _effect(r: dict) -> list[Drawing]:
    m = r["measures"]["count"]
    ci = m["intervals"]
    rates = bars(f"Monthly {r['kind']} rate per person, before and after joining",
                 ["cohort", "comparison"],
                 {"before": [m["cohort"]["monthly_rate_before"],
                             m["comparison"]["monthly_rate_before"]],
                  "after": [m["cohort"]["monthly_rate_after"],
                            m["comparison"]["monthly_rate_after"]]})
    change = intervals("% change with 95% interval", [
        ("cohort", m["cohort"]["pct_change"], ci["cohort"]),
        ("comparison", m["comparison"]["pct_change"], ci["comparison"]),
        ("adjusted (cohort net of comparison)", m["adjusted_pct_change"],
         ci["adjusted_pct_change"])])
    return [rates, change]


def _expansion(r: dict) -> list[Drawing]:
    rows = r["rows"]
    return [bars("Estimated offences a year, now and after IOM", [x["label"] for x in rows],
                 {"now": [x["offences_per_year_now"] for x in rows],
                  "after": [x["offences_per_year_after"] for x in rows]})]


def _cost(r: dict) -> list[Drawing]:
    rows = r["rows"]
    return [bars(f"Annual cost of the cohort's {r['kind']}s (pounds, {r['price_year']})",
                 [x["period"] for x in rows], {"annual cost": [x["annual_cost"] for x in rows]})]


def _targets(r: dict) -> list[Drawing]:
    rows = r["rows"]
    return [lines(f"Cumulative {r['kind']}s against the allowance", [x["month"] for x in rows],
                  {"actual": [x["actual_cumulative"] for x in rows],
                   "allowed": [x["allowed_cumulative"] for x in rows]})]


def _caseload(r: dict) -> list[Drawing]:
    rows, stages = r["rows"], r.get("stages", [])
    sources = [x for x in r.get("sources", []) if not x["source"].startswith("all")]
    out = [bars("Entries and exits per month", [x["month"] for x in rows],
                {"entries": [x["entries"] for x in rows], "exits": [x["exits"] for x in rows]})]
    if stages:
        out.append(bars("Days in each stage (stays ended in the period)",
                        [x["stage"] for x in stages],
                        {"median": [x["median_days"] for x in stages],
                         "90th percentile": [x["p90_days"] for x in stages]}))
    if sources:
        out.append(bars("Candidates selected, by source", [x["source"] for x in sources],
                        {"candidates": [x["candidates"] for x in sources]}))
    return out


def _top(r: dict) -> list[Drawing]:
    rows = r["rows"]
    return [bars("Share of all arrests (%) held by the most arrested people",
                 [f"top {x['top']}" for x in rows],
                 {"share of arrests %": [x["share_of_arrests_pct"] for x in rows],
                  "share of individuals %": [x["share_of_individuals_pct"] for x in rows]})]


CHARTS = {"cohort-effect": _effect, "expansion": _expansion, "cost": _cost,
          "targets": _targets, "caseload": _caseload, "top-arrested": _top}


def charts(report: dict) -> list[Drawing]:
    """The report's charts (one or two drawings)."""
    return CHARTS[report.get("report", "top-arrested")](plain(report))
