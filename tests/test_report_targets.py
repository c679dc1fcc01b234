"""NI 30 targets (seed 003): the arithmetic, and month by month from case data."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from report_borough import join

from db.models import OffendingEvent
from workflow.errors import InvalidInput
from workflow.reports.targets import allowed, months, targets_report


def test_ni30_seventeen_percent_means_no_more_than_127():
    # Sunderland: a 17% reduction "equates to no more than 127 convictions". Rounded to
    # the nearest conviction, 153 is the only baseline giving 127 (152 -> 126.16, 154 ->
    # 127.82), so the 2008/09 baseline was 153 convictions.
    assert allowed(153, Decimal(17)) == 127
    assert [allowed(b, Decimal(17)) for b in (152, 154)] == [126, 128]
    # 52 convictions in the first six months: within half the year's allowance (63.5).
    assert 52 <= 127 * 6 / 12


def _convictions(session, person, days):
    for n, d in enumerate(days):
        session.add(OffendingEvent(partner_ref=f"{person.partner_ref}-{n}", kind="conviction",
                                   person_id=person.id, occurred_on=d,
                                   offence_category="theft"))


def test_month_by_month_against_the_allowance(session, make_person):
    a, b, gone, rejected, old = (make_person(r) for r in ("A", "B", "G", "R", "O"))
    join(session, old.id, "accept", date(2008, 1, 3), closed=date(2009, 3, 31))  # gone
    join(session, a.id, "accept", date(2009, 2, 5))
    join(session, b.id, "accept", date(2009, 6, 4))
    join(session, gone.id, "accept", date(2008, 1, 3), closed=date(2009, 5, 1))  # left in May
    join(session, rejected.id, "reject", date(2009, 5, 7))
    # Baseline year 2008-04-01..2009-03-31: A 3, B 2, G 1 (G left in May, so counts).
    _convictions(session, a, [date(2008, 5, 1), date(2008, 9, 9), date(2009, 3, 31),
                              date(2009, 4, 1), date(2009, 4, 30), date(2009, 9, 1)])
    _convictions(session, b, [date(2008, 4, 1), date(2008, 12, 1), date(2009, 6, 10)])
    _convictions(session, gone, [date(2008, 7, 1)])
    _convictions(session, old, [date(2008, 7, 1)])  # left before the period: not counted
    _convictions(session, rejected, [date(2008, 7, 1), date(2009, 4, 2)])  # not cohort
    session.flush()

    report = targets_report(session, start=date(2009, 4, 1), end=date(2010, 3, 31),
                            reduction_pct=Decimal(17))

    assert (report["people"], report["baseline"]) == (3, 6)
    assert report["allowed"] == 5  # 6 x 0.83 = 4.98
    assert [r["actual"] for r in report["rows"]][:6] == [2, 0, 1, 0, 0, 1]
    assert report["rows"][0] == {"month": "2009-04", "actual": 2, "actual_cumulative": 2,
                                 "allowed_cumulative": 0.4, "on_track": False}
    assert report["rows"][-1]["allowed_cumulative"] == 5.0
    assert (report["actual"], report["met"]) == (4, True)
    given = targets_report(session, start=date(2009, 4, 1), end=date(2010, 3, 31),
                           reduction_pct=Decimal(17), baseline=153)
    assert given["allowed"] == 127 and "given (153)" in given["method"]


def test_months_cover_partial_ends():
    assert months(date(2024, 1, 15), date(2024, 3, 2)) == [
        (date(2024, 1, 15), date(2024, 1, 31)), (date(2024, 2, 1), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 2))]


@pytest.mark.parametrize("kw", [{"reduction_pct": Decimal(100)}, {"baseline": -1},
                                {"kind": "parking_ticket"}])
def test_bad_parameters(session, kw):
    args = {"start": date(2009, 4, 1), "end": date(2010, 3, 31),
            "reduction_pct": Decimal(17), **kw}
    with pytest.raises(InvalidInput):
        targets_report(session, **args)
