"""Who read which case when, from the access log (``access_read``: written by every case
read, API, pages, explanations and exports; ``workflow.sharing.access``).

Read only. The pages call :func:`recent_reads` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AccessRead


@dataclass(frozen=True)
class Read:
    seq: int  # the access row's id
    at: datetime
    who: str
    case_id: int | None
    person_ref: str | None
    what: str


def recent_reads(session: Session, *, limit: int = 100, case_id: int | None = None,
                 who: str | None = None) -> list[Read]:
    """The latest ``limit`` reads, newest first, optionally of one case or by one user."""
    query = select(AccessRead.id, AccessRead.at, AccessRead.actor, AccessRead.case_id,
                   AccessRead.person_ref, AccessRead.what)
    if case_id is not None:
        query = query.where(AccessRead.case_id == case_id)
    if who:
        query = query.where(AccessRead.actor == who)
    rows = session.execute(query.order_by(AccessRead.id.desc()).limit(limit)).all()
    return [Read(r.id, r.at, r.actor, r.case_id, r.person_ref, r.what) for r in rows]
