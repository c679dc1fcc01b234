"""A case: summary, open tasks and the timeline of every move and decision."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, render_template

from web import case_data
from web.auth import roles
from web.blueprint import bp

ALL = ("team_lead", "offender_manager", "police", "auditor")


@bp.route("/cases/<int:case_id>")
@roles(*ALL)
def case(case_id: int):
    now = datetime.now(UTC)
    page = case_data.case_page(g.session, g.user, case_id, now=now)
    return render_template("cases/show.html", user=g.user, page=page, case=page.case, now=now)
