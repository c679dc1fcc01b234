"""``iom demo history --from D --to D``: a year of panel history for the demo borough.

The demo import leaves every case before panel, so the board reports would be empty.
This drives the real lifecycle over a moving clock: a scheduler pass every Monday (cases
opened, selected, matrixed, put on agendas, reviewed) and, on each panel day, the chair
(demo user ``lead1``) decides the agenda in rank order, rejecting every third case for
capacity (they form the reports' comparison group) and accepting the others. The team
works the task prompts the rules raise: by task id, a quarter are done the day after
they are raised, a quarter the day before they are due, a quarter two days late and a
quarter left open (overdue). Every step is audited as in live use. Deterministic for the
same data and dates.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from db.models import PanelItem, PanelMeeting, Task
from db.session import transaction
from workflow.errors import Conflict, InvalidInput

REJECT_EVERY = 3  # every third case decided is rejected (capacity): the comparison group
REASONS = {"accept": "demo history: prolific, accepted onto the cohort",
           "reject": "demo history: not taken on this month (capacity)"}


def _undecided(session, day: date) -> list[tuple[int, int, int]]:
    return list(session.execute(
        select(PanelItem.meeting_id, PanelItem.case_id, PanelItem.rank)
        .join(PanelMeeting, PanelMeeting.id == PanelItem.meeting_id)
        .where(PanelMeeting.held_on == day, PanelItem.decision.is_(None))
        .order_by(PanelItem.rank)).all())


def _decide_one(rt, item: tuple[int, int, int], *, now: datetime, chair: str,
                counts: Counter) -> None:
    from workflow.panel import decide
    from workflow.users import active_user

    meeting_id, case_id, _rank = item
    decided = counts["accept"] + counts["reject"]
    wanted = "reject" if decided % REJECT_EVERY == REJECT_EVERY - 1 else "accept"
    for decision in dict.fromkeys((wanted, "reject")):
        try:
            with transaction(rt.sessions) as session:
                decide(session, meeting_id, case_id, decision=decision,
                       reason=REASONS[decision], now=now,
                       user=active_user(session, chair), settings=rt.settings)
            counts[decision] += 1
            return
        except (Conflict, InvalidInput):  # excluded, withdrawn, moved on: try rejecting, then skip
            continue
    counts["skipped"] += 1


def _planned(task_id: int, created: date, due: date | None) -> date | None:
    """When the demo team completes a task (None: never, it stays overdue)."""
    plan = task_id % 4
    if plan == 0:
        return None
    if plan == 1 or due is None:
        return created + timedelta(days=1)
    return max(created, due - timedelta(days=1)) if plan == 2 else due + timedelta(days=2)


def _work_tasks(rt, day: date, *, chair: str, counts: Counter) -> None:
    from workflow.tasks.routing import OUTSTANDING
    from workflow.tasks.service import complete
    from workflow.tasks.templates import allowed_outcomes
    from workflow.users import active_user

    now = datetime.combine(day, time(15), UTC)
    with transaction(rt.sessions) as session:
        due_today = [task_id for task_id, created, due in session.execute(
            select(Task.id, Task.created_at, Task.due_at)
            .where(Task.status.in_(OUTSTANDING), Task.created_at < now)).all()
            if _planned(task_id, created.date(), due and due.date()) == day]
    for task_id in due_today:
        try:
            with transaction(rt.sessions) as session:
                task = session.get(Task, task_id)
                outcome = (allowed_outcomes(task.template) or ["done"])[0]
                complete(session, task, user=active_user(session, chair), outcome=outcome,
                         now=now)
            counts["tasks done"] += 1
        except (Conflict, InvalidInput):
            counts["tasks skipped"] += 1


def simulate(rt, *, start: date, end: date, chair: str = "lead1") -> Counter:
    """Weekly passes and panel decisions from ``start`` to ``end``; returns the counts."""
    from scheduler.jobs import run_all

    counts: Counter = Counter()
    day = start
    while day <= end:
        if day.weekday() == 0:
            run_all(rt, now=datetime.combine(day, time(9), UTC), actor="scheduler")
            counts["passes"] += 1
        with transaction(rt.sessions) as session:
            items = _undecided(session, day)
        for item in items:
            _decide_one(rt, item, now=datetime.combine(day, time(12), UTC), chair=chair,
                        counts=counts)
        _work_tasks(rt, day, chair=chair, counts=counts)
        day += timedelta(days=1)
    return counts
