"""The history of partner imports: what came in, when, from whom, and what was refused.

Each import writes one :class:`ImportBatch` (counts, file hash and up to
``ERRORS_KEPT`` row errors); these functions read them back. Reads only.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from db.models import ImportBatch
from workflow.errors import NotFound
from workflow.pages import Key, Page, page_of_rows, seek_page


def list_batches(session: Session, *, kind: str | None = None, page: int = 1,
                 per_page: int = 50) -> tuple[list[ImportBatch], int]:
    """``(batches, total)``, newest first, optionally of one ``kind`` only."""
    query = select(ImportBatch)
    if kind is not None:
        query = query.where(ImportBatch.kind == kind)
    return page_of_rows(session, query, ImportBatch.id.desc(), page=page, per_page=per_page)


def batches_page(session: Session, *, kind: str | None = None, per_page: int = 50,
                 after: str | None = None, page: int | None = None, total: bool = False
                 ) -> Page:
    """One page of batches, newest first, by keyset (``after``: the previous ``next``);
    the refused rows (up to 1,000 a batch) are not read."""
    query = select(ImportBatch).options(defer(ImportBatch.errors))
    if kind is not None:
        query = query.where(ImportBatch.kind == kind)
    return seek_page(session, query, (Key(ImportBatch.id, "id", descending=True),),
                     per_page=per_page, after=after, page=page, total=total)


def get_batch(session: Session, batch_id: int) -> ImportBatch:
    """One batch; raises :class:`NotFound` naming the id."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"import {batch_id} not found", details={"batch_id": batch_id})
    return batch


def summary_line(batch: ImportBatch) -> str:
    return (f"{batch.id:>5}  {batch.started_at:%Y-%m-%d %H:%M}  {batch.kind:<11} "
            f"{batch.rows_total:>7} rows  {batch.rows_created:>7} created  "
            f"{batch.rows_updated:>6} updated  {batch.rows_rejected:>6} rejected  "
            f"{batch.actor}  {batch.filename}")
