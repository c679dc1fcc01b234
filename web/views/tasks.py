"""My tasks, a task, and what people do with it: claim, reassign, complete, cancel.

The same workflow services as the API's ``api/views/tasks.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, redirect, render_template, request, url_for

from web import case_data
from web.auth import roles
from web.blueprint import bp
from workflow.errors import InvalidInput
from workflow.policy.store import policy_in_force
from workflow.tasks import service
from workflow.tasks.inbox import SORTS, get_task, list_tasks, task_counts
from workflow.tasks.templates import load_templates
from workflow.users import user_named

ALL = ("team_lead", "offender_manager", "police", "auditor")
WORKERS = ("team_lead", "offender_manager", "police")
SCOPES = {"mine": "Assigned to me", "queue": "My team's queue", "overdue": "Overdue"}
SORT_LABELS = {"due": "Due date", "priority": "Priority", "case": "Case", "newest": "Newest"}
PER_PAGE = 50


def _now() -> datetime:
    return datetime.now(UTC)


def _choice(name: str, allowed, default: str) -> str:
    value = request.args.get(name, default)
    return value if value in allowed else default


@bp.route("/tasks")
@roles(*ALL)
def my_tasks():
    now = _now()
    scope = _choice("scope", SCOPES, "mine")
    sort = _choice("sort", SORTS, "due")
    templates = sorted(k for k in load_templates() if not k.startswith("__"))
    template = _choice("template", templates, "")
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100_000))
    tasks, total = list_tasks(g.session, g.user, now=now, scope=scope, sort=sort, page=page,
                              per_page=PER_PAGE, template=template or None)
    return render_template("tasks/list.html", user=g.user, tasks=tasks, total=total,
                           counts=task_counts(g.session, g.user, now=now), scope=scope,
                           scopes=SCOPES, sort=sort, sorts=SORT_LABELS, template=template,
                           templates=templates, page=page, per_page=PER_PAGE, now=now)


def _task_form(task_id: int, errors=(), status=200, form=None):
    page = case_data.task_page(g.session, g.user, task_id, now=_now())
    return render_template("tasks/show.html", user=g.user, page=page, task=page.task,
                           errors=list(errors), form=form or {}, now=_now()), status


@bp.route("/tasks/<int:task_id>")
@roles(*ALL)
def task(task_id: int):
    return _task_form(task_id)


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@roles(*WORKERS)
def claim_task(task_id: int):
    service.claim(g.session, get_task(g.session, task_id), user=g.user, now=_now())
    return redirect(url_for("web.task", task_id=task_id, done="claimed"), 303)


@bp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@roles(*WORKERS)
def complete_task(task_id: int):
    outcome = request.form.get("outcome", "").strip()
    note = request.form.get("note", "")
    if not outcome:
        return _task_form(task_id, [{"text": "Select what happened", "href": "#outcome"}],
                          400, request.form)
    if len(note) > 2000:
        return _task_form(task_id, [{"text": "The note must be 2,000 characters or fewer",
                                     "href": "#note"}], 400, request.form)
    now = _now()
    try:
        service.complete(g.session, get_task(g.session, task_id), user=g.user, outcome=outcome,
                         note=note, now=now, reevaluate_states=tuple(policy_in_force(
                             g.session, g.runtime.settings, now).stages))
    except InvalidInput as exc:
        return _task_form(task_id, [{"text": exc.message, "href": "#outcome"}], 400,
                          request.form)
    return redirect(url_for("web.task", task_id=task_id, done="completed"), 303)


@bp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@roles(*WORKERS)
def reassign_task(task_id: int):
    username = request.form.get("assignee", "").strip()
    assignee = user_named(g.session, username) if username else None
    if assignee is None:
        return _task_form(task_id, [{"text": "Select who should do this task",
                                     "href": "#assignee"}], 400, request.form)
    try:
        service.reassign(g.session, get_task(g.session, task_id), user=g.user,
                         assignee=assignee, now=_now())
    except InvalidInput as exc:
        return _task_form(task_id, [{"text": exc.message, "href": "#assignee"}], 400,
                          request.form)
    return redirect(url_for("web.task", task_id=task_id, done="reassigned"), 303)


@bp.route("/tasks/<int:task_id>/cancel", methods=["GET", "POST"])
@roles("team_lead")
def cancel_task(task_id: int):
    """Cancel a task with a reason (team leads only: others get the 403 page)."""
    task = get_task(g.session, task_id)
    errors = []
    if request.method == "POST":
        reason = request.form.get("reason", "").strip()
        if not reason:
            errors.append({"text": "Enter why the task is cancelled", "href": "#reason"})
        elif len(reason) > 500:
            errors.append({"text": "The reason must be 500 characters or fewer",
                           "href": "#reason"})
        else:
            service.cancel(g.session, task, user=g.user, reason=reason, now=_now())
            return redirect(url_for("web.task", task_id=task_id, done="cancelled"), 303)
    return render_template("tasks/cancel.html", user=g.user, task=task, errors=errors,
                           reason=request.form.get("reason", "")), 400 if errors else 200

