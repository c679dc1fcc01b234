"""Serve the API with waitress, optionally with the scheduler in the same process."""

from __future__ import annotations

import logging

from waitress import serve as waitress_serve

from api import create_app
from workflow.runtime import Runtime


def serve(runtime: Runtime, *, with_scheduler: bool = True) -> int:
    from scheduler.runner import quiet_apscheduler_logs, start_background

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    quiet_apscheduler_logs()
    scheduler = start_background(runtime) if with_scheduler and \
        runtime.settings.scheduler_enabled else None
    host, port = runtime.settings.host, runtime.settings.port
    print(f"IOM API on http://{host}:{port}/api/v1 (OpenAPI: /api/v1/openapi.json)"
          + (f"; scheduler every {runtime.settings.interval_seconds}s" if scheduler else ""),
          flush=True)
    try:
        waitress_serve(create_app(runtime), host=host, port=port, threads=8)
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)
    return 0
