"""Panel meetings: list, agenda, decisions (chairs only) and minutes."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from api.schemas import (
    MinutesQuery,
    PanelDecisionIn,
    PanelItemOut,
    PanelMeetingOut,
)
from workflow import panel
from workflow.sharing.access import record_read
from workflow.sharing.decide import Viewer
from workflow.sharing.view import panel_rows

blp = Blueprint("panels", __name__, description="Multi-agency panel")


def _withheld(description: str) -> fields.Raw:
    return fields.Raw(allow_none=True, metadata={
        "description": f"{description}, or a withheld marker (sharing agreement)"})


class PanelItemShown(PanelItemOut):
    person_ref = fields.String(metadata={"description": "********* when restricted"})
    state = fields.String()
    activity_score = _withheld("matrixing score (group risk)")
    reason = _withheld("the decision's reason (group notes)")


class PanelAgendaShown(PanelMeetingOut):
    cases = fields.Integer()
    decided = fields.Integer()
    items = fields.List(fields.Nested(PanelItemShown))


def _shown(items: list[dict], what: str, meeting_id: int) -> list[dict]:
    """Agenda/minutes rows as the caller may see them, the read recorded."""
    now, who = datetime.now(UTC), Viewer.of(g.user)
    rows = panel_rows(g.session, items, viewer=who, now=now)
    record_read(g.session, viewer=who, what=what, purpose="panel", now=now,
                query={"meeting": meeting_id}, case_ids=[r["case_id"] for r in rows])
    return rows


@blp.route("/panels")
class Panels(MethodView):
    @blp.response(200, PanelMeetingOut(many=True))
    def get(self):
        """Panel meetings, latest first."""
        return panel.list_meetings(g.session)


@blp.route("/panels/<int:meeting_id>")
class PanelAgenda(MethodView):
    @blp.response(200, PanelAgendaShown)
    def get(self, meeting_id):
        """One meeting and its agenda, ranked, with invitations and decisions; scores and
        reasons as the sharing agreement lets you see them (purpose: panel). Recorded."""
        meeting = panel.get_meeting(g.session, meeting_id)
        data = {name: getattr(meeting, name) for name in
                ("id", "held_on", "starts_at", "agenda_built_at")}
        data.update(cases=len(meeting.items),
                    decided=sum(i.decision is not None for i in meeting.items))
        items = [{**{name: getattr(item, name) for name in PanelItemOut().fields
                     if name not in ("person_ref", "state")},
                  "person_ref": item.case.person.partner_ref, "state": item.case.state}
                 for item in meeting.items]
        data["items"] = _shown(items, "panel agenda", meeting_id)
        return data


@blp.route("/panels/<int:meeting_id>/decisions")
class PanelDecisions(MethodView):
    @blp.arguments(PanelDecisionIn())
    @blp.response(201, PanelItemOut)
    def post(self, body, meeting_id):
        """Record accept / defer (with defer_until) / reject, with a reason (chairs only)."""
        return panel.decide(g.session, meeting_id, body["case_id"],
                            decision=body["decision"], reason=body["reason"],
                            defer_until=body["defer_until"], override=body["override"],
                            now=datetime.now(UTC),
                            user=g.user, settings=g.runtime.settings)


@blp.route("/panels/<int:meeting_id>/minutes")
class PanelMinutes(MethodView):
    @blp.arguments(MinutesQuery(), location="query")
    def get(self, query, meeting_id):
        """The minutes as JSON, or as Markdown with ``?format=markdown``; scores and
        reasons as the sharing agreement lets you see them (purpose: panel). Recorded."""
        data = panel.minutes(g.session, meeting_id)
        data["items"] = _shown(data["items"], "panel minutes", meeting_id)
        if query["format"] == "markdown":
            return Response(panel.minutes_markdown(data), mimetype="text/markdown")
        return data
