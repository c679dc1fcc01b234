"""The top repeat arrested table over HTTP, against a count done by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from db.models import OffendingEvent
from workflow.reports.top_arrested import default_window


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_top_arrested_over_http(client, session, make_person, make_user):
    # 5 people arrested 4, 3, 2, 1 and 1 times in January 2025; one more arrest outside
    # the window and a conviction inside it, neither of which counts.
    day = date(2025, 1, 10)
    for n, count in enumerate((4, 3, 2, 1, 1)):
        person = make_person(f"T{n}")
        for i in range(count):
            session.add(OffendingEvent(partner_ref=f"A{n}-{i}", person=person, kind="arrest",
                                       occurred_on=day + timedelta(days=i),
                                       offence_category="theft"))
    extra = make_person("T9")
    session.add(OffendingEvent(partner_ref="OUT", person=extra, kind="arrest",
                               occurred_on=date(2024, 12, 1), offence_category="theft"))
    session.add(OffendingEvent(partner_ref="CONV", person=extra, kind="conviction",
                               occurred_on=day, offence_category="theft"))
    session.commit()
    _, token = make_user("police1", role="police")
    body = client.get("/api/v1/reports/top-arrested?from=2025-01-01&to=2025-01-31",
                      headers=_auth(token)).get_json()
    assert (body["individuals_arrested"], body["arrests"]) == (5, 11)
    top10 = next(r for r in body["rows"] if r["top"] == 10)
    assert top10["people"] == 5 and top10["arrests"] == 11
    bad = client.get("/api/v1/reports/top-arrested?from=2025-02-01&to=2025-01-01",
                     headers=_auth(token))
    assert bad.status_code == 422 and "to" in str(bad.get_json()["error"]["details"])
    default = client.get("/api/v1/reports/top-arrested?to=2025-01-31",
                         headers=_auth(token)).get_json()
    assert (default["start"], default["end"]) == ("2023-02-01", "2025-01-31")
    assert (default["individuals_arrested"], default["arrests"]) == (6, 12)  # + OUT
    _, om = make_user("om1", role="offender_manager")
    assert client.get("/api/v1/reports/top-arrested?from=2025-01-01&to=2025-01-31",
                      headers=_auth(om)).status_code == 403


@pytest.mark.parametrize("start, end, today, window", [
    (None, None, date(2025, 3, 3), (date(2023, 3, 4), date(2025, 3, 3))),
    (None, date(2024, 2, 29), date(2025, 3, 3), (date(2022, 3, 1), date(2024, 2, 29))),
    (date(2025, 1, 1), None, date(2025, 3, 3), (date(2025, 1, 1), date(2025, 3, 3))),
])
def test_default_window_is_two_years_up_to_today(start, end, today, window):
    assert default_window(start, end, today=today) == window
