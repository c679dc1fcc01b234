"""One transaction per request, run again when it lost to a concurrent transaction.

Each attempt opens a session and authenticates (``before_request``), runs the view, and
commits when the response is a success (``after_request``), else rolls back. When the
attempt failed :func:`db.session.retryable` (SQLite's write lock not obtained within its
busy timeout; a PostgreSQL serialisation failure, deadlock or unique-key race), the
rolled-back request is dispatched again from the start, at most
:data:`db.session.ATTEMPTS` times, provided its body can be read again: JSON and form
bodies are cached by Werkzeug and uploaded files are rewound; a view that streams the
raw body calls :func:`body_streamed` and is then not retried once it has begun reading.

If every attempt fails, the client gets 503 ``busy`` (a lock) or 409 ``conflict`` (a
unique-key race, or a case changed since this request read it) with ``Retry-After``
and what to do; never a 500.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Flask, g, make_response, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from api import auth
from api.auth import API_PREFIX, operation_key
from api.errors import error_response
from db.session import ATTEMPTS, backoff, retryable
from workflow.runtime import Runtime

log = logging.getLogger("iom.api")

_RETRY = "iom_retry"  # g: the retryable failure of this attempt
_STREAMED = "iom_body_streamed"  # g: the view read the raw body stream


def body_streamed() -> None:
    """Mark that this request's raw body stream is being consumed: not replayable."""
    setattr(g, _STREAMED, True)


def lost_to_concurrency(exc: DBAPIError | StaleDataError):
    """The response for a retryable failure (used when no retry is left or possible);
    remembers the failure so that the dispatcher may run the request again."""
    setattr(g, _RETRY, exc)
    if isinstance(exc, StaleDataError):
        response = error_response(409, "conflict", str(exc))
    elif getattr(exc.orig, "sqlstate", None) == "23505":
        response = error_response(
            409, "conflict", "another request changed the same record at the same time; "
            "reload it and send the request again if it is still needed")
    else:
        response = error_response(
            503, "busy", "the database is busy with other writes; send the request again "
            "in a moment")
    response = make_response(response)  # a web page's error comes as (body, status)
    response.headers["Retry-After"] = "1"
    return response


def _replayable() -> bool:
    if g.get(_STREAMED):
        return False
    for storage in request.files.values() if "files" in request.__dict__ else ():
        storage.stream.seek(0)
    return True


def _client_gone() -> bool:
    """The client has disconnected (waitress with ``channel_request_lookahead``): running
    the request again would only keep the server busy (``api/shedding.py``)."""
    gone = request.environ.get("waitress.client_disconnected")
    return bool(gone and gone())


class RetryingFlask(Flask):
    """Flask whose request dispatch is re-run on a retryable database failure."""

    def full_dispatch_request(self):
        for attempt in range(1, ATTEMPTS + 1):
            response = super().full_dispatch_request()
            exc = g.pop(_RETRY, None)
            if exc is None or attempt == ATTEMPTS or not _replayable() or _client_gone():
                return response
            log.info("request %s %s retried (attempt %d): %s", request.method,
                     request.path, attempt, exc)
            backoff(attempt)
        raise AssertionError("unreachable")


# What a refused read would have read, in the access log's words for reads that happen
# (``detail``, ``history``, ``case page`` ...): the route's part after the case id.
_PAGE_READS = {"": "case page", "audit": "audit chronology", "entries": "audit decision",
               "export": "audit export"}
_API_READS = {"": "detail", "explain": "audit explanation", "access": "access log"}


def _read_named(rule: str) -> str:
    head, _, tail = rule.partition("<int:case_id>")
    part = tail.strip("/").split("/")[0].split(".")[0]
    if head.startswith(API_PREFIX):
        return _API_READS.get(part, part)
    return _PAGE_READS.get(part or ("audit" if head.startswith("/audit") else ""), part)


def _record_refused_read(session) -> None:
    """A read of one case refused with 403 (API or page) is recorded in the access log,
    in a transaction of its own after the request's was rolled back; a failure to record
    it is logged and does not change the answer."""
    from workflow.sharing.access import record_refusal
    from workflow.sharing.decide import Viewer

    case_id, user = (request.view_args or {}).get("case_id"), g.get("user")
    if request.method not in ("GET", "HEAD") or case_id is None or user is None:
        return
    error = g.get("iom_error")
    try:
        record_refusal(session, viewer=Viewer.of(user), case_id=case_id,
                       what=_read_named(request.url_rule.rule),
                       operation=operation_key(request.method, request.url_rule.rule),
                       reason=error.message if error is not None else "refused",
                       now=datetime.now(UTC),
                       via="web" if request.blueprint == "web" else "api")
        session.commit()
    except DBAPIError:
        session.rollback()
        log.exception("a refused read of case %s could not be recorded", case_id)


def transaction_per_request(app: Flask, runtime: Runtime) -> None:
    """Each attempt gets a session and an authenticated user; the response decides:
    commit below 400, roll back otherwise (and on any unhandled exception)."""

    @app.errorhandler(DBAPIError)
    def _database(exc: DBAPIError):
        if not retryable(exc):
            log.exception("database error")
            return error_response(500, "internal_error", "internal server error")
        return lost_to_concurrency(exc)

    app.register_error_handler(StaleDataError, lost_to_concurrency)

    @app.before_request
    def _open_session():
        g.session = runtime.sessions()
        g.runtime = runtime
        auth.authenticate_request()
        auth.authorize_request()

    @app.after_request
    def _commit(response):
        session = g.pop("session", None)
        if session is None:
            return response
        try:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
                if response.status_code == 403:
                    _record_refused_read(session)
        except (DBAPIError, StaleDataError) as exc:
            session.rollback()
            if not retryable(exc):
                raise
            return lost_to_concurrency(exc)
        finally:
            session.close()
        return response

    @app.teardown_request
    def _close(_exc):
        session = g.pop("session", None)
        if session is not None:
            session.rollback()
            session.close()
