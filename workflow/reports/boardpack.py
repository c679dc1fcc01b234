"""The board pack: every board report for one period, computed once, in reading order.

:func:`board_pack` runs each report through the catalogue (the same call the CSV, JSON
and single-report PDF use) and returns them with a method summary for the title page.
Options are shared where reports share a meaning (``kind``, ``replicates``...) and
routed to the reports that take them. ``progress(done, total, name, seconds)`` is called
after each report, for a command line to show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from workflow.errors import InvalidInput
from workflow.reports.catalogue import run

ORDER = ("cohort-effect", "expansion", "cost", "targets", "caseload", "top-arrested")
# option -> reports that take it (every one of them in the catalogue's options).
ROUTES = {
    "kind": ("cohort-effect", "cost", "targets"),
    "replicates": ("cohort-effect", "cost"),
    "seed": ("cohort-effect", "cost"),
    "baseline_months": ("cohort-effect", "cost"),
    "followup_months": ("cohort-effect",),
    "as_of": ("cohort-effect", "cost"),
    "stream": ("expansion",), "ruleset": ("expansion",), "refs": ("expansion",),
    "pipeline": ("expansion",),
    "reduction_pct": ("targets",), "baseline": ("targets",),
    "target_size": ("caseload",), "price_year": ("cost",),
}
DEFAULTS = {
    # NI 30 (seed 003): Sunderland's 17% reduction target.
    "reduction_pct": Decimal(17),
    # Candidates for the expansion estimate: cases selected and not yet taken on.
    "pipeline": True,
}
Progress = Callable[[int, int, str, float], None]
Say = Callable[[str], None]


def options_for(name: str, options: dict) -> dict:
    """The options report ``name`` takes from ``options`` (board-pack defaults filled;
    a candidate ``stream``, ``ruleset`` or ``refs`` replaces the default pipeline)."""
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(ROUTES))
    if unknown:
        raise InvalidInput(f"the board pack does not take {', '.join(unknown)}",
                           details={"field": unknown[0]})
    merged = dict(DEFAULTS)
    if any(given.get(k) for k in ("stream", "ruleset", "refs")):
        merged.pop("pipeline")
    merged |= given
    return {k: v for k, v in merged.items() if name in ROUTES.get(k, ())}


def method_summary(reports: list[dict]) -> list[str]:
    """Title-page lines saying how the figures are made, from the reports themselves."""
    by = {r.get("report", "top-arrested"): r for r in reports}
    lines = ["Cohort: people the multi-agency panel accepted in the period (joining = "
             "first acceptance). Comparison group: people the panel considered and "
             "rejected, never accepted (they met the selection rules but were not taken "
             "on): selection at a peak means part of any fall happens anyway."]
    effect = by.get("cohort-effect")
    if effect:
        lines.append(f"Offending: partners' {effect['kind']} records, rates per month at "
                     f"risk (custody days removed), {effect['baseline_months']} months "
                     f"before joining against up to {effect['followup_months']} months "
                     "after; harm-weighted beside counts.")
    lines.append("Uncertainty: 95% percentile bootstrap intervals over people; groups "
                 "under 20 people or 30 baseline events are flagged as small numbers.")
    refs = [f"expansion ratios and borough crime: {by['expansion']['reference']}"
            ] if "expansion" in by else []
    if "cost" in by:
        refs.append(f"unit costs: {by['cost']['reference']} ({by['cost']['price_year']} "
                    "prices)")
    if refs:
        lines.append("Reference data (dated, editable): " + "; ".join(refs) + ".")
    lines.append("Each section gives a summary, its chart(s), the data table (the same "
                 "figures as `iom report NAME --format csv`) and its full method note.")
    return lines


def board_pack(session: Session, *, start: date, end: date, options: dict | None = None,
               progress: Progress | None = None, say: Say | None = None) -> dict:
    """Every report of :data:`ORDER` over ``start``..``end``: ``{"start", "end",
    "reports": [report dicts], "method": [title-page lines]}``. ``progress`` is called
    after each report, ``say`` with the long reports' steps."""
    options = options or {}
    reports = []
    for i, name in enumerate(ORDER, 1):
        began = time.perf_counter()
        step = None if say is None else (lambda text, name=name: say(f"{name}: {text}"))
        reports.append(run(session, name, start=start, end=end, progress=step,
                           **options_for(name, options)))
        if progress:
            progress(i, len(ORDER), name, time.perf_counter() - began)
    return {"report": "board-pack", "start": start.isoformat(), "end": end.isoformat(),
            "reports": reports, "method": method_summary(reports)}
