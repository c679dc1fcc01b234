"""The ONE way the pages get case data: every case, task, panel and audit page calls a
function here, and these call ``workflow/`` (never the database or the API's views).

The information sharing agreement applies here, by the same decision the API uses
(``workflow.sharing``): fields a viewer may not see are left out or masked (the page says
"Withheld" and whom to ask), a restricted case shows ``*********`` and "Restricted
access", task titles and bodies go through ``task_view``, timelines through
``explain_case(redact=...)``, and each page view of a case writes one access log row
(``via: web``) with its purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflow.case_summary import (
    CaseSummary,
    audit_decision,
    audit_explanation,
    case_decision,
    colleagues_for,
    open_tasks,
    record_read,
    summary_for,
)
from workflow.cases import get_case
from workflow.errors import Forbidden, NotFound
from workflow.explain import ExplainLine, explain_case, explain_task
from workflow.explain_detail import explain_entry, latest_moves
from workflow.permissions import task_visible
from workflow.sharing.decide import Viewer
from workflow.sharing.redact import redact_entry, redact_facts, task_view
from workflow.sharing.view import require_unrestricted
from workflow.tasks.inbox import get_task
from workflow.tasks.routing import OUTSTANDING
from workflow.tasks.templates import allowed_outcomes


@dataclass(frozen=True)
class CasePage:
    case: CaseSummary
    tasks: list  # open tasks as dicts (task_view), most urgent first
    timeline: list[ExplainLine]  # newest first, without the access log, redacted


@dataclass(frozen=True)
class TaskPage:
    task: dict  # the task as the viewer may see it (task_view)
    case: CaseSummary
    why: str | None  # the rule in plain words with the facts that triggered it
    outcomes: list[str] | None  # allowed outcomes, None: any text
    colleagues: list  # users the task may be given to
    outstanding: bool


def _read(session, viewer, case_id: int, what: str, now: datetime, purpose=None):
    """``(case, decision, summary)`` of one case, the read recorded."""
    case = get_case(session, case_id)
    decision = case_decision(session, case, viewer=viewer, now=now, purpose=purpose)
    summary = summary_for(session, case, decision)
    record_read(session, case, viewer=viewer, now=now, what=what, decision=decision)
    return case, decision, summary


def case_page(session, viewer, case_id: int, *, now: datetime) -> CasePage:
    """Summary, open tasks and the plain-language timeline of case ``case_id``, as the
    agreement lets ``viewer`` see them (a restricted case: no task, no timeline)."""
    _case, decision, summary = _read(session, viewer, case_id, "case page", now)
    if decision.restricted:
        return CasePage(summary, [], [])
    tasks = [v for v in (task_view(t, decision) for t in open_tasks(session, case_id)) if v]
    try:
        lines = explain_case(session, case_id, reads=False,
                             redact=lambda entry: redact_entry(entry, decision))
    except NotFound:
        lines = []
    return CasePage(summary, tasks, list(reversed(lines)))


def _why(session, task, decision) -> str | None:
    """Why the task was raised, with a rule on a withheld fact named only as such."""
    def shown(d: dict) -> dict:
        return redact_facts({"decisions": [d]}, decision)["decisions"][0]

    return explain_task(session, task.case_id, task.id, redact=shown)


def visible_task(session, viewer, task_id: int):
    """The task, when ``viewer``'s inbox shows it (as the API's ``task_visible``);
    Forbidden otherwise, NotFound when absent. For the task pages' actions."""
    task = get_task(session, task_id)
    if not task_visible(viewer, task):
        raise Forbidden(f"Task {task.id} is not in your inbox.")
    return task


def task_page(session, viewer, task_id: int, *, now: datetime) -> TaskPage:
    """A task with why it was raised, what may be recorded and who may take it. Only a
    task the viewer's inbox shows, on a case they may see (403 otherwise)."""
    task = visible_task(session, viewer, task_id)
    _case, decision, summary = _read(session, viewer, task.case_id, "task page", now)
    require_unrestricted(decision)
    shown = task_view(task, decision)
    if shown is None:
        raise Forbidden("The information sharing agreement does not share this case's "
                        f"tasks with you. {decision.ask('tasks')}.")
    return TaskPage(task=shown, case=summary, why=_why(session, task, decision),
                    outcomes=allowed_outcomes(task.template),
                    colleagues=[u for u in colleagues_for(session, task.role)
                                if u.id != task.assignee_id],
                    outstanding=task.status in OUTSTANDING)


def task_rows(session, viewer, tasks: list, *, now: datetime) -> list[dict]:
    """Inbox rows as the agreement lets ``viewer`` see them (titles masked or the
    person's name scrubbed; tasks withheld left out)."""
    from workflow.sharing.view import tasks_as_seen

    return tasks_as_seen(session, tasks, viewer=Viewer.of(viewer), now=now)


@dataclass(frozen=True)
class AgendaItem:
    item: object  # the PanelItem row
    case: CaseSummary
    why: object  # why the case is on the agenda (or a marker: risk/notes withheld)
    came: object  # how the case reached panel (None: not shown to this viewer)
    reason: object = None  # the panel decision's reason (a marker: notes withheld)


def agenda_page(session, viewer, meeting_id: int, *, now: datetime):
    """``(meeting, [AgendaItem])`` in agenda order, for the ``panel`` purpose; each case
    read is recorded. The reason (scores, rules) needs ``risk`` and ``notes``; how the
    case came (the rules that moved it) needs ``audit``."""
    from workflow.panel import agenda_reasons, get_meeting

    meeting = get_meeting(session, meeting_id)
    reasons = agenda_reasons(session, meeting)
    came = latest_moves(session, [i.case_id for i in meeting.items], to="panel")
    items = []
    for item in sorted(meeting.items, key=lambda i: i.rank):
        _c, decision, summary = _read(session, viewer, item.case_id, "panel agenda", now,
                                      purpose="panel")
        why = reasons.get(item.case_id, "On the agenda.")
        hidden = [g for g in ("risk", "notes") if not decision.shows(g)]
        if hidden:
            why = decision.marker(hidden[0])
        reason = item.reason if decision.shows("notes") or not item.reason else (
            decision.marker("notes"))
        items.append(AgendaItem(item, summary, why, came.get(item.case_id)
                                if decision.shows("audit") else None, reason))
    return meeting, items


def minutes(session, viewer, meeting_id: int, *, now: datetime) -> dict:
    """The meeting's minutes with each row as ``viewer`` may see it (``panel_rows``);
    the read is recorded."""
    from workflow import panel
    from workflow.sharing.access import record_read as record_access
    from workflow.sharing.view import panel_rows

    data = panel.minutes(session, meeting_id)
    who = Viewer.of(viewer)
    data["items"] = panel_rows(session, data["items"], viewer=who, now=now)
    record_access(session, viewer=who, what="panel minutes", purpose="panel", now=now,
                  query={"meeting": meeting_id}, via="web",
                  case_ids=[r["case_id"] for r in data["items"]])
    return data


def chronology(session, viewer, case_id: int, *, now: datetime) -> list[ExplainLine]:
    """Every audit entry about the case, oldest first, in words (reads included), as the
    agreement's ``audit`` purpose lets ``viewer`` see them; works after the case's data
    is purged. The read is recorded. NotFound when none."""
    return audit_explanation(session, viewer, case_id, now=now)


def decision(session, viewer, case_id: int, seq: int, *, now: datetime):
    """``(line, decisions)`` of audit entry ``seq`` (see :func:`explain_entry`), redacted
    for ``viewer``; recorded."""
    case, dec = audit_decision(session, viewer, case_id, now=now)
    require_unrestricted(dec)
    line, rows = explain_entry(session, case_id, seq,
                               redact=lambda e: redact_entry(e, dec))
    record_read(session, case, viewer=viewer, now=now, what=f"audit entry {seq}",
                decision=dec, case_id=case_id)
    return line, rows


def case_export(session, viewer, case_id: int, out, *, fmt: str, now: datetime) -> int:
    """Write the case's chronology (``json``/``text``) or its audit entries
    (``jsonl``/``csv``) to ``out``; returns the entry count. The read is recorded.

    The chronology is explained as the agreement's ``audit`` purpose lets ``viewer`` see
    it; the entries are the verifiable chain, not redacted (docs/sharing.md, known
    limits), so they need the ``audit`` group shown."""
    from workflow.audit_export import CASE_FORMATS, export_case, export_chain

    case, dec = audit_decision(session, viewer, case_id, now=now)
    require_unrestricted(dec)
    if fmt in CASE_FORMATS:
        count = export_case(session, case_id, out, fmt=fmt, now=now,
                            redact=lambda e: redact_entry(e, dec))
    else:
        if not dec.shows("audit"):
            raise Forbidden("The information sharing agreement does not share this case's "
                            f"audit entries with you. {dec.ask('audit')}.")
        count = export_chain(session, out, fmt=fmt, case_id=case_id).count
        if not count:
            raise NotFound(f"the audit holds no entry about case {case_id}")
    record_read(session, case, viewer=viewer, now=now, what=f"audit export ({fmt})",
                decision=dec, case_id=case_id)
    return count
