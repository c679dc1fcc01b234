"""Cases: list, detail, history and explanation, each as the information sharing
agreement lets the caller see it (``workflow.sharing``); every read is recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from api.schemas import (
    PAGE_ARGS,
    AuditEntryOut,
    CaseOut,
    CasePage,
    CaseQuery,
    ExplainLineOut,
    page_args,
    page_body,
)
from api.viewing import PurposeQuery, purpose_of, read_case, record_case_read, viewer
from workflow.case_list import list_cases
from workflow.explain import explain_case
from workflow.history import history_rows
from workflow.sharing.access import record_read
from workflow.sharing.redact import redact_entry
from workflow.sharing.view import case_summaries, case_view

blp = Blueprint("cases", __name__, description="IOM cases")


@blp.route("/cases")
class Cases(MethodView):
    @blp.arguments(CaseQuery(), location="query")
    @blp.response(200, CasePage)
    def get(self, query):
        """Open and closed cases, newest first, optionally filtered by state, stream, lead
        professional, agency or due date, a page at a time by cursor (``next``); each as
        the sharing agreement and the case's restriction lists let you see it. Recorded."""
        filters = {k: v for k, v in query.items() if k not in (*PAGE_ARGS, "purpose")}
        page = list_cases(g.session, **page_args(query), **filters)
        now, purpose = datetime.now(UTC), purpose_of(query)
        items = case_summaries(g.session, page.rows, viewer=viewer(), now=now, purpose=purpose)
        record_read(g.session, viewer=viewer(), what="list", purpose=purpose, now=now,
                    query={k: v for k, v in query.items() if k != "purpose"},
                    case_ids=[c.id for c in page.rows])
        return page_body(page, query) | {"items": items}


@blp.route("/cases/<int:case_id>")
class CaseDetail(MethodView):
    @blp.arguments(PurposeQuery(), location="query")
    @blp.response(200, CaseOut)
    def get(self, query, case_id):
        """One case: each field group shown, masked (``withheld: true`` with whom to ask)
        or left out, as the sharing agreement says; a restricted case shows its name as
        ``*********`` and ``restricted`` says whom to ask."""
        case, decision = read_case(case_id, "detail", query, allow_restricted=True)
        return case_view(g.session, case, viewer=viewer(), now=datetime.now(UTC),
                         purpose=decision.purpose, decision=decision).data


@blp.route("/cases/<int:case_id>/history")
class CaseHistory(MethodView):
    @blp.arguments(PurposeQuery(), location="query")
    @blp.response(200, AuditEntryOut(many=True))
    def get(self, query, case_id):
        """Every audit entry about the case, oldest first, with any fact you may not see
        taken out; payloads need the ``audit`` group. Reads of the case are not audit
        entries: ``GET /cases/{id}/access`` lists them. The read is recorded."""
        case, decision = read_case(case_id, "history", query)
        return [redact_entry(e, decision).as_dict() for e in history_rows(g.session, case.id)]


@blp.route("/cases/<int:case_id>/explain")
class CaseExplain(MethodView):
    @blp.arguments(PurposeQuery(), location="query")
    @blp.response(200, ExplainLineOut(many=True))
    def get(self, query, case_id):
        """Why the case moved, in plain language, from the audit alone (the twin of
        ``iom audit explain``); a fact you may not see is named only as such ("a rule on
        a partner flag you may not see"). The read is recorded."""
        case, decision = read_case(case_id, "audit explanation", query, allow_missing=True,
                                   record=False)
        lines = explain_case(g.session, case_id,
                             redact=lambda entry: redact_entry(entry, decision))
        record_case_read(case_id, case, decision, "audit explanation")
        return [line.as_dict() for line in lines]
