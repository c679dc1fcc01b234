"""Every read of case data on the record: one ``case.read`` entry in the audit chain per
read (so ``iom audit verify`` covers the access log: hash-chained, signed, append-only),
naming who, their role and agency, what was read, which case or query, the purpose and
when. :func:`access_entries` lists them for auditors, by case or by user.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditEntry
from workflow import audit
from workflow.sharing.decide import Viewer

READ_KIND = "case.read"
MAX_IDS = 500


def record_read(session: Session, *, viewer: Viewer, what: str, purpose: str,
                now: datetime, case_id: int | None = None, person_ref: str | None = None,
                query: dict | None = None, case_ids: list[int] | None = None,
                via: str = "api") -> AuditEntry:
    """Append one access entry: ``what`` (detail, history, list, ...) of ``case_id``, or
    of the cases a ``query`` returned (their ids, up to :data:`MAX_IDS`)."""
    target = f"case {case_id}" if case_id is not None else "the case list"
    payload = {"what": what, "role": viewer.role, "agency": viewer.agency,
               "purpose": purpose, "via": via}
    if query is not None:
        payload["query"] = query
    if case_ids is not None:
        payload["case_ids"] = case_ids[:MAX_IDS]
    return audit.record(session, kind=READ_KIND, actor=viewer.username, occurred_at=now,
                        case_id=case_id, person_ref=person_ref, payload=payload,
                        summary=f"{viewer.username} ({viewer.role}"
                                f"{', ' + viewer.agency if viewer.agency else ''}) read the "
                                f"{what} of {target} for {purpose.replace('_', ' ')}")


def access_entries(session: Session, *, case_id: int | None = None,
                   user: str | None = None, page: int = 1, per_page: int = 50
                   ) -> tuple[list[AuditEntry], int]:
    """Access entries, newest first, of one case and/or one user, and their total."""
    query = select(AuditEntry).where(AuditEntry.kind == READ_KIND)
    if case_id is not None:
        query = query.where(AuditEntry.case_id == case_id)
    if user is not None:
        query = query.where(AuditEntry.actor == user)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.seq.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def entry_dict(entry: AuditEntry) -> dict:
    """An access entry for auditors: who, what, which case or query, purpose, when."""
    p = entry.payload if isinstance(entry.payload, dict) else {}
    return {"seq": entry.seq, "at": entry.occurred_at, "user": entry.actor,
            "role": p.get("role"), "agency": p.get("agency"), "what": p.get("what"),
            "purpose": p.get("purpose"), "via": p.get("via"), "case_id": entry.case_id,
            "query": p.get("query"), "case_ids": p.get("case_ids"), "hash": entry.hash}
