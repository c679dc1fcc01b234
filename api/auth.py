"""Bearer-token authentication and the permission check, once for every API request.

``authenticate_request`` resolves the token to ``g.user`` (401 when it is missing,
unknown, revoked or expired); ``authorize_request`` then looks the operation up in the
one permission table (``workflow/permissions.py``) and refuses (403) what it does not
allow, before the view runs. Views carry no role checks of their own; the OpenAPI
document publishes the same table per operation (``api/contract.py``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import g, request

from db.models import ROLES
from workflow.permissions import authorize
from workflow.users import authenticate

API_PREFIX = "/api/v1"
# No token: the contract, liveness/readiness (a status word each, nothing else) and the
# Prometheus metrics (counts only; its own optional token, api/observability.py).
PUBLIC_PATHS = (f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/health/live",
                f"{API_PREFIX}/health/ready", "/metrics")
ALL_ROLES = ROLES
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def operation_key(method: str, rule: str) -> str:
    """``("GET", "/api/v1/cases/<int:case_id>")`` -> ``"GET /cases/{case_id}"`` (the
    permission table's key; the OpenAPI path without the prefix)."""
    path = rule[len(API_PREFIX):] if rule.startswith(API_PREFIX) else rule
    path = _CONVERTER.sub(r"{\1}", path)
    return f"{'GET' if method == 'HEAD' else method} {path}"


def authenticate_request() -> None:
    """``before_request``: resolve ``Authorization: Bearer <token>`` to ``g.user`` on the
    API (``/api/``); the web pages (``web/``) sign their users in with a session cookie."""
    if not request.path.startswith("/api/"):
        return
    if request.path in PUBLIC_PATHS or request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    g.user = authenticate(g.session, token, now=datetime.now(UTC))


def authorize_request() -> None:
    """``before_request``, after authentication: the permission table decides. Paths that
    match no route are left to Flask (404/405)."""
    if (request.path in PUBLIC_PATHS or request.method == "OPTIONS"
            or request.url_rule is None or not request.path.startswith(API_PREFIX + "/")):
        return
    authorize(g.session, g.user, operation_key(request.method, request.url_rule.rule),
              request.view_args or {}, now=datetime.now(UTC))
