"""Cost of the cohort's crime before / during / after joining (seed 001 §6.2, issue 14 item 4).

Each event of the chosen kind is priced at the unit cost of its offence category (dated
reference data, ``crime_costs.toml``), optionally moved to another price year with the
deflator series. Per person: the baseline window before joining, the time on IOM (to the
episode's close or ``as_of``) and the time after leaving; each window's cost is summed in
the database and annualised by days at risk (custody removed). The saving is the
cohort's annual cost before minus during, with a seeded bootstrap interval over people.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from db.models.people import EVENT_KINDS
from workflow.errors import InvalidInput
from workflow.reports.reference import cost_sets, deflators, pick
from workflow.reports.stats import SMALL_EVENTS, SMALL_PEOPLE
from workflow.reports.windows import (
    Window,
    add_months,
    aggregate,
    custody_days,
    exits,
    index_dates,
)

PERIODS = ("before", "during", "after")
DAYS_PER_YEAR = 365.25

METHOD = (
    "Cost of crime. Cohort: people the panel accepted between {start} and {end}. Each "
    "{kind} is priced at the unit cost of its offence category ({ref}, {base} prices{"
    "deflated}). Before = the {b} months before joining; during = joining to the close "
    "of the episode or {as_of}; after = from the close to {as_of}. Each period's cost is "
    "annualised by days at risk (custody removed). Saving = annual cost before - during, "
    "with a 95% percentile bootstrap interval over people ({reps} replicates, seed "
    "{seed}). Offences in categories without a unit cost are counted as unpriced, never "
    "guessed. Limits: unit costs are averages for an offence type (not this offence); "
    "{kind}s are a partial count of offending; no comparison group is applied here (see "
    "cohort-effect for how much of a fall happens anyway). Source: {source}")


def _windows(people: dict[int, date], left: dict[int, date], *, b: int, as_of: date
             ) -> list[Window]:
    out = []
    for pid, idx in people.items():
        out.append(Window(pid, "before", add_months(idx, -b), idx - timedelta(days=1)))
        close = left.get(pid)
        during_end = min(as_of, close - timedelta(days=1)) if close else as_of
        out.append(Window(pid, "during", idx, during_end))
        if close and close <= as_of:
            out.append(Window(pid, "after", close, as_of))
    return out


def _factor(base_year: str, price_year: str | None) -> Decimal:
    if price_year is None or price_year == base_year:
        return Decimal(1)
    series = deflators()
    for year in (base_year, price_year):
        if year not in series:
            raise InvalidInput(f"no deflator for price year {year!r}; gdp_deflators.csv has "
                               f"{', '.join(sorted(series))}", details={"field": "price_year"})
    return series[price_year] / series[base_year]


def _annual(total: float, days: int) -> float | None:
    return None if days <= 0 else total / days * DAYS_PER_YEAR


def _saving(rows: list[dict]) -> float | None:
    before = _annual(sum(r["before"] for r in rows), sum(r["risk_before"] for r in rows))
    during = _annual(sum(r["during"] for r in rows), sum(r["risk_during"] for r in rows))
    return None if before is None or during is None else before - during


def _interval(rows: list[dict], replicates: int, seed: int) -> list[float] | None:
    if len(rows) < 2:
        return None
    rng = random.Random(seed)
    draws = sorted(v for v in (_saving(rng.choices(rows, k=len(rows)))
                               for _ in range(replicates)) if v is not None)
    if len(draws) < 10:
        return None
    return [_money(draws[int(0.025 * len(draws))]),
            _money(draws[min(len(draws) - 1, int(0.975 * len(draws)))])]


def _flags(people: int, events_before: int) -> list[str]:
    flags = []
    if people < SMALL_PEOPLE:
        flags.append(f"cohort: only {people} people (< {SMALL_PEOPLE}): indicative only")
    if events_before < SMALL_EVENTS:
        flags.append(f"cohort: fewer than {SMALL_EVENTS} events before joining")
    return flags


def _money(value: float | None) -> float | None:
    if value is None:
        return None
    return float(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _tally(people, windows: list[Window], sums: dict, custody: dict
           ) -> tuple[dict[int, dict], dict[str, dict]]:
    """Per person cost and days at risk by period, and the totals by period."""
    per_person: dict[int, dict] = {pid: {f"{p}": 0.0 for p in PERIODS} | {
        f"risk_{p}": 0 for p in PERIODS} for pid in people}
    totals = {p: {"events": 0, "unpriced": 0, "cost": 0.0, "days_at_risk": 0}
              for p in PERIODS}
    for w in windows:
        got = sums.get((w.person_id, w.name), {})
        risk = max(0, w.days - custody.get((w.person_id, w.name), 0))
        per_person[w.person_id][w.name] += got.get("cost", 0.0)
        per_person[w.person_id][f"risk_{w.name}"] += risk
        t = totals[w.name]
        t["events"] += got.get("count", 0)
        t["unpriced"] += got.get("count", 0) - int(got.get("priced", 0))
        t["cost"] += got.get("cost", 0.0)
        t["days_at_risk"] += risk
    return per_person, totals


def cost_report(session: Session, *, start: date, end: date, as_of: date | None = None,
                kind: str = "conviction", baseline_months: int = 12,
                price_year: str | None = None, reference: str | None = None,
                replicates: int = 1000, seed: int = 2018,
                progress: Callable[[str], None] | None = None) -> dict:
    """Cost of the crime of people joining ``start``..``end`` before / during / after;
    ``progress`` is told each step (a line of text) when given."""
    say = progress or (lambda _text: None)
    as_of = as_of or end
    if kind not in EVENT_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(EVENT_KINDS)}",
                           details={"field": "kind"})
    if end < start or as_of < start or not 1 <= baseline_months <= 60:
        raise InvalidInput("bad period or baseline window", details={"field": "to"})
    ref = pick(cost_sets(), name=reference, on=end)
    factor = _factor(ref.price_year, price_year)
    costs = {k: v * factor for k, v in ref.unit_cost.items()}
    people = index_dates(session, start=start, end=end)["cohort"]
    windows = _windows(people, exits(session, list(people)), b=baseline_months, as_of=as_of)
    say(f"{len(people):,} people, pricing their events")
    sums = aggregate(session, windows, kind=kind,
                     weights={"cost": costs, "priced": {k: Decimal(1) for k in costs}})
    per_person, totals = _tally(people, windows, sums, custody_days(session, windows))
    rows = [{"period": p, **totals[p], "cost": _money(totals[p]["cost"]),
             "annual_cost": _money(_annual(totals[p]["cost"], totals[p]["days_at_risk"]))}
            for p in PERIODS]
    flat = list(per_person.values())
    say(f"{replicates:,} bootstrap replicates")
    deflated = f", moved to {price_year} prices" if factor != 1 else ""
    return {"report": "cost", "start": start.isoformat(), "end": end.isoformat(),
            "as_of": as_of.isoformat(), "kind": kind, "people": len(people),
            "price_year": price_year or ref.price_year, "reference": ref.name,
            "rows": rows, "annual_saving": _money(_saving(flat)),
            "annual_saving_interval": _interval(flat, replicates, seed),
            "flags": _flags(len(people), totals["before"]["events"]),
            "method": METHOD.format(start=start, end=end, kind=kind, ref=ref.name,
                                    base=ref.price_year, deflated=deflated, b=baseline_months,
                                    as_of=as_of, reps=replicates, seed=seed,
                                    source=" ".join(ref.source.split()))}

