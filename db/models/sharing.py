"""Per-case restriction and exclusion lists (nDelius "limited access" style)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow

ACCESS_LIST_KINDS = ("restriction", "exclusion")


class CaseAccessList(Base):
    """A restriction list (only these users/agencies may see the case) or an exclusion
    list (these may not), with the message shown to everyone else and why it was set.
    At most one active list of each kind per case; removing one keeps the row."""

    __tablename__ = "case_access_list"
    __table_args__ = (Index("ix_case_access_list_case", "case_id", "removed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("iom_case.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    users: Mapped[list] = mapped_column(JSONType, default=list)
    agencies: Mapped[list] = mapped_column(JSONType, default=list)
    message: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(60))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_by: Mapped[str | None] = mapped_column(String(60))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_reason: Mapped[str | None] = mapped_column(Text)
