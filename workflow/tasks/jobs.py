"""The one entry point the scheduler runs for tasks: :func:`run_task_jobs`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from db.models import Case
from db.session import run_in_transaction
from workflow.tasks.compliance import compliance_rulesets, evaluate_compliance_many
from workflow.tasks.outbox import DeliveryReport, deliver_outbox
from workflow.tasks.reminders import ReminderReport, remind_and_escalate

ACTIVE_STATES = ("allocated", "review", "suspended")


@dataclass
class TaskJobReport:
    raised: int = 0
    reminders: ReminderReport = field(default_factory=ReminderReport)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def failed(self) -> dict[int, str]:
        """Per-case failures, as other jobs report them: none here, since undelivered
        e-mail stays in the outbox and is retried, and the other steps are all-or-nothing."""
        return {}

    def lines(self) -> list[str]:
        return ([f"tasks: {self.raised} raised by compliance rules"]
                + self.reminders.lines() + self.delivery.lines())


def run_task_jobs(runtime, now: datetime, *, actor: str = "scheduler",
                  batch: int = 1000) -> TaskJobReport:
    """One pass: compliance rules over active cases (catches partner-imported arrests),
    reminders/escalations/digests, then outbox delivery. Each step is its own
    transaction, so a failed delivery never undoes the reminders queued before it."""
    from workflow.policy.store import policy_in_force

    settings = runtime.settings
    report = TaskJobReport()

    def compliance(session) -> int:
        cases = list(session.scalars(select(Case).where(
            Case.closed_at.is_(None), Case.state.in_(ACTIVE_STATES)).order_by(Case.id)
            .limit(batch)))
        policy = policy_in_force(session, settings, now)
        return len(evaluate_compliance_many(
            session, cases, now=now, actor=actor, policy=policy,
            rulesets=compliance_rulesets(policy)))

    # Each step runs again from the start if it lost to a concurrent transaction.
    report.raised = run_in_transaction(runtime.sessions, compliance)
    report.reminders = run_in_transaction(runtime.sessions, lambda session: remind_and_escalate(
        session, now=now, actor=actor, settings=settings))
    report.delivery = deliver_outbox(
        runtime.sessions, settings.smtp, now=now,
        retry_base_seconds=settings.tasks["retry_base_seconds"],
        retry_max_seconds=settings.tasks["retry_max_seconds"])
    return report
