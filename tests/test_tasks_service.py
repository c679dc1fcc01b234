"""Tasks raised from rule decisions; claim, reassign, complete, cancel; inbox; outcome facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEntry, Supervision, Task
from rules.decisions import Decision
from workflow.errors import Conflict, Forbidden, InvalidInput
from workflow.facts import facts_for_cases
from workflow.tasks.inbox import list_tasks
from workflow.tasks.service import cancel, claim, complete, raise_tasks, reassign
from workflow.tasks.templates import render


def _decision(action="create_task", **params):
    params = params or {"template": "panel_invite", "role": "offender_manager",
                        "sla_working_days": 2, "priority": "high"}
    return Decision("r1", "test-set", "v1", action, params, 10, {})


def _supervise(session, case, user, provider="NPS"):
    session.add(Supervision(partner_ref=f"S{case.id}", person_id=case.person_id,
                            provider=provider, offender_manager_user_id=user.id if user else None,
                            start_on=date(2024, 1, 1)))
    session.flush()


def test_create_task_is_rendered_routed_due_audited_and_idempotent(session, make_case,
                                                                   make_user, now):
    om, _ = make_user("om1", role="offender_manager", agency="NPS")
    case = make_case(state="matrixing", given="Sam", family="Jones")
    _supervise(session, case, om)
    created = raise_tasks(session, case, [_decision()], now=now, actor="tester")
    assert len(created) == 1
    task = created[0]
    assert task.title == f"Invite the offender manager of Sam Jones ({case.person.partner_ref})" \
        " to panel"
    assert task.assignee_id == om.id and task.agency == "NPS" and task.priority == "high"
    # Monday 3 March 2025 + 2 working days = end of Wednesday 5 March (GMT).
    assert task.due_at == datetime(2025, 3, 5, 23, 59, 59, tzinfo=UTC)
    assert (task.rule_id, task.ruleset, task.ruleset_version) == ("r1", "test-set", "v1")
    assert raise_tasks(session, case, [_decision()], now=now + timedelta(hours=1),
                       actor="tester") == []
    kinds = session.scalars(select(AuditEntry.kind).where(AuditEntry.case_id == case.id)).all()
    assert kinds.count("task.created") == 1


def test_enforcement_goes_to_the_lead_and_unknown_role_to_a_queue(session, make_case,
                                                                   make_user, now):
    police, _ = make_user("pc1", role="police", agency="police")
    case = make_case(state="allocated")
    case.lead_user_id = police.id
    warning = _decision("raise_enforcement", kind="warning", sla_working_days=1,
                        reason="missed appointment")
    review = _decision(template="case_review", role="offender_manager", sla_working_days=5,
                       priority="normal")
    tasks = raise_tasks(session, case, [warning, review], now=now, actor="t")
    by_template = {t.template: t for t in tasks}
    assert by_template["enforcement_warning"].role == "police"
    assert by_template["enforcement_warning"].assignee_id == police.id
    assert "missed appointment" in by_template["enforcement_warning"].body
    assert by_template["case_review"].assignee_id is None  # no supervision: role queue


def test_closed_task_is_raised_again_only_on_new_evidence(session, make_case, make_user, now):
    from workflow.tasks.compliance import record_event

    lead, _ = make_user("lead", role="team_lead")
    case = make_case(state="allocated")
    warning = _decision("raise_enforcement", kind="warning", sla_working_days=1, reason="x")
    record_event(session, case, event_id="e1", kind="appointment_missed",
                 occurred_at=now - timedelta(hours=2), details={}, actor="t", now=now)
    [task] = raise_tasks(session, case, [warning], now=now, actor="t")
    complete(session, task, user=lead, outcome="warning_issued", now=now)
    later = now + timedelta(days=1)
    assert raise_tasks(session, case, [warning], now=later, actor="t") == []
    record_event(session, case, event_id="e2", kind="appointment_kept",
                 occurred_at=later, details={}, actor="t", now=later)
    assert raise_tasks(session, case, [warning], now=later, actor="t") == []  # not evidence
    record_event(session, case, event_id="e3", kind="appointment_missed",
                 occurred_at=later, details={}, actor="t", now=later)
    assert len(raise_tasks(session, case, [warning], now=later, actor="t")) == 1


def test_render_never_evaluates():
    assert render("Hi $name ${x.__class__} $missing", {"name": "$other {0.__class__}",
                                                       "other": "boom"}) == \
        "Hi $other {0.__class__} ${x.__class__} $missing"


def test_claim_reassign_complete_cancel_with_permissions(session, make_case, make_user, now):
    om1, _ = make_user("om1", role="offender_manager", agency="CRC")
    om2, _ = make_user("om2", role="offender_manager", agency="CRC")
    other, _ = make_user("om3", role="offender_manager", agency="NPS")
    police, _ = make_user("pc", role="police", agency="police")
    lead, _ = make_user("lead", role="team_lead")
    case = make_case(state="matrixing")
    _supervise(session, case, None, provider="CRC")
    [task] = raise_tasks(session, case, [_decision()], now=now, actor="t")
    assert task.assignee_id is None and task.agency == "CRC"
    assert [t.id for t in list_tasks(session, om1, now=now, scope="queue")[0]] == [task.id]
    assert list_tasks(session, other, now=now, scope="queue")[1] == 0
    with pytest.raises(Forbidden):
        claim(session, task, user=other, now=now)
    with pytest.raises(Forbidden):
        complete(session, task, user=police, outcome="declined", now=now)
    claim(session, task, user=om1, now=now)
    with pytest.raises(Conflict):
        claim(session, task, user=om2, now=now)
    with pytest.raises(InvalidInput):
        reassign(session, task, user=om1, assignee=police, now=now)
    reassign(session, task, user=om1, assignee=om2, now=now)
    assert [t.id for t in list_tasks(session, om2, now=now, scope="mine")[0]] == [task.id]
    with pytest.raises(Forbidden):
        complete(session, task, user=om1, outcome="declined", now=now)
    with pytest.raises(InvalidInput):
        complete(session, task, user=om2, outcome="whatever", now=now)
    with pytest.raises(Forbidden):
        cancel(session, task, user=om2, reason="no", now=now)
    complete(session, task, user=om2, outcome="attendance_confirmed", now=now)
    with pytest.raises(Conflict):
        cancel(session, task, user=lead, reason="too late", now=now)
    kinds = session.scalars(select(AuditEntry.kind).where(AuditEntry.case_id == case.id)
                            .order_by(AuditEntry.seq)).all()
    assert [k for k in kinds if k.startswith("task.")] == [
        "task.created", "task.claimed", "task.reassigned", "task.completed"]
    facts = facts_for_cases(session, [case], now + timedelta(minutes=1))[case.id]
    assert facts["panel_attendance_confirmed"] is True


def test_overdue_scope_and_filters(session, make_case, make_user, now):
    om, _ = make_user("om1", role="offender_manager", agency="NPS")
    lead, _ = make_user("lead", role="team_lead")
    case = make_case(state="allocated")
    _supervise(session, case, om)
    [task] = raise_tasks(session, case, [_decision()], now=now, actor="t")
    later = now + timedelta(days=10)
    assert list_tasks(session, om, now=now, scope="overdue")[1] == 0
    assert [t.id for t in list_tasks(session, lead, now=later, scope="overdue")[0]] == [task.id]
    assert list_tasks(session, om, now=later, scope="mine", template="case_review")[1] == 0
    assert list_tasks(session, om, now=later, scope="all", case_id=case.id)[1] == 1
    assert list_tasks(session, om, now=later, scope="mine", status="done")[1] == 0


def test_warnings_issued_become_a_fact(session, make_case, make_user, now):
    lead, _ = make_user("lead", role="team_lead")
    case = make_case(state="allocated")
    warning = _decision("raise_enforcement", kind="warning", sla_working_days=1, reason="x")
    [task] = raise_tasks(session, case, [warning], now=now, actor="t")
    assert facts_for_cases(session, [case], now)[case.id]["warnings_30d"] == 0
    complete(session, task, user=lead, outcome="warning_issued", now=now)
    session.commit()
    assert facts_for_cases(session, [case], now)[case.id]["warnings_30d"] == 1
    assert facts_for_cases(session, [case], now + timedelta(days=31))[case.id][
        "warnings_30d"] == 0
    assert session.scalar(select(Task.status).where(Task.id == task.id)) == "done"
