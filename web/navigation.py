"""The service navigation: one entry per page family, shown to the roles that may use it.

Add an entry here when adding a page family (endpoint, label, roles; admin sees all).
"""

from __future__ import annotations

from flask import request, url_for

ALL = ("team_lead", "offender_manager", "police", "auditor", "admin")

NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("web.my_tasks", "My tasks", ALL),
    ("web.panels", "Panel", ("team_lead", "offender_manager", "police", "auditor")),
    ("web.rules", "Rules", ("team_lead", "auditor")),
    ("web.workload_page", "Workload", ("team_lead",)),
    ("web.audit_home", "Audit", ("auditor",)),
    ("web.reports", "Reports", ("team_lead", "police", "auditor")),
]


def items_for(user) -> list[dict]:
    """govukServiceNavigation items for ``user`` (the current page marked active)."""
    if user is None:
        return []
    items = []
    for endpoint, label, roles in NAV:
        if user.role == "admin" or user.role in roles:
            href = url_for(endpoint)
            items.append({"href": href, "text": label,
                          "active": request.path == href or request.path.startswith(
                              href.rstrip("/") + "/")})
    return items
