"""What a person-facing page shows about one case: a summary, its open tasks and who
may take a task. Read only, except that a read of a case is recorded in the access log,
as the API does, so the access log lists page views too.

The web pages reach case data through this module and :mod:`workflow.explain` only, by
one function of theirs (``web/case_data.py``). The information sharing agreement applies
here (:mod:`workflow.sharing`): each field a viewer may not see is ``None`` (the group is
``none``) or the group's marker (``mask``: ``{"withheld": true, "label", "ask"}``), a
restricted case shows only ``*********`` and ``restricted`` (whom to ask), and the read is
one access log row (``via: web``), as the API writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Assessment, Case, PartnerFlag, Supervision, Task, User
from workflow.cases import get_case
from workflow.sharing.access import record_read as record_access
from workflow.sharing.decide import Decision, Viewer, check_purpose, decision_for
from workflow.sharing.groups import FLAG_GROUPS, MASK, flag_group
from workflow.sharing.redact import task_view
from workflow.tasks.routing import OUTSTANDING


@dataclass(frozen=True)
class Flag:
    kind: str
    value: str
    recorded_on: date
    source: str


@dataclass(frozen=True)
class Ogrs:
    two_year: int
    one_year: int | None
    source: str  # supplied, computed, computed_partial
    tool: str
    assessed_on: date


@dataclass(frozen=True)
class CaseSummary:
    """One case as a page shows it (no ORM objects: safe to render after commit).

    ``levels``: each field group's level for this viewer (show, mask, none); a field of
    a group not shown is None, or the group's marker (a dict) when masked. ``flags``
    holds the shown groups' flags only; ``masked_flags`` the markers of masked ones."""

    id: int
    person_ref: str
    person_name: object  # str, a marker, or None
    date_of_birth: date | None
    sex: str | None
    stage: str
    stage_since: datetime
    intensity: object
    cohort: object
    lead_professional: object
    agencies: tuple[str, ...]
    flags: tuple[Flag, ...]
    ogrs: Ogrs | None
    closed_at: datetime | None
    next_due_at: datetime | None
    open_task_ids: tuple[int, ...] = field(default_factory=tuple)
    levels: dict = field(default_factory=dict)
    markers: dict = field(default_factory=dict)  # group -> marker, for masked groups
    masked_flags: tuple[dict, ...] = ()
    restricted: dict | None = None  # {"label": "Restricted access", "message"}
    purpose: str = "case_management"


def _agencies(session: Session, case: Case, supervisions: list[Supervision],
              tasks: list[Task]) -> tuple[str, ...]:
    names = {s.provider for s in supervisions if s.provider != "none"}
    names |= {t.agency for t in tasks if t.agency}
    lead = session.get(User, case.lead_user_id) if case.lead_user_id else None
    if lead is not None and lead.agency:
        names.add(lead.agency)
    return tuple(sorted(names))


def _ogrs(session: Session, person_id: int) -> Ogrs | None:
    row = session.scalars(select(Assessment).where(Assessment.person_id == person_id)
                          .order_by(Assessment.assessed_on.desc(), Assessment.id.desc())
                          .limit(1)).first()
    return Ogrs(row.ogrs_2yr, row.ogrs_1yr, row.source, row.tool,
                row.assessed_on) if row else None


def _flags(session: Session, person_id: int) -> tuple[Flag, ...]:
    rows = session.scalars(select(PartnerFlag).where(PartnerFlag.person_id == person_id)
                           .order_by(PartnerFlag.kind, PartnerFlag.recorded_on.desc()))
    latest: dict[str, PartnerFlag] = {}
    for row in rows:
        latest.setdefault(row.kind, row)
    return tuple(Flag(r.kind, r.value, r.recorded_on, r.source) for r in latest.values())


def record_read(session: Session, case: Case | None, *, viewer: User, now: datetime,
                what: str, decision: Decision, case_id: int | None = None,
                via: str = "web") -> None:
    """The one access entry of ``viewer`` reading ``what`` of the case (the sharing
    mechanism's, as the API writes it; the person is not named on a restricted read)."""
    record_access(session, viewer=Viewer.of(viewer), what=what, purpose=decision.purpose,
                  now=now, case_id=case.id if case is not None else case_id, via=via,
                  person_ref=None if decision.restricted or case is None
                  else case.person.partner_ref)


def case_decision(session: Session, case: Case, *, viewer: User, now: datetime,
                  purpose: str | None = None) -> Decision:
    """What ``viewer`` may see of ``case`` for ``purpose`` (default: their role's)."""
    who = Viewer.of(viewer)
    return decision_for(session, case, viewer=who, now=now,
                        purpose=check_purpose(purpose, who))


def audit_decision(session: Session, viewer: User, case_id: int, *, now: datetime
                   ) -> tuple[Case | None, Decision]:
    """The case (None once purged) and what ``viewer`` may see of its audit (purpose
    ``audit``); a purged case, whose audit remains, is read under the agreement alone."""
    from workflow.errors import NotFound
    from workflow.sharing.decide import decide
    from workflow.sharing.store import agreement_in_force

    try:
        case = get_case(session, case_id)
    except NotFound:
        return None, decide(agreement_in_force(session, now), Viewer.of(viewer),
                            purpose="audit")
    return case, case_decision(session, case, viewer=viewer, now=now, purpose="audit")


def audit_explanation(session: Session, viewer: User, case_id: int, *, now: datetime,
                      via: str = "web") -> list:
    """Every audit entry about the case, oldest first, in words (reads included), as the
    agreement's ``audit`` purpose lets ``viewer`` see them (the auditor's chronology and
    ``iom audit explain``); works after the case's data is purged. The read is recorded.
    Forbidden on a case ``viewer`` is kept out of; NotFound when the audit holds none."""
    from workflow.explain import explain_case
    from workflow.sharing.redact import redact_entry
    from workflow.sharing.view import require_unrestricted

    case, decision = audit_decision(session, viewer, case_id, now=now)
    require_unrestricted(decision)
    lines = explain_case(session, case_id, redact=lambda e: redact_entry(e, decision))
    record_read(session, case, viewer=viewer, now=now, what="audit explanation",
                decision=decision, case_id=case_id, via=via)
    return lines


def _shown(decision: Decision, group: str, value):
    level = decision.level(group)
    return value if level == "show" else decision.marker(group) if level == "mask" else None


def case_summary(session: Session, case_id: int, *, viewer: User, now: datetime,
                 what: str = "case page", purpose: str | None = None,
                 record: bool = True) -> CaseSummary:
    """The summary of case ``case_id`` as ``viewer`` may see it; the read is recorded
    (unless ``record`` is False). NotFound when absent."""
    case = get_case(session, case_id)
    decision = case_decision(session, case, viewer=viewer, now=now, purpose=purpose)
    summary = summary_for(session, case, decision)
    if record:
        record_read(session, case, viewer=viewer, now=now, what=what, decision=decision)
    return summary


def summary_for(session: Session, case: Case, decision: Decision) -> CaseSummary:
    """``case`` as ``decision`` allows (see :class:`CaseSummary`)."""
    person = case.person
    tasks = open_tasks(session, case.id)
    restricted = decision.restriction()
    if restricted:
        return CaseSummary(
            id=case.id, person_ref=MASK, person_name=MASK, date_of_birth=None, sex=None,
            stage=case.state, stage_since=case.state_since, intensity=None, cohort=None,
            lead_professional=None, agencies=(), flags=(), ogrs=None,
            closed_at=case.closed_at, next_due_at=case.next_due_at,
            levels=decision.hidden(), restricted=restricted, purpose=decision.purpose)
    supervisions = list(session.scalars(select(Supervision).where(
        Supervision.person_id == person.id)))
    lead = session.get(User, case.lead_user_id) if case.lead_user_id else None
    identity = decision.shows("identity")
    risk = decision.shows("risk")
    levels = {g: decision.level(g) for g in (
        "identity", "supervision", "risk", "tasks", "offending", "compliance",
        *FLAG_GROUPS)}
    flags = tuple(f for f in _flags(session, person.id) if decision.shows(flag_group(f.kind)))
    return CaseSummary(
        id=case.id, person_ref=person.partner_ref,
        person_name=decision.display_name(f"{person.given_name} {person.family_name}"),
        date_of_birth=person.date_of_birth if identity else None,
        sex=person.sex if identity else None, stage=case.state,
        stage_since=case.state_since, intensity=_shown(decision, "risk", case.intensity),
        cohort=_shown(decision, "supervision", case.cohort),
        lead_professional=_shown(decision, "supervision",
                                 lead.display_name if lead else None),
        agencies=_agencies(session, case, supervisions, tasks)
        if decision.shows("supervision") else (),
        flags=flags, ogrs=_ogrs(session, person.id) if risk else None,
        closed_at=case.closed_at, next_due_at=case.next_due_at,
        open_task_ids=tuple(t.id for t in tasks if task_view(t, decision) is not None),
        levels=levels, markers={g: decision.marker(g) for g, lv in levels.items()
                                if lv == "mask"},
        masked_flags=tuple(decision.marker(g) for g in FLAG_GROUPS
                           if decision.level(g) == "mask"),
        purpose=decision.purpose)


def open_tasks(session: Session, case_id: int) -> list[Task]:
    """The case's outstanding tasks, most urgent first."""
    return list(session.scalars(select(Task).where(
        Task.case_id == case_id, Task.status.in_(OUTSTANDING))
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id)))


def colleagues_for(session: Session, role: str | None) -> list[User]:
    """Active users of ``role`` (who a task of that role may be given to), by name."""
    if role is None:
        return []
    return list(session.scalars(select(User).where(User.role == role, User.active.is_(True))
                                .order_by(User.display_name, User.username)))
