"""Tasks: inbox (mine / queue / overdue), detail, claim, reassign, complete, cancel."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.dumping import FastDumpSchema
from api.edge import MAX_ID
from api.schemas import PAGE_ARGS, PageQuery, page_args, page_body, page_of
from db.models import User
from workflow.errors import NotFound
from workflow.policy.store import policy_in_force
from workflow.sharing.decide import Viewer
from workflow.sharing.view import tasks_as_seen
from workflow.tasks import service
from workflow.tasks.inbox import SCOPES, STATUSES, get_task, inbox_page

blp = Blueprint("tasks", __name__, description="Task prompts and enforcement")


class TaskQuery(PageQuery):
    scope = fields.String(load_default="mine", validate=validate.OneOf(SCOPES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    case_id = fields.Integer(validate=validate.Range(0, MAX_ID))
    template = fields.String(validate=validate.Length(1, 60))


class TaskOut(FastDumpSchema):
    id = fields.Integer()
    case_id = fields.Integer()
    template = fields.String()
    title = fields.Raw(metadata={"description": "text, or a withheld marker (sharing)"})
    body = fields.Raw(metadata={"description": "text, or a withheld marker (sharing)"})
    role = fields.String(allow_none=True)
    agency = fields.String(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    priority = fields.String()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Function(lambda t: _overdue(t))
    rule_id = fields.String(allow_none=True)
    ruleset = fields.String(allow_none=True)
    ruleset_version = fields.String(allow_none=True)
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    reminded_at = fields.DateTime(allow_none=True)
    escalated_at = fields.DateTime(allow_none=True)


TaskPage = page_of(TaskOut, "TaskPage")


def _overdue(task) -> bool:
    get = task.get if isinstance(task, dict) else lambda name: getattr(task, name)
    return bool(get("status") in ("open", "escalated") and get("due_at")
                and get("due_at") < datetime.now(UTC))


def _shown(tasks: list) -> list[dict]:
    """The tasks as the sharing agreement lets the caller see them (``tasks_as_seen``)."""
    return tasks_as_seen(g.session, tasks, viewer=Viewer.of(g.user), now=_now())


class ReassignIn(Schema):
    user = fields.String(required=True, validate=validate.Length(1, 60))


class CompleteIn(Schema):
    outcome = fields.String(required=True, validate=validate.Length(1, 60))
    note = fields.String(validate=validate.Length(0, 2000))  # kept in the audit entry


class CancelIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 500))


def _now() -> datetime:
    return datetime.now(UTC)


@blp.route("/tasks")
class Tasks(MethodView):
    @blp.arguments(TaskQuery(), location="query")
    @blp.response(200, TaskPage)
    def get(self, query):
        """My tasks (scope=mine), my team's unassigned queue, overdue tasks, or all."""
        filters = {k: v for k, v in query.items() if k not in PAGE_ARGS}
        page = inbox_page(g.session, g.user, now=_now(), **page_args(query), **filters)
        return page_body(page, query) | {"items": _shown(page.rows)}


@blp.route("/tasks/<int:task_id>")
class TaskDetail(MethodView):
    @blp.response(200, TaskOut)
    def get(self, task_id):
        """One task, as the sharing agreement lets you see it (404 when it withholds
        tasks on the case from you)."""
        shown = _shown([get_task(g.session, task_id)])
        if not shown:
            raise NotFound(f"task {task_id} not found", details={"task_id": task_id})
        return shown[0]


@blp.route("/tasks/<int:task_id>/claim")
class TaskClaim(MethodView):
    @blp.response(200, TaskOut)
    def post(self, task_id):
        """Take an unassigned task from my queue."""
        return service.claim(g.session, get_task(g.session, task_id), user=g.user, now=_now())


@blp.route("/tasks/<int:task_id>/reassign")
class TaskReassign(MethodView):
    @blp.arguments(ReassignIn())
    @blp.response(200, TaskOut)
    def post(self, body, task_id):
        """Give the task to another user (by username) of the task's role."""
        assignee = g.session.scalars(select(User).where(User.username == body["user"])).first()
        if assignee is None:
            raise NotFound(f"user {body['user']} not found", details={"field": "user"})
        return service.reassign(g.session, get_task(g.session, task_id), user=g.user,
                                assignee=assignee, now=_now())


@blp.route("/tasks/<int:task_id>/complete")
class TaskComplete(MethodView):
    @blp.arguments(CompleteIn())
    @blp.response(200, TaskOut)
    def post(self, body, task_id):
        """Close the task with one of its template's outcomes."""
        return service.complete(g.session, get_task(g.session, task_id), user=g.user,
                                outcome=body["outcome"], now=_now(), note=body.get("note"),
                                reevaluate_states=tuple(policy_in_force(
                                    g.session, g.runtime.settings, _now()).stages))


@blp.route("/tasks/<int:task_id>/cancel")
class TaskCancel(MethodView):
    @blp.arguments(CancelIn())
    @blp.response(200, TaskOut)
    def post(self, body, task_id):
        """Cancel an outstanding task, with a reason (team leads)."""
        return service.cancel(g.session, get_task(g.session, task_id), user=g.user,
                              reason=body["reason"], now=_now())
