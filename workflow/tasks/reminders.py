"""Reminders before the due date, escalation when overdue, and the daily digest.

``remind_and_escalate`` is idempotent (``task.reminded_at`` / ``task.escalated_at`` and
the outbox's unique keys):

* reminder: an open task not yet reminded, not yet due, from the start of the working day
  ``remind_working_days`` (template, default 1) working days before its due date; sent to
  the assignee, else the queue. Audited ``task.reminded``.
* escalation: an open task whose due date (plus ``[tasks] escalate_after_working_days``)
  has passed becomes ``escalated``; every active team lead is notified. Audited
  ``task.escalated``.
* digest: from ``[tasks] digest_hour`` (UTC), once a day, each user with outstanding
  tasks assigned gets one e-mail listing them (key ``digest:{user}:{date}``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from db.models import Notification, Task, User
from workflow import audit
from workflow.sharing.mail import task_for
from workflow.tasks import outbox
from workflow.tasks.calendar import (
    LOCAL,
    add_working_days,
    working_day_after,
    working_days_before,
)
from workflow.tasks.routing import OUTSTANDING, queue_members
from workflow.tasks.templates import load_templates, remind_days


@dataclass
class ReminderReport:
    reminded: int = 0
    escalated: int = 0
    digests: int = 0

    def lines(self) -> list[str]:
        return [f"tasks: {self.reminded} reminded, {self.escalated} escalated, "
                f"{self.digests} digests queued"]


def _recipients(session: Session, task: Task) -> list[User]:
    if task.assignee_id is not None:
        user = session.get(User, task.assignee_id)
        return [user] if user is not None else []
    return queue_members(session, task.role, task.agency)


def _remind(session: Session, task: Task, *, now: datetime, actor: str) -> bool:
    days = remind_days(task.template)
    if days <= 0 or task.due_at <= now or now < working_days_before(task.due_at, days):
        return False
    task.reminded_at = now
    outbox.notify_task(session, task, _recipients(session, task), kind="reminder",
                       event="reminder", now=now, prefix="Reminder, due soon")
    audit.record(session, kind="task.reminded", actor=actor, occurred_at=now,
                 case_id=task.case_id, person_ref=task.case.person.partner_ref,
                 summary=f"Reminder for task {task.id} due {task.due_at.isoformat()}",
                 payload={"task_id": task.id, "template": task.template})
    return True


def _escalate(session: Session, task: Task, leads: list[User], *, now: datetime, actor: str,
              after_days: int) -> bool:
    deadline = add_working_days(task.due_at, after_days) if after_days else task.due_at
    if now <= deadline:
        return False
    task.status, task.escalated_at = "escalated", now
    outbox.notify_task(session, task, leads, kind="escalation", event="escalated", now=now,
                       prefix="Overdue task escalated")
    audit.record(session, kind="task.escalated", actor=actor, occurred_at=now,
                 case_id=task.case_id, person_ref=task.case.person.partner_ref,
                 summary=f"Task {task.id} ({task.template}) overdue since "
                         f"{task.due_at.isoformat()}: escalated to the team leads",
                 payload={"task_id": task.id, "template": task.template,
                          "due_at": task.due_at, "leads": [u.username for u in leads]})
    return True


def queue_digests(session: Session, *, now: datetime, hour: int) -> int:
    """Queue today's digest for every user with outstanding assigned tasks (once a day),
    each task titled as the sharing agreement lets the user see it.

    Who would get no digest anyway (no address, inactive, or today's already queued) is
    left out before any task is read or decided: every pass after the digest hour would
    otherwise load and decide every outstanding assigned task again, to queue nothing."""
    if now.hour < hour:
        return 0
    day = now.date().isoformat()
    outstanding = (Task.status.in_(OUTSTANDING), Task.assignee_id.is_not(None))
    assignees = list(session.scalars(select(Task.assignee_id).where(*outstanding).distinct()))
    keys = [f"digest:{uid}:{day}" for uid in assignees]
    done = set(session.scalars(select(Notification.dedupe_key).where(
        Notification.dedupe_key.in_(keys)))) if keys else set()
    users = [user for user in session.scalars(select(User).where(User.id.in_(assignees)))
             if user.email and user.active and f"digest:{user.id}:{day}" not in done]
    if not users:
        return 0
    by_user: dict[int, list[Task]] = defaultdict(list)
    for task in session.scalars(select(Task).where(
            *outstanding, Task.assignee_id.in_([u.id for u in users]))
            .order_by(Task.due_at, Task.id)):
        by_user[task.assignee_id].append(task)
    queued = 0
    for user in users:
        tasks = [(t, shown) for t in by_user[user.id]
                 if (shown := task_for(session, t, user, now=now)) is not None]
        if not tasks:
            continue
        overdue = sum(t.due_at is not None and t.due_at < now for t, _ in tasks)
        body = "\n".join(f"- [{'OVERDUE' if t.due_at and t.due_at < now else t.priority}] "
                         f"{title} (task {t.id}, case {t.case_id}, due "
                         f"{t.due_at:%d %b %Y})" for t, (title, _body) in tasks)
        note = outbox.enqueue(session, key=f"digest:{user.id}:{day}",
                              kind="digest", user=user, now=now,
                              subject=f"[IOM] Your tasks: {len(tasks)} open, {overdue} overdue",
                              body=body)
        queued += note is not None
    return queued


def reminder_horizon(now: datetime) -> datetime:
    """No task due at or after this instant can be reminded at ``now``: it lies past the
    end of the working day that the longest reminder period (any template's) counts
    from today, so at least that many working days separate today from its due day."""
    longest = max(int(t.get("remind_working_days", 1)) for t in load_templates().values())
    last = working_day_after(now.astimezone(LOCAL).date(), max(longest, 0))
    return datetime.combine(last + timedelta(days=2), time(0, 0), tzinfo=LOCAL).astimezone(UTC)


def _candidates(session: Session, now: datetime) -> list[Task]:
    """The open tasks a pass may escalate (due before ``now``) or remind (not reminded,
    due before :func:`reminder_horizon`), by due date: the others cannot act yet, and
    loading every open task each pass cost more than the pass's work."""
    return list(session.scalars(select(Task).where(
        Task.status == "open", Task.due_at.is_not(None),
        or_(Task.reminded_at.is_(None), Task.escalated_at.is_(None)),
        or_(Task.due_at <= now, and_(Task.reminded_at.is_(None),
                                     Task.due_at < reminder_horizon(now))))
        .order_by(Task.due_at, Task.id)))


def remind_and_escalate(session: Session, *, now: datetime, actor: str,
                        settings) -> ReminderReport:
    """Send due reminders, escalate overdue tasks and queue digests; flush (no commit).

    ``settings``: a :class:`~workflow.config.Settings` or a ``[tasks]`` mapping.
    """
    tasks_cfg: Mapping = getattr(settings, "tasks", settings) or {}
    after = int(tasks_cfg.get("escalate_after_working_days", 0))
    report = ReminderReport()
    leads = list(session.scalars(select(User).where(User.role == "team_lead",
                                                    User.active.is_(True))))
    for task in _candidates(session, now):
        if _escalate(session, task, leads, now=now, actor=actor, after_days=after):
            report.escalated += 1
        elif task.reminded_at is None and _remind(session, task, now=now, actor=actor):
            report.reminded += 1
    report.digests = queue_digests(session, now=now, hour=int(tasks_cfg.get("digest_hour", 7)))
    session.flush()
    return report
