"""Cohort effect with a comparison group: hand-computed cases and a constructed borough."""

from __future__ import annotations

from datetime import date

import pytest
from report_borough import at, constructed_borough, join

from db.models import ComplianceEvent, OffendingEvent
from workflow.errors import InvalidInput
from workflow.reports.effect import cohort_effect


def _events(session, person, *days, kind="conviction", category="theft"):
    for d in days:
        session.add(OffendingEvent(partner_ref=f"{person.partner_ref}-{d}", kind=kind,
                                   person_id=person.id, occurred_on=d,
                                   offence_category=category))


def test_hand_computed_cohort_and_comparison(session, make_person):
    a, b, c = make_person("A"), make_person("B"), make_person("C")
    join(session, a.id, "accept", date(2024, 7, 1))
    join(session, b.id, "accept", date(2024, 7, 1))
    join(session, c.id, "reject", date(2024, 7, 1))
    # A: 3 in the 366 days before (2023-07-01..2024-06-30), one the day before that
    # window; 1 in the 184 days after, 30 of them in custody (Aug 1 in, Aug 31 out).
    _events(session, a, date(2023, 6, 30), date(2023, 7, 1), date(2024, 1, 5),
            date(2024, 6, 30), date(2024, 10, 1))
    _events(session, a, date(2024, 2, 1), kind="arrest")  # another kind: not counted
    for n, (kind, day) in enumerate((("custody_in", date(2024, 8, 1)),
                                     ("custody_out", date(2024, 8, 31)))):
        session.add(ComplianceEvent(event_id=f"cu{n}", person_id=a.id, kind=kind,
                                    occurred_at=at(day), details={}, recorded_by="t"))
    _events(session, b, date(2024, 3, 1), date(2024, 4, 1))  # B: 2 before, none after
    _events(session, c, date(2024, 3, 1), date(2024, 9, 1), category="robbery")  # 1 / 1
    session.flush()

    report = cohort_effect(session, start=date(2024, 1, 1), end=date(2024, 12, 31),
                           as_of=date(2025, 1, 31), replicates=50)

    cohort = report["measures"]["count"]["cohort"]
    assert (cohort["people"], cohort["events_before"], cohort["events_after"]) == (2, 5, 1)
    assert (cohort["days_at_risk_before"], cohort["days_at_risk_after"]) == (732, 154 + 184)
    assert cohort["pct_change"] == round(((1 / 338) / (5 / 732) - 1) * 100, 1) == -56.7
    assert report["outcomes"]["cohort"] == {"reduced": 1, "stopped": 1}
    comparison = report["measures"]["count"]["comparison"]
    assert comparison["pct_change"] == round(((1 / 184) / (1 / 366) - 1) * 100, 1)
    assert report["outcomes"]["comparison"] == {"increased": 1}
    # Harm: theft weighs 1, robbery 4 (activity.toml): C's harm ratio equals its count one.
    assert report["measures"]["harm"]["comparison"]["events_before"] == 4.0
    assert any("only 2 people" in f for f in report["flags"])
    assert "regression to the mean" in report["method"]


def test_constructed_borough_recovers_the_true_effect(session):
    constructed_borough(session, people=300, effect=0.30, peak=1.6, seed=7)

    report = cohort_effect(session, start=date(2024, 1, 1), end=date(2024, 6, 30),
                           as_of=date(2025, 1, 31), replicates=400, seed=11)

    m = report["measures"]["count"]
    ci = m["intervals"]
    # The truth: -30% from joining; everyone falls to 1/1.6 of the peak anyway (-37.5%).
    assert ci["adjusted_pct_change"][0] <= -30 <= ci["adjusted_pct_change"][1]
    assert ci["comparison"][0] <= -37.5 <= ci["comparison"][1]
    # The naive before/after change mixes both (0.7 / 1.6 - 1 = -56%): its interval
    # excludes the true effect, and the comparison group is what removes the difference.
    assert ci["cohort"][0] <= -56.25 <= ci["cohort"][1]
    assert ci["cohort"][1] < -30
    assert ci["comparison"][1] < 0  # regression to the mean is there to be removed
    assert m["cohort"]["people"] == m["comparison"]["people"] == 300
    assert m["cohort"]["days_at_risk_after"] < 300 * 182  # custody removed
    harm = report["measures"]["harm"]["intervals"]["adjusted_pct_change"]
    assert harm[0] <= -30 <= harm[1]
    assert report["flags"] == []
    again = cohort_effect(session, start=date(2024, 1, 1), end=date(2024, 6, 30),
                          as_of=date(2025, 1, 31), replicates=400, seed=11)
    assert again["measures"] == report["measures"]  # seeded: same intervals every run


@pytest.mark.parametrize("kw", [{"kind": "parking_ticket"}, {"baseline_months": 0},
                                {"start": date(2025, 1, 1)}])
def test_bad_parameters(session, kw):
    args = {"start": date(2024, 1, 1), "end": date(2024, 12, 31), **kw}
    with pytest.raises(InvalidInput):
        cohort_effect(session, **args)
