"""Task e-mails as their recipient may see the task (``workflow.tasks.outbox`` and the
daily digest call :func:`task_for`): the same decision as every other read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from workflow.sharing.decide import Viewer, decision_for
from workflow.sharing.redact import plain, task_view


def task_for(session: Session, task, user, *, now: datetime) -> tuple[str, str] | None:
    """``(title, body)`` of ``task`` as ``user`` may see it, or None when the sharing
    agreement (or a restriction list) withholds the case's tasks from them."""
    decision = decision_for(session, task.case, viewer=Viewer.of(user), now=now,
                            purpose="case_management")
    view = task_view(task, decision)
    if view is None:
        return None
    return plain(view["title"]), plain(view["body"])
