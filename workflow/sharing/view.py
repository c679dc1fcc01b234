"""A case as one viewer may see it: :func:`case_view` (detail) and :func:`case_summary`
(list rows), both plain dicts ready for JSON or a page template.

Every field group is rendered by the one :class:`~workflow.sharing.decide.Decision`:
``show`` gives the value, ``mask`` gives the group's marker (``withheld: true``, a
label and whom to ask) in its place, ``none`` leaves the key out. A restricted case
gives the name ``*********``, ``restricted: {label: "Restricted access", message}``
and no field group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from db.models import (
    Assessment,
    Case,
    ComplianceEvent,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
    Task,
    User,
)
from db.session import read_rows
from workflow.errors import Forbidden
from workflow.sharing.decide import (
    HAS_LISTS,
    Decision,
    Viewer,
    decision_for,
    decisions_by_names,
)
from workflow.sharing.groups import FLAG_GROUPS, MASK, flag_group
from workflow.sharing.redact import event_view, task_view

_ALWAYS = ("id", "episode", "state", "state_since", "opened_at", "closed_at",
           "next_due_at", "last_outcome")


@dataclass(frozen=True)
class CaseView:
    """What ``viewer`` may see of a case: ``data`` (the dict) and the decision."""

    case_id: int
    data: dict
    decision: Decision


def _group(decision: Decision, group: str, build) -> tuple[bool, object]:
    level = decision.level(group)
    if level == "none":
        return False, None
    return True, (build() if level == "show" else decision.marker(group))


def case_summary(case: Case, decision: Decision) -> dict:
    """The list row of ``case``: state, name, cohort and risk as ``decision`` allows."""
    person = case.person
    return _summary(case, person.partner_ref, person.given_name, person.family_name,
                    decision)


def _summary(case, person_ref: str, given: str, family: str, decision: Decision) -> dict:
    """The list row of ``case`` (a Case, or a listed row: anything with the case's
    attributes) whose person has ``person_ref`` and these names."""
    data = {name: getattr(case, name) for name in _ALWAYS}
    data["person_ref"] = MASK if decision.restricted else person_ref
    data["name"] = decision.display_name(f"{given} {family}")
    data["restricted"] = decision.restriction()
    for key, group in (("cohort", "supervision"), ("intensity", "risk"),
                       ("activity_score", "risk"), ("last_error", "audit")):
        present, value = _group(decision, group, lambda k=key: getattr(case, k))
        if present:
            data[key] = value
    data["withheld"] = decision.withheld()
    data["sharing"] = {"agreement": decision.agreement_version, "purpose": decision.purpose}
    return data


# The detail's groups, each read as plain rows by a statement built once (a lazy load
# per relation built mapped objects for a read-only answer); ``:person`` / ``:case``.
_PERSON, _CASE = bindparam("person"), bindparam("case")
_SUPERVISIONS = select(Supervision.provider, Supervision.offender_manager,
                       Supervision.start_on, Supervision.end_on).where(
    Supervision.person_id == _PERSON).order_by(Supervision.id)
_EVENTS = select(OffendingEvent.kind, OffendingEvent.occurred_on,
                 OffendingEvent.offence_category).where(
    OffendingEvent.person_id == _PERSON).order_by(OffendingEvent.occurred_on,
                                                  OffendingEvent.id)
_ASSESSMENTS = select(Assessment.tool, Assessment.assessed_on, Assessment.ogrs_1yr,
                      Assessment.ogrs_2yr, Assessment.source).where(
    Assessment.person_id == _PERSON).order_by(Assessment.id)
_FLAGS = select(PartnerFlag.kind, PartnerFlag.value, PartnerFlag.recorded_on).where(
    PartnerFlag.person_id == _PERSON).order_by(PartnerFlag.recorded_on, PartnerFlag.id)
_COMPLIANCE = select(*(getattr(ComplianceEvent, c.key) for c in ComplianceEvent.__table__.c)
                     ).where(ComplianceEvent.case_id == _CASE).order_by(
    ComplianceEvent.occurred_at, ComplianceEvent.id)
_TASKS = select(*(getattr(Task, c.key) for c in Task.__table__.c)).where(
    Task.case_id == _CASE).order_by(Task.id)
_LEAD = select(User.display_name).where(User.id == bindparam("user"))
_NAMES = select(Case.id, Person.given_name, Person.family_name, HAS_LISTS).join_from(
    Case, Person, Case.person_id == Person.id).where(Case.id.in_(bindparam("ids", expanding=True)))


def _flags(session: Session, case: Case, decision: Decision) -> dict:
    out = {}
    flags = (_rows(session, _FLAGS, person=case.person_id)  # read once, if a group is shown
             if any(decision.shows(group) for group in FLAG_GROUPS) else [])
    for group in FLAG_GROUPS:
        present, value = _group(decision, group, lambda g=group: [
            {"kind": f.kind, "value": f.value, "recorded_on": f.recorded_on}
            for f in flags if flag_group(f.kind) == g])
        if present:
            out[group] = value
    return out


def _rows(session: Session, statement, **params) -> list:
    return read_rows(session, statement, params).all()


def _builders(session: Session, case: Case, decision: Decision) -> dict:
    person = case.person
    return {
        "identity": lambda: {"name": f"{person.given_name} {person.family_name}",
                             "date_of_birth": person.date_of_birth, "sex": person.sex},
        "supervision": lambda: {"cohort": case.cohort, "lead": session.scalar(
            _LEAD, {"user": case.lead_user_id}) if case.lead_user_id else None,
            "providers": [{"provider": s.provider, "offender_manager": s.offender_manager,
                           "start_on": s.start_on, "end_on": s.end_on}
                          for s in _rows(session, _SUPERVISIONS, person=person.id)]},
        "offending": lambda: [{"kind": e.kind, "occurred_on": e.occurred_on,
                               "offence_category": e.offence_category}
                              for e in _rows(session, _EVENTS, person=person.id)],
        "risk": lambda: {"activity_score": case.activity_score, "intensity": case.intensity,
                         "assessments": [{"tool": a.tool, "assessed_on": a.assessed_on,
                                          "ogrs_1yr": a.ogrs_1yr, "ogrs_2yr": a.ogrs_2yr,
                                          "source": a.source}
                                         for a in _rows(session, _ASSESSMENTS,
                                                        person=person.id)]},
        "compliance": lambda: [event_view(e, decision)
                               for e in _rows(session, _COMPLIANCE, case=case.id)],
        "tasks": lambda: [t for t in (task_view(t, decision)
                                      for t in _rows(session, _TASKS, case=case.id)) if t],
    }


def case_view(session: Session, case: Case, *, viewer: Viewer, now: datetime,
              purpose: str, decision: Decision | None = None) -> CaseView:
    """The detail of ``case`` as ``viewer`` may see it for ``purpose`` at ``now``."""
    decision = decision or decision_for(session, case, viewer=viewer, now=now,
                                        purpose=purpose)
    data = case_summary(case, decision)
    if not decision.restricted:
        for group, build in _builders(session, case, decision).items():
            present, value = _group(decision, group, build)
            if present:
                data[group] = value
        data["flags"] = _flags(session, case, decision)
    return CaseView(case.id, data, decision)


def case_summaries(session: Session, rows: list, *, viewer: Viewer, now: datetime,
                   purpose: str) -> list[dict]:
    """List rows for the listed case ``rows`` of ``workflow.case_list.list_cases`` (plain
    rows with the case's listed columns and the person's ``partner_ref``, ``given_name``
    and ``family_name``): one agreement lookup and one list query for all."""
    by_case = decisions_by_names(
        session, {r.id: (r.given_name, r.family_name) for r in rows}, viewer=viewer,
        now=now, purpose=purpose, listed=_listed(rows))
    return [_summary(r, r.partner_ref, r.given_name, r.family_name, by_case[r.id])
            for r in rows]


def _listed(rows: list) -> list[int] | None:
    """The ids of the listed ``rows`` whose case has an active list, when the rows carry
    ``has_lists`` (:data:`HAS_LISTS`); else None (every case's lists are looked up)."""
    if rows and "has_lists" not in getattr(rows[0], "_fields", ()):
        return None
    return [r.id for r in rows if r.has_lists]


def _decisions_by_id(session: Session, case_ids: set[int], *, viewer: Viewer,
                     now: datetime, purpose: str) -> dict[int, Decision]:
    """``{case id: Decision}`` for ``case_ids``, their people's names (and whether each
    case has an active list) read in one query: all a decision needs of a case, no Case
    objects, and the lists of only the cases that have one."""
    rows = read_rows(session, _NAMES, {"ids": sorted(case_ids)}).all()
    names = {row.id: (row.given_name, row.family_name) for row in rows}
    return decisions_by_names(session, names, viewer=viewer, now=now, purpose=purpose,
                              listed=_listed(rows))


def require_unrestricted(decision: Decision) -> None:
    """Raise :class:`Forbidden` (with the list's message) when the case is restricted
    for this viewer: its history, events and explanation are not shown at all."""
    if decision.restricted:
        raise Forbidden(f"Restricted access: {decision.ask('identity')}",
                        details={"restricted": True, "ask": decision.ask("identity")})


def panel_rows(session: Session, rows: list[dict], *, viewer: Viewer, now: datetime,
               purpose: str = "panel") -> list[dict]:
    """Panel agenda or minutes rows (dicts with ``case_id``, ``person_ref``,
    ``activity_score`` and ``reason``) as ``viewer`` may see them: the score needs the
    ``risk`` group, the reason ``notes``; a restricted case's reference is masked."""
    by_case = _decisions_by_id(session, {row["case_id"] for row in rows}, viewer=viewer,
                               now=now, purpose=purpose)
    out = []
    for row in rows:
        decision = by_case[row["case_id"]]
        row = dict(row)
        if decision.restricted:
            row["person_ref"] = MASK
        for key, group in (("activity_score", "risk"), ("reason", "notes")):
            if row.get(key) is not None and not decision.shows(group):
                row[key] = (decision.marker(group) if decision.level(group) == "mask"
                            else None)
        out.append(row)
    return out


def tasks_as_seen(session: Session, tasks: list, *, viewer: Viewer, now: datetime,
                  purpose: str | None = None) -> list[dict]:
    """Tasks (Task objects or plain rows with a task's columns) as ``viewer`` may see
    them (``task_view`` under each case's decision, one agreement lookup for all):
    titles masked or the person's name scrubbed; tasks withheld are left out. Each dict
    also carries ``reminded_at`` and ``escalated_at``."""
    from workflow.sharing.decide import check_purpose

    if not tasks:
        return []
    by_case = _decisions_by_id(session, {t.case_id for t in tasks}, viewer=viewer, now=now,
                               purpose=check_purpose(purpose, viewer))
    out = []
    for task in tasks:
        view = task_view(task, by_case[task.case_id])
        if view is not None:
            out.append({**view, "reminded_at": task.reminded_at,
                        "escalated_at": task.escalated_at})
    return out
