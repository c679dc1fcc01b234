"""Marshmallow schemas at the HTTP edge (requests validated, responses documented)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.dumping import FastDumpSchema
from api.edge import MAX_ID, BoundedAwareDateTime, BoundedDate
from workflow.lifecycle import STATES
from workflow.partners.formats import KINDS
from workflow.sharing.groups import PURPOSES


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"description": "stable machine code"})
    message = fields.String(required=True)
    details = fields.Raw(required=True, metadata={
        "description": "object: the field, row or rule that was wrong (may be empty)"})


class ErrorOut(Schema):
    """The one error body of every 4xx/5xx: ``{"error": {"code", "message", "details"}}``."""

    error = fields.Nested(ErrorBody, required=True)


# Pages are capped so that page * per_page stays an ``integer`` offset.
MAX_PAGE = 1_000_000


class PageQuery(Schema):
    """A listing's page: ``after`` (the previous page's ``next`` cursor) and ``per_page``
    (1-500); ``total=true`` also counts the whole listing. ``page`` (from 1, by offset) is
    the older form, still answered. Filters subclass it."""

    after = fields.String(validate=validate.Length(1, 400), metadata={
        "description": "opaque cursor: the 'next' of the previous page"})
    page = fields.Integer(validate=validate.Range(1, MAX_PAGE), metadata={
        "description": "older offset form (slower on deep pages); prefer after"})
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    total = fields.Boolean(load_default=False, metadata={
        "description": "count the rows of the whole listing (costs a count)"})


PAGE_ARGS = ("after", "page", "per_page", "total")


class CaseQuery(PageQuery):
    state = fields.String(validate=validate.OneOf(tuple(STATES)))
    stream = fields.String(validate=validate.Length(1, 20), metadata={
        "description": "the case's cohort stream (e.g. fixed, flex, free)"})
    lead = fields.Integer(validate=validate.Range(0, MAX_ID), metadata={
        "description": "user id of the lead professional"})
    agency = fields.String(validate=validate.Length(1, 20), metadata={
        "description": "agency of the lead professional"})
    due_before = BoundedAwareDateTime(metadata={
        "description": "next due at or before this instant"})
    purpose = fields.String(load_default=None, validate=validate.OneOf(PURPOSES),
                            metadata={"description": "why you read (default: audit for "
                                      "auditors, else case_management)"})


def _withheld(description: str) -> fields.Raw:
    return fields.Raw(metadata={"description": description + "; under the sharing "
                                "agreement: the value, a marker {withheld: true, group, "
                                "label, text, ask} when masked, or absent"})


class CaseOut(FastDumpSchema):
    """A case as the caller may see it (``workflow.sharing``)."""

    id = fields.Integer()
    person_ref = fields.String(metadata={"description": "********* when restricted"})
    name = _withheld("full name (********* when restricted)")
    episode = fields.Integer()
    state = fields.String()
    state_since = fields.DateTime()
    opened_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    next_due_at = fields.DateTime(allow_none=True)
    last_outcome = fields.String(allow_none=True)
    cohort = _withheld("NPS, CRC or nonstat (group supervision)")
    intensity = _withheld("intensity tier (group risk)")
    activity_score = _withheld("matrixing score (group risk)")
    last_error = _withheld("last processing error (group audit)")
    restricted = fields.Dict(allow_none=True, metadata={
        "description": "{label: 'Restricted access', message: whom to ask} when a "
                       "restriction or exclusion list keeps you out, else null"})
    withheld = fields.List(fields.Dict(), metadata={
        "description": "each field group you are not shown: {group, level, ask}"})
    sharing = fields.Dict(metadata={"description": "{agreement: version, purpose}"})
    identity = _withheld("{name, date_of_birth, sex}")
    supervision = _withheld("{cohort, lead, providers}")
    offending = _withheld("offending events")
    risk = _withheld("{activity_score, intensity, assessments}")
    flags = fields.Dict(metadata={"description": "partner flags by source group "
                                  "(flags.mappa, flags.marac, ...): a list, a marker or "
                                  "absent"})
    compliance = _withheld("compliance events")
    tasks = _withheld("tasks on the case")


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A page of ``item``: ``{items, next, total, page, per_page}``, named for the doc."""
    return FastDumpSchema.from_dict({
        "items": fields.List(fields.Nested(item)),
        "next": fields.String(allow_none=True, metadata={
            "description": "cursor of the next page (send as after); null on the last"}),
        "total": fields.Integer(allow_none=True, metadata={
            "description": "rows in the whole listing; null unless total=true"}),
        "page": fields.Integer(allow_none=True), "per_page": fields.Integer()}, name=name)


def page_body(page, query: dict) -> dict:
    """The response of a listing: a :class:`workflow.pages.Page` and what was asked."""
    return {"items": page.rows, "next": page.next, "total": page.total,
            "page": query.get("page"), "per_page": query["per_page"]}


def page_args(query: dict) -> dict:
    """The paging arguments of ``query`` for :func:`workflow.pages.seek_page`."""
    return {k: query.get(k) for k in ("after", "page", "total")} | {
        "per_page": query["per_page"], "total": query.get("total", False)}


CasePage = page_of(CaseOut, "CasePage")


class AuditEntryOut(FastDumpSchema):
    seq = fields.Integer()
    occurred_at = fields.DateTime()
    actor = fields.String()
    kind = fields.String()
    summary = fields.String()
    payload = fields.Raw()
    hash = fields.String()


class ExplainLineOut(FastDumpSchema):
    seq = fields.Integer()
    at = fields.String(metadata={"description": "ISO 8601 time of the entry"})
    kind = fields.String()
    section = fields.String(metadata={
        "description": "system, rule, schedule, human, override or access"})
    actor = fields.String()
    text = fields.String(metadata={"description": "the entry in plain language"})
    person_ref = fields.String(allow_none=True)
    hash = fields.String()
    intact = fields.Boolean(metadata={"description": "false: the entry no longer matches "
                                                     "its hash (run iom audit verify)"})
    details = fields.Dict()


class EvaluateIn(Schema):
    stage = fields.String()
    ruleset = fields.String()
    now = BoundedAwareDateTime(load_default=None, default_timezone=None)
    facts = fields.List(fields.Dict(), required=True)


class DecisionOut(FastDumpSchema):
    rule = fields.String()
    ruleset = fields.String()
    version = fields.String()
    action = fields.String()
    params = fields.Dict()
    matched = fields.Dict()


class EvaluateOut(FastDumpSchema):
    id = fields.Raw()
    outcome = fields.String(allow_none=True)
    decisions = fields.List(fields.Nested(DecisionOut))


class RuleSetOut(Schema):
    name = fields.String()
    version = fields.String()
    stage = fields.String()
    status = fields.String()
    published_by = fields.String(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    reason = fields.String(allow_none=True)


class DraftIn(Schema):
    document = fields.String(required=True, validate=validate.Length(min=1))
    reason = fields.String(required=True, validate=validate.Length(min=1))


class ReasonIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1))


class RuleSetVersionOut(RuleSetOut):
    created_by = fields.String()
    created_at = fields.DateTime()
    approved_by = fields.String(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    tested_ok = fields.Boolean(allow_none=True)
    previewed_at = fields.DateTime(allow_none=True)
    document = fields.String()


class PublishOut(RuleSetVersionOut):
    warnings = fields.List(fields.String())
    moves_at_next_pass = fields.List(fields.Integer())
    note = fields.String()


class PublicationOut(Schema):
    version = fields.Function(lambda p: p.version.version)
    kind = fields.String()
    published_at = fields.DateTime()
    actor = fields.String()
    reason = fields.String()


class HistoryOut(Schema):
    versions = fields.List(fields.Nested(RuleSetOut))
    publications = fields.List(fields.Nested(PublicationOut))


class AsOfQuery(Schema):
    on = BoundedAwareDateTime(required=True)
    stage = fields.String(load_default=None)
    purpose = fields.String(load_default=None, validate=validate.OneOf(PURPOSES))


class PanelMeetingOut(Schema):
    id = fields.Integer()
    held_on = fields.Date()
    starts_at = fields.DateTime()
    agenda_built_at = fields.DateTime(allow_none=True)
    cases = fields.Function(lambda m: len(m.items))
    decided = fields.Function(lambda m: sum(i.decision is not None for i in m.items))


class PanelItemOut(Schema):
    rank = fields.Integer()
    case_id = fields.Integer()
    person_ref = fields.Function(lambda i: i.case.person.partner_ref)
    state = fields.Function(lambda i: i.case.state)
    activity_score = fields.Float(allow_none=True)
    invited_user_id = fields.Integer(allow_none=True)
    invited_name = fields.String(allow_none=True)
    decision = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    defer_until = fields.Date(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_role = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class PanelAgendaOut(PanelMeetingOut):
    items = fields.List(fields.Nested(PanelItemOut))


class PanelDecisionIn(Schema):
    case_id = fields.Integer(required=True, validate=validate.Range(0, MAX_ID))
    decision = fields.String(required=True, validate=validate.OneOf(("accept", "defer",
                                                                     "reject")))
    reason = fields.String(required=True, validate=validate.Length(min=1))
    defer_until = BoundedDate(load_default=None)
    override = fields.String(load_default=None, validate=validate.Length(min=1, max=2000),
                             metadata={"description": "accept only: why the panel accepts "
                                       "a case an exclusion rule applies to (recorded)"})


class MinutesQuery(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "markdown")))


class ImportQuery(PageQuery):
    kind = fields.String(validate=validate.OneOf(KINDS))


class ImportBatchOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    filename = fields.String()
    sha256 = fields.String()
    actor = fields.String()
    started_at = fields.DateTime()
    rows_total = fields.Integer()
    rows_created = fields.Integer()
    rows_updated = fields.Integer()
    rows_unchanged = fields.Integer()
    rows_rejected = fields.Integer()


class ImportBatchDetail(ImportBatchOut):
    errors = fields.List(fields.Dict(), metadata={
        "description": "row, field and reason of each refused row (the first 1,000)"})


ImportPage = page_of(ImportBatchOut, "ImportPage")
