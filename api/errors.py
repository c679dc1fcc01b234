"""One JSON error shape for every failure, and the one mapping of exceptions to HTTP.

Shape: ``{"error": {"code": str, "message": str, "details": object}}``.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException

from rules.errors import FactError, RuleSetError
from workflow import errors as wf

log = logging.getLogger("iom.api")

STATUS: dict[type[wf.IOMError], int] = {
    wf.InvalidInput: 422,
    wf.NotFound: 404,
    wf.Conflict: 409,
    wf.Unauthenticated: 401,
    wf.Forbidden: 403,
    wf.ConfigError: 500,
    wf.NotReady: 503,
}


# app.extensions key: ``render(status, code, message, details) -> Response`` for requests
# outside the machine paths below (the web pages answer errors as GOV.UK pages,
# web/errors.py).
PAGE_ERRORS = "iom_page_errors"
# Paths answered in JSON for programs: the API and the Prometheus scrape.
MACHINE_PREFIXES = ("/api/", "/metrics")


def _page_renderer():
    if not has_request_context() or request.path.startswith(MACHINE_PREFIXES):
        return None
    return current_app.extensions.get(PAGE_ERRORS)


def error_response(status: int, code: str, message: str, details=None, headers=()):
    """The error answer: JSON in the one shape on the API, a page elsewhere."""
    render = _page_renderer()
    if render is not None:
        response = render(status, code, message, details or {})
        for name, value in headers:
            if name.lower() == "allow":
                response.headers[name] = value
        return response
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="iom"'
    return response


def _status_of(exc: wf.IOMError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def handle_http_exception(exc: HTTPException):
    """Werkzeug/webargs errors (404, 405, 413, 422 from schema validation) in our shape,
    keeping their headers (``Allow`` on 405)."""
    details = {}
    messages = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
    if messages:
        details = {"fields": messages}
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(exc.code or 500, code, exc.description or exc.name, details,
                          headers=exc.get_headers())


def register(app: Flask) -> None:
    @app.errorhandler(wf.IOMError)
    def _iom(exc: wf.IOMError):
        g.iom_error = exc  # the refusal's reason, for the access log (api/transactions)
        return error_response(_status_of(exc), exc.code, exc.message, exc.details)

    @app.errorhandler(RuleSetError)
    def _ruleset(exc: RuleSetError):
        return error_response(422, "invalid_ruleset", "rule set refused",
                              {"problems": [p.as_dict() for p in exc.problems]})

    @app.errorhandler(FactError)
    def _facts(exc: FactError):
        return error_response(422, "invalid_input", str(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return handle_http_exception(exc)
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")
