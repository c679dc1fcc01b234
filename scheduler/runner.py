"""APScheduler wiring: every lifecycle job every ``scheduler.interval_seconds``.

Jobs: exclusion guards, reviews due, deferred cases represented, advance due cases,
allocation of waiting cases, panel agendas (see ``scheduler/jobs.py``); and, every
``audit.checkpoint_minutes``, a signed checkpoint of the audit chain head, and every
``audit.access_seal_minutes`` the access log's new reads sealed. ``coalesce=True`` +
``misfire_grace_time=None`` + ``max_instances=1``: after downtime the missed runs are
caught up once, never skipped, repeated or overlapped. Each job reads the clock when it
runs; being idempotent, a caught-up run does the overdue work exactly once.

A run is logged at INFO only when it did something (opened, moved, raised, sent, failed
...); idle runs are logged at DEBUG. After every "advance due cases" pass the process
upserts its heartbeat row (``workflow/operations.py``): readiness and ``/metrics`` read
it from any process.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from db.session import run_in_transaction
from scheduler.jobs import (
    JobReport,
    PassReport,
    access_seal,
    advance_due,
    allocate_waiting,
    audit_checkpoint,
    build_agendas,
    guards_due,
    represent_deferred,
    reviews_due,
)
from workflow.operations import record_pass
from workflow.runtime import Runtime
from workflow.tasks.jobs import TaskJobReport, run_task_jobs

log = logging.getLogger("iom.scheduler")


JOBS = {
    "guards_due": guards_due,
    "reviews_due": reviews_due,
    "represent_deferred": represent_deferred,
    "advance_due": advance_due,
    "allocate_waiting": allocate_waiting,
    "build_agendas": build_agendas,
    "task_jobs": lambda runtime, now: run_task_jobs(runtime, now),
}


# Jobs on their own interval (minutes from the setting named), not every pass.
PERIODIC = {"audit_checkpoint": (audit_checkpoint, "audit", "checkpoint_minutes"),
            "access_seal": (access_seal, "audit", "access_seal_minutes")}


@dataclass(frozen=True)
class Heartbeat:
    """This process's heartbeat row: ``host:pid:start``, unique per process run."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:"
                        f"{int(time.time())}")

    def beat(self, runtime: Runtime, *, seconds: float = 0.0, moved: int = 0) -> None:
        """Write the row; a failure is logged, never fails the job."""
        try:
            run_in_transaction(runtime.sessions, lambda session: record_pass(
                session, self.worker, started=self.started, now=datetime.now(UTC),
                seconds=seconds, moved=moved))
        except Exception:  # noqa: BLE001 - a heartbeat must not stop the scheduler
            log.warning("scheduler heartbeat not written", exc_info=True)


def did_something(report) -> bool:
    """Whether a job run changed or attempted anything worth an INFO line."""
    if isinstance(report, PassReport):
        return bool(report.opened or report.reopened or report.moved or report.failed)
    if isinstance(report, TaskJobReport):
        r, d = report.reminders, report.delivery
        return bool(report.raised or r.reminded or r.escalated or r.digests or d.sent
                    or d.failed)
    if isinstance(report, JobReport):
        return bool(report.done or report.failed or report.note.startswith(
            ("FAILED", "checkpoint of", "sealed")))
    return True


def _run_job(runtime: Runtime, name: str, heartbeat: Heartbeat | None = None) -> None:
    job = JOBS[name] if name in JOBS else PERIODIC[name][0]
    started = time.perf_counter()
    report = job(runtime, now=datetime.now(UTC))
    seconds = time.perf_counter() - started
    level = logging.INFO if did_something(report) else logging.DEBUG
    for line in report.lines():
        log.log(level, line)
    if heartbeat is not None and name == "advance_due":
        heartbeat.beat(runtime, seconds=seconds, moved=len(report.moved))


def _configure(scheduler, runtime: Runtime) -> None:
    heartbeat = Heartbeat()
    heartbeat.beat(runtime)  # ready as soon as the scheduler runs, before a long pass
    for name in JOBS:
        scheduler.add_job(
            _run_job, IntervalTrigger(seconds=runtime.settings.interval_seconds),
            args=[runtime, name, heartbeat], id=name, name=name, coalesce=True,
            max_instances=1, misfire_grace_time=None, next_run_time=datetime.now(UTC),
            replace_existing=True)
    for name, (_job, section, key) in PERIODIC.items():
        scheduler.add_job(
            _run_job, IntervalTrigger(minutes=getattr(runtime.settings, section)[key]),
            args=[runtime, name], id=name, name=name, coalesce=True, max_instances=1,
            misfire_grace_time=None, next_run_time=datetime.now(UTC), replace_existing=True)


def quiet_apscheduler_logs() -> None:
    """APScheduler logs every run at INFO; our jobs log what they did. Keep its warnings
    (a missed or failed run) and errors."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def start_background(runtime: Runtime) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)
    _configure(scheduler, runtime)
    scheduler.start()
    return scheduler


def run_forever(runtime: Runtime) -> int:
    """Run the scheduler in this process until interrupted (logging is the caller's)."""
    quiet_apscheduler_logs()
    scheduler = BlockingScheduler(timezone=UTC)
    _configure(scheduler, runtime)
    print(f"scheduler: {', '.join(JOBS)} every {runtime.settings.interval_seconds}s",
          flush=True)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0
