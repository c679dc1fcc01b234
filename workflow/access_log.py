"""Who read which case when, from the audit trail's ``case.read`` entries (written by
every case read: API, pages, explanations and exports).

Read only. (The information-sharing work may replace the source of these rows with its
own access log; the pages call :func:`recent_reads` only.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEntry

READ_KIND = "case.read"


@dataclass(frozen=True)
class Read:
    seq: int
    at: datetime
    who: str
    case_id: int | None
    person_ref: str | None
    what: str


def recent_reads(session: Session, *, limit: int = 100, case_id: int | None = None,
                 who: str | None = None) -> list[Read]:
    """The latest ``limit`` reads, newest first, optionally of one case or by one user."""
    query = select(AuditEntry.seq, AuditEntry.occurred_at, AuditEntry.actor,
                   AuditEntry.case_id, AuditEntry.person_ref, AuditEntry.payload
                   ).where(AuditEntry.kind == READ_KIND)
    if case_id is not None:
        query = query.where(AuditEntry.case_id == case_id)
    if who:
        query = query.where(AuditEntry.actor == who)
    rows = session.execute(query.order_by(AuditEntry.seq.desc()).limit(limit)).all()
    return [Read(r.seq, r.occurred_at, r.actor, r.case_id, r.person_ref,
                 (r.payload or {}).get("what", "record") if isinstance(r.payload, dict)
                 else "record") for r in rows]
