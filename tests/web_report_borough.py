"""A small borough for the report pages' tests: a cohort and a comparison group with
convictions before and after joining (report_borough's constructed borough), arrests for
the top-arrested table, and open cases selected and not yet taken on (the expansion
estimate's pipeline) with audited moves (caseload's time in stage and sources)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from report_borough import constructed_borough
from sqlalchemy import insert

from db.models import Case, OffendingEvent, Person
from workflow import audit

START, END = date(2024, 1, 1), date(2024, 12, 31)
QUERY = "from=2024-01-01&to=2024-12-31"


def build(session) -> None:
    constructed_borough(session, people=12, effect=0.3, peak=1.6, seed=14)
    categories = ("theft", "domestic_burglary", "robbery")
    for i in range(6):
        person = Person(partner_ref=f"W{i}", given_name="Sam", family_name=f"Pipeline{i}",
                        sex="F" if i % 2 else "M", date_of_birth=date(1995, 1, 1))
        session.add(person)
        session.flush()
        session.execute(insert(OffendingEvent), [
            {"partner_ref": f"W{i}-a{k}", "person_id": person.id, "kind": "arrest",
             "occurred_on": START + timedelta(days=20 * k + i),
             "offence_category": categories[k % 3]} for k in range(i + 2)])
        opened = datetime(2024, 3, 1, 9, tzinfo=UTC) + timedelta(days=i)
        case = Case(person_id=person.id, state="matrixing", opened_at=opened)
        session.add(case)
        session.flush()
        audit.record(session, kind="case.transition", actor="scheduler",
                     occurred_at=opened + timedelta(days=10 + i), case_id=case.id,
                     person_ref=person.partner_ref, summary="Moved from mapping to matrixing",
                     payload={"event": "select", "from": "mapping", "to": "matrixing",
                              "by": "rule", "cause": {"kind": "rule", "decisions": [
                                  {"ruleset": "barnet-local-flex", "rule": "dtoa-flex",
                                   "version": "v1", "action": "select", "params": {},
                                   "matched": {}}]}})
    session.flush()
