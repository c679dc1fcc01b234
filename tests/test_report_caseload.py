"""Caseload and flow, counted by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from report_borough import at, join

from db.models import Case, Task
from workflow.errors import InvalidInput
from workflow.reports.caseload import caseload_report
from workflow.reports.render import to_csv


def _task(session, case, agency, due, status="open", completed=None):
    session.add(Task(case_id=case.id, template="t", title="t", agency=agency,
                     due_at=at(due), status=status,
                     completed_at=at(completed) if completed else None))


def test_caseload_and_flow_by_hand(session, make_person):
    p = [make_person(f"P{i}") for i in range(6)]
    a = join(session, p[0].id, "accept", date(2025, 1, 9))
    a.cohort = "flex"
    join(session, p[1].id, "accept", date(2025, 2, 6), closed=date(2025, 3, 20))
    c = join(session, p[2].id, "accept", date(2025, 2, 6))
    c.state, c.cohort = "suspended", "fixed"
    join(session, p[3].id, "reject", date(2025, 2, 6))
    join(session, p[4].id, "accept", date(2024, 12, 5))  # before the period
    session.add(Case(person_id=p[5].id, state="matrixing", cohort="flex"))
    session.flush()
    _task(session, a, "police", date(2025, 1, 20), "done", date(2025, 1, 19))  # on time
    _task(session, a, "police", date(2025, 1, 20), "done", date(2025, 1, 22))  # late
    _task(session, c, "CRC", date(2025, 3, 1))  # open, overdue at the end of March
    _task(session, c, "CRC", date(2025, 4, 30))  # open, not yet due
    session.flush()

    report = caseload_report(session, start=date(2025, 1, 1), end=date(2025, 3, 31),
                             target_size=200)

    assert report["rows"] == [{"month": "2025-01", "entries": 1, "exits": 0},
                              {"month": "2025-02", "entries": 2, "exits": 0},
                              {"month": "2025-03", "entries": 0, "exits": 1}]
    assert report["panel_outcomes"] == {"accept": 3, "defer": 0, "reject": 1}
    assert {(r["stream"], r["state"]): r["cases"] for r in report["open_cases"]} == {
        ("flex", "allocated"): 1, ("fixed", "suspended"): 1, ("-", "allocated"): 1,
        ("flex", "matrixing"): 1}
    assert report["tasks"] == [{"agency": "CRC", "on_time": 0, "late": 0, "overdue": 1},
                               {"agency": "police", "on_time": 1, "late": 1, "overdue": 0}]
    assert (report["active_cohort"], report["target_gap"]) == (3, 197)
    text = to_csv(report)
    assert "flow" in text and text.rstrip().splitlines()[-1].startswith("method,")
    later = caseload_report(session, start=date(2025, 1, 1), end=date(2025, 3, 31),
                            as_of=datetime(2025, 2, 1, tzinfo=UTC))
    assert later["tasks"][0]["overdue"] == 0


def test_bad_target(session):
    with pytest.raises(InvalidInput):
        caseload_report(session, start=date(2025, 1, 1), end=date(2025, 3, 31),
                        target_size=0)


def test_escalated_tasks_past_due_are_overdue(session, make_person):
    case = join(session, make_person("E1").id, "accept", date(2025, 1, 9))
    _task(session, case, "police", date(2025, 2, 1), "escalated")
    _task(session, case, "police", date(2025, 2, 1), "open")
    _task(session, case, "police", date(2025, 2, 1), "cancelled")
    session.flush()
    report = caseload_report(session, start=date(2025, 1, 1), end=date(2025, 3, 31))
    assert report["tasks"] == [{"agency": "police", "on_time": 0, "late": 0, "overdue": 2}]
