"""Per-case restriction and exclusion lists, set and removed by a team lead with a reason.

A *restriction* list names the only users and agencies who may see the case (the team
lead who sets it is always on it); an *exclusion* list names those who may not. Each
carries the message everyone kept out sees ("Restricted access: ask ..."). Setting a
list replaces the active list of that kind; every change is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ACCESS_LIST_KINDS, Case, CaseAccessList, User
from workflow import audit
from workflow.errors import Forbidden, InvalidInput, NotFound
from workflow.sharing.groups import AGENCIES

SETTERS = ("team_lead", "admin")


def _require_setter(user: User) -> None:
    if user.role not in SETTERS:
        raise Forbidden("only a team lead may restrict access to a case",
                        details={"role": user.role})


def _check(session: Session, kind: str, users: list[str], agencies: list[str],
           message: str, reason: str) -> None:
    if kind not in ACCESS_LIST_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ACCESS_LIST_KINDS)}",
                           details={"field": "kind"})
    if not users and not agencies:
        raise InvalidInput("name at least one user or agency", details={"field": "users"})
    for field, text in (("message", message), ("reason", reason)):
        if not text.strip():
            raise InvalidInput(f"give a {field}", details={"field": field})
    unknown = sorted(set(agencies) - set(AGENCIES))
    if unknown:
        raise InvalidInput(f"unknown agency {', '.join(unknown)} (known: "
                           f"{', '.join(AGENCIES)})", details={"field": "agencies"})
    known = set(session.scalars(select(User.username).where(User.username.in_(users))))
    missing = sorted(set(users) - known)
    if missing:
        raise InvalidInput(f"no user {', '.join(missing)}", details={"field": "users"})


def active(session: Session, case_id: int, kind: str | None = None) -> list[CaseAccessList]:
    """The case's active lists (of ``kind`` when given)."""
    query = select(CaseAccessList).where(CaseAccessList.case_id == case_id,
                                         CaseAccessList.removed_at.is_(None))
    if kind:
        query = query.where(CaseAccessList.kind == kind)
    return list(session.scalars(query.order_by(CaseAccessList.id)))


def history(session: Session, case_id: int) -> list[CaseAccessList]:
    """Every list the case has had, active and removed, oldest first."""
    return list(session.scalars(select(CaseAccessList).where(
        CaseAccessList.case_id == case_id).order_by(CaseAccessList.id)))


def _close(row: CaseAccessList, *, user: User, now: datetime, reason: str) -> None:
    row.removed_by, row.removed_at, row.removed_reason = user.username, now, reason


def set_list(session: Session, case: Case, *, kind: str, users: list[str],
             agencies: list[str], message: str, reason: str, user: User, now: datetime
             ) -> CaseAccessList:
    """Set the case's ``kind`` list (replacing the active one); audited."""
    _require_setter(user)
    users, agencies = sorted(set(users)), sorted(set(agencies))
    if kind == "restriction" and user.username not in users:
        users = sorted([*users, user.username])  # the team lead does not lock themselves out
    _check(session, kind, users, agencies, message, reason)
    for old in active(session, case.id, kind):
        _close(old, user=user, now=now, reason=f"replaced: {reason}")
    row = CaseAccessList(case_id=case.id, kind=kind, users=users, agencies=agencies,
                         message=message, reason=reason, set_by=user.username, set_at=now)
    session.add(row)
    session.flush()
    audit.record(session, kind="case.access_restricted", actor=user.username,
                 occurred_at=now, case_id=case.id, person_ref=case.person.partner_ref,
                 summary=f"{kind.capitalize()} list set on case {case.id} by "
                         f"{user.username}: {reason}",
                 payload={"list": kind, "id": row.id, "users": users, "agencies": agencies,
                          "message": message, "reason": reason})
    return row


def remove_list(session: Session, case: Case, *, kind: str, reason: str, user: User,
                now: datetime) -> CaseAccessList:
    """Remove the case's active ``kind`` list; audited. :class:`NotFound` if none."""
    _require_setter(user)
    if not reason.strip():
        raise InvalidInput("give a reason", details={"field": "reason"})
    rows = active(session, case.id, kind)
    if not rows:
        raise NotFound(f"case {case.id} has no active {kind} list",
                       details={"case_id": case.id, "kind": kind})
    for row in rows:
        _close(row, user=user, now=now, reason=reason)
    session.flush()
    audit.record(session, kind="case.access_unrestricted", actor=user.username,
                 occurred_at=now, case_id=case.id, person_ref=case.person.partner_ref,
                 summary=f"{kind.capitalize()} list removed from case {case.id} by "
                         f"{user.username}: {reason}",
                 payload={"list": kind, "ids": [r.id for r in rows], "reason": reason})
    return rows[-1]


def as_dict(row: CaseAccessList) -> dict:
    return {name: getattr(row, name) for name in (
        "id", "case_id", "kind", "users", "agencies", "message", "reason", "set_by",
        "set_at", "removed_by", "removed_at", "removed_reason")}
