"""Tasks raised from rule decisions, and what people do with them.

Rules decide (``create_task`` / ``raise_enforcement`` decisions), this module applies:
render the template, route the task (``workflow.tasks.routing``), set the working-day
deadline, audit, and queue an e-mail prompt. Every function flushes and never commits.

Permissions: the assignee may complete or hand on their task; an unassigned task may be
claimed or completed by a member of its queue (same role, and same agency when the queue
has one); team leads and admins may do anything, and only they may cancel.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from db.models import Case, Task, User
from rules.decisions import Decision
from workflow import audit
from workflow.errors import Conflict, Forbidden, InvalidInput
from workflow.tasks import outbox
from workflow.tasks.calendar import add_working_days
from workflow.tasks.routing import OUTSTANDING, lead_role, queue_members, route, suppressed
from workflow.tasks.templates import allowed_outcomes, render, template

TASK_ACTIONS = ("create_task", "raise_enforcement", "refer_programme")
SUPERVISORS = ("team_lead", "admin")


@dataclass(frozen=True)
class TaskSpec:
    """What one decision asks for."""

    template: str
    role: str
    sla_working_days: int
    priority: str
    decision: Decision
    agency: str | None = None  # a queue's agency named by the rule (e.g. youth)


def spec_of(session: Session, case: Case, decision: Decision) -> TaskSpec | None:
    """The task a decision asks for, or None when its action raises no task."""
    p = decision.params
    if decision.action == "create_task":
        return TaskSpec(p["template"], p["role"], p["sla_working_days"],
                        p.get("priority", "normal"), decision, p.get("agency"))
    if decision.action == "refer_programme":
        name = f"referral_{p['programme'].lower()}"
    elif decision.action == "raise_enforcement":
        name = f"enforcement_{p['kind']}"
    else:
        return None
    tpl = template(name)
    role = tpl.get("role", "lead")
    if role == "lead":
        role = lead_role(session, case) or tpl.get("fallback_role", "offender_manager")
    sla = p.get("sla_working_days", tpl.get("sla_working_days", 5))
    return TaskSpec(name, role, sla, tpl.get("priority", "urgent"), decision)


def _values(case: Case, facts: dict, spec: TaskSpec) -> dict:
    person = case.person
    d = spec.decision
    return {**facts, "case_id": case.id, "state": case.state, "intensity": case.intensity,
            "person_ref": person.partner_ref,
            "person_name": f"{person.given_name} {person.family_name}",
            "rule": d.rule, "ruleset": d.ruleset, "version": d.version,
            "reason": d.params.get("reason", ""), "kind": d.params.get("kind", ""),
            "sla_working_days": spec.sla_working_days, "priority": spec.priority}


def _create(session: Session, case: Case, spec: TaskSpec, facts: dict, *, now, actor) -> Task:
    tpl = template(spec.template)
    values = _values(case, facts, spec)
    assignee, agency = route(session, case, spec.role, now=now)
    if spec.agency and agency != spec.agency:  # the rule names the queue: that agency's
        assignee, agency = None, spec.agency
    task = Task(case_id=case.id, template=spec.template,
                title=render(tpl["title"], values)[:200], body=render(tpl.get("body", ""), values),
                role=spec.role, agency=agency, assignee_id=assignee.id if assignee else None,
                priority=spec.priority, status="open",
                due_at=add_working_days(now, spec.sla_working_days),
                rule_id=spec.decision.rule, ruleset=spec.decision.ruleset,
                ruleset_version=spec.decision.version, created_at=now)
    session.add(task)
    session.flush()
    who = assignee.username if assignee else f"queue {spec.role}/{agency or 'any'}"
    audit.record(session, kind="task.created", actor=actor, occurred_at=now, case_id=case.id,
                 person_ref=case.person.partner_ref,
                 summary=f"Task {task.id} ({task.template}) for {who}, due "
                         f"{task.due_at.isoformat()} ({spec.sla_working_days} working days), "
                         f"raised by {spec.decision.ruleset}/{spec.decision.rule}",
                 payload={"task_id": task.id, "template": task.template, "role": task.role,
                          "agency": agency, "assignee": assignee.username if assignee else None,
                          "due_at": task.due_at, "priority": task.priority,
                          "decision": spec.decision.as_dict()})
    recipients = [assignee] if assignee else queue_members(session, task.role, task.agency)
    outbox.notify_task(session, task, recipients, kind="prompt", event="created", now=now,
                       prefix="New task")
    return task


def raise_tasks(session: Session, case: Case, decisions: list[Decision], *, now: datetime,
                actor: str, facts: dict | None = None) -> list[Task]:
    """Raise one task per ``create_task`` / ``raise_enforcement`` decision; flush.

    Idempotent: see ``routing.suppressed``. ``facts`` (the case's facts at ``now``) fill
    the templates; computed when not given. Returns the tasks created.
    """
    specs = [s for s in (spec_of(session, case, d) for d in decisions) if s is not None]
    if not specs or case.closed_at is not None:
        return []
    if facts is None:
        from workflow.facts import facts_for_cases

        facts = facts_for_cases(session, [case], now)[case.id]
    created, seen = [], set()
    for spec in specs:
        if spec.template in seen or suppressed(session, case, spec.template):
            continue
        seen.add(spec.template)
        created.append(_create(session, case, spec, facts, now=now, actor=actor))
    return created


def _in_queue(task: Task, user: User) -> bool:
    return user.role == task.role and (task.agency is None or user.agency == task.agency)


def _check_outstanding(task: Task) -> None:
    if task.status not in OUTSTANDING:
        raise Conflict(f"task {task.id} is {task.status}", details={"status": task.status})


def _may_act(task: Task, user: User) -> bool:
    if user.role in SUPERVISORS or task.assignee_id == user.id:
        return True
    return task.assignee_id is None and _in_queue(task, user)


def _record(session, task: Task, kind: str, summary: str, *, now, actor, **payload) -> None:
    audit.record(session, kind=kind, actor=actor, occurred_at=now, case_id=task.case_id,
                 person_ref=task.case.person.partner_ref, summary=summary,
                 payload={"task_id": task.id, "template": task.template, **payload})


def claim(session: Session, task: Task, *, user: User, now: datetime) -> Task:
    """Take an unassigned task from the user's queue. Claiming one's own task is a no-op."""
    _check_outstanding(task)
    if task.assignee_id == user.id:
        return task
    if task.assignee_id is not None:
        raise Conflict(f"task {task.id} is already assigned", details={"task_id": task.id})
    if not _in_queue(task, user):
        raise Forbidden(f"task {task.id} is for the {task.role}/{task.agency or 'any'} queue")
    task.assignee_id = user.id
    session.flush()
    _record(session, task, "task.claimed", f"{user.username} claimed task {task.id}",
            now=now, actor=user.username, assignee=user.username)
    return task


def reassign(session: Session, task: Task, *, user: User, assignee: User, now: datetime
             ) -> Task:
    """Give the task to ``assignee`` (same role as the task, active). The assignee or a
    team lead may reassign; the new assignee is sent a prompt."""
    _check_outstanding(task)
    if user.role not in SUPERVISORS and task.assignee_id != user.id:
        raise Forbidden("only the assignee or a team lead may reassign a task")
    if not assignee.active or assignee.role != task.role:
        raise InvalidInput(f"{assignee.username} cannot take a {task.role} task",
                           details={"field": "user", "role": assignee.role})
    previous = task.assignee_id
    task.assignee_id, task.agency = assignee.id, assignee.agency or task.agency
    session.flush()
    _record(session, task, "task.reassigned",
            f"{user.username} reassigned task {task.id} to {assignee.username}",
            now=now, actor=user.username, assignee=assignee.username, previous=previous)
    outbox.notify_task(session, task, [assignee], kind="prompt",
                       event=f"assigned:{int(now.timestamp())}", now=now,
                       prefix="Task assigned to you")
    return task


def complete(session: Session, task: Task, *, user: User, outcome: str, now: datetime,
             reevaluate_states: Collection[str] = (), note: str | None = None) -> Task:
    """Record the task's outcome (and an optional ``note``, kept in the audit entry) and
    close it. The outcome must be one of the template's.

    Outcomes are facts the rules use: when the case is in one of ``reevaluate_states``
    (the rule-evaluated stages) it is made due now, so the next pass applies them.
    """
    _check_outstanding(task)
    if not _may_act(task, user):
        raise Forbidden(f"task {task.id} is not yours or your queue's")
    allowed = allowed_outcomes(task.template)
    if not outcome or (allowed and outcome not in allowed):
        raise InvalidInput(f"outcome must be one of {', '.join(allowed or ['any text'])}",
                           details={"field": "outcome", "allowed": allowed})
    task.status, task.outcome, task.completed_at = "done", outcome, now
    if task.assignee_id is None:
        task.assignee_id = user.id
    case = task.case
    if (case.state in reevaluate_states and case.next_due_at is not None
            and case.next_due_at > now):
        case.next_due_at = now
    session.flush()
    note = (note or "").strip()[:2000] or None
    _record(session, task, "task.completed",
            f"{user.username} completed task {task.id} ({task.template}): {outcome}"
            + (f". Note: {note}" if note else ""),
            now=now, actor=user.username, outcome=outcome, **({"note": note} if note else {}))
    return task


def cancel(session: Session, task: Task, *, user: User, reason: str, now: datetime) -> Task:
    """Cancel an outstanding task (team leads and admins), with a reason."""
    _check_outstanding(task)
    if user.role not in SUPERVISORS:
        raise Forbidden("only a team lead may cancel a task")
    if not reason.strip():
        raise InvalidInput("a reason is required", details={"field": "reason"})
    task.status, task.outcome, task.completed_at = "cancelled", reason[:60], now
    session.flush()
    _record(session, task, "task.cancelled", f"{user.username} cancelled task {task.id}: "
            f"{reason}", now=now, actor=user.username, reason=reason)
    return task
