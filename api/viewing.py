"""The sharing decision at the HTTP edge: who is reading, for what purpose, and the one
access entry each read writes (``workflow.sharing``)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from marshmallow import Schema, fields, validate
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from db.models import Case
from workflow.errors import NotFound
from workflow.sharing.access import record_read
from workflow.sharing.decide import (
    HAS_LISTS,
    Decision,
    Viewer,
    check_purpose,
    decide,
    decision_for,
)
from workflow.sharing.groups import PURPOSES
from workflow.sharing.store import agreement_in_force
from workflow.sharing.view import require_unrestricted

# Every case read runs it: the case, its person and whether it has an active
# restriction list in one query, built once (``get`` with a loader option builds and
# compiles it again at each call).
_CASE_AND_PERSON = select(Case, HAS_LISTS).options(joinedload(Case.person)).where(
    Case.id == bindparam("case_id"))


class PurposeQuery(Schema):
    purpose = fields.String(load_default=None, validate=validate.OneOf(PURPOSES), metadata={
        "description": "why you read (default: audit for auditors, else case_management); "
                       "the sharing agreement may show more or less for it"})


def viewer() -> Viewer:
    return Viewer.of(g.user)


def purpose_of(query: dict) -> str:
    return check_purpose(query.get("purpose"), viewer())


def read_case(case_id: int, what: str, query: dict, *, allow_restricted: bool = False,
              allow_missing: bool = False, record: bool = True
              ) -> tuple[Case | None, Decision]:
    """The case and the caller's decision on it, the read recorded; a restricted case
    is refused (403 with whom to ask) unless ``allow_restricted`` (the detail shows it
    as restricted). ``allow_missing``: a case deleted under retention (its audit
    remains) is read under the agreement alone. ``record=False``: the caller records
    the read with :func:`record_case_read` once it is made."""
    now, who = datetime.now(UTC), viewer()
    purpose = check_purpose(query.get("purpose"), who)
    case, has_lists = g.session.execute(_CASE_AND_PERSON, {"case_id": case_id}).one_or_none(
    ) or (None, False)
    if case is None and not allow_missing:
        raise NotFound(f"case {case_id} not found", details={"case_id": case_id})
    decision = (decision_for(g.session, case, viewer=who, now=now, purpose=purpose,
                             has_lists=has_lists) if case
                else decide(agreement_in_force(g.session, now), who, purpose=purpose))
    if not allow_restricted:
        require_unrestricted(decision)
    if record:
        record_case_read(case_id, case, decision, what)
    return case, decision


def record_case_read(case_id: int, case: Case | None, decision: Decision, what: str) -> None:
    """The one access entry of a read of ``case_id``."""
    record_read(g.session, viewer=viewer(), what=what, purpose=decision.purpose,
                now=datetime.now(UTC), case_id=case_id,
                person_ref=None if decision.restricted or case is None
                else case.person.partner_ref)
