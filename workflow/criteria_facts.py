"""Facts the seeds' selection criteria need (``rules/catalogue.py``, "seed criteria" block).

* **Ranks in the borough** over the facts window: ``arrest_rank`` (by number of arrests),
  ``arrest_rank_female`` (the same among women) and ``harm_rank`` (by harm-weighted
  arrests, ``harm_window``: the sum of each arrest's ``gravity`` weight from
  ``reference/activity.toml``). The borough is every person in the service (the police
  data set: everyone arrested in the area). Places are competition ranks (as SQL
  ``RANK()``): 1 = most, ties share the best place and the next place is skipped, so
  "top 200" is ``arrest_rank <= 200`` and may hold a few more than 200 people on a tie.
  A person with no arrest in the window has no rank (unknown).
* **Offence-type counts** over the window from the groups in
  ``reference/offence_groups.toml``: burglary and domestic-burglary arrests,
  neighbourhood-crime arrests and convictions.
* **Programme flags**: ``drr``, ``dip`` (the NI 38 drug-related offending caseload) and
  ``treatment`` (retained / not_retained / completed), from partner flags of those kinds.

Set-based: one grouped count over the chunk's people, whatever the chunk size, and one
aggregate over the borough's arrests, sorted into a :class:`Ranking` that is cached per
database, as-of date and window, so a pass's chunks share it. Any write to offending
events, people or import batches through a session of this process forgets it; another
process's new events or imports are seen at once (highest event id, latest import batch:
two index lookups a call), its deletions within ``FULL_CHECK_SECONDS`` (event count).
Only data dated on or before ``today``.
"""

from __future__ import annotations

import threading
import time
import tomllib
from array import array
from bisect import bisect_right
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import and_, case, event, func, select
from sqlalchemy.orm import Session

from db.dialect import one_of
from db.models import ImportBatch, OffendingEvent, Person
from rules.catalogue import OFFENCE_CATEGORIES

COUNT_FACTS = {  # fact -> (offence group, event kind)
    "burglary_arrests_window": ("burglary", "arrest"),
    "domestic_burglary_arrests_window": ("domestic_burglary", "arrest"),
    "neighbourhood_crime_arrests_window": ("neighbourhood_crime", "arrest"),
    "neighbourhood_crime_convictions_window": ("neighbourhood_crime", "conviction"),
}
RANK_FACTS = ("arrest_rank", "harm_rank", "arrest_rank_female", "harm_window")
FACTS = (*COUNT_FACTS, *RANK_FACTS)  # what criteria_facts returns for each person
PROGRAMME_FLAGS = ("drr", "dip")  # boolean flags; ``treatment`` is a graded one
TREATMENT_STATES = ("retained", "not_retained", "completed")
CACHE_SIZE = 4  # borough rankings kept (database x window x as-of date)
FULL_CHECK_SECONDS = 60  # how often a cached ranking recounts the events (deletions)


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


def _harm_points():
    """An arrest's gravity weight in hundredths (integers sum exactly in SQL)."""
    from workflow.offending import activity_reference  # the harm weights live there

    gravity = activity_reference()["gravity"]
    return case({c: round(float(w) * 100) for c, w in gravity.items()},
                value=OffendingEvent.offence_category, else_=50)


@dataclass(frozen=True)
class Ranking:
    """The borough's arrest counts, harm points and female arrest counts, each as a
    histogram ``(distinct values ascending, people at or above each value)`` plus a
    final 0: memory bounded by the number of distinct values, not of people."""

    arrests: tuple[array, array]
    harm: tuple[array, array]
    female_arrests: tuple[array, array]

    @staticmethod
    def histogram(counts: Counter) -> tuple[array, array]:
        """``(values, at_or_above)`` of ``{value: people}``."""
        values = sorted(counts)
        above, total = [0] * (len(values) + 1), 0
        for i in range(len(values) - 1, -1, -1):
            total += counts[values[i]]
            above[i] = total
        return array("q", values), array("q", above)

    @staticmethod
    def place(hist: tuple[array, array], value: int) -> int | None:
        """1 + how many people have more than ``value`` (None for no arrest)."""
        values, above = hist
        return above[bisect_right(values, value)] + 1 if value > 0 else None


@dataclass
class _Entry:
    ranking: Ranking
    latest: tuple  # (highest event id, latest import batch id) when computed
    count: int  # offending events when last checked
    checked: float  # time.monotonic() of that check


_CACHE: OrderedDict[tuple, _Entry] = OrderedDict()
_LOCK = threading.Lock()
_WATCHED = (OffendingEvent, Person, ImportBatch)
_generation = 0


def invalidate() -> None:
    """Forget every cached ranking (offending events or people were written here)."""
    global _generation
    with _LOCK:
        _generation += 1
        _CACHE.clear()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    if any(isinstance(obj, _WATCHED)
           for obj in (*session.new, *session.dirty, *session.deleted)):
        invalidate()


@event.listens_for(Session, "do_orm_execute")
def _bulk_write(state) -> None:
    """Bulk UPDATE / DELETE through a session (e.g. the retention purge)."""
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None and table.name in {m.__tablename__ for m in _WATCHED}:
            invalidate()


def _latest(session: Session) -> tuple:
    """(highest event id, latest import batch id): index lookups, catch any new data."""
    return tuple(session.execute(select(
        select(func.max(OffendingEvent.id)).scalar_subquery(),
        select(func.max(ImportBatch.id)).scalar_subquery())).one())


def _cached(session: Session, key: tuple) -> Ranking | None:
    """The cached ranking if the data has not changed: new ids are checked every time,
    the event count (deletions by another process) every ``FULL_CHECK_SECONDS``."""
    with _LOCK:
        entry = _CACHE.get(key)
    if entry is None or _latest(session) != entry.latest:
        return None
    if time.monotonic() - entry.checked >= FULL_CHECK_SECONDS:
        if session.scalar(select(func.count(OffendingEvent.id))) != entry.count:
            return None
        entry.checked = time.monotonic()
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
    return entry.ranking


def _ranking(session: Session, today: date, since: date) -> Ranking:
    """The borough ranking over ``since..today``: computed once, then cached per database,
    window and data state (a pass's chunks share it)."""
    key = (str(session.get_bind().url), today, since, _generation)
    ranking = _cached(session, key)
    if ranking is not None:
        return ranking
    latest = _latest(session)
    count = session.scalar(select(func.count(OffendingEvent.id)))
    per_person = (
        select(func.count().label("n"), func.sum(_harm_points()).label("harm"),
               Person.sex.label("sex"))
        .join(Person, Person.id == OffendingEvent.person_id)
        .where(OffendingEvent.kind == "arrest", OffendingEvent.occurred_on >= since,
               OffendingEvent.occurred_on <= today)
        .group_by(OffendingEvent.person_id, Person.sex)).subquery()
    arrests, harm, female = Counter(), Counter(), Counter()
    for n, points, sex, people in session.execute(  # one row per distinct combination
            select(per_person.c.n, per_person.c.harm, per_person.c.sex, func.count())
            .group_by(per_person.c.n, per_person.c.harm, per_person.c.sex)):
        arrests[n] += people
        harm[int(points)] += people
        if sex == "F":
            female[n] += people
    ranking = Ranking(Ranking.histogram(arrests), Ranking.histogram(harm),
                      Ranking.histogram(female))
    with _LOCK:
        _CACHE[key] = _Entry(ranking, latest, count, time.monotonic())
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ranking


def borough_ranks(session: Session, people: dict[int, str], tallies: dict[int, dict],
                  today: date, since: date) -> dict[int, dict]:
    """``{person_id: rank facts}`` for ``people`` (``{id: sex}``) from their ``tallies``."""
    ranking = _ranking(session, today, since)
    out = {}
    for pid, sex in people.items():
        n, harm = tallies.get(pid, {}).get("_arrests", 0), tallies.get(pid, {}).get("_harm", 0)
        out[pid] = {
            "arrest_rank": Ranking.place(ranking.arrests, n),
            "harm_rank": Ranking.place(ranking.harm, harm),
            "arrest_rank_female": (Ranking.place(ranking.female_arrests, n)
                                   if sex == "F" else None),
            "harm_window": harm / 100}
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
    columns += [
        func.sum(case((OffendingEvent.kind == "arrest", 1), else_=0)).label("_arrests"),
        func.sum(case((OffendingEvent.kind == "arrest", _harm_points()), else_=0))
        .label("_harm")]
    rows = session.execute(
        select(OffendingEvent.person_id, *columns)
        .where(one_of(session, OffendingEvent.person_id, person_ids),
               OffendingEvent.occurred_on >= since, OffendingEvent.occurred_on <= today)
        .group_by(OffendingEvent.person_id))
    return {row.person_id: {fact: int(getattr(row, fact))
                            for fact in (*COUNT_FACTS, "_arrests", "_harm")}
            for row in rows}


def programme_facts(person_flags: dict) -> dict:
    """DRR / DIP (NI 38) / treatment facts from the person's flags in force."""
    return {**{k: person_flags.get(k, False) for k in PROGRAMME_FLAGS},
            "treatment": person_flags.get("treatment")}


def criteria_facts(session: Session, people: dict[int, str], today: date, window_days: int
                   ) -> dict[int, dict]:
    """Rank and count facts for every person of ``people`` (``{id: sex}``)."""
    since = today - timedelta(days=window_days)
    counts = offence_counts(session, list(people), today, since)
    ranks = borough_ranks(session, people, counts, today, since)
    return {pid: {**dict.fromkeys(COUNT_FACTS, 0),
                  **{k: v for k, v in counts.get(pid, {}).items() if not k.startswith("_")},
                  **ranks[pid]} for pid in people}
