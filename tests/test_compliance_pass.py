"""The periodic compliance pass (workflow/tasks/compliance_pass.py): every open, active
case is checked in turn, none again before its recheck time, and partner data about a
person makes their case due at once. Real engine, real rule sets, both backends."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from db.models import Case, Task
from workflow.partners.imports import import_csv
from workflow.tasks.compliance_pass import compliance_due_ids, run_compliance_pass
from workflow.tasks.jobs import run_task_jobs

pytestmark = pytest.mark.usefixtures("published")


@pytest.fixture
def small_passes(runtime):
    """Passes of at most 3 cases, in chunks of 2: a borough bigger than one pass."""
    runtime.settings = replace(runtime.settings, batch_size=3, chunk_size=2)
    return runtime


def _checked(session) -> dict[int, object]:
    session.expire_all()
    due = dict(session.execute(select(Case.id, Case.compliance_due_at)).all())
    session.commit()  # end this read: a pass needs the write lock (SQLite)
    return due


def test_every_active_case_is_checked_in_turn_and_none_before_its_recheck(
        session, small_passes, make_case, now):
    active = [make_case(state=s).id for s in ("allocated", "review", "suspended",
                                              "allocated", "review")]
    others = [make_case(state=s).id for s in ("mapping", "panel")]
    closed = make_case(state="allocated")
    closed.closed_at = now - timedelta(days=1)
    others.append(closed.id)
    session.commit()
    recheck = timedelta(minutes=small_passes.settings.tasks["compliance_recheck_minutes"])

    first = run_compliance_pass(small_passes, now)
    assert (first.checked, first.failed) == (3, {})
    due = _checked(session)
    assert [i for i in active if due[i] == now + recheck] == active[:3]

    later = now + timedelta(minutes=5)
    assert run_compliance_pass(small_passes, later).checked == 2  # the rest, not the first
    due = _checked(session)
    assert [due[i] for i in active[3:]] == [later + recheck] * 2
    assert all(due[i] is None for i in others)  # never checked
    assert run_compliance_pass(small_passes, later + timedelta(minutes=1)).checked == 0
    again = now + recheck
    assert compliance_due_ids(session, now=again, limit=10) == active[:3]
    session.commit()
    assert run_compliance_pass(small_passes, again).checked == 3


def test_an_imported_arrest_makes_the_case_due_and_raises_the_follow_up(
        session, runtime, make_case, now):
    quiet = make_case(state="allocated")
    case = make_case(state="allocated")
    session.commit()
    assert run_task_jobs(runtime, now).raised == 0  # both checked: nothing to raise
    assert run_compliance_pass(runtime, now + timedelta(minutes=1)).checked == 0

    ref = case.person.partner_ref
    arrested = (now - timedelta(days=2)).date().isoformat()
    csv = (f"partner_ref,person_ref,kind,occurred_on,offence_category\n"
           f"A1,{ref},arrest,{arrested},robbery\n")
    import_csv(session, "events", io.StringIO(csv), filename="e.csv", actor="imp",
               now=now + timedelta(minutes=2))
    session.commit()
    assert compliance_due_ids(session, now=now + timedelta(minutes=3), limit=10) == [case.id]
    session.commit()

    report = run_task_jobs(runtime, now + timedelta(minutes=3))
    assert report.compliance.checked == 1 and report.failed == {}
    session.expire_all()
    templates = set(session.scalars(select(Task.template).where(Task.case_id == case.id)))
    assert "new_arrest_follow_up" in templates
    assert session.scalars(select(Task).where(Task.case_id == quiet.id)).all() == []


def test_a_case_whose_facts_fail_is_reported_and_the_others_are_checked(
        session, small_passes, make_case, now):
    from db.models import Person

    good = [make_case(state="allocated").id for _ in range(2)]
    broken = make_case(state="allocated")
    # A person row the fact builder cannot read: an impossible sex code breaks the facts.
    session.get(Person, broken.person_id).sex = "X"
    broken_id = broken.id
    session.commit()

    report = run_compliance_pass(small_passes, now)
    assert report.checked == 2 and list(report.failed) == [broken_id]
    assert "sex" in report.failed[broken_id]
    due = _checked(session)
    assert due[broken_id] is None  # still due: tried again next pass
    assert all(due[i] is not None for i in good)
    again = run_compliance_pass(small_passes, now + timedelta(minutes=1))
    assert again.checked == 0 and list(again.failed) == [broken_id]
