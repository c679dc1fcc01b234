"""The ONE way the pages get case data: every case or task page calls a function here,
and these call ``workflow/`` (never the database or the API's views).

This is where the information-sharing agreement applies (which fields each agency may
see, masking, the access log): the functions take the viewer so that one filter, here,
covers every page. Each read of a case is audited (``workflow.case_summary``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflow.case_summary import CaseSummary, case_summary, colleagues_for, open_tasks
from workflow.errors import NotFound
from workflow.explain import ExplainLine, explain_case, explain_task
from workflow.tasks.inbox import get_task
from workflow.tasks.routing import OUTSTANDING
from workflow.tasks.templates import allowed_outcomes


@dataclass(frozen=True)
class CasePage:
    case: CaseSummary
    tasks: list  # open Task rows, most urgent first
    timeline: list[ExplainLine]  # newest first, without the access log


@dataclass(frozen=True)
class TaskPage:
    task: object  # the Task row
    case: CaseSummary
    why: str | None  # the rule in plain words with the facts that triggered it
    outcomes: list[str] | None  # allowed outcomes, None: any text
    colleagues: list  # users the task may be given to
    outstanding: bool


def case_page(session, viewer, case_id: int, *, now: datetime) -> CasePage:
    """Summary, open tasks and the plain-language timeline of case ``case_id``."""
    summary = case_summary(session, case_id, viewer=viewer, now=now)
    try:
        lines = explain_case(session, case_id, reads=False)
    except NotFound:
        lines = []
    timeline = [line for line in reversed(lines) if line.section != "access"]
    return CasePage(summary, open_tasks(session, case_id), timeline)


def task_page(session, viewer, task_id: int, *, now: datetime) -> TaskPage:
    """A task with why it was raised, what may be recorded and who may take it."""
    task = get_task(session, task_id)
    summary = case_summary(session, task.case_id, viewer=viewer, now=now, what="task page")
    return TaskPage(task=task, case=summary, why=explain_task(session, task.case_id, task.id),
                    outcomes=allowed_outcomes(task.template),
                    colleagues=[u for u in colleagues_for(session, task.role)
                                if u.id != task.assignee_id],
                    outstanding=task.status in OUTSTANDING)
