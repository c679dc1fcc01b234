"""CSV import of compliance events: ``iom tasks import-events FILE``.

Columns: ``event_id, kind, occurred_at`` and one of ``case_id`` / ``person_ref``;
optional ``details`` (a JSON object). ``occurred_at`` is ISO-8601 (naive = UTC).
Each row is applied in its own savepoint: a bad row is reported (row, field, reason)
and the others still apply. Re-importing the same file changes nothing. After the rows,
the compliance rule sets are evaluated once for every case that received a new event.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Case, ImportBatch, Person
from workflow.errors import IOMError
from workflow.tasks.compliance import DEFAULT_RULESETS, evaluate_compliance_many, record_event

REQUIRED = ("event_id", "kind", "occurred_at")


@dataclass
class EventImport:
    total: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"rows": self.total, "created": self.created, "unchanged": self.unchanged,
                "rejected": len(self.errors), "errors": self.errors, "tasks_raised": self.tasks}


class RowError(Exception):
    def __init__(self, field_name: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field_name, reason


def _when(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise RowError("occurred_at", f"{text!r} is not an ISO-8601 date or time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _target(session: Session, row: dict) -> tuple[Case | None, Person | None]:
    case_text, ref = (row.get("case_id") or "").strip(), (row.get("person_ref") or "").strip()
    if case_text:
        case = session.get(Case, int(case_text)) if case_text.isdigit() else None
        if case is None:
            raise RowError("case_id", f"no case {case_text}")
        return case, case.person
    if not ref:
        raise RowError("case_id", "case_id or person_ref is required")
    person = session.scalars(select(Person).where(Person.partner_ref == ref)).first()
    if person is None:
        raise RowError("person_ref", f"no person {ref}")
    case = session.scalars(select(Case).where(Case.person_id == person.id,
                                              Case.closed_at.is_(None))).first()
    return case, person


def _details(text: str | None) -> dict:
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError("details", f"not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise RowError("details", "must be a JSON object")
    return value


def _apply_row(session: Session, row: dict, *, actor: str, now: datetime):
    missing = [c for c in REQUIRED if not (row.get(c) or "").strip()]
    if missing:
        raise RowError(missing[0], "required")
    case, person = _target(session, row)
    event, created = record_event(session, case, person=person, event_id=row["event_id"].strip(),
                                  kind=row["kind"].strip(), occurred_at=_when(row["occurred_at"]),
                                  details=_details(row.get("details")), actor=actor, now=now)
    return case, created


def import_events(session: Session, data: bytes, *, filename: str, actor: str, now: datetime,
                  policy, rulesets=DEFAULT_RULESETS) -> EventImport:
    """Apply every row of the CSV ``data``; record an ``ImportBatch``; flush."""
    report, touched = EventImport(), {}
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        report.errors.append({"row": 1, "field": None, "reason": f"unreadable CSV: {exc}"})
        rows = []
    for number, row in enumerate(rows, start=2):
        report.total += 1
        try:
            with session.begin_nested():
                case, created = _apply_row(session, row, actor=actor, now=now)
        except RowError as exc:
            report.errors.append({"row": number, "field": exc.field, "reason": exc.reason})
            continue
        except IOMError as exc:
            report.errors.append({"row": number, "field": exc.details.get("field")
                                  if isinstance(exc.details, dict) else None,
                                  "reason": exc.message})
            continue
        report.created += created
        report.unchanged += not created
        if created and case is not None:
            touched[case.id] = case
    tasks = evaluate_compliance_many(session, list(touched.values()), now=now, actor=actor,
                                     policy=policy, rulesets=rulesets)
    report.tasks = [t.id for t in tasks]
    session.add(ImportBatch(kind="compliance_events", filename=filename[-260:],
                            sha256=hashlib.sha256(data).hexdigest(), actor=actor,
                            started_at=now, rows_total=report.total,
                            rows_created=report.created, rows_unchanged=report.unchanged,
                            rows_rejected=len(report.errors), errors=report.errors))
    session.flush()
    return report
