"""The API twin of ``iom import KIND FILE``: CSV in, import report out."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import roles
from workflow.errors import InvalidInput
from workflow.partners.imports import import_csv

blp = Blueprint("imports", __name__, description="Partner data imports")


def _csv_text() -> tuple[str, str]:
    upload = request.files.get("file")
    if upload is not None:
        return upload.filename or "upload.csv", upload.read().decode("utf-8-sig")
    if request.content_type and request.content_type.split(";")[0] in (
            "text/csv", "text/plain", "application/csv"):
        return request.args.get("filename", "request.csv"), request.get_data(as_text=True)
    raise InvalidInput("send the CSV as text/csv body or as multipart field 'file'",
                       details={"field": "file"})


@blp.route("/imports/<string:kind>")
class Import(MethodView):
    @roles("team_lead", "police")
    @blp.response(200)
    def post(self, kind):
        """Import a partner CSV (people, events, supervision, assessments, flags).

        Good rows are applied, every bad row is reported with row, field and reason;
        re-sending the same file changes nothing.
        """
        filename, text = _csv_text()
        report = import_csv(g.session, kind, io.StringIO(text), filename=filename,
                            actor=g.user.username, now=datetime.now(UTC))
        return report.as_dict()
