"""Reports over partner data: the top repeat arrested suspects (seed 002's table)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import OffendingEvent
from workflow.errors import InvalidInput

DEFAULT_TOPS = (10, 20, 100, 200)
TIE_RULE = ("people are ranked by their number of arrests in the window; the top N is "
            "exactly N people (everyone, when fewer were arrested). People tied at the "
            "boundary have the same number of arrests, so whichever of them is counted, "
            "the arrests of the top N are the same.")


def default_window(start: date | None, end: date | None, *, today: date
                   ) -> tuple[date, date]:
    """Fill a missing end with ``today`` and a missing start with two years before the end
    (the seed's window: ``end`` minus two years, plus one day, so 730 or 731 days)."""
    end = end or today
    if start is None:
        try:
            start = end.replace(year=end.year - 2) + timedelta(days=1)
        except ValueError:  # 29 February
            start = end.replace(year=end.year - 2, day=28) + timedelta(days=1)
    return start, end


def percent(part: int, whole: int) -> float:
    """``part`` as a percentage of ``whole``, rounded half up to 2 decimals (0 if empty)."""
    if not whole:
        return 0.0
    value = Decimal(part) * 100 / Decimal(whole)
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def top_arrested(session: Session, *, start: date, end: date,
                 tops: tuple[int, ...] = DEFAULT_TOPS) -> dict:
    """Top repeat arrested suspects between ``start`` and ``end`` (both inclusive).

    Returns ``{"start", "end", "individuals_arrested", "arrests", "tie_rule", "rows"}``
    where each row is ``{"top": N, "people", "share_of_individuals_pct", "arrests",
    "share_of_arrests_pct"}``: the N most arrested people as a share of all individuals
    arrested in the window, and their arrests in the window. One query.
    """
    if end < start:
        raise InvalidInput(f"the window ends ({end}) before it starts ({start})",
                           details={"field": "end"})
    if not tops or any(not isinstance(n, int) or n < 1 for n in tops):
        raise InvalidInput("tops must be positive whole numbers", details={"field": "tops"})
    arrests = func.count(OffendingEvent.id)
    counts = list(session.scalars(
        select(arrests).where(OffendingEvent.kind == "arrest",
                              OffendingEvent.occurred_on >= start,
                              OffendingEvent.occurred_on <= end)
        .group_by(OffendingEvent.person_id).order_by(arrests.desc())))
    individuals, total = len(counts), sum(counts)
    rows = []
    for n in tops:
        people = min(n, individuals)
        top = sum(counts[:people])
        rows.append({"top": n, "people": people,
                     "share_of_individuals_pct": percent(people, individuals),
                     "arrests": top, "share_of_arrests_pct": percent(top, total)})
    return {"start": start.isoformat(), "end": end.isoformat(),
            "individuals_arrested": individuals, "arrests": total,
            "tie_rule": TIE_RULE, "rows": rows}
