"""The API twin of ``iom import KIND FILE``: CSV in, import report out."""

from __future__ import annotations

import io
import typing
from datetime import UTC, datetime

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import RequestEntityTooLarge

from api.edge import bad_text, body_limit
from api.schemas import ImportBatchDetail, ImportPage, ImportQuery, page_args, page_body
from api.transactions import body_streamed
from workflow.errors import InvalidInput
from workflow.partners.batches import batches_page, get_batch
from workflow.partners.formats import KINDS
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
        filename, stream = upload.filename or "upload.csv", upload.stream
    elif request.content_type and request.content_type.split(";")[0] in (
            "text/csv", "text/plain", "application/csv"):
        body_streamed()
        filename = request.args.get("filename", "request.csv")
        stream = io.BufferedReader(request.stream)
    else:
        raise InvalidInput("send the CSV as text/csv body or as multipart field 'file'",
                           details={"field": "file"})
    reason = bad_text(filename) or (f"is {len(filename)} characters long; at most "
                                    f"{MAX_FILENAME} are kept" if len(filename) > MAX_FILENAME
                                    else None)
    if reason:
        raise InvalidInput(f"the file name {reason}", details={"field": "filename"})
    return filename, stream


MAX_FILENAME = 260  # import_batch.filename
_CSV_BODY = {"content": {
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}}}}


@blp.route(f"/imports/<any({', '.join(KINDS)}):kind>")
class Import(MethodView):
    @blp.doc(requestBody=_CSV_BODY, parameters=[{
        "in": "query", "name": "filename", "schema": {"type": "string", "maxLength": 260},
        "description": "name recorded for a text/csv body (default request.csv)"}])
    @blp.response(200)
    def post(self, kind):
        """Import a partner CSV (people, events, supervision, assessments, flags).

        Good rows are applied, every bad row is reported with row, field and reason;
        re-sending the same file changes nothing. The body may be up to
        ``[server] max_upload_mb`` (413 above); it is read as the import goes.
        """
        filename, stream = _csv_stream()
        try:
            report = import_csv(g.session, kind, stream, filename=filename,
                                actor=g.user.username, now=datetime.now(UTC),
                                agency=g.user.agency)
        except RequestEntityTooLarge as exc:  # a chunked body cut off at the limit
            raise RequestEntityTooLarge(
                f"{filename}: the upload is over {body_limit()} bytes (server.max_upload_mb); "
                "nothing was imported") from exc
        return report.as_dict()


@blp.route("/imports")
class Imports(MethodView):
    @blp.arguments(ImportQuery(), location="query")
    @blp.response(200, ImportPage)
    def get(self, query):
        """Past imports, newest first (optionally one kind): who, when, what came in."""
        return page_body(batches_page(g.session, kind=query.get("kind"), **page_args(query)),
                         query)


@blp.route("/imports/<int:batch_id>")
class ImportDetail(MethodView):
    @blp.response(200, ImportBatchDetail)
    def get(self, batch_id):
        """One import with the row, field and reason of each refused row."""
        return get_batch(g.session, batch_id)
