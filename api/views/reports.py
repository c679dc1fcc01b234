"""Board reports computed from case data (workflow/reports/): JSON, or CSV with
``format=csv``, or a PDF with ``format=pdf``; the board pack (every report) as JSON or PDF."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import OneOf, Range

from api.edge import BoundedDate
from db.models.people import EVENT_KINDS
from workflow.reports.boardpack import board_pack
from workflow.reports.catalogue import run
from workflow.reports.pdf import board_pack_pdf, report_pdf
from workflow.reports.render import plain, to_csv
from workflow.reports.top_arrested import default_window, top_arrested

blp = Blueprint("reports", __name__, description="Reports")


class TopArrestedQuery(Schema):
    start = BoundedDate(data_key="from", metadata={
        "description": "first day (default: two years before `to`, plus one day)"})
    end = BoundedDate(data_key="to", metadata={"description": "last day (default: today)"})

    @validates_schema
    def _window(self, data, **_kw):
        if "start" in data and "end" in data and data["end"] < data["start"]:
            raise ValidationError("'to' is before 'from'", "to")


@blp.route("/reports/top-arrested")
class TopArrested(MethodView):
    @blp.arguments(TopArrestedQuery(), location="query")
    @blp.response(200)
    def get(self, query):
        """Top 10 / 20 / 100 / 200 repeat arrested people in the window: their share of
        all individuals arrested and their arrests."""
        start, end = default_window(query.get("start"), query.get("end"),
                                    today=datetime.now(UTC).date())
        return top_arrested(g.session, start=start, end=end)


class ReportQuery(TopArrestedQuery):
    format = fields.String(load_default="json", validate=OneOf(("json", "csv", "pdf")),
                           metadata={"description": "json (default), csv or pdf"})


def _kind():
    return fields.String(validate=OneOf(EVENT_KINDS),
                         metadata={"description": "events counted (default conviction)"})


def _months():
    return fields.Integer(validate=Range(1, 60))


class ExpansionQuery(ReportQuery):
    stream = fields.String(metadata={"description": "candidates: a cohort stream"})
    ruleset = fields.String(metadata={"description": "candidates: a rule set's selection"})
    refs = fields.List(fields.String(), metadata={"description": "candidates: partner refs"})
    pipeline = fields.Boolean(metadata={
        "description": "candidates: open cases selected, not yet taken on"})
    reference = fields.String()
    reduction = fields.Float(validate=Range(0, 1, max_inclusive=False))


class CohortEffectQuery(ReportQuery):
    as_of = BoundedDate(data_key="as-of")
    kind = _kind()
    baseline_months = fields.Integer(data_key="baseline-months", validate=Range(1, 60))
    followup_months = fields.Integer(data_key="followup-months", validate=Range(1, 60))
    min_days_at_risk = fields.Integer(data_key="min-days-at-risk", validate=Range(1, 365))
    replicates = fields.Integer(validate=Range(10, 5000))
    seed = fields.Integer()


class TargetsQuery(ReportQuery):
    reduction_pct = fields.Float(data_key="reduction-pct", required=True,
                                   validate=Range(0, 100, max_inclusive=False))
    baseline = fields.Integer(validate=Range(0, None))
    kind = _kind()


class CostQuery(ReportQuery):
    as_of = BoundedDate(data_key="as-of")
    kind = _kind()
    baseline_months = fields.Integer(data_key="baseline-months", validate=Range(1, 60))
    price_year = fields.String(data_key="price-year")
    reference = fields.String()
    replicates = fields.Integer(validate=Range(10, 5000))
    seed = fields.Integer()


class CaseloadQuery(ReportQuery):
    target_size = fields.Integer(data_key="target-size", validate=Range(1, None))


class BoardPackQuery(ReportQuery):
    format = fields.String(load_default="json", validate=OneOf(("json", "pdf")),
                           metadata={"description": "json (default) or pdf"})
    as_of = BoundedDate(data_key="as-of")
    kind = _kind()
    replicates = fields.Integer(validate=Range(10, 5000))
    seed = fields.Integer()
    reduction_pct = fields.Float(data_key="reduction-pct",
                                 validate=Range(0, 100, max_inclusive=False),
                                 metadata={"description": "target reduction (default 17)"})
    target_size = fields.Integer(data_key="target-size", validate=Range(1, None))
    stream = fields.String(metadata={"description": "expansion candidates: a stream"})
    ruleset = fields.String(metadata={
        "description": "expansion candidates: a rule set's selection (default: the "
                       "pipeline, cases selected and not yet taken on)"})


def _attachment(body, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


def _prepare(query: dict) -> tuple[str, object, object, dict]:
    query = dict(query)
    fmt = query.pop("format")
    for key in ("reduction", "reduction_pct"):  # floats in the contract, Decimal inside
        if key in query:
            query[key] = Decimal(str(query[key]))
    start, end = default_window(query.pop("start", None), query.pop("end", None),
                                today=datetime.now(UTC).date())
    return fmt, start, end, query


def _report(name: str, query: dict):
    """Run a catalogue report for the query; JSON, CSV or PDF, each with the method note."""
    fmt, start, end, query = _prepare(query)
    result = run(g.session, name, start=start, end=end, **query)
    if fmt == "csv":
        return _attachment(to_csv(result), "text/csv", f"{name}_{start}_{end}.csv")
    if fmt == "pdf":
        return _attachment(report_pdf(result), "application/pdf", f"{name}_{start}_{end}.pdf")
    return plain(result)


@blp.route("/reports/board-pack")
class BoardPack(MethodView):
    @blp.arguments(BoardPackQuery(), location="query")
    @blp.response(200)
    def get(self, query):
        """Every board report for one period (cohort effect, expansion, cost, targets,
        caseload, top arrested) with a method summary: JSON, or the printable board pack
        PDF with ``format=pdf``."""
        fmt, start, end, options = _prepare(query)
        pack = board_pack(g.session, start=start, end=end, options=options)
        if fmt == "pdf":
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            return _attachment(board_pack_pdf(pack["reports"], start=start, end=end,
                                              generated=now, method=pack["method"]),
                               "application/pdf", f"board-pack_{start}_{end}.pdf")
        return plain(pack)


def _route(name: str, schema: type[Schema], doc: str) -> None:
    class View(MethodView):
        @blp.arguments(schema, location="query")
        @blp.response(200)
        def get(self, query):
            return _report(name, query)

    View.get.__doc__ = doc
    View.__name__ = f"Report_{name.replace('-', '_')}"
    blp.route(f"/reports/{name}")(View)


_route("expansion", ExpansionQuery,
       "Expansion estimate for a candidate list (exactly one of stream, ruleset, refs), "
       "with its method note.")
_route("cohort-effect", CohortEffectQuery,
       "Change in offending since joining against the panel-rejected comparison group, "
       "with bootstrap intervals, small-number flags and the method note.")
_route("targets", TargetsQuery,
       "A % reduction target against a baseline, actual vs allowed month by month.")
_route("cost", CostQuery,
       "Home Office cost of the cohort's crime before / during / after joining.")
_route("caseload", CaseloadQuery,
       "Open cases by stream and state, entries and exits per month, time in each stage, "
       "candidates by source, panel outcomes, tasks on time / late / overdue per agency, "
       "active cohort against a target (given, or the dated reference target).")
