"""What a person-facing page shows about one case: a summary, its open tasks and who
may take a task. Read only, except that a read of a case is audited (``case.read``), as
the API does, so the access log lists page views too.

The web pages reach case data through this module and :mod:`workflow.explain` only, by
one function of theirs (``web/case_data.py``), where the information-sharing rules of
the agencies will apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Assessment, Case, PartnerFlag, Supervision, Task, User
from workflow import audit
from workflow.cases import get_case
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
    """One case as a page shows it (no ORM objects: safe to render after commit)."""

    id: int
    person_ref: str
    person_name: str
    date_of_birth: date
    sex: str
    stage: str
    stage_since: datetime
    intensity: str | None
    cohort: str | None
    lead_professional: str | None
    agencies: tuple[str, ...]
    flags: tuple[Flag, ...]
    ogrs: Ogrs | None
    closed_at: datetime | None
    next_due_at: datetime | None
    open_task_ids: tuple[int, ...] = field(default_factory=tuple)


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


def record_read(session: Session, case: Case, *, viewer: User, now: datetime, what: str,
                via: str = "web") -> None:
    """Audit that ``viewer`` read ``what`` of the case (the access log)."""
    audit.record(session, kind="case.read", actor=viewer.username, occurred_at=now,
                 case_id=case.id, person_ref=case.person.partner_ref,
                 summary=f"{viewer.username} ({viewer.role}) read the {what} of case {case.id}",
                 payload={"what": what, "role": viewer.role, "via": via})


def case_summary(session: Session, case_id: int, *, viewer: User, now: datetime,
                 what: str = "case page") -> CaseSummary:
    """The summary of case ``case_id``; the read is audited. NotFound when absent."""
    case = get_case(session, case_id)
    person = case.person
    supervisions = list(session.scalars(select(Supervision).where(
        Supervision.person_id == person.id)))
    tasks = open_tasks(session, case.id)
    lead = session.get(User, case.lead_user_id) if case.lead_user_id else None
    summary = CaseSummary(
        id=case.id, person_ref=person.partner_ref,
        person_name=f"{person.given_name} {person.family_name}",
        date_of_birth=person.date_of_birth, sex=person.sex, stage=case.state,
        stage_since=case.state_since, intensity=case.intensity, cohort=case.cohort,
        lead_professional=lead.display_name if lead else None,
        agencies=_agencies(session, case, supervisions, tasks),
        flags=_flags(session, person.id), ogrs=_ogrs(session, person.id),
        closed_at=case.closed_at, next_due_at=case.next_due_at,
        open_task_ids=tuple(t.id for t in tasks))
    record_read(session, case, viewer=viewer, now=now, what=what)
    return summary


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
