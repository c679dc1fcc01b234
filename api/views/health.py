"""Liveness and readiness: the database answers and rule sets are published."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import text

from workflow.policy.store import policy_row
from workflow.rulesets import published_count

blp = Blueprint("health", __name__, description="Service health")


class HealthOut(Schema):
    status = fields.String()
    database = fields.String(metadata={"description": "sqlite or postgresql"})
    published_rulesets = fields.Integer()
    user = fields.String()


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthOut)
    def get(self):
        """Database reachable, schema migrated and rule sets published (any role)."""
        g.session.execute(text("SELECT 1"))
        return {"status": "ok", "database": g.session.get_bind().dialect.name,
                "published_rulesets": published_count(g.session),
                "stage_policy": row.version if (row := policy_row(g.session)) else None,
                "user": g.user.username}
