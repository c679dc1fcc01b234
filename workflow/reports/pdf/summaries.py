"""One paragraph of plain English per report, written from the report's own figures.

Every number is printed with :func:`workflow.reports.render.cell` from the JSON-ready
report (:func:`~workflow.reports.render.plain`), so it reads exactly as in the CSV.
"""

from __future__ import annotations

from workflow.reports.render import cell, plain


def _interval(pair) -> str:
    return f" (95% interval {cell(pair[0])} to {cell(pair[1])})" if pair else \
        " (no interval: too few people)"


def _people(n) -> str:
    return f"{cell(n)} {'person' if n == 1 else 'people'}"


def _pct(value) -> str:
    return "not measurable" if value is None else f"{cell(value)}%"


def cohort_effect(r: dict) -> str:
    m = r["measures"]["count"]
    c, k, ci = m["cohort"], m["comparison"], m["intervals"]
    return (f"{_people(c['people'])} joined between {r['start']} and {r['end']} and "
            f"were followed for up to {cell(r['followup_months'])} months. Their monthly "
            f"{r['kind']} rate moved from {cell(c['monthly_rate_before'])} to "
            f"{cell(c['monthly_rate_after'])}: {_pct(c['pct_change'])}"
            f"{_interval(ci['cohort'])}. The comparison group ({_people(k['people'])} "
            f"the panel did not take on) changed by {_pct(k['pct_change'])}"
            f"{_interval(ci['comparison'])}. Net of the comparison group, the change is "
            f"{_pct(m['adjusted_pct_change'])}{_interval(ci['adjusted_pct_change'])}; "
            "a fall the comparison group shares is not credited to IOM.")


def expansion(r: dict) -> str:
    first = r["rows"][0] if r["rows"] else None
    if first is None:
        return "No reference columns: nothing estimated."
    return (f"Taking on the {cell(r['candidates'])} candidates ({_source(r)}) would cut an "
            f"estimated {cell(first['annual_reduction'])} offences a year of "
            f"{cell(first['offences_per_year_now'])} ({first['label']}), "
            f"{cell(first['share_of_borough_crime_pct'])}% of the borough's recorded "
            f"crime, assuming a reduction of {cell(r['reduction'])} (reference data "
            f"{r['reference']}).")


def _source(r: dict) -> str:
    return ", ".join(f"{k} {cell(v)}" for k, v in r["candidate_source"].items())


def cost(r: dict) -> str:
    rows = {row["period"]: row for row in r["rows"]}
    return (f"The {r['kind']}s of the {_people(r['people'])} who joined cost "
            f"{cell(rows['before']['annual_cost'])} a year before joining, "
            f"{cell(rows['during']['annual_cost'])} a year while on IOM and "
            f"{cell(rows['after']['annual_cost'])} a year after leaving "
            f"({r['price_year']} prices, pounds). Annual saving (before minus during): "
            f"{cell(r['annual_saving'])}{_interval(r['annual_saving_interval'])}.")


def targets(r: dict) -> str:
    verdict = "within" if r["met"] else "over"
    return (f"A {cell(r['reduction_pct'])}% reduction on a baseline of {cell(r['baseline'])} "
            f"{r['kind']}s allows at most {cell(r['allowed'])} in {r['start']} to "
            f"{r['end']}. The {_people(r['people'])} in the cohort had "
            f"{cell(r['actual'])}: {verdict} the target.")


def caseload(r: dict) -> str:
    entries = sum(row["entries"] for row in r["rows"])
    exits = sum(row["exits"] for row in r["rows"])
    by = f" by {r['target_by']}" if r.get("target_by") else ""
    target = ("" if r["target_size"] is None else
              f" against a target of {cell(r['target_size'])}{by} (gap "
              f"{cell(r['target_gap'])})")
    stages = [s for s in r.get("stages", []) if s["median_days"] is not None]
    slowest = max(stages, key=lambda s: s["median_days"], default=None)
    wait = ("" if slowest is None else
            f" The longest median stay was in {slowest['stage']}: "
            f"{cell(slowest['median_days'])} days (90th percentile "
            f"{cell(slowest['p90_days'])}).")
    selected = next((x["candidates"] for x in r.get("sources", [])
                     if x["source"].startswith("all")), None)
    found = "" if selected is None else f" {cell(selected)} candidates were selected."
    return (f"Active cohort: {_people(r['active_cohort'])}{target}. In the "
            f"period {entries} joined and {exits} left; the panel accepted "
            f"{cell(r['panel_outcomes']['accept'])}, deferred "
            f"{cell(r['panel_outcomes']['defer'])} and rejected "
            f"{cell(r['panel_outcomes']['reject'])}.{found}{wait}")


def top_arrested(r: dict) -> str:
    parts = [f"the top {cell(row['top'])} had {cell(row['arrests'])} arrests "
             f"({cell(row['share_of_arrests_pct'])}%)" for row in r["rows"]]
    return (f"{_people(r['individuals_arrested'])} were arrested {cell(r['arrests'])} "
            f"times between {r['start']} and {r['end']}; " + "; ".join(parts) + ".")


SUMMARIES = {"cohort-effect": cohort_effect, "expansion": expansion, "cost": cost,
             "targets": targets, "caseload": caseload, "top-arrested": top_arrested}


def summary(report: dict) -> str:
    """The paragraph for ``report`` (any report of the catalogue)."""
    name = report.get("report", "top-arrested")
    return SUMMARIES[name](plain(report))
