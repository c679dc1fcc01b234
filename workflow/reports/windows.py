"""Who joined when, and their offending in dated windows, aggregated in the database.

* :func:`index_dates`: the cohort (people the panel accepted: index date = the first
  accept) and the comparison group (people the panel rejected and never accepted: index
  date = the first rejection), joining in a period.
* :func:`aggregate`: for many (person, window) pairs, the number of events of one kind and
  their weighted sums (harm, cost) in one GROUP BY over a temporary table of windows,
  so memory grows with people, never with events.
* :func:`custody_days`: days each person spent in custody inside each window, from the
  ``custody_in`` / ``custody_out`` compliance events partners report.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, case, func, insert, select
from sqlalchemy.orm import Session

from db.models import Case, ComplianceEvent, OffendingEvent, PanelItem

GROUPS = ("cohort", "comparison")


@dataclass(frozen=True)
class Window:
    person_id: int
    name: str
    start: date  # inclusive
    end: date  # inclusive

    @property
    def days(self) -> int:
        return max(0, (self.end - self.start).days + 1)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, clamped to the month's last day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _first_decision(session: Session, decision: str, *, end: date) -> dict[int, date]:
    first = func.min(PanelItem.decided_at)
    rows = session.execute(
        select(Case.person_id, first).join(Case, Case.id == PanelItem.case_id)
        .where(PanelItem.decision == decision).group_by(Case.person_id)).all()
    return {pid: when.date() for pid, when in rows if when is not None and when.date() <= end}


def index_dates(session: Session, *, start: date, end: date) -> dict[str, dict[int, date]]:
    """``{"cohort": {person_id: joined_on}, "comparison": {person_id: rejected_on}}`` for
    people whose first accept (cohort) or first rejection (comparison, never accepted up
    to ``end``) falls in ``start``..``end``. Two grouped queries on panel decisions."""
    accepted = _first_decision(session, "accept", end=end)
    rejected = _first_decision(session, "reject", end=end)
    return {
        "cohort": {p: d for p, d in accepted.items() if d >= start},
        "comparison": {p: d for p, d in rejected.items() if d >= start and p not in accepted},
    }


def exits(session: Session, people: list[int]) -> dict[int, date]:
    """When each person's accepted episode closed (the latest closure), if it did."""
    if not people:
        return {}
    rows = session.execute(
        select(Case.person_id, func.max(Case.closed_at))
        .join(PanelItem, PanelItem.case_id == Case.id)
        .where(PanelItem.decision == "accept", Case.closed_at.is_not(None))
        .group_by(Case.person_id)).all()
    wanted = set(people)
    return {p: when.date() for p, when in rows if p in wanted}


def _weight_case(weights: dict[str, Decimal]):
    return case({k: float(v) for k, v in weights.items()}, value=OffendingEvent.offence_category,
                else_=0.0)


def aggregate(session: Session, windows: list[Window], *, kind: str,
              weights: dict[str, dict[str, Decimal]]) -> dict[tuple[int, str], dict]:
    """``{(person_id, window name): {"count": n, <weight name>: sum, ...}}`` for events of
    ``kind`` on the windows' days; pairs with no events are absent. One query; the windows
    go to a temporary table dropped afterwards."""
    if not windows:
        return {}
    table = Table(f"tmp_report_window_{uuid.uuid4().hex[:12]}", MetaData(),
                  Column("person_id", Integer, nullable=False),
                  Column("name", String(20), nullable=False),
                  Column("start_on", Date, nullable=False),
                  Column("end_on", Date, nullable=False), prefixes=["TEMPORARY"])
    conn = session.connection()
    table.create(conn)
    try:
        conn.execute(insert(table), [{"person_id": w.person_id, "name": w.name,
                                      "start_on": w.start, "end_on": w.end} for w in windows])
        sums = [func.sum(_weight_case(w)).label(n) for n, w in weights.items()]
        e = OffendingEvent
        rows = conn.execute(
            select(table.c.person_id, table.c.name, func.count(e.id).label("count"), *sums)
            .join(e, (e.person_id == table.c.person_id) & (e.kind == kind)
                  & (e.occurred_on >= table.c.start_on) & (e.occurred_on <= table.c.end_on))
            .group_by(table.c.person_id, table.c.name)).mappings().all()
    finally:
        table.drop(conn)
    return {(r["person_id"], r["name"]): {"count": r["count"],
                                          **{n: float(r[n] or 0) for n in weights}}
            for r in rows}


def _periods(events: list[tuple[str, date]], until: date) -> list[tuple[date, date]]:
    """Custody periods (first day in, last day in) from time-ordered in/out events."""
    periods, since = [], None
    for kind, day in events:
        if kind == "custody_in" and since is None:
            since = day
        elif kind == "custody_out" and since is not None:
            if day > since:
                periods.append((since, day - timedelta(days=1)))
            since = None
    if since is not None:
        periods.append((since, until))
    return periods


def custody_days(session: Session, windows: list[Window]) -> dict[tuple[int, str], int]:
    """Days in custody inside each window (the release day counts as at risk; custody
    still open at the end runs to the window's end). Reads only custody events."""
    people = sorted({w.person_id for w in windows})
    by_person: dict[int, list[tuple[str, date]]] = defaultdict(list)
    for chunk in range(0, len(people), 1000):
        for pid, kind, at in session.execute(
                select(ComplianceEvent.person_id, ComplianceEvent.kind,
                       ComplianceEvent.occurred_at)
                .where(ComplianceEvent.kind.in_(("custody_in", "custody_out")),
                       ComplianceEvent.person_id.in_(people[chunk:chunk + 1000]))
                .order_by(ComplianceEvent.person_id, ComplianceEvent.occurred_at)):
            by_person[pid].append((kind, at.date()))
    until = max((w.end for w in windows), default=date.min)
    out = {}
    for w in windows:
        overlap = 0
        for a, b in _periods(by_person.get(w.person_id, []), until):
            lo, hi = max(a, w.start), min(b, w.end)
            overlap += max(0, (hi - lo).days + 1)
        out[(w.person_id, w.name)] = overlap
    return out
