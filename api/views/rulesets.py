"""Rule sets: versions, the draft -> test -> preview -> approve -> publish -> rollback
life, and as-of evaluation of a case. Team leads draft and publish; a second team lead
approves; everyone may read."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.edge import MAX_ID
from api.schemas import (
    AsOfQuery,
    DraftIn,
    HistoryOut,
    PublishOut,
    ReasonIn,
    RuleSetOut,
    RuleSetVersionOut,
)
from api.viewing import read_case, viewer
from db.models import RuleSetVersion
from workflow import ruleset_admin as admin
from workflow.as_of import evaluate_as_of
from workflow.policy.publishing import (
    PublishOutcome,
    preview_version,
    publish_version,
    rollback_version,
)
from workflow.policy.store import policy_in_force
from workflow.sharing.decide import decide
from workflow.sharing.groups import PURPOSES
from workflow.sharing.redact import redact_facts
from workflow.sharing.restrictions import active
from workflow.sharing.store import agreement_in_force

blp = Blueprint("rulesets", __name__, description="Rule sets")
VERSION = "/rulesets/<string:name>/versions/<string:version>"


def _now() -> datetime:
    return datetime.now(UTC)


def _outcome(outcome: PublishOutcome) -> dict:
    row = {name: getattr(outcome.row, name) for name in RuleSetVersionOut().fields}
    return {**row, "warnings": outcome.warnings,
            "moves_at_next_pass": outcome.due_cases, "note": outcome.note}


@blp.route("/rulesets")
class RuleSets(MethodView):
    @blp.response(200, RuleSetOut(many=True))
    def get(self):
        """Every stored version, by name, newest first."""
        return g.session.scalars(select(RuleSetVersion).order_by(
            RuleSetVersion.name, RuleSetVersion.id.desc())).all()

    @blp.arguments(DraftIn())
    @blp.response(201, RuleSetVersionOut)
    def post(self, body):
        """Save a draft (YAML text). Refused with every problem when it does not validate."""
        return admin.save_draft(g.session, body["document"], file="request", user=g.user,
                                now=_now(), reason=body["reason"])


@blp.route("/rulesets/<string:name>")
class RuleSetHistory(MethodView):
    @blp.response(200, HistoryOut)
    def get(self, name):
        """Every version of ``name`` and every publication (what was in force when)."""
        versions, publications = admin.history(g.session, name)
        return {"versions": versions, "publications": publications}


@blp.route(VERSION)
class RuleSetVersionView(MethodView):
    @blp.response(200, RuleSetVersionOut)
    def get(self, name, version):
        """One version with its document."""
        return admin.find_version(g.session, name, version)


@blp.route(VERSION + "/test", methods=["POST"])
@blp.response(200)
def test_examples(name, version):
    """Run the version's examples through the engine; the result is recorded."""
    row = admin.find_version(g.session, name, version)
    results = admin.check_examples(g.session, row, now=_now(), actor=g.user.username)
    return {"passed": row.tested_ok, "examples": [
        {"name": r.name, "passed": r.passed, "detail": r.describe()} for r in results]}


class PreviewQuery(Schema):
    case_id = fields.Integer(load_default=None, validate=validate.Range(0, MAX_ID),
                             metadata={"description": "sharing agreement only: the sample "
                                       "case (default: the open case with most flags)"})
    purpose = fields.String(load_default=None, validate=validate.OneOf(PURPOSES), metadata={
        "description": "sharing agreement only: the purpose (default case_management)"})


@blp.route(VERSION + "/preview", methods=["POST"])
@blp.arguments(PreviewQuery(), location="query")
@blp.response(200)
def preview_impact(query, name, version):
    """What this version would change on every open case, under the stage policy in
    force (``warnings`` says when no stage evaluates it; ``moves_at_next_pass`` lists
    the cases publishing makes due); nothing is changed. For the sharing agreement:
    what each agency and role would see of a sample case, and what changes."""
    row = admin.find_version(g.session, name, version)
    sample = {k: v for k, v in query.items() if v is not None}
    return preview_version(g.session, row, now=_now(), settings=g.runtime.settings,
                           actor=g.user.username, sample=sample).as_dict()


@blp.route(VERSION + "/approve", methods=["POST"])
@blp.arguments(ReasonIn())
@blp.response(200, RuleSetVersionOut)
def approve(body, name, version):
    """Approve a tested, previewed draft (not your own)."""
    row = admin.find_version(g.session, name, version)
    return admin.approve(g.session, row, user=g.user, now=_now(), reason=body["reason"])


@blp.route(VERSION + "/publish", methods=["POST"])
@blp.arguments(ReasonIn())
@blp.response(200, PublishOut)
def publish(body, name, version):
    """Put an approved version in force from now on; the open cases its preview says
    change are made due, so they move at the next scheduler pass."""
    row = admin.find_version(g.session, name, version)
    return _outcome(publish_version(g.session, row, user=g.user, now=_now(),
                                    reason=body["reason"], settings=g.runtime.settings))


@blp.route("/rulesets/<string:name>/rollback", methods=["POST"])
@blp.arguments(ReasonIn())
@blp.response(200, PublishOut)
def rollback(body, name):
    """Put the previously published version back in force; the cases it changes move at
    the next scheduler pass."""
    return _outcome(rollback_version(g.session, name, user=g.user, now=_now(),
                                     reason=body["reason"], settings=g.runtime.settings))


@blp.route("/cases/<int:case_id>/as-of", methods=["GET"])
@blp.arguments(AsOfQuery(), location="query")
@blp.response(200)
def as_of(query, case_id):
    """What the rule sets in force at ``on`` would have decided for the case (the rules
    see every fact); facts and decisions are shown as the sharing agreement in force at
    ``on`` lets you see them. The read is recorded."""
    case, decision = read_case(case_id, "as-of", query)
    decision = decide(agreement_in_force(g.session, query["on"]), viewer(),
                      purpose=decision.purpose, lists=active(g.session, case.id),
                      names=(case.person.given_name, case.person.family_name))
    policy = policy_in_force(g.session, g.runtime.settings, query["on"])
    ev = evaluate_as_of(g.session, case, on=query["on"], policy=policy,
                        stage=query["stage"])
    return {"case_id": case.id, "on": query["on"].isoformat(), "stage": ev.state,
            "outcome": ev.outcome, "event": ev.event,
            "agreement": decision.agreement_version,
            "facts": redact_facts(ev.facts, decision),
            "decisions": redact_facts({"decisions": [d.as_dict() for d in ev.decisions]},
                                      decision)["decisions"]}
