"""Cohort effect (seed 002 / PPO 2009 method) with a comparison group (issue 14 items 1-2).

For everyone who joined in the period (first panel accept) and everyone the panel
rejected in it (the comparison group: met the selection rules, reached panel, not taken
on): events of one kind in the ``baseline_months`` before the index date against the
``followup_months`` since (cut at ``as_of``), each annualised by days at risk (custody
removed). Counts and harm-weighted sums, per person outcome, pooled % change per group,
the adjusted change (cohort net of comparison) and seeded bootstrap intervals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy.orm import Session

from db.models.people import EVENT_KINDS
from workflow.errors import InvalidInput
from workflow.reports import stats
from workflow.reports.reference import harm_weights
from workflow.reports.windows import (
    GROUPS,
    Window,
    add_months,
    aggregate,
    custody_days,
    index_dates,
)

METHOD = (
    "Cohort effect (PPO 2009 cohort method). Cohort: people the panel accepted between "
    "{start} and {end}, index date = first acceptance. Comparison group: people the panel "
    "rejected in the same period and never accepted (they met the selection rules and "
    "reached panel but were not taken on), index date = first rejection. For each person, "
    "{kind} events in the {b} months before the index date against the {f} months from it "
    "(cut at {as_of}); days in custody (partners' custody in/out events) are removed from "
    "days at risk. People with under {min_days} days at risk in either window are left "
    "out and counted. Rates are pooled per group (events / days at risk, per month); the "
    "% change compares the follow-up rate with the baseline rate. Harm weighting uses the "
    "crime harm weights (workflow/reference/activity.toml [gravity]). Adjusted change = "
    "cohort rate ratio / comparison rate ratio - 1: people are selected at a peak, so "
    "part of any fall happens anyway (regression to the mean) and the comparison group "
    "measures that part. Intervals: {level:.0%} percentile bootstrap over people, "
    "{reps} replicates, seed {seed}. Limits: the comparison group is not matched and "
    "panels reject for reasons that may relate to future offending; arrests and charges "
    "measure police activity as well as offending; convictions lag offences; a short "
    "follow-up is noisy.")


def _windows(people: dict[int, date], *, b: int, f: int, as_of: date) -> list[Window]:
    out = []
    for pid, idx in people.items():
        out.append(Window(pid, "before", add_months(idx, -b), idx - timedelta(days=1)))
        out.append(Window(pid, "after", idx, min(add_months(idx, f) - timedelta(days=1),
                                                 as_of)))
    return out


def _people(windows, counts, custody, measure, min_days, excluded: Counter
            ) -> list[stats.PersonWindows]:
    by_person: dict[int, dict[str, Window]] = {}
    for w in windows:
        by_person.setdefault(w.person_id, {})[w.name] = w
    out = []
    for pid, ws in sorted(by_person.items()):
        risk = {n: w.days - custody.get((pid, n), 0) for n, w in ws.items()}
        if risk["before"] < min_days or risk["after"] < min_days:
            excluded["under_min_days_at_risk"] += 1
            continue
        got = {n: counts.get((pid, n), {}).get(measure, 0) for n in ("before", "after")}
        out.append(stats.PersonWindows(pid, got["before"], got["after"], risk["before"],
                                       risk["after"]))
    return out


def _check(kind: str, baseline_months: int, followup_months: int, start: date, end: date,
           as_of: date) -> None:
    if kind not in EVENT_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(EVENT_KINDS)}",
                           details={"field": "kind"})
    if not (1 <= baseline_months <= 60 and 1 <= followup_months <= 60):
        raise InvalidInput("windows must be 1 to 60 months", details={"field": "months"})
    if end < start or as_of < start:
        raise InvalidInput("the period ends before it starts", details={"field": "to"})


def cohort_effect(session: Session, *, start: date, end: date, as_of: date | None = None,
                  kind: str = "conviction", baseline_months: int = 12,
                  followup_months: int = 6, min_days_at_risk: int = 28,
                  replicates: int = 1000, seed: int = 2009,
                  progress: Callable[[str], None] | None = None) -> dict:
    """The cohort-effect report for people joining ``start``..``end`` (inclusive);
    ``progress`` is told each step (a line of text) when given."""
    say = progress or (lambda _text: None)
    as_of = as_of or end
    _check(kind, baseline_months, followup_months, start, end, as_of)
    groups = index_dates(session, start=start, end=end)
    weights = {"harm": harm_weights()}
    result: dict = {"report": "cohort-effect", "start": start.isoformat(),
                    "end": end.isoformat(), "as_of": as_of.isoformat(), "kind": kind,
                    "baseline_months": baseline_months, "followup_months": followup_months,
                    "measures": {}, "outcomes": {}, "excluded": {}, "flags": []}
    people: dict[str, dict[str, list]] = {"count": {}, "harm": {}}
    for group in GROUPS:
        windows = _windows(groups[group], b=baseline_months, f=followup_months, as_of=as_of)
        say(f"{group}: {len(groups[group]):,} people, counting their events")
        counts = aggregate(session, windows, kind=kind, weights=weights)
        custody = custody_days(session, windows)
        excluded: Counter = Counter()
        for measure in people:
            people[measure][group] = _people(windows, counts, custody, measure,
                                             min_days_at_risk, excluded if measure ==
                                             "count" else Counter())
        result["excluded"][group] = dict(excluded)
        result["outcomes"][group] = dict(Counter(
            stats.classify(p) for p in people["count"][group]))
        result["flags"] += stats.small_number_flags(group, people["count"][group])
    for measure, by_group in people.items():
        say(f"{measure}: {replicates:,} bootstrap replicates")
        result["measures"][measure] = _measure(by_group["cohort"], by_group["comparison"],
                                               replicates=replicates, seed=seed)
    result["method"] = METHOD.format(start=start, end=end, kind=kind, b=baseline_months,
                                     f=followup_months, as_of=as_of, min_days=min_days_at_risk,
                                     level=0.95, reps=replicates, seed=seed)
    return result


def _measure(cohort, comparison, *, replicates: int, seed: int) -> dict:
    return {"cohort": stats.rates(cohort), "comparison": stats.rates(comparison),
            "difference_pts": _diff(cohort, comparison),
            "adjusted_pct_change": _round(stats.adjusted(cohort, comparison)),
            "intervals": stats.bootstrap(cohort, comparison, replicates=replicates,
                                         seed=seed)}


def _diff(cohort, comparison) -> float | None:
    c, k = stats.change(cohort), stats.change(comparison)
    return None if c is None or k is None else round(c - k, 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
