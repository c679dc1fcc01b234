"""Cases: list, detail and history. Every read of case data is audited."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.schemas import AuditEntryOut, CaseOut, CasePage, CaseQuery, ExplainLineOut, page_body
from db.models import Case
from workflow import audit
from workflow.cases import get_case
from workflow.explain import explain_case
from workflow.history import case_history
from workflow.pages import page_of_rows

blp = Blueprint("cases", __name__, description="IOM cases")


def _audit_read(case: Case, what: str) -> None:
    audit.record(g.session, kind="case.read", actor=g.user.username,
                 occurred_at=datetime.now(UTC), case_id=case.id,
                 person_ref=case.person.partner_ref,
                 summary=f"{g.user.username} ({g.user.role}) read the {what} of case {case.id}",
                 payload={"what": what, "role": g.user.role})


@blp.route("/cases")
class Cases(MethodView):
    @blp.arguments(CaseQuery, location="query")
    @blp.response(200, CasePage)
    def get(self, query):
        """Open and closed cases, newest first, optionally filtered by state."""
        stmt = select(Case)
        if query.get("state"):
            stmt = stmt.where(Case.state == query["state"])
        rows, total = page_of_rows(g.session, stmt, Case.id.desc(), page=query["page"],
                                   per_page=query["per_page"])
        return page_body(rows, total, query)


@blp.route("/cases/<int:case_id>")
class CaseDetail(MethodView):
    @blp.response(200, CaseOut)
    def get(self, case_id):
        """One case."""
        case = get_case(g.session, case_id)
        _audit_read(case, "detail")
        return case


@blp.route("/cases/<int:case_id>/history")
class CaseHistory(MethodView):
    @blp.response(200, AuditEntryOut(many=True))
    def get(self, case_id):
        """Every audit entry about the case, oldest first (reads included)."""
        case = get_case(g.session, case_id)
        entries = case_history(g.session, case.id)
        _audit_read(case, "history")
        return entries


@blp.route("/cases/<int:case_id>/explain")
class CaseExplain(MethodView):
    @blp.response(200, ExplainLineOut(many=True))
    def get(self, case_id):
        """Why the case moved, in plain language, from the audit alone (the twin of
        ``iom audit explain``); works after the case's data is purged. The read is audited."""
        lines = explain_case(g.session, case_id)
        refs = sorted({line.person_ref for line in lines if line.person_ref})
        audit.record(g.session, kind="case.read", actor=g.user.username,
                     occurred_at=datetime.now(UTC), case_id=case_id,
                     person_ref=refs[0] if len(refs) == 1 else None,
                     summary=f"{g.user.username} ({g.user.role}) read the audit explanation "
                     f"of case {case_id}",
                     payload={"what": "audit explanation", "role": g.user.role, "via": "api"})
        return [line.as_dict() for line in lines]
