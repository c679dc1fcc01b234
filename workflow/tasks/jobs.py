"""The one entry point the scheduler runs for tasks: :func:`run_task_jobs`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from db.session import run_in_transaction
from workflow.tasks.compliance_pass import ComplianceReport, run_compliance_pass
from workflow.tasks.outbox import DeliveryReport, deliver_outbox
from workflow.tasks.reminders import ReminderReport, remind_and_escalate


@dataclass
class TaskJobReport:
    compliance: ComplianceReport = field(default_factory=ComplianceReport)
    reminders: ReminderReport = field(default_factory=ReminderReport)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def raised(self) -> int:
        """Tasks raised by the compliance rules in this pass."""
        return self.compliance.raised

    @property
    def failed(self) -> dict[int, str]:
        """Per-case failures, as other jobs report them: the compliance checks that
        failed (undelivered e-mail stays in the outbox and is retried; the reminders
        are all-or-nothing)."""
        return self.compliance.failed

    def lines(self) -> list[str]:
        return ([f"tasks: {self.raised} raised by compliance rules "
                 f"({self.compliance.checked} cases checked)"]
                + self.reminders.lines() + self.delivery.lines())


def run_task_jobs(runtime, now: datetime, *, actor: str = "scheduler") -> TaskJobReport:
    """One pass: compliance rules over the active cases due for them
    (``workflow/tasks/compliance_pass.py``: catches partner-imported arrests and rules
    that fire as time passes), reminders/escalations/digests, then outbox delivery. Each
    step is its own transaction(s), so a failed delivery never undoes the reminders
    queued before it."""
    settings = runtime.settings
    report = TaskJobReport(compliance=run_compliance_pass(runtime, now, actor=actor))
    # Each step runs again from the start if it lost to a concurrent transaction.
    report.reminders = run_in_transaction(runtime.sessions, lambda session: remind_and_escalate(
        session, now=now, actor=actor, settings=settings))
    report.delivery = deliver_outbox(
        runtime.sessions, settings.smtp, now=now,
        retry_base_seconds=settings.tasks["retry_base_seconds"],
        retry_max_seconds=settings.tasks["retry_max_seconds"])
    return report
