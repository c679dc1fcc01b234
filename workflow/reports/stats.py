"""Pooled before/after rates and seeded bootstrap intervals (pure, no database).

A group is a list of :class:`PersonWindows`; its rate in a window is the group's events
divided by its days at risk (pooled, as the PPO 2009 cohort analysis did), per month of
30.4375 days. Intervals resample people with replacement; the same seed gives the same
interval on every run and machine (``random.Random``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DAYS_PER_MONTH = 30.4375
SMALL_PEOPLE = 20
SMALL_EVENTS = 30


@dataclass(frozen=True)
class PersonWindows:
    person_id: int
    before: float  # events (or harm) in the baseline window
    after: float  # events (or harm) since joining
    risk_before: int  # days at risk (window days minus custody days)
    risk_after: int


def change(group: list[PersonWindows]) -> float | None:
    """% change in the pooled monthly rate, after vs before (None when no rate before)."""
    before = sum(p.before for p in group)
    risk_b = sum(p.risk_before for p in group)
    risk_a = sum(p.risk_after for p in group)
    if not before or not risk_b or not risk_a:
        return None
    return (sum(p.after for p in group) / risk_a / (before / risk_b) - 1) * 100


def rates(group: list[PersonWindows]) -> dict:
    risk_b = sum(p.risk_before for p in group)
    risk_a = sum(p.risk_after for p in group)
    before, after = sum(p.before for p in group), sum(p.after for p in group)
    return {"people": len(group), "events_before": round(before, 4),
            "events_after": round(after, 4), "days_at_risk_before": risk_b,
            "days_at_risk_after": risk_a,
            "monthly_rate_before": _r(before / risk_b * DAYS_PER_MONTH if risk_b else None, 4),
            "monthly_rate_after": _r(after / risk_a * DAYS_PER_MONTH if risk_a else None, 4),
            "pct_change": _r(change(group), 1)}


def adjusted(cohort: list[PersonWindows], comparison: list[PersonWindows]) -> float | None:
    """The cohort's change net of the comparison group's: (rate ratio of the cohort / rate
    ratio of the comparison - 1) x 100. A fall both groups share (regression to the mean)
    cancels; what is left is the fall joining added."""
    c, k = change(cohort), change(comparison)
    if c is None or k is None or k == -100:
        return None
    return ((1 + c / 100) / (1 + k / 100) - 1) * 100


def _ratio(sums: tuple[float, float, float, float]) -> float | None:
    """Follow-up rate / baseline rate from (before, after, risk before, risk after)."""
    before, after, risk_b, risk_a = sums
    if not before or not risk_b or not risk_a:
        return None
    return after / risk_a / (before / risk_b)


def _sums(columns: tuple[list, ...], picks: list[int]) -> tuple[float, float, float, float]:
    return tuple(sum(map(col.__getitem__, picks)) for col in columns)  # type: ignore[return-value]


def _interval(values: list[float], level: float) -> list[float] | None:
    values = sorted(v for v in values if v is not None)
    if len(values) < 10:
        return None
    tail = (1 - level) / 2
    lo = values[int(tail * len(values))]
    hi = values[min(len(values) - 1, int((1 - tail) * len(values)))]
    return [round(lo, 1), round(hi, 1)]


def bootstrap(cohort: list[PersonWindows], comparison: list[PersonWindows], *,
              replicates: int, seed: int, level: float = 0.95) -> dict:
    """Percentile intervals for the cohort change, the comparison change, their difference
    in points and the adjusted change; people resampled within each group. Each replicate
    draws indices once per group and sums four columns (no per-person objects)."""
    rng = random.Random(seed)
    columns = [tuple([getattr(p, f) for p in g] for f in ("before", "after", "risk_before",
                                                          "risk_after"))
               for g in (cohort, comparison)]
    sizes = [len(cohort), len(comparison)]
    draws: dict[str, list] = {"cohort": [], "comparison": [], "difference_pts": [],
                              "adjusted_pct_change": []}
    for _ in range(replicates):
        rc, rk = (_ratio(_sums(cols, rng.choices(range(n), k=n))) if n else None
                  for cols, n in zip(columns, sizes, strict=True))
        cc = None if rc is None else (rc - 1) * 100
        kk = None if rk is None else (rk - 1) * 100
        draws["cohort"].append(cc)
        draws["comparison"].append(kk)
        both = cc is not None and kk is not None
        draws["difference_pts"].append(cc - kk if both else None)
        draws["adjusted_pct_change"].append((rc / rk - 1) * 100 if both and rk else None)
    return {name: _interval(values, level) for name, values in draws.items()}


def classify(p: PersonWindows) -> str:
    """stopped / reduced / same / increased by monthly rate; ``none_before`` when the
    person had no events in the baseline and none since."""
    if p.before == 0:
        return "none_before" if p.after == 0 else "increased"
    if p.after == 0:
        return "stopped"
    rb, ra = p.before / p.risk_before, p.after / p.risk_after
    if abs(ra - rb) < 1e-12:
        return "same"
    return "reduced" if ra < rb else "increased"


def small_number_flags(name: str, group: list[PersonWindows]) -> list[str]:
    flags = []
    if len(group) < SMALL_PEOPLE:
        flags.append(f"{name}: only {len(group)} people (< {SMALL_PEOPLE}): treat the "
                     "change as indicative; its interval is wide or absent")
    if sum(p.before for p in group) < SMALL_EVENTS:
        flags.append(f"{name}: fewer than {SMALL_EVENTS} events in the baseline window")
    return flags


def _r(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)
