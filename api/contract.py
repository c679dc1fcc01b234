"""The published contract: every operation in the OpenAPI document declares the real
error body, the roles that may call it and every status it can answer.

Roles come from :func:`api.auth.roles` (``x-roles``; absent means any signed-in user).
The statuses follow from where the edge and the views can refuse a request:

* any operation: 401 (no or bad token), 413 (body over the limit), 422 (NUL in the path
  or query, id out of range, invalid parameters), 503 (the database stayed busy with
  other writes through every retry: ``Retry-After``, see ``api/transactions.py``);
* restricted roles: 403; a path parameter (a case, task, meeting, version...): 404;
* a JSON body: 400 (not JSON, too deep, numbers too long);
* any POST: 404 (something it names does not exist) and 409 (clashes with current state);
* a path that is also another operation's URL (``/imports/0`` is batch 0, which only
  answers GET; ``/imports/people`` only answers POST): 405 with ``Allow``.
"""

from __future__ import annotations

from http import HTTPStatus

from apispec import BasePlugin

from api.auth import ALL_ROLES

SHARED_URLS = frozenset({"/api/v1/imports/{kind}", "/api/v1/imports/{batch_id}"})


def statuses(method: str, path: str, op: dict, restricted: bool) -> list[int]:
    """The error statuses ``op`` can answer (see the module docstring)."""
    out = {401, 413, 422, 503}
    if restricted:
        out.add(403)
    if "{" in path:
        out.add(404)
    if "requestBody" in op:
        out.add(400)
    if method == "post":
        out |= {404, 409}
    if path in SHARED_URLS:
        out.add(405)
    return sorted(out)


class ContractPlugin(BasePlugin):
    """apispec plugin completing each operation with roles and error responses."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, op in (operations or {}).items():
            roles = list(op.get("x-roles") or ALL_ROLES)
            restricted = set(roles) != set(ALL_ROLES)
            op["x-roles"] = roles
            who = ("any signed-in user" if not restricted else
                   ", ".join(roles) + (" (and admin)" if "admin" not in roles else ""))
            op["description"] = (op.get("description", "") + f"\n\nRoles: {who}.").strip()
            responses = op.setdefault("responses", {})
            for status in statuses(method, path or "", op, restricted):
                if status not in responses and str(status) not in responses:
                    responses[status] = HTTPStatus(status).name
