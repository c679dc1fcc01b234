"""Who a task goes to, and whether a decision should raise it again.

Routing (``route``): a task goes to a *person* when one is known, else to a *queue*
(role + agency):

* the case's lead professional, when the lead's role is the task's role;
* else, for role ``offender_manager``, the offender manager user of the person's open
  supervision;
* else the queue of the role, for the agency of the open supervision (NPS/CRC) for
  offender managers, ``police`` for police, no agency for team leads and admins.

Suppression (``suppressed``): a decision does not raise a task when the case already has
an outstanding task (open or escalated) of the same template, nor when a closed one was
raised after the latest *evidence* for that template: the template's ``evidence`` kinds
(compliance event kinds; arrest/charge/conviction also read offending events). Without
``evidence`` a closed task is never raised again on the same case (one per episode).
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Case, ComplianceEvent, OffendingEvent, Supervision, Task, User
from workflow.tasks.templates import template

OUTSTANDING = ("open", "escalated")
OFFENDING_KINDS = ("arrest", "charge", "conviction")


def open_supervision(session: Session, case: Case, *, now: datetime) -> Supervision | None:
    """The person's supervision in force on ``now``'s date (latest start), or None."""
    today = now.date()
    rows = session.scalars(select(Supervision).where(
        Supervision.person_id == case.person_id, Supervision.start_on <= today)
        .order_by(Supervision.start_on.desc(), Supervision.id.desc())).all()
    return next((s for s in rows if s.end_on is None or s.end_on >= today), None)


def lead_role(session: Session, case: Case) -> str | None:
    lead = session.get(User, case.lead_user_id) if case.lead_user_id else None
    return lead.role if lead is not None else None


def route(session: Session, case: Case, role: str, *, now: datetime
          ) -> tuple[User | None, str | None]:
    """``(assignee or None, queue agency or None)`` for a task of ``role`` on ``case``."""
    lead = session.get(User, case.lead_user_id) if case.lead_user_id else None
    if lead is not None and lead.active and lead.role == role:
        return lead, lead.agency
    supervision = open_supervision(session, case, now=now)
    if role == "offender_manager" and supervision is not None:
        manager = (session.get(User, supervision.offender_manager_user_id)
                   if supervision.offender_manager_user_id else None)
        if manager is not None and manager.active and manager.role == role:
            return manager, manager.agency
        if supervision.provider in ("NPS", "CRC"):
            return None, supervision.provider
    if role == "police":
        return None, "police"
    return None, None


def latest_evidence(session: Session, case: Case, kinds: list[str]) -> datetime | None:
    """When evidence of ``kinds`` about the case's person last arrived (UTC), or None."""
    if not kinds:
        return None
    recorded = session.scalar(select(func.max(ComplianceEvent.recorded_at)).where(
        ComplianceEvent.person_id == case.person_id, ComplianceEvent.kind.in_(kinds)))
    offending = [k for k in kinds if k in OFFENDING_KINDS]
    day = session.scalar(select(func.max(OffendingEvent.occurred_on)).where(
        OffendingEvent.person_id == case.person_id, OffendingEvent.kind.in_(offending))
    ) if offending else None
    if isinstance(recorded, datetime) and recorded.tzinfo is None:  # raw aggregate on SQLite
        recorded = recorded.replace(tzinfo=UTC)
    if isinstance(recorded, str):
        recorded = datetime.fromisoformat(recorded).replace(tzinfo=UTC)
    candidates = [recorded, datetime.combine(day, time(0), tzinfo=UTC) if day else None]
    return max((c for c in candidates if c is not None), default=None)


def suppressed(session: Session, case: Case, template_name: str) -> bool:
    """True when a decision for ``template_name`` must not raise a task (module docstring)."""
    tasks = session.scalars(select(Task).where(
        Task.case_id == case.id, Task.template == template_name)).all()
    if any(t.status in OUTSTANDING for t in tasks):
        return True
    if not tasks:
        return False
    evidence = latest_evidence(session, case, list(template(template_name).get("evidence", [])))
    last_raised = max(t.created_at for t in tasks)
    return evidence is None or last_raised >= evidence


def queue_members(session: Session, role: str | None, agency: str | None) -> list[User]:
    """Active users of ``role`` (and ``agency`` when the queue has one)."""
    query = select(User).where(User.active.is_(True), User.role == role)
    if agency is not None:
        query = query.where(User.agency == agency)
    return list(session.scalars(query.order_by(User.id)))
