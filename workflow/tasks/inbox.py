"""Task inbox queries: mine, my team's queue, overdue, with filters. Read only.

* ``mine``: outstanding tasks assigned to the user.
* ``queue``: outstanding, unassigned tasks of the user's role (and agency, when the task's
  queue has one).
* ``overdue``: outstanding tasks past their due date: all of them for team leads, admins
  and auditors; the user's own and queue's otherwise.
* ``all``: any status; everything for team leads, admins and auditors, else own + queue.

``status`` (open, escalated, done, cancelled), ``case_id`` and ``template`` narrow any
scope; ``status`` replaces the default "outstanding" filter of mine/queue/overdue.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from db.models import Task, User
from workflow.errors import InvalidInput, NotFound
from workflow.pages import Key, Page, page_of_rows, seek_page
from workflow.tasks.routing import OUTSTANDING

SCOPES = ("mine", "queue", "overdue", "all")
STATUSES = ("open", "escalated", "done", "cancelled")
OVERSEERS = ("team_lead", "admin", "auditor")


def _queue_of(user: User):
    return and_(Task.assignee_id.is_(None), Task.role == user.role,
                or_(Task.agency.is_(None), Task.agency == user.agency))


def _mine(user: User):
    # A user who is not stored (the host administrator) has no id and owns no task.
    return Task.assignee_id == user.id if user.id is not None else false()


def _visible(user: User):
    return or_(_mine(user), _queue_of(user))


def task_query(user: User, *, scope: str = "mine", now: datetime, status: str | None = None,
               case_id: int | None = None, template: str | None = None) -> Select:
    """The SELECT for ``scope`` as seen by ``user`` (see module docstring)."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}", details={"field": "scope"})
    query = select(Task)
    if scope == "mine":
        query = query.where(_mine(user))
    elif scope == "queue":
        query = query.where(_queue_of(user))
    elif user.role not in OVERSEERS:
        query = query.where(_visible(user))
    if scope == "overdue":
        query = query.where(Task.due_at < now)
    if status:
        query = query.where(Task.status == status)
    elif scope != "all":
        query = query.where(Task.status.in_(OUTSTANDING))
    if case_id is not None:
        query = query.where(Task.case_id == case_id)
    if template:
        query = query.where(Task.template == template)
    return query


_URGENCY = case((Task.priority == "urgent", 0), (Task.priority == "high", 1), else_=2)
# Orders a list may take: due date (most urgent first, the default), priority, case, newest.
SORTS = {
    "due": (Task.due_at.is_(None), Task.due_at, Task.id),
    "priority": (_URGENCY, Task.due_at.is_(None), Task.due_at, Task.id),
    "case": (Task.case_id, Task.due_at.is_(None), Task.due_at, Task.id),
    "newest": (Task.created_at.desc(), Task.id.desc()),
}


def list_tasks(session: Session, user: User, *, now: datetime, page: int = 1,
               per_page: int = 50, sort: str = "due", **filters) -> tuple[list[Task], int]:
    """``(tasks, total)`` in the order ``sort`` (:data:`SORTS`; default: most urgent
    first, by due date then id)."""
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", details={"field": "sort"})
    return page_of_rows(session, task_query(user, now=now, **filters), *SORTS[sort],
                        page=page, per_page=per_page)


TASK_KEYS = (Key(Task.due_at, "due_at", nullable=True, kind=datetime), Key(Task.id, "id"))


def inbox_page(session: Session, user: User, *, now: datetime, per_page: int = 50,
               after: str | None = None, page: int | None = None, total: bool = False,
               **filters) -> Page:
    """One page of the inbox, most urgent first (due date, undated last, then id), by
    keyset: ``after`` is the previous page's ``next`` cursor. The rows are plain rows
    with every column of a task as attributes (read-only: no ORM instances)."""
    query = task_query(user, now=now, **filters).with_only_columns(
        *Task.__table__.columns, maintain_column_froms=True)
    return seek_page(session, query, TASK_KEYS, per_page=per_page, after=after, page=page,
                     total=total, scalars=False)


def task_counts(session: Session, user: User, *, now: datetime) -> dict[str, int]:
    """How many outstanding tasks ``user`` has in each of mine, queue and overdue."""
    return {scope: session.scalar(select(func.count()).select_from(
        task_query(user, scope=scope, now=now).subquery())) or 0
        for scope in ("mine", "queue", "overdue")}


def get_task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found", details={"task_id": task_id})
    return task
