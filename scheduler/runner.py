"""APScheduler wiring: the "advance due cases" job every ``scheduler.interval_seconds``.

``coalesce`` + ``max_instances=1``: after downtime the missed runs are caught up once,
never repeated or overlapped. Time comes from APScheduler's clock, passed to the job.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.jobs import advance_due
from workflow.runtime import Runtime

log = logging.getLogger("iom.scheduler")


def _advance_job(runtime: Runtime) -> None:
    report = advance_due(runtime, now=datetime.now(UTC))
    for line in report.lines():
        log.info(line)


def _configure(scheduler, runtime: Runtime) -> None:
    scheduler.add_job(
        _advance_job, IntervalTrigger(seconds=runtime.settings.interval_seconds),
        args=[runtime], id="advance_due", coalesce=True, max_instances=1,
        misfire_grace_time=None, next_run_time=datetime.now(UTC), replace_existing=True)


def start_background(runtime: Runtime) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)
    _configure(scheduler, runtime)
    scheduler.start()
    return scheduler


def run_forever(runtime: Runtime) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    scheduler = BlockingScheduler(timezone=UTC)
    _configure(scheduler, runtime)
    print(f"scheduler: advancing due cases every {runtime.settings.interval_seconds}s",
          flush=True)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0
