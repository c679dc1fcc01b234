"""The reports by name, with one entry point the CLI and the API share.

``run(session, name, start=..., end=..., **options)`` validates the options a report
takes (unknown ones are refused with their names) and returns the report dict; render it
with :mod:`workflow.reports.render`. ``progress`` (a callable taking a line of text) is
given to the long reports (cohort effect, cost), which say what they are doing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from workflow.errors import InvalidInput
from workflow.reports.caseload import caseload_report
from workflow.reports.costs import cost_report
from workflow.reports.effect import cohort_effect
from workflow.reports.expansion import expansion_report
from workflow.reports.targets import targets_report
from workflow.reports.top_arrested import top_arrested


@dataclass(frozen=True)
class Report:
    name: str
    summary: str
    function: Callable[..., dict]
    options: tuple[str, ...]
    steps: bool = False  # takes a ``progress`` callable


REPORTS: dict[str, Report] = {r.name: r for r in (
    Report("top-arrested", "top 10 / 20 / 100 / 200 repeat arrested people (seed 002)",
           top_arrested, ()),
    Report("expansion", "what taking a candidate list on would buy (seed 002's estimate)",
           expansion_report, ("stream", "ruleset", "refs", "pipeline", "reference",
                              "reduction")),
    Report("cohort-effect", "change in offending since joining, against a comparison group",
           cohort_effect, ("as_of", "kind", "baseline_months", "followup_months",
                           "min_days_at_risk", "replicates", "seed"), steps=True),
    Report("targets", "a % reduction target (NI 30) tracked month by month",
           targets_report, ("reduction_pct", "baseline", "kind")),
    Report("cost", "Home Office cost of the cohort's crime before / during / after joining",
           cost_report, ("as_of", "kind", "baseline_months", "price_year", "reference",
                         "replicates", "seed"), steps=True),
    Report("caseload", "open cases by stream and state, entries and exits, time in each "
           "stage, candidates by source, panel outcomes, tasks on time per agency, cohort "
           "against a target size",
           caseload_report, ("target_size",)),
)}


def run(session: Session, name: str, *, start: date, end: date,
        progress: Callable[[str], None] | None = None, **options) -> dict:
    """Run report ``name`` over ``start``..``end`` (inclusive) with its ``options``
    (None values are left to the report's defaults)."""
    report = REPORTS.get(name)
    if report is None:
        raise InvalidInput(f"no report named {name!r}; known: {', '.join(REPORTS)}",
                           details={"field": "name"})
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(report.options))
    if unknown:
        raise InvalidInput(f"report {name} does not take {', '.join(unknown)}",
                           details={"field": unknown[0]})
    if name == "targets" and "reduction_pct" not in given:
        raise InvalidInput("targets needs the target reduction (%)",
                           details={"field": "reduction_pct"})
    if end < start:
        raise InvalidInput(f"the window ends ({end}) before it starts ({start})",
                           details={"field": "to"})
    if report.steps and progress is not None:
        given["progress"] = progress
    return report.function(session, start=start, end=end, **given)
