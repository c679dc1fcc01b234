"""Reports computed from case data: the seed 002 "top repeat arrested suspects" table."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validates_schema

from api.auth import roles
from workflow.reports.top_arrested import default_window, top_arrested

blp = Blueprint("reports", __name__, description="Reports")


class TopArrestedQuery(Schema):
    start = fields.Date(data_key="from", metadata={
        "description": "first day (default: two years before `to`, plus one day)"})
    end = fields.Date(data_key="to", metadata={"description": "last day (default: today)"})

    @validates_schema
    def _window(self, data, **_kw):
        if "start" in data and "end" in data and data["end"] < data["start"]:
            raise ValidationError("'to' is before 'from'", "to")


@blp.route("/reports/top-arrested")
class TopArrested(MethodView):
    @roles("team_lead", "police", "auditor")
    @blp.arguments(TopArrestedQuery, location="query")
    @blp.response(200)
    def get(self, query):
        """Top 10 / 20 / 100 / 200 repeat arrested people in the window: their share of
        all individuals arrested and their arrests."""
        start, end = default_window(query.get("start"), query.get("end"),
                                    today=datetime.now(UTC).date())
        return top_arrested(g.session, start=start, end=end)
