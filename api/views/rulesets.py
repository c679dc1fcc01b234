"""Rule-set versions: what is published and what is in force per stage."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth import ALL_ROLES, roles
from api.schemas import RuleSetOut
from db.models import RuleSetVersion

blp = Blueprint("rulesets", __name__, description="Rule sets")


@blp.route("/rulesets")
class RuleSets(MethodView):
    @roles(*ALL_ROLES)
    @blp.response(200, RuleSetOut(many=True))
    def get(self):
        """Every stored version, newest first."""
        return g.session.scalars(select(RuleSetVersion).order_by(
            RuleSetVersion.name, RuleSetVersion.id.desc())).all()
