"""Cost of crime before / during / after joining, priced from dated reference data."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from report_borough import join

from db.models import OffendingEvent
from workflow.errors import InvalidInput
from workflow.reports import reference
from workflow.reports.costs import cost_report


def _conv(session, person, day, category):
    session.add(OffendingEvent(partner_ref=f"{person.partner_ref}-{day}-{category}",
                               kind="conviction", person_id=person.id, occurred_on=day,
                               offence_category=category))


def test_hand_priced_before_during_after(session, make_person):
    a, b = make_person("A"), make_person("B")
    join(session, a.id, "accept", date(2024, 1, 1), closed=date(2024, 7, 1))
    join(session, b.id, "accept", date(2024, 1, 1))
    # before (2023-01-01..2023-12-31, 365 days each): A robbery 11,320 + violence 14,050;
    # B theft (no unit cost: unpriced). During: A 2024-01-01..06-30 (182 days) criminal
    # damage 1,350; B 2024-01-01..12-31 (366 days) nothing. After: A 2024-07-01..12-31
    # (184 days) theft from vehicle 870.
    _conv(session, a, date(2023, 3, 1), "robbery")
    _conv(session, a, date(2023, 9, 1), "violence")
    _conv(session, b, date(2023, 5, 1), "theft")
    _conv(session, a, date(2024, 2, 1), "criminal_damage")
    _conv(session, a, date(2024, 8, 1), "theft_from_vehicle")
    _conv(session, a, date(2022, 12, 31), "robbery")  # before the baseline window
    session.flush()

    report = cost_report(session, start=date(2024, 1, 1), end=date(2024, 6, 30),
                         as_of=date(2024, 12, 31), replicates=50)

    rows = {r["period"]: r for r in report["rows"]}
    assert (rows["before"]["events"], rows["before"]["unpriced"], rows["before"]["cost"]) \
        == (3, 1, 25370)
    assert rows["before"]["days_at_risk"] == 730
    assert rows["before"]["annual_cost"] == round(25370 / 730 * 365.25)
    assert (rows["during"]["cost"], rows["during"]["days_at_risk"]) == (1350, 182 + 366)
    assert (rows["after"]["cost"], rows["after"]["days_at_risk"]) == (870, 184)
    assert report["annual_saving"] == round(25370 / 730 * 365.25 - 1350 / 548 * 365.25)
    assert report["price_year"] == "2015/16"
    assert "unpriced" in report["method"] and report["flags"]


def test_price_year_uses_the_deflator_series(session, make_person, tmp_path, monkeypatch):
    a = make_person("A")
    join(session, a.id, "accept", date(2024, 1, 1))
    _conv(session, a, date(2023, 3, 1), "robbery")
    session.flush()
    (tmp_path / "gdp_deflators.csv").write_text("price_year,index\n2015/16,80\n2023/24,100\n")
    shutil.copy(reference.REFERENCE_DIR / "crime_costs.toml", tmp_path)
    monkeypatch.setattr(reference, "REFERENCE_DIR", tmp_path)

    report = cost_report(session, start=date(2024, 1, 1), end=date(2024, 6, 30),
                         price_year="2023/24", reference="home-office-2018", replicates=20)

    assert report["rows"][0]["cost"] == 14150  # 11,320 x 100 / 80
    with pytest.raises(InvalidInput) as err:
        cost_report(session, start=date(2024, 1, 1), end=date(2024, 6, 30),
                    price_year="1999/00")
    assert "1999/00" in err.value.args[0]
