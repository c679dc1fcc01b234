"""Facts the seeds' selection criteria need (``rules/catalogue.py``, "seed criteria" block).

* **Ranks in the borough** over the facts window: ``arrest_rank`` (by number of arrests),
  ``arrest_rank_female`` (the same among women) and ``harm_rank`` (by harm-weighted
  arrests, ``harm_window``: the sum of each arrest's ``gravity`` weight from
  ``reference/activity.toml``). The borough is every person in the service (the police
  data set: everyone arrested in the area). Places follow SQL ``RANK()``: 1 = most,
  ties share the best place and the next place is skipped, so "top 200" is
  ``arrest_rank <= 200`` and may hold a few more than 200 people on a tie. A person with
  no arrest in the window has no rank (unknown).
* **Offence-type counts** over the window from the groups in
  ``reference/offence_groups.toml``: burglary and domestic-burglary arrests,
  neighbourhood-crime arrests and convictions.
* **Programme flags**: ``drr``, ``dip`` (the NI 38 drug-related offending caseload) and
  ``treatment`` (retained / not_retained / completed), from partner flags of those kinds.

Set-based: one ranked aggregate over the borough's arrests and one grouped count over
the chunk's people, whatever the chunk size. Only data dated on or before ``today``.
"""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from db.models import OffendingEvent, Person
from rules.catalogue import OFFENCE_CATEGORIES

RANK_FACTS = ("arrest_rank", "arrest_rank_female", "harm_rank", "harm_window")
COUNT_FACTS = {  # fact -> (offence group, event kind)
    "burglary_arrests_window": ("burglary", "arrest"),
    "domestic_burglary_arrests_window": ("domestic_burglary", "arrest"),
    "neighbourhood_crime_arrests_window": ("neighbourhood_crime", "arrest"),
    "neighbourhood_crime_convictions_window": ("neighbourhood_crime", "conviction"),
}
PROGRAMME_FLAGS = ("drr", "dip")  # boolean flags; ``treatment`` is a graded one
TREATMENT_STATES = ("retained", "not_retained", "completed")


@cache
def offence_groups() -> dict[str, tuple[str, ...]]:
    """The offence groups of ``reference/offence_groups.toml``, checked against the catalogue."""
    path = Path(__file__).resolve().parent / "reference" / "offence_groups.toml"
    groups = {k: tuple(v) for k, v in tomllib.loads(path.read_text(encoding="utf-8")).items()}
    for name, members in groups.items():
        unknown = set(members) - set(OFFENCE_CATEGORIES)
        if unknown:
            raise ValueError(f"{path.name}: {name}: unknown offence categories "
                             f"{', '.join(sorted(unknown))}")
    return groups


def _gravity():
    from workflow.facts import activity_reference  # the harm weights live there

    gravity = activity_reference()["gravity"]
    return case({c: float(w) for c, w in gravity.items()},
                value=OffendingEvent.offence_category, else_=0.5)


def borough_ranks(session: Session, person_ids: list[int], today: date, since: date
                  ) -> dict[int, dict]:
    """``{person_id: rank facts}`` for ``person_ids`` (absent: no arrest in the window)."""
    arrests = (select(OffendingEvent.person_id.label("person_id"),
                      func.count().label("n"), func.sum(_gravity()).label("harm"))
               .where(OffendingEvent.kind == "arrest", OffendingEvent.occurred_on >= since,
                      OffendingEvent.occurred_on <= today)
               .group_by(OffendingEvent.person_id).subquery())
    ranked = (select(arrests.c.person_id, arrests.c.harm, Person.sex,
                     func.rank().over(order_by=arrests.c.n.desc()).label("arrest_rank"),
                     func.rank().over(order_by=arrests.c.harm.desc()).label("harm_rank"),
                     func.rank().over(partition_by=Person.sex, order_by=arrests.c.n.desc())
                     .label("sex_rank"))
              .join(Person, Person.id == arrests.c.person_id).subquery())
    out = {}
    for row in session.execute(select(ranked).where(ranked.c.person_id.in_(person_ids))):
        out[row.person_id] = {
            "arrest_rank": row.arrest_rank, "harm_rank": row.harm_rank,
            "arrest_rank_female": row.sex_rank if row.sex == "F" else None,
            "harm_window": round(float(row.harm), 2)}
    return out


def offence_counts(session: Session, person_ids: list[int], today: date, since: date
                   ) -> dict[int, dict]:
    """``{person_id: count facts}`` over the window, one grouped query for the chunk."""
    groups = offence_groups()
    columns = [
        func.sum(case((and_(OffendingEvent.kind == kind,
                            OffendingEvent.offence_category.in_(groups[group])), 1),
                      else_=0)).label(fact)
        for fact, (group, kind) in COUNT_FACTS.items()]
    rows = session.execute(
        select(OffendingEvent.person_id, *columns)
        .where(OffendingEvent.person_id.in_(person_ids), OffendingEvent.occurred_on >= since,
               OffendingEvent.occurred_on <= today)
        .group_by(OffendingEvent.person_id))
    return {row.person_id: {fact: int(getattr(row, fact)) for fact in COUNT_FACTS}
            for row in rows}


def programme_facts(person_flags: dict) -> dict:
    """DRR / DIP (NI 38) / treatment facts from the person's flags in force."""
    return {**{k: person_flags.get(k, False) for k in PROGRAMME_FLAGS},
            "treatment": person_flags.get("treatment")}


def criteria_facts(session: Session, person_ids: list[int], today: date, window_days: int
                   ) -> dict[int, dict]:
    """Rank and count facts for every person of ``person_ids`` (zero / unknown defaults)."""
    since = today - timedelta(days=window_days)
    ranks = borough_ranks(session, person_ids, today, since)
    counts = offence_counts(session, person_ids, today, since)
    empty = {**dict.fromkeys(RANK_FACTS), "harm_window": 0.0, **dict.fromkeys(COUNT_FACTS, 0)}
    return {pid: {**empty, **ranks.get(pid, {}), **counts.get(pid, {})} for pid in person_ids}
