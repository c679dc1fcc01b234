"""Targets (seed 003, NI 30): a % reduction against a baseline caps the events allowed.

``allowed = baseline x (1 - reduction)``, rounded half up to whole events; the report
tracks the cohort's actual events month by month against the allowance spread evenly
over the period's months.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from db.models import Case, OffendingEvent, PanelItem
from db.models.people import EVENT_KINDS
from workflow.errors import InvalidInput
from workflow.reports.windows import add_months

METHOD = (
    "Target (NI 30 method). Cohort: people the panel accepted on or before {end} whose "
    "accepted episode was open at some time from {start}. Baseline: {baseline_source}. "
    "Allowed = baseline x (1 - {pct}%), rounded half up to whole {kind}s; the allowance "
    "is spread evenly over the {months} months and compared with the cohort's actual "
    "{kind}s month by month (cumulative). Limits: the cohort changes during the year "
    "(fluid cohort), so the baseline describes the people counted, not a fixed group; "
    "{kind}s are dated by the event date partners report.")


def allowed(baseline: int, reduction_pct: Decimal) -> int:
    """Most events allowed: ``baseline x (1 - reduction_pct / 100)`` rounded half up."""
    value = Decimal(baseline) * (1 - Decimal(reduction_pct) / 100)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def months(start: date, end: date) -> list[tuple[date, date]]:
    """Calendar-month slices of ``start``..``end`` (first and last partial)."""
    out, lo = [], start
    while lo <= end:
        nxt = add_months(lo.replace(day=1), 1)
        out.append((lo, min(end, nxt - timedelta(days=1))))
        lo = nxt
    return out


def _midnight(day: date, plus_days: int) -> datetime:
    return datetime.combine(day + timedelta(days=plus_days), time(0), tzinfo=UTC)


def cohort_people(start: date, end: date):
    """A SELECT of the people in the cohort at some time in ``start``..``end``."""
    return (select(Case.person_id).join(PanelItem, PanelItem.case_id == Case.id)
            .where(PanelItem.decision == "accept", PanelItem.decided_at < _midnight(end, 1),
                   or_(Case.closed_at.is_(None), Case.closed_at >= _midnight(start, 0)))
            .distinct())


def _daily(session: Session, people, kind: str, start: date, end: date) -> Counter:
    rows = session.execute(
        select(OffendingEvent.occurred_on, func.count())
        .where(OffendingEvent.kind == kind, OffendingEvent.person_id.in_(people),
               OffendingEvent.occurred_on >= start, OffendingEvent.occurred_on <= end)
        .group_by(OffendingEvent.occurred_on)).all()
    return Counter(dict(rows))


def targets_report(session: Session, *, start: date, end: date, reduction_pct: Decimal,
                   baseline: int | None = None, kind: str = "conviction") -> dict:
    """Actual vs allowed month by month. ``baseline`` default: the same people's events in
    the equally long period just before ``start``."""
    if kind not in EVENT_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(EVENT_KINDS)}",
                           details={"field": "kind"})
    if end < start:
        raise InvalidInput("the period ends before it starts", details={"field": "to"})
    if not Decimal(0) <= Decimal(reduction_pct) < 100:
        raise InvalidInput("reduction must be 0 to below 100 (%)", details={"field": "reduction"})
    if baseline is not None and baseline < 0:
        raise InvalidInput("baseline must not be negative", details={"field": "baseline"})
    people = cohort_people(start, end)
    source = f"given ({baseline})"
    if baseline is None:
        before_start = start - (end - start) - timedelta(days=1)
        baseline = sum(_daily(session, people, kind, before_start,
                              start - timedelta(days=1)).values())
        source = f"the same people's {kind}s from {before_start} to {start - timedelta(1)}"
    cap = allowed(baseline, reduction_pct)
    daily = _daily(session, people, kind, start, end)
    slices = months(start, end)
    rows, total = [], 0
    for n, (lo, hi) in enumerate(slices, 1):
        actual = sum(v for d, v in daily.items() if lo <= d <= hi)
        total += actual
        allowance = round(cap * n / len(slices), 1)
        rows.append({"month": lo.strftime("%Y-%m"), "actual": actual,
                     "actual_cumulative": total, "allowed_cumulative": allowance,
                     "on_track": total <= allowance})
    return {"report": "targets", "start": start.isoformat(), "end": end.isoformat(),
            "kind": kind, "people": session.scalar(
                select(func.count()).select_from(people.subquery())),
            "baseline": baseline, "reduction_pct": Decimal(reduction_pct), "allowed": cap,
            "actual": total, "met": total <= cap, "rows": rows,
            "method": METHOD.format(start=start, end=end, baseline_source=source,
                                    pct=reduction_pct, kind=kind, months=len(slices))}
