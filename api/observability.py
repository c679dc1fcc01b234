"""What an operator sees of the API: a request id, one log line and metrics per request,
and ``/metrics`` in the Prometheus text format.

* Every response carries ``X-Request-ID``: the client's (when it is 1-128 characters of
  ``[A-Za-z0-9._:-]``) or a new one.
* Every request is logged once by ``iom.request`` at INFO (a successful health probe or
  scrape at DEBUG), with structured fields
  ``method``, ``route`` (the URL rule, not the raw path: bounded), ``path``, ``status``,
  ``duration_ms``, ``user_id`` and ``request_id`` (see ``cli/logs.py`` for the formats).
* ``iom_http_requests_total{method,route,status}`` and
  ``iom_http_request_duration_seconds{method,route}`` (histogram) per process; under
  gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes every worker's figures one exposition.
* ``/metrics`` adds what the database says at scrape time (``workflow/operations.py``):
  tasks overdue, outbox backlog, audit chain head age, scheduler passes and their
  duration, cases moved, heartbeat age; so each API process reports every scheduler.

Who may read ``/metrics``: counts and ages only, no personal data and no user token
needed (a scraper is not a person and would otherwise fill the read log). With
``[metrics] token`` set the scraper must send it as a bearer token; ``enabled = false``
answers 404.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, request
from sqlalchemy import inspect

from api.errors import error_response
from workflow.operations import Gauges, gauges
from workflow.runtime import Runtime

log = logging.getLogger("iom.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METRICS_PATH = "/metrics"
# Polled every few seconds by orchestrators and scrapers: a success is logged at DEBUG.
PROBES = frozenset({"/api/v1/health/live", "/api/v1/health/ready", METRICS_PATH})


def request_id(given: str | None) -> str:
    """The client's id when it is safe to echo and log, else a new random one."""
    return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex


class RequestMetrics:
    """This process's request counters and latency histograms (own registry: many apps
    may live in one test process)."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Histogram,
            disable_created_metrics,
        )

        disable_created_metrics()  # no *_created series: half the text, nothing lost
        self.registry = CollectorRegistry()
        self.requests = Counter("iom_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("iom_http_request_duration_seconds",
                                 "Time to answer an HTTP request", ["method", "route"],
                                 buckets=BUCKETS, registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self, db: Gauges | None) -> bytes:
        """The Prometheus text of the requests (every worker's under gunicorn) and of
        the database gauges (None: the database did not answer)."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            requests = CollectorRegistry()
            MultiProcessCollector(requests)
        else:
            requests = self.registry
        extra = CollectorRegistry()
        extra.register(_DatabaseCollector(db))
        return generate_latest(requests) + generate_latest(extra)


class _DatabaseCollector:
    def __init__(self, db: Gauges | None):
        self.db = db

    def collect(self):
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            SummaryMetricFamily,
        )

        yield GaugeMetricFamily("iom_database_up", "1 when the database answered the scrape",
                                value=0 if self.db is None else 1)
        if self.db is None:
            return
        d = self.db
        yield GaugeMetricFamily("iom_tasks_overdue", "Open tasks past their due time",
                                value=d.tasks_overdue)
        yield GaugeMetricFamily("iom_outbox_backlog", "E-mails waiting in the outbox",
                                value=d.outbox_backlog)
        if d.audit_head_age_seconds is not None:
            yield GaugeMetricFamily("iom_audit_head_age_seconds",
                                    "Seconds since the last audit entry was appended",
                                    value=d.audit_head_age_seconds)
        yield SummaryMetricFamily("iom_scheduler_pass_seconds",
                                  "Duration of 'advance due cases' passes (all schedulers)",
                                  count_value=d.scheduler_passes,
                                  sum_value=d.scheduler_pass_seconds)
        if d.scheduler_last_pass_seconds is not None:
            yield GaugeMetricFamily("iom_scheduler_last_pass_seconds",
                                    "Duration of the latest pass",
                                    value=d.scheduler_last_pass_seconds)
        yield CounterMetricFamily("iom_cases_moved", "Cases moved by scheduler passes",
                                  value=d.cases_moved)
        if d.heartbeat_age_seconds is not None:
            yield GaugeMetricFamily("iom_scheduler_heartbeat_age_seconds",
                                    "Seconds since a scheduler last beat",
                                    value=d.heartbeat_age_seconds)


class _Observed:
    """WSGI middleware around the Flask app: id, timing, log line and metrics per
    request, whatever the app answered (retries inside it are one request)."""

    def __init__(self, wsgi_app, metrics: RequestMetrics):
        self.wsgi_app, self.metrics = wsgi_app, metrics

    def __call__(self, environ, start_response):
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["iom.request_id"] = rid
        status: list[int] = []

        def start(line, headers, exc_info=None):
            status.append(int(line.split(" ", 1)[0]))
            headers.append(("X-Request-ID", rid))
            return start_response(line, headers, exc_info)

        started = time.perf_counter()
        try:
            return self.wsgi_app(environ, start)
        finally:
            self._record(environ, status[-1] if status else 500,
                         time.perf_counter() - started)

    def _record(self, environ, status: int, seconds: float) -> None:
        method, route = environ.get("REQUEST_METHOD", "-"), environ.get("iom.route", "unmatched")
        self.metrics.observe(method, route, status, seconds)
        fields = {"method": method, "route": route, "path": environ.get("PATH_INFO", ""),
                  "status": status, "duration_ms": round(seconds * 1000, 2),
                  "user_id": environ.get("iom.user_id"), "request_id": environ["iom.request_id"]}
        level = logging.DEBUG if route in PROBES and status == 200 else logging.INFO
        log.log(level, "%s %s %d %.1fms user=%s request=%s", method, fields["path"], status,
                fields["duration_ms"], fields["user_id"] or "-", fields["request_id"],
                extra={"fields": fields})


def register(app: Flask, runtime: Runtime) -> None:
    """Wrap ``app`` with the request observer and serve ``/metrics``."""
    metrics = RequestMetrics()
    app.extensions["iom_metrics"] = metrics
    app.wsgi_app = _Observed(app.wsgi_app, metrics)

    @app.after_request
    def _note(response):
        request.environ["iom.route"] = request.url_rule.rule if request.url_rule else "unmatched"
        request.environ["iom.user_id"] = _user_id(g.get("user"))
        return response

    @app.get(METRICS_PATH)
    def metrics_view():
        settings = runtime.settings.metrics
        if not settings["enabled"]:
            return error_response(404, "not_found", "metrics are disabled ([metrics] enabled)")
        if settings["token"] and not _bearer_matches(settings["token"]):
            return error_response(401, "unauthenticated", "a valid metrics token is required")
        try:
            db = gauges(g.session, now=datetime.now(UTC))
        except Exception:  # noqa: BLE001 - a scrape reports the database down, never 500
            logging.getLogger("iom.api").warning("metrics: database gauges failed",
                                                 exc_info=True)
            g.session.rollback()
            db = None
        return Response(metrics.exposition(db), mimetype="text/plain; version=0.0.4")


def _user_id(user) -> int | None:
    """The signed-in user's id without a query (the row may be expired by a rollback)."""
    if user is None:
        return None
    identity = inspect(user).identity
    return identity[0] if identity else None


def _bearer_matches(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return hmac.compare_digest(given.encode(), token.encode())
