"""Serve the API: waitress (one process, threads) or gunicorn (several processes).

``[server] kind``: ``auto`` picks gunicorn on PostgreSQL and waitress on SQLite (SQLite
serialises writers on one file lock, so more processes only queue on it; PostgreSQL
takes concurrent writers and a process per core gets past the GIL). See README.

Contract of :func:`serve`: the port is bound *before* anything says it is serving; a
port in use raises :class:`NotReady` with one line. With waitress the scheduler runs in
the same process (as ``make run`` does); with gunicorn it runs as one separate
``iom scheduler`` process beside the workers (schedulers share work by row claims, so
more can be started anywhere).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile

from api.shedding import Limits, threads_for
from workflow.errors import NotReady
from workflow.runtime import Runtime

log = logging.getLogger("iom.serve")

# Open connections waitress accepts (its default, 100, leaves further clients in the
# kernel's backlog, where they wait for SYN retries, up to minutes, before any 503).
CONNECTIONS = 1000


def server_kind(settings) -> str:
    """``waitress`` or ``gunicorn`` for these settings (``auto``: by database)."""
    if settings.server_kind != "auto":
        return settings.server_kind
    return "gunicorn" if settings.database_url.startswith("postgresql") else "waitress"


def _in_use(host: str, port: int) -> NotReady:
    return NotReady(f"port {port} on {host} is already in use (another `iom serve`?): stop "
                    "it or set server.port / IOM_SERVER_PORT")


def bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port``; a taken port raises :class:`NotReady`."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _in_use(host, port) from None
        raise NotReady(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(backlog)
    return sock


def make_server(runtime: Runtime, *, host: str, port: int, threads: int | None = None):
    """The waitress server for the app. Bodies over ``server.max_upload_mb`` (the largest
    any route accepts) are refused by waitress before it buffers them; smaller limits
    are the app's (``api/edge.py``), answered in the JSON error shape.

    Threads: at least what load shedding needs (``api/shedding.py``), so requests reach
    the shedder at once rather than waiting in waitress's unbounded queue; the request
    lookahead lets a request whose client has gone be seen and dropped; up to
    :data:`CONNECTIONS` clients are accepted, so an overload is answered, not left
    unaccepted. ``server.shedder`` is the shedder (its counts)."""
    from waitress.server import create_server

    from api import create_app

    threads = max(threads or 0, threads_for(Limits.from_settings(runtime.settings)))
    app = create_app(runtime)
    try:
        server = create_server(app, host=host, port=port, threads=threads,
                               max_request_body_size=runtime.settings.max_upload_bytes,
                               channel_request_lookahead=1, connection_limit=CONNECTIONS)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _in_use(host, port) from None
        raise
    server.shedder = app.wsgi_app
    return server


def _banner(runtime: Runtime, how: str, announce) -> None:
    if announce is not None:
        announce()  # warnings about the setup come after the port is ours, not before
    s = runtime.settings
    print(f"IOM API on http://{s.host}:{s.port}/api/v1 ({how}; OpenAPI /api/v1/openapi.json, "
          f"health /api/v1/health/ready, metrics /metrics; config {s.source})", flush=True)


def serve(runtime: Runtime, *, with_scheduler: bool = True, announce=None) -> int:
    """Serve until stopped; ``announce()`` runs once the port is bound, before the
    banner line."""
    if server_kind(runtime.settings) == "gunicorn":
        return _serve_gunicorn(runtime, with_scheduler=with_scheduler, announce=announce)
    from scheduler.runner import start_background

    s = runtime.settings
    server = make_server(runtime, host=s.host, port=s.port, threads=s.threads)
    scheduler = start_background(runtime) if with_scheduler and s.scheduler_enabled else None
    _banner(runtime, f"waitress, {s.threads} threads"
            + (f"; scheduler every {s.interval_seconds}s in this process" if scheduler else ""),
            announce)
    try:
        server.run()
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)
    return 0


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the serving process dies, even by
    SIGKILL, so no scheduler is left running without its server."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the server's own shutdown still stops it


def _scheduler_process(runtime: Runtime) -> subprocess.Popen:
    """``iom scheduler`` on the same configuration (file and IOM_* environment)."""
    return subprocess.Popen([sys.executable, "-m", "cli.main", "--config",
                             runtime.settings.source, "scheduler"],
                            preexec_fn=_die_with_parent)  # noqa: PLW1509 - no threads yet


def _serve_gunicorn(runtime: Runtime, *, with_scheduler: bool, announce) -> int:
    from api.gunicorn_app import GunicornApp, worker_threads

    s = runtime.settings
    workers = s.workers or os.cpu_count() or 1
    sock = bind(s.host, s.port)
    if announce is not None:
        announce()
        announce = None
    runtime.close()  # no pooled connection crosses the fork: each worker opens its own
    metrics_dir = tempfile.mkdtemp(prefix="iom-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # read by the workers' imports
    scheduler = _scheduler_process(runtime) if with_scheduler and s.scheduler_enabled \
        else None
    _banner(runtime, f"gunicorn, {workers} workers x {worker_threads(s)} threads"
            + ("; scheduler in its own process" if scheduler else ""), announce)
    try:
        GunicornApp(s, fd=sock.detach(), workers=workers).run()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if scheduler is not None:
            scheduler.terminate()
            scheduler.wait(timeout=30)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
