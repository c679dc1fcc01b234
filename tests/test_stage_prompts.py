"""Rules raise the stage prompts through advance(); partner events move custody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import Case, Supervision, Task
from workflow.advance import advance
from workflow.history import history_rows
from workflow.tasks.compliance import record_event


@pytest.mark.usefixtures("published")
def test_matrixing_raises_one_panel_invite_for_the_offender_manager(session, make_case,
                                                                     make_user, now, policy):
    om, _ = make_user("om1", role="offender_manager", agency="CRC")
    case = make_case(state="matrixing", ogrs=81, offence="robbery", arrests=3)
    session.add(Supervision(partner_ref="S1", person_id=case.person_id, provider="CRC",
                            offender_manager="om1", offender_manager_user_id=om.id,
                            start_on=(now - timedelta(days=30)).date()))
    session.commit()
    advance(session, case, now=now, actor="scheduler", policy=policy)
    session.commit()
    [task] = session.scalars(select(Task).where(Task.case_id == case.id)).all()
    assert task.template == "panel_invite" and task.role == "offender_manager"
    assert task.rule_id == "invite-offender-manager" and task.ruleset == "stage-prompts"
    assert task.assignee_id == om.id and task.due_at > now
    assert case.person.partner_ref in task.title
    kinds = [e.kind for e in history_rows(session, case.id)]
    assert "task.created" in kinds and "case.transition" in kinds


@pytest.mark.usefixtures("published")
def test_custody_events_suspend_and_resume_an_active_case(session, make_case):
    case = make_case(state="allocated", ogrs=81)
    now = datetime.now(UTC)
    record_event(session, case, event_id="E-1", kind="custody_in", occurred_at=now,
                 details={"prison": "HMP Pentonville"}, actor="police1", now=now)
    session.commit()
    assert case.state == "suspended" and case.next_due_at is None
    again, created = record_event(session, case, event_id="E-1", kind="custody_in",
                                  occurred_at=now, details={"prison": "HMP Pentonville"},
                                  actor="police1", now=now)
    assert not created and case.state == "suspended"
    record_event(session, case, event_id="E-2", kind="custody_out", occurred_at=now,
                 details={}, actor="police1", now=now)
    session.commit()
    assert session.get(Case, case.id).state == "allocated" and case.next_due_at == now
    moves = [e.payload["event"] for e in history_rows(session, case.id)
             if e.kind == "case.transition"]
    assert moves == ["custody_in", "custody_out"]


@pytest.mark.usefixtures("published")
def test_custody_event_for_a_case_not_yet_active_is_only_recorded(session, make_case):
    case = make_case(state="mapping", ogrs=40)
    now = datetime.now(UTC)
    record_event(session, case, event_id="E-9", kind="custody_in", occurred_at=now,
                 details={}, actor="police1", now=now)
    session.commit()
    assert case.state == "mapping"
