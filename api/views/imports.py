"""The API twin of ``iom import KIND FILE``: CSV in, import report out."""

from __future__ import annotations

import io
import typing
from datetime import UTC, datetime

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import roles
from api.schemas import ImportBatchDetail, ImportPage, ImportQuery, page_body
from api.transactions import body_streamed
from workflow.errors import InvalidInput
from workflow.partners.batches import get_batch, list_batches
from workflow.partners.imports import import_csv

blp = Blueprint("imports", __name__, description="Partner data imports")


def _csv_stream() -> tuple[str, typing.BinaryIO]:
    """The uploaded CSV as a binary stream, read as the import goes (never whole in
    memory).

    Multipart field ``file`` (Werkzeug spools a large upload to disk) or a ``text/csv``
    body. The import decodes it as UTF-8 line by line, so undecodable bytes become its
    own error naming the exact line. A raw body cannot be read twice: the request is not
    retried once it has begun (``api/transactions.py``).
    """
    upload = request.files.get("file")
    if upload is not None:
        return upload.filename or "upload.csv", upload.stream
    if request.content_type and request.content_type.split(";")[0] in (
            "text/csv", "text/plain", "application/csv"):
        body_streamed()
        return request.args.get("filename", "request.csv"), io.BufferedReader(request.stream)
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
        filename, stream = _csv_stream()
        report = import_csv(g.session, kind, stream, filename=filename,
                            actor=g.user.username, now=datetime.now(UTC))
        return report.as_dict()


@blp.route("/imports")
class Imports(MethodView):
    @roles("team_lead", "police", "auditor")
    @blp.arguments(ImportQuery, location="query")
    @blp.response(200, ImportPage)
    def get(self, query):
        """Past imports, newest first (optionally one kind): who, when, what came in."""
        items, total = list_batches(g.session, kind=query.get("kind"), page=query["page"],
                                    per_page=query["per_page"])
        return page_body(items, total, query)


@blp.route("/imports/<int:batch_id>")
class ImportDetail(MethodView):
    @roles("team_lead", "police", "auditor")
    @blp.response(200, ImportBatchDetail)
    def get(self, batch_id):
        """One import with the row, field and reason of each refused row."""
        return get_batch(g.session, batch_id)
