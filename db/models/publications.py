"""When each rule-set version was put in force (published or rolled back to)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, UTCDateTime, utcnow
from db.models.governance import RuleSetVersion


class RuleSetPublication(Base):
    """One publication event. The version in force for a name at instant T is the one of
    the latest publication with ``published_at <= T``; rows are never changed."""

    __tablename__ = "ruleset_publication"
    __table_args__ = (Index("ix_ruleset_publication_name_at", "name", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    version_id: Mapped[int] = mapped_column(ForeignKey("ruleset_version.id"))
    kind: Mapped[str] = mapped_column(String(12))  # publish / rollback / shipped
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)

    version: Mapped[RuleSetVersion] = relationship()
