"""Operational state for health checks and metrics: scheduler heartbeats and the gauges
an operator watches (tasks overdue, outbox backlog, audit chain head age).

Services take ``session`` and ``now`` and flush, never commit. Everything here is counts
and ages: no personal data, no case content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditEntry, Notification, SchedulerHeartbeat, Task
from workflow.tasks.routing import OUTSTANDING


def record_pass(session: Session, worker: str, *, started: datetime, now: datetime,
                seconds: float, moved: int) -> None:
    """Upsert ``worker``'s heartbeat after a pass that took ``seconds`` and moved
    ``moved`` cases (0 and 0 for a beat without a pass). Each process writes only its
    own row, so concurrent schedulers never contend on it."""
    row = session.get(SchedulerHeartbeat, worker)
    if row is None:
        row = SchedulerHeartbeat(worker=worker, started_at=started, beat_at=now, passes=0,
                                 pass_seconds_total=0.0, last_pass_seconds=0.0,
                                 cases_moved_total=0)
        session.add(row)
    row.beat_at = now
    if seconds or moved:
        row.passes += 1
        row.pass_seconds_total += seconds
        row.last_pass_seconds = seconds
        row.cases_moved_total += moved
    session.flush()


def last_heartbeat(session: Session) -> datetime | None:
    """When any scheduler last beat (None: never)."""
    return _aware(session.scalar(select(func.max(SchedulerHeartbeat.beat_at))))


def heartbeat_recent(session: Session, *, now: datetime, interval_seconds: int) -> bool:
    """Whether a scheduler beat within three intervals plus a minute (a slow pass or a
    missed run is not yet a dead scheduler)."""
    last = last_heartbeat(session)
    return last is not None and now - last <= timedelta(seconds=3 * interval_seconds + 60)


def readiness(session: Session, checks: dict[str, str], *, now: datetime,
              scheduler_enabled: bool, interval_seconds: int) -> None:
    """Fill ``checks`` (``database``, ``migrations``, ``scheduler``) one word each, in
    order, so that whatever a failure leaves unfilled keeps the caller's default: the
    database answers; its schema is the code's head; a scheduler beat recently (or
    ``disabled``). Reads only."""
    from db.migrate import current_revision, head_revision

    connection = session.connection()
    connection.execute(select(1))
    checks["database"] = "ok"
    checks["migrations"] = "ok" if current_revision(connection) == head_revision() \
        else "behind"
    if not scheduler_enabled:
        checks["scheduler"] = "disabled"
    elif checks["migrations"] == "ok":
        checks["scheduler"] = "ok" if heartbeat_recent(
            session, now=now, interval_seconds=interval_seconds) else "stale"


@dataclass(frozen=True)
class Gauges:
    """What ``/metrics`` reads from the database at each scrape."""

    tasks_overdue: int
    outbox_backlog: int
    audit_head_age_seconds: float | None  # None: the chain is empty
    scheduler_passes: int
    scheduler_pass_seconds: float
    scheduler_last_pass_seconds: float | None
    cases_moved: int
    heartbeat_age_seconds: float | None  # None: no scheduler ever beat


def gauges(session: Session, *, now: datetime) -> Gauges:
    """Counts and ages, each one indexed query (counters summed over every scheduler
    process that ever ran, so they only grow)."""
    overdue = session.scalar(select(func.count()).select_from(Task).where(
        Task.status.in_(OUTSTANDING), Task.due_at < now))
    backlog = session.scalar(select(func.count()).select_from(Notification).where(
        Notification.status == "pending"))
    head_at = session.scalar(select(AuditEntry.recorded_at).order_by(
        AuditEntry.seq.desc()).limit(1))
    passes, seconds, moved, beat = session.execute(select(
        func.coalesce(func.sum(SchedulerHeartbeat.passes), 0),
        func.coalesce(func.sum(SchedulerHeartbeat.pass_seconds_total), 0.0),
        func.coalesce(func.sum(SchedulerHeartbeat.cases_moved_total), 0),
        func.max(SchedulerHeartbeat.beat_at))).one()
    last = session.scalar(select(SchedulerHeartbeat.last_pass_seconds).where(
        SchedulerHeartbeat.passes > 0).order_by(SchedulerHeartbeat.beat_at.desc()).limit(1))
    return Gauges(
        tasks_overdue=overdue, outbox_backlog=backlog,
        audit_head_age_seconds=(now - head_at).total_seconds() if head_at else None,
        scheduler_passes=int(passes), scheduler_pass_seconds=float(seconds),
        scheduler_last_pass_seconds=last, cases_moved=int(moved),
        heartbeat_age_seconds=(now - _aware(beat)).total_seconds() if beat else None)


def _aware(value: datetime | None) -> datetime | None:
    """An aggregate over a UTC column may come back naive on SQLite: it is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
