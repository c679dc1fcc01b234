"""Panel meetings: list, agenda, decisions (chairs only) and minutes."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint

from api.schemas import (
    MinutesQuery,
    PanelAgendaOut,
    PanelDecisionIn,
    PanelItemOut,
    PanelMeetingOut,
)
from workflow import panel

blp = Blueprint("panels", __name__, description="Multi-agency panel")


@blp.route("/panels")
class Panels(MethodView):
    @blp.response(200, PanelMeetingOut(many=True))
    def get(self):
        """Panel meetings, latest first."""
        return panel.list_meetings(g.session)


@blp.route("/panels/<int:meeting_id>")
class PanelAgenda(MethodView):
    @blp.response(200, PanelAgendaOut)
    def get(self, meeting_id):
        """One meeting and its agenda, ranked, with invitations and decisions."""
        return panel.get_meeting(g.session, meeting_id)


@blp.route("/panels/<int:meeting_id>/decisions")
class PanelDecisions(MethodView):
    @blp.arguments(PanelDecisionIn)
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
    @blp.arguments(MinutesQuery, location="query")
    def get(self, query, meeting_id):
        """The minutes as JSON, or as Markdown with ``?format=markdown``."""
        data = panel.minutes(g.session, meeting_id)
        if query["format"] == "markdown":
            return Response(panel.minutes_markdown(data), mimetype="text/markdown")
        return data
