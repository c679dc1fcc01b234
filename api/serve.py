"""Serve the API with waitress, optionally with the scheduler in the same process."""

from __future__ import annotations

import logging

from waitress.server import create_server

from api import create_app
from api.shedding import Limits, threads_for
from workflow.runtime import Runtime

# Open connections waitress accepts (its default, 100, leaves further clients in the
# kernel's backlog, where they wait for SYN retries, up to minutes, before any 503).
CONNECTIONS = 1000


def make_server(runtime: Runtime, *, host: str, port: int, threads: int | None = None):
    """The waitress server for the app. Bodies over ``server.max_upload_mb`` (the largest
    any route accepts) are refused by waitress before it buffers them; smaller limits
    are the app's (``api/edge.py``), answered in the JSON error shape.

    ``threads`` defaults to what load shedding needs (``api/shedding.py``): requests
    reach the shedder at once rather than waiting in waitress's unbounded queue; the
    request lookahead lets a request whose client has gone be seen and dropped; up to
    :data:`CONNECTIONS` clients are accepted, so an overload is answered, not left
    unaccepted."""
    threads = threads or threads_for(Limits.from_settings(runtime.settings))
    app = create_app(runtime)
    server = create_server(app, host=host, port=port, threads=threads,
                           max_request_body_size=runtime.settings.max_upload_bytes,
                           channel_request_lookahead=1, connection_limit=CONNECTIONS)
    server.shedder = app.wsgi_app  # its counts: served, shed, dropped
    return server


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
