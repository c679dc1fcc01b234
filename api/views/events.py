"""Compliance events on a case: record (idempotent by event_id) and list.

Recording an event evaluates the compliance rule sets at once, so a missed appointment
raises its enforcement task, with its working-day deadline, in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.edge import BoundedAwareDateTime
from api.viewing import PurposeQuery, read_case
from api.views.tasks import TaskOut
from db.models import COMPLIANCE_KINDS, ComplianceEvent
from workflow.cases import lock_case
from workflow.policy.store import policy_in_force
from workflow.sharing.redact import event_view
from workflow.tasks.compliance import compliance_rulesets, evaluate_compliance, record_event

blp = Blueprint("events", __name__, description="Compliance events")


class EventIn(Schema):
    event_id = fields.String(required=True, validate=validate.Length(1, 80))
    kind = fields.String(required=True, validate=validate.OneOf(COMPLIANCE_KINDS))
    occurred_at = BoundedAwareDateTime(required=True, default_timezone=UTC)
    details = fields.Dict(load_default=dict)


class EventOut(Schema):
    id = fields.Integer()
    event_id = fields.Raw(metadata={"description": "the partner's id, or a withheld marker"})
    case_id = fields.Integer(allow_none=True)
    kind = fields.Raw(metadata={"description": "the kind, or a withheld marker"})
    occurred_at = fields.DateTime()
    details = fields.Raw(metadata={"description": "the details, or a withheld marker"})
    recorded_by = fields.Raw(metadata={"description": "who recorded it, or a withheld marker"})
    recorded_at = fields.DateTime()


class EventResult(Schema):
    event = fields.Nested(EventOut)
    created = fields.Boolean()
    tasks = fields.List(fields.Nested(TaskOut))


@blp.route("/cases/<int:case_id>/events")
class CaseEvents(MethodView):
    @blp.arguments(PurposeQuery(), location="query")
    @blp.response(200, EventOut(many=True))
    def get(self, query, case_id):
        """The case's compliance events, oldest first, as the sharing agreement lets you
        see them (kind and details masked, or no events at all). The read is recorded."""
        case, decision = read_case(case_id, "events", query)
        rows = g.session.scalars(select(ComplianceEvent).where(
            ComplianceEvent.case_id == case.id).order_by(ComplianceEvent.occurred_at,
                                                         ComplianceEvent.id))
        return [v for v in (event_view(e, decision) for e in rows) if v is not None]

    @blp.arguments(EventIn())
    @blp.response(201, EventResult)
    def post(self, body, case_id):
        """Record an event; the same event_id again is a no-op (409 if it differs)."""
        now = datetime.now(UTC)
        case = lock_case(g.session, case_id)  # concurrent events on one case queue
        event, created = record_event(g.session, case, event_id=body["event_id"],
                                      kind=body["kind"], occurred_at=body["occurred_at"],
                                      details=body["details"], actor=g.user.username, now=now)
        tasks = []
        if created:
            policy = policy_in_force(g.session, g.runtime.settings, now)
            tasks = evaluate_compliance(g.session, case, now=now, actor=g.user.username,
                                        policy=policy, rulesets=compliance_rulesets(policy))
        return {"event": event, "created": created, "tasks": tasks}
