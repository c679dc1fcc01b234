"""Every read of case data on the record: one row of the access log (``access_read``)
per read, naming who, their role and agency, what was read, which case or query, the
purpose and when. :func:`access_entries` lists them for auditors, by case or by user
(with a total, for the API and CLI); :func:`recent_reads` the latest (for the pages).

A read is a plain INSERT in the reader's transaction: readers never take the audit
chain's lock. The rows are append-only and sealed afterwards, in batches, by a hash
chain and a signed audit entry each (``workflow.access_seal``), so ``iom audit verify``
still shows a read that was edited or removed once it is sealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from db.models import AccessRead
from workflow.audit import canonical_payload
from workflow.sharing.decide import Viewer

READ_KIND = "case.read"  # the audit kind reads had before migration 0015 (still skipped)
MAX_IDS = 500
# Every read runs it: a plain Core INSERT built once (no ORM bulk machinery, no RETURNING).
_INSERT_READ = insert(AccessRead.__table__)


def record_read(session: Session, *, viewer: Viewer, what: str, purpose: str | None,
                now: datetime, case_id: int | None = None, person_ref: str | None = None,
                query: dict | None = None, case_ids: list[int] | None = None,
                via: str = "api", extra: dict | None = None) -> None:
    """Append one access row: ``what`` (detail, history, list, ...) of ``case_id``, or of
    the cases a ``query`` returned (their ids, up to :data:`MAX_IDS`); ``extra``: more
    to keep in ``detail`` (an export's format and count). Executed at once (one INSERT
    in the caller's transaction); raises ``InvalidInput`` for a detail JSON cannot hold."""
    detail = dict(extra or {})
    if query is not None:
        detail["query"] = query
    if case_ids is not None:
        detail["case_ids"] = case_ids[:MAX_IDS]
    session.connection().execute(_INSERT_READ, {
        "at": now, "actor": viewer.username, "role": viewer.role, "agency": viewer.agency,
        "what": what[:120], "purpose": purpose, "via": via, "case_id": case_id,
        "person_ref": person_ref,
        "detail": canonical_payload(detail, "detail")[1] if detail else None})


def record_refusal(session: Session, *, viewer: Viewer, what: str, case_id: int,
                   reason: str, now: datetime, via: str = "api",
                   operation: str | None = None) -> None:
    """Append one access row for a read of ``case_id`` that was refused (403: the
    permission table, or a restriction list): ``what`` is ``refused: <what>`` (in the
    words of the reads that happen: ``detail``, ``history``, ``case page`` ...) and
    ``detail`` keeps the reason and the ``operation`` tried, so auditors see attempts as
    well as reads. The caller writes it in a transaction of its own (the refused
    request's is rolled back)."""
    extra = {"refused": reason[:300]}
    if operation:
        extra["operation"] = operation[:120]
    record_read(session, viewer=viewer, what=f"refused: {what}", purpose=None, now=now,
                case_id=case_id, via=via, extra=extra)


def _of(query, case_id: int | None, user: str | None):
    """``query`` narrowed to one case and/or one user's reads."""
    if case_id is not None:
        query = query.where(AccessRead.case_id == case_id)
    if user is not None:
        query = query.where(AccessRead.actor == user)
    return query


def access_entries(session: Session, *, case_id: int | None = None,
                   user: str | None = None, page: int = 1, per_page: int = 50
                   ) -> tuple[list[AccessRead], int]:
    """Access rows, newest first, of one case and/or one user, and their total."""
    query = _of(select(AccessRead), case_id, user)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AccessRead.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


@dataclass(frozen=True)
class Read:
    """One access row as the auditor's pages list it."""

    seq: int  # the access row's id
    at: datetime
    who: str
    case_id: int | None
    person_ref: str | None
    what: str


def recent_reads(session: Session, *, limit: int = 100, case_id: int | None = None,
                 who: str | None = None) -> list[Read]:
    """The latest ``limit`` reads, newest first, optionally of one case or by one user
    (no total counted: the pages show the latest only)."""
    query = _of(select(AccessRead.id, AccessRead.at, AccessRead.actor, AccessRead.case_id,
                       AccessRead.person_ref, AccessRead.what), case_id, who or None)
    rows = session.execute(query.order_by(AccessRead.id.desc()).limit(limit)).all()
    return [Read(r.id, r.at, r.actor, r.case_id, r.person_ref, r.what) for r in rows]


def entry_dict(row: AccessRead) -> dict:
    """An access row for auditors: who, what, which case or query, purpose, when; and
    why, for a refused read."""
    detail = row.detail if isinstance(row.detail, dict) else {}
    return {"seq": row.id, "at": row.at, "user": row.actor, "role": row.role,
            "agency": row.agency, "what": row.what, "purpose": row.purpose, "via": row.via,
            "case_id": row.case_id, "query": detail.get("query"),
            "case_ids": detail.get("case_ids"), "refused": detail.get("refused")}
