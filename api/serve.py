"""Serve the API with waitress, optionally with the scheduler in the same process."""

from __future__ import annotations

import logging

from waitress.server import create_server

from api import create_app
from workflow.runtime import Runtime


def make_server(runtime: Runtime, *, host: str, port: int, threads: int = 8):
    """The waitress server for the app. Bodies over ``server.max_upload_mb`` (the largest
    any route accepts) are refused by waitress before it buffers them; smaller limits
    are the app's (``api/edge.py``), answered in the JSON error shape."""
    return create_server(create_app(runtime), host=host, port=port, threads=threads,
                         max_request_body_size=runtime.settings.max_upload_bytes)


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
        make_server(runtime, host=host, port=port).run()
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)
    return 0
