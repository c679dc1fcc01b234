"""Expansion estimate (seed 002): what taking a candidate list on would buy.

For each column of the reference set (all crime, residential burglary, robbery...):
arrests of the candidates in the window -> per year -> estimated offences per year
(x arrest-to-offence ratio) -> after IOM (x (1 - reduction)) -> annual reduction -> share
of the borough's recorded crime. Arithmetic in :class:`~decimal.Decimal`; "after" and the
reduction are whole offences rounded half to even, the reduction being ``now - after``
(the only rounding under which all three of the seed's columns agree with its inputs;
see tests/test_report_expansion.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from db.models import Case, OffendingEvent, Person
from workflow.errors import InvalidInput
from workflow.reports.reference import Column, ExpansionSet, expansion_sets, pick

METHOD = (
    "Expansion estimate (seed 002 method). Candidates' arrests in the window are counted "
    "per column's offence categories, turned into arrests per year, then into estimated "
    "offences per year with the column's arrest-to-offence ratio (the ratio of arrests to "
    "recorded offences for that crime type), then reduced by the assumed reduction. The "
    "annual reduction is compared with the borough's recorded crime for the column. "
    "Limits: the ratio assumes the candidates' undetected offending is like everyone "
    "else's; the reduction is borrowed from an earlier cohort and carries its uncertainty; "
    "regression to the mean is not removed (see the cohort-effect report's comparison "
    "group). Reference data: {ref} (as of {as_of}); {source}")


def window_years(start: date, end: date) -> Decimal:
    """Whole calendar years when ``start`` is ``end`` minus N years plus one day (the
    seed's "last two years"); otherwise days / 365.25."""
    for years in range(1, 11):
        try:
            anchor = end.replace(year=end.year - years)
        except ValueError:  # 29 February
            anchor = end.replace(year=end.year - years, day=28)
        if start == anchor + timedelta(days=1):
            return Decimal(years)
    return Decimal((end - start).days + 1) / Decimal("365.25")


def _whole(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)


def estimate_column(column: Column, arrests: int, years: Decimal,
                    reduction: Decimal) -> dict:
    """One column of the table from its inputs (pure arithmetic)."""
    per_year = Decimal(arrests) / years
    now = per_year * column.arrest_to_offence
    after = _whole(now * (1 - reduction))
    cut = _whole(now - after)
    share = (cut * 100 / column.borough_recorded_per_year).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP)
    return {"column": column.key, "label": column.label, "arrests": arrests,
            "arrests_per_year": per_year.normalize(), "arrest_to_offence":
                column.arrest_to_offence, "offences_per_year_now": now.normalize(),
            "offences_per_year_after": after, "annual_reduction": cut,
            "borough_recorded_per_year": column.borough_recorded_per_year,
            "share_of_borough_crime_pct": share}


PIPELINE = ("matrixing", "panel", "deferred")  # selected, not (yet) taken on


def candidate_people(*, stream: str | None = None, ruleset: str | None = None,
                     refs: list[str] | None = None, pipeline: bool = False):
    """A SELECT of person ids for exactly one candidate source: open cases of a cohort
    ``stream`` (fixed/flex/free), open cases the rule set ``ruleset`` selected at their
    last evaluation, an explicit list of partner ``refs``, or the ``pipeline``: open
    cases selected and not yet taken on (matrixing, at panel or deferred)."""
    given = [x for x in (stream, ruleset, refs, pipeline) if x]
    if len(given) != 1:
        raise InvalidInput("give exactly one candidate source: stream, ruleset, refs or "
                           "pipeline", details={"field": "candidates"})
    if pipeline:
        return select(Case.person_id).where(Case.closed_at.is_(None),
                                            Case.state.in_(PIPELINE))
    if stream:
        return select(Case.person_id).where(Case.closed_at.is_(None), Case.cohort == stream)
    if refs:
        return select(Person.id).where(Person.partner_ref.in_(refs))
    # last_versions is a JSON list of "name@version": match the text portably.
    return select(Case.person_id).where(
        Case.closed_at.is_(None), Case.last_outcome == "select",
        func.lower(cast(Case.last_versions, String)).like(
            f'%"{ruleset.lower()}@%'))


def arrests_by_category(session: Session, people, *, start: date, end: date
                        ) -> dict[str, int]:
    """Arrests per offence category in the window (inclusive) of the people in
    ``people`` (a SELECT of person ids): one GROUP BY query in the database."""
    rows = session.execute(
        select(OffendingEvent.offence_category, func.count())
        .where(OffendingEvent.kind == "arrest", OffendingEvent.occurred_on >= start,
               OffendingEvent.occurred_on <= end, OffendingEvent.person_id.in_(people))
        .group_by(OffendingEvent.offence_category)).all()
    return {cat: n for cat, n in rows}


def expansion_table(counts: dict[str, int], *, years: Decimal, ref: ExpansionSet,
                    reduction: Decimal | None = None) -> list[dict]:
    """The table's columns from arrests per category (pure)."""
    reduction = ref.reduction if reduction is None else reduction
    rows = []
    for column in ref.columns:
        arrests = sum(n for cat, n in counts.items()
                      if "*" in column.categories or cat in column.categories)
        rows.append(estimate_column(column, arrests, years, reduction))
    return rows


def expansion_report(session: Session, *, start: date, end: date, stream=None,
                     ruleset=None, refs=None, pipeline: bool = False,
                     reference: str | None = None,
                     reduction: Decimal | None = None) -> dict:
    """The expansion estimate for a candidate list over ``start``..``end`` (inclusive)."""
    if end < start:
        raise InvalidInput(f"the window ends ({end}) before it starts ({start})",
                           details={"field": "to"})
    if reduction is not None and not Decimal(0) <= reduction < 1:
        raise InvalidInput("reduction must be a fraction from 0 to below 1",
                           details={"field": "reduction"})
    ref = pick(expansion_sets(), name=reference, on=end)
    people = candidate_people(stream=stream, ruleset=ruleset, refs=refs, pipeline=pipeline)
    candidates = session.scalar(select(func.count()).select_from(people.subquery()))
    counts = arrests_by_category(session, people, start=start, end=end)
    years = window_years(start, end)
    used = ref.reduction if reduction is None else reduction
    source = ({"stream": stream} if stream else {"ruleset": ruleset} if ruleset
              else {"pipeline": ", ".join(PIPELINE)} if pipeline
              else {"refs": len(refs or [])})
    return {"report": "expansion", "start": start.isoformat(), "end": end.isoformat(),
            "candidates": candidates, "candidate_source": source, "window_years": years,
            "reduction": used, "reference": ref.name,
            "rows": expansion_table(counts, years=years, ref=ref, reduction=used),
            "method": METHOD.format(ref=ref.name, as_of=ref.as_of, source=" ".join(
                ref.source.split()))}
