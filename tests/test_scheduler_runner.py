"""The APScheduler wiring: a real BackgroundScheduler running the real advance job."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

from scheduler import runner
from scheduler.jobs import advance_due


@pytest.fixture
def fast_runtime(runtime, monkeypatch):
    """The test's runtime with a 1-second interval and only the advance job."""
    monkeypatch.setattr(runner, "JOBS", {"advance_due": advance_due})
    monkeypatch.setattr(runtime, "settings",
                        dataclasses.replace(runtime.settings, interval_seconds=1))
    return runtime


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # wiring, not storage
def test_runs_missed_while_stopped_are_caught_up_once_not_skipped_or_repeated(
        fast_runtime):
    events: list = []
    first = threading.Event()

    def listen(event):
        events.append(event)
        first.set()
    scheduler = runner.start_background(fast_runtime)
    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    try:
        assert first.wait(10), "the first run starts at once"
        scheduler.pause()
        paused_at = datetime.now(UTC)
        time.sleep(3.3)  # three runs fall due while nothing runs
        resumed_at = datetime.now(UTC)
        scheduler.resume()

        def caught_up():
            return [e for e in events if paused_at < e.scheduled_run_time < resumed_at]
        deadline = time.monotonic() + 10
        while not caught_up() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # room for a wrongly repeated catch-up run to show up
    finally:
        scheduler.shutdown(wait=True)
    assert not [e for e in events if e.code != EVENT_JOB_EXECUTED]  # none missed or failed
    assert len(caught_up()) == 1, [e.scheduled_run_time for e in events]
