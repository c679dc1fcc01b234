"""The access log: one row per read of case data (who, when, what, which case or query).

Append-only (the app's database role may only SELECT and INSERT it; triggers refuse
UPDATE and DELETE, migration 0015). Written by a plain INSERT in the reading request's
transaction, so readers never queue behind the audit chain's lock. Tamper evidence comes
after the fact: a scheduler job hash-chains the rows in ``id`` order in batches and
appends one signed audit entry (``access.sealed``) per batch (``workflow/access_seal.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime
from db.canonical import CanonicalJSONText


class AccessRead(Base):
    """One read. ``detail`` (canonical JSON text, or None) holds what a read of many
    cases returned (``query``, ``case_ids``) and what an export wrote; ``audit_seq`` names
    the ``case.read`` audit entry a row was copied from (reads recorded before 0015)."""

    __tablename__ = "access_read"
    __table_args__ = (Index("ix_access_read_case", "case_id", "id"),
                      Index("ix_access_read_actor", "actor", "id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(60))
    role: Mapped[str | None] = mapped_column(String(20))
    agency: Mapped[str | None] = mapped_column(String(20))
    what: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str | None] = mapped_column(String(20))
    via: Mapped[str] = mapped_column(String(10))
    case_id: Mapped[int | None] = mapped_column(Integer)  # no FK: survives case deletion
    person_ref: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(CanonicalJSONText)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
