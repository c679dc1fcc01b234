"""The ONE way the pages get case data: every case or task page calls a function here,
and these call ``workflow/`` (never the database or the API's views).

This is where the information-sharing agreement applies (which fields each agency may
see, masking, the access log): the functions take the viewer so that one filter, here,
covers every page. Each read of a case is audited (``workflow.case_summary``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflow import audit
from workflow.case_summary import CaseSummary, case_summary, colleagues_for, open_tasks
from workflow.errors import NotFound
from workflow.explain import ExplainLine, explain_case, explain_task
from workflow.explain_detail import explain_entry, latest_moves
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


@dataclass(frozen=True)
class AgendaItem:
    item: object  # the PanelItem row
    case: CaseSummary
    why: str  # why the case is on the agenda
    came: str | None  # how the case reached panel (the latest move, in words)


def agenda_page(session, viewer, meeting_id: int, *, now: datetime):
    """``(meeting, [AgendaItem])`` in agenda order; each case read is audited."""
    from workflow.panel import agenda_reasons, get_meeting

    meeting = get_meeting(session, meeting_id)
    reasons = agenda_reasons(session, meeting)
    came = latest_moves(session, [i.case_id for i in meeting.items], to="panel")
    items = []
    for item in sorted(meeting.items, key=lambda i: i.rank):
        summary = case_summary(session, item.case_id, viewer=viewer, now=now,
                               what="panel agenda")
        items.append(AgendaItem(item, summary, reasons.get(item.case_id, "On the agenda."),
                                came.get(item.case_id)))
    return meeting, items


def _audited(session, viewer, case_id: int, refs: set, what: str, now: datetime) -> None:
    refs = sorted(r for r in refs if r)
    audit.record(session, kind="case.read", actor=viewer.username, occurred_at=now,
                 case_id=case_id, person_ref=refs[0] if len(refs) == 1 else None,
                 summary=f"{viewer.username} ({viewer.role}) read the {what} of case "
                         f"{case_id}",
                 payload={"what": what, "role": viewer.role, "via": "web"})


def chronology(session, viewer, case_id: int, *, now: datetime) -> list[ExplainLine]:
    """Every audit entry about the case, oldest first, in words (reads included); works
    after the case's data is purged. The read is audited. NotFound when none."""
    lines = explain_case(session, case_id)
    _audited(session, viewer, case_id, {x.person_ref for x in lines}, "audit explanation",
             now)
    return lines


def decision(session, viewer, case_id: int, seq: int, *, now: datetime):
    """``(line, decisions)`` of audit entry ``seq`` (see :func:`explain_entry`); audited."""
    line, rows = explain_entry(session, case_id, seq)
    _audited(session, viewer, case_id, {line.person_ref}, f"audit entry {seq}", now)
    return line, rows


def case_export(session, viewer, case_id: int, out, *, fmt: str, now: datetime) -> int:
    """Write the case's chronology (``json``/``text``) or its audit entries
    (``jsonl``/``csv``) to ``out``; returns the entry count. The read is audited."""
    from workflow.audit_export import CASE_FORMATS, export_case, export_chain

    if fmt in CASE_FORMATS:
        count = export_case(session, case_id, out, fmt=fmt, now=now)
    else:
        count = export_chain(session, out, fmt=fmt, case_id=case_id).count
        if not count:
            raise NotFound(f"the audit holds no entry about case {case_id}")
    _audited(session, viewer, case_id, set(), f"audit export ({fmt})", now)
    return count
