"""Reports that put windows in a temporary table run as the least-privilege app role."""

from __future__ import annotations

from datetime import date

from report_borough import join
from test_db_roles import app_session, app_url  # noqa: F401  (pytest fixtures)

from db.models import OffendingEvent, Person
from workflow.reports.costs import cost_report
from workflow.reports.effect import cohort_effect


def test_cohort_effect_and_cost_as_the_app_role(app_session):  # noqa: F811
    person = Person(partner_ref="R1", given_name="A", family_name="B", sex="M",
                    date_of_birth=date(1990, 1, 1))
    app_session.add(person)
    app_session.flush()
    join(app_session, person.id, "accept", date(2024, 7, 1))
    app_session.add(OffendingEvent(partner_ref="R1-1", person_id=person.id, kind="conviction",
                                   occurred_on=date(2024, 2, 1), offence_category="robbery"))
    app_session.flush()

    effect = cohort_effect(app_session, start=date(2024, 1, 1), end=date(2024, 12, 31),
                           replicates=10)
    cost = cost_report(app_session, start=date(2024, 1, 1), end=date(2024, 12, 31),
                       replicates=10)

    assert effect["measures"]["count"]["cohort"]["events_before"] == 1
    assert cost["rows"][0]["cost"] == 11320
