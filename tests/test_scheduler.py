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


@pytest.mark.usefixtures("published")
def test_a_chunk_writes_quiet_cases_as_one_case_at_a_time_would(runtime, session, make_case,
                                                                 now, policy):
    """The batched UPDATE of quiet cases (evaluated, nothing to move or audit) leaves each
    row as apply_evaluation does for a case advanced alone: same fields, version + 1."""
    from workflow.advance import advance

    batched = [make_case(ogrs=30, arrests=2), make_case(ogrs=55, arrests=1)]
    alone = [make_case(ogrs=30, arrests=2), make_case(ogrs=55, arrests=1)]
    moving = make_case(ogrs=81)
    batched_ids, alone_ids = [c.id for c in batched], [c.id for c in alone]
    session.execute(Case.__table__.update().where(Case.id.in_(batched_ids + alone_ids))
                    .values(last_error="earlier failure"))
    session.execute(Case.__table__.update().where(Case.id.in_(alone_ids))
                    .values(next_due_at=now + timedelta(days=30)))  # not in the pass
    session.commit()
    report = advance_due(runtime, now=now)
    assert [r.case_id for r in report.moved] == [moving.id]
    for case_id in alone_ids:
        case = session.get(Case, case_id)
        advance(session, case, now=now, actor="scheduler", policy=policy)
    session.commit()
    session.expire_all()
    fields = ("state", "activity_score", "last_outcome", "last_error", "next_due_at",
              "version", "last_versions")

    def row(case_id):
        return tuple(getattr(session.get(Case, case_id), f) for f in fields)

    for a, b in zip(batched_ids, alone_ids, strict=True):
        assert row(a) == row(b)
        assert row(a)[fields.index("version")] == 2 and row(a)[fields.index("last_error")] is None
    assert row(batched_ids[0])[fields.index("next_due_at")] > now
    assert verify(session).ok
