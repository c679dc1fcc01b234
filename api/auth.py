"""Bearer-token authentication on every endpoint, and role checks per view."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps

from flask import g, request

from workflow.errors import Forbidden
from workflow.users import authenticate

# No token: the contract, liveness/readiness (a status word each, nothing else) and the
# Prometheus metrics (counts only; its own optional token, api/observability.py).
PUBLIC_PATHS = ("/api/v1/openapi.json", "/api/v1/health/live", "/api/v1/health/ready",
                "/metrics")
ALL_ROLES = ("team_lead", "offender_manager", "police", "auditor", "admin")


def authenticate_request() -> None:
    """``before_request``: resolve ``Authorization: Bearer <token>`` to ``g.user``."""
    if request.path in PUBLIC_PATHS or request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    g.user = authenticate(g.session, token)


def roles(*allowed: str) -> Callable:
    """Allow only users whose role is in ``allowed`` (admin is always allowed).

    The roles are published in the OpenAPI document as ``x-roles`` (``api/contract.py``).
    """
    documented = [r for r in ALL_ROLES if r in allowed or r == "admin"]

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = g.user
            if user.role != "admin" and user.role not in allowed:
                raise Forbidden(f"role {user.role} may not do this; needs one of "
                                f"{', '.join(allowed)}", details={"role": user.role})
            return view(*args, **kwargs)

        wrapper._apidoc = deepcopy(getattr(view, "_apidoc", {}))
        wrapper._apidoc.setdefault("manual_doc", {})["x-roles"] = documented
        return wrapper

    return decorator
