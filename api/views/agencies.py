"""The agencies working with a case: list (with why each is involved) and add one."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from db.models import AGENCIES
from workflow.agencies import add_agency, involved_agencies
from workflow.cases import get_case, lock_case

blp = Blueprint("agencies", __name__, description="Agencies working with a case")


class AgencyIn(Schema):
    agency = fields.String(required=True, validate=validate.Length(1, 40), metadata={
        "description": f"one of {', '.join(AGENCIES)} (any case)"})
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class AgencyOut(Schema):
    agency = fields.String()
    why = fields.String()


class CaseAgenciesOut(Schema):
    case_id = fields.Integer()
    agencies = fields.List(fields.Nested(AgencyOut))


def _body(session, case) -> dict:
    involved = involved_agencies(session, case, now=datetime.now(UTC))
    return {"case_id": case.id,
            "agencies": [{"agency": a, "why": why} for a, why in involved.items()]}


@blp.route("/cases/<int:case_id>/agencies")
class CaseAgencies(MethodView):
    @blp.response(200, CaseAgenciesOut)
    def get(self, case_id):
        """Every agency working with the case and why (police; the supervising provider;
        the lead professional's agency; agencies a team lead added)."""
        return _body(g.session, get_case(g.session, case_id))

    @blp.arguments(AgencyIn())
    @blp.response(201, CaseAgenciesOut)
    def post(self, body, case_id):
        """Add an agency to the case, with a reason (audited); 409 if already added."""
        case = lock_case(g.session, case_id)
        add_agency(g.session, case, body["agency"], reason=body["reason"],
                   actor=g.user.username, now=datetime.now(UTC))
        return _body(g.session, case)
