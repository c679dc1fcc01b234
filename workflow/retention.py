"""Retention: delete closed cases past the retention period, and their person's data.

A case closed before the cutoff is deleted with its tasks. Its person (and their
offending events, assessments, partner flags and supervision records) is deleted too
when no other case remains for them. The audit log is never touched: it keeps
``case_id`` and ``person_ref`` (no foreign keys), so the chain stays verifiable and
``iom audit explain`` still tells the story. Each deleted case gets a ``case.purged``
entry (no personal data) and the run one ``retention.purge`` entry with counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.models import Assessment, Case, OffendingEvent, PartnerFlag, Person, Supervision, Task
from workflow import audit
from workflow.errors import InvalidInput

PERSON_DATA = (("events", OffendingEvent), ("assessments", Assessment),
               ("flags", PartnerFlag), ("supervisions", Supervision))


@dataclass
class PurgeReport:
    """What a purge deleted (or, for a dry run, would delete): counts and ids only."""

    closed_before: datetime
    dry_run: bool
    case_ids: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        parts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        return [f"cases closed before {self.closed_before.isoformat()}: {verb} {parts}"]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["closed_before"] = self.closed_before.isoformat()
        return data


def _count(session: Session, model, column, ids) -> int:
    if not ids:
        return 0
    return session.scalar(select(func.count()).select_from(model).where(column.in_(ids))) or 0


def _delete(session: Session, model, column, ids) -> None:
    for start in range(0, len(ids), 500):  # bounded IN lists
        # ORM-enabled delete: matching objects in the session are marked deleted too.
        session.execute(delete(model).where(column.in_(ids[start:start + 500])))


def _selection(session: Session, older_than: datetime) -> tuple[list[Case], list[int]]:
    """Cases closed before the cutoff, and the people left with no other case."""
    cases = list(session.scalars(select(Case).where(
        Case.closed_at.is_not(None), Case.closed_at < older_than).order_by(Case.id)))
    case_ids = {c.id for c in cases}
    person_ids = sorted({c.person_id for c in cases})
    kept = set(session.scalars(select(Case.person_id).where(
        Case.person_id.in_(person_ids), Case.id.not_in(case_ids)))) if person_ids else set()
    return cases, [p for p in person_ids if p not in kept]


def _audit_cases(session: Session, cases: list[Case], people: set[int], *, now, actor,
                 older_than: datetime) -> None:
    for case in cases:
        audit.record(session, kind="case.purged", actor=actor, occurred_at=now,
                     case_id=case.id, summary=f"Case {case.id} deleted under the retention "
                     f"policy (closed before {older_than.date().isoformat()})",
                     payload={"closed_at": case.closed_at.isoformat(), "state": case.state,
                              "episode": case.episode,
                              "person_deleted": case.person_id in people})


def purge_case_data(session: Session, *, older_than: datetime, now: datetime, actor: str,
                    dry_run: bool = False) -> PurgeReport:
    """Delete cases closed before ``older_than`` and, where no other case remains, their
    person's data; audit it; flush, never commit. ``dry_run`` only counts.

    Raises :class:`InvalidInput` when the cutoff is not in the past.
    """
    if older_than > now:
        raise InvalidInput("the retention cutoff must not be in the future",
                           details={"field": "older_than"})
    cases, person_ids = _selection(session, older_than)
    case_ids = [c.id for c in cases]
    report = PurgeReport(older_than, dry_run, case_ids)
    report.counts = {"cases": len(case_ids), "tasks": _count(session, Task, Task.case_id,
                                                             case_ids),
                     "persons": len(person_ids)}
    for name, model in PERSON_DATA:
        report.counts[name] = _count(session, model, model.person_id, person_ids)
    if dry_run or not case_ids:
        return report
    _audit_cases(session, cases, set(person_ids), now=now, actor=actor, older_than=older_than)
    _delete(session, Task, Task.case_id, case_ids)
    _delete(session, Case, Case.id, case_ids)
    for _name, model in PERSON_DATA:
        _delete(session, model, model.person_id, person_ids)
    _delete(session, Person, Person.id, person_ids)
    audit.record(session, kind="retention.purge", actor=actor, occurred_at=now,
                 summary=f"Retention purge: {report.lines()[0]}",
                 payload={"closed_before": older_than.isoformat(), "counts": report.counts})
    session.flush()
    return report
