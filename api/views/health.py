"""Health: ``/health`` (signed in: what is published), and for orchestrators, without a
token, ``/health/live`` (the process answers) and ``/health/ready`` (database reachable,
migrations at head, a scheduler beat recently), which say only ok or not per check."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from workflow.operations import readiness
from workflow.rulesets import published_count

blp = Blueprint("health", __name__, description="Service health")


class HealthOut(Schema):
    status = fields.String()
    database = fields.String(metadata={"description": "sqlite or postgresql"})
    published_rulesets = fields.Integer()
    user = fields.String()


class LiveOut(Schema):
    status = fields.String(metadata={"description": "always ok"})


class ReadyChecks(Schema):
    database = fields.String(metadata={"description": "ok or failed"})
    migrations = fields.String(metadata={"description": "ok, behind or unknown"})
    scheduler = fields.String(metadata={"description": "ok, stale, disabled or unknown"})


class ReadyOut(Schema):
    status = fields.String(metadata={"description": "ready or not_ready"})
    checks = fields.Nested(ReadyChecks)


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthOut)
    def get(self):
        """Database reachable, schema migrated and rule sets published (any role): the
        count of published rule sets is the one query (it answers only when the
        database does and the publication table exists)."""
        return {"status": "ok", "database": g.session.get_bind().dialect.name,
                "published_rulesets": published_count(g.session),
                "user": g.user.username}


@blp.route("/health/live")
class Live(MethodView):
    @blp.doc(security=[])
    @blp.response(200, LiveOut)
    def get(self):
        """The process answers (no token, no database)."""
        return {"status": "ok"}


def _readiness() -> dict[str, str]:
    checks = {"database": "failed", "migrations": "unknown", "scheduler": "unknown"}
    settings = g.runtime.settings
    try:
        readiness(g.session, checks, now=datetime.now(UTC),
                  scheduler_enabled=settings.scheduler_enabled,
                  interval_seconds=settings.interval_seconds)
    except Exception:  # noqa: BLE001 - not ready is an answer, never a 500
        g.session.rollback()
    return checks


@blp.route("/health/ready")
class Ready(MethodView):
    @blp.doc(security=[])
    @blp.response(200, ReadyOut)
    @blp.alt_response(503, schema=ReadyOut, description="Not ready: a check is not ok")
    def get(self):
        """Ready for traffic (no token): the database answers, its schema is at the
        code's head, and (unless ``scheduler.enabled`` is false) a scheduler process
        beat within three intervals. 503 otherwise; only a word per check is said."""
        checks = _readiness()
        ready = all(v in ("ok", "disabled") for v in checks.values())
        return {"status": "ready" if ready else "not_ready", "checks": checks}, \
            200 if ready else 503
