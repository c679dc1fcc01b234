"""The API twin of ``iom evaluate``: facts in, decisions out, nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from api.schemas import EvaluateIn, EvaluateOut
from workflow.evaluate import evaluate_facts
from workflow.policy.store import policy_in_force

blp = Blueprint("evaluate", __name__, description="Dry-run evaluation of facts")


@blp.route("/evaluate")
class Evaluate(MethodView):
    @blp.arguments(EvaluateIn())
    @blp.response(200, EvaluateOut(many=True))
    def post(self, body):
        """Evaluate each facts object (with an ``id``) against a stage or one rule set."""
        now = body.get("now") or datetime.now(UTC)
        return evaluate_facts(
            g.session, body["facts"], now=now,
            policy=policy_in_force(g.session, g.runtime.settings, now), stage=body.get("stage"),
            ruleset=body.get("ruleset"))
