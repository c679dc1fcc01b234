"""Panel meetings and the cases on their agenda, with each case's recorded decision."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, UTCDateTime, utcnow
from db.models.cases import Case

DECISIONS = ("accept", "defer", "reject")


class PanelMeeting(Base):
    """One sitting of the multi-agency panel (one per date)."""

    __tablename__ = "panel_meeting"
    __table_args__ = (UniqueConstraint("held_on", name="uq_panel_meeting_held_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    held_on: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    agenda_built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    items: Mapped[list[PanelItem]] = relationship(
        back_populates="meeting", order_by="PanelItem.rank")


class PanelItem(Base):
    """A case on a meeting's agenda: rank, who is invited to present it, the decision."""

    __tablename__ = "panel_item"
    __table_args__ = (
        UniqueConstraint("meeting_id", "case_id", name="uq_panel_item_meeting_case"),
        Index("ix_panel_item_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meeting.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("iom_case.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    activity_score: Mapped[float | None] = mapped_column(Float)
    invited_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    invited_name: Mapped[str | None] = mapped_column(String(120))
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    defer_until: Mapped[date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decided_role: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    meeting: Mapped[PanelMeeting] = relationship(back_populates="items")
    case: Mapped[Case] = relationship()
