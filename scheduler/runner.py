"""APScheduler wiring: every lifecycle job every ``scheduler.interval_seconds``.

Jobs: exclusion guards, reviews due, deferred cases represented, advance due cases,
allocation of waiting cases, panel agendas (see ``scheduler/jobs.py``); and, every
``audit.checkpoint_minutes``, a signed checkpoint of the audit chain head. ``coalesce=True`` +
``misfire_grace_time=None`` + ``max_instances=1``: after downtime the missed runs are
caught up once, never skipped, repeated or overlapped. Each job reads the clock when it
runs; being idempotent, a caught-up run does the overdue work exactly once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.jobs import (
    advance_due,
    allocate_waiting,
    audit_checkpoint,
    build_agendas,
    guards_due,
    represent_deferred,
    reviews_due,
)
from workflow.runtime import Runtime
from workflow.tasks.jobs import run_task_jobs

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
PERIODIC = {"audit_checkpoint": (audit_checkpoint, "audit", "checkpoint_minutes")}


def _run_job(runtime: Runtime, name: str) -> None:
    job = JOBS[name] if name in JOBS else PERIODIC[name][0]
    report = job(runtime, now=datetime.now(UTC))
    for line in report.lines():
        log.info(line)


def _configure(scheduler, runtime: Runtime) -> None:
    for name in JOBS:
        scheduler.add_job(
            _run_job, IntervalTrigger(seconds=runtime.settings.interval_seconds),
            args=[runtime, name], id=name, name=name, coalesce=True, max_instances=1,
            misfire_grace_time=None, next_run_time=datetime.now(UTC), replace_existing=True)
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
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
