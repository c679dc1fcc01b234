"""Reports computed from case data: the seed 002 "top repeat arrested suspects" table."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validates_schema

from api.auth import roles
from workflow.partners.reports import top_arrested

blp = Blueprint("reports", __name__, description="Reports")


class TopArrestedQuery(Schema):
    start = fields.Date(required=True, data_key="from")
    end = fields.Date(required=True, data_key="to")

    @validates_schema
    def _window(self, data, **_kw):
        if data["end"] < data["start"]:
            raise ValidationError("'to' is before 'from'", "to")


@blp.route("/reports/top-arrested")
class TopArrested(MethodView):
    @roles("team_lead", "police", "auditor")
    @blp.arguments(TopArrestedQuery, location="query")
    @blp.response(200)
    def get(self, query):
        """Top 10 / 20 / 100 / 200 repeat arrested people in the window: their share of
        all individuals arrested and their arrests."""
        return top_arrested(g.session, start=query["start"], end=query["end"])
