"""What each report's charts show, independent of how they are drawn.

One list of chart specifications per report, built from the report's own (JSON-ready)
rows, so the PDF (reportlab, :mod:`workflow.reports.pdf.charts`) and the web pages
(inline SVG, ``web/charts.py``) draw the same figures, and a chart never shows a figure
the report's table does not. A spec is a dict:

* ``{"kind": "bars" | "lines", "title", "labels": [category...],
  "series": {name: [value or None per label]}}``;
* ``{"kind": "intervals", "title", "points": [(label, value or None, [low, high] or
  None)]}`` (a % change with its 95% interval).
"""

from __future__ import annotations

from workflow.reports.render import plain


def _bars(title: str, labels: list[str], series: dict[str, list]) -> dict:
    return {"kind": "bars", "title": title, "labels": labels, "series": series}


def _effect(r: dict) -> list[dict]:
    m = r["measures"]["count"]
    ci = m["intervals"]
    rates = _bars(f"Monthly {r['kind']} rate per person, before and after joining",
                  ["cohort", "comparison"],
                  {"before": [m["cohort"]["monthly_rate_before"],
                              m["comparison"]["monthly_rate_before"]],
                   "after": [m["cohort"]["monthly_rate_after"],
                             m["comparison"]["monthly_rate_after"]]})
    change = {"kind": "intervals", "title": "% change with 95% interval", "points": [
        ("cohort", m["cohort"]["pct_change"], ci["cohort"]),
        ("comparison", m["comparison"]["pct_change"], ci["comparison"]),
        ("adjusted (cohort net of comparison)", m["adjusted_pct_change"],
         ci["adjusted_pct_change"])]}
    return [rates, change]


def _expansion(r: dict) -> list[dict]:
    rows = r["rows"]
    return [_bars("Estimated offences a year, now and after IOM", [x["label"] for x in rows],
                  {"now": [x["offences_per_year_now"] for x in rows],
                   "after": [x["offences_per_year_after"] for x in rows]})]


def _cost(r: dict) -> list[dict]:
    rows = r["rows"]
    return [_bars(f"Annual cost of the cohort's {r['kind']}s (pounds, {r['price_year']})",
                  [x["period"] for x in rows], {"annual cost": [x["annual_cost"] for x in rows]})]


def _targets(r: dict) -> list[dict]:
    rows = r["rows"]
    return [{"kind": "lines", "title": f"Cumulative {r['kind']}s against the allowance",
             "labels": [x["month"] for x in rows],
             "series": {"actual": [x["actual_cumulative"] for x in rows],
                        "allowed": [x["allowed_cumulative"] for x in rows]}}]


def _caseload(r: dict) -> list[dict]:
    rows, stages = r["rows"], r.get("stages", [])
    sources = [x for x in r.get("sources", []) if not x["source"].startswith("all")]
    out = [_bars("Entries and exits per month", [x["month"] for x in rows],
                 {"entries": [x["entries"] for x in rows], "exits": [x["exits"] for x in rows]})]
    if stages:
        out.append(_bars("Days in each stage (stays ended in the period)",
                         [x["stage"] for x in stages],
                         {"median": [x["median_days"] for x in stages],
                          "90th percentile": [x["p90_days"] for x in stages]}))
    if sources:
        out.append(_bars("Candidates selected, by source", [x["source"] for x in sources],
                         {"candidates": [x["candidates"] for x in sources]}))
    return out


def _top(r: dict) -> list[dict]:
    rows = r["rows"]
    return [_bars("Share of all arrests (%) held by the most arrested people",
                  [f"top {x['top']}" for x in rows],
                  {"share of arrests %": [x["share_of_arrests_pct"] for x in rows],
                   "share of individuals %": [x["share_of_individuals_pct"] for x in rows]})]


SPECS = {"cohort-effect": _effect, "expansion": _expansion, "cost": _cost,
         "targets": _targets, "caseload": _caseload, "top-arrested": _top}


def chart_specs(report: dict) -> list[dict]:
    """The report's charts as specifications (one to three)."""
    return SPECS[report.get("report", "top-arrested")](plain(report))
