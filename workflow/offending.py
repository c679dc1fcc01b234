"""Each person's offending record summarised by the database: one row a person.

The facts read of offending events (``workflow.facts``) come from one grouped query over
the people of a chunk (or of one case: every path uses this), so a pass never ships a
person's events into Python to walk them. Only events dated on or before ``today``.

What a :class:`Record` holds (the window is ``since``..``today``):

* ``offence_category``: the latest conviction's category, else the latest charge's, else
  the latest arrest's; latest by date, then by id (the last recorded).
* ``newly_sentenced``: a conviction on or after ``sentenced_since``.
* ``arrests_window``, ``drug_arrests_window`` (categories :data:`DRUG_CATEGORIES`),
  ``convictions_window``: counts over the window.
* ``activity_score``: the sum over the window's events of ``kind_weight[kind] *
  gravity[category] * 0.5 ** (age in days / half_life_days)`` (``reference/activity.toml``,
  sent as bound parameters; gravity 0.5 for a category it does not name), summed in event
  id order on every backend, rounded to 2 places in Python.
* ``last_arrest``: the latest arrest's date (any time), or None.
* ``sanctions``: the OGRS3 history summary (:class:`workflow.scoring.Sanctions`) of the
  convictions and cautions, or None when there are none.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from sqlalchemy import Date, case, func, literal, select
from sqlalchemy.orm import Session

from db.dialect import days_before, one_of, summed_in_order
from db.models import OffendingEvent
from workflow.scoring import Sanctions

DRUG_CATEGORIES = ("drug_import_production", "drug_possession_supply")
CURRENT_KINDS = ("conviction", "charge", "arrest")  # the current offence: first found
SANCTION_KINDS = ("conviction", "caution")
DEFAULT_GRAVITY = 0.5  # a category the reference does not name


@cache
def activity_reference() -> dict:
    path = Path(__file__).resolve().parent / "reference" / "activity.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Record:
    """A person's offending record as the facts read it (see the module docstring)."""

    offence_category: str | None = None
    newly_sentenced: bool = False
    arrests_window: int = 0
    drug_arrests_window: int = 0
    convictions_window: int = 0
    activity_score: float = 0.0
    last_arrest: date | None = None
    sanctions: Sanctions | None = None

    def facts(self) -> dict:
        """The catalogue facts of the record."""
        return {"offence_category": self.offence_category,
                "newly_sentenced": self.newly_sentenced,
                "arrests_window": self.arrests_window,
                "drug_arrests_window": self.drug_arrests_window,
                "convictions_window": self.convictions_window,
                "activity_score": self.activity_score}


NO_RECORD = Record()  # a person with no event up to ``today``


def _ranked(session: Session, person_ids: Collection[int], today: date):
    """The people's events up to ``today``, each with its place among the person's
    current-offence candidates and among their sanctions (1 = the one that counts)."""
    e = OffendingEvent
    current_order = case({k: i for i, k in enumerate(CURRENT_KINDS)}, value=e.kind,
                         else_=len(CURRENT_KINDS))
    not_sanction = case((e.kind.in_(SANCTION_KINDS), 0), else_=1)
    not_conviction = case((e.kind == "conviction", 0), else_=1)
    return (select(
        e.id, e.person_id, e.kind, e.occurred_on, e.offence_category,
        func.row_number().over(partition_by=e.person_id, order_by=(
            current_order, e.occurred_on.desc(), e.id.desc())).label("current_place"),
        func.row_number().over(partition_by=e.person_id, order_by=(
            not_sanction, e.occurred_on.desc(), not_conviction, e.id.desc()))
        .label("sanction_place"))
        .where(one_of(session, e.person_id, person_ids), e.occurred_on <= today)
        .order_by(e.person_id, e.id)  # SQLite sums in this order (summed_in_order)
        .subquery())


def _activity(session: Session, e, today: date):
    """One event's activity term, the reference weights as bound parameters."""
    ref = activity_reference()
    weight = case({k: float(w) for k, w in ref["kind_weight"].items()}, value=e.kind)
    gravity = case({c: float(g) for c, g in ref["gravity"].items()},
                   value=e.offence_category, else_=DEFAULT_GRAVITY)
    age = days_before(session, today, e.occurred_on)
    return weight * gravity * func.power(0.5, age / float(ref["half_life_days"]))


def _summary_query(session: Session, person_ids: Collection[int], today: date, since: date):
    e = _ranked(session, person_ids, today).c
    in_window = e.occurred_on >= literal(since, Date)
    sanction = e.kind.in_(SANCTION_KINDS)

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    return (select(
        e.person_id,
        func.max(case(((e.current_place == 1) & e.kind.in_(CURRENT_KINDS),
                       e.offence_category))).label("current"),
        func.max(case((e.kind == "conviction", e.occurred_on))).label("last_conviction"),
        count((e.kind == "arrest") & in_window).label("arrests"),
        count((e.kind == "arrest") & in_window & e.offence_category.in_(DRUG_CATEGORIES))
        .label("drug_arrests"),
        count((e.kind == "conviction") & in_window).label("convictions"),
        summed_in_order(session, case((in_window, _activity(session, e, today))), e.id)
        .label("activity"),
        func.max(case((e.kind == "arrest", e.occurred_on))).label("last_arrest"),
        func.max(case((sanction & (e.sanction_place == 1), e.offence_category)))
        .label("sanction_category"),
        func.max(case((sanction, e.occurred_on))).label("last_sanction"),
        func.min(case((sanction, e.occurred_on))).label("first_sanction"),
        func.count(case((sanction, e.occurred_on)).distinct()).label("occasions"))
        .group_by(e.person_id))


def records(session: Session, person_ids: Collection[int], today: date, since: date,
            sentenced_since: date) -> dict[int, Record]:
    """``{person_id: Record}`` for those of ``person_ids`` with an event up to ``today``
    (others: :data:`NO_RECORD`), from one grouped query."""
    out = {}
    if not person_ids:
        return out
    query = _summary_query(session, person_ids, today, since)
    for (pid, current, last_conviction, arrests, drug, convictions, activity, last_arrest,
         sanction_category, last_sanction, first_sanction, occasions) in session.execute(
            query):
        out[pid] = Record(
            current, last_conviction is not None and last_conviction >= sentenced_since,
            int(arrests), int(drug), int(convictions), round(activity or 0.0, 2),
            last_arrest,
            None if last_sanction is None else Sanctions(
                last_sanction, sanction_category, int(occasions), first_sanction))
    return out
