"""The published contract: every operation in the OpenAPI document declares the real
error body, the roles that may call it and every status it can answer.

Who may call each operation comes from the one permission table
(``workflow/permissions.py``), published as ``x-roles``, ``x-agencies`` (when the
caller's agency is restricted), ``x-condition`` (a check on the case, task or data the
request touches) and an "Access" line in the description. The statuses follow from
where the edge and the views can refuse a request:

* any operation: 401 (no or bad token), 413 (body over the limit), 422 (NUL in the path
  or query, id out of range, invalid parameters), 503 (the database stayed busy with
  other writes through every retry: ``Retry-After``, see ``api/transactions.py``);
* an operation the table restricts: 403 (it refuses the role, the agency or
  the condition); a path parameter (a case, task, meeting, version...): 404;
* a JSON body: 400 (not JSON, too deep, numbers too long);
* any POST: 404 (something it names does not exist) and 409 (clashes with current state);
* a path that is also another operation's URL (``/imports/0`` is batch 0, which only
  answers GET; ``/imports/people`` only answers POST): 405 with ``Allow``.
"""

from __future__ import annotations

from http import HTTPStatus

from apispec import BasePlugin

from api.auth import ALL_ROLES, API_PREFIX
from workflow.permissions import CONDITIONS, rule_for

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
            short = (path or "")[len(API_PREFIX):] if (path or "").startswith(API_PREFIX) \
                else path or ""
            rule = rule_for(f"{method.upper()} {short}")
            if rule is None:  # fails closed at run time too: documented as refused
                op["x-roles"] = []
                restricted = True
                access = "nobody (no entry in the permission table)"
            elif rule.public:
                op["x-roles"] = []
                op["x-public"] = True
                restricted = False
                access = rule.describe()
            else:
                op["x-roles"] = list(rule.roles)
                if rule.agencies:
                    op["x-agencies"] = list(rule.agencies)
                if rule.condition:
                    op["x-condition"] = {"name": rule.condition,
                                         "rule": CONDITIONS[rule.condition],
                                         "exempt_roles": list(rule.exempt)}
                restricted = (set(rule.roles) != set(ALL_ROLES) or bool(rule.agencies)
                              or bool(rule.condition))
                access = rule.describe()
            op["description"] = (op.get("description", "") + f"\n\nAccess: {access}").strip()
            responses = op.setdefault("responses", {})
            for status in statuses(method, path or "", op, restricted):
                if status not in responses and str(status) not in responses:
                    responses[status] = HTTPStatus(status).name
