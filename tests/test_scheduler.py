"""Scheduler passes: due work selected, each case advanced once, failures isolated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEntry, Case
from scheduler.jobs import advance_due
from workflow.audit import verify


@pytest.mark.usefixtures("published")
def test_passes_move_in_scope_cases_and_leave_the_others(runtime, session, make_person,
                                                         make_case, now):
    selected = make_case(ogrs=81)
    excluded = make_case(ogrs=95, mappa=2)
    out_of_scope = make_case(ogrs=30)
    fresh = make_person()  # no case yet: the pass opens one
    session.commit()
    first = advance_due(runtime, now=now)
    assert first.opened == 1
    assert [r.case_id for r in first.moved] == [selected.id]
    session.expire_all()
    assert session.get(Case, selected.id).state == "matrixing"
    assert session.get(Case, excluded.id).state == "mapping"
    assert session.get(Case, out_of_scope.id).state == "mapping"
    assert session.scalar(select(Case).where(Case.person_id == fresh.id)).state == "mapping"
    session.commit()  # end this read: a pass needs the write lock (SQLite)
    # The same instant again: nothing is due any more except the newly-entered matrixing case.
    second = advance_due(runtime, now=now)
    assert {r.case_id for r in second.moved} <= {selected.id}
    third = advance_due(runtime, now=now)
    assert third.evaluated == 0 and not third.moved
    later = advance_due(runtime, now=now + timedelta(days=8))
    assert later.evaluated >= 3
    assert verify(session).ok
    transitions = session.scalars(select(AuditEntry).where(
        AuditEntry.kind == "case.transition")).all()
    assert transitions and all("version" in t.summary for t in transitions)


@pytest.mark.usefixtures("published")
def test_one_failing_case_does_not_stop_the_pass(runtime, session, make_case, now):
    from db.models import Person

    good = make_case(ogrs=81)
    broken = make_case(ogrs=81)
    # A person row the fact builder cannot read: an impossible sex code breaks the facts.
    session.get(Person, broken.person_id).sex = "X"
    session.commit()
    report = advance_due(runtime, now=now)
    assert good.id in [r.case_id for r in report.moved]
    assert broken.id in report.failed and "sex" in report.failed[broken.id]
    session.expire_all()
    assert session.get(Case, broken.id).state == "mapping"
    assert "sex" in session.get(Case, broken.id).last_error
