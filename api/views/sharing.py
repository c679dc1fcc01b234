"""Information sharing: per-case restriction and exclusion lists (team leads) and the
access log (auditors and team leads): who read which case, when, for what purpose."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.schemas import PageQuery, page_body, page_of
from db.models import ACCESS_LIST_KINDS
from workflow.cases import get_case, lock_case
from workflow.errors import NotFound
from workflow.pages import Page
from workflow.sharing import restrictions
from workflow.sharing.access import access_entries, entry_dict
from workflow.sharing.groups import AGENCIES

blp = Blueprint("sharing", __name__, description="Information sharing and the access log")
AUDITORS = ("auditor", "team_lead")


class AccessOut(Schema):
    seq = fields.Integer(metadata={"description": "the access log row's number (sealed in "
                                                  "this order, docs/sharing.md)"})
    at = fields.DateTime()
    user = fields.String()
    role = fields.String(allow_none=True)
    agency = fields.String(allow_none=True)
    what = fields.String(allow_none=True)
    purpose = fields.String(allow_none=True)
    via = fields.String(allow_none=True)
    case_id = fields.Integer(allow_none=True)
    query = fields.Dict(allow_none=True)
    case_ids = fields.List(fields.Integer(), allow_none=True)
    refused = fields.String(allow_none=True, metadata={
        "description": "set when the read was refused (403): why; ``what`` then starts "
                       "with ``refused:``"})


AccessPage = page_of(AccessOut, "AccessPage")


class AccessQuery(PageQuery):
    user = fields.String(required=True, validate=validate.Length(1, 60))


class ListIn(Schema):
    users = fields.List(fields.String(validate=validate.Length(1, 60)), load_default=list,
                        validate=validate.Length(max=200))
    agencies = fields.List(fields.String(validate=validate.OneOf(AGENCIES)),
                           load_default=list, validate=validate.Length(max=20))
    message = fields.String(required=True, validate=validate.Length(1, 500), metadata={
        "description": "what everyone kept out is shown: whom to ask"})
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class RemoveIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class ListOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    kind = fields.String()
    users = fields.List(fields.String())
    agencies = fields.List(fields.String())
    message = fields.String()
    reason = fields.String()
    set_by = fields.String()
    set_at = fields.DateTime()
    removed_by = fields.String(allow_none=True)
    removed_at = fields.DateTime(allow_none=True)
    removed_reason = fields.String(allow_none=True)


def _page(query: dict, **where) -> dict:
    rows, total = access_entries(g.session, page=query.get("page") or 1, per_page=query["per_page"],
                                 **where)
    # numbered pages (offset) with the total: the access log is not keyset-paged yet
    return page_body(Page([entry_dict(r) for r in rows], None, total), query)


@blp.route("/cases/<int:case_id>/access")
@blp.arguments(PageQuery(), location="query")
@blp.response(200, AccessPage)
def case_access(query, case_id):
    """Every recorded read of the case, newest first (list reads name the cases they
    returned and are listed by user)."""
    return _page(query, case_id=case_id)


@blp.route("/access")
@blp.arguments(AccessQuery(), location="query")
@blp.response(200, AccessPage)
def user_access(query):
    """Every recorded read by one user (``user`` = username), newest first."""
    return _page(query, user=query["user"])


@blp.route("/cases/<int:case_id>/restrictions")
class CaseRestrictions(MethodView):
    @blp.response(200, ListOut(many=True))
    def get(self, case_id):
        """The case's restriction and exclusion lists, active and removed, oldest first."""
        return restrictions.history(g.session, get_case(g.session, case_id).id)


@blp.route("/cases/<int:case_id>/restrictions/<string:kind>")
class CaseRestriction(MethodView):
    @blp.arguments(ListIn())
    @blp.response(200, ListOut)
    def put(self, body, case_id, kind):
        """Set the case's ``restriction`` list (only these users/agencies may see it; you
        are added) or ``exclusion`` list (these may not), replacing the active one."""
        _check_kind(kind)
        return restrictions.set_list(g.session, lock_case(g.session, case_id), kind=kind,
                                     user=g.user, now=datetime.now(UTC), **body)


@blp.route("/cases/<int:case_id>/restrictions/<string:kind>/remove", methods=["POST"])
@blp.arguments(RemoveIn())
@blp.response(200, ListOut)
def remove_restriction(body, case_id, kind):
    """Remove the case's active list of ``kind``, with a reason."""
    _check_kind(kind)
    return restrictions.remove_list(g.session, lock_case(g.session, case_id), kind=kind,
                                    reason=body["reason"], user=g.user, now=datetime.now(UTC))


def _check_kind(kind: str) -> None:
    if kind not in ACCESS_LIST_KINDS:
        raise NotFound(f"no list kind {kind!r} (restriction or exclusion)",
                       details={"kind": kind})
